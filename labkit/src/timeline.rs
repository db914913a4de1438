//! The timeline page of a run: one self-contained HTML file (inline CSS and JS, the data as JSON
//! in the page, no network fetches) drawn from a [`Recording`].
//!
//! One lane per server over virtual time: role and term as coloured bands, crashed periods, the
//! servers it cannot reach shaded (partitions), its log length and commit index; the RPCs as
//! arrows (filter by method; hover for the fields); the test's actions, client operations, passed
//! checks and the failing check marked. It opens on the last seconds before the end of the run and
//! zooms (wheel, buttons) and pans (drag). Only what lies in view is drawn, and at most a few
//! thousand arrows at once, so the longest runs stay usable.
//!
//! The page's script builds every lane, band and marker from the embedded data; the browser tests
//! (`tests/viz.rs`) look for the elements it makes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::recorder::{Recording, What};

/// Summaries longer than this are cut in the page (the recording keeps a little more).
const PAGE_SUMMARY_LEN: usize = 120;

/// Why a message has no reply, as the page codes it.
const OK: u8 = 0;
const PENDING: u8 = 6;

fn outcome_code(why: &str) -> u8 {
    match why {
        "request lost" => 1,
        "reply lost" => 2,
        "unreachable" => 3,
        "timeout" => 4,
        _ => 5,
    }
}

/// `[from, to, method, sent, delivered, ended, outcome, bytes, fields]`: a JSON array per message.
type MsgRow = (u32, u32, u32, u64, i64, i64, u8, usize, String);

/// The page's data: compact rows, one per message (its send, delivery and end folded together).
#[derive(Serialize)]
struct PageData<'a> {
    title: &'a str,
    /// `[virtual µs, text]` of the failure, if the run failed.
    failure: Option<(u64, &'a str)>,
    end: u64,
    dropped: u64,
    lanes: &'a [String],
    names: &'a [String],
    /// `[from, to, method, sent, delivered (-1: never), ended (-1: never), outcome, bytes, fields]`.
    msgs: Vec<MsgRow>,
    /// `[t, lane, term, role, commit, last, snapshot]`.
    states: Vec<(u64, u32, u64, u8, u64, u64, u64)>,
    /// `[t, lane, timer name]`.
    timers: Vec<(u64, u32, u32)>,
    /// `[t, lane, index, snapshot]`.
    applies: Vec<(u64, u32, u64, bool)>,
    /// `[t, lane, up]`: a crash (`false`) or a start.
    ups: Vec<(u64, u32, bool)>,
    /// `[t, from, to, on]`.
    links: Vec<(u64, u32, u32, bool)>,
    /// `[t, lane (-1: the test), kind, text]`; kinds: action, call, return, check, fail.
    notes: Vec<(u64, i64, &'static str, String)>,
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

fn page_data<'a>(rec: &'a Recording, title: &'a str, failure: Option<&'a str>) -> PageData<'a> {
    let mut data = PageData {
        title,
        failure: None,
        end: rec.end,
        dropped: rec.dropped,
        lanes: &rec.lanes,
        names: &rec.names,
        msgs: Vec::new(),
        states: Vec::new(),
        timers: Vec::new(),
        applies: Vec::new(),
        ups: Vec::new(),
        links: Vec::new(),
        notes: Vec::new(),
    };
    let mut fail_at = None;
    for event in &rec.events {
        let t = event.t;
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
                let outcome = match ended {
                    None => PENDING,
                    Some(_) if why.is_empty() => OK,
                    Some(_) => outcome_code(why),
                };
                let at = |t: &Option<u64>| t.map_or(-1, |t| t as i64);
                let fields = cut(&rec.describe(*m, *b, args), PAGE_SUMMARY_LEN);
                data.msgs.push((
                    *from,
                    *to,
                    *m,
                    t,
                    at(delivered),
                    at(ended),
                    outcome,
                    *b,
                    fields,
                ));
            }
            What::Link { from, to, on } => data.links.push((t, *from, *to, *on)),
            What::Timer { lane, name } => data.timers.push((t, *lane, *name)),
            What::State { lane, state: s, .. } => data
                .states
                .push((t, *lane, s.term, s.role, s.commit, s.last, s.snap)),
            What::Apply {
                lane,
                index,
                snapshot,
            } => data.applies.push((t, *lane, *index, *snapshot)),
            What::Crash { lane } => data.ups.push((t, *lane, false)),
            What::Start { lane } => data.ups.push((t, *lane, true)),
            What::Action { lane, text } => {
                let lane = lane.map_or(-1, i64::from);
                data.notes.push((t, lane, "action", text.clone()));
            }
            What::Client { lane, ret, text } => {
                let kind = if *ret { "return" } else { "call" };
                data.notes.push((t, i64::from(*lane), kind, text.clone()));
            }
            What::Check { text } => data.notes.push((t, -1, "check", text.clone())),
            What::Fail { text } => {
                fail_at.get_or_insert(t);
                data.notes.push((t, -1, "fail", text.clone()));
            }
        }
    }
    data.failure = failure.map(|text| (fail_at.unwrap_or(rec.end), text));
    data
}

