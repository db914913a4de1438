//! Running the model checker, finding **short** counterexamples, and printing them as readable
//! message traces.
//!
//! What "shortest" means here, by strategy:
//! - breadth-first search (`Strategy::Bfs`) is this crate's own level-ordered search (see
//!   [`super::search`]): it checks every state `d` steps from the start before any state `d + 1`
//!   steps away, so each counterexample it prints is a shortest one. It stops once the depth of its
//!   first violation is checked.
//! - depth-first search and simulation (stateright's) find paths of any length (stateright 0.31
//!   also overwrites a property's discovery with later ones). Each path is shortened until no
//!   single step can be left out ([`minimize`]), then a level-ordered search of the shorter depths
//!   looks for a shorter path, up to [`SEARCH_STATE_LIMIT`] states: if it finds one, that one is
//!   printed, and it is a shortest one; if it checks every shorter depth, the shortened path is a
//!   shortest one; otherwise the path is printed as minimal, not known to be shortest.
//!   [`Verdict::shortness`] says which.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stateright::{Checker, Expectation, Model};

use super::action::RaftPath;
use super::bounds::{Bounds, Exploration, Strategy};
use super::clock::Stopwatch;
use super::node::RaftNode;
use super::panics;
use super::properties::{REACHABILITY, SAFETY, violation_of};
use super::raft_model::{RaftModel, model};
use super::report::{Report, Shortness, Stop, Verdict};
use super::search::{self, Counts, End, SearchOptions};
use super::shorten::shorten;
use super::symmetry;
/// How far a check has got, for a progress display.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// What it does: "searching", or "shortening" the counterexamples found.
    pub stage: &'static str,
    pub counts: Counts,
    pub elapsed: Duration,
    /// The time limit of the search, if any.
    pub time_limit: Option<Duration>,
}

/// Check `bounds` with `exploration`, and shorten the counterexamples (see the module's
/// documentation).
pub fn check<R: RaftNode>(bounds: &Bounds, exploration: &Exploration) -> Report<R> {
    check_with_progress(bounds, exploration, &|_| {})
}

/// What a search found, before the counterexamples are shortened.
struct Found<R: RaftNode> {
    counts: Counts,
    complete: bool,
    stop: Option<Stop>,
    discoveries: BTreeMap<&'static str, RaftPath<R>>,
    /// Properties discovered whose path could not be rebuilt (only if the fingerprints of two
    /// states collide): still violated, or reached, but with no path to print.
    pathless: Vec<&'static str>,
    /// The discoveries' paths are shortest already (level-ordered search).
    shortest: bool,
}

