//! The contract between a Raft implementation and the framework. **Framework code: do not edit.**
//!
//! Raft is written as a deterministic state machine. It never sleeps, reads a clock, draws a random
//! number, spawns a thread or touches a disk or socket. Instead, the framework calls one handler per
//! event and the handler describes what should happen in an [`Effects`] value:
//!
//! | event                        | handler                              | typical effects                     |
//! |------------------------------|--------------------------------------|-------------------------------------|
//! | boot or restart after crash  | [`RaftContract::new`]                | arm the election timer              |
//! | a timer fired                | [`RaftContract::on_timer`]           | start an election, send heartbeats  |
//! | an RPC request from a peer   | [`RaftContract::on_request`]         | persist, return the reply           |
//! | the reply to an RPC we sent  | [`RaftContract::on_reply`]           | become leader, advance commit, apply|
//! | the service submits a command| [`RaftContract::start`]              | append, persist, replicate          |
//! | the service took a snapshot  | [`RaftContract::snapshot`]           | trim the log, persist the snapshot  |
//!
//! The RPCs ([`Request`], [`Reply`]) and the timers ([`Timer`]) are each declared once, below: a new
//! RPC is one line in the `rpcs!` list plus its two message structs in `messages.rs`; a new timer is
//! one name in the `timers!` list. The drivers, the network's method names and the model checker's
//! messages follow from these lists.
//!
//! Two drivers run the same code: the lab driver (tokio tasks, the simulated `labrpc` network, timer
//! durations drawn from the run's seeded RNG, a persister, an apply channel to the tester) and the model
//! checker (stateright explores every order of timers, messages, losses and crashes). Because the
//! handlers are pure functions of the state and the event, any failure replays exactly from its seed.
//!
//! The driver carries out a handler's effects in a fixed order: **persist first**, then return the
//! reply (for a request) and send the new requests, then arm or cancel timers, then deliver the applies
//! in order. So a reply or a vote never leaves a server before the state that justifies it is durable.
//!
//! Servers are named by [`PeerId`]s. A server boots knowing the cluster's initial configuration (the
//! ids of its servers); nothing here assumes that the configuration stays the same for the life of a
//! run, so a later lab can change it through the log.
//!
//! # A worked example
//! (Compiled by `cargo test` but not run: it runs the student's `Raft`, which in a fresh handout is
//! still a stub.)
//! ```no_run
//! use raft::contract::{Effects, Options, Persisted, RaftContract, Timer};
//! use raft::Raft;
//!
//! // Server 0 of 3 boots with nothing persisted. It must arm its election timer.
//! let peers = [0, 1, 2];
//! let mut out = Effects::default();
//! let options = Options::default(); // labs 2A-2D: no PreVote or CheckQuorum
//! let mut rf = Raft::new(0, &peers, &Persisted::default(), options, &mut out).unwrap();
//! assert!(out.timers.iter().any(|t| t.timer() == Timer::Election));
//!
//! // The election timer fires: server 0 becomes a candidate and asks both peers for votes.
//! let mut out = Effects::default();
//! rf.on_timer(Timer::Election, &mut out);
//! assert_eq!(out.sends.len(), 2);
//! assert!(out.persist.is_some(), "term and vote must be persisted before asking for votes");
//!
//! // Peer 1 grants its vote (simulated here by running a second Raft): with 2 of 3 votes, 0 leads.
//! let mut peer_out = Effects::default();
//! let mut peer = Raft::new(1, &peers, &Persisted::default(), options, &mut peer_out).unwrap();
//! let (to, request) = out.sends[0].clone();
//! assert_eq!(to, 1);
//! let mut peer_out = Effects::default();
//! let reply = peer.on_request(0, request.clone(), &mut peer_out);
//! let mut out = Effects::default();
//! rf.on_reply(1, request, reply, &mut out);
//! assert!(rf.state().1, "server 0 is leader");
//! ```

use std::fmt::Debug;
use std::hash::Hash;
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::messages::{
    AppendEntriesArgs, AppendEntriesReply, InstallSnapshotArgs, InstallSnapshotReply,
    RequestVoteArgs, RequestVoteReply,
};

/// The index of a server in the cluster: `0..peers`.
pub type PeerId = usize;

/// A client command as Raft sees it: opaque bytes (the tester sends encoded integers and strings, the
/// KV service sends encoded operations).
pub type Command = Vec<u8>;

crate::timers! {
    /// No word from a leader for a while: start an election.
    Election,
    /// Time for a leader to send the next round of AppendEntries.
    Heartbeat,
    /// 2E: time for a leader to check that a majority answered it since the last check
    /// (CheckQuorum); a leader that cannot reach a majority steps down.
    CheckQuorum,
}

