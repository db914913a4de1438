//! # raft: the Raft state machine of the labs
//!
//! This crate is where students work in labs 2A–2D. It has two kinds of files:
//!
//! - **framework** (do not edit): [`contract`], the events a Raft server handles and the effects it
//!   returns ([`contract::RaftContract`], which your `Raft` implements), and the RPCs and timers,
//!   each declared once. The lab driver (`labs`) and the model checker (`checker`) both speak only
//!   this contract. (`macros.rs` and `wire.rs` expand its declarations.)
//! - **yours**: [`messages`] (RPC arguments and replies, the log entry) and `src/raft.rs`
//!   ([`Raft`]: the state and the handlers). In the reference solution the code you write sits between
//!   `// BEGIN SOLUTION` and `// END SOLUTION` markers; the handout replaces each region with a stub.
//!
//! The one rule: Raft is a deterministic state machine. No threads, clocks, randomness or I/O in
//! here; ask for timers, messages and persistence through [`contract::Effects`]. That rule is what lets
//! the labs replay any failure from its seed and lets the checker explore every interleaving.

pub mod contract;
mod macros;
pub mod messages;
mod raft;
#[doc(hidden)]
pub mod wire;

pub use crate::raft::Raft;
