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
            What::State {
                lane,
                term,
                role,
                commit,
                last,
                snap,
            } => data
                .states
                .push((t, *lane, *term, *role, *commit, *last, *snap)),
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

/// The page for `rec`: `title` on top, `failure` (the failing check's message) marked where the
/// run failed (the recording's `Fail` event, else its end).
pub fn render(rec: &Recording, title: &str, failure: Option<&str>) -> String {
    let data = page_data(rec, title, failure);
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

/// Environment variable: `LAB_VIZ=1` writes the timeline page of every run, not only failed ones.
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

/// Whether every lab run records its events from the start (`LAB_VIZ=1`).
pub fn record_every_run() -> bool {
    std::env::var(VIZ_VAR).is_ok_and(|v| v == "1")
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
) -> Option<Result<PathBuf, String>> {
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
        crate::lab::replay_command(spec.lab, spec.test, summary.seed)
    );
    let dir = runs_dir();
    Some(
        write(&recording, &dir, &name, &title, failure.as_deref())
            .map_err(|e| format!("{}: {e}", dir.display())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Recorder;
    use std::time::Duration;

    fn sample() -> Recording {
        let rec = Recorder::default();
        let (s0, s1) = (rec.server_lane(0), rec.server_lane(1));
        rec.start(s0);
        rec.start(s1);
        rec.state(s0, 1, 2, 0, 0, 0);
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
