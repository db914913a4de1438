//! Figure 2's rules, one handler call at a time: each test builds servers through the contract
//! (`RaftContract::new`), feeds them events, and reads the `Effects` they ask for and what
//! `observe()` says. These are rules that no randomized run shows by itself: a refused vote or a
//! stale AppendEntries that re-arms the election timer only delays elections, and a stale vote
//! reply counted in a later election needs a rare interleaving.
//!
//! They use nothing but the contract, so they hold any Raft to the rules, the reference included.

use raft::Raft;
use raft::contract::{
    Effects, Options, PeerId, Persisted, RaftContract, Reply, Request, Role, Timer, TimerOp,
};
use raft::messages::{
    AppendEntriesArgs, AppendEntriesReply, Entry, RequestVoteArgs, RequestVoteReply,
};

const PEERS: [PeerId; 3] = [0, 1, 2];

/// Server `me` of three, booted fresh.
fn boot(me: PeerId) -> Raft {
    let mut out = Effects::default();
    Raft::new(
        me,
        &PEERS,
        &Persisted::default(),
        Options::default(),
        &mut out,
    )
    .expect("a fresh server boots")
}

/// Whether `out` (re-)arms the election timer.
fn arms_election(out: &Effects) -> bool {
    out.timers.iter().any(|op| {
        matches!(
            op,
            TimerOp::Set {
                timer: Timer::Election,
                ..
            }
        )
    })
}

/// What `rf` sends in `out`, to whom.
fn vote_requests(out: &Effects) -> Vec<(PeerId, RequestVoteArgs)> {
    out.sends
        .iter()
        .filter_map(|(to, r)| match r {
            Request::RequestVote(args) => Some((*to, args.clone())),
            _ => None,
        })
        .collect()
}

/// `rf`'s election timer fires: it becomes a candidate; returns what it asked for.
fn campaign(rf: &mut Raft) -> Effects {
    let mut out = Effects::default();
    rf.on_timer(Timer::Election, &mut out);
    out
}

fn request_vote(rf: &mut Raft, from: PeerId, args: RequestVoteArgs) -> (RequestVoteReply, Effects) {
    let mut out = Effects::default();
    match rf.on_request(from, Request::RequestVote(args), &mut out) {
        Reply::RequestVote(reply) => (reply, out),
        other => panic!("a RequestVote got {other:?}"),
    }
}

fn append_entries(
    rf: &mut Raft,
    from: PeerId,
    args: AppendEntriesArgs,
) -> (AppendEntriesReply, Effects) {
    let mut out = Effects::default();
    match rf.on_request(from, Request::AppendEntries(args), &mut out) {
        Reply::AppendEntries(reply) => (reply, out),
        other => panic!("an AppendEntries got {other:?}"),
    }
}

fn ask(term: u64, candidate: PeerId, last_log_index: u64, last_log_term: u64) -> RequestVoteArgs {
    RequestVoteArgs {
        term,
        candidate,
        last_log_index,
        last_log_term,
    }
}

fn heartbeat(term: u64, leader: PeerId) -> AppendEntriesArgs {
    AppendEntriesArgs {
        term,
        leader,
        prev_log_index: 0,
        prev_log_term: 0,
        entries: Vec::new(),
        leader_commit: 0,
    }
}

/// Server 1 in term `term`, having voted for nobody in it (it heard of the term from a
/// heartbeat of server 0).
fn follower_in_term(term: u64) -> Raft {
    let mut rf = boot(1);
    let (reply, _) = append_entries(&mut rf, 0, heartbeat(term, 0));
    assert!(reply.success, "a heartbeat of a new term is accepted");
    assert_eq!(rf.observe().term, term);
    assert_eq!(rf.observe().voted_for, None);
    rf
}

#[test]
fn a_granted_vote_rearms_the_election_timer() {
    let mut rf = boot(1);
    let (reply, out) = request_vote(&mut rf, 0, ask(1, 0, 0, 0));
    assert!(reply.vote_granted);
    assert!(
        arms_election(&out),
        "granting a vote re-arms the timer: {out:?}"
    );
}

