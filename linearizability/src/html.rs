//! A self-contained HTML picture of a checked history, for a student staring at a bad one.
//!
//! It works for any [`Model`]: bars are labelled with [`Model::label`] (`cas 4→2 ok`,
//! `put "v" v3 ErrVersion`), hover texts use [`Model::describe_operation`], and the step-by-step
//! table shows [`Model::describe_state`] after each operation. Each drawn partition gets a
//! timeline: one row per client (a client that goes on after an operation with unknown outcome,
//! as a reused Jepsen process id does, gets a second lane), one bar per operation from its call
//! to its return. Time is compressed (the axis shows the order of calls and returns, not their
//! durations), so short and long operations stay readable. The longest linearizable prefix found
//! is green, numbered in linearization order and joined by a line through plausible linearization
//! points; the operations that could not come next are red, and the reason is listed. Everything
//! (CSS, SVG, a few lines of JS for the hover panel) is inline: the file needs no network.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use super::history::{History, HistoryError};
use super::model::{Kv, Model, ModelKind, Register, VersionedKv};
use super::{LinearizationInfo, PartitionInfo, PartitionStatus, Verdict};

/// Partitions with more operations than this are drawn around where the search got stuck.
const MAX_DRAWN: usize = 300;
/// How many of the last linearized operations anchor that window.
const FOCUS_TAIL: usize = 30;
/// Never draw more bars than this in one timeline.
const HARD_CAP: usize = 600;
/// At most this many failed operations are listed.
const MAX_FAILED_LISTED: usize = 200;

const LEFT: f64 = 112.0;
const STEP: f64 = 24.0;
const ROW: f64 = 36.0;
const BAR: f64 = 20.0;
const TOP: f64 = 38.0;

