//! The lab driver for Raft: runs one [`raft::Raft`] state machine as a server on the simulated
//! network.
//!
//! The driver owns everything the state machine may not touch: it turns labrpc requests into
//! `on_request` calls and replies, sends the requests a handler asks for and feeds their replies to
//! `on_reply`, keeps the two timers (durations drawn from the run's seeded RNG), writes the persister,
//! and forwards applies to the tester's channel. Effects are carried out in the contract's order:
//! persist, then reply and sends, then timers, then applies.
//!
//! Killing a node (a crash) stops all of that at once: its timers, the replies to its in-flight
//! requests and its applies are dropped. The tester restarts a server by starting a new node from a
//! copy of the persister.

use std::cell::{Cell, RefCell};
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
use crate::sim::Sim;

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

/// One running incarnation of a Raft server. Cheap to clone.
#[derive(Clone)]
pub struct RaftNode(Rc<NodeState>);

struct NodeState {
    me: PeerId,
    sim: Sim,
    raft: RefCell<Raft>,
    peers: Vec<ClientEnd>,
    persister: Persister,
    applies: mpsc::UnboundedSender<ApplyMsg>,
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
        let span = tracing::span!(target: "raft", tracing::Level::ERROR, "server", id = me);
        let persisted = Persisted {
            state: persister.read_raft_state(),
            snapshot: persister.read_snapshot(),
        };
        let mut out = Effects::default();
        let raft = span.in_scope(|| Raft::new(me, peers.len(), &persisted, &mut out))?;
        let node = RaftNode(Rc::new(NodeState {
            me,
            sim: sim.clone(),
            raft: RefCell::new(raft),
            peers,
            persister,
            applies,
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

    /// `(term, is_leader)`.
    pub fn state(&self) -> (u64, bool) {
        self.0.raft.borrow().state()
    }

    /// Look at the state machine (for the tester's checks), without copying it.
    pub fn inspect<T>(&self, f: impl FnOnce(&Raft) -> T) -> T {
        f(&self.0.raft.borrow())
    }

    /// Submit a command; `Some((index, term))` if this server is the leader.
    pub fn start_command(&self, command: Command) -> Option<(u64, u64)> {
        if !self.0.alive.get() {
            return None;
        }
        let mut out = Effects::default();
        let result = self
            .0
            .span
            .in_scope(|| self.0.raft.borrow_mut().start(command, &mut out));
        self.execute(out);
        result
    }

    /// Tell Raft the service has a snapshot of everything up to `index`.
    pub fn snapshot(&self, index: u64, snapshot: Vec<u8>) {
        if !self.0.alive.get() {
            return;
        }
        let mut out = Effects::default();
        self.0
            .span
            .in_scope(|| self.0.raft.borrow_mut().snapshot(index, snapshot, &mut out));
        self.execute(out);
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

    /// A reply of the wrong kind is a bug in the Raft code: say so, and send nothing back.
    fn mismatched<T>(&self, request: &str, reply: &Reply) -> Option<T> {
        tracing::error!(target: "raft", parent: &self.0.span, ?reply, "on_request answered a {request} request with the wrong kind of reply; dropped");
        None
    }

    /// `None` when the node is dead: the request is dropped and the caller sees a failed call.
    fn handle_request(&self, from: PeerId, request: Request) -> Option<Reply> {
        if !self.0.alive.get() {
            return None;
        }
        let mut out = Effects::default();
        let reply = self
            .0
            .span
            .in_scope(|| self.0.raft.borrow_mut().on_request(from, request, &mut out));
        // The reply leaves when this returns: after the persist in `execute`.
        self.execute(out);
        Some(reply)
    }

    fn handle_reply(&self, from: PeerId, request: Request, reply: Reply) {
        if !self.0.alive.get() {
            return;
        }
        let mut out = Effects::default();
        self.0.span.in_scope(|| {
            self.0
                .raft
                .borrow_mut()
                .on_reply(from, request, reply, &mut out)
        });
        self.execute(out);
    }

    fn fire(&self, timer: Timer) {
        if !self.0.alive.get() {
            return;
        }
        self.0.sim.record(("timer", self.0.me, timer_slot(timer)));
        let mut out = Effects::default();
        self.0
            .span
            .in_scope(|| self.0.raft.borrow_mut().on_timer(timer, &mut out));
        self.execute(out);
    }

    /// Carry out a handler's effects in the contract's order.
    fn execute(&self, out: Effects) {
        let Effects {
            sends,
            timers,
            persist,
            applies,
        } = out;
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
        for msg in applies {
            // The tester may have stopped listening (test over); that is not an error here.
            let _ = self.0.applies.send(msg);
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
                                    RaftNode(state).fire(timer);
                                }
                            }
                        }
                    }
                }
            }
        })
    }
}
