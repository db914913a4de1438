//! The lab driver for Raft: runs one [`raft::Raft`] state machine as a server on the simulated
//! network; or, generally, any [`Machine`] that speaks Raft's RPCs and timers (the KV server, which
//! owns a Raft, runs on the same driver: see [`crate::kv_driver`]).
//!
//! The driver owns everything the state machine may not touch: it turns labrpc requests into
//! `on_request` calls and replies, sends the requests a handler asks for and feeds their replies to
//! `on_reply`, keeps the two timers (durations drawn from the run's seeded RNG), writes the persister,
//! and hands what goes up (Raft's applies to the tester's channel; a KV server's answers to its
//! clerks). Effects are carried out in the contract's order: persist, then reply and sends, then
//! timers, then what goes up.
//!
//! Killing a node (a crash) stops all of that at once: its timers, the replies to its in-flight
//! requests and its applies are dropped. The tester restarts a server by starting a new node from a
//! copy of the persister.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::fmt::Display;
use std::rc::Rc;

use raft::Raft;
use raft::contract::{
    ApplyMsg, Command, CorruptState, Effects, PeerId, Persisted, Reply, Request, Timer, TimerOp,
};
use raft::messages::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply,
    RequestVoteArgs, RequestVoteReply,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::labrpc::{ClientEnd, Rpc, Server, Service};
use crate::persister::Persister;
use crate::sim::{RunError, Sim};

/// A Raft request on the wire, with the sender's id (the contract's `from`).
#[derive(Serialize, Deserialize)]
pub struct Wire<A> {
    pub from: PeerId,
    pub args: A,
}

impl Rpc for Wire<RequestVoteArgs> {
    type Reply = RequestVoteReply;
    const METHOD: &'static str = "Raft.RequestVote";
}

impl Rpc for Wire<AppendEntriesArgs> {
    type Reply = AppendEntriesReply;
    const METHOD: &'static str = "Raft.AppendEntries";
}

impl Rpc for Wire<InstallSnapshotArgs> {
    type Reply = InstallSnapshotReply;
    const METHOD: &'static str = "Raft.InstallSnapshot";
}

const TIMERS: [Timer; 2] = [Timer::Election, Timer::Heartbeat];

fn timer_slot(timer: Timer) -> usize {
    match timer {
        Timer::Election => 0,
        Timer::Heartbeat => 1,
    }
}

/// A deterministic state machine the driver runs as a server: it speaks Raft's RPCs and timers.
/// A [`Raft`] itself, or a service that owns a Raft and forwards these events to it.
pub trait Machine: 'static {
    /// Everything one handler asks for: Raft's effects and the machine's own.
    type Effects: Default;
    /// What leaves upwards once Raft's effects are carried out (Raft: applies to the tester).
    type Up;
    /// A reason the machine cannot go on (e.g. a snapshot that does not decode): fails the run.
    type Error: Display;
    /// Separate Raft's effects (persist, sends, timers) from what goes up.
    fn split(effects: Self::Effects) -> (Effects, Vec<Self::Up>);
    fn on_request(
        &mut self,
        from: PeerId,
        request: Request,
        out: &mut Self::Effects,
    ) -> Result<Reply, Self::Error>;
    fn on_reply(
        &mut self,
        from: PeerId,
        request: Request,
        reply: Reply,
        out: &mut Self::Effects,
    ) -> Result<(), Self::Error>;
    fn on_timer(&mut self, timer: Timer, out: &mut Self::Effects) -> Result<(), Self::Error>;
}

impl Machine for Raft {
    type Effects = Effects;
    type Up = ApplyMsg;
    type Error = Infallible;

    fn split(mut effects: Effects) -> (Effects, Vec<ApplyMsg>) {
        let applies = std::mem::take(&mut effects.applies);
        (effects, applies)
    }

    fn on_request(
        &mut self,
        from: PeerId,
        request: Request,
        out: &mut Effects,
    ) -> Result<Reply, Infallible> {
        Ok(Raft::on_request(self, from, request, out))
    }

    fn on_reply(
        &mut self,
        from: PeerId,
        request: Request,
        reply: Reply,
        out: &mut Effects,
    ) -> Result<(), Infallible> {
        Raft::on_reply(self, from, request, reply, out);
        Ok(())
    }

    fn on_timer(&mut self, timer: Timer, out: &mut Effects) -> Result<(), Infallible> {
        Raft::on_timer(self, timer, out);
        Ok(())
    }
}

/// One running incarnation of a server running machine `M`. Cheap to clone.
pub struct Node<M: Machine>(Rc<NodeState<M>>);