/// Writes [`render_html`]'s picture to `path`.
pub fn write_html(
    history: &History,
    info: &LinearizationInfo,
    path: &Path,
) -> Result<(), HistoryError> {
    std::fs::write(path, render_html(history, info)).map_err(|source| HistoryError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The picture of `history` and what the checker found out about it, as one HTML document, for
/// the built-in model it was checked against (`info.model`, else the one the operations suggest).
pub fn render_html(history: &History, info: &LinearizationInfo) -> String {
    match info
        .model
        .unwrap_or_else(|| ModelKind::infer(&history.operations))
    {
        ModelKind::Kv => render_html_with(&Kv, history, info),
        ModelKind::Register => render_html_with(&Register::default(), history, info),
        ModelKind::VersionedKv => render_html_with(&VersionedKv::default(), history, info),
    }
}

/// What the picture needs of an operation.
struct View {
    client: u64,
    /// The client's lane: a client whose operation has an unknown outcome and that goes on
    /// anyway (a Jepsen process id reused) draws its later operations on another lane.
    lane: usize,
    call: u64,
    ret: u64,
    /// Its partition key.
    key: String,
    /// Short text for its bar, and the full description.
    label: String,
    text: String,
}

impl View {
    fn is_pending(&self) -> bool {
        self.ret == u64::MAX
    }

    fn row(&self) -> (u64, usize) {
        (self.client, self.lane)
    }

    fn who(&self) -> String {
        match self.lane {
            0 => format!("client {}", self.client),
            lane => format!("client {} ({})", self.client, lane + 1),
        }
    }
}

/// Views of operations, with lanes assigned so that a client's bars never overlap.
fn views<M: Model>(model: &M, history: &History<M::Input, M::Output>) -> Vec<View> {
    let ops = &history.operations;
    let mut views: Vec<View> = ops
        .iter()
        .map(|op| View {
            client: op.client,
            lane: 0,
            call: op.call,
            ret: op.ret,
            key: model.partition_key(&op.input),
            label: model.label(&op.input, op.known_output()),
            text: model.describe_operation(&op.input, op.known_output()),
        })
        .collect();
    let mut order: Vec<usize> = (0..views.len()).collect();
    order.sort_by_key(|&i| (views[i].call, i));
    // Per client: when each lane is free again.
    let mut lanes: HashMap<u64, Vec<u64>> = HashMap::new();
    for i in order {
        let free = lanes.entry(views[i].client).or_default();
        let lane = match free.iter().position(|&end| end < views[i].call) {
            Some(lane) => lane,
            None => {
                free.push(0);
                free.len() - 1
            }
        };
        free[lane] = views[i].ret;
        views[i].lane = lane;
    }
    views
}

/// [`render_html`] for any [`Model`].
pub fn render_html_with<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    info: &LinearizationInfo,
) -> String {
    let verdict = info.verdict();
    let ops = views(model, history);
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("Linearizability: {verdict}");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let clients: BTreeSet<u64> = ops.iter().map(|op| op.client).collect();
    let pending = ops.iter().filter(|op| op.is_pending()).count();
    let _ = write!(
        out,
        "<h1 class=\"{}\">History is {}</h1>\n<p>{} operations from {} clients ({} with unknown \
         outcome, {} reads among them ignored{}), checked against the {} model; {} \
         partition(s){}.</p>\n",
        verdict_class(verdict),
        esc(&verdict.to_string()),
        ops.len(),
        clients.len(),
        pending,
        info.ignored.len(),
        match history.failed.len() {
            0 => String::new(),
            n => format!("; {n} more failed and are not checked"),
        },
        esc(&model.name()),
        info.partitions.len(),
        match info.partitions.first() {
            Some(p) if p.key.is_none() => ", not split by key",
            _ => " (one per key)",
        }
    );
    if ops.iter().all(|op| op.is_pending()) {
        let _ = writeln!(
            out,
            "<p class=\"note\">{}</p>",
            match ops.len() {
                0 => "The history has no operations: there is nothing to check.",
                _ => "No operation completed: nothing constrains the order.",
            }
        );
    }
    out.push_str(LEGEND);

    // Draw what explains the verdict; list the rest.
    let is_drawn = |p: &PartitionInfo| match p.status {
        PartitionStatus::Illegal | PartitionStatus::TimedOut | PartitionStatus::MemoryLimit => true,
        PartitionStatus::Linearizable => verdict == Verdict::Ok,
        PartitionStatus::NotChecked => false,
    };
    for partition in info.partitions.iter().filter(|p| is_drawn(p)) {
        let states = states_along(model, history, &partition.linearization);
        render_partition(&mut out, &ops, info, partition, &states);
    }
    let others: Vec<&PartitionInfo> = info.partitions.iter().filter(|p| !is_drawn(p)).collect();
    if !others.is_empty() {
        let _ = write!(
            out,
            "<details class=\"others\"><summary>{} other partition(s), not drawn</summary><ul>",
            others.len()
        );
        for p in others {
            let status = match p.status {
                PartitionStatus::Linearizable => "linearizable",
                _ => "not checked (the check stopped at the first violation)",
            };
            let _ = write!(
                out,
                "<li>{}: {status}, {} operations</li>",
                esc(&partition_name(p)),
                p.operations.len()
            );
        }
        out.push_str("</ul></details>\n");
    }
    if !history.failed.is_empty() {
        let _ = write!(
            out,
            "<details class=\"others\"><summary>{} failed operation(s) (<code>:fail</code>): they \
             did not take effect and are not checked</summary><ul>",
            history.failed.len()
        );
        for op in history.failed.iter().take(MAX_FAILED_LISTED) {
            let _ = write!(
                out,
                "<li>client {}: {} (called at {}, failed at {})</li>",
                op.client,
                esc(&model.describe_operation(&op.input, None)),
                op.call,
                op.ret
            );
        }
        if history.failed.len() > MAX_FAILED_LISTED {
            out.push_str("<li>…</li>");
        }
        out.push_str("</ul></details>\n");
    }
    out.push_str("<div id=\"hover\">Point at an operation to see its details.</div>\n");
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

/// The state of the object each operation of `linearization` touches, after it.
fn states_along<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    linearization: &[usize],
) -> Vec<String> {
    let mut states: HashMap<String, M::State> = HashMap::new();
    linearization
        .iter()
        .map(|&i| {
            let op = &history.operations[i];
            let state = states
                .entry(model.partition_key(&op.input))
                .or_insert_with(|| model.init());
            if let Some(next) = model.step(state, &op.input, op.known_output()) {
                *state = next;
            }
            model.describe_state(state)
        })
        .collect()
}

fn verdict_class(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "ok",
        Verdict::Illegal => "bad",
        Verdict::Unknown => "unknown",
    }
}

