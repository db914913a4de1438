//! Linearizability checking of recorded histories: key/value stores, registers, versioned stores.
//!
//! A history is a set of client [`Operation`]s, each with the real-time window `[call, ret]` in
//! which it ran and what it returned. It is *linearizable* if the operations can be put in one
//! sequence that (a) a single copy of the object, as a sequential [`Model`] describes it, would
//! answer exactly as recorded, and (b) keeps every operation that returned before another one was
//! called ahead of it. The lab's KV service must produce linearizable histories;
//! [`check_history`] decides whether one is, for the three built-in models ([`ModelKind`]: the
//! labs' key/value store, Jepsen's compare-and-set register, the versioned key/value store of the
//! current MIT labs), and [`check_operations`] for any other model.
//!
//! *Outcomes, as Jepsen (Knossos) defines them.* An operation that returned (`:ok`) took effect
//! exactly once between its call and its return. One whose outcome is unknown (`:info`, or never
//! returned: `ret == UNKNOWN_RETURN`) took effect once at any point after its call, or never. One
//! that failed (`:fail`) did not take effect: it is left out of the search entirely (readers put
//! it in [`History::failed`]), so it constrains nothing, not even by its window. Jepsen's etcd
//! tests record a cas that ran and found another value as `:fail`; such a cas may be read either
//! way ([`FailedCas`]): left out, or kept as a cas that returned "not found" ([`Status::Fail`]),
//! which changed nothing and says the register did not hold the expected value at some point of
//! its window. A Jepsen process that gets `:info` is replaced by a new process id, so its later
//! operations never wait for the unknown one; a history that reuses the id is read the same way.
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
//! (Here the calls before the first return are tried earliest return first rather than in list
//! order, and operations with unknown outcome are kept out of the list: see `search.rs`.)
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
//! *Registers.* Register partitions are searched with interned values and their own look-ahead,
//! and a check before the search finds reads of a value certainly overwritten before they began
//! (see `register_search.rs`); the versioned store and models of labs are searched through the
//! [`Model`] trait directly.
//!
//! *Unknown outcomes.* An operation whose outcome is unknown may be placed anywhere after its
//! call, or not at all. The search tries such operations only when it is stuck, one of each set
//! of identical ones, never where they would change nothing, and prunes a placement when one
//! seen before reached the same point with a subset of them (see `search.rs`). A read whose
//! outcome is unknown tells nothing and is ignored.
//!
//! *Timeouts and memory.* The search may be given a deadline; if it passes, the verdict is
//! [`Verdict::Unknown`] (unless some partition was already found illegal). The memo table is
//! bounded too ([`CheckOptions::memory_limit`]); a partition whose search reaches the bound is
//! given up, also with an unknown verdict, instead of running out of memory. Linearizability
//! checking is NP-complete: dozens of operations on one key that all overlap can still take
//! exponential time, which is what these bounds are for.
//!
//! *Explaining a violation.* For an illegal partition, the report gives the longest sequence of
//! operations that could be linearized and the operations that real time allows next, none of
//! which the model allows there (with the reason, e.g. the value a get should have seen). The
//! key/value look-ahead cuts sequences short as soon as they are bound to fail, so this comes from a second
//! search without it, bounded in steps (as many as the first search took, at least 2^14 and at
//! most 2^20). [`write_html`] draws it as a picture.
//!
//! ```
//! use linearizability::{check_history, CheckOptions, History, Operation, Verdict};
//!
//! let history = History::new(vec![
//!     Operation::put(0, "k", "a", 0, 10),
//!     Operation::get(1, "k", 5, 15, "a"),  // overlaps the put: may see it
//!     Operation::get(1, "k", 20, 30, ""), // after both: must see "a"
//! ]);
//! let report = check_history(&history, &CheckOptions::default()).unwrap();
//! assert_eq!(report.verdict, Verdict::Illegal);
//! ```

mod adapter;
mod edn;
mod history;
mod html;
mod kv_search;
mod log;
mod model;
mod register_search;
mod search;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

pub use history::{
    FailedCas, History, HistoryError, HistoryFormat, Input, KvInput, KvOp, KvOutput, OpKind,
    Operation, Output, ReadOptions, Status, UNKNOWN_RETURN, register_value,
};
pub use html::{
    Annotation, AnnotationKind, PictureOptions, render_html, render_html_annotated,
    render_html_with, write_html, write_html_annotated,
};
pub use model::{Kv, Model, ModelKind, Register, RegisterState, VersionedKv, VersionedState};

