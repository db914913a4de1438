//! The RPC arguments and replies of the KV service. **Student code**: you may add fields and types
//! (they travel through the simulated network serialized, and their bytes are counted), but keep the
//! four request and reply type names, which the framework's [`KvRequest`](crate::contract::KvRequest) and
//! [`KvReply`](crate::contract::KvReply) enums use.

use serde::{Deserialize, Serialize};

// BEGIN SOLUTION
use crate::contract::ClientId;
// END SOLUTION

/// The outcome of a request, as the server reports it (the course's `Err`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Ok,
    /// A Get of a key that was never written (the value is `""`).
    NoKey,
    /// Not the leader, or lost leadership before the operation committed: try another server.
    WrongLeader,
}

/// Which of the two writes a PutAppend is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PutAppendOp {
    Put,
    Append,
}

/// Get RPC arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GetArgs {
    pub key: String,
    // BEGIN SOLUTION
    /// Who asks, and the clerk's number for this operation (the same on every retry).
    pub client: ClientId,
    pub seq: u64,
    // STUB
    // // Your fields here.
    // END SOLUTION
}

/// Get RPC reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GetReply {
    pub status: Status,
    pub value: String,
}

/// PutAppend RPC arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PutAppendArgs {
    pub key: String,
    pub value: String,
    pub op: PutAppendOp,
    // BEGIN SOLUTION
    /// Who asks, and the clerk's number for this operation (the same on every retry).
    pub client: ClientId,
    pub seq: u64,
    // STUB
    // // Your fields here.
    // END SOLUTION
}

/// PutAppend RPC reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PutAppendReply {
    pub status: Status,
}
