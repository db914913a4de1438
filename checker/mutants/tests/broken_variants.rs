//! The model checker catches classic Raft mistakes in the very code students write: each broken
//! variant (a patch of the mutant catalog applied to the reference) produces the expected violation,
//! and its shortest counterexample reads as a short message trace. Two of them are snapshots, so a
//! change in the checker's output shows in review.

use checker::model::bounds::{Exploration, Strategy};
use checker::model::check::check;
use checker::model::properties::{NO_PANIC, NO_TERM_FROM_PRE_VOTE};
use checker::model::report::{Conclusion, Report, Shortness, Stop, render_report};
use checker::model::shorten::{depth_first_violation, shortest_violation, shortest_violation_with};
use checker::model::stateright::actor::ActorModelAction;
use checker::model::trace::render_path;
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

/// Lab 2E: the default bound with the servers' PreVote and CheckQuorum on (`--prevote`).
fn prevote() -> Bounds {
    Bounds {
        prevote: true,
        ..small()
    }
}

/// Lab 2E, etcd's PreVote rule: a pre-candidate that raises its term when it asks for pre-votes
/// breaks "pre-votes never raise terms" (a server never raises its term because of a pre-vote
/// alone) at its first election timeout.
#[test]
fn a_pre_candidate_raising_its_term_breaks_the_pre_vote_rule() {
    let text = violation::<raft_mutants::pre_candidate_raises_term::Raft>(
        &prevote(),
        NO_TERM_FROM_PRE_VOTE,
        1,
    );
    assert!(text.contains("s0 P1"), "{text}");
}

/// Lab 2E: so does a server that adopts the term a pre-vote proposes, as soon as it gets one.
#[test]
fn adopting_a_pre_votes_term_breaks_the_pre_vote_rule() {
    let text = violation::<raft_mutants::pre_vote_raises_receiver_term::Raft>(
        &prevote(),
        NO_TERM_FROM_PRE_VOTE,
        2,
    );
    assert!(text.contains("PreVote("), "{text}");
}

/// Lab 2E: the same reference with PreVote and CheckQuorum on breaks nothing in as many steps.
#[test]
fn the_reference_with_prevote_has_no_violation_within_the_same_bounds() {
    assert!(shortest_violation::<raft::Raft>(&prevote(), 12).is_none());
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

/// `--lose-stale`: the network loses each message whose delivery would change nothing, so stale
/// replies and duplicate acks do not hold places under `--max-in-flight` (see
/// `Bounds::lose_stale`). Without it, such messages fill the default bound's six places and the
/// paths below, which need room for fresh messages, are pruned.
fn losing_stale(bounds: Bounds) -> Bounds {
    Bounds {
        lose_stale: true,
        ..bounds
    }
}

/// A candidate that counts a vote granted to its earlier candidacy (a reply to a RequestVote of
/// an earlier term) wins a term in which another server also wins: 9 steps, 3 servers, no
/// command. Without `--lose-stale` the same bound (every path, not only to depth 20) has no
/// violation at all: the stale replies and requests of the earlier terms fill the six places.
#[test]
fn counting_a_stale_vote_breaks_election_safety_once_stale_messages_are_lost() {
    type CountStaleVote = raft_mutants::count_stale_vote::Raft;
    let elections = Bounds {
        commands: 0,
        ..small()
    };
    let report = check::<CountStaleVote>(&elections, &Exploration::default());
    assert!(
        report.complete,
        "{}",
        render_report(&report, "127.0.0.1:3000")
    );
    assert!(
        verdict(&report, "election safety").ok,
        "the bound without --lose-stale was expected to miss this bug (if it now finds it, the \
         flag's reason is gone: update this test and the docs)"
    );
    let text = violation::<CountStaleVote>(&losing_stale(elections), "election safety", 9);
    assert!(text.contains("both led term 2"), "{text}");
}

/// The model's commands are distinguishable (each proposal unique: `[k, term]`), so a follower
/// that keeps another leader's entry at an index, where the leader of a later term committed its
/// own, applies a different command there. With one command proposed as the same bytes by every
/// leader, both entries read `[1]` and nothing showed. The default bound still misses it (its
/// path needs more than 6 messages in flight while stale ones hold places); losing the stale
/// messages finds it with only 4 in flight, in fewer states than the default bound has.
#[test]
fn keeping_a_conflicting_entry_breaks_state_machine_safety_once_stale_messages_are_lost() {
    type KeepConflicting = raft_mutants::keep_conflicting_entry::Raft;
    let bounds = losing_stale(Bounds {
        max_in_flight: 4,
        ..small()
    });
    assert_eq!(bounds.commands, 1);
    let text = violation::<KeepConflicting>(&bounds, "state machine safety", 19);
    assert!(text.contains("applied [1, 1] at index 1"), "{text}");
}

#[test]
fn the_reference_has_no_violation_when_stale_messages_are_lost() {
    for bounds in [
        losing_stale(Bounds {
            commands: 0,
            ..small()
        }),
        losing_stale(Bounds {
            max_in_flight: 4,
            ..small()
        }),
    ] {
        let report = check::<raft::Raft>(&bounds, &Exploration::default());
        let text = render_report(&report, "127.0.0.1:3000");
        assert!(report.complete, "{bounds}: {text}");
        for property in checker::model::properties::SAFETY {
            assert!(verdict(&report, property).ok, "{bounds}: {text}");
        }
    }
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

/// The verdict on `property` in `report`.
fn verdict<'a, R: RaftNode>(
    report: &'a Report<R>,
    property: &str,
) -> &'a checker::model::report::Verdict<R> {
    report
        .verdicts
        .iter()
        .find(|v| v.name == property)
        .expect("a verdict per property")
}

