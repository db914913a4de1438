//! The step-through page: one self-contained HTML file (inline CSS and JS, the data as JSON in the
//! page, no network fetches) that walks through a run one step at a time, showing each server's
//! state as a table (one column per server) with what changed since the previous step marked,
//! the messages in flight, and the problem the run ends in.
//!
//! Two sources draw it, so that students learn one picture:
//! - the model checker's counterexamples (`checker check` writes one per violated property, see
//!   `checker::model::page`), where every field is known: role, term, vote, the log with each
//!   entry's term and command, the commit index, and what the server persisted, decoded by
//!   restarting a Raft from those bytes;
//! - a recorded lab run ([`from_recording`]): its last events, with what the recorder keeps of each
//!   server (role, term, vote, commit index, the log's entry terms, snapshot index; commands are
//!   not recorded, and a long log shows as runs of one term, `1..40:t1 ×40`) and what it
//!   persisted, decoded through the driver's restart (the bytes of the latest persists are kept,
//!   and decoded only for the steps shown; where they are not known the page says so).
//!
//! The data is a [`StepsPage`]; [`render`] turns it into the page. Steps are chosen with the
//! Previous/Next buttons, the arrow keys, or a click in the step list; `#step=N` in the URL opens
//! step `N`. The page opens on the last step (where the problem is).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use std::rc::Rc;

use crate::recorder::{LogTerms, Recording, ServerState, What, role_name};

/// A step-through page's data.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepsPage {
    /// The page's heading.
    pub title: String,
    /// Lines under the heading (the bounds, how the path was found, commands that replay it).
    pub notes: Vec<String>,
    /// The servers' names, one column each.
    pub servers: Vec<String>,
    /// The problem the path ends in, if any.
    pub problem: Option<Problem>,
    /// The steps, the first being the initial state (or the first state shown).
    pub steps: Vec<Step>,
}

/// What went wrong: a violated property (or a failed check), and what it involves.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Problem {
    /// The property's (or check's) name.
    pub name: String,
    /// Why, in words.
    pub why: String,
    /// The servers involved (indices into [`StepsPage::servers`]).
    pub servers: Vec<usize>,
    /// The log indices involved.
    pub indices: Vec<u64>,
    /// The step at which it shows (an index into [`StepsPage::steps`]).
    pub step: usize,
}

/// One step: what happened, then every server's state and the messages in flight after it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Step {
    /// What kind of event: `initial`, `timer`, `deliver`, `reply`, `loss`, `crash`, `restart`,
    /// `client`, `snapshot`, `action`, `check`, `fail`.
    pub kind: String,
    /// The event in words.
    pub event: String,
    /// When it happened (virtual time), for a recorded run.
    pub time: Option<String>,
    /// The server the event happened at, if one.
    pub server: Option<usize>,
    /// A delivered message's fields, `(name, value)`.
    pub fields: Vec<(String, String)>,
    /// Every server's state after the step, in [`StepsPage::servers`]' order.
    pub servers: Vec<ServerView>,
    /// The messages in flight after the step, in words (at most [`MAX_IN_FLIGHT_SHOWN`] for a
    /// recorded run) ...
    pub in_flight: Vec<String>,
    /// ... and how many more are in flight but not listed.
    pub in_flight_more: usize,
}

/// One server's state. `None` in a field means "not known here" (shown as such): a crashed server
/// has no role; a recorded lab run may not have kept a long log's terms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServerView {
    /// Running (false: crashed, or not started).
    pub up: bool,
    /// A remark shown first: `crashed in term 2`, `the Raft panicked when read: ...`.
    pub note: Option<String>,
    pub role: Option<String>,
    pub term: Option<u64>,
    /// `s1`, or `none`.
    pub voted_for: Option<String>,
    pub commit: Option<u64>,
    /// The log (entries after the snapshot), if known.
    pub log: Option<Log>,
    /// The last log index, when the entries themselves are not known.
    pub last_index: Option<u64>,
    /// The timers armed.
    pub timers: Option<Vec<String>>,
    /// What the server persisted, decoded, if known.
    pub persisted: Option<PersistedView>,
}

/// A log: its snapshot (index and term, 0 when none) and the entries after it, one by one or,
/// for a long recorded log, as runs of equal terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Log {
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    pub entries: Vec<Entry>,
    /// Runs of entries of one term, `[first index, last index, term]` (instead of `entries`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<[u64; 3]>,
}

