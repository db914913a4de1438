//! # kvraft: the fault-tolerant key/value service of labs 3A and 3B
//!
//! **Student code** (reference between solution markers), built on the [`raft`] crate's contract.
//! A KV server and a clerk, both written as deterministic state machines like Raft itself: the server
//! turns Get/Put/Append requests into Raft commands, applies committed commands to its key/value map,
//! detects duplicate requests by client id and sequence number, and snapshots its state when Raft's
//! persisted state grows past `maxraftstate`; the clerk finds the leader and retries.
//!
//! The crate has two kinds of files, as `raft` does:
//!
//! - **framework** (do not edit): [`contract`], the events the server and the clerk handle and the
//!   effects and steps they return. The lab driver (`tests/harness/kv_driver.rs`) speaks only this contract.
//! - **yours**: [`common`] (the RPC arguments and replies), `src/server.rs` ([`KvServer`]) and
//!   `src/client.rs` ([`Clerk`]). The reference solution sits between `// BEGIN SOLUTION` and
//!   `// END SOLUTION` markers; the handout replaces each region with a stub.
//!
//! The rule is Raft's: no threads, clocks, randomness or I/O in here. The server owns its
//! [`raft::Raft`] and forwards Raft's events to it; the driver owns the network, the timers and the
//! disk, and carries out what the handlers ask for.

mod client;
pub mod common;
pub mod contract;
mod server;

pub use crate::client::Clerk;
pub use crate::server::KvServer;
