//! Raft's safety properties (Figure 3 of the paper), plus two reachability properties so that a
//! model that explores nothing cannot pass. A crashed server has no Raft state (only what it
//! persisted survives), but the ghost history (who led which term, what was applied) still counts.
//!
//! A panic of the Raft is a violation too ([`NO_PANIC`]): the model catches it where it happens
//! (see [`super::panics`]), and the path ends there. The properties that read the servers as they
//! are read them under [`super::panics::catch`] as well, so that no panic can stop a search.

use std::borrow::Cow;

use raft::contract::Role;
use stateright::{Model, Property};

use super::actor::Server;
use super::ghost::{Ghost, GhostEvent, Violation};
use super::node::RaftNode;
use super::panics;
use super::shared::Shared;
use super::state::RaftState as State;

/// The property names, as printed and as used to look up discoveries.
pub const NO_PANIC: &str = "the Raft does not panic";
pub const ELECTION_SAFETY: &str = "election safety";
pub const LOG_MATCHING: &str = "log matching";
pub const LEADER_COMPLETENESS: &str = "leader completeness";
pub const STATE_MACHINE_SAFETY: &str = "state machine safety";
pub const LEADER_APPEND_ONLY: &str = "leader append-only";
pub const RESTARTS: &str = "restart from persisted state";
pub const TERMS_NEVER_DECREASE: &str = "current term never decreases";
/// etcd's rule "a server never raises its term because of a pre-vote alone", short enough for the
/// report's property column.
pub const NO_TERM_FROM_PRE_VOTE: &str = "pre-votes never raise terms";
pub const LEADER_ELECTED: &str = "a leader is elected";
pub const COMMAND_COMMITS: &str = "a command commits";

/// Safety properties, in the order they are printed.
pub const SAFETY: [&str; 9] = [
    NO_PANIC,
    ELECTION_SAFETY,
    LOG_MATCHING,
    LEADER_COMPLETENESS,
    STATE_MACHINE_SAFETY,
    LEADER_APPEND_ONLY,
    RESTARTS,
    TERMS_NEVER_DECREASE,
    NO_TERM_FROM_PRE_VOTE,
];
/// Reachability properties.
pub const REACHABILITY: [&str; 2] = [LEADER_ELECTED, COMMAND_COMMITS];

/// Every property, as stateright checks them (on the Raft model, `M`).
pub(super) fn all<R: RaftNode, M: Model<State = State<R>>>() -> Vec<Property<M>> {
    vec![
        Property::always(NO_PANIC, |_, s| no_panic(s).is_none()),
        Property::always(ELECTION_SAFETY, |_, s| election_safety(s).is_none()),
        Property::always(LOG_MATCHING, |_, s| log_matching(s).is_none()),
        Property::always(LEADER_COMPLETENESS, |_, s| leader_completeness(s).is_none()),
        Property::always(STATE_MACHINE_SAFETY, |_, s| {
            state_machine_safety(s).is_none()
        }),
        Property::always(LEADER_APPEND_ONLY, |_, s| leader_append_only(s).is_none()),
        Property::always(RESTARTS, |_, s| restarts(s).is_none()),
        Property::always(TERMS_NEVER_DECREASE, |_, s| {
            terms_never_decrease(s).is_none()
        }),
        Property::always(NO_TERM_FROM_PRE_VOTE, |_, s| {
            no_term_from_pre_vote(s).is_none()
        }),
        Property::sometimes(LEADER_ELECTED, |_, s| {
            panics::catch(|| live::<R>(s).any(|(_, rf)| rf.state().1)).unwrap_or(false)
        }),
        Property::sometimes(COMMAND_COMMITS, |_, s: &State<R>| {
            !s.history.ghost.applied.is_empty()
        }),
    ]
}

// ----- Checked step by step: what a step did, judged and recorded in the ghost state. -----

