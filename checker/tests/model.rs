//! The model checker on the reference Raft: the default bound is explored completely, every
//! safety property holds and every reachability property is reached; the Explorer serves the
//! same model over HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use checker::model::bounds::{Exploration, Strategy};
use checker::model::check::check;
use checker::model::raft_model::initial_state;
use checker::model::report::{Report, render_report};
use checker::model::shorten::shortest_violation;
use checker::model::trace::{describe_action, render_path};
use checker::model::{Bounds, RaftNode, RaftState, Server, model};
use raft::contract::{
    Command, CorruptState, Effects, Observation, Options, PeerId, Persisted, Reply, Request, Timer,
};
use stateright::Model;

/// Check the reference depth-first within `bounds`; it must explore them completely and pass.
fn reference_passes(bounds: &Bounds) -> (Report<raft::Raft>, String) {
    let report = check::<raft::Raft>(
        bounds,
        &Exploration {
            strategy: Strategy::Dfs,
            ..Exploration::default()
        },
    );
    let text = render_report(&report, "127.0.0.1:3000");
    assert!(report.complete, "{text}");
    assert!(report.passed(), "{text}");
    (report, text)
}

#[test]
fn reference_passes_the_default_bound_completely() {
    let (report, text) = reference_passes(&Bounds::default());
    assert!(
        report.unique > 100_000,
        "a meaningful bound explores many states: {text}"
    );
    for line in [
        "election safety                holds",
        "a command commits              reached",
    ] {
        assert!(text.contains(line), "{text}");
    }
}

/// The level-ordered breadth-first search explores exactly the states depth-first search does
/// (the same unique and generated counts, the same deepest state) on one thread or two, and
/// finds the bound complete.
#[test]
fn breadth_first_search_explores_what_depth_first_search_explores() {
    let (dfs, _) = reference_passes(&Bounds::default());
    for threads in [1, 2] {
        let bfs = check::<raft::Raft>(
            &Bounds::default(),
            &Exploration {
                strategy: Strategy::Bfs,
                threads,
                ..Exploration::default()
            },
        );
        let text = render_report(&bfs, "127.0.0.1:3000");
        assert!(bfs.complete && bfs.passed(), "{text}");
        assert_eq!(
            (bfs.unique, bfs.generated, bfs.max_depth),
            (dfs.unique, dfs.generated, dfs.max_depth),
            "{threads} threads: {text}"
        );
    }
}

/// With snapshot requests on, the bound is still finite: a command trimmed into a snapshot is not
/// proposed again (it once was, and the search ran past depth 5,000 without end).
#[test]
fn reference_passes_the_snapshot_bound_completely() {
    let (report, text) = reference_passes(&Bounds {
        snapshots: true,
        ..Bounds::default()
    });
    assert!(report.max_depth < 100, "{text}");
}

/// A lossy network: the network loses messages whenever more than `max_in_flight` would be in
/// flight. Two in flight still allow a split vote and a leader's AppendEntries to both followers.
#[test]
fn reference_passes_a_lossy_bound_completely() {
    let (report, text) = reference_passes(&Bounds {
        lossy: true,
        max_in_flight: 2,
        ..Bounds::default()
    });
    assert!(text.contains("network=Unordered+lossy"), "{text}");
    assert!(report.unique > 100_000, "{text}");
}

/// Breadth-first over up to `limit` states of `bounds`, calling `visit` on each state with the
/// actions enabled in it.
fn explore(
    bounds: &Bounds,
    limit: usize,
    mut visit: impl FnMut(&RaftState<raft::Raft>, &[checker::model::RaftAction<raft::Raft>]),
) {
    let model = model::<raft::Raft>(bounds);
    let fingerprint = |state: &RaftState<raft::Raft>| {
        let mut hasher = DefaultHasher::new();
        state.hash(&mut hasher);
        hasher.finish()
    };
    let mut seen = HashSet::new();
    let mut queue: VecDeque<_> = model.init_states().into();
    let mut actions = Vec::new();
    let mut visited = 0;
    while let Some(state) = queue.pop_front() {
        if visited == limit {
            break;
        }
        visited += 1;
        actions.clear();
        model.actions(&state, &mut actions);
        visit(&state, &actions);
        for action in actions.drain(..) {
            if let Some(next) = model.next_state(&state, action)
                && model.within_boundary(&next)
                && seen.insert(fingerprint(&next))
            {
                queue.push_back(next);
            }
        }
    }
}