use adapter::Adapter;
use kv_search::KvModel;
use register_search::RegisterModel;
use search::{Outcome, Search};

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
    /// The model to check against (default: [`ModelKind::infer`] from the operations). Only
    /// [`check_history`] reads it.
    pub model: Option<ModelKind>,
    /// About how many bytes the searches' memo tables may hold together (default 2 GiB); a
    /// partition whose search needs more is given up ([`PartitionStatus::MemoryLimit`]).
    pub memory_limit: usize,
}

/// The default [`CheckOptions::memory_limit`]: 2 GiB.
pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            partition_by_key: true,
            timeout: None,
            stop_at_first_illegal: true,
            model: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
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

    /// Sets [`CheckOptions::model`].
    pub fn model(mut self, model: ModelKind) -> Self {
        self.model = Some(model);
        self
    }

    /// Sets [`CheckOptions::memory_limit`] (bytes).
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = bytes;
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
    /// The search ran out of time or memory before finding out.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "linearizable",
            Verdict::Illegal => "NOT linearizable",
            Verdict::Unknown => "unknown",
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
    /// The search's memo table reached [`CheckOptions::memory_limit`] before it ended.
    MemoryLimit,
    /// Left unfinished because another partition was found illegal first
    /// ([`CheckOptions::stop_at_first_illegal`]).
    NotChecked,
}

/// An operation that could not be linearized next after a partition's longest linearizable prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckOperation {
    /// Index into [`History::operations`].
    pub op: usize,
    /// Why it cannot come next, e.g. `get("k") returned "a" but the value at this point is "ab"`.
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
    /// when the partition is linearizable, every operation that returned, and the operations
    /// with unknown outcome that took effect (the others did not, or did after everything).
    pub linearization: Vec<usize>,
    /// When illegal: the operations that could have come next after `linearization` in real time,
    /// none of which the model allows there.
    pub stuck: Vec<StuckOperation>,
    /// How many tentative placements the search made.
    pub steps: u64,
}

/// Everything needed to explain a verdict, e.g. with [`write_html`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinearizationInfo {
    pub partitions: Vec<PartitionInfo>,
    /// Operations not checked at all: reads whose outcome is unknown.
    pub ignored: Vec<usize>,
    /// The built-in model checked against (`None` for another [`Model`]).
    pub model: Option<ModelKind>,
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

/// Checks whether `history` is linearizable with respect to a built-in model:
/// [`CheckOptions::model`], or else the one [`ModelKind::infer`] picks from the operations.
///
/// Fails only if the history itself is invalid (an operation that returns before it is called)
/// or has an operation the model does not know.
pub fn check_history(
    history: &History,
    options: &CheckOptions,
) -> Result<CheckReport, HistoryError> {
    let kind = options
        .model
        .unwrap_or_else(|| ModelKind::infer(&history.operations));
    let ops = &history.operations;
    let mut report = match kind {
        ModelKind::Kv => {
            let make = |members: Vec<usize>| -> Box<dyn Runner + '_> {
                let partition: Vec<&Operation> = members.iter().map(|&i| &ops[i]).collect();
                Box::new(PartitionRun::new(
                    members,
                    ops,
                    move || KvModel::new(&partition),
                    true,
                ))
            };
            check(&Kv, ops, options, &make)
        }
        ModelKind::Register => {
            let make = |members: Vec<usize>| -> Box<dyn Runner + '_> {
                let partition: Vec<&Operation> = members.iter().map(|&i| &ops[i]).collect();
                Box::new(PartitionRun::new(
                    members,
                    ops,
                    move || RegisterModel::new(&partition),
                    true,
                ))
            };
            check(&Register::default(), ops, options, &make)
        }
        ModelKind::VersionedKv => check_operations(&VersionedKv::default(), ops, options),
    }?;
    report.info.model = Some(kind);
    Ok(report)
}

/// Checks whether `operations` are linearizable with respect to `model` (any [`Model`], e.g. a
/// lab's own). [`CheckOptions::model`] is not used.
pub fn check_operations<M: Model>(
    model: &M,
    operations: &[Operation<M::Input, M::Output>],
    options: &CheckOptions,
) -> Result<CheckReport, HistoryError> {
    let make = |members: Vec<usize>| -> Box<dyn Runner + '_> {
        let partition: Vec<&Operation<M::Input, M::Output>> =
            members.iter().map(|&i| &operations[i]).collect();
        Box::new(PartitionRun::new(
            members,
            operations,
            move || Adapter::new(model, partition.clone()),
            false,
        ))
    };
    check(model, operations, options, &make)
}

