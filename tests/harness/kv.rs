//! The KV lab tester (labs 3A/3B), after the course's kvraft `config.go` and `test_test.go`: a
//! cluster of KV servers on the simulated network, clerks connected to some of them, crashes and
//! partitions, a recorded history of every logged operation with its virtual call and return
//! times, and the checks the tests are written with. A failing check panics with what was expected
//! and what happened; the run turns that into a FAIL summary line with the seed and replay command.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use crate::kv_driver::{KvNode, call_with_timeout, run_op};
use kvraft::Clerk;
use kvraft::contract::{ClerkContract, ClerkStep, ClientId, KvServerContract, Op};
use labkit::lab::{TestSpec, run_test};
use linearizability::{
    Annotation, AnnotationKind, CheckOptions, History, Operation, PartitionStatus, PictureOptions,
    Verdict, check_history, write_html_annotated,
};
use raft::contract::{PeerId, RaftContract};

use crate::{Net, TestId};
use labkit::labrpc::{ClientEnd, Network};
use labkit::persister::Persister;
use labkit::sim::Sim;

/// The course's election timeout, used by tests as "long enough for a new election".
pub const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long the linearizability checker may search (real time); past it the history passes.
pub const LINEARIZABILITY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// The speed tests' bound: a heartbeat is 100 ms, and at least 3 operations must fit in one.
pub const MAX_TIME_PER_OP: Duration = Duration::from_nanos(100_000_000 / 3);

fn fail(message: String) -> ! {
    panic!("{message}")
}

/// A clerk of the test, with its ends to the servers (in the clerk's own, shuffled order).
pub struct Client {
    id: ClientId,
    clerk: RefCell<Clerk>,
    ends: Vec<ClientEnd>,
    /// `(j, name)`: the name of this client's end to server `j`, for each server the cluster had
    /// when the client was made.
    by_server: Vec<(PeerId, String)>,
}

impl Client {
    pub fn id(&self) -> ClientId {
        self.id
    }
}

/// A cluster of KV servers under test.
pub struct KvCluster {
    sim: Sim,
    net: Network,
    lab: &'static str,
    test: &'static str,
    /// Servers ever created: ids `0..n` (ids are never reused).
    n: Cell<usize>,
    /// Servers taken out of the cluster by [`KvCluster::remove_server`].
    removed: RefCell<BTreeSet<PeerId>>,
    maxraftstate: Option<usize>,
    /// By server id.
    nodes: RefCell<Vec<Option<KvNode>>>,
    persisters: RefCell<Vec<Persister>>,
    /// `ends[i][j]`: the name of server i's end to server j in i's current incarnation.
    ends: RefCell<Vec<BTreeMap<PeerId, String>>>,
    incarnation: Cell<u64>,
    next_client: Cell<ClientId>,
    /// Operations completed by clerks (logged or not).
    ops: Cell<u64>,
    history: RefCell<Vec<Operation>>,
    /// What happened to the servers meanwhile, for the history's picture.
    faults: Rc<RefCell<FaultLog>>,
    /// Test-specific fields for the summary line.
    extra: RefCell<Vec<(String, String)>>,
}

/// Run a KV lab test over the seeds from the environment, with a fresh cluster of `servers` per
/// seed (on a `net` network; snapshots at `maxraftstate` bytes of Raft state, `None`: never),
/// and print its summary line.
pub fn kv_test<F, Fut>(id: TestId, servers: usize, net: Net, maxraftstate: Option<usize>, body: F)
where
    F: Fn(Rc<KvCluster>) -> Fut,
    Fut: Future<Output = ()>,
{
    run_test(TestSpec::new(id.lab, id.test), |sim| {
        let cluster = KvCluster::new(&sim, id, servers, net, maxraftstate);
        let fut = body(cluster.clone());
        async move {
            fut.await;
            cluster.summary_fields()
        }
    });
}

impl KvCluster {
    /// `n` servers, all started and connected (no long delays, as in the course's KV tests).
    pub fn new(
        sim: &Sim,
        id: TestId,
        n: usize,
        net: Net,
        maxraftstate: Option<usize>,
    ) -> Rc<KvCluster> {
        let cluster = Rc::new(KvCluster {
            sim: sim.clone(),
            net: Network::new(sim),
            lab: id.lab,
            test: id.test,
            n: Cell::new(n),
            removed: RefCell::default(),
            maxraftstate,
            nodes: RefCell::new(vec![None; n]),
            persisters: RefCell::new((0..n).map(|_| Persister::new()).collect()),
            ends: RefCell::new(vec![BTreeMap::new(); n]),
            incarnation: Cell::new(0),
            next_client: Cell::new(n as ClientId + 1000),
            ops: Cell::new(0),
            history: RefCell::default(),
            faults: Rc::default(),
            extra: RefCell::default(),
        });
        for i in 0..n {
            cluster.start_server(i);
        }
        cluster.connect_all();
        cluster.net.set_reliable(net == Net::Reliable);
        cluster
    }

    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// How many servers the cluster has (running or crashed, not removed).
    pub fn servers(&self) -> usize {
        self.n.get() - self.removed.borrow().len()
    }

