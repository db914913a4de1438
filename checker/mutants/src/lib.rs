//! # raft-mutants: broken copies of the reference Raft
//!
//! Each module is `raft/src/raft.rs` with one patch of the mutant catalog (`labs/mutants/`)
//! applied at build time, and implements the model checker's `RaftNode`, so tests can show that
//! the checker finds each classic mistake. Instructor-only: not part of the student handout.
//!
//! `CATALOG` lists the graded catalog's Raft mutants; `EXTRA` the ones built from
//! `checker/mutants/extra/` for the checker's own tests (e.g. a Raft that panics), which
//! `labs mutants` does not grade.

// The patched files refer to `crate::contract` and `crate::messages`, as in the raft crate.
pub use raft::{contract, messages};

include!(concat!(env!("OUT_DIR"), "/mutants.rs"));