/// If `old` led and `new` still leads the same term, every entry of `old`'s log that a snapshot
/// has not taken since must still be in `new`'s log, unchanged.
fn append_only_violation<R: RaftNode>(me: usize, old: &R, new: &R) -> Option<Violation> {
    let (term, true) = old.state() else {
        return None;
    };
    if new.state() != (term, true) {
        return None;
    }
    let (before, after) = (old.observe(), new.observe());
    // Entries that a snapshot took since are not the leader's to keep in its log.
    let from = after.snapshot_index.max(before.snapshot_index);
    fn kept<'a>(view: &raft::contract::Observation<'a>, from: u64) -> &'a [raft::messages::Entry] {
        let skip = (from - view.snapshot_index) as usize;
        view.entries.get(skip..).unwrap_or_default()
    }
    let (old_kept, new_kept) = (kept(&before, from), kept(&after, from));
    if new_kept.starts_with(old_kept) {
        return None;
    }
    let listed = |kept: &[raft::messages::Entry]| {
        (from + 1..)
            .zip(kept)
            .map(|(i, e)| (i, e.term, e.command.clone()))
            .collect::<Vec<_>>()
    };
    // The indices from the first that differs to the end of the longer log.
    let first = (from + 1..)
        .zip(old_kept.iter().zip(new_kept))
        .find(|(_, (a, b))| a != b)
        .map_or(
            from + 1 + old_kept.len().min(new_kept.len()) as u64,
            |(i, _)| i,
        );
    let last = from + old_kept.len().max(new_kept.len()) as u64;
    Some(Violation::new(
        format!(
            "server {me}, leader of term {term}, changed entries of its own log: \
             {:?} became {:?}",
            listed(old_kept),
            listed(new_kept)
        ),
        &[me],
        &(first..=last).collect::<Vec<_>>(),
    ))
}

/// Record a violation of `property` in `ghost`, unless one is recorded already.
fn violated(ghost: &mut Cow<Ghost>, property: &'static str, why: impl FnOnce() -> Violation) {
    if !ghost.violations.contains_key(property) {
        ghost.to_mut().violations.insert(property, why());
    }
}

/// Record in `ghost` what server `me` did in a step, from its state before and after it and the
/// events of the step. Reads first, and makes a new ghost state only when there is something new.
pub(super) fn record<R: RaftNode>(
    ghost: &mut Shared<Ghost>,
    me: usize,
    before: Option<&Server<R>>,
    after: &Server<R>,
    events: &[GhostEvent],
) {
    let mut edited = Cow::Borrowed(&**ghost);
    record_in(&mut edited, me, before, after, events);
    if let Cow::Owned(edited) = edited {
        *ghost = Shared::new(edited);
    }
}

fn record_in<R: RaftNode>(
    ghost: &mut Cow<Ghost>,
    me: usize,
    before: Option<&Server<R>>,
    after: &Server<R>,
    events: &[GhostEvent],
) {
    let term = after.raft.as_ref().map(|r| r.state().0);
    for event in events {
        match event {
            GhostEvent::Panicked { why } => {
                violated(ghost, NO_PANIC, || Violation::new(why, &[me], &[]))
            }
            GhostEvent::TimedOut => ghost.to_mut().timeouts += 1,
            GhostEvent::NotRestarted { why } => {
                violated(ghost, RESTARTS, || Violation::new(why, &[me], &[]))
            }
            GhostEvent::UnreadableSnapshot { why } => violated(ghost, STATE_MACHINE_SAFETY, || {
                Violation::new(why, &[me], &[])
            }),
            GhostEvent::Applied { index, command } => {
                let term = term.unwrap_or(0);
                match ghost.applied.get(index) {
                    Some((first, _)) if first != command => {
                        let first = first.clone();
                        violated(ghost, STATE_MACHINE_SAFETY, || {
                            Violation::new(
                                format!(
                                    "server {me} applied {command:?} at index {index}, \
                                     where {first:?} was applied before"
                                ),
                                &[me],
                                &[*index],
                            )
                        });
                    }
                    Some((_, lowest)) if *lowest <= term => {}
                    _ => {
                        ghost
                            .to_mut()
                            .applied
                            .insert(*index, (command.clone(), term));
                    }
                }
            }
        }
    }
    if let Some(raft) = &after.raft
        && let (term, true) = raft.state()
    {
        match ghost.leaders.get(&term) {
            Some(&other) if other != me => {
                violated(ghost, ELECTION_SAFETY, || {
                    Violation::new(
                        format!("servers {other} and {me} both led term {term}"),
                        &[other, me],
                        &[],
                    )
                });
            }
            Some(_) => {}
            None => {
                ghost.to_mut().leaders.insert(term, me);
            }
        }
    }
    if let Some(raft) = &after.raft {
        let mut campaigned = ghost.campaigned;
        let why = term_from_campaign(me, &**raft, &mut campaigned);
        if campaigned != ghost.campaigned {
            ghost.to_mut().campaigned = campaigned;
        }
        if let Some(why) = why {
            violated(ghost, NO_TERM_FROM_PRE_VOTE, || why);
        }
    }
    let Some(before) = before else {
        return;
    };
    if let (Some(old), Some(new)) = (before.term(), after.term())
        && new < old
    {
        let how = if before.raft.is_none() {
            "restarted"
        } else {
            "stepped"
        };
        violated(ghost, TERMS_NEVER_DECREASE, || {
            Violation::new(
                format!("server {me} {how} from term {old} into term {new}"),
                &[me],
                &[],
            )
        });
    }
    if let (Some(old), Some(new)) = (&before.raft, &after.raft)
        && let Some(why) = append_only_violation(me, &**old, &**new)
    {
        violated(ghost, LEADER_APPEND_ONLY, || why);
    }
}