    /// The ids of the cluster's servers (running or crashed, not removed), in increasing order:
    /// `[0, 1, ..., n-1]` until servers are added or removed.
    pub fn all(&self) -> Vec<usize> {
        let removed = self.removed.borrow();
        (0..self.n.get()).filter(|i| !removed.contains(i)).collect()
    }

    /// Virtual time since the start of the run.
    pub fn now(&self) -> Duration {
        self.sim.now()
    }

    pub async fn sleep(&self, d: Duration) {
        self.sim.sleep(d).await;
    }

    /// A random number from the run's RNG.
    pub fn rand(&self, range: std::ops::Range<u64>) -> u64 {
        self.sim.random_range(range)
    }

    /// Add `key=value` to the summary line.
    pub fn note(&self, key: &str, value: String) {
        self.extra.borrow_mut().push((key.to_string(), value));
    }

    fn server_name(i: usize) -> String {
        crate::server_name(i)
    }

    // ----- Servers: start, shut down, connect. -----

    /// Crash server `i`: cut it off, delete its labrpc server (calls to it fail), keep a copy of
    /// its persisted state that its dead incarnation can no longer write to.
    pub fn shutdown_server(&self, i: usize) {
        self.disconnect(i, &self.all());
        self.net.delete_server(&Self::server_name(i));
        {
            let mut persisters = self.persisters.borrow_mut();
            persisters[i] = persisters[i].copy();
        }
        if let Some(node) = self.nodes.borrow_mut()[i].take() {
            node.kill();
            self.faults.borrow_mut().push(self.now(), Fault::Crash(i));
        }
    }

    /// Start (or restart) server `i` from its persisted state. Its links stay cut until a
    /// `connect`, as in the course.
    pub fn start_server(&self, i: usize) {
        if self.nodes.borrow()[i].is_some() {
            self.shutdown_server(i);
        }
        // Fresh end names, so the old incarnation's ends cannot reach anyone.
        self.incarnation.set(self.incarnation.get() + 1);
        let (names, ends) =
            crate::fresh_ends(&self.net, "kv", i, self.all(), self.incarnation.get());
        self.ends.borrow_mut()[i] = names;
        let persister = self.persisters.borrow()[i].clone();
        let peers: Vec<PeerId> = self.all();
        let (node, server) =
            match KvNode::start(&self.sim, i, &peers, ends, persister, self.maxraftstate) {
                Ok(started) => started,
                Err(e) => fail(format!("expected server {i} to restart; it failed: {e}")),
            };
        self.faults.borrow_mut().push(self.now(), Fault::Start(i));
        let (faults, sim) = (self.faults.clone(), self.sim.clone());
        node.watch_leadership(move |term, leader| {
            let fault = Fault::Leader { i, term, leader };
            faults.borrow_mut().push(sim.now(), fault);
        });
        self.nodes.borrow_mut()[i] = Some(node);
        self.net.add_server(&Self::server_name(i), server);
    }

    /// Enable the links between server `i` and each server in `to`, both ways.
    pub fn connect(&self, i: usize, to: &[usize]) {
        self.set_links(i, to, true);
    }

    /// Cut the links between server `i` and each server in `from`, both ways.
    pub fn disconnect(&self, i: usize, from: &[usize]) {
        self.set_links(i, from, false);
    }

    fn set_links(&self, i: usize, others: &[usize], on: bool) {
        let ends = self.ends.borrow();
        for &j in others {
            if let Some(name) = ends[i].get(&j) {
                self.net.enable(name, on);
            }
            if let Some(name) = ends[j].get(&i) {
                self.net.enable(name, on);
            }
        }
    }

    /// Add a server to the cluster: a new id (never used before), empty persisted state, started
    /// and connected to every server, and an end to it for every running server. Its Raft boots
    /// knowing every server's id; the others learn of it only through their protocol (nothing
    /// here changes their configuration). Clerks made before it do not know it.
    pub fn add_server(&self) -> PeerId {
        let id = self.n.get();
        self.n.set(id + 1);
        self.persisters.borrow_mut().push(Persister::new());
        self.ends.borrow_mut().push(BTreeMap::new());
        self.nodes.borrow_mut().push(None);
        for i in self.all().into_iter().filter(|&i| i != id) {
            let (names, ends) = crate::fresh_ends(&self.net, "kv", i, [id], self.incarnation.get());
            self.ends.borrow_mut()[i].extend(names);
            if let Some(node) = &self.nodes.borrow()[i] {
                for (peer, end) in ends {
                    node.add_peer(peer, end);
                }
            }
        }
        self.start_server(id);
        self.connect(id, &self.all());
        id
    }

    /// Take server `i` out of the cluster for good: crash it, and take every other server's end
    /// to it away. Its id is not reused.
    pub fn remove_server(&self, i: PeerId) {
        self.shutdown_server(i);
        self.removed.borrow_mut().insert(i);
        for node in self.nodes.borrow().iter().flatten() {
            node.remove_peer(i);
        }
        for ends in self.ends.borrow_mut().iter_mut() {
            ends.remove(&i);
        }
    }