/// The search of one partition, seen from the race between partitions.
trait Runner {
    /// Searches on (see [`Search::run`]).
    fn run(&mut self, budget: u64, deadline: Option<Instant>, memory: usize) -> Option<Outcome>;
    fn steps(&self) -> u64;
    /// Bytes held by its memo table.
    fn memory(&self) -> usize;
    /// The longest sequence placed (indices into the history).
    fn longest(&self) -> Vec<usize>;
    /// For an illegal partition: the longest linearizable prefix a search without look-ahead finds
    /// within `budget` placements (indices into the history).
    fn explain(&self, budget: u64, deadline: Option<Instant>, memory: usize) -> Vec<usize>;
}

struct PartitionRun<S: search::Model, F: Fn() -> S> {
    /// Indices into the history, by local operation number.
    indices: Vec<usize>,
    windows: Vec<(u64, u64)>,
    make: F,
    search: Search<S>,
    /// Whether the model has a look-ahead (then `explain` searches again without it).
    look_ahead: bool,
}

impl<S: search::Model, F: Fn() -> S> PartitionRun<S, F> {
    fn new<I, O>(indices: Vec<usize>, ops: &[Operation<I, O>], make: F, look_ahead: bool) -> Self {
        let windows: Vec<(u64, u64)> = indices.iter().map(|&i| (ops[i].call, ops[i].ret)).collect();
        let search = Search::new(make(), &windows);
        Self {
            indices,
            windows,
            make,
            search,
            look_ahead,
        }
    }

    fn global(&self, local: &[usize]) -> Vec<usize> {
        local.iter().map(|&l| self.indices[l]).collect()
    }
}

impl<S: search::Model, F: Fn() -> S> Runner for PartitionRun<S, F> {
    fn run(&mut self, budget: u64, deadline: Option<Instant>, memory: usize) -> Option<Outcome> {
        self.search.run(budget, deadline, memory)
    }

    fn steps(&self) -> u64 {
        self.search.steps()
    }

    fn memory(&self) -> usize {
        self.search.memory()
    }

    fn longest(&self) -> Vec<usize> {
        self.global(self.search.longest())
    }

    fn explain(&self, budget: u64, deadline: Option<Instant>, memory: usize) -> Vec<usize> {
        let mut prefix = self.search.longest().to_vec();
        if self.look_ahead {
            // The look-ahead stops prefixes early; search again without it (within a budget) for
            // the longest prefix that really linearizes, which is the clearer explanation.
            let mut plain = Search::new((self.make)(), &self.windows).without_look_ahead();
            plain.run(budget, deadline, memory);
            if plain.longest_score() > self.search.longest_score() {
                prefix = plain.longest().to_vec();
            }
        }
        self.global(&prefix)
    }
}

/// Builds the search of a partition from its operations (indices into the history).
type MakeRunner<'a> = dyn Fn(Vec<usize>) -> Box<dyn Runner + 'a> + 'a;

fn check<'a, M: Model>(
    model: &M,
    ops: &'a [Operation<M::Input, M::Output>],
    options: &CheckOptions,
    make: &MakeRunner<'a>,
) -> Result<CheckReport, HistoryError> {
    history::validate(ops)?;
    for (index, op) in ops.iter().enumerate() {
        model
            .supports(&op.input, op.known_output())
            .map_err(|reason| HistoryError::Unsupported {
                index,
                operation: model.describe_operation(&op.input, op.known_output()),
                model: model.name(),
                reason,
            })?;
    }
    let start = Instant::now();
    let deadline = options.timeout.map(|t| start + t);

    let (partitions, ignored) = partition(model, ops, options.partition_by_key);
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
        model: None,
    };
    let mut runners: Vec<Option<Box<dyn Runner + 'a>>> = info
        .partitions
        .iter()
        .map(|p| Some(make(p.operations.clone())))
        .collect();
    race(&mut info.partitions, &mut runners, options, deadline);
    for p in &mut info.partitions {
        if p.status == PartitionStatus::Illegal {
            p.stuck = stuck_after(model, ops, &p.operations, &p.linearization)
                .into_iter()
                .map(|(op, reason)| StuckOperation { op, reason })
                .collect();
        }
    }
    Ok(CheckReport {
        verdict: info.verdict(),
        info,
        elapsed: start.elapsed(),
    })
}

/// The first slice of work each partition gets; slices double every round up to `MAX_SLICE`.
const FIRST_SLICE: u64 = 1 << 10;
const MAX_SLICE: u64 = 1 << 22;

/// Bounds on the steps the explanation of an illegal partition may take (within them: as many
/// as the search that found the violation took).
const EXPLAIN_BUDGET: (u64, u64) = (1 << 14, 1 << 20);