#[test]
fn a_vote_refused_to_a_stale_term_does_not_rearm_the_election_timer() {
    let mut rf = follower_in_term(3);
    let (reply, out) = request_vote(&mut rf, 2, ask(2, 2, 5, 2));
    assert!(!reply.vote_granted);
    assert_eq!(reply.term, 3, "the reply carries the current term");
    assert!(!arms_election(&out), "{out:?}");
    assert_eq!(rf.observe().voted_for, None);
}

#[test]
fn a_vote_refused_to_a_candidate_with_an_older_log_does_not_rearm_the_election_timer() {
    // Server 1 holds an entry of term 1; candidate 2 of term 2 has an empty log.
    let mut rf = boot(1);
    let mut args = heartbeat(1, 0);
    args.entries = vec![Entry {
        term: 1,
        command: vec![7],
    }];
    let (reply, _) = append_entries(&mut rf, 0, args);
    assert!(reply.success);
    let (reply, out) = request_vote(&mut rf, 2, ask(2, 2, 0, 0));
    assert!(!reply.vote_granted, "the candidate's log is not up to date");
    assert_eq!(
        rf.observe().term,
        2,
        "the newer term is adopted all the same"
    );
    assert!(
        !arms_election(&out),
        "a refused vote does not re-arm the timer: {out:?}"
    );
}

#[test]
fn a_vote_refused_because_another_got_it_does_not_rearm_the_election_timer() {
    let mut rf = follower_in_term(2);
    let (first, _) = request_vote(&mut rf, 0, ask(2, 0, 0, 0));
    assert!(first.vote_granted);
    let (second, out) = request_vote(&mut rf, 2, ask(2, 2, 0, 0));
    assert!(!second.vote_granted, "one vote per term");
    assert!(!arms_election(&out), "{out:?}");
    assert_eq!(rf.observe().voted_for, Some(0));
}

#[test]
fn the_same_candidate_asking_again_gets_the_vote_again() {
    // A lost reply makes a candidate ask again: the answer must not change.
    let mut rf = follower_in_term(2);
    let (first, _) = request_vote(&mut rf, 0, ask(2, 0, 0, 0));
    let (again, _) = request_vote(&mut rf, 0, ask(2, 0, 0, 0));
    assert!(first.vote_granted && again.vote_granted);
}

#[test]
fn a_stale_append_entries_is_refused_and_does_not_rearm_the_election_timer() {
    let mut rf = follower_in_term(3);
    let (reply, out) = append_entries(&mut rf, 2, heartbeat(2, 2));
    assert!(!reply.success);
    assert_eq!(
        reply.term, 3,
        "the reply tells the stale leader the current term"
    );
    assert!(
        !arms_election(&out),
        "only the current leader re-arms the timer: {out:?}"
    );
}

#[test]
fn an_append_entries_of_the_current_term_rearms_the_timer_even_when_its_check_fails() {
    let mut rf = follower_in_term(2);
    let mut args = heartbeat(2, 0);
    args.prev_log_index = 5;
    args.prev_log_term = 2;
    let (reply, out) = append_entries(&mut rf, 0, args);
    assert!(!reply.success, "our log is too short");
    assert!(
        arms_election(&out),
        "the current leader was heard from: {out:?}"
    );
}

