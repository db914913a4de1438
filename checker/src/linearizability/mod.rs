//! Linearizability checking of key/value histories.
//!
//! A history is a set of client [`Operation`]s, each with the real-time window `[call, ret]` in
//! which it ran and what it returned. It is *linearizable* if the operations can be put in one
//! sequence that (a) a single-copy key/value store would answer exactly as recorded, and (b) keeps
//! every operation that returned before another one was called ahead of it. The lab's KV service
//! must produce linearizable histories; [`check_history`] decides whether one is.
//!
//! # How the search works
//!
//! *Partitioning.* Operations on different keys never constrain each other, so by default the
//! history is split by key and each key is checked on its own (a history is linearizable iff every
//! key's sub-history is). This turns one huge search into many small ones.
//!
//! *Wing & Gong.* For one partition, write every operation's call and return as two entries on a
//! time line and keep them in a doubly linked list. The search walks the list from the front. At a
//! call entry it asks the sequential model whether that operation could take effect now (for a
//! get: does the current value equal what it returned?). If so, it *lifts* the operation (removes
//! both its entries from the list), pushes it on a stack and starts again from the front: the
//! operation is linearized next. If it reaches a return entry instead, the operation it belongs to
//! had to be linearized before this point and wasn't, so the last choice was wrong: pop it, put its
//! entries back (*unlift*) and try the entry after its call. An empty list means everything was
//! placed; an empty stack at a return entry means nothing works: the history is not linearizable.
//!
//! *Lowe's memoisation.* Without help the search is exponential, because it rediscovers the same
//! situation through many orders of the same operations. What matters for the future is only
//! *which* operations were placed and the resulting state of the store, so every such pair is kept
//! in a table and a placement that leads to a pair seen before is skipped. The table is keyed by a
//! hash of both halves: an incrementally updated hash of the placed set and a hash of the model
//! state (hashing the state, not just the set, is what keeps the table's buckets short). Values are
//! represented so that cloning, comparing and hashing a state is O(1) (see `model.rs`).
//!
//! Three further prunings, each sound (they never change a verdict), keep typical lab histories
//! (many clients appending to a few keys) fast:
//! - *Reads are never delayed.* A get that fits where the search is may be placed right there:
//!   any linearization that places it later still works with it moved forward, since it changes
//!   nothing. So the search does not try the alternative of skipping it.
//! - *Unreadable values are one state.* A value that is a prefix of nothing any get of that key
//!   returned can never be observed (until a put replaces it), so all such values are merged. This
//!   collapses the orders of appends that a put overwrites, or that nobody reads.
//! - *Look-ahead.* Values only grow between puts, so after each placement the value must still be
//!   a prefix of what the next few unplaced gets of the key returned, unless a put they may have
//!   read after is still unplaced. A wrong order of concurrent appends is dropped at once instead
//!   of after every way to continue it was tried.
//!
//! The partitions are searched in turns, with slices of work that double each round, so that an
//! easy violation in one key is found without first finishing a hard key. By default the check
//! stops after the round in which a partition turned out illegal
//! ([`CheckOptions::stop_at_first_illegal`]); which partitions finish in which round depends only
//! on step counts, so results are deterministic.
//!
//! *Timeouts and unknown outcomes.* The search may be given a deadline; if it passes, the verdict
//! is [`Verdict::Unknown`] (unless some partition was already found illegal). Linearizability
//! checking is NP-complete: dozens of operations on one key that all overlap can still take
//! exponential time, which is what the timeout is for. An operation whose outcome is unknown
//! (`ret == UNKNOWN_RETURN`) is an operation whose return is at infinity: it may be placed
//! anywhere after its call, including after everything else, which is the same as never
//! happening. A get with an unknown outcome tells nothing and is ignored.
//!
//! *Explaining a violation.* For an illegal partition, the report gives the longest sequence of
//! operations that could be linearized and the operations that real time allows next, none of
//! which the store allows there (with the reason, e.g. the value a get should have seen). The
//! look-ahead cuts sequences short as soon as they are bound to fail, so this comes from a second
//! search without it, bounded in steps (as many as the first search took, at least 2^14 and at
//! most 2^20). [`write_html`] draws it as a picture.
//!
//! ```
//! use checker::linearizability::{check_history, CheckOptions, History, Operation, Verdict};
//!
//! let history = History::new(vec![
//!     Operation::put(0, "k", "a", 0, 10),
//!     Operation::get(1, "k", 5, 15, "a"),  // overlaps the put: may see it
//!     Operation::get(1, "k", 20, 30, ""), // after both: must see "a"
//! ]);
//! let report = check_history(&history, &CheckOptions::default()).unwrap();
//! assert_eq!(report.verdict, Verdict::Illegal);
//! ```