    pub fn connect_all(&self) {
        (self.sim.recorder()).action(None, "connect all servers");
        self.faults.borrow_mut().push(self.now(), Fault::Heal);
        for i in self.all() {
            self.connect(i, &self.all());
        }
    }

    /// Two groups that hear only each other. Clerks keep their links.
    pub fn partition(&self, p1: &[usize], p2: &[usize]) {
        (self.sim.recorder()).action(None, format!("partition {p1:?} | {p2:?}"));
        let text = format!("partition {p1:?} | {p2:?}");
        self.faults
            .borrow_mut()
            .push(self.now(), Fault::Partition(text));
        for &i in p1 {
            self.disconnect(i, p2);
            self.connect(i, p1);
        }
        for &i in p2 {
            self.disconnect(i, p1);
            self.connect(i, p2);
        }
    }

    /// A server that believes it leads, if any (the first one, as in the course).
    pub fn leader(&self) -> Option<usize> {
        let nodes = self.nodes.borrow();
        self.all()
            .into_iter()
            .find(|&i| nodes[i].as_ref().is_some_and(|node| node.state().1))
    }

    /// The course's standard partition: a majority `p1` without the leader, and a minority `p2`
    /// that holds it.
    pub fn make_partition(&self) -> (Vec<usize>, Vec<usize>) {
        let leader = self.leader().unwrap_or(0);
        let others: Vec<usize> = self.all().into_iter().filter(|&i| i != leader).collect();
        let (p1, rest) = others.split_at(self.servers() / 2 + 1);
        let mut p2 = rest.to_vec();
        p2.push(leader);
        (p1.to_vec(), p2)
    }

    /// Server `i`'s Raft log as `(snapshot_index, last_index)`, if it is running.
    pub fn log_bounds(&self, i: usize) -> Option<(u64, u64)> {
        let nodes = self.nodes.borrow();
        let node = nodes[i].as_ref()?;
        Some(node.inspect(|kv| {
            let view = kv.raft().observe();
            let last = view.snapshot_index + view.entries.len() as u64;
            (view.snapshot_index, last)
        }))
    }

    /// The largest persisted Raft state of any server.
    pub fn log_size(&self) -> usize {
        let persisters = self.persisters.borrow();
        self.all()
            .into_iter()
            .map(|i| persisters[i].raft_state_size())
            .max()
            .unwrap_or(0)
    }

    /// The largest snapshot of any server.
    pub fn snapshot_size(&self) -> usize {
        let persisters = self.persisters.borrow();
        self.all()
            .into_iter()
            .map(|i| persisters[i].snapshot_size())
            .max()
            .unwrap_or(0)
    }

    /// Check that the persisted Raft state is at most 8 x maxraftstate (snapshots trim the log),
    /// or that no server took a snapshot when snapshots are off.
    pub fn check_sizes(&self) {
        match self.maxraftstate {
            Some(max) => {
                let size = self.log_size();
                if size > 8 * max {
                    fail(format!(
                        "expected the logs to be trimmed to at most 8 x maxraftstate = {} bytes \
                         of Raft state; a server has {size}",
                        8 * max
                    ));
                }
            }
            None => {
                let size = self.snapshot_size();
                if size > 0 {
                    fail(format!(
                        "expected no snapshots when maxraftstate is off; a server saved one of {size} bytes"
                    ));
                }
            }
        }
    }

    // ----- Clerks. -----

    /// A new clerk with ends to every server, enabled to the servers in `to`. The clerk sees the
    /// servers in a random order, so it cannot assume its server `i` is Raft peer `i`.
    pub fn make_client(&self, to: &[usize]) -> Rc<Client> {
        let id = self.next_client.get();
        self.next_client.set(id + 1);
        let by_server: Vec<(PeerId, String)> = self
            .all()
            .into_iter()
            .map(|j| (j, format!("client{id}-{j}")))
            .collect();
        let mut ends: Vec<ClientEnd> = by_server
            .iter()
            .map(|(j, name)| {
                let end = self.net.make_end(name.clone());
                self.net.connect(name, &Self::server_name(*j));
                self.net
                    .label_end(name, &format!("c{id}"), &format!("s{j}"));
                end
            })
            .collect();
        for k in (1..ends.len()).rev() {
            let other = self.sim.random_range(0..=k);
            ends.swap(k, other);
        }
        let client = Rc::new(Client {
            id,
            clerk: RefCell::new(Clerk::new(by_server.len(), id)),
            ends,
            by_server,
        });
        self.connect_client(&client, to);
        client
    }

    /// Let `client` reach exactly the servers in `to`.
    pub fn connect_client(&self, client: &Client, to: &[usize]) {
        for (j, name) in &client.by_server {
            self.net.enable(name, to.contains(j));
        }
    }