/// [`check`], telling `progress` how far it has got every now and then (from any thread).
pub fn check_with_progress<R: RaftNode>(
    bounds: &Bounds,
    exploration: &Exploration,
    progress: &(dyn Fn(Progress) + Sync),
) -> Report<R> {
    let started = Instant::now();
    // The clock the time limit is measured on (real time, or CPU time for the presets).
    let clock = Stopwatch::start(exploration.cpu_time);
    let time_limit = exploration.time_limit();
    let tell = |stage, counts| {
        progress(Progress {
            stage,
            counts,
            elapsed: clock.elapsed(),
            time_limit,
        })
    };
    let model = model::<R>(bounds);
    let found = match exploration.strategy {
        Strategy::Bfs => {
            breadth_first_search(&model, exploration, clock, &|c| tell("searching", c))
        }
        Strategy::Dfs | Strategy::Simulation => {
            stateright_search(&model, exploration, clock, &|c| tell("searching", c))
        }
    };
    let searched = started.elapsed();
    // Shorten the counterexamples of the violated safety properties.
    let violated: BTreeMap<&'static str, RaftPath<R>> = found
        .discoveries
        .iter()
        .filter(|(name, _)| SAFETY.contains(name))
        .map(|(name, path)| (*name, path.clone()))
        .collect();
    let shortened = if found.shortest {
        violated
            .into_iter()
            .map(|(name, path)| (name, (path, Shortness::Shortest)))
            .collect()
    } else {
        shorten(
            &model,
            violated,
            exploration.threads,
            exploration.shortening_limit,
            &|c| tell("shortening", c),
        )
    };
    let mut verdicts = Vec::new();
    for name in SAFETY {
        let counterexample = shortened.get(name).cloned();
        let pathless = found.pathless.contains(&name);
        let violation = counterexample
            .as_ref()
            .and_then(|(path, _)| violation_of(name, path.last_state()));
        let why = match &violation {
            Some(violation) => Some(violation.why.clone()),
            None if pathless => Some(
                "violated in a state whose path could not be rebuilt (two states' \
                 fingerprints collided); run again with --strategy dfs"
                    .into(),
            ),
            None => None,
        };
        verdicts.push(Verdict {
            name,
            expectation: Expectation::Always,
            ok: counterexample.is_none() && !pathless,
            shortness: counterexample.as_ref().map(|(_, s)| *s),
            counterexample: counterexample.map(|(path, _)| path),
            why,
            violation,
        });
    }
    for name in REACHABILITY {
        verdicts.push(Verdict {
            name,
            expectation: Expectation::Sometimes,
            ok: found.discoveries.contains_key(name) || found.pathless.contains(&name),
            counterexample: None,
            shortness: None,
            why: None,
            violation: None,
        });
    }
    Report {
        bounds: bounds.clone(),
        exploration: exploration.clone(),
        generated: found.counts.generated,
        unique: found.counts.unique,
        max_depth: found.counts.depth,
        elapsed: searched,
        shortening: if found.shortest {
            Duration::ZERO
        } else {
            started.elapsed() - searched
        },
        complete: found.complete,
        stop: found.stop,
        verdicts,
    }
}

/// `Strategy::Bfs`: this crate's level-ordered search, which stops once the depth of its first
/// violation is checked.
fn breadth_first_search<R: RaftNode>(
    model: &RaftModel<R>,
    exploration: &Exploration,
    clock: Stopwatch,
    progress: &(dyn Fn(Counts) + Sync),
) -> Found<R> {
    let time_limit = exploration.time_limit();
    let outcome = search::search(
        model,
        &SearchOptions {
            threads: exploration.threads.max(1),
            max_depth: exploration.max_depth,
            deadline: time_limit.map(|t| (clock, t)),
            state_limit: None,
            properties: None,
            stop_after_first_violation: true,
        },
        progress,
    );
    let depth = outcome.counts.depth;
    let stop = match outcome.end {
        End::Exhausted | End::AllDiscovered => None,
        End::FirstViolation => Some(Stop::FirstViolation(depth)),
        End::DepthLimit => Some(Stop::DepthLimit(depth)),
        End::Deadline | End::StateLimit => time_limit.map(Stop::TimeLimit),
        End::Failed => Some(Stop::Failed(
            outcome
                .failure
                .unwrap_or_else(|| "a search thread failed".into()),
        )),
    };
    Found {
        counts: outcome.counts,
        complete: stop.is_none(),
        stop,
        pathless: outcome
            .found_at
            .keys()
            .filter(|name| !outcome.discoveries.contains_key(*name))
            .copied()
            .collect(),
        discoveries: outcome.discoveries,
        shortest: true,
    }
}

/// Join stateright's search threads that have ended (or are about to); the first panic among
/// them is the search's failure.
fn join_search_threads(handles: Vec<std::thread::JoinHandle<()>>, failure: &mut Option<String>) {
    for handle in handles {
        if let Err(payload) = handle.join() {
            failure.get_or_insert(format!(
                "a search thread panicked: {}",
                panics::message(&*payload)
            ));
        }
    }
}

