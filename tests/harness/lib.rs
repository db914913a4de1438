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

use labs::labrpc::{ClientEnd, Network};

/// The labrpc name of server `i`.
pub fn server_name(i: usize) -> String {
    format!("server{i}")
}

/// Fresh client ends from server `i` (incarnation `incarnation`) to each of `n` servers, so that
/// an old incarnation's ends can never reach anyone. Returns their names and the ends; they start
/// disabled, as in the course.
pub fn fresh_ends(
    net: &Network,
    prefix: &str,
    i: usize,
    n: usize,
    incarnation: u64,
) -> (Vec<String>, Vec<ClientEnd>) {
    let names: Vec<String> = (0..n)
        .map(|j| format!("{prefix}-{i}-{j}-{incarnation}"))
        .collect();
    let ends = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let end = net.make_end(name.clone());
            net.connect(name, &server_name(j));
            end
        })
        .collect();
    (names, ends)
}
