//! The lab driver for Raft: runs a Raft state machine (anything implementing
//! [`raft::contract::RaftContract`]) as a server on the simulated network, alone or inside a
//! service that owns it (the KV server runs on the same driver: see [`crate::kv_driver`]).
//!
//! The driver owns everything the state machine may not touch: it turns labrpc requests into
//! `on_request` calls and replies, sends the requests a handler asks for and feeds their replies to
//! `on_reply`, keeps the timers (one per [`Timer`], durations drawn from the run's seeded RNG),
//! writes the persister, and hands what goes up (Raft's applies to the tester's channel; a KV
//! server's answers to its clerks). Effects are carried out in the contract's order: persist, then
//! reply and sends, then timers, then what goes up. Everything about the RPCs (their network
//! methods, their encoding) comes from the contract's `rpcs!` list, and the timers from its
//! `timers!` list: the driver names none of them.
//!
//! Peers are addressed by id, through ends the tester gives (and may add or remove while the node
//! runs), so nothing here assumes the cluster's membership is fixed.
//!
//! Killing a node (a crash) stops all of that at once: its timers, the replies to its in-flight
//! requests and its applies are dropped. The tester restarts a server by starting a new node from a
//! copy of the persister.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Display;
use std::rc::Rc;

use raft::Raft;
use raft::contract::{
    ApplyMsg, Command, CorruptState, Effects, Options, PeerId, Persisted, RaftContract, Reply,
    Request, Timer, TimerOp,
};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use labkit::labrpc::{ClientEnd, RpcError, Server, Service};
use labkit::persister::Persister;
use labkit::recorder::{Lane, LogTerms, Restarted, ServerState, summary};
use labkit::sim::{RunError, Sim};

/// What the driver runs as a server: a Raft, and whatever hosts it. A bare Raft ([`Bare`]) hosts
/// itself; a service (the KV server) owns one and does its own work after each of Raft's events.
/// This is the driver's adapter, not a contract: the handlers it calls are the contract's.
pub trait Host: 'static {
    type Raft: RaftContract;
    /// Everything one handler asks for: Raft's effects and the host's own.
    type Effects: Default;
    /// What leaves upwards once Raft's effects are carried out (a bare Raft: its applies).
    type Up;
    /// A reason the host cannot go on (e.g. a snapshot that does not decode): fails the run.
    type Error: Display;
    fn raft(&self) -> &Self::Raft;
    fn raft_mut(&mut self) -> &mut Self::Raft;
    /// Raft's part of the effects.
    fn raft_effects(out: &mut Self::Effects) -> &mut Effects;
    /// Raft handled an event (its effects are in `out`): the host's own work, if any.
    fn after_raft(&mut self, out: &mut Self::Effects) -> Result<(), Self::Error>;
    /// Separate Raft's effects (persist, sends, timers) from what goes up.
    fn split(effects: Self::Effects) -> (Effects, Vec<Self::Up>);
}

/// A Raft on its own (labs 2A-2D): its applies go up to the tester.
#[derive(Clone, Debug)]
pub struct Bare<R>(pub R);

impl<R: RaftContract> Host for Bare<R> {
    type Raft = R;
    type Effects = Effects;
    type Up = ApplyMsg;
    type Error = Infallible;

    fn raft(&self) -> &R {
        &self.0
    }

    fn raft_mut(&mut self) -> &mut R {
        &mut self.0
    }

    fn raft_effects(out: &mut Effects) -> &mut Effects {
        out
    }

    fn after_raft(&mut self, _: &mut Effects) -> Result<(), Infallible> {
        Ok(())
    }

    fn split(mut effects: Effects) -> (Effects, Vec<ApplyMsg>) {
        let applies = std::mem::take(&mut effects.applies);
        (effects, applies)
    }
}

/// A request on the wire: the sender's id (the contract's `from`), then the arguments.
fn encode_request(from: PeerId, request: &Request) -> Vec<u8> {
    let mut bytes = postcard::to_allocvec(&from).expect("encoding to memory cannot fail");
    bytes.extend(request.encode());
    bytes
}

fn decode_request(method: &str, bytes: &[u8]) -> Result<(PeerId, Request), RpcError> {
    let decode_error = |message: String| RpcError::Decode {
        method: method.to_string(),
        what: "request",
        message,
    };
    let (from, args) =
        postcard::take_from_bytes::<PeerId>(bytes).map_err(|e| decode_error(e.to_string()))?;
    let request = Request::decode(method, args).map_err(|e| decode_error(e.message))?;
    Ok((from, request))
}

