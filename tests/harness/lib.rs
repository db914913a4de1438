//! # The lab test harness
//!
//! What the lab suites (`tests/lab2a.rs` ... `tests/lab3b.rs`) are written with, after the course's
//! `config.go`: [`raft::Cluster`] starts, crashes, restarts, connects and disconnects Raft servers on
//! the simulated network, checks what they apply, and offers the checks the tests tell their
//! stories with (`check_one_leader`, `one`, `n_committed`, ...). [`kv::KvCluster`] does the same
//! for the KV service: servers, clerks, partitions, a recorded history checked for
//! linearizability, and the course's generic KV tests.
//!
//! Every test runs once per seed (`LAB_SEED`, `LAB_SEEDS`), in virtual time, and prints one summary
//! line; a failing check panics with what was expected and what happened, and the runner adds the
//! seed and the command that replays exactly that run.

pub mod kv;
pub mod raft;
