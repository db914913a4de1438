//! The register model as the search steps it: values interned as small numbers, one register per
//! key of the partition, and a look-ahead. Semantics are those of [`Register`](super::Register)
//! (the cross-checks in the tests hold them to it).
//!
//! *Look-ahead.* An operation *needs* value `v` if it can only happen while the register holds `v`:
//! a read that returned `v`, a cas that found its expected `v`. It is *fed* by the operations that
//! can set the register to `v`: writes of `v`, and cas to `v` (that found their value, or whose
//! outcome is unknown). Take the unplaced operation that needs `v` and returned first, say at `r`.
//! If the register does not hold `v` now, some unplaced operation that feeds `v` must come before
//! it, so one must have been called by `r`. If the earliest called unplaced feeder of `v` was called
//! after `r` (or there is none), nothing can complete from here. When an operation is placed, only
//! the value it overwrote can newly fail this (the value it wrote is held). This rules
//! out a read of a value nobody writes before the search starts, and a stale read as soon as the
//! writes that could explain it are used up.
//!
//! *Stale reads, before the search.* If an overwrite (a write, or a cas that found its value)
//! of another value than `v` returned before an operation that needs `v` was called, it comes
//! first in every order, so the last feeder of `v` before that operation must not have returned
//! before the overwrite was called. If no feeder of `v` can come after every such overwrite, the
//! history is not linearizable, whatever the order of the rest: a read that saw a value certainly
//! overwritten before it began (the stale read Jepsen finds) is caught without a search.

use std::collections::HashMap;
use std::rc::Rc;

use super::history::{OpKind, Operation, Status};
use super::search::{Model, mix64};

/// Interned value: 0 is nil.
type ValueId = u32;

/// One operation, ready to step.
#[derive(Clone, Copy)]
struct Step {
    kind: Kind,
    /// Which register of the partition.
    key: usize,
    /// A read's output or a cas's expected value.
    a: ValueId,
    /// A write's or a cas's new value.
    b: ValueId,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
    /// A cas that found its expected value.
    CasOk,
    /// A cas that found another value.
    CasFail,
    /// A cas whose outcome is unknown.
    CasUnknown,
}

/// The operations of one (key, value) that need it, by return time, or that feed it, by call
/// time, and the first of them not placed.
#[derive(Default)]
struct Queue {
    ops: Vec<usize>,
    first: usize,
}

/// The registers of a partition: a value per key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Values {
    One(ValueId),
    Many(Rc<[ValueId]>),
}

/// A state: the registers' values, with a fingerprint kept up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RegisterState {
    fingerprint: u64,
    values: Values,
}

impl RegisterState {
    fn get(&self, key: usize) -> ValueId {
        match &self.values {
            Values::One(v) => *v,
            Values::Many(vs) => vs[key],
        }
    }

    fn set(&self, key: usize, value: ValueId) -> Self {
        let old = self.get(key);
        if old == value {
            return self.clone();
        }
        let fingerprint = self
            .fingerprint
            .wrapping_sub(cell(key, old))
            .wrapping_add(cell(key, value));
        let values = match &self.values {
            Values::One(_) => Values::One(value),
            Values::Many(vs) => {
                let mut vs = vs.to_vec();
                vs[key] = value;
                Values::Many(vs.into())
            }
        };
        Self {
            fingerprint,
            values,
        }
    }
}

fn cell(key: usize, value: ValueId) -> u64 {
    mix64(((key as u64) << 32) | u64::from(value))
}

/// The register search model over the operations of one partition, numbered `0..ops.len()` in
/// call order.
pub(crate) struct RegisterModel {
    steps: Vec<Step>,
    windows: Vec<(u64, u64)>,
    keys: usize,
    /// Per (key, value): the operations that need it and those that feed it.
    needs: HashMap<(usize, ValueId), Queue>,
    feeds: HashMap<(usize, ValueId), Queue>,
    /// Per operation: its position in the queue of what it needs and of what it feeds.
    need_pos: Vec<usize>,
    feed_pos: Vec<usize>,
    is_placed: Vec<bool>,
    /// Per (key, value): how many unplaced cas with unknown outcome expect it.
    unknown_cas: HashMap<(usize, ValueId), u32>,
    /// Per operation: an id shared by exactly the identical operations.
    classes: Vec<u64>,
    /// Per (key, value): the classes of operations with unknown outcome that may set it; per
    /// class, its members in call order and the first not placed (only the first of a class is
    /// ever placed next, see `search.rs`).
    unknown_feeds: HashMap<(usize, ValueId), Vec<usize>>,
    unknown_classes: Vec<Queue>,
    /// Per operation with unknown outcome: its class in `unknown_classes`, and its position there.
    unknown_class_of: Vec<usize>,
    unknown_pos: Vec<usize>,
}