/// One running incarnation of a server hosting a Raft. Cheap to clone.
pub struct Node<H: Host>(Rc<NodeState<H>>);

impl<H: Host> Clone for Node<H> {
    fn clone(&self) -> Self {
        Node(self.0.clone())
    }
}

/// A node running a bare Raft, for the Raft labs.
pub type RaftNode<R = Raft> = Node<Bare<R>>;

struct NodeState<H: Host> {
    me: PeerId,
    sim: Sim,
    host: RefCell<H>,
    /// This server's ends to its peers, by id.
    peers: RefCell<BTreeMap<PeerId, ClientEnd>>,
    persister: Persister,
    up: Box<dyn Fn(H::Up)>,
    alive: Cell<bool>,
    /// Per timer (in the order of `Timer::ALL`): when it fires, if armed.
    deadlines: Vec<Cell<Option<Instant>>>,
    timer_changed: Vec<Rc<Notify>>,
    timer_tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    span: tracing::Span,
    /// This server's lane in the run's recording, and what was last recorded of its state.
    lane: Lane,
    seen: Cell<Option<Seen>>,
    seen_log: RefCell<Option<Rc<LogTerms>>>,
    /// Told `(term, is_leader)` after a handler when either changed (see [`Node::watch_leadership`]).
    watcher: RefCell<Option<LeadershipWatcher>>,
    watched: Cell<Option<(u64, bool)>>,
}

/// Told a server's `(term, is_leader)` when either changes.
type LeadershipWatcher = Box<dyn Fn(u64, bool)>;

/// What the recording last said of a server: term, role, commit index, last index, snapshot index,
/// vote.
type Seen = ServerState;

/// Restart server `me` of `peers` from persisted bytes and observe it, for the step-through page
/// (the recorder calls it, catching a panic, when it draws what a server persisted).
pub fn restart_from<R: RaftContract>(
    me: usize,
    peers: &[usize],
    state: &[u8],
    snapshot: &[u8],
) -> Result<Restarted, String> {
    let saved = Persisted {
        state: state.to_vec(),
        snapshot: snapshot.to_vec(),
    };
    // Decoding what was persisted does not depend on the lab's options: the default will do.
    let raft = R::new(
        me,
        peers,
        &saved,
        Options::default(),
        &mut Effects::default(),
    )
    .map_err(|e| e.to_string())?;
    let o = raft.observe();
    Ok(Restarted {
        term: o.term,
        voted_for: o.voted_for,
        log: LogTerms::new(
            o.snapshot_index,
            o.snapshot_term,
            o.entries.iter().map(|e| e.term),
        ),
    })
}

impl<R: RaftContract> Node<Bare<R>> {
    /// Boot server `me` of the cluster `peers` (its initial configuration, `me` included) from
    /// `persister` (empty on first boot). `ends` are this server's ends to the other servers, by
    /// id. Applies go to `applies`; `options` go to Raft's `new`. Returns the node and the
    /// labrpc server to register under this server's name.
    pub fn start(
        sim: &Sim,
        me: PeerId,
        peers: &[PeerId],
        ends: BTreeMap<PeerId, ClientEnd>,
        persister: Persister,
        applies: mpsc::UnboundedSender<ApplyMsg>,
        options: Options,
    ) -> Result<(Self, Server), CorruptState> {
        let span = tracing::span!(target: labkit::logging::SERVER_SPAN_TARGET, tracing::Level::ERROR, "server", id = me);
        let recorder_sim = sim.clone();
        let lane = sim.recorder().server_lane(me);
        let up = move |msg: ApplyMsg| {
            let (index, snapshot) = match &msg {
                ApplyMsg::Command { index, .. } => (*index, false),
                ApplyMsg::Snapshot { index, .. } => (*index, true),
            };
            recorder_sim.recorder().apply(lane, index, snapshot);
            // The tester may have stopped listening (test over); that is not an error here.
            let _ = applies.send(msg);
        };
        sim.recorder()
            .set_restarter(lane, restart_from::<R>, peers.to_vec());
        Node::boot(sim, me, ends, persister, span, up, |persisted, out| {
            R::new(me, peers, persisted, options, out).map(Bare)
        })
    }

    /// `(term, is_leader)`.
    pub fn state(&self) -> (u64, bool) {
        self.0.host.borrow().0.state()
    }

