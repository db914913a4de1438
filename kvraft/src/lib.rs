//! # kvraft: the fault-tolerant key/value service of labs 3A and 3B
//!
//! **Student code** (reference between solution markers), built on the [`raft`] crate's contract.
//! A KV server and a clerk, both written as deterministic state machines like Raft itself: the server
//! turns Get/Put/Append requests into Raft commands, applies committed commands to its key/value map,
//! detects duplicate requests by client id and sequence number, and snapshots its state when Raft's
//! persisted state grows past `maxraftstate`; the clerk finds the leader and retries.
//!
//! Status: not written yet. Labs 3A/3B (the KV server, clerk, their driver and tests) come after the
//! Raft labs; see the project's issue tracker.