impl RegisterModel {
    pub(crate) fn new<'h>(ops: &[&'h Operation]) -> Self {
        let mut key_ids: HashMap<&str, usize> = HashMap::new();
        let mut value_ids: HashMap<&'h str, ValueId> = HashMap::new();
        let mut id = |value: Option<&'h str>| -> ValueId {
            match value {
                None => 0,
                Some(text) => {
                    let next = value_ids.len() as ValueId + 1;
                    *value_ids.entry(text).or_insert(next)
                }
            }
        };
        let mut steps = Vec::with_capacity(ops.len());
        for op in ops {
            let next_key = key_ids.len();
            let key = *key_ids.entry(op.input.key.as_str()).or_insert(next_key);
            let pending = op.is_pending();
            let kind = match op.input.op {
                OpKind::Read | OpKind::Get => Kind::Read,
                OpKind::Cas if pending => Kind::CasUnknown,
                OpKind::Cas if op.output.status == Status::Fail => Kind::CasFail,
                OpKind::Cas => Kind::CasOk,
                // Appends are rejected before the search (`Register::supports`).
                OpKind::Write | OpKind::Put | OpKind::Append => Kind::Write,
            };
            let (a, b) = match kind {
                Kind::Read => (id(op.output.value.as_deref()), 0),
                Kind::Write => (0, id(op.input.value.as_deref())),
                _ => (
                    id(op.input.expected.as_deref()),
                    id(op.input.value.as_deref()),
                ),
            };
            steps.push(Step { kind, key, a, b });
        }
        let windows: Vec<(u64, u64)> = ops.iter().map(|op| (op.call, op.ret)).collect();
        let mut needs: HashMap<(usize, ValueId), Queue> = HashMap::new();
        let mut feeds: HashMap<(usize, ValueId), Queue> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            let pending = windows[i].1 == u64::MAX;
            let needs_a = matches!(step.kind, Kind::Read | Kind::CasOk) && !pending;
            if needs_a {
                needs.entry((step.key, step.a)).or_default().ops.push(i);
            }
            if matches!(step.kind, Kind::Write | Kind::CasOk | Kind::CasUnknown) {
                feeds.entry((step.key, step.b)).or_default().ops.push(i);
            }
        }
        let mut class_ids: HashMap<(usize, u8, ValueId, ValueId), u64> = HashMap::new();
        let classes: Vec<u64> = steps
            .iter()
            .map(|s| {
                let next = class_ids.len() as u64;
                *class_ids
                    .entry((s.key, s.kind as u8, s.a, s.b))
                    .or_insert(next)
            })
            .collect();
        let mut unknown_feeds: HashMap<(usize, ValueId), Vec<usize>> = HashMap::new();
        let mut unknown_classes: Vec<Queue> = Vec::new();
        let mut unknown_class_of = vec![usize::MAX; ops.len()];
        let mut unknown_pos = vec![usize::MAX; ops.len()];
        let mut class_index: HashMap<u64, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            if windows[i].1 == u64::MAX && matches!(step.kind, Kind::Write | Kind::CasUnknown) {
                let class = *class_index.entry(classes[i]).or_insert_with(|| {
                    unknown_feeds
                        .entry((step.key, step.b))
                        .or_default()
                        .push(unknown_classes.len());
                    unknown_classes.push(Queue::default());
                    unknown_classes.len() - 1
                });
                unknown_class_of[i] = class;
                unknown_pos[i] = unknown_classes[class].ops.len();
                unknown_classes[class].ops.push(i);
            }
        }
        let mut unknown_cas: HashMap<(usize, ValueId), u32> = HashMap::new();
        for step in &steps {
            if step.kind == Kind::CasUnknown {
                *unknown_cas.entry((step.key, step.a)).or_default() += 1;
            }
        }
        let mut need_pos = vec![usize::MAX; ops.len()];
        let mut feed_pos = vec![usize::MAX; ops.len()];
        for queue in needs.values_mut() {
            queue.ops.sort_by_key(|&i| (windows[i].1, i));
            for (pos, &i) in queue.ops.iter().enumerate() {
                need_pos[i] = pos;
            }
        }
        for queue in feeds.values_mut() {
            // Already in call order (the operations are numbered so).
            for (pos, &i) in queue.ops.iter().enumerate() {
                feed_pos[i] = pos;
            }
        }
        Self {
            steps,
            keys: key_ids.len().max(1),
            windows,
            needs,
            feeds,
            need_pos,
            feed_pos,
            is_placed: vec![false; ops.len()],
            unknown_cas,
            classes,
            unknown_feeds,
            unknown_classes,
            unknown_class_of,
            unknown_pos,
        }
    }

    /// Whether the register `key` holding `current` leaves every unplaced operation that needs
    /// `value` a chance.
    fn fine(&self, key: usize, value: ValueId, current: ValueId) -> bool {
        if current == value {
            return true;
        }
        let Some(needs) = self.needs.get(&(key, value)) else {
            return true;
        };
        let Some(&first_need) = needs.ops.get(needs.first) else {
            return true;
        };
        let deadline = self.windows[first_need].1;
        self.feeds
            .get(&(key, value))
            .and_then(|feeds| feeds.ops.get(feeds.first))
            .is_some_and(|&feeder| self.windows[feeder].0 <= deadline)
    }

    /// The static check for stale reads (see the module docs): every operation that needs a value
    /// has an operation that may set it and come after each overwrite that certainly precedes it.
    fn no_certain_stale_read(&self) -> bool {
        let returned = |i: usize| self.windows[i].1 != u64::MAX;
        // Overwrites: operations that returned and certainly leave the register holding their
        // value `b`, by return time.
        let mut overwrites: Vec<usize> = (0..self.steps.len())
            .filter(|&i| returned(i) && matches!(self.steps[i].kind, Kind::Write | Kind::CasOk))
            .collect();
        overwrites.sort_by_key(|&i| self.windows[i].1);
        // Per key, the latest-called overwrite among those returned so far, and the latest-called
        // one of another value than that one's (so the latest of any value but `v` is one of the
        // two).
        let mut latest: HashMap<usize, [(u64, ValueId); 2]> = HashMap::new();
        let mut needing: Vec<usize> = self.needs.values().flat_map(|q| q.ops.clone()).collect();
        needing.sort_by_key(|&i| self.windows[i].0);
        // Per (key, value): its feeders' calls and the running maximum of their returns.
        let mut feeders: HashMap<(usize, ValueId), (Vec<u64>, Vec<u64>)> = HashMap::new();
        for (&(key, value), queue) in &self.feeds {
            let mut calls = Vec::with_capacity(queue.ops.len());
            let mut max_ret = Vec::with_capacity(queue.ops.len());
            let mut best = 0;
            for &f in &queue.ops {
                best = best.max(self.windows[f].1);
                calls.push(self.windows[f].0);
                max_ret.push(best);
            }
            feeders.insert((key, value), (calls, max_ret));
        }
        let mut next = 0;
        for r in needing {
            let Step { key, a: value, .. } = self.steps[r];
            let (call, ret) = self.windows[r];
            while let Some(&o) = overwrites.get(next) {
                if self.windows[o].1 >= call {
                    break;
                }
                next += 1;
                let Step { key: k, b, .. } = self.steps[o];
                let top = latest.entry(k).or_insert([(0, u32::MAX); 2]);
                let entry = (self.windows[o].0, b);
                if entry.1 == top[0].1 {
                    top[0].0 = top[0].0.max(entry.0);
                } else if entry.0 > top[0].0 {
                    top[1] = top[0];
                    top[0] = entry;
                } else if entry.0 > top[1].0 {
                    top[1] = entry;
                }
            }
            // The latest call of an overwrite of another value that returned before `r` was
            // called: whatever sets `value` for `r` must not have returned before it.
            let Some(top) = latest.get(&key) else {
                continue;
            };
            let must_follow = if top[0].1 != value { top[0] } else { top[1] };
            if must_follow.1 == u32::MAX {
                continue;
            }
            let feeds_itself = self.feed_pos[r] != usize::MAX;
            if feeds_itself {
                continue;
            }
            let fed = feeders.get(&(key, value)).is_some_and(|(calls, max_ret)| {
                let callable = calls.partition_point(|&c| c <= ret);
                callable > 0 && max_ret[callable - 1] >= must_follow.0
            });
            if !fed {
                return false;
            }
        }
        true
    }

    fn advance(queue: &mut Queue, is_placed: &[bool]) {
        while queue.ops.get(queue.first).is_some_and(|&i| is_placed[i]) {
            queue.first += 1;
        }
    }
}

