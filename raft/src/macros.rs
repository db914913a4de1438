//! How the contract's declarations expand. **Framework code: do not edit.**
//!
//! [`rpcs!`](crate::rpcs) turns a list of RPCs (`Name(Args) -> Reply;`) into the request and
//! reply enums with everything a driver needs: the network's method names, the wire encoding, and
//! whether a reply answers a request. [`timers!`](crate::timers) turns a list of names into the
//! `Timer` enum and the list of all timers. Both are used in `contract.rs` (the KV service's
//! contract uses `rpcs!` too), so that adding an RPC or a timer is one line there.

/// Declare a service's RPCs: see `contract.rs`. Each `Name(Args) -> Reply;` becomes a variant
/// `Name(Args)` of the request enum and `Name(Reply)` of the reply enum, travelling under the
/// network method `"Service.Name"`. Attributes before `pub enum` (derives, docs) go on the enums.
#[macro_export]
macro_rules! rpcs {
    (
        service $service:literal;
        $(#[$request_meta:meta])* pub enum $Request:ident;
        $(#[$reply_meta:meta])* pub enum $Reply:ident;
        $( $(#[$meta:meta])* $name:ident ( $args:ty ) -> $reply:ty ; )+
    ) => {
        $(#[$request_meta])*
        pub enum $Request {
            $( $(#[$meta])* $name($args), )+
        }

        $(#[$reply_meta])*
        pub enum $Reply {
            $( $(#[$meta])* $name($reply), )+
        }

        impl $Request {
            /// Every method name as the network knows it (`"Service.Method"`), in declaration order.
            pub const METHODS: &'static [&'static str] =
                &[$( concat!($service, ".", stringify!($name)) ),+];

            /// The network method this request travels under (`"Raft.RequestVote"`, ...).
            pub fn method(&self) -> &'static str {
                match self {
                    $( Self::$name(_) => concat!($service, ".", stringify!($name)), )+
                }
            }

            /// The RPC's own name (`"RequestVote"`, ...).
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Self::$name(_) => stringify!($name), )+
                }
            }

            /// The request's arguments as they cross the network.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $( Self::$name(args) => $crate::wire::encode(args), )+
                }
            }

            /// A request whose arguments crossed the network under `method`.
            pub fn decode(method: &str, bytes: &[u8]) -> Result<Self, $crate::contract::WireError> {
                $(
                    if method == concat!($service, ".", stringify!($name)) {
                        return Ok(Self::$name($crate::wire::decode(bytes, method, "request")?));
                    }
                )+
                Err($crate::wire::unknown(method))
            }
        }

        impl $Reply {
            /// The network method of the request this answers.
            pub fn method(&self) -> &'static str {
                match self {
                    $( Self::$name(_) => concat!($service, ".", stringify!($name)), )+
                }
            }

            /// Whether this is the kind of reply `request` needs.
            pub fn answers(&self, request: &$Request) -> bool {
                self.method() == request.method()
            }

            /// The reply as it crosses the network.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $( Self::$name(reply) => $crate::wire::encode(reply), )+
                }
            }

            /// A reply that crossed the network, to a request of `method`.
            pub fn decode(
                method: &str,
                bytes: &[u8],
            ) -> Result<Self, $crate::contract::WireError> {
                $(
                    if method == concat!($service, ".", stringify!($name)) {
                        return Ok(Self::$name($crate::wire::decode(bytes, method, "reply")?));
                    }
                )+
                Err($crate::wire::unknown(method))
            }
        }
    };
}

/// Declare the timers: see `contract.rs`. Each name becomes a variant of `Timer`; `Timer::ALL`
/// lists them in declaration order.
#[macro_export]
macro_rules! timers {
    ( $( $(#[$meta:meta])* $name:ident ),+ $(,)? ) => {
        /// The timers a Raft server can arm. Arming a timer that is already armed replaces it.
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum Timer {
            $( $(#[$meta])* $name, )+
        }

        impl Timer {
            /// Every timer, in declaration order.
            pub const ALL: &'static [Timer] = &[$( Timer::$name ),+];

            /// This timer's position in [`Timer::ALL`].
            pub fn index(self) -> usize {
                self as usize
            }
        }
    };
}