fn partition_name(p: &PartitionInfo) -> String {
    match &p.key {
        Some(key) => format!("key {key:?}"),
        None => "all keys".to_owned(),
    }
}

/// How an operation is drawn.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Linearized at this position (0-based) of the prefix.
    Linearized(usize),
    Stuck,
    NotReached,
    /// Its outcome is unknown, and in the linearization found it did not take effect.
    Skipped,
    Ignored,
}

fn render_partition(
    out: &mut String,
    ops: &[View],
    info: &LinearizationInfo,
    partition: &PartitionInfo,
    states: &[String],
) {
    let linearizable = partition.status == PartitionStatus::Linearizable;
    let mut role: HashMap<usize, Role> = HashMap::new();
    for &i in &partition.operations {
        let skipped = linearizable && ops[i].is_pending();
        role.insert(
            i,
            if skipped {
                Role::Skipped
            } else {
                Role::NotReached
            },
        );
    }
    for (pos, &i) in partition.linearization.iter().enumerate() {
        role.insert(i, Role::Linearized(pos));
    }
    let reasons: HashMap<usize, &str> = partition
        .stuck
        .iter()
        .map(|s| (s.op, s.reason.as_str()))
        .collect();
    for s in &partition.stuck {
        role.insert(s.op, Role::Stuck);
    }
    for &i in &info.ignored {
        if partition.key.as_ref().is_none_or(|k| *k == ops[i].key) {
            role.insert(i, Role::Ignored);
        }
    }

    let status = match partition.status {
        PartitionStatus::Linearizable => "linearizable",
        PartitionStatus::Illegal => "NOT linearizable",
        PartitionStatus::TimedOut => "unknown: the search timed out",
        PartitionStatus::MemoryLimit => "unknown: the search reached its memory limit",
        PartitionStatus::NotChecked => "not checked",
    };
    let class = match partition.status {
        PartitionStatus::Linearizable => "ok",
        PartitionStatus::Illegal => "bad",
        _ => "unknown",
    };
    let _ = write!(
        out,
        "<section>\n<h2 class=\"{class}\">{}: {status}</h2>\n",
        esc(&partition_name(partition))
    );
    let total = partition.operations.len();
    let placed = partition.linearization.len();
    match partition.status {
        PartitionStatus::Illegal => {
            let _ = write!(
                out,
                "<p>The longest linearizable prefix the search found has {placed} of the {total} \
                 operations (green, numbered in order). After it, real time allows these next, and \
                 the model allows none of them:</p>\n<ul class=\"stuck\">"
            );
            for s in &partition.stuck {
                let _ = write!(
                    out,
                    "<li><strong>{}</strong>: {}</li>",
                    ops[s.op].who(),
                    esc(&s.reason)
                );
            }
            out.push_str("</ul>\n");
        }
        PartitionStatus::Linearizable => {
            let unknown = partition
                .operations
                .iter()
                .filter(|&&i| ops[i].is_pending())
                .count();
            let skipped = total - placed;
            if skipped == 0 {
                let _ = writeln!(
                    out,
                    "<p>All {total} operations linearize, in the order numbered below.</p>"
                );
            } else {
                let _ = writeln!(
                    out,
                    "<p>The {} operations that returned linearize, in the order numbered below, \
                     with {} of the {unknown} whose outcome is unknown taking effect; the other \
                     {skipped} did not take effect (or did after everything else).</p>",
                    total - unknown,
                    unknown - skipped
                );
            }
        }
        PartitionStatus::TimedOut | PartitionStatus::MemoryLimit => {
            let why = match partition.status {
                PartitionStatus::TimedOut => "timed out",
                _ => "reached its memory limit",
            };
            let _ = writeln!(
                out,
                "<p>The search {why}; the longest prefix it had linearized has {placed} of the \
                 {total} operations.</p>"
            );
        }
        PartitionStatus::NotChecked => out.push_str("<p>This partition was not checked.</p>\n"),
    }

    let (shown, note) = choose_shown(ops, partition, &role);
    if let Some(note) = note {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(&note));
    }
    render_timeline(out, ops, &shown, &role, &reasons, partition);
    render_prefix_table(out, ops, partition, states);
    out.push_str("</section>\n");
}