    /// Run `op` with `client`'s clerk. With `log = Some(label)`, record it in the history
    /// (labelled as that test client) with its virtual call and return times.
    pub async fn op(&self, client: &Client, op: Op, log: Option<u64>) -> String {
        let call = self.now().as_nanos() as u64;
        let lane = self.sim.recorder().lane(&format!("c{}", client.id));
        (self.sim.recorder()).client(lane, false, describe_op(&op));
        let value = run_op(&self.sim, &client.clerk, &client.ends, op.clone()).await;
        (self.sim.recorder()).client(lane, true, abbreviate(&value));
        let ret = self.now().as_nanos() as u64;
        self.ops.set(self.ops.get() + 1);
        if let Some(label) = log {
            let operation = match op {
                Op::Get { key } => Operation::get(label, &key, call, ret, &value),
                Op::Put { key, value } => Operation::put(label, &key, &value, call, ret),
                Op::Append { key, value } => Operation::append(label, &key, &value, call, ret),
            };
            self.history.borrow_mut().push(operation);
        }
        value
    }

    pub async fn get(&self, client: &Client, key: &str, log: Option<u64>) -> String {
        let key = key.to_string();
        self.op(client, Op::Get { key }, log).await
    }

    pub async fn put(&self, client: &Client, key: &str, value: &str, log: Option<u64>) {
        let (key, value) = (key.to_string(), value.to_string());
        self.op(client, Op::Put { key, value }, log).await;
    }

    pub async fn append(&self, client: &Client, key: &str, value: &str, log: Option<u64>) {
        let (key, value) = (key.to_string(), value.to_string());
        self.op(client, Op::Append { key, value }, log).await;
    }

    /// Run `op` with `client`'s clerk (not recorded in the history), but lose the reply that would
    /// complete it on its way back, after the server has handled the request, as an unreliable
    /// network may; run `meanwhile` before the clerk notices that no reply came, then let the clerk
    /// go on as after any lost reply until it is done. A deterministic retry of an operation the
    /// servers have already executed.
    pub async fn op_losing_reply(
        &self,
        client: &Client,
        op: Op,
        meanwhile: impl Future<Output = ()>,
    ) -> String {
        let mut meanwhile = Some(meanwhile);
        let mut step = client.clerk.borrow_mut().begin(op);
        loop {
            step = match step {
                ClerkStep::Done(value) => return value,
                ClerkStep::Wait(duration) => {
                    self.sleep(duration).await;
                    client.clerk.borrow_mut().on_wake()
                }
                ClerkStep::Send {
                    server,
                    request,
                    timeout,
                } => {
                    let reply = match client.ends.get(server) {
                        Some(end) => call_with_timeout(end, request, timeout).await,
                        None => fail(format!(
                            "client {} sent to server {server} of {}",
                            client.id,
                            client.ends.len()
                        )),
                    };
                    match reply {
                        Some(reply) => {
                            // Would this reply finish the operation? Then it is the one to lose.
                            let finishes = matches!(
                                client.clerk.borrow().clone().on_reply(reply.clone()),
                                ClerkStep::Done(_)
                            );
                            match meanwhile.take_if(|_| finishes) {
                                Some(meanwhile) => {
                                    meanwhile.await;
                                    client.clerk.borrow_mut().on_failure()
                                }
                                None => client.clerk.borrow_mut().on_reply(reply),
                            }
                        }
                        None => client.clerk.borrow_mut().on_failure(),
                    }
                }
            };
        }
    }

    /// Check that a Get of `key` by `client` returns `expected`.
    pub async fn check(&self, client: &Client, key: &str, expected: &str) {
        let got = self.get(client, key, None).await;
        if got != expected {
            fail(format!(
                "expected Get({key:?}) to return {}; {}",
                abbreviate(expected),
                difference(expected, &got)
            ));
        }
    }

    // ----- The history. -----

    /// Add `operation` to the recorded history as if a client had run it. The tests of the
    /// linearizability check and of its picture use it to make a real run's history one that is
    /// not linearizable.
    pub fn record_operation(&self, operation: Operation) {
        self.history.borrow_mut().push(operation);
    }

