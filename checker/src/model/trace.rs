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
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use stateright::actor::{ActorModelAction, Id};
use stateright::{Checker, Expectation, Model, Path};

use super::panics;
use super::properties::{
    COMMAND_COMMITS, LEADER_ELECTED, REACHABILITY, SAFETY, first_violation, violation_of,
};
use super::search::{self, Counts, End, SearchOptions};
use super::{
    ActorStep, Bounds, ModelTimer, Msg, NetworkSemantics, RaftAction, RaftModel, RaftNode,
    RaftState, model, symmetry,
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

/// Simulation samples paths until stopped: its time limit when none is given.
pub const SIMULATION_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Exploration settings (the bounds of the model itself are in [`Bounds`]).
#[derive(Clone, Debug)]
pub struct Exploration {
    pub strategy: Strategy,
    pub threads: usize,
    /// Check only the states at most this many steps from the start (no limit if `None`).
    pub max_depth: Option<usize>,
    /// Stop after this long (the verdicts then cover only what was explored). Simulation without
    /// one stops after [`SIMULATION_TIME_LIMIT`].
    pub timeout: Option<Duration>,
    /// Seed for the simulation strategy.
    pub seed: u64,
    /// Explore one state of each set that differ only in the servers' names (DFS and simulation;
    /// see [`super::symmetry`]; check [`super::symmetry::problem`] first).
    pub symmetry: bool,
    /// With DFS and simulation: the most states the search for shorter counterexamples may find
    /// (see the module's documentation).
    pub shortening_limit: usize,
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
            shortening_limit: SEARCH_STATE_LIMIT,
        }
    }
}

impl Exploration {
    /// The time limit in effect: the one given, or simulation's default.
    pub fn time_limit(&self) -> Option<Duration> {
        match (self.timeout, self.strategy) {
            (None, Strategy::Simulation) => Some(SIMULATION_TIME_LIMIT),
            (timeout, _) => timeout,
        }
    }
}

/// How short a printed counterexample is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortness {
    /// No path to a violation of the property is shorter.
    Shortest,
    /// No single step can be left out, and no shorter path was found, but the search for one
    /// stopped after this many states: a shorter one may exist.
    Minimal { searched: usize },
}

/// The verdict on one property.
#[derive(Clone, Debug)]
pub struct Verdict<R: RaftNode> {
    pub name: &'static str,
    pub expectation: Expectation,
    /// For safety: held in every explored state. For reachability: reached.
    pub ok: bool,
    /// For a violated safety property: the counterexample printed (see the module's
    /// documentation), and how short it is known to be.
    pub counterexample: Option<RaftPath<R>>,
    pub shortness: Option<Shortness>,
    /// For a violated safety property: why, in its last state (names the servers involved).
    pub why: Option<String>,
}

/// Why a search stopped before it explored every state within the bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The time limit (`--timeout`, or simulation's default) passed.
    TimeLimit(Duration),
    /// Every state at most this many steps from the start was checked, and some lie beyond.
    DepthLimit(usize),
    /// Breadth-first search checked the depth of its first violation (this many steps) and
    /// stopped there.
    FirstViolation(usize),
    /// Simulation samples paths; it ended (every property was discovered) before its time limit.
    Sampled,
    /// A search thread panicked outside the Raft (a bug of the checker), with this message.
    Failed(String),
}

/// What a check found.
pub struct Report<R: RaftNode> {
    pub bounds: Bounds,
    pub exploration: Exploration,
    pub generated: usize,
    pub unique: usize,
    /// The most steps from the start of any state checked.
    pub max_depth: usize,
    /// How long the search took, and then the shortening of its counterexamples.
    pub elapsed: Duration,
    pub shortening: Duration,
    /// Every state within the bounds was explored (so "holds" covers them all). False if the
    /// search stopped early: see [`Report::stop`].
    pub complete: bool,
    pub stop: Option<Stop>,
    pub verdicts: Vec<Verdict<R>>,
}

