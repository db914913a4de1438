//! What a bound's state space is made of: explores it depth-first for a while and counts, among
//! the unique states, how many distinct server parts (Raft states, timers, crashes, ghost state) and
//! how many distinct network contents they have, with histograms of the messages in flight.
//!
//! ```sh
//! cargo run --release -p checker --example state_profile -- --max-term 2 --lossy --seconds 30
//! ```
//!
//! With `--symmetry` it explores and profiles one state per renaming of the servers.
//!
//! A bound whose unique states far outnumber its distinct server parts spends its states on
//! which messages happen to be in flight: the place to look for a reduction. It also counts the
//! distinct server parts with one component left out, which shows what that component multiplies.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use checker::model::cli::BoundsArgs;
use checker::model::{Msg, RaftAction, RaftModel, RaftState, model, symmetry};
use clap::Parser;
use raft::contract::{Reply, Request};
use stateright::{Checker, Model, Property};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    bounds: BoundsArgs,
    /// Explore for this long.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Explore and profile one state per renaming of the servers (`checker check --symmetry`).
    #[arg(long)]
    symmetry: bool,
}

#[derive(Default)]
struct Profile {
    states: HashSet<u64>,
    servers: HashSet<u64>,
    networks: HashSet<u64>,
    /// Distinct server parts once one component is left out: how much that component multiplies.
    without: BTreeMap<&'static str, HashSet<u64>>,
    histograms: BTreeMap<&'static str, BTreeMap<String, usize>>,
}

impl Profile {
    fn count(&mut self, histogram: &'static str, bucket: impl ToString) {
        *self
            .histograms
            .entry(histogram)
            .or_default()
            .entry(bucket.to_string())
            .or_default() += 1;
    }
}

/// The Raft model, profiling every state it keeps.
struct Profiled {
    inner: RaftModel<raft::Raft>,
    profile: Arc<Mutex<Profile>>,
    /// Profile the representatives of states (see `symmetry`) instead of the states.
    symmetry: bool,
}

fn hash_of(f: impl FnOnce(&mut DefaultHasher)) -> u64 {
    let mut hasher = DefaultHasher::new();
    f(&mut hasher);
    hasher.finish()
}

fn kind(msg: &Msg) -> &'static str {
    match msg {
        Msg::Request(request) => match **request {
            Request::RequestVote(_) => "RequestVote",
            Request::AppendEntries(_) => "AppendEntries",
            Request::InstallSnapshot(_) => "InstallSnapshot",
            Request::PreVote(_) => "PreVote",
        },
        Msg::Reply { reply, .. } => match reply {
            Reply::RequestVote(_) => "RequestVote reply",
            Reply::AppendEntries(_) => "AppendEntries reply",
            Reply::InstallSnapshot(_) => "InstallSnapshot reply",
            Reply::PreVote(_) => "PreVote reply",
        },
    }
}

/// The term of the request a message is or answers.
fn request_term(msg: &Msg) -> u64 {
    let request = match msg {
        Msg::Request(request) | Msg::Reply { request, .. } => request,
    };
    match &**request {
        Request::RequestVote(args) => args.term,
        Request::AppendEntries(args) => args.term,
        Request::InstallSnapshot(args) => args.term,
        Request::PreVote(args) => args.term,
    }
}

impl Model for Profiled {
    type State = RaftState<raft::Raft>;
    type Action = RaftAction<raft::Raft>;

    fn init_states(&self) -> Vec<Self::State> {
        self.inner.init_states()
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        self.inner.actions(state, actions)
    }