    /// Check that the recorded history is linearizable. If it is not, write its picture (and the
    /// history as JSON, for `checker linearizability FILE`) and fail with their paths. A search
    /// that runs out of time passes, as in the course.
    pub fn check_linearizable(&self) {
        // An empty history is linearizable, and so is one where nothing returned: a service that
        // never answers would pass. A test that checks linearizability has clients that finish
        // operations, so such a history means the test saw nothing to check.
        let recorded = self.history.borrow().len();
        let completed = self
            .history
            .borrow()
            .iter()
            .filter(|op| !op.is_pending())
            .count();
        if completed == 0 {
            fail(format!(
                "expected completed operations in the recorded history to check for \
                 linearizability; {recorded} were recorded and none of them completed"
            ));
        }
        let history = History::new(self.history.borrow().clone());
        let options = CheckOptions::default().timeout(LINEARIZABILITY_CHECK_TIMEOUT);
        let report = match check_history(&history, &options) {
            Ok(report) => report,
            Err(e) => fail(format!("expected a valid recorded history; {e}")),
        };
        match report.verdict {
            Verdict::Ok => {}
            Verdict::Unknown => {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stdout().lock(),
                    "  info: {} {} seed={}: the linearizability check of {} operations timed out \
                     after {LINEARIZABILITY_CHECK_TIMEOUT:?}; assuming the history is linearizable",
                    self.lab,
                    self.test,
                    self.sim.seed(),
                    history.operations.len()
                );
            }
            Verdict::Illegal => {
                let stuck: Vec<String> = report
                    .info
                    .partitions
                    .iter()
                    .filter(|p| p.status == PartitionStatus::Illegal)
                    .flat_map(|p| p.stuck.iter().map(|s| abbreviate_reason(&s.reason)))
                    .take(3)
                    .collect();
                let picture = self.write_history(&history, &report.info);
                fail(format!(
                    "expected a linearizable history; the {} operations recorded are NOT \
                     linearizable (e.g. {}). {picture}",
                    history.operations.len(),
                    stuck.join("; ")
                ))
            }
        }
    }

    /// Write the picture and the JSON of a bad history; say where they are.
    fn write_history(
        &self,
        history: &History,
        info: &linearizability::LinearizationInfo,
    ) -> String {
        let dir = history_dir();
        let name = format!("{}-{}-seed{}", self.lab, self.test, self.sim.seed());
        let html = dir.join(format!("{name}.html"));
        let json = dir.join(format!("{name}.json"));
        let options = PictureOptions {
            annotations: self.faults.borrow().annotations(self.now()),
            nanoseconds: true,
        };
        let written = std::fs::create_dir_all(&dir)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                write_html_annotated(history, info, &options, &html).map_err(|e| e.to_string())
            })
            .and_then(|()| history.write_json(&json).map_err(|e| e.to_string()));
        match written {
            Ok(()) => format!("Picture: {} (history: {})", html.display(), json.display()),
            Err(e) => format!("(could not write the picture to {}: {e})", dir.display()),
        }
    }

    fn summary_fields(&self) -> Vec<(String, String)> {
        let mut fields = vec![
            ("peers".to_string(), self.servers().to_string()),
            ("rpcs".to_string(), self.net.total_count().to_string()),
            ("bytes".to_string(), self.net.total_bytes().to_string()),
            ("ops".to_string(), self.ops.get().to_string()),
        ];
        fields.extend(self.extra.borrow().iter().cloned());
        fields
    }
}

/// Something that happened to the servers, for the history's picture.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Fault {
    /// The servers were split in two groups (the text says which).
    Partition(String),
    /// Every server can reach every other again.
    Heal,
    Crash(PeerId),
    Start(PeerId),
    /// Server `i`'s term or leadership changed.
    Leader {
        i: PeerId,
        term: u64,
        leader: bool,
    },
}

/// The faults of a run, in order, with their virtual times; at most [`FaultLog::CAPACITY`].
#[derive(Default)]
struct FaultLog {
    events: Vec<(Duration, Fault)>,
}

impl FaultLog {
    const CAPACITY: usize = 100_000;

    fn push(&mut self, t: Duration, fault: Fault) {
        if self.events.len() < Self::CAPACITY {
            self.events.push((t, fault));
        }
    }

    /// The faults as the picture draws them (times in nanoseconds, as the history's): the
    /// partitions on a `network` row, each server's crashes and leaderships on its own row; what
    /// is still going on at `end` ends there.
    fn annotations(&self, end: Duration) -> Vec<Annotation> {
        let ns = |t: Duration| t.as_nanos() as u64;
        let mut network = Vec::new();
        let mut servers: BTreeMap<PeerId, Vec<Annotation>> = BTreeMap::new();
        let mut partition: Option<(Duration, &str)> = None;
        let mut down: BTreeMap<PeerId, Duration> = BTreeMap::new();
        let mut leading: BTreeMap<PeerId, (Duration, u64)> = BTreeMap::new();
        let span =
            |row: String, from: Duration, to: Duration, kind, label: String, detail| Annotation {
                row,
                start: ns(from),
                end: ns(to),
                kind,
                label,
                detail,
            };
        let lead_ends = |servers: &mut BTreeMap<PeerId, Vec<Annotation>>, i, from, term, to| {
            servers.entry(i).or_default().push(span(
                format!("s{i}"),
                from,
                to,
                AnnotationKind::Leader,
                format!("leader T{term}"),
                format!("led term {term}"),
            ));
        };
        for (t, fault) in &self.events {
            let t = *t;
            match fault {
                Fault::Partition(_) | Fault::Heal => {
                    if let Some((from, text)) = partition.take() {
                        network.push(span(
                            "network".into(),
                            from,
                            t,
                            AnnotationKind::Partition,
                            text.to_string(),
                            format!("{text} (no link between the groups; clerks keep theirs)"),
                        ));
                    }
                    if let Fault::Partition(text) = fault {
                        partition = Some((t, text));
                    }
                }
                Fault::Crash(i) => {
                    down.insert(*i, t);
                    if let Some((from, term)) = leading.remove(i) {
                        lead_ends(&mut servers, *i, from, term, t);
                    }
                }
                Fault::Start(i) => {
                    if let Some(from) = down.remove(i) {
                        servers.entry(*i).or_default().push(span(
                            format!("s{i}"),
                            from,
                            t,
                            AnnotationKind::Crash,
                            "down".into(),
                            "crashed, then restarted from its persisted state".into(),
                        ));
                    }
                }
                Fault::Leader { i, term, leader } => {
                    if let Some((from, was)) = leading.get(i).copied()
                        && (!leader || was != *term)
                    {
                        leading.remove(i);
                        lead_ends(&mut servers, *i, from, was, t);
                    }
                    if *leader && !leading.contains_key(i) {
                        leading.insert(*i, (t, *term));
                    }
                }
            }
        }
        if let Some((from, text)) = partition {
            network.push(span(
                "network".into(),
                from,
                end,
                AnnotationKind::Partition,
                text.to_string(),
                format!("{text} (still in place at the end)"),
            ));
        }
        for (i, from) in down {
            servers.entry(i).or_default().push(span(
                format!("s{i}"),
                from,
                end,
                AnnotationKind::Crash,
                "down".into(),
                "crashed (still down at the end)".into(),
            ));
        }
        for (i, (from, term)) in leading {
            lead_ends(&mut servers, i, from, term, end);
        }
        network.extend(servers.into_values().flatten());
        network
    }
}

