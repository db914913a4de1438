//! Lab 2E: PreVote and CheckQuorum, stable leadership under partial and one-way partitions.
//! `cargo test --release --test lab2e`
//!
//! Each test tells a short story with the harness (see `tests/harness/raft.rs`); times are
//! virtual. Every test first checks, in a few microseconds, that an election timeout starts a
//! pre-vote (so a Raft without 2E fails at once, saying so), and the harness checks election
//! safety and leader completeness all along, as in every Raft lab.

use std::time::Duration;

use harness::raft::{Applier, Cluster, Links, Net, RAFT_ELECTION_TIMEOUT, raft_test};
use harness::this_test;
use raft::Raft;
use raft::contract::{Effects, Options, Persisted, RaftContract, Request, Role, Timer};

/// Lab 2E's switch, on (as the harness boots every server of this suite).
const ON: Options = Options {
    prevote_and_check_quorum: true,
};

/// The first step of every 2E story: a fresh follower of three whose election timer fires asks
/// both peers for a pre-vote and becomes a pre-candidate, still in its term.
fn require_pre_vote() {
    let mut out = Effects::default();
    let mut rf = match Raft::new(0, &[0, 1, 2], &Persisted::default(), ON, &mut out) {
        Ok(rf) => rf,
        Err(e) => panic!("2E: a fresh server could not start: {e}"),
    };
    let term = rf.state().0;
    let mut out = Effects::default();
    rf.on_timer(Timer::Election, &mut out);
    let pre_votes = (out.sends.iter())
        .filter(|(_, request)| matches!(request, Request::PreVote(_)))
        .count();
    let (role, after) = (rf.observe().role, rf.state().0);
    assert!(
        pre_votes == 2 && after == term && role == Role::PreCandidate,
        "2E: on an election timeout a follower of three servers first asks both peers for a \
         pre-vote (Request::PreVote) and becomes a PreCandidate, keeping its term; this one sent \
         {pre_votes} pre-vote(s), became {role:?} and went from term {term} to term {after}"
    );
}

/// Every running server's term (`None` while down).
fn terms(cfg: &Cluster) -> Vec<Option<u64>> {
    cfg.ids()
        .into_iter()
        .map(|i| cfg.state(i).map(|s| s.0))
        .collect()
}

/// Fail unless server `leader` still leads term `term`.
fn check_leads(cfg: &Cluster, leader: usize, term: u64, when: &str) {
    let state = cfg.state(leader);
    assert!(
        state == Some((term, true)),
        "expected server {leader} to still lead term {term} {when}; it is {state:?} ({})",
        cfg.describe()
    );
}

/// Every link up, except those between `group` and the servers outside it.
fn split(cfg: &Cluster, group: &[usize]) -> Links {
    let mut links = Links::full(cfg.ids());
    for &a in group {
        for b in cfg.ids().into_iter().filter(|b| !group.contains(b)) {
            links = links.without(a, b).without(b, a);
        }
    }
    links
}

#[test]
fn isolated_term_stays() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            let leader = cfg.check_one_leader().await;
            let (term, _) = cfg.state(leader).expect("the leader runs");
            let f = (leader + 1) % cfg.servers();

            // A follower alone keeps timing out, but without a majority of pre-votes it never
            // raises its term: it waits as a pre-candidate.
            cfg.disconnect(f);
            cfg.sleep(5 * RAFT_ELECTION_TIMEOUT).await;
            let (term_f, _) = cfg.state(f).expect("the follower runs");
            assert_eq!(
                term_f, term,
                "expected isolated server {f} to stay in term {term}; it went to term {term_f}"
            );
            assert_eq!(
                cfg.role(f),
                Some(Role::PreCandidate),
                "expected isolated server {f} to be waiting for pre-votes"
            );
            check_leads(&cfg, leader, term, "while a follower is cut off");
        },
    );
}

#[test]
fn rejoin_keeps_leader() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            cfg.one(1u64, 5, true).await;
            let leader = cfg.check_one_leader().await;
            let (term, _) = cfg.state(leader).expect("the leader runs");
            let f = (leader + 2) % cfg.servers();

            // A follower is cut off for ten election timeouts while the others carry on.
            cfg.disconnect(f);
            for k in 2..=6u64 {
                cfg.one(k, 4, true).await;
                cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            }

            // Back, it follows the leader: neither the leader nor the term changes.
            cfg.connect(f);
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            check_leads(
                &cfg,
                leader,
                term,
                "after a follower rejoined from a long isolation",
            );
            assert_eq!(
                terms(&cfg),
                vec![Some(term); 5],
                "expected every server in term {term}"
            );
            cfg.one(7u64, 5, true).await;
            check_leads(&cfg, leader, term, "after the rejoined follower caught up");
        },
    );
}

