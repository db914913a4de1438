//! # labs: the raftlab tooling
//!
//! The `labs` binary (`cargo run --release -p labs -- --help`) and what it is made of; nothing here
//! is linked into a lab test. The runtime the lab suites link (the simulated network, the
//! persister, seeds and the report channel, logging, the registry and the static check of student
//! code) is the `labkit` crate; its modules are re-exported here under their old paths.
//!
//! - [`suites`]: `labs run`: runs the lab suites as `cargo test` processes, with a progress display
//!   and a summary table built from the harness's report channel.
//! - [`handout`]: writes the student handout (and the Gradescope autograder's source).
//! - [`policy`]: reads an allow-list file of the static check (the grader reads the pristine
//!   copy's).
//!
//! Instructors also get `labs grade` and `labs mutants`, which the handout leaves out.

// BEGIN INSTRUCTOR ONLY
pub mod grade;
// END INSTRUCTOR ONLY
pub mod handout;
// BEGIN INSTRUCTOR ONLY
pub mod mutants;
// END INSTRUCTOR ONLY
pub mod policy;
pub mod suites;

pub use labkit::{lab, labrpc, logging, persister, recorder, registry, sim, timeline};

/// The static check of student code ([`labkit::student_code`]), and reading an allow-list file.
pub mod student_code {
    pub use crate::policy::{load_policy, parse_policy};
    pub use labkit::student_code::*;
}