impl<M: Machine> Clone for Node<M> {
    fn clone(&self) -> Self {
        Node(self.0.clone())
    }
}

/// A node running a bare Raft, for the Raft labs.
pub type RaftNode = Node<Raft>;

struct NodeState<M: Machine> {
    me: PeerId,
    sim: Sim,
    machine: RefCell<M>,
    peers: Vec<ClientEnd>,
    persister: Persister,
    up: Box<dyn Fn(M::Up)>,
    alive: Cell<bool>,
    deadlines: [Cell<Option<Instant>>; 2],
    timer_changed: [Rc<Notify>; 2],
    timer_tasks: RefCell<Vec<tokio::task::JoinHandle<()>>>,
    span: tracing::Span,
}

impl RaftNode {
    /// Boot server `me` from `persister` (empty on first boot). `peers[j]` is this server's end to
    /// server `j` (`peers[me]` is never used). Applies go to `applies`. Returns the node and the
    /// labrpc server to register under this server's name.
    pub fn start(
        sim: &Sim,
        me: PeerId,
        peers: Vec<ClientEnd>,
        persister: Persister,
        applies: mpsc::UnboundedSender<ApplyMsg>,
    ) -> Result<(RaftNode, Server), CorruptState> {
        let span = tracing::span!(target: crate::logging::SERVER_SPAN_TARGET, tracing::Level::ERROR, "server", id = me);
        let n = peers.len();
        let up = move |msg| {
            // The tester may have stopped listening (test over); that is not an error here.
            let _ = applies.send(msg);
        };
        Node::boot(sim, me, peers, persister, span, up, |persisted, out| {
            Raft::new(me, n, persisted, out)
        })
    }

    /// `(term, is_leader)`.
    pub fn state(&self) -> (u64, bool) {
        self.0.machine.borrow().state()
    }

    /// Submit a command; `Some((index, term))` if this server is the leader.
    pub fn start_command(&self, command: Command) -> Option<(u64, u64)> {
        self.handle(|rf, out| Ok::<_, Infallible>(rf.start(command, out)))
            .flatten()
    }

    /// Tell Raft the service has a snapshot of everything up to `index`.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        self.handle(|rf, out| {
            rf.snapshot(index, snapshot, out);
            Ok::<_, Infallible>(())
        });
    }
}

impl<M: Machine> Node<M> {
    /// Boot server `me` with the machine `init` builds from what `persister` holds, logging in
    /// `span`; what goes up is handed to `up`. Returns the node and the labrpc server (with the
    /// "Raft" service) to register under this server's name.
    pub fn boot<E>(
        sim: &Sim,
        me: PeerId,
        peers: Vec<ClientEnd>,
        persister: Persister,
        span: tracing::Span,
        up: impl Fn(M::Up) + 'static,
        init: impl FnOnce(&Persisted, &mut M::Effects) -> Result<M, E>,
    ) -> Result<(Node<M>, Server), E> {
        let persisted = Persisted {
            state: persister.read_raft_state(),
            snapshot: persister.read_snapshot(),
        };
        let mut out = M::Effects::default();
        let machine = span.in_scope(|| init(&persisted, &mut out))?;
        let node = Node(Rc::new(NodeState {
            me,
            sim: sim.clone(),
            machine: RefCell::new(machine),
            peers,
            persister,
            up: Box::new(up),
            alive: Cell::new(true),
            deadlines: Default::default(),
            timer_changed: Default::default(),
            timer_tasks: RefCell::default(),
            span,
        }));
        let tasks = TIMERS
            .into_iter()
            .map(|timer| node.spawn_timer(timer))
            .collect();
        *node.0.timer_tasks.borrow_mut() = tasks;
        node.execute(out);

        let server = Server::new();
        server.add_service(
            Service::new("Raft")
                .handle_or_drop({
                    let node = node.clone();
                    move |w: Wire<RequestVoteArgs>| match node
                        .handle_request(w.from, Request::RequestVote(w.args))?
                    {
                        Reply::RequestVote(r) => Some(r),
                        other => node.mismatched("RequestVote", &other),
                    }
                })
                .handle_or_drop({
                    let node = node.clone();
                    move |w: Wire<AppendEntriesArgs>| match node
                        .handle_request(w.from, Request::AppendEntries(w.args))?
                    {
                        Reply::AppendEntries(r) => Some(r),
                        other => node.mismatched("AppendEntries", &other),
                    }
                })
                .handle_or_drop({
                    let node = node.clone();
                    move |w: Wire<InstallSnapshotArgs>| match node
                        .handle_request(w.from, Request::InstallSnapshot(w.args))?
                    {
                        Reply::InstallSnapshot(r) => Some(r),
                        other => node.mismatched("InstallSnapshot", &other),
                    }
                }),
        );
        Ok((node, server))
    }

