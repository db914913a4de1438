//! Running the model checker, finding the **shortest** counterexample, and printing it as a
//! readable message trace.
//!
//! stateright 0.31 overwrites a property's discovery with later matches, so the path it reports
//! is not necessarily the shortest. For every violated property we therefore search again with
//! breadth-first search bounded to depth 1, 2, 3, ...: the first depth at which the violation
//! appears is the length of the shortest counterexample.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use stateright::actor::{ActorModelAction, Id};
use stateright::{Checker, Expectation, Model, Path};

use super::properties::{REACHABILITY, SAFETY, first_violation, violation_of};
use super::{
    ActorStep, Bounds, ModelTimer, Msg, RaftAction, RaftModel, RaftNode, RaftState, model, symmetry,
};
/// A path through the model.
pub type RaftPath<R> = Path<RaftState<R>, RaftAction<R>>;

/// How to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    Bfs,
    Dfs,
    Simulation,
}

/// Exploration settings (the bounds of the model itself are in [`Bounds`]).
#[derive(Clone, Debug)]
pub struct Exploration {
    pub strategy: Strategy,
    pub threads: usize,
    /// Do not explore beyond this depth.
    pub max_depth: Option<usize>,
    /// Stop after this long (the verdicts then cover only what was explored).
    pub timeout: Option<Duration>,
    /// Seed for the simulation strategy.
    pub seed: u64,
    /// Explore one state of each set that differ only in the servers' names (DFS and simulation;
    /// see [`super::symmetry`]; check [`super::symmetry::problem`] first).
    pub symmetry: bool,
}

impl Default for Exploration {
    fn default() -> Self {
        Exploration {
            strategy: Strategy::Dfs,
            threads: 1,
            max_depth: None,
            timeout: None,
            seed: 0,
            symmetry: false,
        }
    }
}

/// The verdict on one property.
#[derive(Clone, Debug)]
pub struct Verdict<R: RaftNode> {
    pub name: &'static str,
    pub expectation: Expectation,
    /// For safety: held in every explored state. For reachability: reached.
    pub ok: bool,
    /// The shortest counterexample (safety) found by deepening.
    pub counterexample: Option<RaftPath<R>>,
}

/// What a check found.
pub struct Report<R: RaftNode> {
    pub bounds: Bounds,
    pub exploration: Exploration,
    pub generated: usize,
    pub unique: usize,
    pub max_depth: usize,
    pub elapsed: Duration,
    /// True if exploration stopped early (timeout or depth bound), so "ok" covers only part.
    pub complete: bool,
    pub verdicts: Vec<Verdict<R>>,
}

impl<R: RaftNode> Report<R> {
    /// Every safety property held and every reachability property was reached.
    pub fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.ok)
    }
}

