//! The search for a linearization of one partition (Wing & Gong, with Lowe's memoisation).
//!
//! The search knows nothing about keys and values: it talks to a [`Model`] through operation
//! indices, and the model decides whether an operation's recorded output is possible from a state.
//!
//! *Operations whose outcome is unknown* (a Jepsen `:info`, a crashed client) may take effect at
//! any time after their call, or never. They are not in the Wing–Gong list (they have no return
//! to be stuck at). Instead, when the scan of the list is stuck at a return, the search also tries
//! the unknown operations called by then, before giving up on the current placement. Four rules
//! keep their many possible placements in check, each sound (none changes a verdict):
//! - *They are needed only to go on.* The search is done once every operation that returned is
//!   placed: the unknown ones left over did not take effect (or did so after everything else).
//! - *Identical ones are interchangeable.* Of the unknown operations with the same input (the same
//!   cas, the same write), only the earliest called one not yet placed is tried: any order that
//!   uses a later one at some point can use the earliest one there instead.
//! - *No-ops are never placed.* An unknown operation that would not change the state (a cas that
//!   does not find its expected value) is as good left out.
//! - *Fewer is better.* Two placements with the same returned operations placed and the same
//!   state differ only in which unknown operations they used; the one that used a subset of the
//!   other's can do everything the other can (it may still use the rest later). So the memo table
//!   prunes a placement if one seen before used a subset of its unknown operations.
//!
//! Unknown operations that make the stuck operation fit are tried first.
//!
//! Two more rules apply to every operation: the operations that may come next are tried earliest
//! return first (the order in which they were most likely linearized), and of two identical
//! operations (same input, same output) whose windows nest in time, the earlier one is always
//! placed first (any order with the later one first works with the two swapped).

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
    /// For an operation whose outcome is unknown: the state after it took effect.
    fn step(&mut self, state: &Self::State, op: usize) -> Option<Self::State>;

    /// A well-mixed hash of `state`, consistent with `Eq`.
    fn fingerprint(&self, state: &Self::State) -> u64;

    /// Whether operation `op` never changes the state (a read). The search then never tries to
    /// delay it once it fits.
    fn is_read_only(&self, op: usize) -> bool;

    /// Whether nothing placed right before `op` can ever be needed for it once it fits: true for
    /// read-only operations (what comes before could as well come after), and for operations
    /// that overwrite what they depend on (a put, a register write or cas: a block before it
    /// either changes nothing it sees or is overwritten). Not for an append.
    fn insensitive(&self, op: usize) -> bool {
        self.is_read_only(op)
    }

    /// Operations with the same class have the same input, and if they returned, the same
    /// output: placed at the same point, they have the same effect. (Different classes may still
    /// be identical operations; equal classes must be.)
    fn class(&self, op: usize) -> u64;

    /// Told when `op` is placed, tentatively: after `step` succeeded, before `viable` is asked.
    fn placed(&mut self, _op: usize) {}

    /// Told when a placement of `op` is undone or rejected.
    fn unplaced(&mut self, _op: usize) {}

    /// Called after `op` was placed, leading from `before` to `after`: `false` if no order of the
    /// operations not yet placed can complete from here (a cheap, sound look-ahead; `true` if
    /// unsure).
    fn viable(&mut self, _before: &Self::State, _after: &Self::State, _op: usize) -> bool {
        true
    }

    /// A superset of the unknown operations called by `frontier` that can be part of a block of
    /// unknown operations after which one of `misfits` fits: those that set a value a misfit
    /// needs, and, for chains, those that set a value that one of them expects. In call order. `None`
    /// if the model cannot tell (then every unknown operation is tried).
    fn helpers(&mut self, _misfits: &[usize], _frontier: u64) -> Option<Vec<usize>> {
        None
    }

    /// Whether the state `after` an unknown operation `op` may let another unknown operation
    /// change the state where it would not before (a cas expecting it); `true` if unsure. Only
    /// asked about unknown operations that make no misfit fit: they help only as the start of
    /// such a chain.
    fn may_enable(&self, _after: &Self::State, _op: usize) -> bool {
        true
    }

    /// The same look-ahead at the start: `false` if nothing can complete from the initial state.
    fn viable_at_start(&mut self, _state: &Self::State) -> bool {
        true
    }
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every operation that returned was placed.
    Linearizable,
    /// No order of the operations respects both real time and the model.
    Illegal,
    /// The deadline passed first.
    TimedOut,
    /// The memo table reached its memory limit first.
    OutOfMemory,
}

