//! The model checker catches classic Raft mistakes in the very code students write: each broken
//! variant (a patch of the mutant catalog applied to the reference) produces the expected violation,
//! and its shortest counterexample reads as a short message trace. Two of them are snapshots, so a
//! change in the checker's output shows in review.

use checker::model::trace::{
    Exploration, Strategy, check, depth_first_violation, render_path, shortest_violation,
};
use checker::model::{Bounds, NetworkSemantics, RaftNode, symmetry};

/// The default bound: 3 servers, terms up to 2, one command, no crashes, unordered network.
fn small() -> Bounds {
    Bounds::default()
}

fn with_crash() -> Bounds {
    Bounds {
        crashes: 1,
        ..small()
    }
}

/// Find the shortest violation of `R` within `bounds`; check which property it breaks and how
/// long the counterexample is; return its rendering.
fn violation<R: RaftNode>(bounds: &Bounds, property: &str, steps: usize) -> String {
    let Some((violated, path)) = shortest_violation::<R>(bounds, 20) else {
        panic!("expected a violation of {property} within {bounds}; the checker found none");
    };
    let text = render_path(bounds, &path);
    assert_eq!(violated, property, "{text}");
    assert_eq!(path.clone().into_actions().len(), steps, "{text}");
    text
}

#[test]
fn voting_twice_in_a_term_breaks_election_safety() {
    let text = violation::<raft_mutants::vote_twice::Raft>(&small(), "election safety", 6);
    insta::assert_snapshot!("vote_twice", text);
}

#[test]
fn a_vote_not_persisted_breaks_election_safety_after_a_crash() {
    let text =
        violation::<raft_mutants::vote_not_persisted::Raft>(&with_crash(), "election safety", 8);
    insta::assert_snapshot!("vote_not_persisted", text);
}

#[test]
fn no_up_to_date_check_breaks_leader_completeness() {
    violation::<raft_mutants::no_up_to_date_check::Raft>(&small(), "leader completeness", 11);
}

#[test]
fn truncating_on_every_append_breaks_leader_completeness() {
    violation::<raft_mutants::truncate_on_every_append::Raft>(&small(), "leader completeness", 12);
}

#[test]
fn entries_not_persisted_break_leader_completeness_after_a_crash() {
    violation::<raft_mutants::log_not_persisted_on_append::Raft>(
        &with_crash(),
        "leader completeness",
        13,
    );
}

/// Figure 8 of the Raft paper needs four terms and two commands: s0 leads term 1 and appends
/// command A that no one else gets; s1 leads term 2 with command B at the same index; s0 leads
/// term 3 with the vote of s2, copies A to s2 and (the bug) commits it by counting; s1, whose last
/// entry (term 2) is newer than A's, then wins term 4 without A. Breadth-first search of that
/// bound with the default network does not fit a test (millions of states per level by depth 18),
/// so this bound is narrower: the sequential network (one message at a time, in the order sent;
/// timers fire only when no message is in flight) that may lose at most 4 messages. And the
/// counterexample is the first one stateright's depth-first search finds (one thread: always the
/// same), shortened until no single step can be left out; breadth-first search of this bound
/// finds the same violation at 39 steps, in minutes.
fn figure8() -> Bounds {
    Bounds {
        max_term: 4,
        commands: 2,
        network: NetworkSemantics::Sequential,
        lossy: true,
        max_losses: Some(4),
        ..small()
    }
}

#[test]
fn committing_old_term_entries_by_counting_breaks_leader_completeness() {
    let bounds = figure8();
    let Some((violated, path)) =
        depth_first_violation::<raft_mutants::commit_old_term_by_counting::Raft>(&bounds, None)
    else {
        panic!(
            "expected a violation of leader completeness within {bounds}; the checker found none"
        );
    };
    let text = render_path(&bounds, &path);
    assert_eq!(violated, "leader completeness", "{text}");
    assert!(path.clone().into_actions().len() <= 40, "{text}");
    insta::assert_snapshot!("commit_old_term_by_counting", text);
}

#[test]
fn the_reference_has_no_violation_within_the_same_bounds() {
    assert!(shortest_violation::<raft::Raft>(&small(), 20).is_none());
}

/// A symmetric search (`checker check --symmetry`, one state per renaming of the servers) finds
/// each of these violations too: the mutants keep the reference's renaming, and a violation
/// reached by some renaming of a state is reached by the state itself. The printed path is the
/// shortest one, found without symmetry, so it is the same as above.
fn symmetric_search_finds<R: RaftNode>(bounds: &Bounds, property: &str, steps: usize) {
    assert_eq!(symmetry::problem::<R>(bounds, Strategy::Dfs), None);
    let report = check::<R>(
        bounds,
        &Exploration {
            strategy: Strategy::Dfs,
            symmetry: true,
            ..Exploration::default()
        },
    );
    let verdict = report
        .verdicts
        .iter()
        .find(|v| v.name == property)
        .expect("a verdict per property");
    assert!(
        !verdict.ok,
        "{property} held in a symmetric search within {bounds}"
    );
    let path = verdict.counterexample.as_ref().expect("a counterexample");
    assert_eq!(path.clone().into_actions().len(), steps);
}

#[test]
fn a_symmetric_search_finds_the_same_violations() {
    symmetric_search_finds::<raft_mutants::vote_twice::Raft>(&small(), "election safety", 6);
    symmetric_search_finds::<raft_mutants::vote_not_persisted::Raft>(
        &with_crash(),
        "election safety",
        8,
    );
    symmetric_search_finds::<raft_mutants::no_up_to_date_check::Raft>(
        &small(),
        "leader completeness",
        11,
    );
    symmetric_search_finds::<raft_mutants::truncate_on_every_append::Raft>(
        &small(),
        "leader completeness",
        12,
    );
    symmetric_search_finds::<raft_mutants::log_not_persisted_on_append::Raft>(
        &with_crash(),
        "leader completeness",
        13,
    );
}