/// Check `bounds` with `exploration`; for each violated safety property, find its shortest
/// counterexample.
pub fn check<R: RaftNode>(bounds: &Bounds, exploration: &Exploration) -> Report<R> {
    let started = Instant::now();
    let model = model::<R>(bounds);
    let mut builder = model.checker().threads(exploration.threads.max(1));
    if let Some(depth) = exploration.max_depth {
        builder = builder.target_max_depth(depth);
    }
    if let Some(timeout) = exploration.timeout {
        builder = builder.timeout(timeout);
    }
    if exploration.symmetry {
        builder = builder.symmetry_fn(symmetry::representative::<R>);
    }
    let checker: Box<dyn Checker<RaftModel<R>>> = match exploration.strategy {
        Strategy::Bfs => Box::new(builder.spawn_bfs()),
        Strategy::Dfs => Box::new(builder.spawn_dfs()),
        Strategy::Simulation => {
            Box::new(builder.spawn_simulation(exploration.seed, stateright::UniformChooser))
        }
    };
    // stateright checks its own timeout only between jobs, which a single DFS thread may never
    // reach; watch the clock here. On timeout the workers are abandoned (the CLI exits next).
    while !checker.is_done() {
        if exploration.timeout.is_some_and(|t| started.elapsed() >= t) {
            break;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
    let discoveries = checker.discoveries();
    let max_depth = checker.max_depth();
    // stateright's own timeout also ends its workers (between jobs), so "done" alone is not
    // "complete".
    let complete = checker.is_done()
        && exploration.timeout.is_none_or(|t| started.elapsed() < t)
        && exploration.strategy != Strategy::Simulation
        && exploration.max_depth.is_none_or(|d| max_depth < d);
    let mut verdicts = Vec::new();
    for name in SAFETY {
        let found = discoveries.get(name);
        let counterexample = found.map(|path| {
            shortest(
                bounds,
                name,
                path.clone().into_vec().len().saturating_sub(1),
            )
            .unwrap_or_else(|| path.clone())
        });
        verdicts.push(Verdict {
            name,
            expectation: Expectation::Always,
            ok: found.is_none(),
            counterexample,
        });
    }
    for name in REACHABILITY {
        verdicts.push(Verdict {
            name,
            expectation: Expectation::Sometimes,
            ok: discoveries.contains_key(name),
            counterexample: None,
        });
    }
    Report {
        bounds: bounds.clone(),
        exploration: exploration.clone(),
        generated: checker.state_count(),
        unique: checker.unique_state_count(),
        max_depth,
        elapsed: started.elapsed(),
        complete,
        verdicts,
    }
}

/// The shortest path that violates `property`, at most `limit` steps long.
pub fn shortest<R: RaftNode>(
    bounds: &Bounds,
    property: &'static str,
    limit: usize,
) -> Option<RaftPath<R>> {
    let found = breadth_first::<R>(bounds, limit, |state| {
        first_violation(state)
            .filter(|(name, _)| *name == property)
            .map(|(name, _)| name)
    });
    found.map(|(_, path)| path)
}

/// States a shortest-path search may hold in memory before giving up.
const SEARCH_STATE_LIMIT: usize = 3_000_000;

/// A true breadth-first search (stateright's BFS visits each block of states last-in first-out,
/// so the first path it records to a state need not be the shortest). Returns the first state, in
/// order of distance from the start, for which `hit` answers, with the path to it.
fn breadth_first<R: RaftNode>(
    bounds: &Bounds,
    max_depth: usize,
    hit: impl Fn(&RaftState<R>) -> Option<&'static str>,
) -> Option<(&'static str, RaftPath<R>)> {
    use std::collections::{HashSet, VecDeque};
    use std::hash::{Hash, Hasher};

    let model = model::<R>(bounds);
    let fingerprint = |state: &RaftState<R>| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        state.hash(&mut h);
        h.finish()
    };
    // Every state found, with the step that first reached it and its distance.
    type Found<R> = (RaftState<R>, Option<(usize, RaftAction<R>)>, usize);
    let mut states: Vec<Found<R>> = Vec::new();
    let mut seen = HashSet::new();
    let mut queue = VecDeque::new();
    for init in model.init_states() {
        if seen.insert(fingerprint(&init)) {
            queue.push_back(states.len());
            states.push((init, None, 0));
        }
    }
    let mut actions = Vec::new();
    while let Some(i) = queue.pop_front() {
        if let Some(name) = hit(&states[i].0) {
            let mut steps = Vec::new();
            let mut at = i;
            while let Some((parent, action)) = &states[at].1 {
                steps.push(action.clone());
                at = *parent;
            }
            steps.reverse();
            let init = states[at].0.clone();
            return Path::from_actions(&model, init, &steps).map(|path| (name, path));
        }
        if states[i].2 >= max_depth || states.len() >= SEARCH_STATE_LIMIT {
            continue;
        }
        actions.clear();
        model.actions(&states[i].0, &mut actions);
        for action in actions.drain(..) {
            let Some(next) = model.next_state(&states[i].0, action.clone()) else {
                continue;
            };
            if !Model::within_boundary(&model, &next) || !seen.insert(fingerprint(&next)) {
                continue;
            }
            queue.push_back(states.len());
            let depth = states[i].2 + 1;
            states.push((next, Some((i, action)), depth));
        }
    }
    None
}

fn node(id: Id) -> String {
    format!("s{}", usize::from(id))
}

/// One step of a path, in words: the step, then what the network lost because of it.
pub fn describe_action<R: RaftNode>(bounds: &Bounds, action: &RaftAction<R>) -> String {
    let mut out = describe_step(bounds, &action.step);
    if !action.lost().is_empty() {
        let lost: Vec<String> = action
            .lost()
            .iter()
            .map(|env| {
                format!(
                    "{} -> {}  {}",
                    node(env.src),
                    node(env.dst),
                    describe_msg(&env.msg)
                )
            })
            .collect();
        let _ = write!(out, "; network loses {}", lost.join(", "));
    }
    out
}

/// One actor-model step, in words.
pub fn describe_step(bounds: &Bounds, step: &ActorStep) -> String {
    let _ = bounds;
    let who = node;
    match step {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("{} -> {}  {}", who(*src), who(*dst), describe_msg(msg))
        }
        ActorModelAction::Drop(env) => format!(
            "network drops {} -> {}  {}",
            who(env.src),
            who(env.dst),
            describe_msg(&env.msg)
        ),
        ActorModelAction::Timeout(id, timer) => match timer {
            ModelTimer::Raft(t) => format!("{}: {t:?} timer fires", node(*id)),
            ModelTimer::Propose(k) => format!("{}: client offers command [{k}]", node(*id)),
            ModelTimer::Snapshot => format!("{}: service takes a snapshot", node(*id)),
        },
        ActorModelAction::Crash(id) => format!("{} crashes", node(*id)),
        ActorModelAction::Recover(id) => {
            format!("{} restarts from its persisted state", node(*id))
        }
        ActorModelAction::SelectRandom { actor, key, .. } => {
            format!("{} chooses {key}", node(*actor))
        }
    }
}

