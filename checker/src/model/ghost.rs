//! The model's ghost state: what the properties need of the whole history (who led which term,
//! what was applied, violations seen along the way), kept beside the servers. Raft never sees it
//! and crashes do not erase it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use raft::contract::Command;

use super::actor::Server;
use super::node::RaftNode;
use super::properties;
use super::shared::Shared;
/// Verification-only state of the whole cluster, kept by the model beside the servers (in the
/// model's history): Raft never sees it, and crashes do not erase it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// The server that led each term, for the terms some server may still lead: a server's term
    /// never goes down (the "current term never decreases" property checks it), so terms below
    /// every server's current term are forgotten. Forgetting keeps states that differ only in who
    /// led a long-gone term from multiplying.
    pub leaders: BTreeMap<u64, usize>,
    /// Every index a server applied: the command, and the lowest term any server was in when it
    /// applied it (an upper bound on the term in which the entry was committed).
    pub applied: BTreeMap<u64, (Command, u64)>,
    /// The first violation of each property that is checked step by step (all but log
    /// matching and leader completeness, which look at the servers as they are), and why.
    pub violations: BTreeMap<&'static str, String>,
}

/// What a server's step did that the model's ghost state records (the model moves these into
/// [`Ghost`] right after the step, so no state keeps any).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GhostEvent {
    /// The server applied `command` at `index` (one event per command of an applied snapshot).
    Applied { index: u64, command: Command },
    /// The step broke a property that only the server can see break.
    Violation { property: &'static str, why: String },
}

/// If `old` led and `new` still leads the same term, every entry of `old`'s log that a snapshot
/// has not taken since must still be in `new`'s log, unchanged.
fn append_only_violation<R: RaftNode>(me: usize, old: &R, new: &R) -> Option<String> {
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
    Some(format!(
        "server {me}, leader of term {term}, changed entries of its own log: \
         {:?} became {:?}",
        listed(old_kept),
        listed(new_kept)
    ))
}

/// Record a violation of `property` in `ghost`, unless one is recorded already.
fn violated(ghost: &mut Cow<Ghost>, property: &'static str, why: impl FnOnce() -> String) {
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
            GhostEvent::Violation { property, why } => {
                violated(ghost, property, || why.clone());
            }
            GhostEvent::Applied { index, command } => {
                let term = term.unwrap_or(0);
                match ghost.applied.get(index) {
                    Some((first, _)) if first != command => {
                        let first = first.clone();
                        violated(ghost, properties::STATE_MACHINE_SAFETY, || {
                            format!(
                                "server {me} applied {command:?} at index {index}, \
                                 where {first:?} was applied before"
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
                violated(ghost, properties::ELECTION_SAFETY, || {
                    format!("servers {other} and {me} both led term {term}")
                });
            }
            Some(_) => {}
            None => {
                ghost.to_mut().leaders.insert(term, me);
            }
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
        violated(ghost, properties::TERMS_NEVER_DECREASE, || {
            format!("server {me} {how} from term {old} into term {new}")
        });
    }
    if let (Some(old), Some(new)) = (&before.raft, &after.raft)
        && let Some(why) = append_only_violation(me, &**old, &**new)
    {
        violated(ghost, properties::LEADER_APPEND_ONLY, || why);
    }
}