/// How often (in loop iterations) the search looks at the clock.
const CLOCK_EVERY: u64 = 1 << 12;

/// Where the scan of the current placement is. What it scans is in `Search::nodes`, at the depth
/// of the current placement (the number of operations placed).
#[derive(Clone, Copy, Debug)]
enum Cursor {
    /// Just placed an operation (or starting): find what may come next.
    Enter,
    /// At `Node::candidates[index]`.
    Candidate(usize),
    /// Past the candidates, trying unknown operations at `index` of `Node::helpers` (or of
    /// `Pending::order`). Pass 0 tries those that make a misfit fit; pass 1 those that may start
    /// a chain that does.
    Pending { pass: u8, index: usize },
}

/// What may come next after a placement.
#[derive(Default)]
struct Node {
    /// The operations that returned and real time allows next (called before the first return
    /// of one not placed), earliest return first: the order they were most likely linearized in.
    candidates: Vec<usize>,
    /// The first return of an operation not placed: unknown operations called by then may come
    /// next.
    frontier: u64,
    /// The operations that returned and could come next in real time, and that either do not fit
    /// the state or are not [`Model::insensitive`]. A block of unknown operations is worth placing
    /// only right before one of them (before an insensitive operation that fits, it could as well
    /// come after it, or not at all).
    misfits: Vec<usize>,
    /// The unknown operations that may help a misfit, in call order, when the model can tell
    /// ([`Model::helpers`]); otherwise every unknown operation is tried.
    helpers: Option<Vec<usize>>,
}

/// A search for a linearization of operations `0..n`, which can run in slices so that several
/// searches can take turns.
pub(crate) struct Search<M: Model> {
    model: M,
    windows: Vec<(u64, u64)>,
    list: EntryList,
    /// The returned operations placed.
    placed: PlacedSet,
    pending: Pending,
    memo: Memo<M::State>,
    longest: Longest,
    undo: Vec<Undo<M::State>>,
    state: M::State,
    /// The highest index of a returned operation placed.
    highest: Option<usize>,
    cursor: Cursor,
    /// Per depth (number of placements): what may come next after the placement at that depth.
    nodes: Vec<Node>,
    /// Per operation: an identical operation called and returned no later, which must be placed
    /// before it (`usize::MAX`: none). Any order that places them the other way round works with
    /// the two swapped, so the search only tries them in this order.
    twin: Vec<usize>,
    steps: u64,
    outcome: Option<Outcome>,
    /// Whether to ask the model's look-ahead ([`Model::viable`]).
    look_ahead: bool,
}