/// A message, compactly.
pub fn describe_msg(msg: &Msg) -> String {
    match msg {
        Msg::Request(request) => format!("{request:?}"),
        Msg::Reply { request, reply } => {
            format!(
                "{reply:?} (to {})",
                request.method().trim_start_matches("Raft.")
            )
        }
    }
}

/// Every server's term and role after a step: `s0 F2 log=1 commit=0  s1 L2 ...`, and
/// `s2 down (crashed in term 2)` for a crashed server.
pub fn describe_servers<R: RaftNode>(state: &RaftState<R>) -> String {
    state
        .machines
        .iter()
        .enumerate()
        .map(|(i, machine)| {
            let srv = &machine.server;
            let crashed = if machine.crashed { "*" } else { "" };
            match &srv.raft {
                None if crashed == "*" => format!(
                    "s{i} down (crashed in term {})",
                    srv.crashed_in_term.unwrap_or(0)
                ),
                Some(rf) => {
                    let view = rf.observe();
                    let role = match view.role {
                        raft::contract::Role::Follower => "F",
                        raft::contract::Role::Candidate => "C",
                        raft::contract::Role::Leader => "L",
                    };
                    let last = view.snapshot_index + view.entries.len() as u64;
                    format!(
                        "s{i} {role}{} log={last} commit={}{crashed}",
                        view.term, view.commit_index
                    )
                }
                None => format!("s{i} (failed restart){crashed}"),
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// A counterexample as numbered steps, then the violation it ends in.
pub fn render_path<R: RaftNode>(bounds: &Bounds, path: &RaftPath<R>) -> String {
    let steps = path.clone().into_vec();
    let mut out = String::new();
    if let Some((init, _)) = steps.first() {
        let _ = writeln!(
            out,
            "   0. initial state          [{}]",
            describe_servers(init)
        );
    }
    for (k, window) in steps.windows(2).enumerate() {
        let (_, Some(action)) = &window[0] else {
            continue;
        };
        let (after, _) = &window[1];
        let _ = writeln!(out, "{:>4}. {}", k + 1, describe_action(bounds, action));
        let _ = writeln!(out, "        [{}]", describe_servers(after));
    }
    if let Some((last, _)) = steps.last()
        && let Some((property, why)) = first_violation(last)
    {
        let _ = writeln!(out, "violated: {property}: {why}");
    }
    out
}

/// The Explorer URL that opens `path` (served by `checker explore` at `address`).
pub fn explorer_url<R: RaftNode>(bounds: &Bounds, address: &str, path: &RaftPath<R>) -> String {
    format!(
        "http://{address}/#/steps/{}",
        path.encode(&model::<R>(bounds))
    )
}

/// The whole report as printed by `checker check`.
pub fn render_report<R: RaftNode>(report: &Report<R>, explorer_address: &str) -> String {
    let mut out = String::new();
    let e = &report.exploration;
    let _ = writeln!(out, "bounds: {}", report.bounds);
    let _ = writeln!(
        out,
        "exploration: {:?}, {} thread(s){}{}{}",
        e.strategy,
        e.threads,
        if e.symmetry { ", symmetry" } else { "" },
        e.max_depth
            .map(|d| format!(", max depth {d}"))
            .unwrap_or_default(),
        e.timeout
            .map(|t| format!(", timeout {:?}", t))
            .unwrap_or_default()
    );
    let secs = report.elapsed.as_secs_f64();
    let _ = writeln!(
        out,
        "states: {} generated, {} unique, max depth {}, {:.1}s, {:.0} states/s{}",
        report.generated,
        report.unique,
        report.max_depth,
        secs,
        report.generated as f64 / secs.max(1e-9),
        if report.complete {
            ""
        } else {
            " (stopped early: verdicts cover the explored part only)"
        }
    );
    for v in &report.verdicts {
        let verdict = match (&v.expectation, v.ok) {
            (Expectation::Sometimes, true) => "reached",
            (Expectation::Sometimes, false) => "NOT REACHED",
            (_, true) => "holds",
            (_, false) => "VIOLATED",
        };
        let _ = writeln!(out, "  {:<30} {verdict}", v.name);
    }
    for v in report.verdicts.iter().filter(|v| !v.ok) {
        if let Some(path) = &v.counterexample {
            let _ = writeln!(
                out,
                "\ncounterexample for \"{}\" ({} steps):",
                v.name,
                path.clone().into_actions().len()
            );
            out.push_str(&render_path(&report.bounds, path));
            let _ = writeln!(
                out,
                "explore it: {}",
                explorer_url(&report.bounds, explorer_address, path)
            );
        }
    }
    out
}

/// The model's initial state, for tests of the Explorer.
pub fn initial_state<R: RaftNode>(bounds: &Bounds) -> RaftState<R> {
    model::<R>(bounds)
        .init_states()
        .into_iter()
        .next()
        .expect("one initial state")
}

/// The shortest path (up to `max_depth` steps) that violates any safety property, and which.
pub fn shortest_violation<R: RaftNode>(
    bounds: &Bounds,
    max_depth: usize,
) -> Option<(&'static str, RaftPath<R>)> {
    breadth_first::<R>(bounds, max_depth, |state| {
        first_violation(state).map(|(name, _)| name)
    })
}

/// Replay `actions` from the initial state; the steps up to the first state that violates
/// `property`, or `None` if some step is not possible or no state violates it.
fn replay<R: RaftNode>(
    model: &RaftModel<R>,
    actions: &[RaftAction<R>],
    property: &str,
) -> Option<Vec<RaftAction<R>>> {
    let mut state = model.init_states().into_iter().next()?;
    for (k, action) in actions.iter().enumerate() {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        if !enabled.contains(action) {
            return None;
        }
        state = model.next_state(&state, action.clone())?;
        if !Model::within_boundary(model, &state) {
            return None;
        }
        if violation_of(property, &state).is_some() {
            return Some(actions[..=k].to_vec());
        }
    }
    None
}

/// Shorten a counterexample for `property`: drop single steps as long as the rest still leads to
/// a violation of it (the result is minimal in that no single step can go, not necessarily the
/// shortest counterexample there is).
fn minimize<R: RaftNode>(
    model: &RaftModel<R>,
    mut actions: Vec<RaftAction<R>>,
    property: &str,
) -> Vec<RaftAction<R>> {
    let mut k = actions.len();
    while k > 0 {
        k -= 1;
        let mut shorter = actions.clone();
        shorter.remove(k);
        if let Some(found) = replay(model, &shorter, property) {
            actions = found;
            k = k.min(actions.len());
        }
    }
    actions
}

/// Look for a safety violation depth-first (stateright's DFS, one thread, so always the same
/// one), stopping at the first; shorten it with [`minimize`] and return the violated property and
/// the path. Far cheaper than breadth-first search when the violation lies deep in a large state
/// space; the path is the shortest *found* (no single step of it can go), not necessarily the
/// shortest there is.
pub fn depth_first_violation<R: RaftNode>(
    bounds: &Bounds,
    max_depth: Option<usize>,
) -> Option<(&'static str, RaftPath<R>)> {
    let mut builder = model::<R>(bounds)
        .checker()
        .finish_when(stateright::HasDiscoveries::AnyFailures);
    if let Some(depth) = max_depth {
        builder = builder.target_max_depth(depth);
    }
    let checker = builder.spawn_dfs().join();
    let discoveries = checker.discoveries();
    let (name, path) = SAFETY
        .iter()
        .find_map(|name| discoveries.get(name).map(|path| (*name, path.clone())))?;
    let model = model::<R>(bounds);
    let steps = minimize(&model, path.into_actions(), name);
    let init = model.init_states().into_iter().next()?;
    Path::from_actions(&model, init, &steps).map(|path| (name, path))
}