mod edn;
mod history;
mod html;
mod model;
mod search;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

pub use history::{
    History, HistoryError, HistoryFormat, KvInput, KvOp, KvOutput, Operation, UNKNOWN_RETURN,
};
pub use html::{render_html, write_html};

use model::KvModel;
use search::Outcome;

/// How to check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Check each key on its own (default `true`). Turning it off checks the whole history as one
    /// search, which gives the same verdict much more slowly; it exists for comparisons.
    pub partition_by_key: bool,
    /// Give up with [`Verdict::Unknown`] after this long (default: never).
    pub timeout: Option<Duration>,
    /// Stop once a partition is found not linearizable (default `true`). Partitions are searched
    /// in turns with growing slices of work, so this finds the easiest violation first; the ones
    /// that finish within the same turn are reported too, the unfinished ones as
    /// [`PartitionStatus::NotChecked`]. With `false`, every partition is searched to the end.
    pub stop_at_first_illegal: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            partition_by_key: true,
            timeout: None,
            stop_at_first_illegal: true,
        }
    }
}

impl CheckOptions {
    /// Sets [`CheckOptions::partition_by_key`].
    pub fn partition_by_key(mut self, yes: bool) -> Self {
        self.partition_by_key = yes;
        self
    }

    /// Sets [`CheckOptions::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets [`CheckOptions::stop_at_first_illegal`].
    pub fn stop_at_first_illegal(mut self, yes: bool) -> Self {
        self.stop_at_first_illegal = yes;
        self
    }
}

/// The answer for a whole history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Linearizable.
    Ok,
    /// Not linearizable.
    Illegal,
    /// The search ran out of time before finding out.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "linearizable",
            Verdict::Illegal => "NOT linearizable",
            Verdict::Unknown => "unknown (timed out)",
        })
    }
}

/// The answer for one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PartitionStatus {
    Linearizable,
    Illegal,
    /// The deadline passed before this partition's search ended.
    TimedOut,
    /// Left unfinished because another partition was found illegal first
    /// ([`CheckOptions::stop_at_first_illegal`]).
    NotChecked,
}

/// An operation that could not be linearized next after a partition's longest linearizable prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckOperation {
    /// Index into [`History::operations`].
    pub op: usize,
    /// Why it cannot come next, e.g. `get("k") returned "a" but the value is "ab"`.
    pub reason: String,
}

/// What the search found out about one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The partition's key, or `None` when the history was not partitioned.
    pub key: Option<String>,
    /// Its operations (indices into [`History::operations`]), in call order.
    pub operations: Vec<usize>,
    pub status: PartitionStatus,
    /// The longest sequence of operations the search could linearize, in linearization order:
    /// all of them when the partition is linearizable.
    pub linearization: Vec<usize>,
    /// When illegal: the operations that could have come next after `linearization` in real time,
    /// none of which the store allows there.
    pub stuck: Vec<StuckOperation>,
    /// How many tentative placements the search made.
    pub steps: u64,
}

/// Everything needed to explain a verdict, e.g. with [`write_html`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinearizationInfo {
    pub partitions: Vec<PartitionInfo>,
    /// Operations not checked at all: gets whose outcome is unknown.
    pub ignored: Vec<usize>,
}

impl LinearizationInfo {
    /// The verdict these partitions add up to.
    pub fn verdict(&self) -> Verdict {
        let statuses = || self.partitions.iter().map(|p| p.status);
        if statuses().any(|s| s == PartitionStatus::Illegal) {
            Verdict::Illegal
        } else if statuses().all(|s| s == PartitionStatus::Linearizable) {
            Verdict::Ok
        } else {
            Verdict::Unknown
        }
    }
}

