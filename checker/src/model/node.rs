//! What the model needs from a Raft implementation: exactly the contract
//! ([`raft::contract::RaftContract`], declared once in `raft/src/contract.rs`). The model is
//! generic over it so that it can check the reference, a student's Raft (the same crate, rebuilt),
//! and the broken variants the tests use. `RaftNode` is the contract's name inside the checker.

pub use raft::contract::RaftContract as RaftNode;
