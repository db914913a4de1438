//! The encoding of RPCs on the simulated network (postcard), used by the code [`rpcs!`](crate::rpcs)
//! generates. **Framework code: do not edit.**

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::WireError;

/// Encode a message for the network.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encoding to memory cannot fail")
}

/// Decode exactly one `T` (trailing bytes mean the types differ).
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    method: &str,
    what: &'static str,
) -> Result<T, WireError> {
    let error = |message: String| WireError {
        method: method.to_string(),
        what,
        message,
    };
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(error(format!("{} unexpected trailing bytes", rest.len()))),
        Err(e) => Err(error(e.to_string())),
    }
}

/// A method no declared RPC travels under.
pub fn unknown(method: &str) -> WireError {
    WireError {
        method: method.to_string(),
        what: "method",
        message: "no such RPC".to_string(),
    }
}
