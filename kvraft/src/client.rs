//! The clerk: the client library of the KV service. **Student code.**
//!
//! A clerk runs one operation at a time. The driver pumps it: [`Clerk::begin`] names the server to
//! try first, and every reply or failure the driver reports gets the next step, until the clerk
//! says [`ClerkStep::Done`]. The clerk must keep trying until some leader has applied the
//! operation, and must number its operations so that the servers can recognise retries.

use crate::contract::{ClerkContract, ClerkStep, ClientId, KvReply, Op};
// BEGIN SOLUTION
use std::time::Duration;

use crate::common::{GetArgs, PutAppendArgs, PutAppendOp, Status};
use crate::contract::KvRequest;

/// How long to wait for a server's answer. A server that leads but cannot reach a majority never
/// commits and never learns that it should stop leading; after this long, try another one.
const REPLY_TIMEOUT: Duration = Duration::from_millis(500);
/// After every server said no (or nothing): probably an election; give it time.
const ROUND_PAUSE: Duration = Duration::from_millis(100);
// END SOLUTION

/// A client of the KV service.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Clerk {
    // BEGIN SOLUTION
    servers: usize,
    me: ClientId,
    /// The number of the current (or last) operation; its retries keep it.
    seq: u64,
    /// The server to try first: the one that answered last, most likely still the leader.
    leader: usize,
    /// The request of the operation in progress.
    request: Option<KvRequest>,
    /// Servers tried for the current operation without success.
    misses: usize,
    // STUB
    // // Your state here.
    // END SOLUTION
}

impl ClerkContract for Clerk {
    /// A clerk that talks to `servers` servers (indices `0..servers` in every [`ClerkStep::Send`])
    /// and identifies itself as `client_id`, which no other clerk uses.
    fn new(servers: usize, client_id: ClientId) -> Clerk {
        // BEGIN SOLUTION
        Clerk {
            servers,
            me: client_id,
            seq: 0,
            leader: 0,
            request: None,
            misses: 0,
        }
        // STUB
        // todo!("3A: set up the clerk")
        // END SOLUTION
    }

    /// Start `op` (the previous operation must be done) and say what to do first.
    fn begin(&mut self, op: Op) -> ClerkStep {
        // BEGIN SOLUTION
        self.seq += 1;
        let (client, seq) = (self.me, self.seq);
        let put_append = |key, value, op| {
            KvRequest::PutAppend(PutAppendArgs {
                key,
                value,
                op,
                client,
                seq,
            })
        };
        self.request = Some(match op {
            Op::Get { key } => KvRequest::Get(GetArgs { key, client, seq }),
            Op::Put { key, value } => put_append(key, value, PutAppendOp::Put),
            Op::Append { key, value } => put_append(key, value, PutAppendOp::Append),
        });
        self.misses = 0;
        self.send()
        // STUB
        // todo!("3A: number the operation and send it to the server most likely to lead")
        // END SOLUTION
    }

    /// The server answered the last [`ClerkStep::Send`] with `reply`.
    fn on_reply(&mut self, reply: KvReply) -> ClerkStep {
        // BEGIN SOLUTION
        let result = match (&self.request, reply) {
            (Some(KvRequest::Get(_)), KvReply::Get(r)) => {
                matches!(r.status, Status::Ok | Status::NoKey).then_some(r.value)
            }
            (Some(KvRequest::PutAppend(_)), KvReply::PutAppend(r)) => {
                (r.status == Status::Ok).then(String::new)
            }
            _ => None, // a reply of the wrong kind tells nothing
        };
        match result {
            Some(value) => {
                self.request = None;
                ClerkStep::Done(value)
            }
            None => self.next_server(),
        }
        // STUB
        // todo!("3A: done, or try another server")
        // END SOLUTION
    }

    /// No reply to the last [`ClerkStep::Send`] came back in time.
    fn on_failure(&mut self) -> ClerkStep {
        // BEGIN SOLUTION
        self.next_server()
        // STUB
        // todo!("3A: try another server")
        // END SOLUTION
    }

    /// The [`ClerkStep::Wait`] is over.
    fn on_wake(&mut self) -> ClerkStep {
        // BEGIN SOLUTION
        self.send()
        // STUB
        // todo!("3A: try again")
        // END SOLUTION
    }
}

// BEGIN SOLUTION
impl Clerk {
    fn send(&self) -> ClerkStep {
        match &self.request {
            Some(request) => ClerkStep::Send {
                server: self.leader,
                request: request.clone(),
                timeout: REPLY_TIMEOUT,
            },
            None => ClerkStep::Done(String::new()), // nothing in progress
        }
    }

    fn next_server(&mut self) -> ClerkStep {
        self.leader = (self.leader + 1) % self.servers.max(1);
        self.misses += 1;
        if self.misses.is_multiple_of(self.servers.max(1)) {
            ClerkStep::Wait(ROUND_PAUSE)
        } else {
            self.send()
        }
    }
}
// END SOLUTION
