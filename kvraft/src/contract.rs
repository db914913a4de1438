//! The contract between the KV service and the framework. **Framework code: do not edit.**
//!
//! The KV server and the clerk are deterministic state machines, like Raft: no threads, clocks,
//! randomness or I/O. The framework calls one handler per event, and the handler describes what
//! should happen.
//!
//! The server [`KvServer`](crate::KvServer) owns a [`raft::Raft`] and forwards Raft's events to it:
//!
//! | event                               | handler                        | typical effects                          |
//! |-------------------------------------|--------------------------------|------------------------------------------|
//! | boot or restart after a crash       | `KvServer::new`                | restore the snapshot; Raft arms its timer |
//! | a clerk's Get or PutAppend arrives  | `KvServer::on_client_request`  | start the operation in Raft (or refuse)  |
//! | a Raft RPC request from a peer      | `KvServer::on_request`         | Raft's reply; apply what committed       |
//! | the reply to a Raft RPC we sent     | `KvServer::on_reply`           | commit, apply, answer waiting clerks     |
//! | a Raft timer fired                  | `KvServer::on_timer`           | elections, heartbeats                    |
//!
//! Every handler writes into a [`KvEffects`]: Raft's own [`Effects`] (sends, timers, persist; the
//! server takes Raft's `applies` out and applies them itself) plus the replies to clerks' requests.
//! A request the server cannot answer yet (its operation is not committed) stays pending; the server
//! must answer every pending request eventually, with an error if it lost leadership or another
//! operation committed at the request's log index, so that no clerk waits forever. The driver
//! carries the effects out in the Raft contract's order: persist, Raft's replies and sends, timers,
//! then the replies to clerks, so a clerk never hears of an operation the servers could forget.
//!
//! The clerk [`Clerk`](crate::Clerk) runs one operation at a time as a small state machine that the
//! driver pumps: [`Clerk::begin`](crate::Clerk::begin) says where to send the first request (a
//! [`ClerkStep`]), and the driver reports what happened (`on_reply`, `on_failure`, `on_wake`) until
//! the clerk says [`ClerkStep::Done`]. The driver owns the network and the clock: it sends, waits
//! at most the step's timeout, and sleeps when asked to.

use std::time::Duration;

use raft::contract::{CorruptState, Effects};
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

/// A clerk's request to a server: the KV service's two RPCs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvRequest {
    Get(GetArgs),
    PutAppend(PutAppendArgs),
}

impl KvRequest {
    /// The labrpc method this request travels under.
    pub fn method(&self) -> &'static str {
        match self {
            KvRequest::Get(_) => "KVServer.Get",
            KvRequest::PutAppend(_) => "KVServer.PutAppend",
        }
    }
}

/// A server's answer to a [`KvRequest`]; the variant must match the request's.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvReply {
    Get(GetReply),
    PutAppend(PutAppendReply),
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
