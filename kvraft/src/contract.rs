//! The contract between the KV service and the framework. **Framework code: do not edit.**
//!
//! The KV server and the clerk are deterministic state machines, like Raft: no threads, clocks,
//! randomness or I/O. The framework calls one handler per event, and the handler describes what
//! should happen.
//!
//! The server [`KvServer`](crate::KvServer) owns a [`raft::Raft`]. It implements
//! [`KvServerContract`]; the framework forwards Raft's own events (RPCs between servers, timers)
//! to that Raft and then calls the server's [`after_raft`](KvServerContract::after_raft), where
//! the server applies what Raft delivered:
//!
//! | event                               | handler                                   | typical effects                           |
//! |-------------------------------------|-------------------------------------------|-------------------------------------------|
//! | boot or restart after a crash       | [`KvServerContract::new`]                 | restore the snapshot; Raft arms its timer |
//! | a clerk's Get or PutAppend arrives  | [`KvServerContract::on_client_request`]   | start the operation in Raft (or refuse)   |
//! | after every event Raft handled      | [`KvServerContract::after_raft`]          | apply, snapshot, answer waiting clerks    |
//!
//! Every handler writes into a [`KvEffects`]: Raft's own [`Effects`] (sends, timers, persist; the
//! server takes Raft's `applies` out and applies them itself) plus the replies to clerks' requests.
//! A request the server cannot answer yet (its operation is not committed) stays pending; the server
//! must answer every pending request eventually, with an error if it lost leadership or another
//! operation committed at the request's log index, so that no clerk waits forever. The driver
//! carries the effects out in the Raft contract's order: persist, Raft's replies and sends, timers,
//! then the replies to clerks, so a clerk never hears of an operation the servers could forget.
//!
//! The clerk [`Clerk`](crate::Clerk) implements [`ClerkContract`]: it runs one operation at a time
//! as a small state machine that the driver pumps: `begin` says where to send the first request (a
//! [`ClerkStep`]), and the driver reports what happened (`on_reply`, `on_failure`, `on_wake`) until
//! the clerk says [`ClerkStep::Done`]. The driver owns the network and the clock: it sends, waits
//! at most the step's timeout, and sleeps when asked to.

use std::fmt::Debug;
use std::hash::Hash;
use std::time::Duration;

use raft::Raft;
use raft::contract::{
    CorruptState, Effects, PeerId, Persisted, RaftContract, Reply, Request, Timer,
};
use serde::{Deserialize, Serialize};

use crate::common::{GetArgs, GetReply, PutAppendArgs, PutAppendReply};

/// Identifies a clerk. The tester gives every clerk a different one.
pub type ClientId = u64;

/// Identifies one client request that reached one server incarnation (chosen by the driver), so
/// that the server's reply finds its way back to the waiting call.
pub type RequestId = u64;

/// What a test asks a clerk to do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// Read a key (`""` if it was never written).
    Get { key: String },
    /// Replace a key's value.
    Put { key: String, value: String },
    /// Append to a key's value (an absent key counts as `""`).
    Append { key: String, value: String },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Append { key, .. } => key,
        }
    }
}

raft::rpcs! {
    service "KVServer";
    /// A clerk's request to a server: the KV service's RPCs.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum KvRequest;
    /// A server's answer to a [`KvRequest`]; the variant must match the request's.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    pub enum KvReply;
    /// Read a key.
    Get(GetArgs) -> GetReply;
    /// Write a key (replace or append).
    PutAppend(PutAppendArgs) -> PutAppendReply;
}

/// Everything a server handler asks the driver to do. Handlers only ever append to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvEffects {
    /// Raft's effects. The server applies Raft's `applies` itself; the driver ignores any left here.
    pub raft: Effects,
    /// Answers to clerks' requests, in order. Each request is answered at most once.
    pub replies: Vec<(RequestId, KvReply)>,
}

impl KvEffects {
    /// Answer request `id` with `reply` (after the state is persisted).
    pub fn reply(&mut self, id: RequestId, reply: KvReply) {
        self.replies.push((id, reply));
    }
}

/// What a clerk wants the driver to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClerkStep {
    /// Send `request` to server `server` (an index into the clerk's server list). Report its reply
    /// with `on_reply`, or with `on_failure` that none came within `timeout` (lost, unreachable,
    /// or the server did not answer in time).
    Send {
        server: usize,
        request: KvRequest,
        timeout: Duration,
    },
    /// Call `on_wake` after this much time.
    Wait(Duration),
    /// The operation is over: its result (the value read by a Get; `""` for a Put or an Append).
    Done(String),
}