/// A recorded log with at most this many entries shows them one by one, a longer one as runs.
pub const ENTRIES_SHOWN: u64 = 16;

impl Log {
    /// A recorded log's shape (the commands are not recorded); `None` if its terms were not kept.
    pub fn of_terms(log: &LogTerms) -> Option<Log> {
        if !log.kept {
            return None;
        }
        let mut out = Log {
            snapshot_index: log.snapshot_index,
            snapshot_term: log.snapshot_term,
            ..Log::default()
        };
        let mut index = log.snapshot_index + 1;
        for &(term, count) in &log.runs {
            if log.len <= ENTRIES_SHOWN {
                out.entries
                    .extend((index..index + count).map(|index| Entry {
                        index,
                        term,
                        command: String::new(),
                    }));
            } else {
                out.runs.push([index, index + count - 1, term]);
            }
            index += count;
        }
        Some(out)
    }
}

/// One log entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    /// The command, compactly.
    pub command: String,
}

/// What a server persisted: `text` says why nothing else is shown (nothing persisted yet, the
/// bytes could not be restarted from), else the decoded term, vote and log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PersistedView {
    /// How many bytes of state and of snapshot.
    pub bytes: usize,
    pub snapshot_bytes: usize,
    pub text: Option<String>,
    pub term: Option<u64>,
    pub voted_for: Option<String>,
    pub log: Option<Log>,
}

/// A command's bytes, compactly: `[1,2]` up to 8 bytes, else its size.
pub fn describe_command(command: &[u8]) -> String {
    if command.len() <= 8 {
        let bytes: Vec<String> = command.iter().map(u8::to_string).collect();
        format!("[{}]", bytes.join(","))
    } else {
        format!("({} bytes)", command.len())
    }
}

/// The page for `data`.
pub fn render(data: &StepsPage) -> String {
    // Inside a <script> element only `</` could end it early; `<\/` means the same in JSON.
    let json = serde_json::to_string(data)
        .unwrap_or_else(|_| "{}".to_string())
        .replace("</", "<\\/");
    let (head, tail) = TEMPLATE.split_once("/*DATA*/").unwrap_or((TEMPLATE, ""));
    let mut page = String::with_capacity(json.len() + TEMPLATE.len() + 256);
    page.push_str(&head.replace("TITLE", &escape_html(&data.title)));
    page.push_str(&json);
    page.push_str(tail);
    page
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Write the page for `data` to `path` (creating its folder).
pub fn write(data: &StepsPage, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(data))
}