// ----- Checked on each state. -----

/// The running servers' Raft states.
fn live<R: RaftNode>(s: &State<R>) -> impl Iterator<Item = (usize, &R)> {
    s.machines
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.crashed)
        .filter_map(|(i, m)| m.server.raft.as_deref().map(|r| (i, r)))
}

/// A violation of a property that the model checks step by step, as recorded in the ghost state.
fn stepwise<R: RaftNode>(s: &State<R>, property: &str) -> Option<Violation> {
    s.history.ghost.violations.get(property).cloned()
}

/// `check` (a property that reads the servers as they are), with a panic of the Raft while it
/// reads them counted as a violation. (The model reads every server right after each step, so a
/// Raft that panics when read is caught there first, as a violation of [`NO_PANIC`].)
fn reading(check: impl FnOnce() -> Option<Violation>) -> Option<Violation> {
    panics::catch(check).unwrap_or_else(|panic| {
        Some(Violation::new(
            format!("the Raft panicked while the checker read the servers' states: {panic}"),
            &[],
            &[],
        ))
    })
}

/// The Raft never panics: a server that panicked in a step (its message and place, and what the
/// server was doing) ends the path.
pub fn no_panic<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, NO_PANIC)
}

/// At most one leader per term, over the whole history (checked whenever a server leads).
pub fn election_safety<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, ELECTION_SAFETY)
}

/// If two logs have an entry with the same index and term, they are identical up to it.
pub fn log_matching<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    reading(|| log_matching_of(s))
}

fn log_matching_of<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    /// A server, its snapshot index, and (term, command) of each entry after it.
    type Log<'a> = (usize, u64, Vec<(u64, &'a [u8])>);
    let logs: Vec<Log> = live(s)
        .map(|(i, rf)| {
            let view = rf.observe();
            let entries = view
                .entries
                .iter()
                .map(|e| (e.term, e.command.as_slice()))
                .collect();
            (i, view.snapshot_index, entries)
        })
        .collect();
    for (a, (i, snap_a, log_a)) in logs.iter().enumerate() {
        for (j, snap_b, log_b) in &logs[a + 1..] {
            // Compare over the indices both still hold; entries inside a snapshot are committed.
            let first = snap_a.max(snap_b) + 1;
            let last = (snap_a + log_a.len() as u64).min(snap_b + log_b.len() as u64);
            fn at<'a>(snap: u64, log: &[(u64, &'a [u8])], k: u64) -> (u64, &'a [u8]) {
                log[(k - snap - 1) as usize]
            }
            // The highest index where the terms agree: everything from `first` up to it must match.
            if let Some(top) = (first..=last)
                .rev()
                .find(|&k| at(*snap_a, log_a, k).0 == at(*snap_b, log_b, k).0)
            {
                for k in first..=top {
                    if at(*snap_a, log_a, k) != at(*snap_b, log_b, k) {
                        return Some(Violation::new(
                            format!(
                                "servers {i} and {j} agree on the term at index {top} but differ \
                                 at index {k}"
                            ),
                            &[*i, *j],
                            &[k, top],
                        ));
                    }
                }
            }
        }
    }
    None
}

/// A leader holds every entry committed in an earlier term. An entry some server applied in its
/// term `t` was committed by term `t`, so every leader of a later term must hold it.
pub fn leader_completeness<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    reading(|| leader_completeness_of(s))
}

