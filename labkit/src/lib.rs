//! # labkit: the raftlab lab runtime
//!
//! What the lab suites link (through the harness in `tests/harness/`), and nothing a student edits
//! or a tool needs: no command line, grader or handout code (that is the `labs` crate) and no
//! dependency on the student crates, so an edit of the student's Raft rebuilds none of it.
//!
//! - [`sim`]: a run built from a seed: a paused-clock current-thread tokio runtime (virtual time), the
//!   seeded RNG every random choice comes from, a trace hash of everything that happened, and the
//!   guards that turn a hang into a clear failure.
//! - [`labrpc`]: the simulated RPC network with every knob of the course's (unreliable delivery, long
//!   delays, long reordering, enable/disable, add/delete server, counts and bytes).
//! - [`persister`]: each server's "disk", copied on crash.
//! - [`lab`]: running a lab test over seeds (`LAB_SEED`, `LAB_SEEDS`), its summary line, its replay
//!   command and the report channel the tools read.
//! - [`logging`]: `tracing` output with virtual timestamps, filtered by `RUST_LOG`.
//! - [`steps`]: the step-through page (one column per server, step by step), drawn for the model
//!   checker's counterexamples and for a recorded run's last events.
//! - [`registry`]: the labs, listed once (suite, handout page, student files, checker bounds).
//! - [`student_code`]: the static check of the student files against the allow-list in
//!   `labkit/student-code.toml` (no threads, clocks, randomness or I/O), run by every lab test.
//!
//! The drivers that run a Raft or a KV server on the network are the harness's
//! (`tests/harness/raft_driver.rs`, `kv_driver.rs`): they are the only framework code that names the
//! student crates.

pub mod lab;
pub mod labrpc;
pub mod logging;
pub mod persister;
pub mod presets;
pub mod recorder;
pub mod registry;
pub mod shiviz;
pub mod sim;
pub mod steps;
pub mod student_code;
pub mod timeline;