impl<M: Model> Search<M> {
    /// A search over operations `0..windows.len()`, where operation `i` was called at
    /// `windows[i].0` and returned at `windows[i].1` (`u64::MAX`: unknown outcome).
    ///
    /// Operations are best numbered in call order: the set of placed operations is then mostly a
    /// prefix, which keeps the memo table's entries short.
    pub(crate) fn new(mut model: M, windows: &[(u64, u64)]) -> Self {
        let returned: Vec<bool> = windows.iter().map(|w| w.1 != u64::MAX).collect();
        let unknown: Vec<bool> = returned.iter().map(|r| !r).collect();
        let list = EntryList::new(windows, &returned);
        let pending = Pending::new(&model, windows, &returned);
        let cursor = Cursor::Enter;
        let twin = twins(&model, windows, &returned);
        Self {
            state: model.init(),
            model,
            windows: windows.to_vec(),
            list,
            placed: PlacedSet::new(windows.len(), &unknown),
            pending,
            memo: Memo::default(),
            longest: Longest::new(returned),
            undo: Vec::new(),
            highest: None,
            cursor,
            nodes: Vec::new(),
            twin,
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

    /// Runs until the search ends, `budget` more placements have been tried, the deadline passes
    /// or the memo table holds more than `memory` bytes; returns the outcome once there is one.
    pub(crate) fn run(
        &mut self,
        budget: u64,
        deadline: Option<Instant>,
        memory: usize,
    ) -> Option<Outcome> {
        if self.outcome.is_none() {
            self.outcome = self.run_slice(budget, deadline, memory);
            if self.outcome.is_some() {
                // Free the memory of a finished search early.
                self.memo = Memo::default();
                self.undo = Vec::new();
            }
        }
        self.outcome
    }

    /// Roughly how many bytes the memo table holds.
    pub(crate) fn memory(&self) -> usize {
        self.memo.bytes
    }

    fn run_slice(
        &mut self,
        budget: u64,
        deadline: Option<Instant>,
        memory: usize,
    ) -> Option<Outcome> {
        if self.steps == 0 && self.look_ahead && !self.model.viable_at_start(&self.state) {
            return Some(Outcome::Illegal);
        }
        let stop_at = self.steps.saturating_add(budget);
        let mut iterations = 0u64;
        while !self.list.is_empty() {
            iterations += 1;
            if iterations.is_multiple_of(CLOCK_EVERY)
                && deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Some(Outcome::TimedOut);
            }
            if self.memo.bytes > memory {
                return Some(Outcome::OutOfMemory);
            }
            let dead_end = match self.cursor {
                Cursor::Enter => {
                    self.enter();
                    false
                }
                Cursor::Candidate(index) => {
                    let depth = self.undo.len();
                    match self.nodes[depth].candidates.get(index) {
                        Some(&op) => {
                            if self.steps >= stop_at {
                                return None;
                            }
                            self.steps += 1;
                            self.try_place(op, index)
                        }
                        // Nothing that returned can come next. Unknown operations may still
                        // change the state.
                        None => self.get_stuck(),
                    }
                }
                Cursor::Pending { pass, index } => {
                    if self.steps >= stop_at {
                        return None;
                    }
                    self.steps += 1;
                    self.next_pending(pass, index)
                }
            };
            if dead_end && !self.backtrack() {
                return Some(Outcome::Illegal);
            }
        }
        Some(Outcome::Linearizable)
    }

    /// Notes what may come next after the current placement.
    fn enter(&mut self) {
        let depth = self.undo.len();
        self.nodes.truncate(depth);
        self.nodes.resize_with(depth, Node::default);
        let mut node = Node::default();
        let mut at = self.list.first();
        while EntryList::is_call(at) {
            node.candidates.push(EntryList::op(at));
            at = self.list.next(at);
        }
        // The list is not empty, and ends with a return.
        node.frontier = self.windows[EntryList::op(at)].1;
        let windows = &self.windows;
        node.candidates
            .sort_unstable_by_key(|&op| (windows[op].1, op));
        self.nodes.push(node);
        self.cursor = Cursor::Candidate(0);
    }

    /// Tries to place operation `op` (at `index` of the candidates) next; returns whether the
    /// current placement turned out to be a dead end.
    fn try_place(&mut self, op: usize, index: usize) -> bool {
        self.cursor = Cursor::Candidate(index + 1);
        let twin = self.twin[op];
        if twin != usize::MAX && !self.placed.contains(twin) {
            return false;
        }
        let Some(next) = self.model.step(&self.state, op) else {
            return false;
        };
        let read_only = self.model.is_read_only(op);
        self.placed.insert(op);
        self.model.placed(op);
        let highest = self.highest.max(Some(op));
        if self.accept(op, &next, highest) {
            self.undo.push(Undo {
                op,
                from: From::Candidate(index),
                state: std::mem::replace(&mut self.state, next),
                highest: self.highest,
                forced: read_only,
            });
            self.highest = highest;
            self.longest.push(op);
            self.list.lift(2 * op);
            self.cursor = Cursor::Enter;
            false
        } else {
            // Hopeless, or seen before (so it failed before).
            self.placed.remove(op);
            self.model.unplaced(op);
            // A read-only op that fits here may be placed here without loss of generality (see
            // `Undo::forced`), so the current placement is a dead end too.
            read_only
        }
    }

    /// No candidate led anywhere: notes what unknown operations may help, and returns whether
    /// none can (a dead end).
    fn get_stuck(&mut self) -> bool {
        if self.pending.order.is_empty() {
            return true;
        }
        let depth = self.undo.len();
        let candidates = std::mem::take(&mut self.nodes[depth].candidates);
        let mut misfits = Vec::new();
        for &op in &candidates {
            if !self.model.insensitive(op) || self.model.step(&self.state, op).is_none() {
                misfits.push(op);
            }
        }
        self.nodes[depth].candidates = candidates;
        if misfits.is_empty() {
            return true;
        }
        let frontier = self.nodes[depth].frontier;
        let helpers = self.model.helpers(&misfits, frontier);
        self.nodes[depth].misfits = misfits;
        self.nodes[depth].helpers = helpers;
        self.cursor = Cursor::Pending { pass: 0, index: 0 };
        false
    }

    /// Tries the unknown operation at `index` of the current pass (see [`Cursor::Pending`]);
    /// returns whether the passes are over (a dead end).
    fn next_pending(&mut self, pass: u8, index: usize) -> bool {
        let depth = self.undo.len();
        let frontier = self.nodes[depth].frontier;
        let list = match &self.nodes[depth].helpers {
            Some(helpers) => helpers,
            None => &self.pending.order,
        };
        let Some(&op) = list
            .get(index)
            .filter(|&&op| self.windows[op].0 <= frontier)
        else {
            return match pass {
                0 => {
                    self.cursor = Cursor::Pending { pass: 1, index: 0 };
                    false
                }
                _ => true,
            };
        };
        self.cursor = Cursor::Pending {
            pass,
            index: index + 1,
        };
        if self.pending.is_placed[op] || !self.pending.is_next_of_its_class(op) {
            return false;
        }
        let next = match self.model.step(&self.state, op) {
            Some(next) if next != self.state => next,
            // Does not fit, or changes nothing.
            _ => return false,
        };
        let unblocks = self.nodes[depth]
            .misfits
            .iter()
            .any(|&m| self.model.step(&next, m).is_some());
        let worth = match pass {
            0 => unblocks,
            // Not tried in pass 0, and may enable another unknown operation that then helps.
            _ => !unblocks && self.model.may_enable(&next, op),
        };
        if !worth {
            return false;
        }
        self.pending.insert(op);
        self.model.placed(op);
        if self.accept(op, &next, self.highest) {
            self.undo.push(Undo {
                op,
                from: From::Pending { pass, index },
                state: std::mem::replace(&mut self.state, next),
                highest: self.highest,
                forced: false,
            });
            self.longest.push(op);
            self.cursor = Cursor::Enter;
        } else {
            self.pending.remove(op);
            self.model.unplaced(op);
        }
        false
    }

    /// Whether a placement of `op` leading to `next` may lead somewhere: the look-ahead does not
    /// rule it out, and the memo table has seen no placement as good. Records it if so.
    fn accept(&mut self, op: usize, next: &M::State, highest: Option<usize>) -> bool {
        if self.look_ahead && !self.model.viable(&self.state, next, op) {
            return false;
        }
        let key = self.placed.hash ^ self.model.fingerprint(next);
        self.memo
            .insert(key, &self.placed, highest, &mut self.pending, next)
    }

    /// Undoes placements up to the last one that had an alternative and moves on to the entry
    /// after its call (or the next unknown operation). Returns false if there is nothing left to
    /// undo.
    fn backtrack(&mut self) -> bool {
        while let Some(last) = self.undo.pop() {
            self.model.unplaced(last.op);
            self.state = last.state;
            self.highest = last.highest;
            self.longest.pop();
            match last.from {
                From::Candidate(index) => {
                    self.placed.remove(last.op);
                    self.list.unlift(2 * last.op);
                    if !last.forced {
                        self.cursor = Cursor::Candidate(index + 1);
                        return true;
                    }
                }
                From::Pending { pass, index } => {
                    self.pending.remove(last.op);
                    self.cursor = Cursor::Pending {
                        pass,
                        index: index + 1,
                    };
                    return true;
                }
            }
        }
        false
    }

    /// How many placements were tried.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    /// How many operations that returned [`Search::longest`] holds.
    pub(crate) fn longest_score(&self) -> usize {
        match self.outcome {
            Some(Outcome::Linearizable) => self.longest.score,
            _ => self.longest.best_score,
        }
    }

    /// A valid order of every operation that returned (and of the unknown ones that took effect)
    /// once linearizable; otherwise the sequence of operations with the most operations that
    /// returned that the search managed to place, in order.
    pub(crate) fn longest(&self) -> &[usize] {
        match self.outcome {
            Some(Outcome::Linearizable) => &self.longest.stack,
            _ => &self.longest.best,
        }
    }
}

/// Where a placed operation was placed from.
#[derive(Clone, Copy)]
enum From {
    /// The candidates, at this index.
    Candidate(usize),
    /// The scan of unknown operations (see [`Cursor::Pending`]).
    Pending { pass: u8, index: usize },
}

/// What to restore when a placement is undone.
struct Undo<S> {
    op: usize,
    from: From,
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

/// For each operation that returned, an identical one (same [`Model::class`]) called and returned
/// no later, if there is one among the few called just before it (`usize::MAX` if not).
fn twins<M: Model>(model: &M, windows: &[(u64, u64)], returned: &[bool]) -> Vec<usize> {
    /// How many earlier members of its class an operation looks at.
    const LOOK_BACK: usize = 8;
    let mut twin = vec![usize::MAX; windows.len()];
    let mut classes: HashMap<u64, Vec<usize>, BuildHasherDefault<PassThrough>> = HashMap::default();
    let mut order: Vec<usize> = (0..windows.len()).filter(|&i| returned[i]).collect();
    order.sort_by_key(|&i| (windows[i].0, i));
    for op in order {
        let members = classes.entry(mix64(model.class(op))).or_default();
        twin[op] = members
            .iter()
            .rev()
            .take(LOOK_BACK)
            .copied()
            .find(|&p| windows[p].1 <= windows[op].1)
            .unwrap_or(usize::MAX);
        members.push(op);
    }
    twin
}

/// The operations whose outcome is unknown: in call order, in classes of identical inputs, and
/// which of them are placed.
struct Pending {
    /// Unknown operations by call time.
    order: Vec<usize>,
    /// Per operation: its class (an index into `members`), or `u32::MAX` if it returned.
    class_of: Vec<u32>,
    /// Per class: its members by call time, and how many of them are placed (always the first
    /// ones: only the next one of a class is ever placed).
    members: Vec<Vec<usize>>,
    used: Vec<u32>,
    /// The placed ones as flags.
    is_placed: Vec<bool>,
    /// The placed ones in placement order, as a list that memo entries share: `top` is its last
    /// link (`NO_LINK` when empty). Links that no memo entry refers to are freed when popped.
    links: Vec<Link>,
    top: u32,
}

/// A link of the list of placed unknown operations.
struct Link {
    op: u32,
    parent: u32,
    /// Whether it is on the current list.
    current: bool,
    /// Whether a memo entry refers to it (then it is kept when popped).
    kept: bool,
}

const NO_LINK: u32 = u32::MAX;

impl Pending {
    fn new<M: Model>(model: &M, windows: &[(u64, u64)], returned: &[bool]) -> Self {
        let mut order: Vec<usize> = (0..windows.len()).filter(|&i| !returned[i]).collect();
        order.sort_by_key(|&i| (windows[i].0, i));
        let mut class_of = vec![u32::MAX; windows.len()];
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut ids: HashMap<u64, u32, BuildHasherDefault<PassThrough>> = HashMap::default();
        for &op in &order {
            let id = *ids.entry(mix64(model.class(op))).or_insert_with(|| {
                members.push(Vec::new());
                (members.len() - 1) as u32
            });
            class_of[op] = id;
            members[id as usize].push(op);
        }
        Self {
            order,
            class_of,
            used: vec![0; members.len()],
            members,
            is_placed: vec![false; windows.len()],
            links: Vec::new(),
            top: NO_LINK,
        }
    }

