//! Lab 2A: leader election. `cargo test --release --test lab2a`
//!
//! Each test tells a short story with the harness (see `tests/harness/raft.rs`); times are virtual.

use std::time::Duration;

use harness::raft::{Applier, Net, RAFT_ELECTION_TIMEOUT, raft_test};

const LAB: &str = "lab2a";

#[test]
fn initial_election() {
    raft_test(
        LAB,
        "initial_election",
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            // Is a leader elected?
            cfg.check_one_leader().await;

            // Let followers learn of the election before comparing terms.
            cfg.sleep(Duration::from_millis(50)).await;
            let term1 = cfg.check_terms();
            assert!(
                term1 >= 1,
                "expected the term to be at least 1 after an election; it is {term1}"
            );

            // With no failures, the leader and the term stay the same.
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            let term2 = cfg.check_terms();
            assert_eq!(
                term1, term2,
                "expected the term to stay at {term1} without failures; it changed to {term2}"
            );

            // There is still a leader.
            cfg.check_one_leader().await;
        },
    );
}

#[test]
fn re_election() {
    raft_test(
        LAB,
        "re_election",
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            let leader1 = cfg.check_one_leader().await;

            // If the leader disconnects, a new one is elected.
            cfg.disconnect(leader1);
            cfg.check_one_leader().await;

            // The old leader rejoining does not disturb the new leader; if it did, a leader is still
            // required.
            cfg.connect(leader1);
            let leader2 = cfg.check_one_leader().await;

            // Without a quorum, no leader is elected.
            cfg.disconnect(leader2);
            cfg.disconnect((leader2 + 1) % servers);
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            cfg.check_no_leader();

            // When a quorum returns, it elects a leader.
            cfg.connect((leader2 + 1) % servers);
            cfg.check_one_leader().await;

            // Rejoining the last server keeps a leader.
            cfg.connect(leader2);
            cfg.check_one_leader().await;
        },
    );
}

#[test]
fn many_elections() {
    raft_test(
        LAB,
        "many_elections",
        7,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers() as u64;
            cfg.check_one_leader().await;
            for _ in 1..10 {
                // Cut three servers at random (possibly the same one twice).
                let cut: Vec<usize> = (0..3).map(|_| cfg.rand(0..servers) as usize).collect();
                for &i in &cut {
                    cfg.disconnect(i);
                }
                // Either the current leader is still alive, or the remaining four elect a new one.
                cfg.check_one_leader().await;
                for &i in &cut {
                    cfg.connect(i);
                }
            }
            cfg.check_one_leader().await;
        },
    );
}