/// Where pictures of bad histories go: `target/<profile>/lab-histories/` beside the test binary
/// (which lives in `target/<profile>/deps/`), else the system's temporary directory.
fn history_dir() -> PathBuf {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("lab-histories")));
    beside_exe.unwrap_or_else(|| std::env::temp_dir().join("raftlab-histories"))
}

/// A checker's reason, cut to a readable length (the picture has it all).
fn abbreviate_reason(reason: &str) -> String {
    const MAX: usize = 200;
    match reason.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &reason[..cut]),
        None => reason.to_string(),
    }
}

/// An operation as the run's picture and the `lab` log show it.
fn describe_op(op: &Op) -> String {
    match op {
        Op::Get { key } => format!("Get({key:?})"),
        Op::Put { key, value } => format!("Put({key:?}, {})", abbreviate(value)),
        Op::Append { key, value } => format!("Append({key:?}, {})", abbreviate(value)),
    }
}

/// A long value as a person can read it in a failure message.
pub fn abbreviate(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(MAX / 2).collect();
    let tail: String = {
        let chars: Vec<char> = s.chars().collect();
        chars[chars.len().saturating_sub(MAX / 2)..]
            .iter()
            .collect()
    };
    format!("{head:?}...{tail:?} ({} bytes)", s.len())
}

/// What a value that should have been `expected` looks like where it first differs.
pub fn difference(expected: &str, got: &str) -> String {
    let (e, g): (Vec<char>, Vec<char>) = (expected.chars().collect(), got.chars().collect());
    let at = (e.iter().zip(&g))
        .position(|(a, b)| a != b)
        .unwrap_or(e.len().min(g.len()));
    let from = at.saturating_sub(24);
    let window = |v: &[char]| {
        let part: String = v[from.min(v.len())..v.len().min(at + 24)].iter().collect();
        format!("{}{part:?}", if from > 0 { "..." } else { "" })
    };
    format!(
        "got {} characters instead of {}, first differing at character {at}: {} where {} was expected",
        g.len(),
        e.len(),
        window(&g),
        window(&e)
    )
}

// ----- The course's checks and stories. -----

/// The value of a test append: client `client`'s `j`-th.
pub fn append_value(client: u64, j: u64) -> String {
    format!("x {client} {j} y")
}

/// Check that `value` holds appends `0..count` of each `(client, count)` exactly once each, in
/// order per client (the course's checkClntAppends / checkConcurrentAppends).
pub fn check_appends(value: &str, counts: &[(u64, u64)]) {
    // Where each element "x C J y" sits in the value (by element position).
    let mut positions: BTreeMap<(u64, u64), Vec<usize>> = BTreeMap::new();
    for (pos, piece) in value.split_inclusive(" y").enumerate() {
        let mut words = piece.split(' ');
        if let (Some("x"), Some(c), Some(j), Some("y"), None) = (
            words.next(),
            words.next(),
            words.next(),
            words.next(),
            words.next(),
        ) && let (Ok(c), Ok(j)) = (c.parse(), j.parse())
        {
            positions.entry((c, j)).or_default().push(pos);
        }
    }
    for &(client, count) in counts {
        let mut last = None;
        for j in 0..count {
            let wanted = append_value(client, j);
            match positions.get(&(client, j)).map(Vec::as_slice) {
                None | Some([]) => fail(format!(
                    "expected client {client}'s append {wanted:?} in the value; it is missing \
                     from {}",
                    abbreviate(value)
                )),
                Some([pos]) => {
                    if last.is_some_and(|last| *pos <= last) {
                        fail(format!(
                            "expected client {client}'s appends in order; {wanted:?} comes before \
                             the one it follows, in {}",
                            abbreviate(value)
                        ));
                    }
                    last = Some(*pos);
                }
                Some(many) => fail(format!(
                    "expected client {client}'s append {wanted:?} once in the value; it is there \
                     {} times (a retried append applied twice?), in {}",
                    many.len(),
                    abbreviate(value)
                )),
            }
        }
    }
}

