//! A counterexample as a step-through page (labkit's [`labkit::steps`] page, which a recorded lab
//! run's last events use too): per step the event (with a message's fields), every server's
//! role, term, vote, log (each entry's term and command), commit index, armed timers and what it
//! persisted, the messages in flight, and the violated property with the servers and log indices
//! involved.
//!
//! What a server persisted is shown decoded, not as bytes: the page restarts a Raft from the
//! bytes through the contract (`RaftContract::new`, the same restart a crash takes) and shows what
//! that Raft observes. A Raft that cannot restart from them, or panics doing so, says so there.

use std::path::{Path, PathBuf};

use labkit::steps::{self, Entry, Log, PersistedView, Problem, ServerView, Step, StepsPage};
use raft::contract::{Effects, Observation, Options, Persisted, Role};
use stateright::actor::ActorModelAction;

use super::action::RaftPath;
use super::actor::{ActorStep, ModelTimer, Msg};
use super::bounds::Bounds;
use super::ghost::Violation;
use super::node::RaftNode;
use super::panics;
use super::properties::first_violation;
use super::state::{Flight, Machine, RaftState};
use super::trace::{describe_action, describe_msg};

/// Where `checker check` writes its pages unless `--html` says: `target/counterexamples/`
/// (found from the checker binary's place), else the system's temporary directory.
pub fn pages_dir() -> PathBuf {
    steps::target_dir("counterexamples")
}

/// The default file for a counterexample of `property`: `<pages_dir>/<property>.html`, with
/// the property's name made safe (`election-safety.html`).
pub fn default_page_path(property: &str) -> PathBuf {
    pages_dir().join(format!("{}.html", steps::file_name(property)))
}

/// The page's data for a counterexample `path` of `property` (`violation` says why and what it
/// involves; if `None`, it is read from the path's last state). `notes` go under the title.
pub fn counterexample_page<R: RaftNode>(
    bounds: &Bounds,
    property: &str,
    path: &RaftPath<R>,
    violation: Option<&Violation>,
    notes: Vec<String>,
) -> StepsPage {
    let states = path.clone().into_vec();
    let mut page_steps = Vec::with_capacity(states.len());
    if let Some((init, _)) = states.first() {
        page_steps.push(Step {
            kind: "initial".into(),
            event: "initial state".into(),
            servers: servers(bounds, init),
            in_flight: in_flight(init),
            ..Step::default()
        });
    }
    for window in states.windows(2) {
        let (_, Some(action)) = &window[0] else {
            continue;
        };
        let (after, _) = &window[1];
        let (kind, server, fields) = event(&action.step);
        page_steps.push(Step {
            kind: kind.into(),
            event: describe_action(bounds, action),
            time: None,
            server,
            fields,
            servers: servers(bounds, after),
            in_flight: in_flight(after),
            in_flight_more: 0,
        });
    }
    let found;
    let violation = match violation {
        Some(v) => Some(v),
        None => {
            found = first_violation(path.last_state()).map(|(_, v)| v);
            found.as_ref()
        }
    };
    let problem = violation.map(|v| Problem {
        name: property.to_owned(),
        why: v.why.clone(),
        servers: v.servers.clone(),
        indices: v.indices.clone(),
        step: page_steps.len().saturating_sub(1),
    });
    StepsPage {
        title: format!("counterexample for \"{property}\""),
        notes,
        servers: (0..bounds.servers).map(|i| format!("s{i}")).collect(),
        problem,
        steps: page_steps,
    }
}

/// Write the page for `data` to `path`.
pub fn write_page(data: &StepsPage, path: &Path) -> std::io::Result<()> {
    steps::write(data, path)
}

