//! The Raft lab tester: a cluster of Raft servers on the simulated network, and the checks the lab
//! tests are written with (`check_one_leader`, `one`, `n_committed`, ...), after the course's
//! `config.go`. Every check that fails panics with what was expected and what happened; the run
//! turns that into a FAIL summary line with the seed and the replay command.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use labkit::lab::{TestSpec, run_test};

use crate::TestId;
use crate::raft_driver::RaftNode;
use labkit::labrpc::Network;
use labkit::persister::Persister;
use labkit::sim::{RunError, Sim};
use raft::contract::{ApplyMsg, Command, Options, PeerId, RaftContract, Role};
use tokio::sync::mpsc;

mod checks;

/// The course's election timeout, used by tests as "long enough for a new election".
pub const RAFT_ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
/// The tester's snapshot interval (2D): a snapshot after every 10 applied commands.
pub const SNAPSHOT_INTERVAL: u64 = 10;
/// 2D: persisted Raft state must stay under this with snapshots.
pub const MAX_LOG_SIZE: usize = 2000;

pub use crate::Net;
pub use crate::links::Links;

/// `LAB_2E=1`: run the earlier Raft suites (2A-2D) with lab 2E's PreVote and CheckQuorum on, as
/// the same Raft must pass them either way. (`tests/lab2e.rs` always runs with them on.)
/// Failing runs' replay lines repeat it (`labkit::lab::RUN_SETTINGS`).
pub const WITH_2E_VAR: &str = labkit::lab::WITH_2E_VAR;

/// The options a Raft suite's servers boot with: 2E's switch on in `lab2e`, and in the other
/// suites when `LAB_2E=1`.
pub fn options_for(lab: &str) -> Options {
    let from_env = std::env::var(WITH_2E_VAR).is_ok_and(|v| v == "1");
    Options {
        prevote_and_check_quorum: lab == "lab2e" || from_env,
    }
}

/// How the tester applies committed commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applier {
    /// Check and record every command.
    Plain,
    /// Also snapshot every [`SNAPSHOT_INTERVAL`] commands and install snapshots Raft delivers (2D).
    Snapshot,
}

/// Anything a test submits as a command.
pub trait IntoCommand {
    fn into_command(self) -> Command;
}

impl IntoCommand for u64 {
    fn into_command(self) -> Command {
        self.to_le_bytes().to_vec()
    }
}

impl IntoCommand for i32 {
    fn into_command(self) -> Command {
        (self as u64).into_command()
    }
}

impl IntoCommand for String {
    fn into_command(self) -> Command {
        self.into_bytes()
    }
}

impl IntoCommand for &str {
    fn into_command(self) -> Command {
        self.as_bytes().to_vec()
    }
}

impl IntoCommand for Command {
    fn into_command(self) -> Command {
        self
    }
}

/// A command as a person reads it: integers as integers, text as text.
pub fn show(cmd: &[u8]) -> String {
    if let Ok(bytes) = <[u8; 8]>::try_from(cmd) {
        return u64::from_le_bytes(bytes).to_string();
    }
    match std::str::from_utf8(cmd) {
        Ok(s) if s.len() <= 40 => format!("{s:?}"),
        Ok(s) => format!("{:?}... ({} bytes)", &s[..20], s.len()),
        Err(_) => format!("{} bytes", cmd.len()),
    }
}

/// The tester's snapshot: the last included index and every command up to it.
#[derive(serde::Serialize, serde::Deserialize)]
struct TesterSnapshot {
    last_included_index: u64,
    log: Vec<Option<Command>>,
}

/// Mutable tester state shared with the applier tasks.
#[derive(Default)]
struct Shared {
    /// Per server: what it applied, by index.
    logs: Vec<BTreeMap<u64, Command>>,
    /// Per server: the last index it applied.
    last_applied: Vec<u64>,
    max_index: u64,
    /// Every index some server applied: its command, and a term by which it was surely committed
    /// (`u64::MAX` until the leader-completeness check has bounded it).
    committed: BTreeMap<u64, (Command, u64)>,
}

