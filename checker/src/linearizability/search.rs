//! The search for a linearization of one partition (Wing & Gong, with Lowe's memoisation).
//!
//! The search knows nothing about keys and values: it talks to a [`Model`] through operation
//! indices, and the model decides whether an operation's recorded output is possible from a state.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// A sequential specification, stepped by operation index.
pub(crate) trait Model {
    /// A state of the sequential object. Equal states must behave the same in every future.
    type State: Clone + Eq;

    /// The state before any operation.
    fn init(&mut self) -> Self::State;

    /// The state after operation `op` if its recorded output is possible in `state`, else `None`.
    fn step(&mut self, state: &Self::State, op: usize) -> Option<Self::State>;

    /// A well-mixed hash of `state`, consistent with `Eq`.
    fn fingerprint(&self, state: &Self::State) -> u64;

    /// Whether operation `op` never changes the state (a read). The search then never tries to
    /// delay it once it fits.
    fn is_read_only(&self, op: usize) -> bool;

    /// Told when `op` is placed, tentatively: after `step` succeeded, before `viable` is asked.
    fn placed(&mut self, _op: usize) {}

    /// Told when a placement of `op` is undone or rejected.
    fn unplaced(&mut self, _op: usize) {}

    /// Called after `op` was placed, leading to `state`: `false` if no order of the operations not
    /// yet placed can complete from here (a cheap, sound look-ahead; `true` if unsure).
    fn viable(&mut self, _state: &Self::State, _op: usize) -> bool {
        true
    }
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every operation was placed.
    Linearizable,
    /// No order of the operations respects both real time and the model.
    Illegal,
    /// The deadline passed first.
    TimedOut,
}

/// How often (in loop iterations) the search looks at the clock.
const CLOCK_EVERY: u64 = 1 << 12;

/// A search for a linearization of operations `0..n`, which can run in slices so that several
/// searches can take turns.
pub(crate) struct Search<M: Model> {
    model: M,
    list: EntryList,
    placed: PlacedSet,
    memo: Memo<M::State>,
    longest: Longest,
    undo: Vec<Undo<M::State>>,
    state: M::State,
    /// The highest operation index placed.
    highest: Option<usize>,
    /// The next list entry to look at.
    entry: usize,
    steps: u64,
    outcome: Option<Outcome>,
    /// Whether to ask the model's look-ahead ([`Model::viable`]).
    look_ahead: bool,
}

impl<M: Model> Search<M> {
    /// A search over operations `0..windows.len()`, where operation `i` was called at
    /// `windows[i].0` and returned at `windows[i].1`.
    ///
    /// Operations are best numbered in call order: the set of placed operations is then mostly a
    /// prefix, which keeps the memo table's entries short.
    pub(crate) fn new(mut model: M, windows: &[(u64, u64)]) -> Self {
        let list = EntryList::new(windows);
        let entry = list.first();
        Self {
            state: model.init(),
            model,
            list,
            placed: PlacedSet::new(windows.len()),
            memo: Memo::default(),
            longest: Longest::default(),
            undo: Vec::new(),
            highest: None,
            entry,
            steps: 0,
            outcome: None,
            look_ahead: true,
        }
    }

    /// Turns off the model's look-ahead. The search is then slower, but the longest prefix it
    /// reports is the longest that can be linearized, whereas the look-ahead cuts prefixes short
    /// as soon as they are bound to fail.
    pub(crate) fn without_look_ahead(mut self) -> Self {
        self.look_ahead = false;
        self
    }

    /// Runs until the search ends, `budget` more placements have been tried, or the deadline
    /// passes; returns the outcome once there is one.
    pub(crate) fn run(&mut self, budget: u64, deadline: Option<Instant>) -> Option<Outcome> {
        if self.outcome.is_none() {
            self.outcome = self.run_slice(budget, deadline);
            if self.outcome.is_some() {
                // Free the memory of a finished search early.
                self.memo = Memo::default();
                self.undo = Vec::new();
            }
        }
        self.outcome
    }

