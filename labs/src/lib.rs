//! # labs: the raftlab framework
//!
//! Everything a student's code runs on, and nothing a student edits:
//!
//! - [`sim`]: a run built from a seed: a paused-clock current-thread tokio runtime (virtual time), the
//!   seeded RNG every random choice comes from, a trace hash of everything that happened, and the
//!   guards that turn a hang into a clear failure.
//! - [`labrpc`]: the simulated RPC network with every knob of the course's (unreliable delivery, long
//!   delays, long reordering, enable/disable, add/delete server, counts and bytes).
//! - [`persister`]: each server's "disk", copied on crash.
//! - [`raft_driver`]: runs a Raft (or any [`raft_driver::Machine`] built on one) as a server on
//!   the network; [`kv_driver`] runs a KV server on it and pumps clerks' operations.
//! - [`lab`]: running a lab test over seeds (`LAB_SEED`, `LAB_SEEDS`), its summary line and its replay
//!   command.
//! - [`logging`]: `tracing` output with virtual timestamps, filtered by `RUST_LOG`.
//! - [`registry`]: the labs, listed once (suite, handout page, student files, checker bounds).
//! - [`student_code`]: the static check of the student files against the allow-list in
//!   `labs/student-code.toml` (no threads, clocks, randomness or I/O), run by every lab test.
//!
//! The `labs` binary (`cargo run --release -p labs -- --help`) runs the lab suites with a progress
//! display and a summary table, and writes the student handout. Instructors also get `labs grade`
//! and `labs mutants`, which the handout leaves out.

// BEGIN INSTRUCTOR ONLY
pub mod grade;
// END INSTRUCTOR ONLY
pub mod handout;
pub mod kv_driver;
pub mod lab;
pub mod labrpc;
pub mod logging;
// BEGIN INSTRUCTOR ONLY
pub mod mutants;
// END INSTRUCTOR ONLY
pub mod persister;
pub mod raft_driver;
pub mod recorder;
pub mod registry;
pub mod sim;
pub mod student_code;
pub mod suites;
pub mod timeline;