/// How often the tester checks leader completeness.
const COMPLETENESS_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// A cluster of `n` Raft servers under test.
pub struct Cluster {
    sim: Sim,
    net: Network,
    /// Server slots: ids `0..n`. A removed server keeps its slot (ids are never reused).
    n: Cell<usize>,
    removed: RefCell<BTreeSet<PeerId>>,
    applier: Applier,
    /// What every server's Raft boots with (lab 2E's switch).
    options: Options,
    nodes: RefCell<Vec<Option<RaftNode>>>,
    persisters: RefCell<Vec<Persister>>,
    connected: RefCell<Vec<bool>>,
    /// `ends[i][j]`: the name of server i's end to server j in its current incarnation.
    ends: RefCell<Vec<BTreeMap<PeerId, String>>>,
    incarnation: Cell<u64>,
    shared: Rc<RefCell<Shared>>,
    started_at: Duration,
    rpcs0: Cell<u64>,
    bytes0: Cell<u64>,
    max_index0: Cell<u64>,
    /// Set once a server is added or removed (some checks assume the starting membership).
    membership_changed: Cell<bool>,
}

/// Run a Raft lab test over the seeds from the environment, with a fresh cluster of `servers`
/// per seed, and print its summary line.
pub fn raft_test<F, Fut>(id: TestId, servers: usize, net: Net, applier: Applier, body: F)
where
    F: Fn(Rc<Cluster>) -> Fut,
    Fut: Future<Output = ()>,
{
    let spec = TestSpec::new(id.lab, id.test);
    let options = options_for(id.lab);
    run_test(spec, |sim| {
        let cluster = Cluster::with_options(&sim, servers, net, applier, options);
        let fut = body(cluster.clone());
        async move {
            fut.await;
            cluster.summary_fields()
        }
    });
}

fn fail(message: String) -> ! {
    panic!("{message}")
}

impl Cluster {
    /// `n` servers, all started and connected; long delays on (as in every course Raft test).
    /// Their Raft runs with lab 2E's switch as `LAB_2E` says (see [`options_for`]).
    pub fn new(sim: &Sim, n: usize, net: Net, applier: Applier) -> Rc<Cluster> {
        Cluster::with_options(sim, n, net, applier, options_for(""))
    }

    /// `n` servers booted with `options`, all started and connected; long delays on.
    pub fn with_options(
        sim: &Sim,
        n: usize,
        net: Net,
        applier: Applier,
        options: Options,
    ) -> Rc<Cluster> {
        let network = Network::new(sim);
        network.set_reliable(net == Net::Reliable);
        network.set_long_delays(true);
        let cluster = Rc::new(Cluster {
            sim: sim.clone(),
            net: network,
            n: Cell::new(n),
            removed: RefCell::default(),
            applier,
            options,
            nodes: RefCell::new(vec![None; n]),
            persisters: RefCell::new((0..n).map(|_| Persister::new()).collect()),
            connected: RefCell::new(vec![false; n]),
            ends: RefCell::new(vec![BTreeMap::new(); n]),
            incarnation: Cell::new(0),
            shared: Rc::new(RefCell::new(Shared {
                logs: vec![BTreeMap::new(); n],
                last_applied: vec![0; n],
                max_index: 0,
                committed: BTreeMap::new(),
            })),
            started_at: sim.now(),
            rpcs0: Cell::new(0),
            bytes0: Cell::new(0),
            max_index0: Cell::new(0),
            membership_changed: Cell::new(false),
        });
        for i in 0..n {
            cluster.start1(i);
        }
        for i in 0..n {
            cluster.connect(i);
        }
        cluster.spawn_completeness_checker();
        cluster
    }

