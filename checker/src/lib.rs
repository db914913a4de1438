//! # checker: exhaustive and history-based checking
//!
//! Two tools on top of the student crates:
//! - a `stateright` model that drives the **same** [`raft`] state machine the labs run, with crashes,
//!   a lossy/duplicating/reordering network and nondeterministic timers, and checks Raft's safety
//!   properties (election safety, log matching, leader completeness, state machine safety, leader
//!   append-only; a panic of the Raft is a violation too), printing a short counterexample as a
//!   message trace (a shortest one, or one said to be merely minimal: see [`model::check`]) and
//!   serving the Explorer UI;
//! - a linearizability checker for the key/value histories the KV labs record (and Jepsen-style files).
//!
//! Status: being built; see the project's issue tracker.
//!
//! Modules: [`linearizability`] checks recorded KV histories (the `linearizability` crate,
//! re-exported; the `checker linearizability FILE` command is this crate's). It is a crate of its
//! own so that the lab harness, which checks every KV test's history, does not build the model
//! checker.

pub use linearizability;
pub mod model;