/// The result of [`check_history`].
#[derive(Clone, Debug)]
pub struct CheckReport {
    pub verdict: Verdict,
    pub info: LinearizationInfo,
    pub elapsed: Duration,
}

/// Checks whether `history` is linearizable with respect to a key/value store.
///
/// Fails only if the history itself is invalid (an operation that returns before it is called).
pub fn check_history(
    history: &History,
    options: &CheckOptions,
) -> Result<CheckReport, HistoryError> {
    history.validate()?;
    let start = Instant::now();
    let deadline = options.timeout.map(|t| start + t);

    let (partitions, ignored) = partition(history, options.partition_by_key);
    let mut info = LinearizationInfo {
        partitions: partitions
            .into_iter()
            .map(|(key, operations)| PartitionInfo {
                key,
                operations,
                status: PartitionStatus::NotChecked,
                linearization: Vec::new(),
                stuck: Vec::new(),
                steps: 0,
            })
            .collect(),
        ignored,
    };
    race(history, &mut info.partitions, options, deadline);
    Ok(CheckReport {
        verdict: info.verdict(),
        info,
        elapsed: start.elapsed(),
    })
}

/// The first slice of work each partition gets; slices double every round up to `MAX_SLICE`.
const FIRST_SLICE: u64 = 1 << 10;
const MAX_SLICE: u64 = 1 << 22;

/// Runs the searches of all partitions in rounds of slices of growing size, so that a hard
/// partition does not hold up finding an easy violation elsewhere. Which partitions finish in
/// which round depends only on step counts, so the result is deterministic (without a timeout).
fn race(
    history: &History,
    partitions: &mut [PartitionInfo],
    options: &CheckOptions,
    deadline: Option<Instant>,
) {
    let mut searches: Vec<Option<PartitionSearch<'_>>> = partitions
        .iter()
        .map(|p| Some(PartitionSearch::new(history, p.operations.clone())))
        .collect();
    let mut slice = FIRST_SLICE;
    while searches.iter().any(Option::is_some) {
        for (partition, slot) in partitions.iter_mut().zip(searches.iter_mut()) {
            let Some(search) = slot else { continue };
            let outcome = search.search.run(slice, deadline);
            partition.steps = search.search.steps();
            if let Some(outcome) = outcome {
                search.finish(outcome, partition, deadline);
                *slot = None;
            }
        }
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d)
            || partitions
                .iter()
                .any(|p| p.status == PartitionStatus::TimedOut);
        let illegal = partitions
            .iter()
            .any(|p| p.status == PartitionStatus::Illegal);
        if timed_out || (illegal && options.stop_at_first_illegal) {
            let unfinished = if timed_out {
                PartitionStatus::TimedOut
            } else {
                PartitionStatus::NotChecked
            };
            for (partition, slot) in partitions.iter_mut().zip(searches.iter_mut()) {
                if let Some(search) = slot.take() {
                    partition.status = unfinished;
                    partition.linearization = search.linearization();
                }
            }
        }
        slice = (slice * 2).min(MAX_SLICE);
    }
}

/// The search of one partition, with what is needed to report on it.
struct PartitionSearch<'h> {
    ops: Vec<&'h Operation>,
    /// Indices into `History::operations`, by local operation number.
    indices: Vec<usize>,
    search: search::Search<KvModel<'h>>,
}

impl<'h> PartitionSearch<'h> {
    fn new(history: &'h History, indices: Vec<usize>) -> Self {
        let ops: Vec<&Operation> = indices.iter().map(|&i| &history.operations[i]).collect();
        let windows: Vec<(u64, u64)> = ops.iter().map(|op| (op.call, op.ret)).collect();
        let search = search::Search::new(KvModel::new(&ops), &windows);
        Self {
            ops,
            indices,
            search,
        }
    }

    fn linearization(&self) -> Vec<usize> {
        self.search
            .longest()
            .iter()
            .map(|&local| self.indices[local])
            .collect()
    }