    fn is_next_of_its_class(&self, op: usize) -> bool {
        let class = self.class_of[op] as usize;
        self.members[class].get(self.used[class] as usize) == Some(&op)
    }

    fn insert(&mut self, op: usize) {
        self.used[self.class_of[op] as usize] += 1;
        self.is_placed[op] = true;
        self.links.push(Link {
            op: op as u32,
            parent: self.top,
            current: true,
            kept: false,
        });
        self.top = (self.links.len() - 1) as u32;
    }

    /// Removes `op`, the last one inserted.
    fn remove(&mut self, op: usize) {
        self.used[self.class_of[op] as usize] -= 1;
        self.is_placed[op] = false;
        let top = self.top as usize;
        self.links[top].current = false;
        self.top = self.links[top].parent;
        if top + 1 == self.links.len() && !self.links[top].kept {
            self.links.pop();
        }
    }

    /// The current list, for a memo entry to refer to.
    fn keep(&mut self) -> u32 {
        if self.top != NO_LINK {
            self.links[self.top as usize].kept = true;
        }
        self.top
    }

    /// Whether every operation on the list ending at `link` is placed now.
    fn all_placed(&self, mut link: u32) -> bool {
        while link != NO_LINK {
            let l = &self.links[link as usize];
            if l.current {
                // It and everything before it are on the current list.
                return true;
            }
            if !self.is_placed[l.op as usize] {
                return false;
            }
            link = l.parent;
        }
        true
    }
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
    /// The entries of the operations `i` with `included[i]`, in time order.
    fn new(windows: &[(u64, u64)], included: &[bool]) -> Self {
        let head = 2 * windows.len();
        let mut order: Vec<usize> = (0..head).filter(|&e| included[e / 2]).collect();
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
    fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// An empty set of `0..n`, except that the operations with `always[i]` are always in it
    /// (and not in the hash): the unknown operations, which this set does not track, so that the
    /// leading full words are not held back by them.
    fn new(n: usize, always: &[bool]) -> Self {
        let mut words = vec![0u64; n.div_ceil(64)];
        for (i, _) in always.iter().enumerate().filter(|(_, a)| **a) {
            words[i / 64] |= 1 << (i % 64);
        }
        let full = words.iter().take_while(|&&w| w == u64::MAX).count();
        Self {
            words,
            hash: 0,
            full,
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

/// The memo table: every placement the search has committed to, as the set of returned operations
/// placed, the state, and the unknown operations placed. Reaching the same returned set and state
/// a second time, with a superset of the unknown operations, cannot lead anywhere new.
struct Memo<S> {
    /// Hash of (returned set, state) -> index of the newest entry with that hash.
    index: HashMap<u64, usize, BuildHasherDefault<PassThrough>>,
    entries: Vec<MemoEntry<S>>,
    /// The `rest` words of all entries' returned sets, back to back.
    words: Vec<u64>,
    /// Roughly the bytes all this takes.
    bytes: usize,
}

struct MemoEntry<S> {
    full: usize,
    start: usize,
    len: usize,
    /// The unknown operations it had placed: a list in `Pending::links`.
    unknown: u32,
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
            bytes: 0,
        }
    }
}

impl<S: Clone + Eq> Memo<S> {
    /// Records the placement unless one as good is already known; returns whether it was new.
    fn insert(
        &mut self,
        key: u64,
        placed: &PlacedSet,
        highest: Option<usize>,
        pending: &mut Pending,
        state: &S,
    ) -> bool {
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
                        && pending.all_placed(e.unknown)
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
            unknown: pending.keep(),
            older,
            state: state.clone(),
        });
        self.words.extend_from_slice(rest);
        // The entry, its words, a link it may keep, and about two words of hash table.
        self.bytes +=
            std::mem::size_of::<MemoEntry<S>>() + 8 * rest.len() + std::mem::size_of::<Link>() + 24;
        true
    }
}

/// Tracks the best stack of placed operations seen so far, without copying it on every push:
/// the one with the most operations that returned (those with unknown outcome are optional, so
/// they do not count). `agree` is the length of the common prefix of `stack` and `best`.
#[derive(Default)]
struct Longest {
    stack: Vec<usize>,
    best: Vec<usize>,
    agree: usize,
    /// Per operation: whether it returned.
    returned: Vec<bool>,
    /// How many operations that returned `stack` and `best` hold.
    score: usize,
    best_score: usize,
}

impl Longest {
    fn new(returned: Vec<bool>) -> Self {
        Self {
            returned,
            ..Self::default()
        }
    }