/// Why a server cannot go on: bytes that do not decode, or applies that make no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KvError {
    #[error(transparent)]
    Raft(#[from] CorruptState),
    #[error("corrupt KV snapshot: {0}")]
    CorruptSnapshot(String),
    #[error("corrupt command at log index {index}: {reason}")]
    CorruptCommand { index: u64, reason: String },
    #[error("Raft applied index {got}, but the service's next index is {expected}")]
    OutOfOrder { expected: u64, got: u64 },
}

/// The KV server's contract: its handlers, the only way the driver touches it. Your `KvServer`
/// implements it. Like Raft's state, the server's must be plain data (`Clone + Debug + Eq + Hash`).
pub trait KvServerContract: Sized + Clone + Debug + Eq + Hash + 'static {
    /// Boot server `me`, one of `peers` (the ids of the cluster's servers when it was created), or
    /// restart it from what it persisted last (empty on first boot). Snapshot when Raft's
    /// persisted state reaches `maxraftstate` bytes (`None`: never).
    fn new(
        me: PeerId,
        peers: &[PeerId],
        persisted: &Persisted,
        maxraftstate: Option<usize>,
        out: &mut KvEffects,
    ) -> Result<Self, KvError>;

    /// The Raft inside, for the tester (who leads, log sizes).
    fn raft(&self) -> &Raft;

    /// The Raft inside: the framework hands it Raft's own events (the other servers' RPCs, its
    /// timers), writing its effects into `out.raft`, then calls [`after_raft`](Self::after_raft).
    fn raft_mut(&mut self) -> &mut Raft;

    /// A clerk's request `id` arrived. Answer it with `out.reply(id, ..)`, now or once its
    /// operation is applied (or is known to be lost). The framework calls
    /// [`after_raft`](Self::after_raft) next.
    fn on_client_request(
        &mut self,
        id: RequestId,
        request: KvRequest,
        out: &mut KvEffects,
    ) -> Result<(), KvError>;

    /// Raft handled an event (its effects so far are in `out.raft`, its applies included): apply
    /// what it delivered, snapshot if its state grew too big, answer the requests that can be
    /// answered.
    fn after_raft(&mut self, out: &mut KvEffects) -> Result<(), KvError>;

    // ----- Framework: Raft's own events, forwarded to the Raft inside. Not to be overridden. -----

    /// One of Raft's timers fired: Raft handles it, then [`after_raft`](Self::after_raft).
    fn on_timer(&mut self, timer: Timer, out: &mut KvEffects) -> Result<(), KvError> {
        self.raft_mut().on_timer(timer, &mut out.raft);
        self.after_raft(out)
    }

    /// A Raft RPC request from peer `from`: Raft answers it, then
    /// [`after_raft`](Self::after_raft).
    fn on_request(
        &mut self,
        from: PeerId,
        request: Request,
        out: &mut KvEffects,
    ) -> Result<Reply, KvError> {
        let reply = self.raft_mut().on_request(from, request, &mut out.raft);
        self.after_raft(out)?;
        Ok(reply)
    }

    /// The reply to a Raft RPC this server sent: Raft handles it, then
    /// [`after_raft`](Self::after_raft).
    fn on_reply(
        &mut self,
        from: PeerId,
        request: Request,
        reply: Reply,
        out: &mut KvEffects,
    ) -> Result<(), KvError> {
        self.raft_mut()
            .on_reply(from, request, reply, &mut out.raft);
        self.after_raft(out)
    }
}

/// The clerk's contract. Your `Clerk` implements it.
pub trait ClerkContract: Sized + Clone + Debug + 'static {
    /// A clerk that talks to `servers` servers (indices `0..servers` in every
    /// [`ClerkStep::Send`]) and identifies itself as `client_id`, which no other clerk uses.
    fn new(servers: usize, client_id: ClientId) -> Self;

    /// Start `op` (the previous operation must be done) and say what to do first.
    fn begin(&mut self, op: Op) -> ClerkStep;

    /// The server answered the last [`ClerkStep::Send`].
    fn on_reply(&mut self, reply: KvReply) -> ClerkStep;

    /// No answer to the last [`ClerkStep::Send`] within its timeout.
    fn on_failure(&mut self) -> ClerkStep;

    /// The last [`ClerkStep::Wait`] is over.
    fn on_wake(&mut self) -> ClerkStep;
}
