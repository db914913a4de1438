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
//!
//! With [`PictureOptions`], the picture also carries what happened to the system meanwhile
//! ([`Annotation`]s: partitions, crashes, leaders), drawn on rows above the clients on the same
//! axis (an annotation's times are placed between the calls and returns around them), and the axis
//! is labelled in virtual milliseconds when the history's times are nanoseconds. The details of
//! what the pointer is on go to a panel beside the charts, never over them, and the page opens
//! scrolled to the first operation that could not be placed.

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
/// A timeline with few events is spread over about this width.
const WIDE: f64 = 1000.0;
const ROW: f64 = 36.0;
const BAR: f64 = 20.0;
/// Rows and bars when a timeline has more than [`MANY_ROWS`] rows.
const ROW_SMALL: f64 = 22.0;
const BAR_SMALL: f64 = 15.0;
const MANY_ROWS: usize = 16;
const TOP: f64 = 38.0;

/// What an [`Annotation`] marks, which decides how it is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnnotationKind {
    /// The network was split: drawn on its row and shaded across the clients' rows.
    Partition,
    /// A server was down.
    Crash,
    /// A server led (the label says which term).
    Leader,
    /// Anything else (an instant when `start == end`).
    Note,
}

/// Something that happened to the system while the history was recorded, drawn on the history's
/// time axis: on row `row` (a server's name, `network`, ...; rows keep the order in which they
/// first appear) from `start` to `end` (the history's time unit; `start == end`: an instant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub row: String,
    pub start: u64,
    pub end: u64,
    pub kind: AnnotationKind,
    /// Drawn in the bar when it fits (cut otherwise).
    pub label: String,
    /// Shown in full on hover.
    pub detail: String,
}

/// How to draw a picture beyond the history itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PictureOptions {
    /// Drawn above the clients, on the same axis.
    pub annotations: Vec<Annotation>,
    /// The history's times are nanoseconds (of virtual time): the axis says milliseconds.
    pub nanoseconds: bool,
}

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

/// [`render_html_annotated`]'s picture, written to `path`.
pub fn write_html_annotated(
    history: &History,
    info: &LinearizationInfo,
    options: &PictureOptions,
    path: &Path,
) -> Result<(), HistoryError> {
    let page = render_html_annotated(history, info, options);
    std::fs::write(path, page).map_err(|source| HistoryError::Write {
        path: path.to_owned(),
        source,
    })
}

/// The picture of `history` and what the checker found out about it, as one HTML document, for
/// the built-in model it was checked against (`info.model`, else the one the operations suggest).
pub fn render_html(history: &History, info: &LinearizationInfo) -> String {
    render_html_annotated(history, info, &PictureOptions::default())
}

