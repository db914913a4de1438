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

    fn class(&self, op: usize) -> u64 {
        let Step { kind, key, a, b } = self.steps[op];
        let kind = kind as u64;
        mix64(((key as u64) << 3) | kind) ^ (u64::from(a) << 32 | u64::from(b))
    }

    fn placed(&mut self, op: usize) {
        self.is_placed[op] = true;
        let Step { kind, key, a, b } = self.steps[op];
        if kind == Kind::CasUnknown
            && let Some(count) = self.unknown_cas.get_mut(&(key, a))
        {
            *count -= 1;
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

    fn feeders(&self, op: usize) -> Option<&[usize]> {
        let Step { kind, key, a, .. } = self.steps[op];
        match kind {
            // Only an operation that sets the value it needs makes it fit.
            Kind::Read | Kind::CasOk => Some(
                self.feeds
                    .get(&(key, a))
                    .map_or(&[][..], |queue| &queue.ops[..]),
            ),
            _ => None,
        }
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
    }
}