/// The operations to draw (all of them if few), and a note when not all are drawn.
fn choose_shown(
    ops: &[View],
    partition: &PartitionInfo,
    role: &HashMap<usize, Role>,
) -> (Vec<usize>, Option<String>) {
    let mut all: Vec<usize> = role.keys().copied().collect();
    all.sort_by_key(|&i| (ops[i].call, i));
    if all.len() <= MAX_DRAWN {
        return (all, None);
    }
    let focus: Vec<usize> = partition
        .linearization
        .iter()
        .rev()
        .take(FOCUS_TAIL)
        .copied()
        .chain(partition.stuck.iter().map(|s| s.op))
        .collect();
    let lo = focus.iter().map(|&i| ops[i].call).min().unwrap_or(0);
    let hi = focus
        .iter()
        .map(|&i| match ops[i].is_pending() {
            true => ops[i].call,
            false => ops[i].ret,
        })
        .max()
        .unwrap_or(u64::MAX);
    let mut shown: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| ops[i].call <= hi && ops[i].ret >= lo)
        .collect();
    if shown.len() > HARD_CAP {
        // Keep the ones called closest to the end of the window.
        shown.sort_by_key(|&i| (hi.abs_diff(ops[i].call), i));
        shown.truncate(HARD_CAP);
        shown.sort_by_key(|&i| (ops[i].call, i));
    }
    let note = format!(
        "Showing {} of {} operations: those overlapping the last {} linearized operations and the \
         ones that could not come next.",
        shown.len(),
        all.len(),
        FOCUS_TAIL.min(partition.linearization.len())
    );
    (shown, Some(note))
}