impl Model for RegisterModel {
    type State = RegisterState;

    fn init(&mut self) -> RegisterState {
        let values = match self.keys {
            1 => Values::One(0),
            keys => Values::Many(vec![0; keys].into()),
        };
        RegisterState {
            fingerprint: (0..self.keys).fold(0u64, |sum, key| sum.wrapping_add(cell(key, 0))),
            values,
        }
    }

    fn step(&mut self, state: &RegisterState, op: usize) -> Option<RegisterState> {
        let Step { kind, key, a, b } = self.steps[op];
        let value = state.get(key);
        match kind {
            Kind::Read => (value == a).then(|| state.clone()),
            Kind::Write => Some(state.set(key, b)),
            Kind::CasOk => (value == a).then(|| state.set(key, b)),
            Kind::CasFail => (value != a).then(|| state.clone()),
            Kind::CasUnknown if value == a => Some(state.set(key, b)),
            Kind::CasUnknown => Some(state.clone()),
        }
    }

    fn fingerprint(&self, state: &RegisterState) -> u64 {
        state.fingerprint
    }

    fn is_read_only(&self, op: usize) -> bool {
        matches!(self.steps[op].kind, Kind::Read | Kind::CasFail)
    }

    fn insensitive(&self, _op: usize) -> bool {
        // Reads and failed cas change nothing; a write overwrites; a cas that fits found its
        // value, so a block before it must leave that value as it was.
        true
    }

