//! A level-ordered breadth-first search of the Raft model, on any number of threads.
//!
//! stateright's own breadth-first search hands blocks of states to its threads and takes them
//! last-in first-out, so the path it records to a state need not be a shortest one. This search
//! goes one depth at a time: every state `d` steps from the start is checked before any state
//! `d + 1` steps away, so the first depth at which a property is discovered is the length of its
//! shortest path. Within a depth, states keep the order a one-thread queue would give them (by
//! the place of their parent in the depth before, then the index of the action): the results do
//! not depend on the number of threads or on how they raced.
//!
//! What it keeps: the states of the depth being checked and of the next one, and for every state
//! found, 24 bytes (its fingerprint's parent and the action that led to it) to rebuild paths.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, RwLock};
use std::time::Duration;

use nohash_hasher::IntMap;
use stateright::{Expectation, Model, Path, Property};

use super::action::RaftAction;
use super::action::RaftPath;
use super::clock::Stopwatch;
use super::node::RaftNode;
use super::panics;
use super::raft_model::RaftModel;
use super::shared::hash_of;
use super::state::RaftState;

/// What to search for, and when to stop.
#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub threads: usize,
    /// Check the states at most this many steps from the start (no limit if `None`).
    pub max_depth: Option<usize>,
    /// Stop when this much time has passed on this stopwatch.
    pub deadline: Option<(Stopwatch, Duration)>,
    /// Stop once this many distinct states were found.
    pub state_limit: Option<usize>,
    /// The properties to look for, by name (`None`: all of the model's).
    pub properties: Option<Vec<&'static str>>,
    /// Stop once the depth of the first violation of an `always` property is checked.
    pub stop_after_first_violation: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            threads: 1,
            max_depth: None,
            deadline: None,
            state_limit: None,
            properties: None,
            stop_after_first_violation: false,
        }
    }
}

/// Why a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Every state within the model's boundary (and the depth limit, if some state lies beyond
    /// it: see [`End::DepthLimit`]) was checked.
    Exhausted,
    /// Every property looked for was discovered.
    AllDiscovered,
    /// The depth of the first violation was checked (with
    /// [`SearchOptions::stop_after_first_violation`]).
    FirstViolation,
    /// Every state within the depth limit was checked, and some state lies beyond it.
    DepthLimit,
    /// The deadline passed.
    Deadline,
    /// The state limit was reached.
    StateLimit,
    /// A search thread panicked outside the Raft (a bug of the checker: see
    /// [`Outcome::failure`]).
    Failed,
}

/// Counts, as the search goes and at its end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// States generated within the boundary (the initial ones included), seen before or not.
    pub generated: usize,
    /// Distinct states found.
    pub unique: usize,
    /// The depth being checked (at the end: the deepest depth checked completely).
    pub depth: usize,
}

/// What a search found.
pub struct Outcome<R: RaftNode> {
    pub counts: Counts,
    pub end: End,
    /// For each property discovered: the shortest path to a state that discovers it (the first
    /// such state in the order of the module's documentation). A property is missing here but
    /// listed in `found_at` if its path could not be rebuilt (only if two states' fingerprints
    /// collide).
    pub discoveries: BTreeMap<&'static str, RaftPath<R>>,
    /// For each property discovered: the depth and the place in it (in the order of the module's
    /// documentation) of the state that discovered it.
    pub found_at: BTreeMap<&'static str, (usize, u64)>,
    /// With [`End::Failed`]: the panic.
    pub failure: Option<String>,
}

/// States per unit of work handed to a thread.
const CHUNK: usize = 1024;

/// Where a state was first found: its parent's fingerprint, the parent's place in its depth,
/// the index of the action, and the state's depth. An initial state has `depth` 0 and `action`
/// its index among the initial states.
#[derive(Clone, Copy)]
struct Parent {
    parent: u64,
    place: u32,
    action: u32,
    depth: u32,
}

/// Every state found, by fingerprint, in shards (each behind its own lock).
struct Parents {
    shards: Vec<Mutex<IntMap<u64, Parent>>>,
    count: AtomicUsize,
}

const SHARDS: usize = 64;

/// Whether [`Parents::insert`] found the state new.
enum Inserted {
    New,
    Known,
}

impl Parents {
    fn new() -> Self {
        Parents {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            count: AtomicUsize::new(0),
        }
    }