fn render_timeline(
    out: &mut String,
    ops: &[View],
    shown: &[usize],
    role: &HashMap<usize, Role>,
    reasons: &HashMap<usize, &str>,
    partition: &PartitionInfo,
) {
    if shown.is_empty() {
        return;
    }
    // Compressed time: one slot per distinct (time, call-before-return) event.
    let mut events: BTreeSet<(u64, u8)> = BTreeSet::new();
    for &i in shown {
        events.insert((ops[i].call, 0));
        if !ops[i].is_pending() {
            events.insert((ops[i].ret, 1));
        }
    }
    let slot: BTreeMap<(u64, u8), usize> =
        events.iter().enumerate().map(|(s, &e)| (e, s)).collect();
    let slots = events.len();
    let rows: BTreeMap<(u64, usize), usize> = shown
        .iter()
        .map(|&i| ops[i].row())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(row, client)| (client, row))
        .collect();
    let x = |s: f64| LEFT + STEP * (s + 0.5);
    let right = x(slots as f64 + 1.0);
    let width = right + 16.0;
    let height = TOP + ROW * rows.len() as f64 + 8.0;
    let call_slot = |i: usize| slot[&(ops[i].call, 0)] as f64;
    let ret_x = |i: usize| match ops[i].is_pending() {
        true => right,
        false => x(slot[&(ops[i].ret, 1)] as f64),
    };
    let row_y = |i: usize| TOP + ROW * rows[&ops[i].row()] as f64;

    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">"
    );
    // Client labels and row guides.
    for (&(client, lane), row) in &rows {
        let y = TOP + ROW * *row as f64;
        let name = match lane {
            0 => format!("client {client}"),
            lane => format!("client {client} ({})", lane + 1),
        };
        let _ = writeln!(
            out,
            "<line class=\"guide\" x1=\"{LEFT}\" x2=\"{right:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"client\" x=\"8\" y=\"{:.1}\">{name}</text>",
            y + ROW / 2.0,
            y + ROW / 2.0,
            y + ROW / 2.0 + 4.0
        );
    }
    // A few time labels.
    let every = (slots / 12).max(1);
    for (s, (time, _)) in events.iter().enumerate().step_by(every) {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"14\">t={time}</text>",
            x(s as f64)
        );
    }
    out.push('\n');

    // Bars.
    for &i in shown {
        let op = &ops[i];
        let r = role.get(&i).copied().unwrap_or(Role::NotReached);
        let (x0, x1) = (x(call_slot(i)) - STEP * 0.35, ret_x(i) + STEP * 0.35);
        let y = row_y(i) + (ROW - BAR) / 2.0;
        let mut class = match r {
            Role::Linearized(_) => "op lin".to_owned(),
            Role::Stuck => "op stuck".to_owned(),
            Role::NotReached => "op rest".to_owned(),
            Role::Skipped => "op skipped".to_owned(),
            Role::Ignored => "op ignored".to_owned(),
        };
        if op.is_pending() {
            class.push_str(" pending");
        }
        let status = match r {
            Role::Linearized(pos) => format!("linearized #{}", pos + 1),
            Role::Stuck => format!(
                "could not come next: {}",
                reasons.get(&i).copied().unwrap_or("")
            ),
            Role::NotReached => "not linearized".to_owned(),
            Role::Skipped => {
                "did not take effect (its outcome is unknown, so it need not)".to_owned()
            }
            Role::Ignored => "ignored: a read with unknown outcome".to_owned(),
        };
        let ret = match op.is_pending() {
            true => "never (outcome unknown)".to_owned(),
            false => op.ret.to_string(),
        };
        let details = format!(
            "{} · {}\ncalled at {}, returned at {}\n{}",
            op.who(),
            op.text,
            op.call,
            ret,
            status
        );
        let label = &op.label;
        let fit = ((x1 - x0 - 6.0) / 6.6).floor().max(0.0) as usize;
        let _ = write!(
            out,
            "<g class=\"{class}\" data-info=\"{}\"><title>{}</title>\
             <rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{BAR}\" rx=\"4\"/>",
            esc(&details),
            esc(&details),
            x1 - x0
        );
        if fit >= 3 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x0 + 4.0,
                y + BAR / 2.0 + 4.0,
                esc(&clip(label, fit))
            );
        }
        out.push_str("</g>\n");
    }

    // The linearization path. A point in each drawn operation's window, increasing along the linearization; operations
    // that share a point are nudged apart without leaving their windows.
    let drawn: BTreeSet<usize> = shown.iter().copied().collect();
    let mut path: Vec<(usize, f64, f64)> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for (pos, &i) in partition.linearization.iter().enumerate() {
        if !drawn.contains(&i) {
            continue;
        }
        let ret_slot = match ops[i].is_pending() {
            true => slots as f64,
            false => slot[&(ops[i].ret, 1)] as f64,
        };
        let p = (last + 0.3).max(call_slot(i)).min(ret_slot);
        last = p;
        // On the bar's top edge, clear of its label.
        path.push((pos, x(p), row_y(i) + (ROW - BAR) / 2.0 - 1.0));
    }
    if path.len() > 1 {
        let coords: Vec<String> = path
            .iter()
            .map(|(_, px, py)| format!("{px:.1},{py:.1}"))
            .collect();
        let _ = writeln!(
            out,
            "<polyline class=\"path\" points=\"{}\"/>",
            coords.join(" ")
        );
    }
    for (pos, px, py) in &path {
        let _ = writeln!(
            out,
            "<circle class=\"point\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"6.5\"/>\
             <text class=\"order\" x=\"{px:.1}\" y=\"{:.1}\">{}</text>",
            py + 3.5,
            pos + 1
        );
    }
    if partition.status == PartitionStatus::Illegal {
        let at = path
            .last()
            .map_or(x(0.0) - STEP * 0.5, |&(_, px, _)| px + STEP * 0.5);
        let _ = writeln!(
            out,
            "<line class=\"stuckline\" x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"20\" y2=\"{:.1}\"/>\
             <text class=\"stucklabel\" x=\"{:.1}\" y=\"28\">stuck here</text>",
            height - 4.0,
            at + 4.0
        );
    }
    out.push_str("</svg></div>\n");
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// At most `max` characters of a long value: its start and its end.
fn shorten(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let half = max / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(count - half).collect();
    format!("{head}…{tail}")
}