/// `name` made safe as a file name: letters, digits, `-` and `_` kept, anything else `-`.
pub fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The `target/<folder>` of the running binary (`target/<profile>/<binary>` or
/// `target/<profile>/deps/<test binary>`), else `<temporary directory>/raftlab-<folder>`.
pub fn target_dir(folder: &str) -> PathBuf {
    let exe = std::env::current_exe().ok();
    let mut dir = exe.as_deref().and_then(Path::parent);
    for _ in 0..3 {
        let Some(d) = dir else { break };
        if d.file_name().is_some_and(|n| n == "target") || d.join("CACHEDIR.TAG").exists() {
            return d.join(folder);
        }
        dir = d.parent();
    }
    std::env::temp_dir().join(format!("raftlab-{folder}"))
}

const TEMPLATE: &str = include_str!("steps.html");

/// How many of a recorded run's last events its step-through page shows.
pub const RECORDED_STEPS: usize = 150;

/// At most this many messages in flight are listed per step of a recorded run.
pub const MAX_IN_FLIGHT_SHOWN: usize = 25;

/// The step-through page written beside a run's timeline page `picture`: `NAME-steps.html`.
pub fn steps_path(picture: &Path) -> PathBuf {
    let stem = picture
        .file_stem()
        .map_or_else(|| "run".into(), |s| s.to_string_lossy().into_owned());
    picture.with_file_name(format!("{stem}-steps.html"))
}

fn sec(us: u64) -> String {
    format!("{:.3}s", us as f64 / 1e6)
}

/// The last `last` events of a recorded lab run as a step-through page: each delivery, loss,
/// timer, crash, restart, test action, client operation and check is a step; after each, every
/// server's role, term, commit index and last log index as the recorder last saw them (at or
/// before the step's virtual time) with its vote and log terms, what it last persisted (decoded
/// by the recording's restarter; a refusal or panic is shown), and the messages in flight.
/// `failure` (the failing check) is the problem, at the last step.
pub fn from_recording(
    rec: &Recording,
    title: &str,
    failure: Option<&str>,
    last: usize,
) -> StepsPage {
    // The servers: lanes named `s<N>`.
    let mut servers: BTreeMap<u32, usize> = BTreeMap::new();
    let mut names = Vec::new();
    let mut ids: Vec<(usize, u32)> = rec
        .lanes
        .iter()
        .enumerate()
        .filter_map(|(lane, name)| {
            let id = name.strip_prefix('s')?.parse::<usize>().ok()?;
            Some((id, lane as u32))
        })
        .collect();
    ids.sort_unstable();
    for (id, lane) in ids {
        servers.insert(lane, names.len());
        names.push(format!("s{id}"));
    }
    let lane_name = |lane: u32| {
        rec.lanes
            .get(lane as usize)
            .cloned()
            .unwrap_or_else(|| format!("lane {lane}"))
    };
    let name_of = |m: u32| rec.names.get(m as usize).map_or("", String::as_str);
    // Every event that becomes a step, with its time and the order it was recorded in; and the
    // state updates, applied as time passes.
    struct Pending {
        t: u64,
        order: usize,
        kind: &'static str,
        event: String,
        server: Option<usize>,
        fields: Vec<(String, String)>,
    }
    let mut pending = Vec::new();
    let mut updates: Vec<(u64, usize, usize, Update)> = Vec::new();
    // Messages: (sent, ended, text).
    let mut flights: Vec<(u64, u64, String)> = Vec::new();
    for (order, event) in rec.events.iter().enumerate() {
        let t = event.t;
        let mut step = |t: u64, kind: &'static str, event: String, server: Option<usize>| {
            pending.push(Pending {
                t,
                order,
                kind,
                event,
                server,
                fields: Vec::new(),
            });
        };
        match &event.what {
            What::Msg {
                from,
                to,
                m,
                b,
                delivered,
                ended,
                why,
                args,
            } => {
                let what = format!(
                    "{} -> {}  {}",
                    lane_name(*from),
                    lane_name(*to),
                    name_of(*m)
                );
                let fields = rec.describe(*m, *b, args);
                flights.push((t, ended.unwrap_or(u64::MAX), format!("{what} {fields}")));
                if let Some(at) = delivered {
                    pending.push(Pending {
                        t: *at,
                        order,
                        kind: "deliver",
                        event: format!("{what} delivered"),
                        server: servers.get(to).copied(),
                        fields: vec![("request".into(), fields.clone())],
                    });
                }
                if let Some(at) = ended.filter(|_| !why.is_empty()) {
                    pending.push(Pending {
                        t: at,
                        order,
                        kind: "loss",
                        event: format!("{what}: {why}"),
                        server: servers.get(from).copied(),
                        fields: vec![("request".into(), fields)],
                    });
                }
            }
            What::Link { .. } | What::Apply { .. } => {}
            What::Timer { lane, name } => step(
                t,
                "timer",
                format!("{}: {} timer fires", lane_name(*lane), name_of(*name)),
                servers.get(lane).copied(),
            ),
            What::State { lane, state, log } => {
                if let Some(&i) = servers.get(lane) {
                    updates.push((
                        t,
                        order,
                        i,
                        Update::State {
                            state: *state,
                            log: log.clone(),
                        },
                    ));
                }
            }
            What::Crash { lane } => {
                if let Some(&i) = servers.get(lane) {
                    updates.push((t, order, i, Update::Up(false)));
                }
                step(
                    t,
                    "crash",
                    format!("{} crashes", lane_name(*lane)),
                    servers.get(lane).copied(),
                );
            }
            What::Start { lane } => {
                if let Some(&i) = servers.get(lane) {
                    updates.push((t, order, i, Update::Up(true)));
                }
                step(
                    t,
                    "restart",
                    format!("{} starts", lane_name(*lane)),
                    servers.get(lane).copied(),
                );
            }
            What::Action { lane, text } => step(
                t,
                "action",
                format!("test: {text}"),
                lane.and_then(|l| servers.get(&l).copied()),
            ),
            What::Client { lane, ret, text } => step(
                t,
                "client",
                format!(
                    "{} {} {text}",
                    lane_name(*lane),
                    if *ret { "returns" } else { "calls" }
                ),
                None,
            ),
            What::Check { text } => step(t, "check", format!("check passed: {text}"), None),
            What::Fail { text } => step(t, "fail", format!("FAILED: {text}"), None),
        }
    }
    for (k, p) in rec.persists.iter().enumerate() {
        if let Some(&i) = servers.get(&p.lane) {
            updates.push((p.t, p.seq as usize, i, Update::Persist(k)));
        }
    }
    pending.sort_by_key(|p| (p.t, p.order));
    updates.sort_by_key(|u| (u.0, u.1));
    // What each server persisted: the index of its latest persist so far in `rec.persists`, and
    // whether the view shows it yet (persists are decoded only for the steps shown).
    let lanes_of: Vec<u32> = {
        let mut by_server = vec![0; names.len()];
        for (&lane, &i) in &servers {
            by_server[i] = lane;
        }
        by_server
    };
    let mut persisted_at: Vec<Option<usize>> = vec![None; names.len()];
    let mut persisted_shown: Vec<bool> = vec![false; names.len()];
    let skip = pending.len().saturating_sub(last);
    let mut views: Vec<ServerView> = names
        .iter()
        .map(|_| ServerView {
            up: false,
            note: Some("not started".into()),
            ..ServerView::default()
        })
        .collect();
    for (i, view) in views.iter_mut().enumerate() {
        let lane = lanes_of[i];
        view.persisted = rec.restarters.contains_key(&lane).then(|| PersistedView {
            text: Some(if rec.persists_cut.contains(&lane) {
                "not known here: older persists were not kept".to_owned()
            } else {
                "nothing persisted yet".to_owned()
            }),
            ..PersistedView::default()
        });
    }
    let mut next_update = 0;
    let mut steps = Vec::new();
    for (k, p) in pending.into_iter().enumerate() {
        // The servers as of the end of this virtual instant.
        while let Some((t, _, i, update)) = updates.get(next_update)
            && *t <= p.t
        {
            let view = &mut views[*i];
            match update {
                Update::Up(up) => {
                    view.up = *up;
                    view.note = (!*up).then(|| "crashed".to_owned());
                    if !*up {
                        view.role = None;
                    }
                }
                Update::State { state, log } => {
                    let snap = state.snap;
                    view.up = true;
                    view.note = (snap > 0).then(|| format!("snapshot up to index {snap}"));
                    view.role = Some(role_name(state.role).to_owned());
                    view.term = Some(state.term);
                    view.voted_for = Some(vote_name(state.vote));
                    view.commit = Some(state.commit);
                    view.last_index = Some(state.last);
                    if let Some(log) = log {
                        view.log = Log::of_terms(log);
                    }
                }
                Update::Persist(k) => {
                    persisted_at[*i] = Some(*k);
                    persisted_shown[*i] = false;
                }
            }
            next_update += 1;
        }
        if k < skip {
            continue;
        }
        for (i, view) in views.iter_mut().enumerate() {
            if let Some(at) = persisted_at[i].filter(|_| !persisted_shown[i]) {
                persisted_shown[i] = true;
                view.persisted = Some(restarted(rec, &rec.persists[at], &names[i]));
            }
        }
        let mut in_flight: Vec<String> = flights
            .iter()
            .filter(|(sent, ended, _)| *sent <= p.t && *ended > p.t)
            .map(|(sent, _, text)| format!("{text} (sent at {})", sec(*sent)))
            .collect();
        let in_flight_more = in_flight.len().saturating_sub(MAX_IN_FLIGHT_SHOWN);
        in_flight.truncate(MAX_IN_FLIGHT_SHOWN);
        steps.push(Step {
            kind: p.kind.to_owned(),
            event: p.event,
            time: Some(sec(p.t)),
            server: p.server,
            fields: p.fields,
            servers: views.clone(),
            in_flight,
            in_flight_more,
        });
    }
    let mut notes = vec![format!(
        "the last {} of {} events of the run; each server's state as recorded after its last \
         handler (log entries by term: commands are not recorded); persisted state decoded by \
         restarting a Raft from the bytes",
        steps.len(),
        steps.len() + skip
    )];
    if rec.dropped > 0 {
        notes.push(format!(
            "{} older events were dropped by the recorder",
            rec.dropped
        ));
    }
    let problem = failure.map(|why| Problem {
        name: "failed check".into(),
        why: why.to_owned(),
        servers: Vec::new(),
        indices: Vec::new(),
        step: steps.len().saturating_sub(1),
    });
    StepsPage {
        title: title.to_owned(),
        notes,
        servers: names,
        problem,
        steps,
    }
}