/// [`render_html`] with `options`: what happened to the system meanwhile, drawn on the same axis.
pub fn render_html_annotated(
    history: &History,
    info: &LinearizationInfo,
    options: &PictureOptions,
) -> String {
    match info
        .model
        .unwrap_or_else(|| ModelKind::infer(&history.operations))
    {
        ModelKind::Kv => render_model(&Kv, history, info, options),
        ModelKind::Register => render_model(&Register::default(), history, info, options),
        ModelKind::VersionedKv => render_model(&VersionedKv::default(), history, info, options),
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
    render_model(model, history, info, &PictureOptions::default())
}

fn render_model<M: Model>(
    model: &M,
    history: &History<M::Input, M::Output>,
    info: &LinearizationInfo,
    options: &PictureOptions,
) -> String {
    let verdict = info.verdict();
    let ops = views(model, history);
    let mut out = String::with_capacity(64 * 1024);
    let title = format!("Linearizability: {verdict}");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n<script>{ERROR_HOOK}</script>\n</head>\n<body>\n\
         <div id=\"page\"><main>\n",
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
    if !options.annotations.is_empty() {
        let count = |kind| {
            (options.annotations.iter())
                .filter(|a| a.kind == kind)
                .count()
        };
        let _ = writeln!(
            out,
            "<p class=\"legend\" id=\"faults\">Above the clients, on the same axis, what happened \
             to the system: {} partition(s) <span class=\"sw part\"></span> (also shaded behind \
             the clients), {} crash(es) <span class=\"sw crash\"></span>, {} leader term(s) \
             <span class=\"sw leader\"></span>{}.</p>",
            count(AnnotationKind::Partition),
            count(AnnotationKind::Crash),
            count(AnnotationKind::Leader),
            match count(AnnotationKind::Note) {
                0 => String::new(),
                n => format!(", {n} other event(s)"),
            }
        );
    }

    // Draw what explains the verdict; list the rest.
    let is_drawn = |p: &PartitionInfo| match p.status {
        PartitionStatus::Illegal | PartitionStatus::TimedOut | PartitionStatus::MemoryLimit => true,
        PartitionStatus::Linearizable => verdict == Verdict::Ok,
        PartitionStatus::NotChecked => false,
    };
    for partition in info.partitions.iter().filter(|p| is_drawn(p)) {
        let states = states_along(model, history, &partition.linearization);
        render_partition(&mut out, &ops, info, partition, &states, options);
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
    out.push_str(
        "</main>\n<aside id=\"hover\">Point at an operation (or a fault) to see its details.</aside>\n</div>\n",
    );
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
    options: &PictureOptions,
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
    let mut below = String::new();
    match partition.status {
        PartitionStatus::Illegal => {
            let _ = writeln!(
                out,
                "<p>The longest linearizable prefix the search found has {placed} of the {total} \
                 operations (green, numbered in order). After it, real time allows the red ones \
                 next, and the model allows none of them (why: under the chart).</p>"
            );
            // Under the chart, so that long values do not push it down.
            let _ = write!(below, "<p>Could not come next:</p>\n<ul class=\"stuck\">");
            for s in &partition.stuck {
                let _ = write!(
                    below,
                    "<li><strong>{}</strong>: {}</li>",
                    ops[s.op].who(),
                    esc(&s.reason)
                );
            }
            below.push_str("</ul>\n");
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
    render_timeline(out, ops, &shown, &role, &reasons, partition, options);
    out.push_str(&below);
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

/// Where time `t` lies on a compressed axis whose slot `s` is at time `times[s]` (sorted): at its
/// slot, or between the two slots around it in proportion to time; before the first slot, half a
/// slot to its left, after the last, half a slot to its right.
fn slot_of_time(times: &[u64], t: u64) -> f64 {
    let Some((&first, &last)) = times.first().zip(times.last()) else {
        return 0.0;
    };
    if t < first {
        return -0.5;
    }
    if t > last {
        return times.len() as f64 - 0.5;
    }
    let hi = times.partition_point(|&x| x < t);
    if times[hi] == t || hi == 0 {
        return hi as f64;
    }
    let (a, b) = (times[hi - 1], times[hi]);
    (hi - 1) as f64 + (t - a) as f64 / (b - a) as f64
}

/// A time as the axis and the hover texts say it.
fn show_time(t: u64, nanoseconds: bool) -> String {
    match nanoseconds {
        true => format!("{:.1} ms", t as f64 / 1e6),
        false => format!("t={t}"),
    }
}

fn annotation_class(kind: AnnotationKind) -> &'static str {
    match kind {
        AnnotationKind::Partition => "part",
        AnnotationKind::Crash => "crash",
        AnnotationKind::Leader => "leader",
        AnnotationKind::Note => "note",
    }
}

fn render_timeline(
    out: &mut String,
    ops: &[View],
    shown: &[usize],
    role: &HashMap<usize, Role>,
    reasons: &HashMap<usize, &str>,
    partition: &PartitionInfo,
    options: &PictureOptions,
) {
    if shown.is_empty() {
        return;
    }
    let ns = options.nanoseconds;
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
    let times: Vec<u64> = events.iter().map(|&(t, _)| t).collect();
    let slots = events.len();
    let (lo, hi) = (times[0], times[slots - 1]);
    // The annotations in this window (one that began before it is drawn from its left edge), and
    // their rows, in the order the rows first appear.
    let annotations: Vec<&Annotation> = (options.annotations.iter())
        .filter(|a| a.start <= hi && a.end.max(a.start) >= lo)
        .collect();
    let mut fault_rows: Vec<&str> = Vec::new();
    for a in &options.annotations {
        if !fault_rows.contains(&a.row.as_str()) {
            fault_rows.push(&a.row);
        }
    }
    let rows: BTreeMap<(u64, usize), usize> = shown
        .iter()
        .map(|&i| ops[i].row())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(row, client)| (client, row + fault_rows.len()))
        .collect();
    let (row_h, bar_h) = match rows.len() + fault_rows.len() > MANY_ROWS {
        true => (ROW_SMALL, BAR_SMALL),
        false => (ROW, BAR),
    };
    // A few events get wider slots, so that their labels (and the faults') can be read.
    let step = ((WIDE - LEFT) / (slots as f64 + 1.0)).clamp(STEP, 5.0 * STEP);
    let x = |s: f64| LEFT + step * (s + 0.5);
    let right = x(slots as f64 + 1.0);
    let width = right + 16.0;
    let height = TOP + row_h * (rows.len() + fault_rows.len()) as f64 + 8.0;
    let call_slot = |i: usize| slot[&(ops[i].call, 0)] as f64;
    let ret_x = |i: usize| match ops[i].is_pending() {
        true => right,
        false => x(slot[&(ops[i].ret, 1)] as f64),
    };
    let row_y = |i: usize| TOP + row_h * rows[&ops[i].row()] as f64;
    let clients_top = TOP + row_h * fault_rows.len() as f64;

    let _ = writeln!(
        out,
        "<div class=\"scroll\"><svg width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">"
    );
    // Partitions shade the clients' rows behind everything.
    let time_x = |t: u64| x(slot_of_time(&times, t)).clamp(LEFT, right);
    for a in annotations
        .iter()
        .filter(|a| a.kind == AnnotationKind::Partition)
    {
        let (x0, x1) = (time_x(a.start), time_x(a.end.max(a.start)));
        let _ = writeln!(
            out,
            "<rect class=\"partshade\" x=\"{x0:.1}\" y=\"{clients_top:.1}\" width=\"{:.1}\" \
             height=\"{:.1}\"/>",
            (x1 - x0).max(1.0),
            height - 8.0 - clients_top
        );
    }
    // Row labels and guides: the fault rows, then the clients.
    let fault_row_names = fault_rows.iter().enumerate().map(|(r, name)| {
        let y = TOP + row_h * r as f64;
        (y, (*name).to_owned(), "faultrow")
    });
    let client_row_names = rows.iter().map(|(&(client, lane), &row)| {
        let y = TOP + row_h * row as f64;
        let name = match lane {
            0 => format!("client {client}"),
            lane => format!("client {client} ({})", lane + 1),
        };
        (y, name, "client")
    });
    for (y, name, class) in fault_row_names.chain(client_row_names) {
        let _ = writeln!(
            out,
            "<line class=\"guide\" x1=\"{LEFT}\" x2=\"{right:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
             <text class=\"{class}\" x=\"8\" y=\"{:.1}\">{}</text>",
            y + row_h / 2.0,
            y + row_h / 2.0,
            y + row_h / 2.0 + 4.0,
            esc(&name)
        );
    }
    if !fault_rows.is_empty() {
        let _ = writeln!(
            out,
            "<line class=\"faultsep\" x1=\"0\" x2=\"{right:.1}\" y1=\"{clients_top:.1}\" y2=\"{clients_top:.1}\"/>"
        );
    }
    // Time labels, spaced so that they do not overlap.
    let label_w = if ns { 76.0 } else { 60.0 };
    let every = ((label_w / step).ceil() as usize).max(slots / 40).max(1);
    for (s, time) in times.iter().enumerate().step_by(every) {
        let _ = write!(
            out,
            "<text class=\"tick\" x=\"{:.1}\" y=\"14\">{}</text>",
            x(s as f64),
            show_time(*time, ns)
        );
    }
    out.push('\n');

    // The faults, on their rows.
    for a in &annotations {
        let r = fault_rows.iter().position(|&n| n == a.row).unwrap_or(0);
        let y = TOP + row_h * r as f64 + (row_h - bar_h) / 2.0;
        let (x0, x1) = (time_x(a.start), time_x(a.end.max(a.start)));
        let when = match a.end > a.start {
            true => format!(
                "from {} to {}",
                show_time(a.start, ns),
                show_time(a.end, ns)
            ),
            false => format!("at {}", show_time(a.start, ns)),
        };
        let details = format!("{}: {}\n{when}", a.row, a.detail);
        let class = annotation_class(a.kind);
        let w = (x1 - x0).max(3.0);
        let _ = write!(
            out,
            "<g class=\"fault {class}\" data-info=\"{}\"><rect x=\"{x0:.1}\" y=\"{y:.1}\" \
             width=\"{w:.1}\" height=\"{bar_h}\" rx=\"2\"/>",
            esc(&details)
        );
        let fit = ((w - 4.0) / 6.6).floor().max(0.0) as usize;
        if fit >= 2 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x0 + 2.0,
                y + bar_h / 2.0 + 4.0,
                esc(&clip(&a.label, fit))
            );
        }
        out.push_str("</g>\n");
    }

    // Bars.
    for &i in shown {
        let op = &ops[i];
        let r = role.get(&i).copied().unwrap_or(Role::NotReached);
        let (x0, x1) = (x(call_slot(i)) - step * 0.35, ret_x(i) + step * 0.35);
        let y = row_y(i) + (row_h - bar_h) / 2.0;
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
            false => show_time(op.ret, ns),
        };
        let details = format!(
            "{} · {}\ncalled at {}, returned at {}\n{}",
            op.who(),
            op.text,
            show_time(op.call, ns),
            ret,
            status
        );
        let label = &op.label;
        let fit = ((x1 - x0 - 6.0) / 6.6).floor().max(0.0) as usize;
        let _ = write!(
            out,
            "<g class=\"{class}\" data-info=\"{}\">\
             <rect x=\"{x0:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar_h}\" rx=\"4\"/>",
            esc(&details),
            x1 - x0
        );
        if fit >= 3 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                x0 + 4.0,
                y + bar_h / 2.0 + 4.0,
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
        path.push((pos, x(p), row_y(i) + (row_h - bar_h) / 2.0 - 1.0));
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
    let radius = (bar_h / 3.0).min(6.5);
    for (pos, px, py) in &path {
        let _ = writeln!(
            out,
            "<circle class=\"point\" cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"{radius:.1}\"/>\
             <text class=\"order\" x=\"{px:.1}\" y=\"{:.1}\">{}</text>",
            py + 3.5,
            pos + 1
        );
    }
    if partition.status == PartitionStatus::Illegal {
        let at = path
            .last()
            .map_or(x(0.0) - step * 0.5, |&(_, px, _)| px + step * 0.5);
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
not their durations (its labels are the times). Point at a bar for its details.</p>\n";

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; }
#page { display: flex; gap: 16px; align-items: flex-start; }
main { flex: 1 1 auto; min-width: 0; }
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
.sw.part { background: #f3c6d4; border-color: #b0456b; }
.sw.crash { background: #777; border-color: #444; }
.sw.leader { background: #f2c94c; border-color: #b08a1c; }
ul.stuck { max-height: 9em; overflow: auto; }
ul.stuck li { margin: 2px 0; font-family: ui-monospace, monospace; word-break: break-all; }
.note { color: #555; font-style: italic; }
.scroll { overflow-x: auto; border: 1px solid #e0e0e0; border-radius: 6px; background: #fcfcfc; }
svg text { font: 11px ui-monospace, monospace; }
.client { fill: #333; font-weight: bold; }
.faultrow { fill: #6a4b8a; font-weight: bold; }
.faultsep { stroke: #bbb; }
.partshade { fill: #f3c6d4; opacity: 0.35; pointer-events: none; }
.fault rect { stroke-width: 1; }
.fault:hover rect { stroke-width: 3; }
.fault text { pointer-events: none; fill: #222; font-size: 10px; }
.fault.part rect { fill: #f3c6d4; stroke: #b0456b; }
.fault.crash rect { fill: #777; stroke: #444; }
.fault.crash text { fill: #fff; }
.fault.leader rect { fill: #f2c94c; stroke: #b08a1c; }
.fault.note rect { fill: #cfd8dc; stroke: #607d8b; }
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
#hover { flex: 0 0 34ch; position: sticky; top: 12px; max-height: 90vh; overflow: auto;
         white-space: pre-wrap; overflow-wrap: anywhere; background: #fffde7; border: 1px solid #d6c96b; border-radius: 6px; padding: 8px 10px;
         font: 12px/1.4 ui-monospace, monospace; box-shadow: 0 2px 8px rgba(0,0,0,.15); }
";

/// Runs first: a script error anywhere on the page shows up on it (the browser tests look for it).
const ERROR_HOOK: &str = "
window.onerror = function (msg) {
  var d = document.createElement('div');
  d.id = 'js-error';
  d.textContent = 'page error: ' + msg;
  (document.body || document.documentElement).appendChild(d);
};
";

const SCRIPT: &str = "
document.querySelectorAll('g.op, g.fault').forEach(function (g) {
  g.addEventListener('mouseenter', function () {
    document.getElementById('hover').textContent = g.getAttribute('data-info');
  });
});
(function () {
  var stuck = document.querySelector('g.op.stuck');
  if (!stuck) return;
  document.getElementById('hover').textContent = stuck.getAttribute('data-info');
  function show() { stuck.scrollIntoView({ block: 'nearest', inline: 'center' }); }
  // Now, and again once fonts and layout have settled (they can move the chart).
  show();
  window.addEventListener('load', show);
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(show);
})();
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckOptions, Operation, check_history};

    const MS: u64 = 1_000_000;

    /// A stale read on key "k" (client 3 reads "" after client 1's put returned), with times in
    /// virtual nanoseconds, and a partition, a crash and a leader around it.
    fn stale_read() -> (History, LinearizationInfo, PictureOptions) {
        let history = History::new(vec![
            Operation::put(1, "k", "a", 10 * MS, 20 * MS),
            Operation::get(2, "k", 30 * MS, 40 * MS, "a"),
            Operation::get(3, "k", 50 * MS, 60 * MS, ""),
        ]);
        let report = check_history(&history, &CheckOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Illegal);
        let annotation = |row: &str, start, end, kind, label: &str| Annotation {
            row: row.into(),
            start,
            end,
            kind,
            label: label.into(),
            detail: format!("{label} <details>"),
        };
        let options = PictureOptions {
            annotations: vec![
                annotation("s0", 0, 35 * MS, AnnotationKind::Leader, "leader T1"),
                annotation(
                    "network",
                    25 * MS,
                    55 * MS,
                    AnnotationKind::Partition,
                    "partition [0] | [1, 2]",
                ),
                annotation("s1", 42 * MS, 70 * MS, AnnotationKind::Crash, "down"),
                // Long after the history: not drawn.
                annotation("s2", 900 * MS, 950 * MS, AnnotationKind::Crash, "later"),
            ],
            nanoseconds: true,
        };
        (history, report.info, options)
    }

    /// The `x` attribute of the first `<rect>` after `marker` in `page`.
    fn rect_x(page: &str, marker: &str) -> f64 {
        let at = page
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} not in the page"));
        let rest = &page[at..];
        let x = &rest[rest.find("<rect x=\"").unwrap() + 9..];
        x[..x.find('"').unwrap()].parse().unwrap()
    }

    #[test]
    fn faults_are_drawn_on_their_rows_on_the_operations_axis() {
        let (history, info, options) = stale_read();
        let page = render_html_annotated(&history, &info, &options);
        for text in [
            ">s0</text>",
            ">network</text>",
            ">s1</text>",
            "class=\"partshade\"",
            "1 partition(s)",
            "partition [0] | [1, 2] &lt;details&gt;",
            "from 25.0 ms to 55.0 ms",
            ">10.0 ms</text>",
        ] {
            assert!(page.contains(text), "{text} missing");
        }
        assert!(!page.contains(">s2</text>") || !page.contains("later &lt;"));
        assert!(!page.contains("later &lt;details"), "outside the window");
        // The partition begins between the put's return (20 ms) and the first get's call (30 ms),
        // and the crash after the first get returned (40 ms): on the operations' axis.
        let put = rect_x(&page, "client 1 · put");
        let get = rect_x(&page, "client 2 · get");
        let part = rect_x(&page, "class=\"fault part\"");
        let crash = rect_x(&page, "class=\"fault crash\"");
        assert!(put < part && part < get, "{put} < {part} < {get}");
        assert!(crash > get, "{crash} > {get}");
        // Fault rows come first; clients below.
        let network_y = page.find(">network</text>").unwrap();
        let client_y = page.find(">client 1</text>").unwrap();
        assert!(network_y < client_y);
    }

    #[test]
    fn the_page_opens_on_the_stuck_operation_and_details_stay_beside_the_chart() {
        let (history, info, options) = stale_read();
        let page = render_html_annotated(&history, &info, &options);
        assert!(page.contains("scrollIntoView"));
        assert!(page.contains("class=\"op stuck\""));
        assert!(page.contains("<aside id=\"hover\">"));
        assert!(!page.contains("position: fixed"), "no panel over the chart");
        assert!(
            !page.contains("<title>client"),
            "no native tooltips over the chart"
        );
    }

    #[test]
    fn without_options_the_axis_keeps_the_history_s_own_units() {
        let (history, info, _) = stale_read();
        let page = render_html(&history, &info);
        assert!(page.contains(">t=10000000</text>"));
        assert!(!page.contains("class=\"fault"));
    }

    #[test]
    fn times_between_slots_are_placed_in_proportion() {
        let times = [10, 20, 20, 40];
        assert_eq!(slot_of_time(&times, 5), -0.5);
        assert_eq!(slot_of_time(&times, 10), 0.0);
        assert_eq!(slot_of_time(&times, 15), 0.5);
        assert_eq!(slot_of_time(&times, 20), 1.0);
        assert_eq!(slot_of_time(&times, 30), 2.5);
        assert_eq!(slot_of_time(&times, 99), 3.5);
        assert_eq!(slot_of_time(&[], 3), 0.0);
    }

    #[test]
    fn many_clients_get_smaller_rows() {
        let mut ops: Vec<Operation> = (0..30)
            .map(|c| Operation::append(c, "k", &format!("x{c}"), c * 10, c * 10 + 5))
            .collect();
        ops.push(Operation::get(99, "k", 1000, 1001, "nope"));
        let history = History::new(ops);
        let report = check_history(&history, &CheckOptions::default()).unwrap();
        let page = render_html(&history, &report.info);
        assert!(page.contains(&format!("height=\"{BAR_SMALL}\"")));
        let height: f64 = {
            let at = page.find("<svg width=").unwrap();
            let h = &page[at..][page[at..].find("height=\"").unwrap() + 8..];
            h[..h.find('"').unwrap()].parse().unwrap()
        };
        assert!(height < 31.0 * ROW, "{height}");
    }
}