fn render_prefix_table(
    out: &mut String,
    ops: &[View],
    partition: &PartitionInfo,
    states: &[String],
) {
    if partition.linearization.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<details><summary>The linearization, step by step ({} operations)</summary>\n\
         <table><tr><th>#</th><th>client</th><th>operation</th><th>state of its key after it</th></tr>\n",
        partition.linearization.len()
    );
    for (pos, (&i, state)) in partition.linearization.iter().zip(states).enumerate() {
        let op = &ops[i];
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td></tr>",
            pos + 1,
            op.client,
            esc(&op.text),
            esc(state),
            esc(&shorten(state, 80))
        );
    }
    out.push_str("</table></details>\n");
}

/// Escapes text for HTML content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const LEGEND: &str = "<p class=\"legend\">\
<span class=\"sw lin\"></span> linearized (numbered in order, joined by the linearization path) \
<span class=\"sw stuck\"></span> could not come next \
<span class=\"sw rest\"></span> not reached \
<span class=\"sw pending\"></span> outcome unknown (may take effect any time after its call) \
<span class=\"sw skipped\"></span> did not take effect (outcome unknown) \
<span class=\"sw ignored\"></span> ignored read<br>\
Bars run from call to return; the horizontal axis shows the order of calls and returns, \
not their durations. Point at a bar for its details.</p>\n";

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }
h1.bad, h2.bad { color: #b71c1c; } h1.ok, h2.ok { color: #1b5e20; } .unknown { color: #e65100; }
h2 { font-size: 18px; margin: 28px 0 6px; }
section { border-top: 1px solid #ddd; }
.legend { color: #555; }
.sw { display: inline-block; width: 22px; height: 12px; border: 2px solid; border-radius: 3px;
      vertical-align: middle; margin-left: 10px; }
.sw.lin { background: #c8e6c9; border-color: #2e7d32; }
.sw.stuck { background: #ffcdd2; border-color: #c62828; }
.sw.rest { background: #eeeeee; border-color: #9e9e9e; }
.sw.pending { background: #fff; border-color: #777; border-style: dashed; }
.sw.ignored { background: #fafafa; border-color: #bbb; border-style: dotted; }
.sw.skipped { background: #fff; border-color: #bbb; border-style: dashed; }
ul.stuck li { margin: 2px 0; font-family: ui-monospace, monospace; word-break: break-all; }
.note { color: #555; font-style: italic; }
.scroll { overflow-x: auto; border: 1px solid #e0e0e0; border-radius: 6px; background: #fcfcfc; }
svg text { font: 11px ui-monospace, monospace; }
.client { fill: #333; font-weight: bold; }
.tick { fill: #888; font-size: 10px; }
.guide { stroke: #eee; }
.op rect { stroke-width: 1.5; }
.op:hover rect { stroke-width: 3.5; }
.op text { pointer-events: none; fill: #222; }
.lin rect { fill: #c8e6c9; stroke: #2e7d32; }
.stuck rect { fill: #ffcdd2; stroke: #c62828; stroke-width: 3; }
.rest rect { fill: #eeeeee; stroke: #9e9e9e; }
.ignored rect { fill: #fafafa; stroke: #bbb; stroke-dasharray: 2 3; }
.skipped rect { fill: #fff; stroke: #bbb; }
.pending rect { stroke-dasharray: 6 4; }
.path { fill: none; stroke: #1b5e20; stroke-width: 1.5; opacity: 0.7; }
.point { fill: #1b5e20; pointer-events: none; }
.order { fill: #fff; font-size: 9px; text-anchor: middle; pointer-events: none; }
.stuckline { stroke: #c62828; stroke-width: 2; stroke-dasharray: 5 4; }
.stucklabel { fill: #c62828; font-weight: bold; }
table { border-collapse: collapse; margin: 8px 0; font-family: ui-monospace, monospace; font-size: 12px; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
#hover { position: fixed; right: 16px; bottom: 16px; max-width: 46ch; white-space: pre-wrap;
         background: #fffde7; border: 1px solid #d6c96b; border-radius: 6px; padding: 8px 10px;
         font: 12px/1.4 ui-monospace, monospace; box-shadow: 0 2px 8px rgba(0,0,0,.15); }
";

const SCRIPT: &str = "
document.querySelectorAll('g.op').forEach(function (g) {
  g.addEventListener('mouseenter', function () {
    document.getElementById('hover').textContent = g.getAttribute('data-info');
  });
});
";