/// What a check concludes, and `checker check`'s exit code for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// Every safety property held and every reachability property was reached (exit code 0).
    Pass,
    /// A safety property was violated: a bug of the Raft (exit code 1).
    Violated,
    /// Nothing was violated, but the bound cannot elect a leader or commit a command, whatever
    /// the Raft does: these words say why (exit code 2, a problem of the bound).
    TooSmall(String),
    /// Nothing was violated, and the bound allows a leader to be elected and a command to commit,
    /// but the search explored every state without reaching it: a bug of the Raft (exit code 1).
    NeverReached(Vec<&'static str>),
    /// Nothing was violated, but the search stopped early before reaching these: nothing can be
    /// concluded (exit code 2).
    NotReachedYet(Vec<&'static str>),
    /// The search failed (a search thread panicked outside the Raft): exit code 1, never a pass.
    Failed(String),
}

impl Conclusion {
    /// `checker check`'s exit code: 0 pass, 1 a violation (a bug of the Raft) or a failed
    /// search, 2 a bound too small to tell (or a search stopped before it could).
    pub fn exit_code(&self) -> u8 {
        match self {
            Conclusion::Pass => 0,
            Conclusion::Violated | Conclusion::NeverReached(_) | Conclusion::Failed(_) => 1,
            Conclusion::TooSmall(_) | Conclusion::NotReachedYet(_) => 2,
        }
    }
}

impl<R: RaftNode> Report<R> {
    /// Every safety property held, every reachability property was reached, and the search did
    /// not fail.
    pub fn passed(&self) -> bool {
        self.conclusion() == Conclusion::Pass
    }

    /// What the check concludes (see [`Conclusion`]).
    pub fn conclusion(&self) -> Conclusion {
        if self
            .verdicts
            .iter()
            .any(|v| v.expectation == Expectation::Always && !v.ok)
        {
            return Conclusion::Violated;
        }
        if let Some(Stop::Failed(why)) = &self.stop {
            return Conclusion::Failed(why.clone());
        }
        let missing: Vec<&'static str> = self
            .verdicts
            .iter()
            .filter(|v| v.expectation == Expectation::Sometimes && !v.ok)
            .map(|v| v.name)
            .collect();
        if missing.is_empty() {
            return Conclusion::Pass;
        }
        for name in &missing {
            if let Some(why) = too_small(&self.bounds, self.exploration.max_depth, name) {
                return Conclusion::TooSmall(why);
            }
        }
        if self.complete {
            Conclusion::NeverReached(missing)
        } else {
            Conclusion::NotReachedYet(missing)
        }
    }
}

/// Why no Raft can reach `property` (a reachability property) within `bounds` and `max_depth`
/// steps, if none can: decided from the bounds alone, so that it cannot hide a bug. Electing a
/// leader of `n` servers takes a timer and, for each of the `n / 2` votes it needs besides its
/// own, a request and a reply; committing a command then takes the command and, for each of
/// `n / 2` followers, an AppendEntries and its reply.
pub fn too_small(bounds: &Bounds, max_depth: Option<usize>, property: &str) -> Option<String> {
    let n = bounds.servers;
    let elect = 1 + 2 * (n / 2);
    let commit = elect + 1 + 2 * (n / 2);
    let cannot_elect = if bounds.max_term == 0 {
        Some("--max-term 0: a leader's term is at least 1".to_owned())
    } else if n > 1 && bounds.network != NetworkSemantics::Duplicating && bounds.max_in_flight == 0
    {
        Some("--max-in-flight 0: no request for a vote can be in flight".to_owned())
    } else {
        max_depth.filter(|d| *d < elect).map(|depth| {
            format!(
                "--depth {depth}: electing a leader of {n} server(s) takes at least {elect} steps"
            )
        })
    };
    let why = match property {
        LEADER_ELECTED => cannot_elect.map(|why| format!("too small to elect a leader ({why})")),
        COMMAND_COMMITS => cannot_elect
            .or_else(|| {
                (bounds.commands == 0).then(|| "--commands 0: no command is proposed".into())
            })
            .or_else(|| {
                max_depth.filter(|d| *d < commit).map(|depth| {
                    format!(
                        "--depth {depth}: committing a command with {n} server(s) takes at least \
                         {commit} steps"
                    )
                })
            })
            .map(|why| format!("too small to commit a command ({why})")),
        _ => None,
    }?;
    Some(format!("this bound is {why}"))
}

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
    let time_limit = exploration.time_limit();
    let tell = |stage, counts| {
        progress(Progress {
            stage,
            counts,
            elapsed: started.elapsed(),
            time_limit,
        })
    };
    let model = model::<R>(bounds);
    let found = match exploration.strategy {
        Strategy::Bfs => {
            breadth_first_search(&model, exploration, started, &|c| tell("searching", c))
        }
        Strategy::Dfs | Strategy::Simulation => {
            stateright_search(&model, exploration, started, &|c| tell("searching", c))
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
        let why = match &counterexample {
            Some((path, _)) => violation_of(name, path.last_state()),
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
    started: Instant,
    progress: &(dyn Fn(Counts) + Sync),
) -> Found<R> {
    let time_limit = exploration.time_limit();
    let outcome = search::search(
        model,
        &SearchOptions {
            threads: exploration.threads.max(1),
            max_depth: exploration.max_depth,
            deadline: time_limit.map(|t| started + t),
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

/// `Strategy::Dfs` and `Strategy::Simulation`: stateright's searches, watched from here (its
/// own timeout is checked only between jobs, which a single DFS thread may never reach; and a
/// thread that panics must not pass for a finished search).
fn stateright_search<R: RaftNode>(
    model: &RaftModel<R>,
    exploration: &Exploration,
    started: Instant,
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
    let mut builder = super::model::<R>(model.bounds())
        .checker()
        .threads(exploration.threads.max(1));
    if let Some(target) = target {
        builder = builder.target_max_depth(target);
    }
    if let Some(limit) = time_limit {
        builder = builder.timeout(limit);
    }
    if exploration.symmetry {
        builder = builder.symmetry_fn(symmetry::representative::<R>);
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
        for handle in ended {
            if let Err(payload) = handle.join() {
                failure.get_or_insert(format!(
                    "a search thread panicked: {}",
                    panics::message(&*payload)
                ));
            }
        }
        if handles.is_empty() || failure.is_some() {
            break;
        }
        if time_limit.is_some_and(|t| started.elapsed() >= t) {
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
    timed_out |= time_limit.is_some_and(|t| started.elapsed() >= t);
    let raw_depth = checker.max_depth();
    let cut = match (exploration.max_depth, target) {
        (Some(_), Some(target)) => raw_depth >= target,
        _ => false,
    };
    let stop = if let Some(failure) = failure {
        Some(Stop::Failed(failure))
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
        discoveries: checker.discoveries().into_iter().collect(),
        pathless: Vec::new(),
        shortest: false,
    }
}

/// Shorten each path (of a violation of the property it is filed under): leave out steps while
/// the rest still violates the property ([`minimize`]), then look for shorter paths with one
/// level-ordered search of the depths below each (see the module's documentation).
fn shorten<R: RaftNode>(
    model: &RaftModel<R>,
    paths: BTreeMap<&'static str, RaftPath<R>>,
    threads: usize,
    state_limit: usize,
    progress: &(dyn Fn(Counts) + Sync),
) -> BTreeMap<&'static str, (RaftPath<R>, Shortness)> {
    let mut minimal = BTreeMap::new();
    for (name, path) in paths {
        let init = path.clone().into_vec()[0].0.clone();
        let steps = minimize(model, path.clone().into_actions(), name);
        let path = Path::from_actions(model, init, &steps).unwrap_or(path);
        minimal.insert(name, path);
    }
    let longest = minimal
        .values()
        .map(|p| p.clone().into_actions().len())
        .max()
        .unwrap_or(0);
    if longest == 0 {
        return minimal
            .into_iter()
            .map(|(name, path)| (name, (path, Shortness::Shortest)))
            .collect();
    }
    let outcome = search::search(
        model,
        &SearchOptions {
            threads: threads.max(1),
            max_depth: Some(longest - 1),
            deadline: None,
            state_limit: Some(state_limit),
            properties: Some(minimal.keys().copied().collect()),
            stop_after_first_violation: false,
        },
        progress,
    );
    // Depths below `checked` were all checked (every one, if the search went through them all).
    let checked = match outcome.end {
        End::Exhausted | End::DepthLimit | End::AllDiscovered | End::FirstViolation => usize::MAX,
        End::Deadline | End::StateLimit | End::Failed => outcome.counts.depth,
    };
    minimal
        .into_iter()
        .map(|(name, path)| {
            let len = path.clone().into_actions().len();
            match outcome.discoveries.get(name) {
                Some(shorter) if shorter.clone().into_actions().len() < len => {
                    (name, (shorter.clone(), Shortness::Shortest))
                }
                _ if checked >= len.saturating_sub(1) => (name, (path, Shortness::Shortest)),
                _ => (
                    name,
                    (
                        path,
                        Shortness::Minimal {
                            searched: outcome.counts.unique,
                        },
                    ),
                ),
            }
        })
        .collect()
}

/// The shortest path that violates `property`, at most `limit` steps long (`None` if there is
/// none, or if the search for one stopped at [`SEARCH_STATE_LIMIT`] states).
pub fn shortest<R: RaftNode>(
    bounds: &Bounds,
    property: &'static str,
    limit: usize,
) -> Option<RaftPath<R>> {
    let model = model::<R>(bounds);
    let mut outcome = search::search(
        &model,
        &SearchOptions {
            max_depth: Some(limit),
            state_limit: Some(SEARCH_STATE_LIMIT),
            properties: Some(vec![property]),
            ..SearchOptions::default()
        },
        &|_| {},
    );
    outcome.discoveries.remove(property)
}

/// States a search for shorter paths may find before it gives up.
pub const SEARCH_STATE_LIMIT: usize = 3_000_000;

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
                Some(rf) => panics::catch(|| {
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
                })
                .unwrap_or_else(|panic| format!("s{i} (the Raft panicked when read: {panic})")),
                None => format!("s{i} (did not start){crashed}"),
            }
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// A counterexample as numbered steps, then the violation it ends in.
pub fn render_path<R: RaftNode>(bounds: &Bounds, path: &RaftPath<R>) -> String {
    let mut out = render_steps(bounds, path);
    if let Some((property, why)) = first_violation(path.last_state()) {
        let _ = writeln!(out, "violated: {property}: {why}");
    }
    out
}

/// A path as numbered steps, each followed by every server's term, role, log and commit index.
pub fn render_steps<R: RaftNode>(bounds: &Bounds, path: &RaftPath<R>) -> String {
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
    out
}

/// The Explorer URL that opens `path` (served by `checker explore` at `address`).
pub fn explorer_url<R: RaftNode>(bounds: &Bounds, address: &str, path: &RaftPath<R>) -> String {
    format!(
        "http://{address}/#/steps/{}",
        path.encode(&model::<R>(bounds))
    )
}

/// The whole report as printed by `checker check`: bounds, exploration, counts, a verdict per
/// property, each counterexample (with the `checker explore` command and the Explorer link that
/// open it), and the conclusion (see [`Conclusion`]) as its last line.
pub fn render_report<R: RaftNode>(report: &Report<R>, explorer_address: &str) -> String {
    let mut out = String::new();
    let e = &report.exploration;
    let _ = writeln!(out, "bounds: {}", report.bounds);
    let time_limit = match (e.timeout, e.time_limit()) {
        (Some(t), _) => format!(", time limit {}s", t.as_secs_f64()),
        (None, Some(t)) => format!(", time limit {}s (simulation's default)", t.as_secs_f64()),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "exploration: {:?}, {} thread(s){}{}{}{}",
        e.strategy,
        e.threads,
        if e.symmetry { ", symmetry" } else { "" },
        e.max_depth
            .map(|d| format!(", max depth {d}"))
            .unwrap_or_default(),
        if e.strategy == Strategy::Simulation {
            format!(", seed {}", e.seed)
        } else {
            String::new()
        },
        time_limit,
    );
    let secs = report.elapsed.as_secs_f64();
    let stopped = match &report.stop {
        None => String::new(),
        Some(Stop::TimeLimit(t)) => format!(
            " (stopped at the time limit of {}s: verdicts cover the explored part only)",
            t.as_secs_f64()
        ),
        Some(Stop::DepthLimit(d)) if e.strategy == Strategy::Bfs => {
            format!(" (stopped at depth {d}: verdicts cover the paths of at most {d} steps only)")
        }
        Some(Stop::DepthLimit(d)) => format!(
            " (stopped at depth {d}: verdicts cover the explored part only; depth-first search \
             skips a state within {d} steps that it met deeper first, --strategy bfs does not)"
        ),
        Some(Stop::FirstViolation(d)) => format!(
            " (breadth-first search stops after depth {d}, where it found its first violation: \
             verdicts cover the paths of at most {d} steps only)"
        ),
        Some(Stop::Sampled) => {
            " (simulation samples paths: verdicts cover the sampled paths only)".to_owned()
        }
        Some(Stop::Failed(why)) => {
            format!(" (the search failed: {why}; verdicts cover the explored part only)")
        }
    };
    let _ = writeln!(
        out,
        "states: {} generated, {} unique, max depth {}, {:.1}s, {:.0} states/s{stopped}",
        report.generated,
        report.unique,
        report.max_depth,
        secs,
        report.generated as f64 / secs.max(1e-9),
    );
    if report.verdicts.iter().any(|v| v.shortness.is_some()) && !report.shortening.is_zero() {
        let _ = writeln!(
            out,
            "shortening the counterexamples took {:.1}s",
            report.shortening.as_secs_f64()
        );
    }
    for v in &report.verdicts {
        let verdict = match (&v.expectation, v.ok) {
            (Expectation::Sometimes, true) => "reached".to_owned(),
            (Expectation::Sometimes, false) => "NOT REACHED".to_owned(),
            (_, true) => "holds".to_owned(),
            (_, false) => match &v.why {
                Some(why) => format!("VIOLATED: {why}"),
                None => "VIOLATED".to_owned(),
            },
        };
        let _ = writeln!(out, "  {:<30} {verdict}", v.name);
    }
    for v in report.verdicts.iter().filter(|v| !v.ok) {
        if let Some(path) = &v.counterexample {
            let steps = path.clone().into_actions().len();
            let shortness = match v.shortness {
                Some(Shortness::Shortest) | None => "no shorter path violates it".to_owned(),
                Some(Shortness::Minimal { searched }) => format!(
                    "no step can be left out, but a shorter path may exist: the search for one \
                     stopped after {searched} states"
                ),
            };
            let _ = writeln!(
                out,
                "\ncounterexample for \"{}\" ({steps} steps; {shortness}):",
                v.name,
            );
            out.push_str(&render_steps(&report.bounds, path));
            if let Some(why) = &v.why {
                let _ = writeln!(out, "violated: {}: {why}", v.name);
            }
            let _ = writeln!(
                out,
                "open it: cargo run --release -p checker -- explore {}",
                explore_flags(&report.bounds, explorer_address)
            );
            let _ = writeln!(
                out,
                "explore it: {}",
                explorer_url(&report.bounds, explorer_address, path)
            );
        }
    }
    let _ = writeln!(out, "\n{}", conclusion_line(report));
    out
}

/// The arguments of `checker explore` that serve the Explorer for `bounds` at `address`.
pub fn explore_flags(bounds: &Bounds, address: &str) -> String {
    let mut flags = bounds.to_flags();
    if address != DEFAULT_EXPLORER {
        let _ = write!(flags, " --address {address}");
    }
    flags
}

/// Where `checker explore` serves, and `checker check` links to, by default.
pub const DEFAULT_EXPLORER: &str = "127.0.0.1:3000";

/// The report's last line: what the check concludes.
fn conclusion_line<R: RaftNode>(report: &Report<R>) -> String {
    let hedge = if report.complete {
        ""
    } else {
        " in the explored part"
    };
    match report.conclusion() {
        Conclusion::Pass => format!(
            "result: every safety property holds and every reachability property was reached{hedge} \
             (exit code 0)"
        ),
        Conclusion::Violated => {
            let first = report
                .verdicts
                .iter()
                .find(|v| v.expectation == Expectation::Always && !v.ok);
            match first {
                Some(v) => format!(
                    "result: VIOLATED: {}: {} (exit code 1)",
                    v.name,
                    v.why.as_deref().unwrap_or("see above")
                ),
                None => "result: VIOLATED (exit code 1)".to_owned(),
            }
        }
        Conclusion::TooSmall(why) => format!(
            "result: {why}; nothing was violated, but nothing can be concluded (exit code 2)"
        ),
        Conclusion::NeverReached(missing) => format!(
            "result: NOT REACHED: {} (every state within the bound was explored, and the bound \
             allows it: a bug of the Raft) (exit code 1)",
            missing.join(", ")
        ),
        Conclusion::NotReachedYet(missing) => format!(
            "result: not reached before the search stopped: {}; nothing was violated, but \
             nothing can be concluded (exit code 2)",
            missing.join(", ")
        ),
        Conclusion::Failed(why) => format!("result: the search failed: {why} (exit code 1)"),
    }
}

/// The model's initial state, for tests of the Explorer.
pub fn initial_state<R: RaftNode>(bounds: &Bounds) -> RaftState<R> {
    model::<R>(bounds)
        .init_states()
        .into_iter()
        .next()
        .expect("one initial state")
}

/// The shortest path (up to `max_depth` steps) that violates any safety property, and which: the
/// first such path a one-thread breadth-first queue would meet, named by the first property (in
/// [`first_violation`]'s order) its last state violates. `None` also if the search stopped at
/// [`SEARCH_STATE_LIMIT`] states without one.
pub fn shortest_violation<R: RaftNode>(
    bounds: &Bounds,
    max_depth: usize,
) -> Option<(&'static str, RaftPath<R>)> {
    shortest_violation_with::<R>(bounds, max_depth, 1)
}

/// [`shortest_violation`] on `threads` threads (the same result).
pub fn shortest_violation_with<R: RaftNode>(
    bounds: &Bounds,
    max_depth: usize,
    threads: usize,
) -> Option<(&'static str, RaftPath<R>)> {
    let model = model::<R>(bounds);
    let outcome = search::search(
        &model,
        &SearchOptions {
            threads,
            max_depth: Some(max_depth),
            state_limit: Some(SEARCH_STATE_LIMIT),
            properties: Some(SAFETY.to_vec()),
            stop_after_first_violation: true,
            ..SearchOptions::default()
        },
        &|_| {},
    );
    let (_, name) = outcome
        .found_at
        .iter()
        .map(|(name, at)| (*at, *name))
        .min()?;
    let path = outcome.discoveries.get(name)?.clone();
    let (property, _) = first_violation(path.last_state())?;
    Some((property, path))
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
/// a violation of it (the result is minimal in that no single step can be left out, not
/// necessarily the shortest counterexample there is).
pub fn minimize<R: RaftNode>(
    model: &RaftModel<R>,
    mut actions: Vec<RaftAction<R>>,
    property: &str,
) -> Vec<RaftAction<R>> {
    // Passes from the last step to the first, until one leaves every step in: leaving a step
    // out can make another one unnecessary.
    loop {
        let before = actions.len();
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
        if actions.len() == before {
            return actions;
        }
    }
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
        // stateright counts the initial state as depth 1 and does not check its target depth.
        builder = builder.target_max_depth(depth + 2);
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
