//! Lab 2A: leader election. `cargo test --release --test lab2a`
//!
//! Each test tells a short story with the harness (see `tests/harness/raft.rs`); times are virtual.

use std::time::Duration;

use harness::handlers::{Bench, handler_test, sent_to, sets_timer};
use harness::raft::{Applier, Net, RAFT_ELECTION_TIMEOUT, raft_test};
use harness::this_test;
use raft::contract::{Role, Timer};

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
            // (With 2E on, `LAB_2E=1`, CheckQuorum may have stepped L down already, still in its
            // old term: then it hears the new term in the replies to its pre-votes, within an
            // election timeout.)
            let with_2e = cfg.options().prevote_and_check_quorum;
            let wait = if with_2e { 2 } else { 1 };
            cfg.sleep(wait * RAFT_ELECTION_TIMEOUT / 2).await;
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

/// Figure 2's election timer, handler by handler (the course's Students' Guide: re-arm it only when
/// you start an election, grant a vote, or hear from the current leader). Servers 0 and 2 stand for
/// term 1 at once; server 1 votes for 0, so 0 leads; 1 must refuse 2 without re-arming its timer
/// (re-arming it on every RequestVote lets a candidate that cannot win hold off the others'
/// elections), and 2 must follow 0 when 0's heartbeat comes. Then 2 stands for term 2 and 1
/// votes for it; a late heartbeat of term 1 must change
/// neither (a candidate of a later term stays one, and nobody re-arms a timer for a stale leader).
/// Only how long elections take depends on these rules, so no randomized run shows them; this test
/// drives three servers by hand and looks at the effects of each event. (An extra test beyond the
/// course's.)
#[test]
fn election_timer_rules() {
    handler_test(this_test!(), || {
        let mut b = Bench::new(3);
        let out0 = b.fire(0, Timer::Election);
        assert!(
            sets_timer(&out0, Timer::Election),
            "expected server 0 to re-arm its election timer when it starts an election"
        );
        let out2 = b.fire(2, Timer::Election);
        let (term, _) = b.state(0);
        assert_eq!(
            b.state(2).0,
            term,
            "expected 0 and 2 to stand in the same term"
        );
        let ask0 = sent_to(&out0, 1, "RequestVote").expect("server 0 asks server 1 for its vote");
        let ask2 = sent_to(&out2, 1, "RequestVote").expect("server 2 asks server 1 for its vote");

        // 1 votes for 0, the first to ask.
        let (yes, out) = b.request(1, 0, ask0.clone());
        assert_eq!(
            b.voted_for(1),
            Some(0),
            "expected server 1 to vote for server 0"
        );
        assert!(
            sets_timer(&out, Timer::Election),
            "expected server 1 to re-arm its election timer when it grants its vote"
        );
        // 1 refuses 2: it has voted in this term.
        let (_, out) = b.request(1, 2, ask2);
        assert_eq!(
            b.voted_for(1),
            Some(0),
            "expected server 1 to keep its vote for server 0 in term {term}"
        );
        assert!(
            !sets_timer(&out, Timer::Election),
            "expected server 1 not to re-arm its election timer when it refuses a vote \
             (Figure 2: only a granted vote, a current leader or its own election re-arms it)"
        );

        // 0 wins and sends heartbeats (now, or when its heartbeat timer fires).
        let mut out = b.reply(0, 1, ask0, yes);
        assert_eq!(
            b.state(0),
            (term, true),
            "expected server 0 to lead term {term} with server 1's vote"
        );
        if sent_to(&out, 1, "AppendEntries").is_none() {
            out = b.fire(0, Timer::Heartbeat);
        }
        let beat1 =
            sent_to(&out, 1, "AppendEntries").expect("leader 0 sends server 1 AppendEntries");
        let beat2 =
            sent_to(&out, 2, "AppendEntries").expect("leader 0 sends server 2 AppendEntries");
        let (_, out) = b.request(1, 0, beat1.clone());
        assert!(
            sets_timer(&out, Timer::Election),
            "expected server 1 to re-arm its election timer on AppendEntries from the leader"
        );
        // Candidate 2 hears from the leader of its own term: it follows it.
        let (_, out) = b.request(2, 0, beat2.clone());
        assert_eq!(
            (b.role(2), b.state(2).0),
            (Role::Follower, term),
            "expected candidate 2 to become a follower in term {term} on AppendEntries from \
             that term's leader"
        );
        assert!(
            sets_timer(&out, Timer::Election),
            "expected server 2 to re-arm its election timer on AppendEntries from the leader"
        );

        // 2 stands again, for the next term, and 1 votes for it.
        let out2 = b.fire(2, Timer::Election);
        let ask2 = sent_to(&out2, 1, "RequestVote").expect("server 2 asks server 1 for its vote");
        b.request(1, 2, ask2);
        assert_eq!(
            b.voted_for(1),
            Some(2),
            "expected server 1 to vote for server 2 in term {}",
            term + 1
        );

        // Leader 0's heartbeats of the earlier term arrive late.
        let (_, out) = b.request(1, 0, beat1);
        assert!(
            !sets_timer(&out, Timer::Election),
            "expected server 1 (term {}) not to re-arm its election timer for AppendEntries of \
             term {term}: that leader is not current",
            term + 1
        );
        let (_, out) = b.request(2, 0, beat2);
        assert_eq!(
            (b.role(2), b.state(2).0),
            (Role::Candidate, term + 1),
            "expected server 2 to stay a candidate of term {} when AppendEntries of term {term} \
             arrives",
            term + 1
        );
        assert!(
            !sets_timer(&out, Timer::Election),
            "expected server 2 not to re-arm its election timer for AppendEntries of an older term"
        );
    });
}