    fn push(&mut self, op: usize) {
        if self.agree == self.stack.len() && self.best.get(self.agree) == Some(&op) {
            self.agree += 1;
        }
        self.stack.push(op);
        self.score += usize::from(self.returned[op]);
        if self.score > self.best_score {
            self.best.truncate(self.agree);
            self.best.extend_from_slice(&self.stack[self.agree..]);
            self.agree = self.stack.len();
            self.best_score = self.score;
        }
    }

    fn pop(&mut self) {
        if let Some(op) = self.stack.pop() {
            self.score -= usize::from(self.returned[op]);
        }
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
        fn class(&self, op: usize) -> u64 {
            op as u64
        }
    }

    #[test]
    fn finds_the_only_order_among_overlapping_ops() {
        let windows = vec![(0, 100); 70];
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(
            search.run(u64::MAX, None, usize::MAX),
            Some(Outcome::Linearizable)
        );
        assert_eq!(search.longest(), (0..70).collect::<Vec<_>>());
    }

    #[test]
    fn real_time_order_can_make_it_illegal() {
        // op 1 returns before op 0 is called, but the model needs 0 first.
        let windows = vec![(10, 20), (0, 5), (30, 40)];
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(
            search.run(u64::MAX, None, usize::MAX),
            Some(Outcome::Illegal)
        );
        assert!(search.longest().is_empty());
    }