/// `text` with the panic's place in the generated mutant file (under the build's OUT_DIR, which
/// differs between builds) replaced by `MUTANT.rs:LINE`.
fn redact_place(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        match (line.find(" at /"), line.find(".rs:")) {
            (Some(at), Some(rs)) if at < rs => {
                let rest = &line[rs + 4..];
                let digits = rest.chars().take_while(char::is_ascii_digit).count();
                out.push_str(&line[..at]);
                out.push_str(" at MUTANT.rs:LINE");
                out.push_str(&rest[digits..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// A Raft that panics (the extra mutant `append-indexes-past-log`: a follower indexes its log
/// past its end) is caught as a violation of "the Raft does not panic": the message and the
/// place, the shortest path ending in the step that panicked, exit code 1 -- by depth-first and
/// breadth-first search (simulation is tested on a Raft that panics sooner, in
/// checker/tests/panics.rs). Before panics were caught, the search's threads died, and every
/// property "held".
#[test]
fn a_panic_in_the_raft_is_a_violation_with_the_shortest_path_to_it() {
    type Panics = raft_mutants::append_indexes_past_log::Raft;
    let bounds = small();
    let (property, shortest) =
        shortest_violation::<Panics>(&bounds, 20).expect("the panic is found");
    assert_eq!(property, NO_PANIC);
    let steps = shortest.clone().into_actions();
    let last = steps.last().expect("some steps");
    let ActorModelAction::Deliver { dst, msg, .. } = &last.step else {
        panic!("the last step delivers the AppendEntries that panics: {last:?}");
    };
    assert!(format!("{msg:?}").contains("AppendEntries"), "{msg:?}");
    for strategy in [Strategy::Dfs, Strategy::Bfs] {
        let report = check::<Panics>(
            &bounds,
            &Exploration {
                strategy,
                threads: 2,
                ..Exploration::default()
            },
        );
        let text = render_report(&report, "127.0.0.1:3000");
        assert_eq!(report.conclusion(), Conclusion::Violated, "{text}");
        assert_eq!(report.conclusion().exit_code(), 1);
        let v = verdict(&report, NO_PANIC);
        let why = v.why.as_deref().expect("why");
        assert!(
            why.starts_with("the Raft panicked: index out of bounds: the len is ")
                && why.contains("append_indexes_past_log.rs:")
                && why.contains(", handling AppendEntries from server "),
            "{strategy:?}: {why}"
        );
        let path = v.counterexample.as_ref().expect("a counterexample");
        if strategy == Strategy::Bfs {
            // The first shortest path in breadth-first order.
            assert_eq!(path.clone().into_actions(), steps, "{text}");
            let (from, to) = match &last.step {
                ActorModelAction::Deliver { src, .. } => (usize::from(*src), usize::from(*dst)),
                _ => unreachable!(),
            };
            assert!(
                why.ends_with(&format!(
                    "(server {to}, handling AppendEntries from server {from})"
                )),
                "{why}"
            );
        } else {
            // A shortest one (depth-first search on two threads may find another).
            assert_eq!(
                path.clone().into_actions().len(),
                steps.len(),
                "{strategy:?}: {text}"
            );
        }
        assert_eq!(v.shortness, Some(Shortness::Shortest), "{strategy:?}");
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l
                    .starts_with("result: VIOLATED: the Raft does not panic: the Raft panicked: ")),
            "{text}"
        );
    }
    insta::assert_snapshot!(
        "append_indexes_past_log",
        redact_place(&render_path(&bounds, &shortest))
    );
}

/// Breadth-first search prints a shortest counterexample whatever the number of threads (the
/// same one), and stops once the depth of its first violation is checked: it finds exactly the
/// states within that many steps, far fewer than the whole bound.
#[test]
fn breadth_first_search_prints_the_shortest_path_and_stops_after_its_depth() {
    type VoteTwice = raft_mutants::vote_twice::Raft;
    let bounds = small();
    let (_, shortest) = shortest_violation::<VoteTwice>(&bounds, 20).expect("a violation");
    let shortest = shortest.into_actions();
    assert_eq!(shortest.len(), 6);
    let bfs = |threads| {
        check::<VoteTwice>(
            &bounds,
            &Exploration {
                strategy: Strategy::Bfs,
                threads,
                ..Exploration::default()
            },
        )
    };
    let within_6 = states_within::<VoteTwice>(&bounds, 6);
    for threads in [1, 2, 3] {
        let report = bfs(threads);
        let v = verdict(&report, "election safety");
        let path = v.counterexample.as_ref().expect("a counterexample");
        assert_eq!(path.clone().into_actions(), shortest, "{threads} threads");
        assert_eq!(v.shortness, Some(Shortness::Shortest));
        assert_eq!(report.stop, Some(Stop::FirstViolation(6)));
        assert_eq!(report.max_depth, 6);
        assert!(!report.complete);
        // The whole bound has well over 100,000 states.
        assert_eq!(report.unique, within_6, "{threads} threads");
        assert!(report.unique < 20_000, "{}", report.unique);
    }
    // The multi-threaded search of shortest paths gives the one-thread answer.
    let (_, two) = shortest_violation_with::<VoteTwice>(&bounds, 20, 2).expect("a violation");
    assert_eq!(two.into_actions(), shortest);
}

/// How many distinct states lie within `depth` steps of the start (a plain breadth-first search).
fn states_within<R: RaftNode>(bounds: &Bounds, depth: usize) -> usize {
    use checker::model::stateright::Model;
    let model = checker::model::model::<R>(bounds);
    let mut seen = std::collections::HashSet::new();
    let mut level = model.init_states();
    level.retain(|s| seen.insert(s.clone()));
    let mut actions = Vec::new();
    for _ in 0..depth {
        let mut next = Vec::new();
        for state in &level {
            actions.clear();
            model.actions(state, &mut actions);
            for action in actions.drain(..) {
                if let Some(after) = model.next_state(state, action)
                    && model.within_boundary(&after)
                    && seen.insert(after.clone())
                {
                    next.push(after);
                }
            }
        }
        level = next;
    }
    seen.len()
}

/// Depth-first search and simulation find long paths; the printed one is shortened, and called
/// shortest only when a search of every shorter depth proved it. With too small a budget for that
/// search, it says that a shorter path may exist.
#[test]
fn depth_first_paths_are_shortened_and_called_shortest_only_when_proven() {
    type NoUpToDate = raft_mutants::no_up_to_date_check::Raft;
    let bounds = small();
    let dfs = |shortening_limit| {
        check::<NoUpToDate>(
            &bounds,
            &Exploration {
                strategy: Strategy::Dfs,
                shortening_limit,
                ..Exploration::default()
            },
        )
    };
    let proven = dfs(checker::model::bounds::SEARCH_STATE_LIMIT);
    let v = verdict(&proven, "leader completeness");
    assert_eq!(v.shortness, Some(Shortness::Shortest));
    assert_eq!(
        v.counterexample
            .as_ref()
            .map(|p| p.clone().into_actions().len()),
        Some(11)
    );
    let text = render_report(&proven, "127.0.0.1:3000");
    assert!(
        text.contains(
            "counterexample for \"leader completeness\" (11 steps; no shorter path violates it):"
        ),
        "{text}"
    );

    let unproven = dfs(100);
    let v = verdict(&unproven, "leader completeness");
    let Some(Shortness::Minimal { searched }) = v.shortness else {
        panic!("not proven shortest with 100 states: {:?}", v.shortness);
    };
    assert!(searched >= 100);
    let len = v
        .counterexample
        .as_ref()
        .expect("a path")
        .clone()
        .into_actions()
        .len();
    assert!(len >= 11);
    let text = render_report(&unproven, "127.0.0.1:3000");
    assert!(
        text.contains(&format!(
            "({len} steps; no step can be left out, but a shorter path may exist: the search for one stopped after {searched} states)"
        )),
        "{text}"
    );
}

/// The report's last line names the violated property and the servers involved.
#[test]
fn the_last_line_names_the_violation_and_its_servers() {
    let report = check::<raft_mutants::vote_twice::Raft>(&small(), &Exploration::default());
    let text = render_report(&report, "127.0.0.1:3000");
    let last = text.lines().last().expect("a last line");
    assert!(
        last.starts_with("result: VIOLATED: election safety: servers ")
            && last.contains(" both led term ")
            && last.ends_with("(exit code 1)"),
        "{last}"
    );
}

/// A preset's verdict (what the grader records): a mutant the preset catches fails it, with its
/// counterexample in the report; the reference passes.
#[test]
fn a_preset_fails_a_mutant_it_catches_with_the_counterexample() {
    use checker::model::cli::{CheckArgs, check_outcome};
    use clap::Parser;
    #[derive(Parser)]
    struct Check {
        #[command(flatten)]
        args: CheckArgs,
    }
    let args = Check::try_parse_from(["check", "--preset", "election"])
        .unwrap()
        .args;
    let mut out = Vec::new();
    let outcome =
        check_outcome::<raft_mutants::vote_twice::Raft>(&args, "vote-twice", &mut out, false);
    let verdict = outcome.preset.expect("a preset's verdict");
    assert!(!verdict.passed);
    assert_eq!(outcome.code, 1);
    assert!(
        verdict
            .report
            .contains("counterexample for \"election safety\"")
            && verdict.report.contains("preset election: FAILED"),
        "{}",
        verdict.report
    );
    // The printed output names the page written here; the record (shown on another machine, in
    // a grade report) does not carry that path.
    let printed = String::from_utf8(out).unwrap();
    assert!(printed.contains("\npage: "), "{printed}");
    assert!(!verdict.report.contains("page: "), "{}", verdict.report);
    let outcome = check_outcome::<raft::Raft>(&args, "the reference", &mut Vec::new(), false);
    assert_eq!(outcome.code, 0);
    assert!(outcome.preset.expect("a verdict").passed);
}

/// The `stale-replies` preset (`--commands 0 --lose-stale`) catches the catalog's
/// stale-vote-reply-counted, which only one lab test (at seed 1) catches; the reference passes it.
#[test]
fn the_stale_replies_preset_catches_a_stale_vote_counted() {
    use checker::model::cli::{CheckArgs, check_outcome};
    use clap::Parser;
    #[derive(Parser)]
    struct Check {
        #[command(flatten)]
        args: CheckArgs,
    }
    let args = Check::try_parse_from(["check", "--preset", "stale-replies"])
        .unwrap()
        .args;
    let outcome = check_outcome::<raft_mutants::stale_vote_reply_counted::Raft>(
        &args,
        "stale-vote-reply-counted",
        &mut Vec::new(),
        false,
    );
    let verdict = outcome.preset.expect("a preset's verdict");
    assert!(
        !verdict.passed && verdict.report.contains("election safety"),
        "{}",
        verdict.report
    );
    let outcome = check_outcome::<raft::Raft>(&args, "the reference", &mut Vec::new(), false);
    assert_eq!(outcome.code, 0);
    assert!(outcome.preset.expect("a verdict").passed);
}

/// Lab 2E's preset `prevote` (what the grader records for `[lab2e.checker]`): a pre-candidate that
/// raises its term fails it on the pre-vote rule; a pre-vote granted without the up-to-date check
/// does not break a safety property, so it is the tests' to catch. (The reference passing the
/// preset is what `labs grade` checks on the reference.)
#[test]
fn the_prevote_preset_fails_a_pre_candidate_that_raises_its_term() {
    use checker::model::cli::{CheckArgs, check_outcome};
    use clap::Parser;
    #[derive(Parser)]
    struct Check {
        #[command(flatten)]
        args: CheckArgs,
    }
    let args = Check::try_parse_from(["check", "--preset", "prevote"])
        .unwrap()
        .args;
    let (resolved, _) = args.resolve().unwrap();
    assert!(resolved.bounds.bounds().prevote, "the preset turns 2E on");
    let mut out = Vec::new();
    let outcome = check_outcome::<raft_mutants::pre_candidate_raises_term::Raft>(
        &args,
        "pre-candidate-raises-term",
        &mut out,
        false,
    );
    let verdict = outcome.preset.expect("a preset's verdict");
    assert!(!verdict.passed);
    assert_eq!(outcome.code, 1);
    assert!(
        verdict.report.contains(&format!(
            "counterexample for \"{}\"",
            checker::model::properties::NO_TERM_FROM_PRE_VOTE
        )) && verdict.report.contains("preset prevote: FAILED"),
        "{}",
        verdict.report
    );
}

/// With `first_violation` (as the presets run), depth-first search stops at its first safety
/// violation and says so; the counterexample is then the same on every run, whereas a search
/// that explores on reports the last one it found before a time limit (which varied with the
/// machine's load: the grade snapshot of `stale-replies` on a vote-twice mutant did).
#[test]
fn depth_first_search_can_stop_at_its_first_violation() {
    let bounds = Bounds {
        commands: 0,
        lose_stale: true,
        ..Bounds::default()
    };
    let exploration = Exploration {
        first_violation: true,
        ..Exploration::default()
    };
    let first = check::<raft_mutants::vote_twice::Raft>(&bounds, &exploration);
    let text = render_report(&first, "127.0.0.1:3000");
    assert_eq!(first.stop, Some(Stop::AtFirstViolation), "{text}");
    assert!(!first.complete);
    assert!(
        text.contains("(depth-first search stopped at its first violation: verdicts cover the explored part only)"),
        "{text}"
    );
    assert!(
        first.unique < 100_000,
        "{} states: it explored on",
        first.unique
    );
    let again = check::<raft_mutants::vote_twice::Raft>(&bounds, &exploration);
    let path = |r: &Report<raft_mutants::vote_twice::Raft>| {
        r.verdicts
            .iter()
            .find(|v| v.name == "election safety")
            .and_then(|v| v.counterexample.clone())
            .expect("a counterexample")
            .into_actions()
    };
    assert_eq!(path(&first), path(&again));
}