    /// Election safety and Leader Completeness, checked all through the test. Completeness: a leader of a term later than the one
    /// in which an entry was committed holds that entry. This catches a Raft that elects a leader
    /// missing a committed entry (no up-to-date check in RequestVote, old-term entries committed
    /// by counting, ...) as soon as that leader exists, not only in the rare runs where the entry
    /// is then overwritten and applied differently.
    fn spawn_completeness_checker(self: &Rc<Self>) {
        let cluster = Rc::downgrade(self);
        let sim = self.sim.clone();
        self.sim.spawn(async move {
            let mut max_term = 0;
            let mut leaders = BTreeMap::new();
            let mut votes = checks::VoteHistory::default();
            loop {
                sim.sleep(COMPLETENESS_CHECK_INTERVAL).await;
                let Some(cluster) = cluster.upgrade() else {
                    return;
                };
                let checked = cluster
                    .check_election_safety(&mut leaders)
                    .and_then(|()| cluster.check_leader_completeness(&mut max_term))
                    .and_then(|()| cluster.check_terms_and_votes(&mut votes));
                if let Err(message) = checked {
                    sim.fail(RunError::Panicked { message });
                    return;
                }
            }
        });
    }

    /// Election safety over the whole test: no two servers lead the same term, ever.
    fn check_election_safety(&self, leaders: &mut BTreeMap<u64, usize>) -> Result<(), String> {
        for node in self.nodes.borrow().iter().flatten() {
            if let (term, true) = node.state() {
                let first = *leaders.entry(term).or_insert(node.id());
                if first != node.id() {
                    return Err(format!(
                        "election safety violated: servers {first} and {} both led term {term}",
                        node.id()
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_leader_completeness(&self, max_term: &mut u64) -> Result<(), String> {
        let nodes = self.nodes.borrow();
        let running: Vec<&RaftNode> = nodes.iter().flatten().collect();
        // Every entry applied so far was committed in a term no later than the largest term any
        // server has had until now.
        *max_term = running
            .iter()
            .map(|n| n.state().0)
            .fold(*max_term, u64::max);
        let mut shared = self.shared.borrow_mut();
        for (_, bound) in shared.committed.values_mut() {
            if *bound == u64::MAX {
                *bound = *max_term;
            }
        }
        for node in running {
            let (term, leader) = node.state();
            if !leader {
                continue;
            }
            node.inspect_raft(|rf| {
                let view = rf.observe();
                let after_snapshot = shared.committed.range(view.snapshot_index + 1..);
                for (&index, (command, bound)) in after_snapshot {
                    if *bound >= term {
                        continue;
                    }
                    let have = view
                        .entries
                        .get((index - view.snapshot_index - 1) as usize)
                        .map(|e| &e.command);
                    if have != Some(command) {
                        return Err(format!(
                            "leader completeness violated: server {} leads term {term} but its log {} \
                             at index {index}, which was committed (applied as {}) by term {bound}",
                            node.id(),
                            have.map_or("ends before".to_string(), |c| format!("has {}", show(c))),
                            show(command)
                        ));
                    }
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    pub fn net(&self) -> &Network {
        &self.net
    }

    /// How many servers the cluster has (ids `0..servers()` unless some were added or removed;
    /// see [`ids`](Self::ids)).
    pub fn servers(&self) -> usize {
        self.n.get() - self.removed.borrow().len()
    }

    /// The ids of the cluster's servers (running or crashed, not removed), in increasing order.
    pub fn ids(&self) -> Vec<PeerId> {
        let removed = self.removed.borrow();
        (0..self.n.get()).filter(|i| !removed.contains(i)).collect()
    }

    /// Sleep in virtual time.
    pub async fn sleep(&self, d: Duration) {
        self.sim.sleep(d).await;
    }

    /// A random number from the run's RNG.
    pub fn rand(&self, range: std::ops::Range<u64>) -> u64 {
        self.sim.random_range(range)
    }

    fn server_name(i: usize) -> String {
        crate::server_name(i)
    }

    /// Crash server `i`: cut it off, delete its labrpc server, keep a copy of its persisted state
    /// that its dead incarnation can no longer write to.
    pub fn crash1(&self, i: usize) {
        self.disconnect(i);
        self.net.delete_server(&Self::server_name(i));
        {
            let mut persisters = self.persisters.borrow_mut();
            persisters[i] = persisters[i].copy();
        }
        if let Some(node) = self.nodes.borrow_mut()[i].take() {
            node.kill();
        }
    }

    /// Start (or restart) server `i` from its persisted state, disconnected.
    pub fn start1(&self, i: usize) {
        self.crash1(i);
        // Fresh end names, so the old incarnation's ends cannot reach anyone.
        self.incarnation.set(self.incarnation.get() + 1);
        let (names, ends) =
            crate::fresh_ends(&self.net, "end", i, self.ids(), self.incarnation.get());
        self.ends.borrow_mut()[i] = names;

        let persister = self.persisters.borrow()[i].clone();
        {
            let mut shared = self.shared.borrow_mut();
            shared.last_applied[i] = 0;
            let snapshot = persister.read_snapshot();
            if !snapshot.is_empty()
                && let Err(e) = ingest_snapshot(&mut shared, i, &snapshot, None)
            {
                fail(e);
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let peers = self.ids();
        let (node, server) =
            match RaftNode::start(&self.sim, i, &peers, ends, persister, tx, self.options) {
                Ok(started) => started,
                Err(e) => fail(format!("server {i} could not restart: {e}")),
            };
        self.nodes.borrow_mut()[i] = Some(node.clone());
        self.net.add_server(&Self::server_name(i), server);
        self.spawn_applier(i, node, rx);
    }

    /// Add a server to the cluster: a new id (never used before), empty persisted state, started
    /// and connected, and an end to it for every running server. Its Raft boots knowing every
    /// server's id; the others learn of it only through their protocol (their configuration is
    /// their own business, from their log: nothing here changes it).
    pub fn add_server(&self) -> PeerId {
        let id = self.n.get();
        self.n.set(id + 1);
        self.membership_changed.set(true);
        self.persisters.borrow_mut().push(Persister::new());
        self.connected.borrow_mut().push(false);
        self.ends.borrow_mut().push(BTreeMap::new());
        {
            let mut shared = self.shared.borrow_mut();
            shared.logs.push(BTreeMap::new());
            shared.last_applied.push(0);
        }
        self.nodes.borrow_mut().push(None);
        for i in self.ids().into_iter().filter(|&i| i != id) {
            let (names, ends) =
                crate::fresh_ends(&self.net, "end", i, [id], self.incarnation.get());
            self.ends.borrow_mut()[i].extend(names);
            if let Some(node) = &self.nodes.borrow()[i] {
                for (peer, end) in ends {
                    node.add_peer(peer, end);
                }
            }
        }
        self.start1(id);
        self.connect(id);
        id
    }

    /// Remove server `i` from the cluster for good: it crashes, the others lose their ends to it,
    /// and its id is never used again.
    pub fn remove_server(&self, i: PeerId) {
        self.membership_changed.set(true);
        self.crash1(i);
        self.removed.borrow_mut().insert(i);
        for node in self.nodes.borrow().iter().flatten() {
            node.remove_peer(i);
        }
        for ends in self.ends.borrow_mut().iter_mut() {
            ends.remove(&i);
        }
    }

    fn spawn_applier(&self, i: usize, node: RaftNode, mut rx: mpsc::UnboundedReceiver<ApplyMsg>) {
        let shared = self.shared.clone();
        let sim = self.sim.clone();
        let applier = self.applier;
        self.sim.spawn(async move {
            while let Some(msg) = rx.recv().await {
                let outcome = match msg {
                    ApplyMsg::Command { index, command } => {
                        apply_command(&mut shared.borrow_mut(), i, index, command, applier)
                    }
                    ApplyMsg::Snapshot { index, data, .. } => {
                        if applier == Applier::Snapshot {
                            ingest_snapshot(&mut shared.borrow_mut(), i, &data, Some(index))
                                .map(|()| None)
                        } else {
                            Err(format!(
                                "server {i} delivered a snapshot (index {index}) though the tester never took one"
                            ))
                        }
                    }
                };
                match outcome {
                    Ok(Some((index, snapshot))) => node.snapshot(index, snapshot),
                    Ok(None) => {}
                    Err(message) => {
                        sim.fail(RunError::Panicked { message });
                        return;
                    }
                }
            }
        });
    }

    /// Reconnect server `i` to every connected server.
    pub fn connect(&self, i: usize) {
        if !self.is_connected(i) {
            self.note(i, format!("connect s{i}"));
        }
        self.connected.borrow_mut()[i] = true;
        self.set_links(i, true);
    }

    /// Cut server `i` off from everyone.
    pub fn disconnect(&self, i: usize) {
        if self.is_connected(i) {
            self.note(i, format!("disconnect s{i}"));
        }
        self.connected.borrow_mut()[i] = false;
        self.set_links(i, false);
    }

    fn set_links(&self, i: usize, on: bool) {
        let connected = self.connected.borrow();
        let ends = self.ends.borrow();
        for j in self.ids() {
            if !on || connected[j] {
                if let Some(name) = ends[i].get(&j) {
                    self.net.enable(name, on);
                }
                if let Some(name) = ends[j].get(&i) {
                    self.net.enable(name, on);
                }
            }
        }
    }

    /// Enable or disable one direction of one link: server `from`'s end to server `to`, which
    /// carries `from`'s requests to `to` and `to`'s replies to them (a link-level partition, as
    /// labrpc's per-end enable allows). It does not change whether the harness counts either server
    /// as connected; a later `connect` or `disconnect` of either server resets the link.
    pub fn set_link(&self, from: usize, to: usize, on: bool) {
        let state = if on { "on" } else { "cut" };
        self.note(from, format!("link s{from} -> s{to} {state}"));
        if let Some(name) = self.ends.borrow()[from].get(&to) {
            self.net.enable(name, on);
        }
    }

    /// Set the whole network's connectivity at once: every one-way link between two of the
    /// cluster's servers is up exactly when `links` has it (see [`Links`]). A server with any link
    /// up counts as connected (the checks look at it); one with none, as cut off. A later
    /// `connect` or `disconnect` of a server resets its links as usual.
    pub fn set_connectivity(&self, links: &Links) {
        let ids = self.ids();
        {
            let rec = self.sim.recorder();
            rec.action(None, format!("connectivity {links:?}"));
        }
        {
            let mut connected = self.connected.borrow_mut();
            for &i in &ids {
                connected[i] = links.touches(i);
            }
        }
        let ends = self.ends.borrow();
        for &i in &ids {
            for &j in &ids {
                if let Some(name) = ends[i].get(&j) {
                    self.net.enable(name, links.connects(i, j));
                }
            }
        }
    }

    /// Record (and log at `lab=info`) something the test did to server `i`.
    fn note(&self, i: usize, text: String) {
        let rec = self.sim.recorder();
        rec.action(Some(rec.server_lane(i)), text);
    }

    pub fn is_connected(&self, i: usize) -> bool {
        self.connected.borrow()[i]
    }

    pub fn set_reliable(&self, reliable: bool) {
        self.net.set_reliable(reliable);
    }

    pub fn set_long_reordering(&self, on: bool) {
        self.net.set_long_reordering(on);
    }

    /// `(term, is_leader)` of server `i`, if it is running.
    pub fn state(&self, i: usize) -> Option<(u64, bool)> {
        self.nodes.borrow()[i].as_ref().map(RaftNode::state)
    }

    /// The options every server's Raft boots with (lab 2E's switch).
    pub fn options(&self) -> Options {
        self.options
    }

    /// The role of server `i` as its Raft reports it (`observe`), if it is running.
    pub fn role(&self, i: usize) -> Option<Role> {
        let node = self.nodes.borrow()[i].clone();
        node.map(|n| n.inspect_raft(|rf| rf.observe().role))
    }

    /// Submit `cmd` to server `i`: `Some((index, term))` if it is a running leader.
    pub fn start(&self, i: usize, cmd: impl IntoCommand) -> Option<(u64, u64)> {
        let node = self.nodes.borrow()[i].clone();
        node.and_then(|n| n.start_command(cmd.into_command()))
    }

    /// The largest persisted Raft state of any server.
    pub fn log_size(&self) -> usize {
        self.persisters
            .borrow()
            .iter()
            .map(Persister::raft_state_size)
            .max()
            .unwrap_or(0)
    }

    /// The largest snapshot of any server.
    pub fn snapshot_size(&self) -> usize {
        self.persisters
            .borrow()
            .iter()
            .map(Persister::snapshot_size)
            .max()
            .unwrap_or(0)
    }

    pub fn rpc_total(&self) -> u64 {
        self.net.total_count()
    }

    pub fn bytes_total(&self) -> u64 {
        self.net.total_bytes()
    }

    /// Requests delivered to server `i`.
    pub fn rpc_count(&self, i: usize) -> u64 {
        self.net.count(&Self::server_name(i))
    }

    /// The highest index any server applied.
    pub fn max_index(&self) -> u64 {
        self.shared.borrow().max_index
    }

    /// Check that exactly one connected server leads (retrying for up to ~5 s) and return it.
    pub async fn check_one_leader(&self) -> usize {
        let mut last = String::new();
        for _ in 0..10 {
            let ms = 450 + self.rand(0..100);
            self.sleep(Duration::from_millis(ms)).await;
            let mut leaders: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
            for i in self.ids() {
                if self.is_connected(i)
                    && let Some((term, true)) = self.state(i)
                {
                    leaders.entry(term).or_default().push(i);
                }
            }
            for (term, ls) in &leaders {
                if ls.len() > 1 {
                    fail(format!(
                        "expected at most one leader per term; term {term} has leaders {ls:?}"
                    ));
                }
            }
            if let Some((term, ls)) = leaders.last_key_value() {
                (self.sim.recorder()).check(format!("one leader: s{} in term {term}", ls[0]));
                return ls[0];
            }
            last = self.describe();
        }
        fail(format!(
            "expected one leader among the connected servers within 5 s; got none ({last})"
        ))
    }

    /// Check that every connected server agrees on the term and return it.
    pub fn check_terms(&self) -> u64 {
        let mut term = None;
        for i in self.ids() {
            if !self.is_connected(i) {
                continue;
            }
            if let Some((t, _)) = self.state(i) {
                match term {
                    None => term = Some(t),
                    Some(t0) if t0 != t => fail(format!(
                        "expected the connected servers to agree on the term; {}",
                        self.describe()
                    )),
                    _ => {}
                }
            }
        }
        term.unwrap_or(0)
    }

    /// Check that no connected server thinks it is the leader.
    pub fn check_no_leader(&self) {
        for i in self.ids() {
            if self.is_connected(i) && matches!(self.state(i), Some((_, true))) {
                fail(format!(
                    "expected no leader among the connected servers, but server {i} claims to be leader ({})",
                    self.describe()
                ));
            }
        }
    }

    /// How many servers applied `index`, and what (checking they agree).
    pub fn n_committed(&self, index: u64) -> (usize, Option<Command>) {
        let shared = self.shared.borrow();
        let mut count = 0;
        let mut cmd: Option<&Command> = None;
        for (i, log) in shared.logs.iter().enumerate() {
            if let Some(c) = log.get(&index) {
                if let Some(prev) = cmd
                    && prev != c
                {
                    fail(format!(
                        "committed values differ at index {index}: {} vs {} (server {i})",
                        show(prev),
                        show(c)
                    ));
                }
                count += 1;
                cmd = Some(c);
            }
        }
        (count, cmd.cloned())
    }

    /// Wait for at least `n` servers to apply `index`; `None` if some server moved past
    /// `start_term` (the test should then retry).
    pub async fn wait(&self, index: u64, n: usize, start_term: Option<u64>) -> Option<Command> {
        let mut to = Duration::from_millis(10);
        for _ in 0..30 {
            let (nd, _) = self.n_committed(index);
            if nd >= n {
                break;
            }
            self.sleep(to).await;
            if to < Duration::from_secs(1) {
                to *= 2;
            }
            if let Some(start_term) = start_term {
                let moved_on = (self.ids().into_iter())
                    .filter_map(|i| self.state(i))
                    .any(|(t, _)| t > start_term);
                if moved_on {
                    return None;
                }
            }
        }
        let (nd, cmd) = self.n_committed(index);
        if nd < n {
            fail(format!(
                "expected {n} servers to apply index {index}; only {nd} did"
            ));
        }
        cmd
    }

    /// Submit `cmd` to a leader and wait until `expected` servers apply it; return its index.
    /// Tries every server for up to 10 s; with `retry`, resubmits if agreement is not reached in 2 s.
    pub async fn one(&self, cmd: impl IntoCommand, expected: usize, retry: bool) -> u64 {
        let cmd = cmd.into_command();
        let t0 = self.sim.now();
        let mut starts = 0;
        while self.sim.now() - t0 < Duration::from_secs(10) {
            let mut index = None;
            let ids = self.ids();
            for _ in 0..ids.len() {
                starts = (starts + 1) % ids.len();
                if self.is_connected(ids[starts])
                    && let Some((i, _)) = self.start(ids[starts], cmd.clone())
                {
                    index = Some(i);
                    break;
                }
            }
            if let Some(index) = index {
                let t1 = self.sim.now();
                while self.sim.now() - t1 < Duration::from_secs(2) {
                    let (nd, cmd1) = self.n_committed(index);
                    if nd > 0 && nd >= expected && cmd1.as_ref() == Some(&cmd) {
                        (self.sim.recorder()).check(format!(
                            "{} applied at index {index} by {nd} servers",
                            show(&cmd)
                        ));
                        return index;
                    }
                    self.sleep(Duration::from_millis(20)).await;
                }
                if !retry {
                    fail(format!(
                        "expected command {} to be applied by {expected} servers within 2 s of \
                         its submission at index {index}; {} ({})",
                        show(&cmd),
                        self.agreement_at(index),
                        self.describe()
                    ));
                }
            } else {
                self.sleep(Duration::from_millis(50)).await;
            }
        }
        fail(format!(
            "expected command {} to reach agreement among {expected} servers within 10 s; it did not ({})",
            show(&cmd),
            self.describe()
        ))
    }

    fn agreement_at(&self, index: u64) -> String {
        let shared = self.shared.borrow();
        let have: Vec<usize> = (self.ids().into_iter())
            .filter(|i| shared.logs[*i].contains_key(&index))
            .collect();
        format!("servers that applied index {index}: {have:?}")
    }

    /// One line about every server: connected, term, role, last applied.
    pub fn describe(&self) -> String {
        let shared = self.shared.borrow();
        (self.ids().into_iter())
            .map(|i| {
                let link = if self.is_connected(i) { "" } else { " cut" };
                match self.state(i) {
                    Some((t, l)) => format!(
                        "s{i}: term {t}{}{link} applied {}",
                        if l { " leader" } else { "" },
                        shared.last_applied[i]
                            .max(shared.logs[i].keys().last().copied().unwrap_or(0))
                    ),
                    None => format!("s{i}: down{link}"),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Start counting RPCs, bytes and commands for the summary line from now.
    pub fn begin(&self) {
        self.rpcs0.set(self.rpc_total());
        self.bytes0.set(self.bytes_total());
        self.max_index0.set(self.max_index());
    }

    fn summary_fields(&self) -> Vec<(String, String)> {
        let _ = self.started_at;
        vec![
            ("peers".into(), self.servers().to_string()),
            (
                "rpcs".into(),
                (self.rpc_total() - self.rpcs0.get()).to_string(),
            ),
            (
                "bytes".into(),
                (self.bytes_total() - self.bytes0.get()).to_string(),
            ),
            (
                "cmds".into(),
                (self.max_index() - self.max_index0.get()).to_string(),
            ),
        ]
    }
}

/// Record server `i`'s apply of `command` at `index`, checking order and agreement. With the
/// snapshot applier, returns a snapshot to hand to Raft every `SNAPSHOT_INTERVAL` commands.
fn apply_command(
    shared: &mut Shared,
    i: usize,
    index: u64,
    command: Command,
    applier: Applier,
) -> Result<Option<(u64, Vec<u8>)>, String> {
    if index != shared.last_applied[i] + 1 {
        return Err(format!(
            "server {i} applied out of order: expected index {}, got {index}",
            shared.last_applied[i] + 1
        ));
    }
    for (j, log) in shared.logs.iter().enumerate() {
        if let Some(other) = log.get(&index)
            && *other != command
        {
            return Err(format!(
                "servers disagree at index {index}: server {i} applied {}, server {j} applied {}",
                show(&command),
                show(other)
            ));
        }
    }
    shared
        .committed
        .entry(index)
        .or_insert_with(|| (command.clone(), u64::MAX));
    shared.logs[i].insert(index, command);
    shared.last_applied[i] = index;
    shared.max_index = shared.max_index.max(index);
    if applier == Applier::Snapshot && (index + 1).is_multiple_of(SNAPSHOT_INTERVAL) {
        let log = (0..=index)
            .map(|k| shared.logs[i].get(&k).cloned())
            .collect();
        let snapshot = TesterSnapshot {
            last_included_index: index,
            log,
        };
        let bytes = postcard::to_allocvec(&snapshot).map_err(|e| e.to_string())?;
        return Ok(Some((index, bytes)));
    }
    Ok(None)
}

/// Replace server `i`'s applied log with a snapshot's (checking its index matches `expected`).
fn ingest_snapshot(
    shared: &mut Shared,
    i: usize,
    data: &[u8],
    expected: Option<u64>,
) -> Result<(), String> {
    let snapshot: TesterSnapshot = postcard::from_bytes(data)
        .map_err(|e| format!("server {i} delivered a snapshot the tester cannot decode: {e}"))?;
    if let Some(expected) = expected
        && expected != snapshot.last_included_index
    {
        return Err(format!(
            "server {i} delivered a snapshot for index {expected}, but it covers index {}",
            snapshot.last_included_index
        ));
    }
    // A snapshot Raft delivers must not take the service back before what it has applied: that
    // would undo applies (Figure 13: a snapshot older than the log is ignored).
    if let Some(expected) = expected
        && expected < shared.last_applied[i]
    {
        return Err(format!(
            "server {i} delivered a snapshot for index {expected} after applying up to index {}: \
             the service's state must never go back",
            shared.last_applied[i]
        ));
    }
    let log = &mut shared.logs[i];
    log.clear();
    for (k, cmd) in snapshot.log.into_iter().enumerate() {
        if let Some(cmd) = cmd {
            shared
                .committed
                .entry(k as u64)
                .or_insert_with(|| (cmd.clone(), u64::MAX));
            log.insert(k as u64, cmd);
        }
    }
    shared.last_applied[i] = snapshot.last_included_index;
    shared.max_index = shared.max_index.max(snapshot.last_included_index);
    Ok(())
}

// BEGIN INSTRUCTOR ONLY
// These tests run the reference Raft and KV service, so they are the instructor's.
#[cfg(test)]
mod tests {
    use super::*;
    use labkit::sim::{RunConfig, run};

    /// Servers can join and leave a running cluster: the newcomer is reachable both ways (its
    /// election requests reach the others, whose terms follow its), and after its removal it is
    /// gone and the rest carry on.
    #[test]
    fn servers_can_be_added_and_removed() {
        let result = run(RunConfig::new(1), |sim| async move {
            let cfg = Cluster::new(&sim, 3, Net::Reliable, Applier::Plain);
            cfg.check_one_leader().await;
            let id = cfg.add_server();
            assert_eq!((id, cfg.servers(), cfg.ids()), (3, 4, vec![0, 1, 2, 3]));
            // The reference's other servers do not have 3 in their configuration, so no leader
            // heartbeats it: it times out and campaigns, and the others hear it.
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            let (term3, _) = cfg.state(3).expect("the new server runs");
            assert!(term3 >= 1, "the new server campaigned");
            let (term0, _) = cfg.state(0).expect("server 0 runs");
            assert!(
                term0 >= term3,
                "server 0 heard the new server's term {term3}: {term0}"
            );
            cfg.remove_server(3);
            assert_eq!((cfg.servers(), cfg.ids()), (3, vec![0, 1, 2]));
            assert_eq!(cfg.state(3), None);
            cfg.check_one_leader().await;
            cfg.one(7u64, 3, true).await;
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}
// END INSTRUCTOR ONLY