    /// Submit a command; `Some((index, term))` if this server is the leader.
    pub fn start_command(&self, command: Command) -> Option<(u64, u64)> {
        let shown = show_command(&command);
        let started = self
            .handle(|host, out| Ok::<_, Infallible>(host.0.start(command, out)))
            .flatten();
        if let Some((index, term)) = started {
            let text = format!(
                "start({shown}) at s{}: index {index}, term {term}",
                self.0.me
            );
            self.0.sim.recorder().action(Some(self.0.lane), text);
        }
        started
    }

    /// Tell Raft the service has a snapshot of everything up to `index`.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        let text = format!("snapshot({index}) to s{}", self.0.me);
        self.0.sim.recorder().action(Some(self.0.lane), text);
        self.handle(|host, out| {
            host.0.snapshot(index, snapshot, out);
            Ok::<_, Infallible>(())
        });
    }
}

impl<H: Host> Node<H> {
    /// Boot server `me` with the host `init` builds from what `persister` holds, logging in
    /// `span`; what goes up is handed to `up`. Returns the node and the labrpc server (with the
    /// "Raft" service) to register under this server's name.
    pub fn boot<E>(
        sim: &Sim,
        me: PeerId,
        ends: BTreeMap<PeerId, ClientEnd>,
        persister: Persister,
        span: tracing::Span,
        up: impl Fn(H::Up) + 'static,
        init: impl FnOnce(&Persisted, &mut H::Effects) -> Result<H, E>,
    ) -> Result<(Node<H>, Server), E> {
        let persisted = Persisted {
            state: persister.read_raft_state(),
            snapshot: persister.read_snapshot(),
        };
        let mut out = H::Effects::default();
        let host = span.in_scope(|| init(&persisted, &mut out))?;
        let lane = sim.recorder().server_lane(me);
        sim.recorder().start(lane);
        for &method in Request::METHODS {
            sim.recorder().set_decoder(method, describe_request);
        }
        let node = Node(Rc::new(NodeState {
            me,
            sim: sim.clone(),
            host: RefCell::new(host),
            peers: RefCell::new(ends),
            persister,
            up: Box::new(up),
            alive: Cell::new(true),
            deadlines: Timer::ALL.iter().map(|_| Cell::new(None)).collect(),
            timer_changed: Timer::ALL.iter().map(|_| Rc::default()).collect(),
            timer_tasks: RefCell::default(),
            span,
            lane,
            seen: Cell::new(None),
            seen_log: RefCell::new(None),
            watcher: RefCell::default(),
            watched: Cell::new(None),
        }));
        let tasks = Timer::ALL
            .iter()
            .map(|&timer| node.spawn_timer(timer))
            .collect();
        *node.0.timer_tasks.borrow_mut() = tasks;
        node.execute(out);
        node.note_state();

        let mut service = Service::new("Raft");
        for &method in Request::METHODS {
            let node = node.clone();
            service = service.handle_raw_or_drop(method, move |bytes| {
                let (from, request) = decode_request(method, bytes)?;
                let Some(reply) = node.handle_request(from, request.clone()) else {
                    return Ok(None); // a dead node: the request is dropped
                };
                if !reply.answers(&request) {
                    return Ok(node.mismatched(&request, &reply));
                }
                Ok(Some(reply.encode()))
            });
        }
        let server = Server::new();
        server.add_service(service);
        Ok((node, server))
    }

    /// This server's id.
    pub fn id(&self) -> PeerId {
        self.0.me
    }

    /// Look at the host (for the tester's checks), without copying it.
    pub fn inspect<T>(&self, f: impl FnOnce(&H) -> T) -> T {
        f(&self.0.host.borrow())
    }

    /// Look at the Raft inside (for the tester's checks), without copying it.
    pub fn inspect_raft<T>(&self, f: impl FnOnce(&H::Raft) -> T) -> T {
        f(self.0.host.borrow().raft())
    }

    /// Give this server an end to server `peer` (a server added to the cluster, say), replacing
    /// any it had.
    pub fn add_peer(&self, peer: PeerId, end: ClientEnd) {
        self.0.peers.borrow_mut().insert(peer, end);
    }

    /// Take this server's end to `peer` away: what it sends there is dropped from now on.
    pub fn remove_peer(&self, peer: PeerId) {
        self.0.peers.borrow_mut().remove(&peer);
    }

