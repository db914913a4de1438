//! The model checker catches classic Raft mistakes in the very code students write: each broken
//! variant (a patch of the mutant catalog applied to the reference) produces the expected violation,
//! and its shortest counterexample reads as a short message trace. Two of them are snapshots, so a
//! change in the checker's output shows in review.

use checker::model::trace::{render_path, shortest_violation};
use checker::model::{Bounds, RaftNode};

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

#[test]
fn the_reference_has_no_violation_within_the_same_bounds() {
    assert!(shortest_violation::<raft::Raft>(&small(), 20).is_none());
}