/// The shape of one of the course's generic tests (GenericTest).
#[derive(Clone, Copy, Debug)]
pub struct Generic {
    pub clients: usize,
    pub servers: usize,
    /// Lose and delay RPCs.
    pub unreliable: bool,
    /// Crash and restart every server after each round.
    pub crash: bool,
    /// Repartition the servers every 1.0-1.2 s during each round.
    pub partitions: bool,
    /// Snapshot at this much Raft state; `None`: never, and check that no snapshot is taken.
    pub maxraftstate: Option<usize>,
    /// Clients use random keys (and Puts); then only linearizability is checked.
    pub random_keys: bool,
}

impl Generic {
    /// `clients` clients, `servers` servers, everything else off.
    pub fn new(clients: usize, servers: usize) -> Generic {
        Generic {
            clients,
            servers,
            unreliable: false,
            crash: false,
            partitions: false,
            maxraftstate: None,
            random_keys: false,
        }
    }
    pub fn unreliable(self) -> Self {
        Generic {
            unreliable: true,
            ..self
        }
    }
    pub fn crash(self) -> Self {
        Generic {
            crash: true,
            ..self
        }
    }
    pub fn partitions(self) -> Self {
        Generic {
            partitions: true,
            ..self
        }
    }
    pub fn snapshots(self, maxraftstate: usize) -> Self {
        Generic {
            maxraftstate: Some(maxraftstate),
            ..self
        }
    }
    pub fn random_keys(self) -> Self {
        Generic {
            random_keys: true,
            ..self
        }
    }
}

/// The course's GenericTest: 3 rounds of 5 s in which clients append to and read their own key
/// (or random keys), with the network unreliable, partitioned, and all servers crashed between
/// rounds, as `g` says. After each round every client's appends must be in its key once and in
/// order, and the Raft state small enough; at the end the history must be linearizable.
pub fn generic_test(id: TestId, g: Generic) {
    kv_test(
        id,
        g.servers,
        if g.unreliable {
            Net::Unreliable
        } else {
            Net::Reliable
        },
        g.maxraftstate,
        move |cfg| async move {
            let ck = cfg.make_client(&cfg.all());
            let done_clients = Rc::new(Cell::new(false));
            let done_partitioner = Rc::new(Cell::new(false));
            for _round in 0..3 {
                done_clients.set(false);
                done_partitioner.set(false);
                let counts: Vec<Rc<Cell<u64>>> = (0..g.clients).map(|_| Rc::default()).collect();
                let clients: Vec<_> = (0..g.clients as u64)
                    .map(|cli| {
                        let run = client_loop(
                            cfg.clone(),
                            cli,
                            g,
                            done_clients.clone(),
                            counts[cli as usize].clone(),
                        );
                        cfg.sim().spawn(run)
                    })
                    .collect();
                let partitioner = if g.partitions {
                    // Let the clients make some progress first.
                    cfg.sleep(Duration::from_secs(1)).await;
                    Some(
                        cfg.sim()
                            .spawn(partitioner(cfg.clone(), done_partitioner.clone())),
                    )
                } else {
                    None
                };
                cfg.sleep(Duration::from_secs(5)).await;
                done_clients.set(true);
                done_partitioner.set(true);

                if let Some(partitioner) = partitioner {
                    let _ = partitioner.await;
                    // A client may wait on a leader stranded in a minority: it learns of the new
                    // term once the network heals.
                    cfg.connect_all();
                    cfg.sleep(ELECTION_TIMEOUT).await;
                }
                if g.crash {
                    for i in 0..g.servers {
                        cfg.shutdown_server(i);
                    }
                    cfg.sleep(ELECTION_TIMEOUT).await;
                    for i in 0..g.servers {
                        cfg.start_server(i);
                    }
                    cfg.connect_all();
                }

                for (cli, client) in clients.into_iter().enumerate() {
                    let _ = client.await;
                    let value = cfg.get(&ck, &cli.to_string(), Some(0)).await;
                    if !g.random_keys {
                        check_appends(&value, &[(cli as u64, counts[cli].get())]);
                    }
                }
                // After the servers have processed every request and had time to snapshot.
                cfg.check_sizes();
            }
            cfg.check_linearizable();
        },
    );
}