/// What the model promises about every state it keeps: never more than `max_in_flight` messages
/// (losses are folded into the step that overflows), crashed servers hold only what they
/// persisted, the ghost state has taken in every step's events, and it remembers the leaders of
/// the terms some server can still lead.
#[test]
fn every_state_of_a_lossy_crash_bound_is_settled() {
    let bounds = Bounds {
        max_term: 3,
        crashes: 1,
        lossy: true,
        max_in_flight: 3,
        ..Bounds::default()
    };
    let (mut states, mut crashed, mut folded, mut forgotten) = (0, 0, 0, 0);
    explore(&bounds, 50_000, |state, actions| {
        states += 1;
        assert!(state.network.len() <= 3, "{state:?}");
        let mut lowest = u64::MAX;
        for (i, server) in state.servers().enumerate() {
            assert!(server.events.is_empty(), "{server:?}");
            if state.crashed(i) {
                crashed += 1;
                assert!(server.raft.is_none(), "{server:?}");
                assert!(server.crashed_in_term.is_some(), "{server:?}");
            }
            lowest = lowest.min(server.term().expect("every server has a term"));
        }
        let leaders = &state.history.ghost.leaders;
        assert!(leaders.keys().all(|&t| t >= lowest), "{leaders:?}");
        if lowest > 1 && !leaders.contains_key(&1) {
            forgotten += 1;
        }
        for action in actions.iter().filter(|a| !a.lost().is_empty()) {
            folded += 1;
            let text = describe_action(&bounds, action);
            assert!(text.contains("; network loses "), "{text}");
        }
    });
    assert_eq!(states, 50_000);
    assert!(crashed > 0 && folded > 0 && forgotten > 0);
}

/// A Raft that forgets everything when it restarts (its persisted bytes are ignored).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Amnesiac(raft::Raft);

impl RaftNode for Amnesiac {
    fn new(
        me: PeerId,
        peers: &[PeerId],
        _persisted: &Persisted,
        options: Options,
        out: &mut Effects,
    ) -> Result<Self, CorruptState> {
        raft::Raft::new(me, peers, &Persisted::default(), options, out).map(Amnesiac)
    }
    fn state(&self) -> (u64, bool) {
        RaftNode::state(&self.0)
    }
    fn observe(&self) -> Observation<'_> {
        RaftNode::observe(&self.0)
    }
    fn on_timer(&mut self, timer: Timer, out: &mut Effects) {
        RaftNode::on_timer(&mut self.0, timer, out)
    }
    fn on_request(&mut self, from: PeerId, request: Request, out: &mut Effects) -> Reply {
        RaftNode::on_request(&mut self.0, from, request, out)
    }
    fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects) {
        RaftNode::on_reply(&mut self.0, from, request, reply, out)
    }
    fn start(&mut self, command: Command, out: &mut Effects) -> Option<(u64, u64)> {
        RaftNode::start(&mut self.0, command, out)
    }
    fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects) {
        RaftNode::snapshot(&mut self.0, index, snapshot, out)
    }
}