#[test]
fn leader_cut_off_steps_down() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            cfg.one(1u64, 5, true).await;
            let leader = cfg.check_one_leader().await;
            let f = (leader + 1) % cfg.servers();

            // The leader and one follower are cut off from the other three.
            cfg.set_connectivity(&split(&cfg, &[leader, f]));
            let lost = cfg.start(leader, 2u64);
            assert!(lost.is_some(), "expected leader {leader} to accept start()");

            // Within two election timeouts the leader notices it hears no majority and steps down.
            let t0 = cfg.sim().now();
            while cfg.state(leader).is_some_and(|s| s.1) {
                assert!(
                    cfg.sim().now() - t0 < 2 * RAFT_ELECTION_TIMEOUT,
                    "expected leader {leader}, cut off from the majority, to step down within \
                     {:?}; it still leads ({})",
                    2 * RAFT_ELECTION_TIMEOUT,
                    cfg.describe()
                );
                cfg.sleep(Duration::from_millis(20)).await;
            }
            // It no longer acknowledges commands.
            assert_eq!(
                cfg.start(leader, 3u64),
                None,
                "expected server {leader}, no longer a leader, to refuse start()"
            );

            // The majority elects a leader of its own and commits.
            let leader2 = cfg.check_one_leader().await;
            assert!(
                leader2 != leader && leader2 != f,
                "expected a leader among the majority; got server {leader2}"
            );
            cfg.one(4u64, 3, true).await;

            // Healed, everyone agrees, and the cut-off leader's entry never commits.
            cfg.set_connectivity(&Links::full(cfg.ids()));
            cfg.one(5u64, 5, true).await;
            let (index, _) = lost.expect("checked above");
            let (_, applied) = cfg.n_committed(index);
            assert_ne!(
                applied,
                Some(2u64.to_le_bytes().to_vec()),
                "the entry a cut-off leader accepted must not commit"
            );
        },
    );
}

#[test]
fn one_way_partition_keeps_leader() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            let leader = cfg.check_one_leader().await;
            let (term, _) = cfg.state(leader).expect("the leader runs");
            let f = (leader + 1) % cfg.servers();

            // Follower f can still call everyone (and hear the answers) but nothing the leader
            // sends reaches it: it times out again and again. No command comes first, so f's log
            // is as up to date as the others': only the leader's lease stops its pre-votes.
            cfg.set_connectivity(&Links::full(cfg.ids()).without(leader, f));
            for _ in 0..10 {
                cfg.sleep(RAFT_ELECTION_TIMEOUT / 2).await;
                check_leads(&cfg, leader, term, "while a follower cannot hear it");
            }
            // Commands still commit through the leader and the other follower.
            for k in 1..=5u64 {
                cfg.one(k, 2, true).await;
                check_leads(&cfg, leader, term, "while a follower cannot hear it");
            }
            let (term_f, _) = cfg.state(f).expect("the follower runs");
            assert_eq!(
                term_f, term,
                "expected server {f}, which cannot hear the leader, to stay in term {term}"
            );

            // Healed, the same leader carries on.
            cfg.set_connectivity(&Links::full(cfg.ids()));
            cfg.one(6u64, 3, true).await;
            check_leads(&cfg, leader, term, "after the partition healed");
        },
    );
}

/// The textbook partial partition: 0, 1 and 2 fully connected, 3 connected only to 1, 4 only to
/// 2. Without PreVote and the leader's lease, 3 and 4 time out forever and depose every leader.
#[test]
fn partial_partition_stable_leader() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            cfg.set_connectivity(&Links::full([0, 1, 2]).with_both(3, 1).with_both(4, 2));
            let leader = cfg.check_one_leader().await;
            assert!(
                leader <= 2,
                "only 0, 1 or 2 can reach a majority; {leader} leads"
            );
            let (term, _) = cfg.state(leader).expect("the leader runs");

            // Ten seconds of commands: the same leader, in the same term, commits them all.
            let t0 = cfg.sim().now();
            let mut k = 0u64;
            while cfg.sim().now() - t0 < Duration::from_secs(10) {
                k += 1;
                cfg.one(k, 3, false).await;
                check_leads(&cfg, leader, term, "under the partial partition");
                cfg.sleep(Duration::from_millis(200)).await;
            }
            for (i, t) in terms(&cfg).into_iter().enumerate() {
                let t = t.expect("no server crashed");
                assert!(
                    t <= term,
                    "server {i} went to term {t}, past the leader's {term}"
                );
            }
        },
    );
}