    fn class(&self, op: usize) -> u64 {
        self.classes[op]
    }

    fn placed(&mut self, op: usize) {
        self.is_placed[op] = true;
        let Step { kind, key, a, b } = self.steps[op];
        if kind == Kind::CasUnknown
            && let Some(count) = self.unknown_cas.get_mut(&(key, a))
        {
            *count -= 1;
        }
        if let Some(queue) = self.unknown_classes.get_mut(self.unknown_class_of[op]) {
            Self::advance(queue, &self.is_placed);
        }
        if self.need_pos[op] != usize::MAX
            && let Some(queue) = self.needs.get_mut(&(key, a))
        {
            Self::advance(queue, &self.is_placed);
        }
        if self.feed_pos[op] != usize::MAX
            && let Some(queue) = self.feeds.get_mut(&(key, b))
        {
            Self::advance(queue, &self.is_placed);
        }
    }

    fn unplaced(&mut self, op: usize) {
        self.is_placed[op] = false;
        let Step { kind, key, a, b } = self.steps[op];
        if kind == Kind::CasUnknown
            && let Some(count) = self.unknown_cas.get_mut(&(key, a))
        {
            *count += 1;
        }
        if let Some(queue) = self.unknown_classes.get_mut(self.unknown_class_of[op]) {
            queue.first = queue.first.min(self.unknown_pos[op]);
        }
        if self.need_pos[op] != usize::MAX
            && let Some(queue) = self.needs.get_mut(&(key, a))
        {
            queue.first = queue.first.min(self.need_pos[op]);
        }
        if self.feed_pos[op] != usize::MAX
            && let Some(queue) = self.feeds.get_mut(&(key, b))
        {
            queue.first = queue.first.min(self.feed_pos[op]);
        }
    }

    fn viable(&mut self, before: &RegisterState, after: &RegisterState, op: usize) -> bool {
        // Only the value overwritten can have lost its chance (see the module docs).
        let key = self.steps[op].key;
        let (old, new) = (before.get(key), after.get(key));
        old == new || self.fine(key, old, new)
    }

    fn helpers(&mut self, misfits: &[usize], frontier: u64) -> Option<Vec<usize>> {
        // The values the misfits need, then backwards through unknown cas: a block that makes a
        // misfit fit ends with an unknown operation that sets the value it needs, and each
        // earlier one sets the value that the next one (a cas) expects.
        let mut wanted: Vec<(usize, ValueId)> = Vec::new();
        let mut helpers = Vec::new();
        for &m in misfits {
            let Step { kind, key, a, .. } = self.steps[m];
            match kind {
                Kind::Read | Kind::CasOk => wanted.push((key, a)),
                // A failed cas needs any other value: every unknown operation of the key that
                // sets one may help.
                _ => {
                    for (&(k, value), classes) in &self.unknown_feeds {
                        if k != key || value == a {
                            continue;
                        }
                        for &class in classes {
                            let queue = &self.unknown_classes[class];
                            if let Some(&f) = queue.ops.get(queue.first)
                                && self.windows[f].0 <= frontier
                            {
                                helpers.push(f);
                            }
                        }
                    }
                }
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        let mut next = 0;
        while let Some(&(key, value)) = wanted.get(next) {
            next += 1;
            let Some(classes) = self.unknown_feeds.get(&(key, value)) else {
                continue;
            };
            for &class in classes {
                let queue = &self.unknown_classes[class];
                let Some(&f) = queue.ops.get(queue.first) else {
                    continue;
                };
                if self.windows[f].0 > frontier {
                    continue;
                }
                helpers.push(f);
                let step = self.steps[f];
                if step.kind == Kind::CasUnknown && !wanted.contains(&(key, step.a)) {
                    wanted.push((key, step.a));
                }
            }
        }
        helpers.sort_unstable();
        helpers.dedup();
        Some(helpers)
    }

    fn may_enable(&self, after: &RegisterState, op: usize) -> bool {
        let key = self.steps[op].key;
        self.unknown_cas
            .get(&(key, after.get(key)))
            .is_some_and(|&count| count > 0)
    }

    fn viable_at_start(&mut self, state: &RegisterState) -> bool {
        self.needs
            .keys()
            .all(|&(key, value)| self.fine(key, value, state.get(key)))
            && self.no_certain_stale_read()
    }
}
