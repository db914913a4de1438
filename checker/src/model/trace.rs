//! A path of the model as a readable message trace: each step in words, then every server's
//! role, term, vote, log (each entry's term) and commit index.

use std::fmt::Write as _;

use stateright::actor::{ActorModelAction, Id};

use super::action::RaftAction;
use super::action::RaftPath;
use super::actor::{ActorStep, ModelTimer, Msg};
use super::bounds::Bounds;
use super::node::RaftNode;
use super::panics;
use super::properties::first_violation;
use super::state::RaftState;
fn node(id: Id) -> String {
    format!("s{}", usize::from(id))
}

/// One step of a path, in words: the step, then what the network lost because of it.
pub fn describe_action<R: RaftNode>(bounds: &Bounds, action: &RaftAction<R>) -> String {
    let mut out = describe_step(bounds, &action.step);
    if !action.lost().is_empty() {
        let lost: Vec<String> = action
            .lost()
            .iter()
            .map(|env| {
                format!(
                    "{} -> {}  {}",
                    node(env.src),
                    node(env.dst),
                    describe_msg(&env.msg)
                )
            })
            .collect();
        let _ = write!(out, "; network loses {}", lost.join(", "));
    }
    out
}

/// One actor-model step, in words.
pub fn describe_step(bounds: &Bounds, step: &ActorStep) -> String {
    let _ = bounds;
    let who = node;
    match step {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("{} -> {}  {}", who(*src), who(*dst), describe_msg(msg))
        }
        ActorModelAction::Drop(env) => format!(
            "network drops {} -> {}  {}",
            who(env.src),
            who(env.dst),
            describe_msg(&env.msg)
        ),
        ActorModelAction::Timeout(id, timer) => match timer {
            ModelTimer::Raft(t) => format!("{}: {t:?} timer fires", node(*id)),
            ModelTimer::Propose(k) => format!("{}: client offers command {k}", node(*id)),
            ModelTimer::Snapshot => format!("{}: service takes a snapshot", node(*id)),
        },
        ActorModelAction::Crash(id) => format!("{} crashes", node(*id)),
        ActorModelAction::Recover(id) => {
            format!("{} restarts from its persisted state", node(*id))
        }
        ActorModelAction::SelectRandom { actor, key, .. } => {
            format!("{} chooses {key}", node(*actor))
        }
    }
}

/// A message, compactly.
pub fn describe_msg(msg: &Msg) -> String {
    match msg {
        Msg::Request(request) => format!("{request:?}"),
        Msg::Reply { request, reply } => {
            format!(
                "{reply:?} (to {})",
                request.method().trim_start_matches("Raft.")
            )
        }
    }
}

/// A log as the terms of its entries, `[1,1,2]`, after the snapshot if there is one:
/// `snap@3+[2,2]` holds entries 1 to 3 in its snapshot and entries 4 and 5 of term 2.
pub fn describe_log(view: &raft::contract::Observation<'_>) -> String {
    let terms: Vec<String> = view.entries.iter().map(|e| e.term.to_string()).collect();
    let terms = format!("[{}]", terms.join(","));
    if view.snapshot_index == 0 {
        terms
    } else {
        format!("snap@{}+{terms}", view.snapshot_index)
    }
}

/// Every server's role, term, vote, log (the terms of its entries) and commit index after a
/// step: `s0 F2 vote=s1 log=[1,2] commit=1  s1 L2 ...`, and `s2 down (crashed in term 2)` for a
/// crashed server.
pub fn describe_servers<R: RaftNode>(state: &RaftState<R>) -> String {
    state
        .machines
        .iter()
        .enumerate()
        .map(|(i, machine)| {
            let srv = &machine.server;
            let crashed = if machine.crashed { "*" } else { "" };
            match &srv.raft {
                None if crashed == "*" => format!(
                    "s{i} down (crashed in term {})",
                    srv.crashed_in_term.unwrap_or(0)
                ),
                Some(rf) => panics::catch(|| {
                    let view = rf.observe();
                    let role = match view.role {
                        raft::contract::Role::Follower => "F",
                        raft::contract::Role::Candidate => "C",
                        raft::contract::Role::Leader => "L",
                        raft::contract::Role::PreCandidate => "P",
                    };
                    let vote = view
                        .voted_for
                        .map_or_else(|| "-".to_owned(), |v| format!("s{v}"));
                    format!(
                        "s{i} {role}{} vote={vote} log={} commit={}{crashed}",
                        view.term,
                        describe_log(&view),
                        view.commit_index
                    )
                })
                .unwrap_or_else(|panic| format!("s{i} (the Raft panicked when read: {panic})")),
                None => format!("s{i} (did not start){crashed}"),
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// A counterexample as numbered steps, then the violation it ends in.
pub fn render_path<R: RaftNode>(bounds: &Bounds, path: &RaftPath<R>) -> String {
    let mut out = render_steps(bounds, path);
    if let Some((property, why)) = first_violation(path.last_state()) {
        let _ = writeln!(out, "violated: {property}: {why}");
    }
    out
}

/// A path as numbered steps, each followed by every server's role, term, vote, log (each
/// entry's term) and commit index.
pub fn render_steps<R: RaftNode>(bounds: &Bounds, path: &RaftPath<R>) -> String {
    let steps = path.clone().into_vec();
    let mut out = String::new();
    if let Some((init, _)) = steps.first() {
        let _ = writeln!(
            out,
            "   0. initial state          [{}]",
            describe_servers(init)
        );
    }
    for (k, window) in steps.windows(2).enumerate() {
        let (_, Some(action)) = &window[0] else {
            continue;
        };
        let (after, _) = &window[1];
        let _ = writeln!(out, "{:>4}. {}", k + 1, describe_action(bounds, action));
        let _ = writeln!(out, "        [{}]", describe_servers(after));
    }
    out
}