crate::rpcs! {
    service "Raft";
    /// The RPC requests: sent by [`Effects::send`], received by [`RaftContract::on_request`].
    #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum Request;
    /// The reply to a [`Request`], returned by [`RaftContract::on_request`] and passed to
    /// [`RaftContract::on_reply`]. The variant must match the request's: a mismatched pair is a
    /// bug the drivers report.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
    pub enum Reply;
    /// Votes (Figure 2).
    RequestVote(RequestVoteArgs) -> RequestVoteReply;
    /// Log replication and heartbeats (Figure 2).
    AppendEntries(AppendEntriesArgs) -> AppendEntriesReply;
    /// A leader's snapshot for a follower that lags behind its log (Figure 13).
    InstallSnapshot(InstallSnapshotArgs) -> InstallSnapshotReply;
    /// 2E: "would you vote for me?" before an election: the arguments of RequestVote with the
    /// term the sender *would* campaign in. Neither side changes its term or vote for it.
    PreVote(RequestVoteArgs) -> RequestVoteReply;
}

/// A message from Raft to the service above it (the tester or the KV server), in log order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApplyMsg {
    /// The command at `index` is committed: apply it.
    Command { index: u64, command: Command },
    /// The leader sent a snapshot covering every entry up to and including `index`: replace the
    /// service state with it. Later `Command`s continue from `index + 1`.
    Snapshot {
        index: u64,
        term: u64,
        data: Vec<u8>,
    },
}

/// What a server saved with [`Effects::persist`] before it crashed; empty on first boot.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Persisted {
    /// The bytes of the last `persist(state, ..)`.
    pub state: Vec<u8>,
    /// The last snapshot saved with `persist(.., Some(snapshot))`; empty if none.
    pub snapshot: Vec<u8>,
}

/// Asking the driver to arm or cancel a timer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TimerOp {
    /// Fire `timer` once after a duration the driver draws uniformly from `range`; replaces an armed one.
    Set {
        timer: Timer,
        range: Range<Duration>,
    },
    /// Disarm `timer` if it is armed.
    Cancel { timer: Timer },
}

impl TimerOp {
    /// The timer this operation is about.
    pub fn timer(&self) -> Timer {
        match self {
            TimerOp::Set { timer, .. } | TimerOp::Cancel { timer } => *timer,
        }
    }
}

/// An atomic write of Raft's durable state, optionally together with a new snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PersistOp {
    pub state: Vec<u8>,
    /// `None` keeps the snapshot saved before.
    pub snapshot: Option<Vec<u8>>,
}

/// Everything a handler asks the driver to do. Handlers only ever append to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// RPC requests to send, in order: `(to, request)`.
    pub sends: Vec<(PeerId, Request)>,
    /// Timer operations, in order.
    pub timers: Vec<TimerOp>,
    /// The state to save before anything else leaves this server (last write wins).
    pub persist: Option<PersistOp>,
    /// Messages for the service, in log order.
    pub applies: Vec<ApplyMsg>,
}

impl Effects {
    /// Send `request` to peer `to`. Its reply (if the network delivers one) comes back through
    /// `Raft::on_reply` together with this request.
    pub fn send(&mut self, to: PeerId, request: Request) {
        self.sends.push((to, request));
    }

    /// Arm `timer` to fire once after a random duration in `range` (replacing an armed one).
    pub fn set_timer(&mut self, timer: Timer, range: Range<Duration>) {
        self.timers.push(TimerOp::Set { timer, range });
    }

    /// Disarm `timer`.
    pub fn cancel_timer(&mut self, timer: Timer) {
        self.timers.push(TimerOp::Cancel { timer });
    }

    /// Save `state` (and, if given, a new snapshot) atomically before any message leaves.
    /// Within one event the last call wins, except that a snapshot given earlier is kept when a
    /// later call passes `None`.
    pub fn persist(&mut self, state: Vec<u8>, snapshot: Option<Vec<u8>>) {
        let snapshot = snapshot.or_else(|| self.persist.take().and_then(|p| p.snapshot));
        self.persist = Some(PersistOp { state, snapshot });
    }

    /// Deliver `msg` to the service (after the state is persisted).
    pub fn apply(&mut self, msg: ApplyMsg) {
        self.applies.push(msg);
    }

    /// True when the handler asked for nothing.
    pub fn is_empty(&self) -> bool {
        self.sends.is_empty()
            && self.timers.is_empty()
            && self.persist.is_none()
            && self.applies.is_empty()
    }
}

/// The role a server is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
    /// 2E: asking for pre-votes, still in its old term (it becomes a candidate only with a
    /// majority of them).
    PreCandidate,
}