/// Forgetting the term on a restart is caught as such, in three steps.
#[test]
fn a_restart_into_an_earlier_term_is_caught() {
    let bounds = Bounds {
        crashes: 1,
        ..Bounds::default()
    };
    let (property, path) =
        shortest_violation::<Amnesiac>(&bounds, 5).expect("the amnesiac is caught");
    let text = render_path(&bounds, &path);
    assert_eq!(property, "current term never decreases", "{text}");
    assert!(
        text.ends_with(
            "violated: current term never decreases: server 0 restarted from term 1 into term 0\n"
        ),
        "{text}"
    );
    assert!(text.contains("s0 down (crashed in term 1)"), "{text}");
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn explorer_serves_the_models_initial_state() {
    // A free port: bind, note it, release it for the Explorer.
    let address = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let bounds = Bounds::default();
    let serve_at = address.clone();
    std::thread::spawn(move || {
        let model = checker::model::model::<raft::Raft>(&bounds);
        model.checker().serve(serve_at.as_str());
    });
    // The server binds in the background: retry the connection for up to 10 s of real time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&address).is_err() {
        assert!(
            Instant::now() < deadline,
            "Explorer did not start on {address}"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let status = get(&address, "/.status");
    assert!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
        "{status}"
    );
    assert!(status.contains("\"model\""), "{status}");

    let states = get(&address, "/.states");
    assert!(states.contains("200"), "{states}");
    // The initial state: three followers in term 0, as Debug-printed by the Explorer.
    let init = initial_state::<raft::Raft>(&Bounds::default());
    let init: Vec<&Server<raft::Raft>> = init.servers().collect();
    assert_eq!(init.len(), 3);
    assert!(states.contains("term: 0"), "{states}");
    assert!(states.contains("role: Follower"), "{states}");
}

/// The model stateright's simulation runs offers only steps that change the state: stateright
/// 0.31's simulation records an ignored action in its path but cannot replay it, so a
/// counterexample found after one made `check --strategy simulation` panic ("Unable to
/// reconstruct a `Path`"). Along seeded random walks: the plain model does ignore some actions
/// (the hazard is real), the simulation's model ignores none, offers exactly the plain model's
/// successors, and a walk is rebuilt from its action indices alone, as stateright rebuilds it.
#[test]
fn the_simulations_model_offers_only_steps_that_change_the_state() {
    fn fingerprint<T: Hash>(t: &T) -> u64 {
        let mut h = DefaultHasher::new();
        t.hash(&mut h);
        h.finish()
    }
    let bounds = Bounds::default();
    let plain = model::<raft::Raft>(&bounds);
    let simulated = model::<raft::Raft>(&bounds).for_simulation();
    let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
    let mut ignored_by_plain = 0;
    for _walk in 0..40 {
        let mut state = simulated.init_states().remove(0);
        let mut indices = Vec::new();
        for _step in 0..30 {
            let mut offered = Vec::new();
            simulated.actions(&state, &mut offered);
            if offered.is_empty() {
                break;
            }
            let successors: HashSet<u64> = offered
                .iter()
                .map(|a| {
                    let next = simulated.next_state(&state, a.clone());
                    fingerprint(&next.expect("the simulation's model offered an ignored step"))
                })
                .collect();
            let mut all = Vec::new();
            plain.actions(&state, &mut all);
            let mut plain_successors = HashSet::new();
            for action in all {
                match plain.next_state(&state, action) {
                    Some(next) => {
                        plain_successors.insert(fingerprint(&next));
                    }
                    None => ignored_by_plain += 1,
                }
            }
            assert_eq!(successors, plain_successors);
            rng = rng
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let index = (rng >> 33) as usize % offered.len();
            indices.push(index);
            state = simulated
                .next_state(&state, offered.swap_remove(index))
                .expect("a step");
        }
        let mut rebuilt = simulated.init_states().remove(0);
        for index in indices {
            let mut offered = Vec::new();
            simulated.actions(&rebuilt, &mut offered);
            rebuilt = simulated
                .next_state(&rebuilt, offered.swap_remove(index))
                .expect("a step");
        }
        assert_eq!(fingerprint(&rebuilt), fingerprint(&state));
    }
    assert!(ignored_by_plain > 0, "the plain model ignored no action");
}

/// A limit on CPU time (what the graded presets use) stops a search as a real-time limit does,
/// and the report and a preset's verdict say which clock it was.
#[test]
fn a_cpu_time_limit_stops_the_search_and_says_so() {
    use checker::model::cli::preset_passed;
    use checker::model::report::Stop;
    let report = check::<raft::Raft>(
        &Bounds::default(),
        &Exploration {
            strategy: Strategy::Bfs,
            timeout: Some(Duration::ZERO),
            cpu_time: true,
            ..Exploration::default()
        },
    );
    assert!(!report.complete);
    assert!(
        matches!(report.stop, Some(Stop::TimeLimit(_))),
        "{:?}",
        report.stop
    );
    let text = render_report(&report, "127.0.0.1:3000");
    assert!(text.contains(", time limit 0s of CPU time"), "{text}");
    assert_eq!(
        preset_passed(&report).unwrap_err(),
        "timed out: the search did not finish within the preset's time limit of 0s of CPU time"
    );
}