    fn next_state(&self, state: &Self::State, action: Self::Action) -> Option<Self::State> {
        self.inner.next_state(state, action)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        // One property that never fails, so that the checker does not stop at once.
        vec![Property::always("profiled", |_, _| true)]
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        if !self.inner.within_boundary(state) {
            return false;
        }
        let representative;
        let state = if self.symmetry {
            representative = symmetry::representative(state);
            &representative
        } else {
            state
        };
        let mut profile = self.profile.lock().expect("not poisoned");
        if !profile.states.insert(hash_of(|h| state.hash(h))) {
            return true;
        }
        // The parts of a state: each server, its timers, whether it is down, the ghost state.
        let machines = &state.machines;
        let servers = |h: &mut DefaultHasher| machines.iter().for_each(|m| m.server.hash(h));
        let timers = |h: &mut DefaultHasher| machines.iter().for_each(|m| m.timers.hash(h));
        let crashed = |h: &mut DefaultHasher| machines.iter().for_each(|m| m.crashed.hash(h));
        let ghost = |h: &mut DefaultHasher| state.history.ghost.hash(h);
        profile.servers.insert(hash_of(|h| {
            servers(h);
            timers(h);
            crashed(h);
            ghost(h);
        }));
        profile.networks.insert(hash_of(|h| state.network.hash(h)));
        let parts: [(&'static str, u64); 3] = [
            (
                "ghost state",
                hash_of(|h| {
                    servers(h);
                    timers(h);
                    crashed(h);
                }),
            ),
            (
                "timers",
                hash_of(|h| {
                    servers(h);
                    crashed(h);
                    ghost(h);
                }),
            ),
            (
                "Raft's volatile state (all but the persisted bytes)",
                hash_of(|h| {
                    for m in machines {
                        let s = &m.server;
                        (&s.state, &s.snapshot, s.raft.is_some()).hash(h);
                    }
                    timers(h);
                    crashed(h);
                    ghost(h);
                }),
            ),
        ];
        for (name, hash) in parts {
            profile.without.entry(name).or_default().insert(hash);
        }
        profile.count("messages in flight", state.network.len());
        // Renamings that leave the state as it is (other than the identity): in such a state,
        // steps that those renamings map onto each other lead to states that are renamings of
        // each other, so a symmetric search needs only one of them.
        if self.symmetry && state.machines.len() == 3 {
            let fixed = [[0, 2, 1], [1, 0, 2], [2, 1, 0], [1, 2, 0], [2, 0, 1]]
                .iter()
                .filter(|to| symmetry::rename_state(state, &to[..]).as_ref() == Some(state))
                .count();
            profile.count(
                "renamings (not the identity) that leave the state as it is",
                fixed,
            );
        }
        let distinct = state.network.deliverable().len();
        profile.count("copies beyond the first", state.network.len() - distinct);
        for envelope in state.network.deliverable() {
            profile.count("kind of a distinct message in flight", kind(envelope.msg));
        }
        let terms = state.servers().filter_map(|s| s.term());
        profile.count("highest term", terms.clone().max().unwrap_or(0));
        // Messages of a term every server has left: only a Raft that mishandles old terms can
        // act on them. (Not `iter_all`: in stateright 0.31 it yields a message in flight n > 1
        // times n + 1 times.)
        let lowest = terms.min().unwrap_or(0);
        let stale = state
            .network
            .deliverable()
            .into_iter()
            .filter(|envelope| request_term(envelope.msg) < lowest)
            .count();
        profile.count("distinct messages of a term every server has left", stale);
        true
    }
}

fn main() {
    let args = Args::parse();
    let bounds = args.bounds.bounds();
    let profile = Arc::new(Mutex::new(Profile::default()));
    let profiled = Profiled {
        inner: model::<raft::Raft>(&bounds),
        profile: profile.clone(),
        symmetry: args.symmetry,
    };
    println!("bounds: {bounds}");
    let mut builder = profiled.checker();
    if args.symmetry {
        builder = builder.symmetry_fn(symmetry::representative::<raft::Raft>);
    }
    let checker = builder.spawn_dfs();
    let started = Instant::now();
    // stateright checks its own timeout only between jobs; watch the clock here.
    while !checker.is_done() && started.elapsed() < Duration::from_secs(args.seconds) {
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let profile = profile.lock().expect("not poisoned");
    println!(
        "{} after {:.1}s: {} unique states, {} distinct server parts, {} distinct network contents",
        if checker.is_done() {
            "complete"
        } else {
            "stopped"
        },
        started.elapsed().as_secs_f64(),
        profile.states.len(),
        profile.servers.len(),
        profile.networks.len(),
    );
    for (name, parts) in &profile.without {
        println!("  without {name}: {} distinct server parts", parts.len());
    }
    for (name, histogram) in &profile.histograms {
        println!("{name}:");
        for (bucket, count) in histogram {
            println!("  {bucket:>22} {count:>10}");
        }
    }
    std::process::exit(0);
}