fn leader_completeness_of<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    for (l, rf) in live(s) {
        let (term, leads) = rf.state();
        if !leads {
            continue;
        }
        let view = rf.observe();
        for (&index, (command, applied_in)) in
            s.history.ghost.applied.range(view.snapshot_index + 1..)
        {
            if *applied_in >= term {
                continue;
            }
            let have = view.entries.get((index - view.snapshot_index - 1) as usize);
            if have.map(|e| &e.command) != Some(command) {
                return Some(Violation::new(
                    format!(
                        "server {l} leads term {term} but lacks {command:?} at index {index}, \
                         which a server applied in term {applied_in}"
                    ),
                    &[l],
                    &[index],
                ));
            }
        }
    }
    None
}

/// etcd's PreVote rule (lab 2E): a server never raises its term because of a pre-vote alone,
/// neither the pre-candidate asking nor a server answering. Terms come from elections: every term
/// a server holds is one some server campaigned in, as a candidate (or a leader). Checked after
/// every step; a Raft without pre-votes satisfies it too.
pub fn no_term_from_pre_vote<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, NO_TERM_FROM_PRE_VOTE)
}

/// After a step of server `me`: note the term it campaigns in, if it is a candidate or a leader,
/// in `campaigned` (the highest such term so far), and say why its term breaks
/// [`NO_TERM_FROM_PRE_VOTE`] if it is above every term campaigned in. (Campaigned terms have no
/// gaps: a candidate's term is one more than a term some server held.)
fn term_from_campaign<R: RaftNode>(me: usize, raft: &R, campaigned: &mut u64) -> Option<Violation> {
    let view = raft.observe();
    if matches!(view.role, Role::Candidate | Role::Leader) {
        *campaigned = (*campaigned).max(view.term);
    }
    (view.term > *campaigned).then(|| {
        Violation::new(
            format!(
                "server {me} ({:?}) is in term {}, but no server campaigned in a term above {}",
                view.role, view.term, *campaigned
            ),
            &[me],
            &[],
        )
    })
}

/// No two servers apply different commands at one index (checked at every apply).
pub fn state_machine_safety<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, STATE_MACHINE_SAFETY)
}

/// A leader never overwrites or deletes entries in its own log (checked around every step).
pub fn leader_append_only<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, LEADER_APPEND_ONLY)
}

/// Every server restarts from the bytes it persisted.
pub fn restarts<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, RESTARTS)
}

/// A server's current term never goes down, not even across a crash (Figure 2: it is persistent
/// and "increases monotonically"). Checked around every step; the ghost state relies on it to
/// forget who led terms that no server can lead again.
pub fn terms_never_decrease<R: RaftNode>(s: &State<R>) -> Option<Violation> {
    stepwise(s, TERMS_NEVER_DECREASE)
}

/// The first violated safety property and why, if any.
pub fn first_violation<R: RaftNode>(s: &State<R>) -> Option<(&'static str, Violation)> {
    no_panic(s)
        .map(|w| (NO_PANIC, w))
        .or_else(|| election_safety(s).map(|w| (ELECTION_SAFETY, w)))
        .or_else(|| log_matching(s).map(|w| (LOG_MATCHING, w)))
        .or_else(|| leader_completeness(s).map(|w| (LEADER_COMPLETENESS, w)))
        .or_else(|| state_machine_safety(s).map(|w| (STATE_MACHINE_SAFETY, w)))
        .or_else(|| leader_append_only(s).map(|w| (LEADER_APPEND_ONLY, w)))
        .or_else(|| restarts(s).map(|w| (RESTARTS, w)))
        .or_else(|| terms_never_decrease(s).map(|w| (TERMS_NEVER_DECREASE, w)))
        .or_else(|| no_term_from_pre_vote(s).map(|w| (NO_TERM_FROM_PRE_VOTE, w)))
}

/// Why `property` (one of [`SAFETY`]) is violated in `s`, if it is.
pub fn violation_of<R: RaftNode>(property: &str, s: &State<R>) -> Option<Violation> {
    match property {
        NO_PANIC => no_panic(s),
        ELECTION_SAFETY => election_safety(s),
        LOG_MATCHING => log_matching(s),
        LEADER_COMPLETENESS => leader_completeness(s),
        STATE_MACHINE_SAFETY => state_machine_safety(s),
        LEADER_APPEND_ONLY => leader_append_only(s),
        RESTARTS => restarts(s),
        TERMS_NEVER_DECREASE => terms_never_decrease(s),
        NO_TERM_FROM_PRE_VOTE => no_term_from_pre_vote(s),
        _ => None,
    }
}