    fn finish(
        &mut self,
        outcome: Outcome,
        partition: &mut PartitionInfo,
        deadline: Option<Instant>,
    ) {
        partition.status = match outcome {
            Outcome::Linearizable => PartitionStatus::Linearizable,
            Outcome::Illegal => PartitionStatus::Illegal,
            Outcome::TimedOut => PartitionStatus::TimedOut,
        };
        let mut prefix = self.search.longest().to_vec();
        if outcome == Outcome::Illegal {
            // The look-ahead stops prefixes early; search again without it (within a budget) for
            // the longest prefix that really linearizes, which is the clearer explanation.
            let windows: Vec<(u64, u64)> = self.ops.iter().map(|op| (op.call, op.ret)).collect();
            let mut plain =
                search::Search::new(KvModel::new(&self.ops), &windows).without_look_ahead();
            let budget = self
                .search
                .steps()
                .clamp(EXPLAIN_BUDGET.0, EXPLAIN_BUDGET.1);
            plain.run(budget, deadline);
            if plain.longest().len() > prefix.len() {
                prefix = plain.longest().to_vec();
            }
            partition.stuck = stuck_after(&self.ops, &prefix)
                .into_iter()
                .map(|(local, reason)| StuckOperation {
                    op: self.indices[local],
                    reason,
                })
                .collect();
        }
        partition.linearization = prefix.iter().map(|&local| self.indices[local]).collect();
    }
}

/// Bounds on the steps the explanation of an illegal partition may take (within them: as many
/// as the search that found the violation took).
const EXPLAIN_BUDGET: (u64, u64) = (1 << 14, 1 << 20);

/// A partition: its key (if split by key) and its operations.
type Partition = (Option<String>, Vec<usize>);

/// Splits the checked operations by key (in key order), or keeps them together; also returns the
/// ignored ones. Each partition is in call order.
fn partition(history: &History, by_key: bool) -> (Vec<Partition>, Vec<usize>) {
    let ops = &history.operations;
    let mut ignored = Vec::new();
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.input.op == KvOp::Get && op.is_pending() {
            ignored.push(i);
        } else {
            let key = by_key.then_some(op.input.key.as_str());
            groups.entry(key).or_default().push(i);
        }
    }
    let partitions = groups
        .into_iter()
        .map(|(key, mut members)| {
            members.sort_by_key(|&i| (ops[i].call, ops[i].ret, i));
            (key.map(str::to_owned), members)
        })
        .collect();
    (partitions, ignored)
}

/// The operations that real time allows right after `prefix` but the store does not, with why.
/// (Replays the prefix on plain strings, for messages that show the actual values.)
fn stuck_after(ops: &[&Operation], prefix: &[usize]) -> Vec<(usize, String)> {
    let mut store: BTreeMap<&str, String> = BTreeMap::new();
    let mut placed = vec![false; ops.len()];
    for &i in prefix {
        placed[i] = true;
        let op = ops[i];
        let value = store.entry(op.input.key.as_str()).or_default();
        match op.input.op {
            KvOp::Get => {}
            KvOp::Put => *value = op.input.value.clone(),
            KvOp::Append => value.push_str(&op.input.value),
        }
    }
    let remaining = || (0..ops.len()).filter(|&i| !placed[i]);
    let Some(first_return) = remaining().map(|i| ops[i].ret).min() else {
        return Vec::new();
    };
    let candidates: Vec<usize> = remaining()
        .filter(|&i| ops[i].call <= first_return)
        .collect();
    let mut stuck = Vec::new();
    for &i in &candidates {
        let op = ops[i];
        let value = store.get(op.input.key.as_str()).map_or("", String::as_str);
        if op.input.op == KvOp::Get && op.output.value != value {
            let reason = format!(
                "get({:?}) returned {:?} but the value at this point is {:?}",
                op.input.key, op.output.value, value
            );
            stuck.push((i, reason));
        }
    }
    if stuck.is_empty() {
        // The prefix is not a longest one (the explanation search ran out of budget): these fit
        // here, but every way to go on from them fails later.
        for i in candidates {
            let reason = format!(
                "{} fits here, but every way to go on from there fails",
                ops[i].describe()
            );
            stuck.push((i, reason));
        }
    }
    stuck
}