/// The page's data as it is embedded: [`PageData`] with its big tables packed (the page's script
/// unpacks them into `PageData`'s rows before drawing). Times are in `unit` microseconds (the
/// largest of 1000, 100, 10, 1 that divides them all); each table is one flat array of numbers;
/// every text is an index into `strs` (each distinct text once). Per table:
/// - `msgs`, 9 per message: from, to, method, sent (minus the previous message's), delivered and
///   ended (minus sent; -1: never), outcome, bytes, fields (text);
/// - `states`, 7 per change: time (minus the previous), lane, then term, role, commit, last and
///   snapshot, each but role minus the same lane's previous value;
/// - `applies`, 5 per run of consecutive indices applied at once: time (minus the previous), lane,
///   first index (minus the lane's previous run's last), count, snapshot (0/1);
/// - `timers` (time minus the previous, lane, name) and `notes` (time minus the previous, lane + 1,
///   kind, text), the same way; `ups` and `links` stay as [`PageData`] has them.
#[derive(Serialize)]
struct PackedData<'a> {
    title: &'a str,
    failure: Option<(u64, &'a str)>,
    end: u64,
    dropped: u64,
    lanes: &'a [String],
    names: &'a [String],
    unit: u64,
    strs: Vec<String>,
    kinds: [&'static str; 5],
    msgs: Vec<i64>,
    states: Vec<i64>,
    timers: Vec<i64>,
    applies: Vec<i64>,
    ups: Vec<(u64, u32, bool)>,
    links: Vec<(u64, u32, u32, bool)>,
    notes: Vec<i64>,
}

const NOTE_KINDS: [&str; 5] = ["action", "call", "return", "check", "fail"];

/// Texts numbered in order of first use.
#[derive(Default)]
struct Strings {
    list: Vec<String>,
    index: std::collections::HashMap<String, usize>,
}

impl Strings {
    fn get(&mut self, text: &str) -> i64 {
        if let Some(&i) = self.index.get(text) {
            return i as i64;
        }
        self.list.push(text.to_string());
        self.index.insert(text.to_string(), self.list.len() - 1);
        (self.list.len() - 1) as i64
    }
}

fn pack<'a>(data: &PageData<'a>) -> PackedData<'a> {
    let times = (data.msgs.iter())
        .flat_map(|m| [m.3 as i64, m.4, m.5])
        .chain(data.states.iter().map(|s| s.0 as i64))
        .chain(data.timers.iter().map(|t| t.0 as i64))
        .chain(data.applies.iter().map(|a| a.0 as i64))
        .chain(data.notes.iter().map(|n| n.0 as i64))
        .filter(|&t| t > 0);
    let mut unit = 1000;
    for t in times {
        while t % unit != 0 {
            unit /= 10;
        }
        if unit == 1 {
            break;
        }
    }
    let u = |t: u64| (t / unit as u64) as i64;
    let mut strs = Strings::default();

    let mut msgs = Vec::with_capacity(data.msgs.len() * 9);
    let mut prev = 0;
    for (from, to, m, sent, delivered, ended, outcome, bytes, fields) in &data.msgs {
        let since = |t: i64| {
            if t < 0 { -1 } else { (t - *sent as i64) / unit }
        };
        msgs.extend([
            i64::from(*from),
            i64::from(*to),
            i64::from(*m),
            u(*sent) - prev,
            since(*delivered),
            since(*ended),
            i64::from(*outcome),
            *bytes as i64,
            strs.get(fields),
        ]);
        prev = u(*sent);
    }

    let mut states = Vec::with_capacity(data.states.len() * 7);
    let mut last_of: BTreeMap<u32, [i64; 4]> = BTreeMap::new();
    let mut prev = 0;
    for &(t, lane, term, role, commit, last, snap) in &data.states {
        let before = last_of.entry(lane).or_default();
        let now = [term as i64, commit as i64, last as i64, snap as i64];
        states.extend([
            u(t) - prev,
            i64::from(lane),
            now[0] - before[0],
            i64::from(role),
            now[1] - before[1],
            now[2] - before[2],
            now[3] - before[3],
        ]);
        *before = now;
        prev = u(t);
    }

    let mut timers = Vec::with_capacity(data.timers.len() * 3);
    let mut prev = 0;
    for &(t, lane, name) in &data.timers {
        timers.extend([u(t) - prev, i64::from(lane), i64::from(name)]);
        prev = u(t);
    }

    // Runs of applies: same time, lane and kind, consecutive indices.
    let mut runs: Vec<(u64, u32, u64, u64, bool)> = Vec::new();
    for &(t, lane, index, snapshot) in &data.applies {
        match runs.last_mut() {
            Some((rt, rl, first, count, rs))
                if *rt == t && *rl == lane && *rs == snapshot && *first + *count == index =>
            {
                *count += 1
            }
            _ => runs.push((t, lane, index, 1, snapshot)),
        }
    }
    let mut applies = Vec::with_capacity(runs.len() * 5);
    let mut lane_last: BTreeMap<u32, i64> = BTreeMap::new();
    let mut prev = 0;
    for (t, lane, first, count, snapshot) in runs {
        let before = lane_last.entry(lane).or_default();
        applies.extend([
            u(t) - prev,
            i64::from(lane),
            first as i64 - *before,
            count as i64,
            i64::from(snapshot),
        ]);
        *before = (first + count - 1) as i64;
        prev = u(t);
    }

    let mut notes = Vec::with_capacity(data.notes.len() * 4);
    let mut prev = 0;
    for (t, lane, kind, text) in &data.notes {
        let kind = NOTE_KINDS.iter().position(|k| k == kind).unwrap_or(0);
        notes.extend([u(*t) - prev, lane + 1, kind as i64, strs.get(text)]);
        prev = u(*t);
    }

    PackedData {
        title: data.title,
        failure: data.failure,
        end: data.end,
        dropped: data.dropped,
        lanes: data.lanes,
        names: data.names,
        unit: unit as u64,
        strs: strs.list,
        kinds: NOTE_KINDS,
        msgs,
        states,
        timers,
        applies,
        ups: data.ups.clone(),
        links: data.links.clone(),
        notes,
    }
}