/// Runs the searches of all partitions in rounds of slices of growing size, so that a hard
/// partition does not hold up finding an easy violation elsewhere. Which partitions finish in
/// which round depends only on step counts, so the result is deterministic (without a timeout or
/// a memory limit that is reached).
fn race(
    partitions: &mut [PartitionInfo],
    runners: &mut [Option<Box<dyn Runner + '_>>],
    options: &CheckOptions,
    deadline: Option<Instant>,
) {
    let mut slice = FIRST_SLICE;
    while runners.iter().any(Option::is_some) {
        for at in 0..runners.len() {
            let others: usize = runners
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != at)
                .filter_map(|(_, r)| r.as_ref().map(|r| r.memory()))
                .sum();
            let memory = options.memory_limit.saturating_sub(others);
            let Some(runner) = runners[at].as_mut() else {
                continue;
            };
            let outcome = runner.run(slice, deadline, memory);
            let partition = &mut partitions[at];
            partition.steps = runner.steps();
            let Some(outcome) = outcome else { continue };
            partition.status = match outcome {
                Outcome::Linearizable => PartitionStatus::Linearizable,
                Outcome::Illegal => PartitionStatus::Illegal,
                Outcome::TimedOut => PartitionStatus::TimedOut,
                Outcome::OutOfMemory => PartitionStatus::MemoryLimit,
            };
            partition.linearization = if outcome == Outcome::Illegal {
                let budget = runner.steps().clamp(EXPLAIN_BUDGET.0, EXPLAIN_BUDGET.1);
                runner.explain(budget, deadline, memory)
            } else {
                runner.longest()
            };
            runners[at] = None;
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
            for (partition, slot) in partitions.iter_mut().zip(runners.iter_mut()) {
                if let Some(runner) = slot.take() {
                    partition.status = unfinished;
                    partition.linearization = runner.longest();
                }
            }
        }
        slice = (slice * 2).min(MAX_SLICE);
    }
}

/// A partition: its key (if split by key) and its operations.
type Partition = (Option<String>, Vec<usize>);

/// Splits the checked operations by the model's partition key (in key order), or keeps them
/// together; also returns the ignored ones (reads whose outcome is unknown). Each partition is in
/// call order.
fn partition<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    by_key: bool,
) -> (Vec<Partition>, Vec<usize>) {
    let mut ignored = Vec::new();
    let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        if op.is_pending() && model.is_read_only(&op.input, None) {
            ignored.push(i);
        } else {
            let key = by_key.then(|| model.partition_key(&op.input));
            groups.entry(key).or_default().push(i);
        }
    }
    let partitions = groups
        .into_iter()
        .map(|(key, mut members)| {
            members.sort_by_key(|&i| (ops[i].call, ops[i].ret, i));
            (key, members)
        })
        .collect();
    (partitions, ignored)
}

/// The operations of a partition (`members`) that real time allows right after `prefix` but the
/// model does not, with why.
fn stuck_after<M: Model>(
    model: &M,
    ops: &[Operation<M::Input, M::Output>],
    members: &[usize],
    prefix: &[usize],
) -> Vec<(usize, String)> {
    let mut states: HashMap<String, M::State> = HashMap::new();
    let mut placed = vec![false; ops.len()];
    for &i in prefix {
        placed[i] = true;
        let op = &ops[i];
        let state = states
            .entry(model.partition_key(&op.input))
            .or_insert_with(|| model.init());
        if let Some(next) = model.step(state, &op.input, op.known_output()) {
            *state = next;
        }
    }
    let remaining = || members.iter().copied().filter(|&i| !placed[i]);
    let Some(first_return) = remaining()
        .filter(|&i| !ops[i].is_pending())
        .map(|i| ops[i].ret)
        .min()
    else {
        return Vec::new();
    };
    let candidates: Vec<usize> = remaining()
        .filter(|&i| ops[i].call <= first_return && !ops[i].is_pending())
        .collect();
    let mut stuck = Vec::new();
    for &i in &candidates {
        let op = &ops[i];
        let init = model.init();
        let state = states.get(&model.partition_key(&op.input)).unwrap_or(&init);
        if model.step(state, &op.input, Some(&op.output)).is_none() {
            stuck.push((i, model.explain(state, &op.input, &op.output)));
        }
    }
    if stuck.is_empty() {
        // The prefix is not a longest one (the explanation search ran out of budget): these fit
        // here, but every way to go on from them fails later.
        for i in candidates {
            let op = &ops[i];
            let reason = format!(
                "{} fits here, but every way to go on from there fails",
                model.describe_operation(&op.input, op.known_output())
            );
            stuck.push((i, reason));
        }
    }
    stuck
}