/// A step's kind, the server it happens at, and a delivered message's fields.
fn event(step: &ActorStep) -> (&'static str, Option<usize>, Vec<(String, String)>) {
    match step {
        ActorModelAction::Deliver { src, dst, msg } => {
            let kind = match msg {
                Msg::Request(_) => "deliver",
                Msg::Reply { .. } => "reply",
            };
            let mut fields = vec![("from".into(), format!("s{}", usize::from(*src)))];
            fields.extend(message_fields(msg));
            (kind, Some(usize::from(*dst)), fields)
        }
        ActorModelAction::Drop(env) => (
            "loss",
            None,
            vec![("message".into(), describe_msg(&env.msg))],
        ),
        ActorModelAction::Timeout(id, timer) => {
            let kind = match timer {
                ModelTimer::Raft(_) => "timer",
                ModelTimer::Propose(_) => "client",
                ModelTimer::Snapshot => "snapshot",
            };
            (kind, Some(usize::from(*id)), Vec::new())
        }
        ActorModelAction::Crash(id) => ("crash", Some(usize::from(*id)), Vec::new()),
        ActorModelAction::Recover(id) => ("restart", Some(usize::from(*id)), Vec::new()),
        ActorModelAction::SelectRandom { actor, .. } => {
            ("choice", Some(usize::from(*actor)), Vec::new())
        }
    }
}

/// A message's fields by name (through its serde form), a reply's after its request's.
fn message_fields(msg: &Msg) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    match msg {
        Msg::Request(request) => {
            fields.push(("request".into(), request.method().to_owned()));
            push_fields(&mut fields, "", serde_json::to_value(&**request).ok());
        }
        Msg::Reply { request, reply } => {
            fields.push(("reply to".into(), request.method().to_owned()));
            push_fields(&mut fields, "", serde_json::to_value(reply).ok());
            push_fields(
                &mut fields,
                "request.",
                serde_json::to_value(&**request).ok(),
            );
        }
    }
    fields
}

/// The fields of an RPC's serde form (`{"Method": {field: value, ...}}`), each as `prefix` +
/// its name and a compact value.
fn push_fields(fields: &mut Vec<(String, String)>, prefix: &str, value: Option<serde_json::Value>) {
    let Some(serde_json::Value::Object(outer)) = value else {
        return;
    };
    for (_, inner) in outer {
        let serde_json::Value::Object(inner) = inner else {
            fields.push((format!("{prefix}value"), inner.to_string()));
            continue;
        };
        for (name, value) in inner {
            fields.push((format!("{prefix}{name}"), compact(&value)));
        }
    }
}

/// A field's value, compactly: entries as `t1 [1,1]`, long byte arrays by their size.
fn compact(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) if items.iter().all(Value::is_u64) && items.len() > 16 => {
            format!("({} bytes)", items.len())
        }
        Value::Array(items) => {
            let shown: Vec<String> = items
                .iter()
                .map(|item| match item {
                    Value::Object(entry)
                        if entry.contains_key("term") && entry.contains_key("command") =>
                    {
                        format!(
                            "t{} {}",
                            entry["term"],
                            compact(&entry["command"]).replace(' ', "")
                        )
                    }
                    other => compact(other),
                })
                .collect();
            format!("[{}]", shown.join(", "))
        }
        other => other.to_string(),
    }
}

/// Every server's state in `state`.
fn servers<R: RaftNode>(bounds: &Bounds, state: &RaftState<R>) -> Vec<ServerView> {
    state
        .machines
        .iter()
        .enumerate()
        .map(|(i, machine)| server_view(bounds, i, machine))
        .collect()
}