    fn run_slice(&mut self, budget: u64, deadline: Option<Instant>) -> Option<Outcome> {
        let stop_at = self.steps.saturating_add(budget);
        let mut iterations = 0u64;
        while !self.list.is_empty() {
            iterations += 1;
            if iterations.is_multiple_of(CLOCK_EVERY)
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Some(Outcome::TimedOut);
            }
            let entry = self.entry;
            let dead_end = if EntryList::is_call(entry) {
                if self.steps >= stop_at {
                    return None;
                }
                self.steps += 1;
                self.try_place(entry)
            } else {
                // The return of an operation not yet placed: what is placed so far cannot be
                // extended.
                true
            };
            if dead_end && !self.backtrack() {
                return Some(Outcome::Illegal);
            }
        }
        Some(Outcome::Linearizable)
    }

    /// Tries to place the operation of call entry `entry` next; returns whether the current
    /// placement turned out to be a dead end.
    fn try_place(&mut self, entry: usize) -> bool {
        let op = EntryList::op(entry);
        let Some(next) = self.model.step(&self.state, op) else {
            self.entry = self.list.next(entry);
            return false;
        };
        let read_only = self.model.is_read_only(op);
        self.placed.insert(op);
        self.model.placed(op);
        let highest = self.highest.max(Some(op));
        let key = self.placed.hash ^ self.model.fingerprint(&next);
        if (!self.look_ahead || self.model.viable(&next, op))
            && self.memo.insert(key, &self.placed, highest, &next)
        {
            // A new (placed set, state) pair that may lead somewhere: commit to it and rescan
            // from the start.
            self.undo.push(Undo {
                call: entry,
                state: std::mem::replace(&mut self.state, next),
                highest: self.highest,
                forced: read_only,
            });
            self.highest = highest;
            self.longest.push(op);
            self.list.lift(entry);
            self.entry = self.list.first();
            false
        } else {
            // Hopeless, or seen before (so it failed before).
            self.placed.remove(op);
            self.model.unplaced(op);
            self.entry = self.list.next(entry);
            // A read-only op that fits here may be placed here without loss of generality (see
            // `Undo::forced`), so the current placement is a dead end too.
            read_only
        }
    }

    /// Undoes placements up to the last one that had an alternative and moves on to the entry
    /// after its call. Returns false if there is nothing left to undo.
    fn backtrack(&mut self) -> bool {
        while let Some(last) = self.undo.pop() {
            self.placed.remove(EntryList::op(last.call));
            self.model.unplaced(EntryList::op(last.call));
            self.state = last.state;
            self.highest = last.highest;
            self.longest.pop();
            self.list.unlift(last.call);
            if !last.forced {
                self.entry = self.list.next(last.call);
                return true;
            }
        }
        false
    }

    /// How many placements were tried.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    /// All operations in a valid order once linearizable; otherwise the longest sequence of
    /// operations the search managed to place, in order.
    pub(crate) fn longest(&self) -> &[usize] {
        match self.outcome {
            Some(Outcome::Linearizable) => &self.longest.stack,
            _ => &self.longest.best,
        }
    }
}

/// What to restore when a placement is undone.
struct Undo<S> {
    /// The call entry of the placed operation.
    call: usize,
    /// The state before it.
    state: S,
    /// The highest operation index placed before it.
    highest: Option<usize>,
    /// Whether the operation was read-only. Such an operation, once it fits where it is, may as
    /// well be placed right there: any linearization that places it later still works with it
    /// moved here (it changes no state, and everything unplaced returned no earlier than its call).
    /// So if placing it here leads nowhere, neither does the state before it, and undoing it goes
    /// on to undo the placement before it too.
    forced: bool,
}