    /// This server's id.
    pub fn id(&self) -> PeerId {
        self.0.me
    }

    /// Look at the state machine (for the tester's checks), without copying it.
    pub fn inspect<T>(&self, f: impl FnOnce(&M) -> T) -> T {
        f(&self.0.machine.borrow())
    }

    /// Run an event handler `f` on the machine and carry out its effects. `None` if the node is
    /// dead (or the handler failed, which fails the run).
    pub fn handle<T>(
        &self,
        f: impl FnOnce(&mut M, &mut M::Effects) -> Result<T, M::Error>,
    ) -> Option<T> {
        if !self.0.alive.get() {
            return None;
        }
        let mut out = M::Effects::default();
        let result = self
            .0
            .span
            .in_scope(|| f(&mut self.0.machine.borrow_mut(), &mut out));
        // Whatever the handler asked for before it failed still happens, like a crash after it.
        self.execute(out);
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    /// Crash: stop timers, ignore replies and requests, deliver nothing more.
    pub fn kill(&self) {
        self.0.alive.set(false);
        for task in self.0.timer_tasks.borrow_mut().drain(..) {
            task.abort();
        }
    }

    pub fn is_alive(&self) -> bool {
        self.0.alive.get()
    }

    /// The machine cannot go on: stop the node and fail the run with the reason.
    fn fail(&self, error: M::Error) {
        let message = format!("server {} failed: {error}", self.0.me);
        tracing::error!(target: "raft", parent: &self.0.span, "{message}");
        self.kill();
        self.0.sim.fail(RunError::Panicked { message });
    }

    /// A reply of the wrong kind is a bug in the Raft code: say so, and send nothing back.
    fn mismatched<T>(&self, request: &str, reply: &Reply) -> Option<T> {
        tracing::error!(target: "raft", parent: &self.0.span, ?reply, "on_request answered a {request} request with the wrong kind of reply; dropped");
        None
    }

    /// `None` when the node is dead: the request is dropped and the caller sees a failed call.
    /// The reply leaves when this returns: after the persist in `execute`.
    fn handle_request(&self, from: PeerId, request: Request) -> Option<Reply> {
        self.handle(|m, out| m.on_request(from, request, out))
    }

    fn handle_reply(&self, from: PeerId, request: Request, reply: Reply) {
        self.handle(|m, out| m.on_reply(from, request, reply, out));
    }

    fn fire(&self, timer: Timer) {
        if !self.0.alive.get() {
            return;
        }
        self.0.sim.record(("timer", self.0.me, timer_slot(timer)));
        self.handle(|m, out| m.on_timer(timer, out));
    }

    /// Carry out a handler's effects in the contract's order.
    fn execute(&self, out: M::Effects) {
        let (raft, up) = M::split(out);
        let Effects {
            sends,
            timers,
            persist,
            applies: _, // a service applies Raft's applies itself; `split` took a Raft's
        } = raft;
        if !self.0.alive.get() {
            return;
        }
        if let Some(p) = persist {
            self.0.persister.save(&p.state, p.snapshot.as_deref());
        }
        for (to, request) in sends {
            self.send(to, request);
        }
        for op in timers {
            let slot = timer_slot(op.timer());
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
        let Some(end) = self.0.peers.get(to).filter(|_| to != self.0.me).cloned() else {
            tracing::warn!(target: "raft", parent: &self.0.span, to, "send to an invalid peer ignored");
            return;
        };
        let node = self.clone();
        let from = self.0.me;
        self.0.sim.spawn(async move {
            let reply = match &request {
                Request::RequestVote(args) => end
                    .call(&Wire {
                        from,
                        args: args.clone(),
                    })
                    .await
                    .map(Reply::RequestVote),
                Request::AppendEntries(args) => end
                    .call(&Wire {
                        from,
                        args: args.clone(),
                    })
                    .await
                    .map(Reply::AppendEntries),
                Request::InstallSnapshot(args) => end
                    .call(&Wire {
                        from,
                        args: args.clone(),
                    })
                    .await
                    .map(Reply::InstallSnapshot),
            };
            if let Ok(reply) = reply {
                node.handle_reply(to, request, reply);
            }
        });
    }

    /// One task per timer: waits for the armed deadline; re-arming or cancelling wakes it.
    fn spawn_timer(&self, timer: Timer) -> tokio::task::JoinHandle<()> {
        // A weak reference: the task must not keep a crashed node alive.
        let node = Rc::downgrade(&self.0);
        let slot = timer_slot(timer);
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