enum Update {
    Up(bool),
    State {
        state: ServerState,
        log: Option<Rc<LogTerms>>,
    },
    /// The server persisted `rec.persists[k]`.
    Persist(usize),
}

fn vote_name(vote: Option<usize>) -> String {
    vote.map_or_else(|| "none".to_owned(), |v| format!("s{v}"))
}

/// What `persist` holds, decoded by restarting server `name` from it with the driver's
/// restarter; a refusal or a panic is shown, never propagated.
fn restarted(rec: &Recording, persist: &crate::recorder::Persist, name: &str) -> PersistedView {
    let mut view = PersistedView {
        bytes: persist.state.len(),
        snapshot_bytes: persist.snapshot.len(),
        ..PersistedView::default()
    };
    let Some((restart, peers)) = rec.restarters.get(&persist.lane) else {
        view.text = Some("not decoded: no restarter".into());
        return view;
    };
    let me = name
        .strip_prefix('s')
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        restart(me, peers, &persist.state, &persist.snapshot)
    }));
    match caught {
        Ok(Ok(r)) => {
            view.term = Some(r.term);
            view.voted_for = Some(vote_name(r.voted_for));
            view.log = Log::of_terms(&r.log);
        }
        Ok(Err(e)) => view.text = Some(format!("cannot restart from these bytes: {e}")),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned());
            view.text = Some(format!("restarting from these bytes panics: {why}"));
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{Recorder, Restarted};
    use std::time::Duration;

    /// A toy restarter: the state is `[term, vote + 1 (0: none), entry terms...]`; a state of
    /// one byte is refused, and `[255]` panics.
    fn restart(_: usize, _: &[usize], state: &[u8], _: &[u8]) -> Result<Restarted, String> {
        match state {
            [255] => panic!("restart exploded"),
            [term, vote, terms @ ..] => Ok(Restarted {
                term: u64::from(*term),
                voted_for: vote.checked_sub(1).map(usize::from),
                log: LogTerms::new(0, 0, terms.iter().map(|&t| u64::from(t))),
            }),
            _ => Err("CorruptState: too short".into()),
        }
    }

    fn sample() -> Recording {
        let rec = Recorder::default();
        let (s0, s1) = (rec.server_lane(0), rec.server_lane(1));
        rec.set_restarter(s0, restart, vec![0, 1]);
        rec.set_restarter(s1, restart, vec![0, 1]);
        rec.start(s0);
        rec.start(s1);
        rec.timer(s0, "Election");
        rec.state(
            s0,
            ServerState {
                term: 1,
                role: 1,
                ..ServerState::default()
            },
            None,
        );
        rec.persisted(s0, Rc::from(vec![1, 1]), Rc::from(vec![]));
        let a = rec.send(s0, s1, "Raft.RequestVote", 30).unwrap();
        rec.deliver(a);
        let log = |terms: &[u64]| Some(Rc::new(LogTerms::new(0, 0, terms.iter().copied())));
        rec.state(
            s1,
            ServerState {
                term: 1,
                vote: Some(0),
                ..ServerState::default()
            },
            log(&[]),
        );
        rec.persisted(s1, Rc::from(vec![1]), Rc::from(vec![]));
        rec.end_call(a, "", Vec::new());
        rec.state(
            s0,
            ServerState {
                term: 1,
                role: 2,
                commit: 1,
                last: 2,
                snap: 0,
                vote: Some(0),
            },
            log(&[1, 1]),
        );
        rec.persisted(s0, Rc::from(vec![1, 1, 1, 1]), Rc::from(vec![]));
        rec.action(Some(s1), "crash s1 </script>");
        rec.crash(s1);
        rec.fail("expected one leader");
        rec.take(Duration::from_secs(3))
    }

    #[test]
    fn a_recording_becomes_steps_with_the_servers_state() {
        let page = from_recording(&sample(), "t", Some("expected one leader"), 100);
        assert_eq!(page.servers, ["s0", "s1"]);
        let kinds: Vec<&str> = page.steps.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "restart", "restart", "timer", "deliver", "action", "crash", "fail"
            ]
        );
        let last = page.steps.last().unwrap();
        assert_eq!(last.servers[0].role.as_deref(), Some("leader"));
        assert!(!last.servers[1].up);
        assert_eq!(page.problem.as_ref().unwrap().step, 6);
        let short = from_recording(&sample(), "t", None, 2);
        assert_eq!(short.steps.len(), 2);
        assert!(short.notes[0].starts_with("the last 2 of 7 events"));
    }

    #[test]
    fn votes_log_terms_and_decoded_persists_are_shown_per_server() {
        let page = from_recording(&sample(), "t", Some("expected one leader"), 100);
        let last = page.steps.last().unwrap();
        let (s0, s1) = (&last.servers[0], &last.servers[1]);
        assert_eq!(s0.voted_for.as_deref(), Some("s0"));
        assert_eq!(s1.voted_for.as_deref(), Some("s0"));
        let terms: Vec<(u64, u64)> = s0
            .log
            .as_ref()
            .unwrap()
            .entries
            .iter()
            .map(|e| (e.index, e.term))
            .collect();
        assert_eq!(terms, [(1, 1), (2, 1)]);
        assert_eq!(s1.log.as_ref().unwrap().entries, [], "s1's log is empty");
        // s0 persisted term 1, a vote for itself and two entries of term 1.
        let p0 = s0.persisted.as_ref().unwrap();
        assert_eq!(
            (p0.term, p0.voted_for.as_deref(), p0.bytes),
            (Some(1), Some("s0"), 4)
        );
        assert_eq!(p0.log.as_ref().unwrap().entries.len(), 2);
        // s1's persisted bytes are refused: the error shows, nothing panics.
        let p1 = s1.persisted.as_ref().unwrap();
        assert!(
            p1.text.as_deref().unwrap().contains("CorruptState"),
            "{p1:?}"
        );
    }

    #[test]
    fn a_restart_that_panics_is_shown_not_propagated() {
        let rec = Recorder::default();
        let s0 = rec.server_lane(0);
        rec.set_restarter(s0, restart, vec![0]);
        rec.start(s0);
        rec.persisted(s0, Rc::from(vec![255]), Rc::from(vec![]));
        rec.fail("x");
        let page = from_recording(&rec.take(Duration::from_secs(1)), "t", None, 10);
        let p = page.steps.last().unwrap().servers[0]
            .persisted
            .clone()
            .unwrap();
        assert!(p.text.unwrap().contains("panics: restart exploded"));
    }

    #[test]
    fn a_long_log_shows_as_runs_and_only_changed_logs_are_recorded() {
        let log = LogTerms::new(
            10,
            2,
            [3, 3, 3, 4, 4, 7]
                .into_iter()
                .chain(std::iter::repeat_n(8, 20)),
        );
        assert_eq!(log.runs, [(3, 3), (4, 2), (7, 1), (8, 20)]);
        assert!(
            log.is(
                10,
                2,
                [3, 3, 3, 4, 4, 7]
                    .into_iter()
                    .chain(std::iter::repeat_n(8, 20))
            )
        );
        assert!(
            !log.is(
                10,
                2,
                [3, 3, 3, 4, 4, 7]
                    .into_iter()
                    .chain(std::iter::repeat_n(8, 19))
            )
        );
        assert!(
            !log.is(
                10,
                2,
                [3, 3, 4, 4, 4, 7]
                    .into_iter()
                    .chain(std::iter::repeat_n(8, 20))
            )
        );
        assert!(
            !log.is(
                9,
                2,
                [3, 3, 3, 4, 4, 7]
                    .into_iter()
                    .chain(std::iter::repeat_n(8, 20))
            )
        );
        let shown = Log::of_terms(&log).unwrap();
        assert!(shown.entries.is_empty());
        assert_eq!(
            shown.runs,
            [[11, 13, 3], [14, 15, 4], [16, 16, 7], [17, 36, 8]]
        );
        let short = Log::of_terms(&LogTerms::new(0, 0, [1, 1, 2])).unwrap();
        assert_eq!(
            short.entries.iter().map(|e| e.term).collect::<Vec<_>>(),
            [1, 1, 2]
        );
    }

    #[test]
    fn the_page_is_self_contained_and_its_data_cannot_end_the_script() {
        let page = render(&from_recording(&sample(), "x <y>", Some("boom"), 100));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("crash s1 </script>"), "data escaped");
        assert!(page.contains("x &lt;y&gt;"));
        for banned in [
            "http:", "https:", "src=", "<link", "@import", "fetch(", "XMLHttp",
        ] {
            assert!(!page.contains(banned), "{banned} in the page");
        }
    }
}