    fn shard(&self, fp: u64) -> std::sync::MutexGuard<'_, IntMap<u64, Parent>> {
        // Bits from the middle: the map itself uses the low ones and the top seven.
        let shard = &self.shards[(fp >> 32) as usize % SHARDS];
        shard.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record that `fp` was reached by `by`; a state found earlier in the same depth keeps the
    /// least (place, action), as a one-thread queue would have found it first.
    fn insert(&self, fp: u64, by: Parent) -> Inserted {
        let mut shard = self.shard(fp);
        match shard.get_mut(&fp) {
            None => {
                shard.insert(fp, by);
                self.count.fetch_add(1, Ordering::Relaxed);
                Inserted::New
            }
            Some(old) => {
                if old.depth == by.depth && (by.place, by.action) < (old.place, old.action) {
                    *old = by;
                }
                Inserted::Known
            }
        }
    }

    fn get(&self, fp: u64) -> Option<Parent> {
        self.shard(fp).get(&fp).copied()
    }

    fn contains(&self, fp: u64) -> bool {
        self.shard(fp).contains_key(&fp)
    }

    fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// A state with its fingerprint.
type Found<R> = (RaftState<R>, u64);

/// One depth's states, in order, with their fingerprints.
type Level<R> = Vec<Found<R>>;

/// What the threads share.
struct Work<'m, R: RaftNode> {
    model: &'m RaftModel<R>,
    properties: Vec<Property<RaftModel<R>>>,
    options: SearchOptions,
    parents: Parents,
    /// The depth being checked, and its states.
    level: RwLock<Arc<Level<R>>>,
    depth: AtomicUsize,
    /// The phase: checking the states of this depth (then expanding them, unless the search
    /// ends there).
    checking: AtomicBool,
    /// Whether the states of this depth are expanded (false at the depth limit: then they are
    /// only probed for a successor not found before).
    expand: AtomicBool,
    /// At the depth limit: whether some state has a successor not found before.
    beyond: AtomicBool,
    /// Which properties were discovered in earlier depths.
    discovered: RwLock<Vec<bool>>,
    /// The least place in this depth of a state that discovers each property.
    found: Vec<AtomicU64>,
    /// An `always` property was violated in this depth.
    violated: AtomicBool,
    next_chunk: AtomicUsize,
    /// The next depth's states, by chunk.
    next: Mutex<Vec<(usize, Level<R>)>>,
    generated: AtomicUsize,
    /// Stop now (deadline or state limit), and why.
    stop: Mutex<Option<End>>,
    stopping: AtomicBool,
    finished: AtomicBool,
    failure: Mutex<Option<String>>,
}

