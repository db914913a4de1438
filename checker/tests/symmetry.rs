//! Symmetry reduction (`checker check --symmetry`) is sound only if renaming servers is an
//! automorphism of the model: a renamed state must have exactly the renamed successors, satisfy
//! the same properties, and have the same representative. These tests check that on thousands of
//! reachable states of a lossy bound with a crash, for the reference's `relabel*` functions, and
//! that a symmetric search reaches the same verdicts with far fewer states.

use std::collections::{HashSet, VecDeque};

use checker::model::bounds::{Exploration, Strategy};
use checker::model::check::check;
use checker::model::report::render_report;
use checker::model::symmetry::{problem, rename_state, representative, supported};
use checker::model::{Bounds, NetworkSemantics, RaftModel, RaftNode, RaftState, model};
use raft::contract::{
    Command, CorruptState, Effects, Observation, Options, PeerId, Persisted, Reply,
};
use raft::contract::{Request, Timer};
use stateright::Model;

type State = RaftState<raft::Raft>;

/// Every renaming of three servers but the identity, as `to[p]`.
const RENAMINGS: [[usize; 3]; 5] = [[0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

fn successors(model: &RaftModel<raft::Raft>, state: &State) -> HashSet<State> {
    let mut actions = Vec::new();
    model.actions(state, &mut actions);
    actions
        .into_iter()
        .filter_map(|a| model.next_state(state, a))
        .filter(|s| model.within_boundary(s))
        .collect()
}

/// The first `limit` states of `bounds`, breadth-first.
fn reachable(model: &RaftModel<raft::Raft>, limit: usize) -> Vec<State> {
    let mut seen: HashSet<State> = HashSet::new();
    let mut queue: VecDeque<State> = model.init_states().into();
    let mut states = Vec::new();
    while let Some(state) = queue.pop_front() {
        if states.len() == limit {
            break;
        }
        for next in successors(model, &state) {
            if seen.insert(next.clone()) {
                queue.push_back(next);
            }
        }
        states.push(state);
    }
    states
}

#[test]
fn the_reference_renames_servers() {
    assert!(supported::<raft::Raft>(3));
    assert!(supported::<raft::Raft>(5));
    assert_eq!(
        problem::<raft::Raft>(&Bounds::default(), Strategy::Dfs),
        None
    );
}

/// Check on the first `limit` states of `bounds` that every renaming undoes, commutes with the
/// steps, keeps every property's value and has the state's representative.
fn assert_automorphism(bounds: &Bounds, limit: usize) {
    let model = model::<raft::Raft>(bounds);
    let properties = model.properties();
    let (mut checked, mut moved) = (0, 0);
    for state in reachable(&model, limit) {
        let next = successors(&model, &state);
        let canonical = representative(&state);
        for to in RENAMINGS {
            let renamed = rename_state(&state, &to).expect("the reference renames");
            let mut back = [0; 3];
            for (p, &q) in to.iter().enumerate() {
                back[q] = p;
            }
            assert_eq!(rename_state(&renamed, &back).as_ref(), Some(&state));
            if renamed != state {
                moved += 1;
            }
            // The renamed state's successors are the renamed successors.
            let renamed_next: HashSet<State> = next
                .iter()
                .map(|s| rename_state(s, &to).expect("renames"))
                .collect();
            assert_eq!(
                successors(&model, &renamed),
                renamed_next,
                "renaming {to:?} does not commute with the steps of {state:?}"
            );
            for property in &properties {
                assert_eq!(
                    (property.condition)(&model, &state),
                    (property.condition)(&model, &renamed),
                    "{} differs after renaming {to:?} in {state:?}",
                    property.name
                );
            }
            // All renamings of a state have one representative.
            assert_eq!(representative(&renamed), canonical, "{state:?}");
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * limit, "{bounds}");
    assert!(
        moved > 5 * limit * 2 / 3,
        "most renamings change the state: {moved}"
    );
}

#[test]
fn renaming_is_an_automorphism_of_the_model() {
    assert_automorphism(
        &Bounds {
            max_term: 3,
            crashes: 1,
            lossy: true,
            max_in_flight: 2,
            ..Bounds::default()
        },
        3_000,
    );
}

/// `--symmetry` is allowed with the ordered and the duplicating networks too.
#[test]
fn renaming_is_an_automorphism_on_ordered_and_duplicating_networks() {
    for network in [NetworkSemantics::Ordered, NetworkSemantics::Duplicating] {
        assert_automorphism(
            &Bounds {
                crashes: 1,
                network,
                lossy: network == NetworkSemantics::Ordered,
                ..Bounds::default()
            },
            1_000,
        );
    }
}

fn dfs(bounds: &Bounds, symmetry: bool) -> (checker::model::report::Report<raft::Raft>, String) {
    let report = check::<raft::Raft>(
        bounds,
        &Exploration {
            strategy: Strategy::Dfs,
            symmetry,
            ..Exploration::default()
        },
    );
    let text = render_report(&report, "127.0.0.1:3000");
    assert!(report.complete, "{text}");
    (report, text)
}

/// The default bound has about 6 times fewer states up to renaming (3! renamings), and the same
/// verdicts.
#[test]
fn a_symmetric_search_reaches_the_same_verdicts_with_fewer_states() {
    let bounds = Bounds::default();
    let (plain, plain_text) = dfs(&bounds, false);
    let (reduced, reduced_text) = dfs(&bounds, true);
    assert!(reduced.passed(), "{reduced_text}");
    assert!(reduced_text.contains("exploration: Dfs, 1 thread(s), symmetry"));
    let verdicts = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.ends_with("holds") || l.ends_with("reached"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(verdicts(&plain_text), verdicts(&reduced_text));
    assert!(
        reduced.unique * 5 < plain.unique,
        "{} states with symmetry, {} without",
        reduced.unique,
        plain.unique
    );
}

/// A Raft without the optional renaming (as in the student handout): symmetry is refused with a
/// message that says where to look.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct NoRenaming(raft::Raft);

impl RaftNode for NoRenaming {
    fn new(
        me: PeerId,
        peers: &[PeerId],
        persisted: &Persisted,
        options: Options,
        out: &mut Effects,
    ) -> Result<Self, CorruptState> {
        raft::Raft::new(me, peers, persisted, options, out).map(NoRenaming)
    }
    fn state(&self) -> (u64, bool) {
        self.0.state()
    }
    fn observe(&self) -> Observation<'_> {
        self.0.observe()
    }
    fn on_timer(&mut self, timer: Timer, out: &mut Effects) {
        self.0.on_timer(timer, out)
    }
    fn on_request(&mut self, from: PeerId, request: Request, out: &mut Effects) -> Reply {
        self.0.on_request(from, request, out)
    }
    fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects) {
        self.0.on_reply(from, request, reply, out)
    }
    fn start(&mut self, command: Command, out: &mut Effects) -> Option<(u64, u64)> {
        self.0.start(command, out)
    }
    fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects) {
        self.0.snapshot(index, snapshot, out)
    }
}

#[test]
fn symmetry_is_refused_where_it_would_be_wrong() {
    let bounds = Bounds::default();
    assert!(!supported::<NoRenaming>(3));
    let why = problem::<NoRenaming>(&bounds, Strategy::Dfs).expect("refused");
    assert!(why.contains("relabel"), "{why}");
    let why = problem::<raft::Raft>(&bounds, Strategy::Bfs).expect("refused");
    assert!(why.contains("breadth-first"), "{why}");
    let sequential = Bounds {
        network: NetworkSemantics::Sequential,
        ..Bounds::default()
    };
    let why = problem::<raft::Raft>(&sequential, Strategy::Dfs).expect("refused");
    assert!(why.contains("sequential"), "{why}");
    // The representative of a state it cannot rename is the state itself.
    let model = model::<NoRenaming>(&bounds);
    for state in model.init_states() {
        assert_eq!(representative(&state), state);
    }
}

/// The command line refuses `--symmetry` where it would be ignored or wrong, with exit code 2.
#[test]
fn the_cli_refuses_symmetry_with_breadth_first_search() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_checker"))
        .args(["check", "--symmetry", "--strategy", "bfs"])
        .output()
        .expect("run the checker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("checker: --symmetry: stateright's breadth-first search has no symmetry"),
        "{stderr}"
    );
}