/// Per-run choices the drivers pass to [`RaftContract::new`]: which later labs' features this run
/// turns on. The default turns everything off (labs 2A-2D and the KV labs run that way), so a
/// Raft written for 2A-2D never reaches the code of a later lab.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Options {
    /// Lab 2E (etcd's `PreVote` and `CheckQuorum`): an election starts with a round of pre-votes
    /// that changes no term; a server that heard its leader within the election timeout refuses
    /// pre-votes and votes (the leader's lease); a leader that has not heard from a majority
    /// within an election timeout steps down. On in `tests/lab2e.rs` (and in the earlier Raft
    /// suites with `LAB_2E=1`) and in `checker check --prevote`.
    pub prevote_and_check_quorum: bool,
}

/// A read-only view of a server's Raft state, for the tester's checks and the model checker's
/// properties. It must describe the state truthfully; it is never used to drive the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation<'a> {
    pub term: u64,
    pub role: Role,
    pub voted_for: Option<PeerId>,
    pub commit_index: u64,
    /// The last index covered by the snapshot (0 when there is none).
    pub snapshot_index: u64,
    /// The term of the entry at `snapshot_index` (0 when there is none).
    pub snapshot_term: u64,
    /// The entries after the snapshot: `entries[i]` has index `snapshot_index + 1 + i`.
    pub entries: &'a [crate::messages::Entry],
}

/// Persisted bytes that cannot be decoded. Restarting from them fails with this error instead of a panic.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("corrupt persisted Raft state: {0}")]
pub struct CorruptState(pub String);

/// The Raft contract: the handlers of one Raft server, the only way the drivers (the labs' and the
/// model checker's) ever touch it. Your `Raft` implements it.
///
/// The state must be `Clone + Debug + Eq + Hash` (the model checker stores, compares and
/// fingerprints it) and `Send + Sync` (it explores on several threads): plain data, no `Rc` or
/// `RefCell`, no handles to anything outside.
pub trait RaftContract: Sized + Clone + Debug + Eq + Hash + Send + Sync + 'static {
    /// Boot server `me`, one of `peers` (the ids of the cluster's servers when it was created, `me`
    /// included), or restart it from what it persisted last (empty on first boot). `options` says
    /// which later labs' features this run turns on (all off before lab 2E).
    fn new(
        me: PeerId,
        peers: &[PeerId],
        persisted: &Persisted,
        options: Options,
        out: &mut Effects,
    ) -> Result<Self, CorruptState>;

    /// The current term, and whether this server believes it is the leader.
    fn state(&self) -> (u64, bool);

    /// A truthful, read-only view of the state for the tester and the model checker.
    fn observe(&self) -> Observation<'_>;

    /// A timer armed with `out.set_timer` fired.
    fn on_timer(&mut self, timer: Timer, out: &mut Effects);

    /// Handle an RPC request from peer `from` and return the reply (same variant as the request).
    fn on_request(&mut self, from: PeerId, request: Request, out: &mut Effects) -> Reply;

    /// Handle the `reply` that peer `from` sent to our `request`.
    fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects);

    /// The service asks to replicate `command`. Returns `None` unless we are the leader, else the
    /// index and term the command will have if it commits.
    fn start(&mut self, command: Command, out: &mut Effects) -> Option<(u64, u64)>;

    /// The service saved a snapshot of everything up to and including `index`: trim the log.
    fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects);

    // ----- Optional, not part of any lab: symmetry for the model checker. -----
    //
    // Servers are interchangeable: renaming them changes nothing about what Raft does. With these
    // four functions a Raft lets `checker check --symmetry` explore one state of each set of states
    // that differ only in the servers' names (up to 6x fewer with 3 servers). Each renames server
    // `p` to `to[p]` everywhere a server id appears. The defaults return `None`, which turns
    // symmetry off. A wrong renaming makes the checker miss states: `checker/tests/symmetry.rs`
    // tests a Raft's renaming.

    /// This server's state with every server id `p` renamed `to[p]`.
    fn relabel(&self, to: &[PeerId]) -> Option<Self> {
        let _ = to;
        None
    }

    /// Persisted bytes (as `persist` saved them) with every server id `p` renamed `to[p]`.
    fn relabel_persisted(state: &[u8], to: &[PeerId]) -> Option<Vec<u8>> {
        let _ = (state, to);
        None
    }

    /// A request with every server id `p` in it renamed `to[p]`.
    fn relabel_request(request: &Request, to: &[PeerId]) -> Option<Request> {
        let _ = (request, to);
        None
    }

    /// A reply with every server id `p` in it renamed `to[p]`.
    fn relabel_reply(reply: &Reply, to: &[PeerId]) -> Option<Reply> {
        let _ = (reply, to);
        None
    }
}

/// Bytes on the wire that are not the message they should be (a driver or network bug, never the
/// student's): the drivers report it instead of panicking.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad {what} for {method}: {message}")]
pub struct WireError {
    pub method: String,
    pub what: &'static str,
    pub message: String,
}