/// One client of a generic test round: appends, gets (and with random keys puts) until `done`;
/// leaves the number of its appends and puts in `count`.
async fn client_loop(
    cfg: Rc<KvCluster>,
    cli: u64,
    g: Generic,
    done: Rc<Cell<bool>>,
    count: Rc<Cell<u64>>,
) {
    let ck = cfg.make_client(&cfg.all());
    let mut j = 0;
    let mut last = String::new(); // what our key must hold (without random keys)
    if !g.random_keys {
        cfg.put(&ck, &cli.to_string(), &last, Some(cli)).await;
    }
    while !done.get() {
        let key = if g.random_keys {
            cfg.rand(0..g.clients as u64).to_string()
        } else {
            cli.to_string()
        };
        let value = append_value(cli, j);
        if cfg.rand(0..1000) < 500 {
            cfg.append(&ck, &key, &value, Some(cli)).await;
            if !g.random_keys {
                last.push_str(&value);
            }
            j += 1;
        } else if g.random_keys && cfg.rand(0..1000) < 100 {
            // Only with random keys: a put would break the value check below.
            cfg.put(&ck, &key, &value, Some(cli)).await;
            j += 1;
        } else {
            let got = cfg.get(&ck, &key, Some(cli)).await;
            if !g.random_keys && got != last {
                fail(format!(
                    "expected client {cli}'s Get({key:?}) to return what it appended, {}; {}",
                    abbreviate(&last),
                    difference(&last, &got)
                ));
            }
        }
    }
    count.set(j);
}

/// Repartition the servers at random every 1.0-1.2 s until `done`.
async fn partitioner(cfg: Rc<KvCluster>, done: Rc<Cell<bool>>) {
    while !done.get() {
        let side: Vec<u64> = (0..cfg.servers()).map(|_| cfg.rand(0..2)).collect();
        let group = |s| -> Vec<usize> { (0..cfg.servers()).filter(|&i| side[i] == s).collect() };
        cfg.partition(&group(0), &group(1));
        let ms = cfg.rand(0..200);
        cfg.sleep(ELECTION_TIMEOUT + Duration::from_millis(ms))
            .await;
    }
}

/// The course's GenericTestSpeed: 1000 appends by one clerk, each well within a heartbeat.
pub fn speed_test(id: TestId, maxraftstate: Option<usize>) {
    const OPS: u64 = 1000;
    kv_test(id, 3, Net::Reliable, maxraftstate, |cfg| async move {
        let ck = cfg.make_client(&cfg.all());
        // The first operation completes once a leader is elected and the servers are ready.
        cfg.get(&ck, "x", None).await;
        let start = cfg.now();
        for i in 0..OPS {
            cfg.append(&ck, "x", &append_value(0, i), None).await;
        }
        let elapsed = cfg.now() - start;
        let value = cfg.get(&ck, "x", None).await;
        check_appends(&value, &[(0, OPS)]);
        let per_op = elapsed / OPS as u32;
        cfg.note("ms_per_op", format!("{:.1}", per_op.as_secs_f64() * 1000.0));
        if per_op > MAX_TIME_PER_OP {
            fail(format!(
                "expected operations to complete in at most {MAX_TIME_PER_OP:?} each; \
                 {OPS} appends took {per_op:?} each"
            ));
        }
    });
}

// BEGIN INSTRUCTOR ONLY
// These tests run the reference Raft and KV service, so they are the instructor's.
#[cfg(test)]
mod tests {
    use super::*;
    use labkit::sim::{RunConfig, RunError, run};

    /// Nothing to check is not a pass: a history with no completed operation fails the check.
    #[test]
    fn an_empty_history_is_not_linearizable_by_default() {
        let result = run(RunConfig::new(1), |sim| async move {
            let id = TestId {
                lab: "lab3a",
                test: "empty",
            };
            let cluster = KvCluster::new(&sim, id, 3, Net::Reliable, None);
            cluster.check_linearizable();
        });
        match result {
            Err(RunError::Panicked { message }) => assert!(
                message.contains("0 were recorded and none of them completed"),
                "{message}"
            ),
            other => panic!("expected the check to fail; got {other:?}"),
        }
    }

    /// Membership is not fixed: a server can join (a fresh id) and leave (its id not reused),
    /// and the service goes on serving clerks made after each change.
    #[test]
    fn servers_can_be_added_and_removed() {
        let result = run(RunConfig::new(1), |sim| async move {
            let id = TestId {
                lab: "lab3a",
                test: "membership",
            };
            let cfg = KvCluster::new(&sim, id, 3, Net::Reliable, None);
            let before = cfg.make_client(&cfg.all());
            cfg.put(&before, "k", "a", None).await;
            let added = cfg.add_server();
            assert_eq!((added, cfg.servers(), cfg.all()), (3, 4, vec![0, 1, 2, 3]));
            let with_new = cfg.make_client(&cfg.all());
            cfg.append(&with_new, "k", "b", None).await;
            cfg.sleep(2 * ELECTION_TIMEOUT).await;
            cfg.remove_server(added);
            assert_eq!((cfg.servers(), cfg.all()), (3, vec![0, 1, 2]));
            assert!(cfg.leader().is_none_or(|leader| leader != added));
            let after = cfg.make_client(&cfg.all());
            cfg.check(&after, "k", "ab").await;
            assert_eq!(
                cfg.summary_fields()[0],
                ("peers".to_string(), "3".to_string())
            );
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    }
}
// END INSTRUCTOR ONLY