/// The page for `rec`: `title` on top, `failure` (the failing check's message) marked where the
/// run failed (the recording's `Fail` event, else its end).
pub fn render(rec: &Recording, title: &str, failure: Option<&str>) -> String {
    let data = pack(&page_data(rec, title, failure));
    // Inside a <script> element only `</` could end it early; `<\/` means the same in JSON.
    let json = serde_json::to_string(&data)
        .unwrap_or_else(|_| "{}".to_string())
        .replace("</", "<\\/");
    let mut page = String::with_capacity(json.len() + TEMPLATE.len() + 256);
    let (head, tail) = TEMPLATE.split_once("/*DATA*/").unwrap_or((TEMPLATE, ""));
    page.push_str(&head.replace("TITLE", &escape_html(title)));
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

/// Write the page for `rec` to `dir/<name>.html` (creating `dir`), and its last events as a
/// step-through page to `dir/<name>-steps.html` (see [`crate::steps`]); returns the first path.
pub fn write(
    rec: &Recording,
    dir: &Path,
    name: &str,
    title: &str,
    failure: Option<&str>,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let mut file = String::new();
    for c in name.chars() {
        let _ = write!(
            file,
            "{}",
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        );
    }
    let path = dir.join(format!("{file}.html"));
    std::fs::write(&path, render(rec, title, failure))?;
    // The run's last events as the step-through page the checker draws its counterexamples in.
    let steps = crate::steps::from_recording(rec, title, failure, crate::steps::RECORDED_STEPS);
    crate::steps::write(&steps, &crate::steps::steps_path(&path))?;
    Ok(path)
}

const TEMPLATE: &str = include_str!("timeline.html");

/// Environment variable: `LAB_VIZ=1` writes the timeline page of every run, not only failed ones;
/// `LAB_VIZ=shiviz` also writes each run as a ShiViz log beside its page ([`crate::shiviz`]);
/// `LAB_VIZ=0` writes nothing.
pub const VIZ_VAR: &str = "LAB_VIZ";

/// Where run pictures go: `target/lab-runs/`, found from the test binary's place
/// (`target/<profile>/deps/`), else the system's temporary directory.
pub fn runs_dir() -> PathBuf {
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()));
    match target {
        Some(target) if target.file_name().is_some_and(|n| n == "target") => {
            target.join("lab-runs")
        }
        Some(target) if target.join("CACHEDIR.TAG").exists() => target.join("lab-runs"),
        _ => std::env::temp_dir().join("raftlab-lab-runs"),
    }
}