    /// Run an event handler `f` on the host and carry out its effects. `None` if the node is
    /// dead (or the handler failed, which fails the run).
    pub fn handle<T>(
        &self,
        f: impl FnOnce(&mut H, &mut H::Effects) -> Result<T, H::Error>,
    ) -> Option<T> {
        if !self.0.alive.get() {
            return None;
        }
        let mut out = H::Effects::default();
        let result = self
            .0
            .span
            .in_scope(|| f(&mut self.0.host.borrow_mut(), &mut out));
        // Whatever the handler asked for before it failed still happens, like a crash after it.
        self.execute(out);
        self.note_state();
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    /// Run one of Raft's handlers, then the host's own work after it.
    fn handle_raft<T>(&self, f: impl FnOnce(&mut H::Raft, &mut Effects) -> T) -> Option<T> {
        self.handle(|host, out| {
            let value = f(host.raft_mut(), H::raft_effects(out));
            host.after_raft(out)?;
            Ok(value)
        })
    }

    /// Crash: stop timers, ignore replies and requests, deliver nothing more.
    pub fn kill(&self) {
        if self.0.alive.get() {
            self.0.sim.recorder().crash(self.0.lane);
        }
        self.0.alive.set(false);
        for task in self.0.timer_tasks.borrow_mut().drain(..) {
            task.abort();
        }
    }

    pub fn is_alive(&self) -> bool {
        self.0.alive.get()
    }

    /// The host cannot go on: stop the node and fail the run with the reason.
    fn fail(&self, error: H::Error) {
        let message = format!("server {} failed: {error}", self.0.me);
        tracing::error!(target: "raft", parent: &self.0.span, "{message}");
        self.kill();
        self.0.sim.fail(RunError::Panicked { message });
    }

    /// A reply of the wrong kind is a bug in the Raft code: say so, and send nothing back.
    fn mismatched<T>(&self, request: &Request, reply: &Reply) -> Option<T> {
        tracing::error!(target: "raft", parent: &self.0.span, ?reply, "on_request answered a {} request with the wrong kind of reply; dropped", request.kind());
        None
    }

    /// `None` when the node is dead: the request is dropped and the caller sees a failed call.
    /// The reply leaves when this returns: after the persist in `execute`.
    fn handle_request(&self, from: PeerId, request: Request) -> Option<Reply> {
        self.handle_raft(|rf, out| rf.on_request(from, request, out))
    }

    fn handle_reply(&self, from: PeerId, request: Request, reply: Reply) {
        self.handle_raft(|rf, out| rf.on_reply(from, request, reply, out));
    }

    fn fire(&self, timer: Timer) {
        if !self.0.alive.get() {
            return;
        }
        self.0.sim.record(("timer", self.0.me, timer.index()));
        self.0.sim.recorder().timer(self.0.lane, timer_name(timer));
        self.handle_raft(|rf, out| rf.on_timer(timer, out));
    }

    /// Carry out a handler's effects in the contract's order.
    fn execute(&self, out: H::Effects) {
        let (raft, up) = H::split(out);
        let Effects {
            sends,
            timers,
            persist,
            applies: _, // a service applies Raft's applies itself; `split` took a bare Raft's
        } = raft;
        if !self.0.alive.get() {
            return;
        }
        if let Some(p) = persist {
            self.0.persister.save(&p.state, p.snapshot.as_deref());
            let recorder = self.0.sim.recorder();
            if recorder.is_on() {
                let (state, snapshot) = self.0.persister.shared();
                recorder.persisted(self.0.lane, state, snapshot);
            }
        }
        for (to, request) in sends {
            self.send(to, request);
        }
        for op in timers {
            let slot = op.timer().index();
            let deadline = match op {
                TimerOp::Set { range, .. } => {
                    Some(Instant::now() + self.0.sim.random_duration(range))
                }
                TimerOp::Cancel { .. } => None,
            };
            self.0.deadlines[slot].set(deadline);
            self.0.timer_changed[slot].notify_one();
        }
        for msg in up {
            (self.0.up)(msg);
        }
    }

    fn send(&self, to: PeerId, request: Request) {
        let end = (to != self.0.me)
            .then(|| self.0.peers.borrow().get(&to).cloned())
            .flatten();
        let Some(end) = end else {
            tracing::warn!(target: "raft", parent: &self.0.span, to, "send to an invalid peer ignored");
            return;
        };
        let node = self.clone();
        let args = encode_request(self.0.me, &request);
        self.0.sim.spawn(async move {
            let method = request.method();
            let Ok(bytes) = end.call_raw(method, args).await else {
                return; // no reply came back
            };
            match Reply::decode(method, &bytes) {
                Ok(reply) => node.handle_reply(to, request, reply),
                Err(e) => node.0.sim.fail(RunError::Panicked {
                    message: format!("the network delivered a reply that does not decode: {e}"),
                }),
            }
        });
    }

    /// Call `watcher` with `(term, is_leader)` now and after every handler that changes either
    /// (the KV tester draws leaders on its history pictures with it). It only reads the state.
    pub fn watch_leadership(&self, watcher: impl Fn(u64, bool) + 'static) {
        *self.0.watcher.borrow_mut() = Some(Box::new(watcher));
        self.0.watched.set(None);
        self.note_leadership();
    }

    fn note_leadership(&self) {
        if !self.0.alive.get() {
            return;
        }
        let watcher = self.0.watcher.borrow();
        let Some(watcher) = watcher.as_ref() else {
            return;
        };
        let now = self.inspect_raft(|rf| rf.state());
        if self.0.watched.get() != Some(now) {
            self.0.watched.set(Some(now));
            watcher(now.0, now.1);
        }
    }

    /// Record the server's term, role, commit index and log if they changed since last time.
    fn note_state(&self) {
        self.note_leadership();
        if !self.0.alive.get() || !self.0.sim.recorder().is_on() {
            return;
        }
        let (seen, log) = self.inspect_raft(|rf| {
            let view = rf.observe();
            let role = match view.role {
                raft::contract::Role::Follower => 0,
                raft::contract::Role::Candidate => 1,
                raft::contract::Role::Leader => 2,
                raft::contract::Role::PreCandidate => 3,
            };
            let last = view.snapshot_index + view.entries.len() as u64;
            let terms = || view.entries.iter().map(|e| e.term);
            // The log's terms, only if they changed since this server's previous record.
            let log = match &*self.0.seen_log.borrow() {
                Some(before) if before.is(view.snapshot_index, view.snapshot_term, terms()) => None,
                _ => Some(Rc::new(LogTerms::new(
                    view.snapshot_index,
                    view.snapshot_term,
                    terms(),
                ))),
            };
            let seen = ServerState {
                term: view.term,
                role,
                commit: view.commit_index,
                last,
                snap: view.snapshot_index,
                vote: view.voted_for,
            };
            (seen, log)
        });
        if self.0.seen.get() != Some(seen) || log.is_some() {
            self.0.seen.set(Some(seen));
            if let Some(log) = &log {
                *self.0.seen_log.borrow_mut() = Some(log.clone());
            }
            (self.0.sim.recorder()).state(self.0.lane, seen, log);
        }
    }

    /// One task per timer: waits for the armed deadline; re-arming or cancelling wakes it.
    fn spawn_timer(&self, timer: Timer) -> tokio::task::JoinHandle<()> {
        // A weak reference: the task must not keep a crashed node alive.
        let node = Rc::downgrade(&self.0);
        let slot = timer.index();
        let notify = self.0.timer_changed[slot].clone();
        self.0.sim.spawn(async move {
            loop {
                let Some(state) = node.upgrade() else { return };
                let deadline = state.deadlines[slot].get();
                drop(state);
                let changed = notify.notified();
                match deadline {
                    None => changed.await,
                    Some(deadline) => {
                        tokio::select! {
                            biased;
                            _ = changed => {}
                            _ = tokio::time::sleep_until(deadline) => {
                                let Some(state) = node.upgrade() else { return };
                                if state.deadlines[slot].get() == Some(deadline) {
                                    state.deadlines[slot].set(None);
                                    Node(state).fire(timer);
                                }
                            }
                        }
                    }
                }
            }
        })
    }
}

/// A request as the run's picture describes it: who sent it, and its fields.
fn describe_request(method: &str, args: &[u8]) -> String {
    match decode_request(method, args) {
        Ok((from, request)) => format!("from {from}: {}", summary(&request)),
        Err(e) => format!("(undecodable: {e})"),
    }
}

/// A timer's name for the recording (`Election`), made once per timer kind.
fn timer_name(timer: Timer) -> &'static str {
    thread_local! {
        static NAMES: Vec<&'static str> = Timer::ALL
            .iter()
            .map(|t| &*Box::leak(format!("{t:?}").into_boxed_str()))
            .collect();
    }
    NAMES.with(|names| names.get(timer.index()).copied().unwrap_or("timer"))
}

/// A command as the recording shows it: 8 bytes as a number (the tests' integers), short text as
/// text, anything else by its size.
fn show_command(command: &[u8]) -> String {
    if let Ok(bytes) = <[u8; 8]>::try_from(command) {
        return u64::from_le_bytes(bytes).to_string();
    }
    match std::str::from_utf8(command) {
        Ok(text) if text.len() <= 24 => format!("{text:?}"),
        _ => format!("{} bytes", command.len()),
    }
}