/// The call and return entries of all operations, in time order, as a doubly linked list that
/// operations can be taken out of ("lifted") and put back into in LIFO order.
///
/// Entry `2 * op` is the call of `op` and `2 * op + 1` its return; the last index is a sentinel
/// that closes the list into a ring.
struct EntryList {
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl EntryList {
    fn new(windows: &[(u64, u64)]) -> Self {
        let head = 2 * windows.len();
        let mut order: Vec<usize> = (0..head).collect();
        // Time order; at equal times calls come first, so that touching windows overlap.
        order.sort_by_key(|&e| {
            let (call, ret) = windows[e / 2];
            let time = if e % 2 == 0 { call } else { ret };
            (time, e % 2, e)
        });
        let mut next = vec![head; head + 1];
        let mut prev = vec![head; head + 1];
        let mut last = head;
        for &e in &order {
            next[last] = e;
            prev[e] = last;
            last = e;
        }
        next[last] = head;
        prev[head] = last;
        Self { next, prev }
    }

    fn head(&self) -> usize {
        self.next.len() - 1
    }

    fn is_empty(&self) -> bool {
        self.next[self.head()] == self.head()
    }

    fn first(&self) -> usize {
        self.next[self.head()]
    }

    fn next(&self, entry: usize) -> usize {
        self.next[entry]
    }

    fn op(entry: usize) -> usize {
        entry / 2
    }

    fn is_call(entry: usize) -> bool {
        entry.is_multiple_of(2)
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        self.prev[n] = p;
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        self.prev[n] = e;
    }

    /// Takes an operation (given by its call entry) out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(call + 1);
    }

    /// Puts back the most recently lifted operation.
    fn unlift(&mut self, call: usize) {
        self.relink(call + 1);
        self.relink(call);
    }
}

/// The set of placed operations as a bitset, with a Zobrist hash (the XOR of a fixed random
/// number per member) updated in O(1), and the number of leading words that are all ones.
struct PlacedSet {
    words: Vec<u64>,
    hash: u64,
    /// `words[..full]` are all ones and `words[full]` is not.
    full: usize,
}

impl PlacedSet {
    fn new(n: usize) -> Self {
        Self {
            words: vec![0; n.div_ceil(64)],
            hash: 0,
            full: 0,
        }
    }

    fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
        self.hash ^= mix64(i as u64);
        while self.full < self.words.len() && self.words[self.full] == u64::MAX {
            self.full += 1;
        }
    }

    fn remove(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
        self.hash ^= mix64(i as u64);
        self.full = self.full.min(i / 64);
    }

    /// The set in canonical short form: the count of leading all-ones words and the words after
    /// them up to the one holding `highest` (all later words are zero).
    fn compact(&self, highest: Option<usize>) -> (usize, &[u64]) {
        let end = highest.map_or(0, |h| h / 64 + 1).max(self.full);
        (self.full, &self.words[self.full..end])
    }
}

/// The memo table: every (placed set, state) pair the search has committed to. Reaching a pair a
/// second time, by another order of the same operations, cannot lead anywhere new.
struct Memo<S> {
    /// Hash of the pair -> index of the newest entry with that hash.
    index: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    entries: Vec<MemoEntry<S>>,
    /// The `rest` words of all entries, back to back.
    words: Vec<u64>,
}

struct MemoEntry<S> {
    full: usize,
    start: usize,
    len: usize,
    /// The previous entry with the same hash (a collision chain), or `usize::MAX`.
    older: usize,
    state: S,
}

impl<S> Default for Memo<S> {
    fn default() -> Self {
        Self {
            index: HashMap::default(),
            entries: Vec::new(),
            words: Vec::new(),
        }
    }
}