/// Whether every lab run records its events from the start (`LAB_VIZ=1` or `LAB_VIZ=shiviz`).
pub fn record_every_run() -> bool {
    std::env::var(VIZ_VAR).is_ok_and(|v| v == "1" || v == "shiviz")
}

/// Whether runs are also written as ShiViz logs (`LAB_VIZ=shiviz`).
pub fn shiviz_asked() -> bool {
    std::env::var(VIZ_VAR).is_ok_and(|v| v == "shiviz")
}

/// What [`picture_of_run`] wrote: the page, and the ShiViz log if `LAB_VIZ=shiviz` asked for one
/// (`Err`: why it could not be written).
#[derive(Debug)]
pub struct Drawn {
    pub page: PathBuf,
    pub shiviz: Option<Result<PathBuf, String>>,
}

/// For a finished lab run: write its page if it failed or `LAB_VIZ=1` asks for it (`None`: not
/// asked for, or `LAB_VIZ=0`; `Some(Err)`: it could not be written, and why).
///
/// A run that did not record (the usual first pass, see [`crate::recorder`]) is run again by
/// `rerun` with the recorder on, silently (its logs are not printed twice); the same seed gives
/// the same run, which the trace hashes confirm (the page says so if they ever differ). A run
/// that failed on its real-time budget is not run again (that would take as long again).
pub fn picture_of_run(
    spec: &crate::lab::TestSpec,
    summary: &crate::lab::Summary,
    error: Option<&crate::sim::RunError>,
    recording: Recording,
    rerun: impl FnOnce() -> (Recording, u64),
) -> Option<Result<Drawn, String>> {
    let viz = std::env::var(VIZ_VAR).ok();
    let recorded = record_every_run();
    if viz.as_deref() == Some("0") || (error.is_none() && !recorded) {
        return None;
    }
    let mut recording = recording;
    let mut note = String::new();
    if !recorded {
        if let Some(crate::sim::RunError::RealTimeBudget { .. }) = error {
            return Some(Err(format!(
                "not drawn: the run used up its real-time budget (replay it with {VIZ_VAR}=1)"
            )));
        }
        let no_logs = tracing::subscriber::NoSubscriber::default();
        let (again, trace) = tracing::subscriber::with_default(no_logs, rerun);
        if trace != summary.trace {
            note = format!(
                " (drawn from a replay whose trace {:08x} differs from the run's {:08x}:                  the run is not deterministic)",
                trace as u32, summary.trace as u32
            );
        }
        recording = again;
    }
    let failure = error.map(|e| format!("{e}{note}"));
    if let Some(failure) = &failure {
        // The failing check goes in as the run's last event, where it happened.
        let t = recording.end;
        recording.events.push(crate::recorder::Event {
            t,
            what: What::Fail {
                text: failure.clone(),
            },
        });
    }
    let name = format!("{}-{}-seed{}", spec.lab, spec.test, summary.seed);
    let title = format!(
        "{} {} seed={} {} (replay: {})",
        spec.lab,
        spec.test,
        summary.seed,
        if error.is_some() { "FAIL" } else { "ok" },
        crate::lab::replay_command_here(spec.lab, spec.test, summary.seed)
    );
    let dir = runs_dir();
    let page = match write(&recording, &dir, &name, &title, failure.as_deref()) {
        Ok(page) => page,
        Err(e) => return Some(Err(format!("{}: {e}", dir.display()))),
    };
    let shiviz = shiviz_asked().then(|| {
        let path = crate::shiviz::path_beside(&page);
        crate::shiviz::write(&recording, &path)
            .map(|()| path.clone())
            .map_err(|e| format!("{}: {e}", path.display()))
    });
    Some(Ok(Drawn { page, shiviz }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{Recorder, ServerState};
    use std::time::Duration;

    fn sample() -> Recording {
        let rec = Recorder::default();
        let (s0, s1) = (rec.server_lane(0), rec.server_lane(1));
        rec.start(s0);
        rec.start(s1);
        rec.state(
            s0,
            ServerState {
                term: 1,
                role: 2,
                ..ServerState::default()
            },
            None,
        );
        rec.set_decoder("Raft.AppendEntries", |_, args| {
            String::from_utf8_lossy(args).into_owned()
        });
        let a = rec.send(s0, s1, "Raft.AppendEntries", 30).unwrap();
        rec.deliver(a);
        rec.end_call(a, "", b"term 1".to_vec());
        let b = rec.send(s0, s1, "Raft.AppendEntries", 30).unwrap();
        rec.end_call(b, "request lost", b"</script><b>".to_vec());
        rec.send(s1, s0, "Raft.AppendEntries", 30);
        rec.link(s0, s1, false);
        rec.action(Some(s1), "disconnect s1");
        rec.fail("expected one leader");
        rec.take(Duration::from_secs(3))
    }

    #[test]
    fn messages_fold_into_one_row_each() {
        let rec = sample();
        let data = page_data(&rec, "t", Some("expected one leader"));
        assert_eq!(data.msgs.len(), 3);
        assert_eq!(data.msgs[0].6, OK);
        assert_eq!(data.msgs[0].8, "term 1", "described by the decoder");
        assert_eq!(data.msgs[1].6, 1);
        assert_eq!(data.msgs[1].4, -1, "a lost request is never delivered");
        assert_eq!(data.msgs[2].6, PENDING, "in flight at the end");
        assert_eq!(data.links, vec![(0, 0, 1, false)]);
        assert_eq!(data.failure.map(|f| f.1), Some("expected one leader"));
    }

    /// The rows of [`PageData`] that are packed: messages, states, applies, notes, timers.
    type Unpacked = (
        Vec<MsgRow>,
        Vec<(u64, u32, u64, u8, u64, u64, u64)>,
        Vec<(u64, u32, u64, bool)>,
        Vec<(u64, i64, String, String)>,
        Vec<(u64, u32, u32)>,
    );

    /// What the page's script does with the packed data (`unpack` in timeline.html), in Rust.
    fn unpack(p: &PackedData) -> Unpacked {
        let u = p.unit as i64;
        let mut msgs = Vec::new();
        let mut t = 0;
        for m in p.msgs.chunks(9) {
            t += m[3] * u;
            let at = |d: i64| if d < 0 { -1 } else { t + d * u };
            msgs.push((
                m[0] as u32,
                m[1] as u32,
                m[2] as u32,
                t as u64,
                at(m[4]),
                at(m[5]),
                m[6] as u8,
                m[7] as usize,
                p.strs[m[8] as usize].clone(),
            ));
        }
        let mut states = Vec::new();
        let (mut t, mut prev) = (0, BTreeMap::<i64, [i64; 4]>::new());
        for s in p.states.chunks(7) {
            t += s[0] * u;
            let b = prev.entry(s[1]).or_default();
            *b = [b[0] + s[2], b[1] + s[4], b[2] + s[5], b[3] + s[6]];
            states.push((
                t as u64,
                s[1] as u32,
                b[0] as u64,
                s[3] as u8,
                b[1] as u64,
                b[2] as u64,
                b[3] as u64,
            ));
        }
        let mut applies = Vec::new();
        let (mut t, mut prev) = (0, BTreeMap::<i64, i64>::new());
        for a in p.applies.chunks(5) {
            t += a[0] * u;
            let b = prev.entry(a[1]).or_default();
            let first = *b + a[2];
            for k in 0..a[3] {
                applies.push((t as u64, a[1] as u32, (first + k) as u64, a[4] == 1));
            }
            *b = first + a[3] - 1;
        }
        let mut notes = Vec::new();
        let mut t = 0;
        for n in p.notes.chunks(4) {
            t += n[0] * u;
            notes.push((
                t as u64,
                n[1] - 1,
                p.kinds[n[2] as usize].to_string(),
                p.strs[n[3] as usize].clone(),
            ));
        }
        let mut timers = Vec::new();
        let mut t = 0;
        for r in p.timers.chunks(3) {
            t += r[0] * u;
            timers.push((t as u64, r[1] as u32, r[2] as u32));
        }
        (msgs, states, applies, notes, timers)
    }

    /// A churn-like recording: many messages with repeated fields, applies in runs, state changes.
    fn busy() -> Recording {
        let rec = Recorder::default();
        let lanes: Vec<u32> = (0..5).map(|i| rec.server_lane(i)).collect();
        rec.set_decoder("Raft.AppendEntries", |_, args| {
            String::from_utf8_lossy(args).into_owned()
        });
        for i in 0..2000u64 {
            let (a, b) = (lanes[(i % 5) as usize], lanes[((i + 1) % 5) as usize]);
            let call = rec.send(a, b, "Raft.AppendEntries", 100).unwrap();
            if i % 7 != 0 {
                rec.deliver(call);
            }
            let why = if i % 7 == 0 { "request lost" } else { "" };
            rec.end_call(
                call,
                why,
                format!("AppendEntries {{ term: {}, entries: [] }}", i / 100).into_bytes(),
            );
            rec.state(
                a,
                ServerState {
                    term: i / 100,
                    role: (i % 3) as u8,
                    commit: i,
                    last: i + 2,
                    snap: i / 50,
                    vote: None,
                },
                None,
            );
            rec.apply(b, 2 * i, false);
            rec.apply(b, 2 * i + 1, false);
            rec.timer(a, "heartbeat");
            rec.action(Some(a), format!("start({i})"));
            rec.check("one leader");
        }
        let mut rec = rec.take(Duration::from_secs(60));
        // Times that vary (in tens of microseconds), with deliveries and ends after the sends.
        for (k, event) in rec.events.iter_mut().enumerate() {
            let t = k as u64 * 1500 + (k as u64 % 3) * 10;
            event.t = t;
            if let What::Msg {
                delivered, ended, ..
            } = &mut event.what
            {
                *delivered = delivered.map(|_| t + 1000);
                *ended = ended.map(|_| t + 2020);
            }
        }
        rec
    }

    #[test]
    fn packed_data_unpacks_to_the_same_rows_and_is_smaller() {
        for rec in [sample(), busy()] {
            let data = page_data(&rec, "t", Some("boom"));
            let packed = pack(&data);
            let (msgs, states, applies, notes, timers) = unpack(&packed);
            assert_eq!(msgs, data.msgs);
            assert_eq!(states, data.states);
            assert_eq!(applies, data.applies);
            let notes_before: Vec<_> = (data.notes.iter())
                .map(|(t, l, k, s)| (*t, *l, k.to_string(), s.clone()))
                .collect();
            assert_eq!(notes, notes_before);
            assert_eq!(timers, data.timers);
        }
        let rec = busy();
        let data = page_data(&rec, "t", None);
        assert_eq!(pack(&data).unit, 10);
        let (plain, packed) = (
            serde_json::to_string(&data).unwrap().len(),
            serde_json::to_string(&pack(&data)).unwrap().len(),
        );
        assert!(packed * 2 < plain, "{packed} bytes packed, {plain} plain");
    }

    #[test]
    fn the_page_is_self_contained_and_its_data_cannot_end_the_script() {
        let page = render(&sample(), "lab2a x <seed 1>", Some("boom"));
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(!page.contains("</script><b>"), "data escaped");
        assert!(page.contains("lab2a x &lt;seed 1&gt;"));
        for banned in [
            "http:", "https:", "src=", "<link", "@import", "fetch(", "XMLHttp",
        ] {
            assert!(!page.contains(banned), "{banned} in the page");
        }
    }
}