impl<R: RaftNode> Work<'_, R> {
    fn counts(&self) -> Counts {
        Counts {
            generated: self.generated.load(Ordering::Relaxed),
            unique: self.parents.len(),
            depth: self.depth.load(Ordering::Relaxed),
        }
    }

    fn stop(&self, why: End) {
        let mut stop = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        stop.get_or_insert(why);
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Check (in the checking phase) or expand (in the other) the states of the current depth,
    /// chunk by chunk, until none is left.
    fn work(&self, progress: &(dyn Fn(Counts) + Sync)) {
        let level = self.level.read().unwrap_or_else(|e| e.into_inner()).clone();
        let discovered = self
            .discovered
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let depth = self.depth.load(Ordering::Relaxed);
        let checking = self.checking.load(Ordering::Relaxed);
        let expand = self.expand.load(Ordering::Relaxed);
        let mut actions = Vec::new();
        loop {
            if self.stopping.load(Ordering::Relaxed) {
                return;
            }
            let chunk = self.next_chunk.fetch_add(1, Ordering::Relaxed);
            let start = chunk * CHUNK;
            if start >= level.len() {
                return;
            }
            let mut next = Vec::new();
            let mut generated = 0;
            for (place, (state, fp)) in level.iter().enumerate().skip(start).take(CHUNK) {
                if checking {
                    for (k, property) in self.properties.iter().enumerate() {
                        if discovered[k] {
                            continue;
                        }
                        let hit = match property.expectation {
                            Expectation::Always => !(property.condition)(self.model, state),
                            Expectation::Sometimes => (property.condition)(self.model, state),
                            Expectation::Eventually => false,
                        };
                        if hit {
                            self.found[k].fetch_min(place as u64, Ordering::Relaxed);
                            if property.expectation == Expectation::Always {
                                self.violated.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                    continue;
                }
                if !expand && self.beyond.load(Ordering::Relaxed) {
                    break;
                }
                actions.clear();
                self.model.actions(state, &mut actions);
                for (index, action) in actions.drain(..).enumerate() {
                    let Some(after) = self.model.next_state(state, action) else {
                        continue;
                    };
                    if !self.model.within_boundary(&after) {
                        continue;
                    }
                    let after_fp = hash_of(&after);
                    if !expand {
                        if !self.parents.contains(after_fp) {
                            self.beyond.store(true, Ordering::Relaxed);
                            break;
                        }
                        continue;
                    }
                    generated += 1;
                    let by = Parent {
                        parent: *fp,
                        place: place as u32,
                        action: index as u32,
                        depth: depth as u32 + 1,
                    };
                    if let Inserted::New = self.parents.insert(after_fp, by) {
                        next.push((after, after_fp));
                    }
                }
            }
            self.generated.fetch_add(generated, Ordering::Relaxed);
            if !next.is_empty() {
                self.next
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((chunk, next));
            }
            if self
                .options
                .deadline
                .is_some_and(|(clock, limit)| clock.passed(limit))
            {
                self.stop(End::Deadline);
            }
            if self
                .options
                .state_limit
                .is_some_and(|limit| self.parents.len() >= limit)
            {
                self.stop(End::StateLimit);
            }
            progress(self.counts());
        }
    }
}

/// Search `model` level by level (see the module's documentation). `progress` hears the counts
/// now and then, from any of the threads.
pub fn search<R: RaftNode>(
    model: &RaftModel<R>,
    options: &SearchOptions,
    progress: &(dyn Fn(Counts) + Sync),
) -> Outcome<R> {
    let properties: Vec<Property<RaftModel<R>>> = model
        .properties()
        .into_iter()
        .filter(|p| {
            options
                .properties
                .as_ref()
                .is_none_or(|names| names.contains(&p.name))
        })
        .collect();
    let parents = Parents::new();
    let mut level = Vec::new();
    let mut generated = 0;
    for (index, init) in model.init_states().into_iter().enumerate() {
        if !model.within_boundary(&init) {
            continue;
        }
        generated += 1;
        let fp = hash_of(&init);
        let root = Parent {
            parent: 0,
            place: 0,
            action: index as u32,
            depth: 0,
        };
        if let Inserted::New = parents.insert(fp, root) {
            level.push((init, fp));
        }
    }
    let work = Work {
        model,
        found: properties
            .iter()
            .map(|_| AtomicU64::new(u64::MAX))
            .collect(),
        discovered: RwLock::new(vec![false; properties.len()]),
        properties,
        options: options.clone(),
        parents,
        level: RwLock::new(Arc::new(level)),
        depth: AtomicUsize::new(0),
        checking: AtomicBool::new(true),
        expand: AtomicBool::new(options.max_depth != Some(0)),
        beyond: AtomicBool::new(false),
        violated: AtomicBool::new(false),
        next_chunk: AtomicUsize::new(0),
        next: Mutex::new(Vec::new()),
        generated: AtomicUsize::new(generated),
        stop: Mutex::new(None),
        stopping: AtomicBool::new(false),
        finished: AtomicBool::new(false),
        failure: Mutex::new(None),
    };
    let threads = options.threads.max(1);
    // Each depth, twice (check its states, then expand them): every thread (and this one) waits
    // at the barrier, the threads work, and all wait again; then this thread takes stock.
    let barrier = Barrier::new(threads + 1);
    let mut discoveries: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut found_at = BTreeMap::new();
    // The deepest depth whose states were all checked.
    let mut checked = 0;
    let end = std::thread::scope(|scope| {
        for t in 0..threads {
            let (work, barrier) = (&work, &barrier);
            std::thread::Builder::new()
                .name(format!("search-{t}"))
                .spawn_scoped(scope, move || {
                    loop {
                        barrier.wait();
                        if work.finished.load(Ordering::Relaxed) {
                            return;
                        }
                        // A panic here is the checker's (the model catches the Raft's): it
                        // ends the search, which must still meet at the barrier.
                        if let Err(panic) = panics::catch(|| work.work(progress)) {
                            *work.failure.lock().unwrap_or_else(|e| e.into_inner()) =
                                Some(panic.to_string());
                            work.stop(End::Failed);
                        }
                        barrier.wait();
                    }
                })
                .expect("spawn a search thread");
        }
        let run_phase = |checking: bool| {
            work.checking.store(checking, Ordering::Relaxed);
            work.next_chunk.store(0, Ordering::Relaxed);
            barrier.wait();
            barrier.wait();
            *work.stop.lock().unwrap_or_else(|e| e.into_inner())
        };
        let end = loop {
            let level = work.level.read().unwrap_or_else(|e| e.into_inner()).clone();
            let depth = work.depth.load(Ordering::Relaxed);
            if level.is_empty() {
                // Nothing this deep: the depth before was the last.
                work.depth.store(depth.saturating_sub(1), Ordering::Relaxed);
                break End::Exhausted;
            }
            let stopped = run_phase(true);
            // What this depth discovered (even if it was cut short: every shallower state was
            // checked, so these are shortest too).
            {
                let mut discovered = work.discovered.write().unwrap_or_else(|e| e.into_inner());
                for (k, property) in work.properties.iter().enumerate() {
                    let place = work.found[k].load(Ordering::Relaxed);
                    if !discovered[k] && place != u64::MAX {
                        discovered[k] = true;
                        discoveries.insert(property.name, level[place as usize].1);
                        found_at.insert(property.name, (depth, place));
                    }
                }
            }
            if let Some(stop) = stopped {
                break stop;
            }
            checked = depth;
            if options.stop_after_first_violation && work.violated.load(Ordering::Relaxed) {
                break End::FirstViolation;
            }
            if work
                .discovered
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .all(|d| *d)
            {
                break End::AllDiscovered;
            }
            if let Some(stop) = run_phase(false) {
                break stop;
            }
            if !work.expand.load(Ordering::Relaxed) {
                break if work.beyond.load(Ordering::Relaxed) {
                    End::DepthLimit
                } else {
                    End::Exhausted
                };
            }
            // The next depth, in the order of the module's documentation.
            let mut next: Vec<(usize, Level<R>)> =
                std::mem::take(&mut *work.next.lock().unwrap_or_else(|e| e.into_inner()));
            next.sort_unstable_by_key(|(chunk, _)| *chunk);
            let mut next: Vec<((u32, u32), Found<R>)> = next
                .into_iter()
                .flat_map(|(_, states)| states)
                .map(|(state, fp)| {
                    let by = work.parents.get(fp).expect("a state found is recorded");
                    ((by.place, by.action), (state, fp))
                })
                .collect();
            next.sort_unstable_by_key(|(key, _)| *key);
            let next: Level<R> = next.into_iter().map(|(_, state)| state).collect();
            *work.level.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
            work.depth.store(depth + 1, Ordering::Relaxed);
            work.expand.store(
                options.max_depth.is_none_or(|max| depth + 1 < max),
                Ordering::Relaxed,
            );
            for found in &work.found {
                found.store(u64::MAX, Ordering::Relaxed);
            }
            progress(work.counts());
        };
        work.finished.store(true, Ordering::Relaxed);
        barrier.wait();
        end
    });
    let counts = Counts {
        depth: match end {
            // The depth in progress was checked to the end.
            End::Exhausted | End::DepthLimit | End::FirstViolation | End::AllDiscovered => {
                work.depth.load(Ordering::Relaxed)
            }
            End::Deadline | End::StateLimit | End::Failed => {
                checked.min(work.depth.load(Ordering::Relaxed))
            }
        },
        ..work.counts()
    };
    let discoveries = discoveries
        .into_iter()
        .filter_map(|(name, fp)| Some((name, path_to(model, &work.parents, fp)?)))
        .collect();
    let failure = work
        .failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    Outcome {
        counts,
        end,
        discoveries,
        found_at,
        failure,
    }
}

/// The path to the state with fingerprint `fp`, rebuilt from where each state was found.
fn path_to<R: RaftNode>(model: &RaftModel<R>, parents: &Parents, fp: u64) -> Option<RaftPath<R>> {
    let mut indices = Vec::new();
    let mut at = parents.get(fp)?;
    while at.depth > 0 {
        indices.push(at.action as usize);
        at = parents.get(at.parent)?;
    }
    indices.reverse();
    let init = model.init_states().into_iter().nth(at.action as usize)?;
    let mut state = init.clone();
    let mut steps: Vec<RaftAction<R>> = Vec::with_capacity(indices.len());
    let mut actions = Vec::new();
    for index in indices {
        actions.clear();
        model.actions(&state, &mut actions);
        let action = actions.get(index)?.clone();
        state = model.next_state(&state, action.clone())?;
        steps.push(action);
    }
    Path::from_actions(model, init, &steps)
}