/// Everyone loses the leader at once, so that pre-votes and votes collide; each time a leader
/// must still be elected within the course's 5 s.
#[test]
fn split_pre_votes_converge() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            cfg.check_one_leader().await;
            for round in 0..8u64 {
                cfg.set_connectivity(&Links::none());
                cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
                // Every server is now a pre-candidate, and all hear each other at once.
                cfg.set_connectivity(&Links::full(cfg.ids()));
                cfg.check_one_leader().await;
                cfg.one(round, 5, true).await;
            }
        },
    );
}

#[test]
fn new_leader_after_crash() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            for round in 0..5u64 {
                let leader = cfg.check_one_leader().await;
                let (term, _) = cfg.state(leader).expect("the leader runs");
                cfg.one(round, 5, true).await;
                // The pre-vote round must not slow elections beyond the course's 5 s.
                cfg.crash1(leader);
                let leader2 = cfg.check_one_leader().await;
                let (term2, _) = cfg.state(leader2).expect("the new leader runs");
                assert!(
                    term2 > term,
                    "expected the new leader's term to be after {term}; it is {term2}"
                );
                cfg.start1(leader);
                cfg.connect(leader);
            }
            cfg.one(99u64, 5, true).await;
        },
    );
}

/// A server restarted with a stale log asks two up-to-date servers that hear no leader: they
/// must refuse it, and with no one else in reach no term moves.
#[test]
fn stale_log_cannot_win_pre_votes() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            cfg.one(1u64, 5, true).await;
            let leader = cfg.check_one_leader().await;
            let stale = (leader + 1) % cfg.servers();
            cfg.crash1(stale);
            for k in 2..=6u64 {
                cfg.one(k, 4, true).await;
            }
            cfg.start1(stale);

            // The leader and one follower together; the stale server with the other two.
            let rest: Vec<usize> = (cfg.ids().into_iter())
                .filter(|&i| i != leader && i != stale)
                .collect();
            cfg.set_connectivity(
                &Links::none()
                    .with_both(leader, rest[0])
                    .with_both(stale, rest[1])
                    .with_both(stale, rest[2]),
            );
            let before = terms(&cfg);
            cfg.sleep(4 * RAFT_ELECTION_TIMEOUT).await;
            assert_eq!(
                terms(&cfg),
                before,
                "expected no term to move: server {stale}'s log is stale, so servers {} and {} \
                 must refuse it pre-votes ({})",
                rest[1],
                rest[2],
                cfg.describe()
            );

            // Healed, a server with the whole log leads and agreement continues.
            cfg.set_connectivity(&Links::full(cfg.ids()));
            let leader2 = cfg.check_one_leader().await;
            assert_ne!(leader2, stale, "a server with a stale log was elected");
            cfg.one(7u64, 5, true).await;
        },
    );
}

/// Random one-way links on an unreliable network, leaders coming and going, commands all along:
/// the harness checks election safety and leader completeness throughout, and agreement holds.
#[test]
fn random_links_unreliable() {
    raft_test(
        this_test!(),
        5,
        Net::Unreliable,
        Applier::Plain,
        |cfg| async move {
            require_pre_vote();
            let ids = cfg.ids();
            for round in 0..20u64 {
                let mut links = Links::none();
                for &a in &ids {
                    for &b in &ids {
                        if a != b && cfg.rand(0..100) < 70 {
                            links = links.with(a, b);
                        }
                    }
                }
                cfg.set_connectivity(&links);
                for &i in &ids {
                    cfg.start(i, 1000 + round);
                }
                let ms = 200 + cfg.rand(0..1300);
                cfg.sleep(Duration::from_millis(ms)).await;
            }
            cfg.set_connectivity(&Links::full(ids));
            cfg.one(7u64, 5, true).await;
        },
    );
}