/// `Strategy::Dfs` and `Strategy::Simulation`: stateright's searches, watched from here (its
/// own timeout is checked only between jobs, which a single DFS thread may never reach; and a
/// thread that panics must not pass for a finished search).
fn stateright_search<R: RaftNode>(
    model: &RaftModel<R>,
    exploration: &Exploration,
    clock: Stopwatch,
    progress: &(dyn Fn(Counts) + Sync),
) -> Found<R> {
    let time_limit = exploration.time_limit();
    let simulation = exploration.strategy == Strategy::Simulation;
    // stateright counts the initial state as depth 1 and does not check a state at its target
    // depth; its simulation counts steps, and does not check a state past its target.
    let target = exploration
        .max_depth
        .map(|d| if simulation { d + 1 } else { d + 2 });
    // stateright's checker takes a model of its own.
    let own = super::model::<R>(model.bounds());
    // Set once this search is over, to end stateright's depth-first threads (see
    // `RaftModel::stopped_by`). Its simulation threads end only by its own timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let own = if simulation {
        own.for_simulation()
    } else {
        own.stopped_by(Arc::clone(&stop))
    };
    let mut builder = own.checker().threads(exploration.threads.max(1));
    if let Some(target) = target {
        builder = builder.target_max_depth(target);
    }
    // stateright's timeout is real time: a CPU-time limit is only watched from here.
    if let Some(limit) = time_limit.filter(|_| !clock.counts_cpu_time()) {
        builder = builder.timeout(limit);
    }
    if exploration.symmetry {
        builder = builder.symmetry_fn(symmetry::representative::<R>);
    }
    let first_violation = exploration.first_violation && !simulation;
    if first_violation {
        builder = builder.finish_when(stateright::HasDiscoveries::AnyFailures);
    }
    let mut checker: Box<dyn Checker<RaftModel<R>>> = if simulation {
        Box::new(builder.spawn_simulation(exploration.seed, stateright::UniformChooser))
    } else {
        Box::new(builder.spawn_dfs())
    };
    let mut handles = checker.handles();
    let mut failure = None;
    let mut timed_out = false;
    let depth_of = |checker: &dyn Checker<RaftModel<R>>| {
        let depth = if simulation {
            checker.max_depth()
        } else {
            checker.max_depth().saturating_sub(1)
        };
        exploration.max_depth.map_or(depth, |max| depth.min(max))
    };
    loop {
        // Join the threads that ended; one that panicked ends the search (the others may wait
        // for it forever).
        let (ended, running): (Vec<_>, Vec<_>) = handles.into_iter().partition(|h| h.is_finished());
        handles = running;
        join_search_threads(ended, &mut failure);
        if handles.is_empty() || failure.is_some() {
            break;
        }
        if time_limit.is_some_and(|t| clock.passed(t)) {
            timed_out = true;
            break;
        }
        progress(Counts {
            generated: checker.state_count(),
            unique: checker.unique_state_count(),
            depth: depth_of(&*checker),
        });
        std::thread::park_timeout(Duration::from_millis(50));
    }
    // stateright's own timeout also ends its threads, between jobs.
    timed_out |= time_limit.is_some_and(|t| clock.passed(t));
    // A depth-first search stopped by its time limit: end its threads, so that they do not
    // search on in this process, and so that what they found is settled before it is read.
    // (After a panic, the others may wait for the dead thread's jobs forever: leave them.)
    if !simulation && failure.is_none() && !handles.is_empty() {
        stop.store(true, Ordering::Relaxed);
        join_search_threads(std::mem::take(&mut handles), &mut failure);
        stop.store(false, Ordering::Relaxed);
    }
    let raw_depth = checker.max_depth();
    let cut = match (exploration.max_depth, target) {
        (Some(_), Some(target)) => raw_depth >= target,
        _ => false,
    };
    let discoveries: BTreeMap<&'static str, RaftPath<R>> =
        checker.discoveries().into_iter().collect();
    let violated = SAFETY.iter().any(|name| discoveries.contains_key(name));
    let stop = if let Some(failure) = failure {
        Some(Stop::Failed(failure))
    } else if first_violation && violated {
        Some(Stop::AtFirstViolation)
    } else if timed_out {
        time_limit.map(Stop::TimeLimit)
    } else if simulation {
        Some(Stop::Sampled)
    } else if cut {
        exploration.max_depth.map(Stop::DepthLimit)
    } else {
        None
    };
    Found {
        counts: Counts {
            generated: checker.state_count(),
            unique: checker.unique_state_count(),
            depth: depth_of(&*checker),
        },
        complete: stop.is_none(),
        stop,
        discoveries,
        pathless: Vec::new(),
        shortest: false,
    }
}