    #[test]
    fn runs_in_slices() {
        let windows = vec![(0, 100); 70];
        let mut search = Search::new(Increasing, &windows);
        let mut slices = 0;
        while search.run(10, None, usize::MAX).is_none() {
            slices += 1;
        }
        assert!(slices > 3);
        assert_eq!(search.longest(), (0..70).collect::<Vec<_>>());
    }

    #[test]
    fn unknown_operations_are_optional_and_placed_when_needed() {
        // Op 3 has an unknown outcome and is needed (writes 3 must follow 2); op 5 too but
        // nothing needs it... except op 4, which returned: so 5 is not needed and may be left out.
        let mut windows = vec![(0, 10), (11, 20), (21, 30), (0, u64::MAX), (31, 40)];
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(
            search.run(u64::MAX, None, usize::MAX),
            Some(Outcome::Linearizable)
        );
        assert_eq!(search.longest(), [0, 1, 2, 3, 4]);
        // Called too late to be placed before op 4 returns.
        windows[3] = (41, u64::MAX);
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(
            search.run(u64::MAX, None, usize::MAX),
            Some(Outcome::Illegal)
        );
        // Not needed at all: op 4 gone.
        windows[3] = (0, u64::MAX);
        windows.truncate(4);
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(
            search.run(u64::MAX, None, usize::MAX),
            Some(Outcome::Linearizable)
        );
        assert_eq!(search.longest(), [0, 1, 2]);
    }

    #[test]
    fn stops_at_the_memory_limit() {
        let windows = vec![(0, 100); 70];
        let mut search = Search::new(Increasing, &windows);
        assert_eq!(search.run(u64::MAX, None, 0), Some(Outcome::OutOfMemory));
    }

    #[test]
    fn placed_set_compacts_canonically() {
        let mut set = PlacedSet::new(200, &[false; 200]);
        for i in 0..130 {
            set.insert(i);
        }
        set.insert(150);
        assert_eq!(set.compact(Some(150)), (2, &[(1u64 << 22) | 0b11][..]));
        set.remove(3);
        assert_eq!(set.compact(Some(150)).0, 0);
    }
}