impl<S: Clone + Eq> Memo<S> {
    /// Records the pair unless it is already known; returns whether it was new.
    fn insert(&mut self, key: u64, placed: &PlacedSet, highest: Option<usize>, state: &S) -> bool {
        let (full, rest) = placed.compact(highest);
        let new = self.entries.len();
        let older = match self.index.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(new);
                usize::MAX
            }
            Entry::Occupied(mut slot) => {
                let mut at = *slot.get();
                while let Some(e) = self.entries.get(at) {
                    if e.full == full
                        && self.words[e.start..e.start + e.len] == *rest
                        && e.state == *state
                    {
                        return false;
                    }
                    at = e.older;
                }
                slot.insert(new)
            }
        };
        self.entries.push(MemoEntry {
            full,
            start: self.words.len(),
            len: rest.len(),
            older,
            state: state.clone(),
        });
        self.words.extend_from_slice(rest);
        true
    }
}

/// Tracks the longest stack of placed operations seen so far without copying it on every push:
/// `agree` is the length of the common prefix of `stack` and `best`.
#[derive(Default)]
struct Longest {
    stack: Vec<usize>,
    best: Vec<usize>,
    agree: usize,
}

impl Longest {
    fn push(&mut self, op: usize) {
        if self.agree == self.stack.len() && self.best.get(self.agree) == Some(&op) {
            self.agree += 1;
        }
        self.stack.push(op);
        if self.stack.len() > self.best.len() {
            self.best.truncate(self.agree);
            self.best.extend_from_slice(&self.stack[self.agree..]);
            self.agree = self.stack.len();
        }
    }

    fn pop(&mut self) {
        self.stack.pop();
        self.agree = self.agree.min(self.stack.len());
    }
}

/// The finalizer of SplitMix64: a cheap bijection that scatters nearby integers.
pub(crate) fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hasher for keys that are already well-mixed `u64`s: it passes them through. Other input
/// (e.g. the bytes of a string) is folded in 8 bytes at a time and mixed at the end.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        self.0 = mix64(self.0 ^ bytes.len() as u64);
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = self.0.rotate_left(23) ^ x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register that only accepts writes of increasing values (op i writes i), so the only
    /// linearization is 0, 1, 2, ...
    struct Increasing;

    impl Model for Increasing {
        type State = Option<usize>;
        fn init(&mut self) -> Self::State {
            None
        }
        fn step(&mut self, state: &Self::State, op: usize) -> Option<Self::State> {
            (state.map_or(0, |s| s + 1) == op).then_some(Some(op))
        }
        fn fingerprint(&self, state: &Self::State) -> u64 {
            mix64(state.map_or(u64::MAX, |s| s as u64))
        }
        fn is_read_only(&self, _op: usize) -> bool {
            false
        }
    }

    #[test]
    fn finds_the_only_order_among_overlapping_ops() {
        let windows = vec![(0, 100); 70];
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(search.run(u64::MAX, None), Some(Outcome::Linearizable));
        assert_eq!(search.longest(), (0..70).collect::<Vec<_>>());
    }

    #[test]
    fn real_time_order_can_make_it_illegal() {
        // op 1 returns before op 0 is called, but the model needs 0 first.
        let windows = vec![(10, 20), (0, 5), (30, 40)];
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(search.run(u64::MAX, None), Some(Outcome::Illegal));
        assert!(search.longest().is_empty());
    }

    #[test]
    fn runs_in_slices() {
        let windows = vec![(0, 100); 70];
        let mut search = Search::new(Increasing, &windows);
        let mut slices = 0;
        while search.run(10, None).is_none() {
            slices += 1;
        }
        assert!(slices > 3);
        assert_eq!(search.longest(), (0..70).collect::<Vec<_>>());
    }

    #[test]
    fn placed_set_compacts_canonically() {
        let mut set = PlacedSet::new(200);
        for i in 0..130 {
            set.insert(i);
        }
        set.insert(150);
        assert_eq!(set.compact(Some(150)), (2, &[(1u64 << 22) | 0b11][..]));
        set.remove(3);
        assert_eq!(set.compact(Some(150)).0, 0);
    }
}