fn role(role: Role) -> &'static str {
    match role {
        Role::Follower => "follower",
        Role::PreCandidate => "pre-candidate",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

fn vote(voted_for: Option<usize>) -> String {
    voted_for.map_or_else(|| "none".to_owned(), |v| format!("s{v}"))
}

fn log_of(view: &Observation<'_>) -> Log {
    Log {
        snapshot_index: view.snapshot_index,
        snapshot_term: view.snapshot_term,
        entries: (view.snapshot_index + 1..)
            .zip(view.entries)
            .map(|(index, e)| Entry {
                index,
                term: e.term,
                command: steps::describe_command(&e.command),
            })
            .collect(),
        runs: Vec::new(),
    }
}

/// Server `i`'s state: its Raft as it observes itself (nothing if it is down), its armed Raft
/// timers, and what it persisted, decoded.
fn server_view<R: RaftNode>(bounds: &Bounds, i: usize, machine: &Machine<R>) -> ServerView {
    let server = &machine.server;
    let mut view = ServerView {
        up: !machine.crashed && server.raft.is_some(),
        timers: Some(
            machine
                .timers
                .iter()
                .filter_map(|t| match t {
                    ModelTimer::Raft(t) => Some(format!("{t:?}")),
                    _ => None,
                })
                .collect(),
        ),
        persisted: Some(persisted::<R>(bounds, i, &server.state, &server.snapshot)),
        ..ServerView::default()
    };
    match &server.raft {
        Some(raft) => {
            let read = panics::catch(|| {
                let o = raft.observe();
                (
                    role(o.role),
                    o.term,
                    vote(o.voted_for),
                    o.commit_index,
                    log_of(&o),
                )
            });
            match read {
                Ok((r, term, voted_for, commit, log)) => {
                    view.role = Some(r.into());
                    view.term = Some(term);
                    view.voted_for = Some(voted_for);
                    view.commit = Some(commit);
                    view.log = Some(log);
                }
                Err(panic) => view.note = Some(format!("the Raft panicked when read: {panic}")),
            }
        }
        None if machine.crashed => {
            view.note = Some(format!(
                "crashed in term {}",
                server.crashed_in_term.unwrap_or(0)
            ));
            view.timers = None;
        }
        None => {
            view.note = Some("did not start (see the violation)".into());
            view.timers = None;
        }
    }
    view
}

/// What server `me` persisted (`state` and `snapshot` bytes), decoded by restarting a Raft from
/// it through the contract and observing that Raft.
fn persisted<R: RaftNode>(
    bounds: &Bounds,
    me: usize,
    state: &[u8],
    snapshot: &[u8],
) -> PersistedView {
    let mut view = PersistedView {
        bytes: state.len(),
        snapshot_bytes: snapshot.len(),
        ..PersistedView::default()
    };
    if state.is_empty() && snapshot.is_empty() {
        view.text = Some("nothing persisted yet".into());
        return view;
    }
    let peers: Vec<usize> = (0..bounds.servers).collect();
    let saved = Persisted {
        state: state.to_vec(),
        snapshot: snapshot.to_vec(),
    };
    let restarted = panics::catch(|| {
        let options = Options {
            prevote_and_check_quorum: bounds.prevote,
        };
        R::new(me, &peers, &saved, options, &mut Effects::default()).map(|raft| {
            let o = raft.observe();
            (o.term, vote(o.voted_for), log_of(&o))
        })
    });
    match restarted {
        Ok(Ok((term, voted_for, log))) => {
            view.term = Some(term);
            view.voted_for = Some(voted_for);
            view.log = Some(log);
        }
        Ok(Err(e)) => view.text = Some(format!("cannot restart from these bytes: {e}")),
        Err(panic) => view.text = Some(format!("restarting from these bytes panics: {panic}")),
    }
    view
}

/// The messages in flight in `state`, in words (`(x2)` for two copies).
fn in_flight<R: RaftNode>(state: &RaftState<R>) -> Vec<String> {
    let line = |src, dst, msg: &Msg, copies: usize| {
        let copies = if copies > 1 {
            format!(" (x{copies})")
        } else {
            String::new()
        };
        format!(
            "s{} -> s{}  {}{copies}",
            usize::from(src),
            usize::from(dst),
            describe_msg(msg)
        )
    };
    match &*state.network {
        Flight::Unordered(messages) => messages
            .iter()
            .map(|(e, n)| line(e.src, e.dst, &e.msg, *n))
            .collect(),
        Flight::Duplicating(messages, _) => messages
            .iter()
            .map(|e| line(e.src, e.dst, &e.msg, 1))
            .collect(),
        Flight::Ordered(channels) => channels
            .iter()
            .flat_map(|(&(src, dst), queue)| queue.iter().map(move |m| line(src, dst, m, 1)))
            .collect(),
    }
}
