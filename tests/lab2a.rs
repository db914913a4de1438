//! Lab 2A: leader election. `cargo test --release --test lab2a`
//!
//! Each test tells a short story with the harness (see `tests/harness/raft.rs`); times are virtual.

use std::time::Duration;

use harness::raft::{Applier, Net, RAFT_ELECTION_TIMEOUT, raft_test};
use harness::this_test;

#[test]
fn initial_election() {
    raft_test(
        this_test!(),
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
        this_test!(),
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
        this_test!(),
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

/// A server that learns of a newer term from a *reply* must step down (Figure 2, rules for all
/// servers: "if RPC request or response contains term T > currentTerm: set currentTerm = T, convert
/// to follower"). Scripted with a one-way partition: leader L is cut off and the others elect a
/// leader of a later term; then L's links to the others come back while theirs to L stay cut, so no
/// request of the new term reaches L, only the replies to its own heartbeats do. Those carry the
/// new term: L must give up leading its old one. (An extra test beyond the course's: when whole
/// servers are cut and healed, a stale leader also hears the new leader's heartbeats, so a Raft
/// that ignores the term in replies passes every other test.)
#[test]
fn step_down_on_newer_term_in_reply() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            let l1 = cfg.check_one_leader().await;
            let (term1, _) = cfg.state(l1).expect("the leader is running");

            // The other two elect a leader of a later term.
            cfg.disconnect(l1);
            let l2 = cfg.check_one_leader().await;
            let (term2, _) = cfg.state(l2).expect("the leader is running");
            assert!(
                term2 > term1,
                "expected the new leader's term to be after {term1}; it is {term2}"
            );

            // L's heartbeats reach the others again and their replies come back; nothing else does.
            for j in (0..servers).filter(|&j| j != l1) {
                cfg.set_link(l1, j, true);
            }
            cfg.sleep(RAFT_ELECTION_TIMEOUT / 2).await;
            let (term, leader) = cfg.state(l1).expect("the old leader is running");
            assert!(
                term >= term2,
                "expected server {l1}, leader of term {term1}, to adopt term {term2} from the \
                 replies to its heartbeats and step down; it is in term {term}{}",
                if leader { " and still leads" } else { "" }
            );

            // Healed, the cluster has a leader.
            cfg.connect(l1);
            cfg.check_one_leader().await;
        },
    );
}