#[test]
fn a_new_candidate_persists_its_term_and_vote_before_asking_for_votes() {
    let mut rf = boot(0);
    let out = campaign(&mut rf);
    assert_eq!(rf.observe().term, 1);
    assert_eq!(rf.observe().role, Role::Candidate);
    assert_eq!(rf.observe().voted_for, Some(0), "it votes for itself");
    let asked = vote_requests(&out);
    assert_eq!(
        asked.iter().map(|(to, _)| *to).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(asked.iter().all(|(_, a)| a.term == 1 && a.candidate == 0));
    // The drivers persist before they send: the bytes must already hold term 1 and the vote.
    let persisted = out
        .persist
        .as_ref()
        .expect("a new term and vote are persisted");
    let mut again = Effects::default();
    let restarted = Raft::new(
        0,
        &PEERS,
        &Persisted {
            state: persisted.state.clone(),
            snapshot: Vec::new(),
        },
        Options::default(),
        &mut again,
    )
    .expect("restarts from what it persisted");
    assert_eq!(restarted.observe().term, 1);
    assert_eq!(restarted.observe().voted_for, Some(0));
}

#[test]
fn a_vote_granted_to_an_earlier_candidacy_does_not_count() {
    // Server 0 campaigns in term 1, then again in term 2; server 1's vote of term 1 arrives then.
    let mut rf = boot(0);
    let first = campaign(&mut rf);
    let (_, args_1) = vote_requests(&first)
        .into_iter()
        .find(|(to, _)| *to == 1)
        .expect("asks server 1");
    campaign(&mut rf);
    assert_eq!(rf.observe().term, 2);
    let mut out = Effects::default();
    rf.on_reply(
        1,
        Request::RequestVote(args_1),
        Reply::RequestVote(RequestVoteReply {
            term: 1,
            vote_granted: true,
        }),
        &mut out,
    );
    assert_eq!(
        rf.observe().role,
        Role::Candidate,
        "a vote of term 1 does not elect it in term 2"
    );
    assert!(out.is_empty(), "a stale reply asks for nothing: {out:?}");
}

#[test]
fn the_same_voter_counts_once() {
    // Five servers: a duplicated grant from one voter is still one vote (a candidate needs 3).
    let peers: Vec<PeerId> = (0..5).collect();
    let mut out = Effects::default();
    let mut rf = Raft::new(
        0,
        &peers,
        &Persisted::default(),
        Options::default(),
        &mut out,
    )
    .expect("boots");
    let started = campaign(&mut rf);
    let (_, args) = vote_requests(&started)
        .into_iter()
        .find(|(to, _)| *to == 1)
        .expect("asks server 1");
    for _ in 0..2 {
        let mut out = Effects::default();
        rf.on_reply(
            1,
            Request::RequestVote(args.clone()),
            Reply::RequestVote(RequestVoteReply {
                term: 1,
                vote_granted: true,
            }),
            &mut out,
        );
    }
    assert_eq!(rf.observe().role, Role::Candidate, "two votes of five");
}

#[test]
fn a_reply_with_a_newer_term_makes_a_candidate_a_follower_of_that_term() {
    let mut rf = boot(0);
    let started = campaign(&mut rf);
    let (_, args) = vote_requests(&started).into_iter().next().expect("asks");
    let mut out = Effects::default();
    rf.on_reply(
        1,
        Request::RequestVote(args),
        Reply::RequestVote(RequestVoteReply {
            term: 5,
            vote_granted: false,
        }),
        &mut out,
    );
    let view = rf.observe();
    assert_eq!(
        (view.term, view.role, view.voted_for),
        (5, Role::Follower, None)
    );
    assert!(out.persist.is_some(), "the new term is persisted");
}

#[test]
fn a_stale_append_entries_reply_changes_nothing() {
    // Server 0 leads term 2 (after campaigning twice); a reply to a term-1 AppendEntries comes.
    let mut rf = boot(0);
    campaign(&mut rf);
    let second = campaign(&mut rf);
    for (to, args) in vote_requests(&second) {
        let mut out = Effects::default();
        rf.on_reply(
            to,
            Request::RequestVote(args),
            Reply::RequestVote(RequestVoteReply {
                term: 2,
                vote_granted: true,
            }),
            &mut out,
        );
    }
    assert_eq!(rf.state(), (2, true));
    let before = rf.clone();
    let mut out = Effects::default();
    rf.on_reply(
        1,
        Request::AppendEntries(heartbeat(1, 0)),
        Reply::AppendEntries(AppendEntriesReply {
            term: 1,
            success: false,
            conflict_index: 1,
            conflict_term: None,
        }),
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(rf, before);
}
