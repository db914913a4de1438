//! The lab driver for the KV service (labs 3A/3B): runs a [`kvraft::KvServer`] as a server on the
//! simulated network, and pumps a [`kvraft::Clerk`]'s operations over it.
//!
//! A KV server is a [`Machine`](crate::raft_driver::Machine) like a bare Raft: the Raft driver runs
//! it (Raft's RPCs, timers, persister), and this module adds its "KVServer" service. A clerk's
//! request gets a [`RequestId`]; its labrpc call waits until the server's effects answer that id.
//! A request the server never answers (a crashed server, or a leader cut off from its majority)
//! leaves its caller waiting until the clerk's own timeout.
//!
//! A server takes its clients' requests one at a time, [`REQUEST_SERVICE_TIME`] each, before the
//! state machine sees them. In virtual time computation is free, and without this a clerk would
//! finish an operation every 2 ms (two 1 ms network hops): about eight times the operations the
//! course's tests see in the same 15 s, and, without snapshots, logs that long make every persist
//! (Raft saves its whole state each time) slow in real time. With it, a server's throughput is
//! bounded as a real server's is, operation counts are the course's, and many clients queue, so
//! their operations overlap (which is what the linearizability check needs).
//!
//! The clerk side, [`run_op`], is the clerk's time and network: it sends where the clerk says,
//! waits at most the step's timeout, sleeps when told to, and reports back, until the clerk is done.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use kvraft::common::{GetArgs, GetReply, PutAppendArgs, PutAppendReply};
use kvraft::contract::{ClerkStep, KvEffects, KvError, KvReply, KvRequest, Op, RequestId};
use kvraft::{Clerk, KvServer};
use raft::contract::{Effects, PeerId, Reply, Request, Timer};
use tokio::sync::{Semaphore, oneshot};

use crate::labrpc::{ClientEnd, Rpc, Server, Service};
use crate::persister::Persister;
use crate::raft_driver::{Machine, Node};
use crate::sim::{RunError, Sim};

impl Rpc for GetArgs {
    type Reply = GetReply;
    const METHOD: &'static str = "KVServer.Get";
}

impl Rpc for PutAppendArgs {
    type Reply = PutAppendReply;
    const METHOD: &'static str = "KVServer.PutAppend";
}

impl Machine for KvServer {
    type Effects = KvEffects;
    type Up = (RequestId, KvReply);
    type Error = KvError;

    fn split(effects: KvEffects) -> (Effects, Vec<(RequestId, KvReply)>) {
        (effects.raft, effects.replies)
    }

    fn on_request(
        &mut self,
        from: PeerId,
        request: Request,
        out: &mut KvEffects,
    ) -> Result<Reply, KvError> {
        KvServer::on_request(self, from, request, out)
    }

    fn on_reply(
        &mut self,
        from: PeerId,
        request: Request,
        reply: Reply,
        out: &mut KvEffects,
    ) -> Result<(), KvError> {
        KvServer::on_reply(self, from, request, reply, out)
    }

    fn on_timer(&mut self, timer: Timer, out: &mut KvEffects) -> Result<(), KvError> {
        KvServer::on_timer(self, timer, out)
    }
}

/// How long a server spends on a client's request before handing it to the state machine. It
/// takes one request at a time. Close to the course's reference (about 15 ms per operation with
/// one client); the speed tests' bound is 33 ms per operation.
pub const REQUEST_SERVICE_TIME: Duration = Duration::from_millis(15);

/// One running incarnation of a KV server. Cheap to clone.
#[derive(Clone)]
pub struct KvNode {
    node: Node<KvServer>,
    sim: Sim,
    waiting: Rc<Waiting>,
    /// One permit: the request being serviced. Waiters queue in arrival order.
    service: Rc<Semaphore>,
}

/// The labrpc calls waiting for the server's answer, by request id.
#[derive(Default)]
struct Waiting {
    next_id: Cell<RequestId>,
    calls: RefCell<BTreeMap<RequestId, oneshot::Sender<KvReply>>>,
}

impl Waiting {
    fn answer(&self, id: RequestId, reply: KvReply) {
        match self.calls.borrow_mut().remove(&id) {
            // The caller may have given up meanwhile (its timeout); then nobody listens.
            Some(call) => drop(call.send(reply)),
            None => {
                tracing::warn!(target: "raft", id, "a reply to an unknown or answered request; dropped")
            }
        }
    }
}

impl KvNode {
    /// Boot KV server `me` from `persister` (empty on first boot); `peers[j]` is its end to server
    /// `j`. It snapshots when Raft's state reaches `maxraftstate` bytes (`None`: never). Returns
    /// the node and the labrpc server (services "Raft" and "KVServer") to register under its name.
    pub fn start(
        sim: &Sim,
        me: PeerId,
        peers: Vec<ClientEnd>,
        persister: Persister,
        maxraftstate: Option<usize>,
    ) -> Result<(KvNode, Server), KvError> {
        // The same span as a Raft node's, so that Raft's logs and the service's both carry the id.
        let span = tracing::span!(target: crate::logging::SERVER_SPAN_TARGET, tracing::Level::ERROR, "server", id = me);
        let waiting = Rc::new(Waiting::default());
        let up = {
            let waiting = waiting.clone();
            move |(id, reply)| waiting.answer(id, reply)
        };
        let n = peers.len();
        let (node, server) = Node::boot(sim, me, peers, persister, span, up, |persisted, out| {
            KvServer::new(me, n, persisted, maxraftstate, out)
        })?;
        let kv = KvNode {
            node,
            sim: sim.clone(),
            waiting,
            service: Rc::new(Semaphore::new(1)),
        };
        server.add_service(
            Service::new("KVServer")
                .handle_async({
                    let kv = kv.clone();
                    move |args: GetArgs| {
                        let kv = kv.clone();
                        async move {
                            match kv.request(KvRequest::Get(args)).await {
                                KvReply::Get(reply) => reply,
                                other => kv.mismatched("Get", other).await,
                            }
                        }
                    }
                })
                .handle_async({
                    let kv = kv.clone();
                    move |args: PutAppendArgs| {
                        let kv = kv.clone();
                        async move {
                            match kv.request(KvRequest::PutAppend(args)).await {
                                KvReply::PutAppend(reply) => reply,
                                other => kv.mismatched("PutAppend", other).await,
                            }
                        }
                    }
                }),
        );
        Ok((kv, server))
    }

    /// This server's id.
    pub fn id(&self) -> PeerId {
        self.node.id()
    }

    /// `(term, is_leader)` of the server's Raft.
    pub fn state(&self) -> (u64, bool) {
        self.inspect(|kv| kv.raft().state())
    }

    /// Look at the server (for the tester's checks), without copying it.
    pub fn inspect<T>(&self, f: impl FnOnce(&KvServer) -> T) -> T {
        self.node.inspect(f)
    }

    /// Crash: the server stops, and the calls waiting on it are never answered.
    pub fn kill(&self) {
        self.node.kill();
        self.waiting.calls.borrow_mut().clear();
    }

    pub fn is_alive(&self) -> bool {
        self.node.is_alive()
    }

    /// Hand `request` to the server (after its turn and its service time) and wait for its
    /// answer. A dead server never answers: the network fails the call when it notices the server
    /// is gone.
    async fn request(&self, request: KvRequest) -> KvReply {
        let Ok(turn) = self.service.acquire().await else {
            return std::future::pending().await; // never closed
        };
        self.sim.sleep(REQUEST_SERVICE_TIME).await;
        drop(turn);
        let id = self.waiting.next_id.get();
        self.waiting.next_id.set(id + 1);
        let (call, answer) = oneshot::channel();
        self.waiting.calls.borrow_mut().insert(id, call);
        let handled = self
            .node
            .handle(|kv, out| kv.on_client_request(id, request, out));
        if handled.is_none() {
            self.waiting.calls.borrow_mut().remove(&id);
        }
        match answer.await {
            Ok(reply) => reply,
            Err(_) => std::future::pending().await,
        }
    }

    /// An answer of the wrong kind is a bug in the server: fail the run saying so.
    async fn mismatched<T>(&self, request: &str, reply: KvReply) -> T {
        let message = format!(
            "server {} answered a {request} request with {reply:?}, a reply of the wrong kind",
            self.id()
        );
        self.sim.fail(RunError::Panicked { message });
        std::future::pending().await
    }
}

/// How long a clerk's send to a server index it does not have fails after (like a cut-off call).
const BAD_SERVER_DELAY: Duration = Duration::from_millis(100);

/// Run one operation of `clerk` to its end and return its result: send where the clerk says over
/// `ends` (the clerk's server `i` is `ends[i]`), wait at most the step's timeout, sleep when told.
pub async fn run_op(sim: &Sim, clerk: &RefCell<Clerk>, ends: &[ClientEnd], op: Op) -> String {
    let mut step = clerk.borrow_mut().begin(op);
    loop {
        step = match step {
            ClerkStep::Done(value) => return value,
            ClerkStep::Wait(duration) => {
                sim.sleep(duration).await;
                clerk.borrow_mut().on_wake()
            }
            ClerkStep::Send {
                server,
                request,
                timeout,
            } => {
                let reply = match ends.get(server) {
                    Some(end) => call_with_timeout(end, request, timeout).await,
                    None => {
                        tracing::warn!(target: "kvraft", server, servers = ends.len(), "the clerk sent to a server it does not have");
                        sim.sleep(BAD_SERVER_DELAY).await;
                        None
                    }
                };
                match reply {
                    Some(reply) => clerk.borrow_mut().on_reply(reply),
                    None => clerk.borrow_mut().on_failure(),
                }
            }
        };
    }
}

/// One clerk call to a server, bounded by `timeout`; `None` if no reply came back in time (or the
/// network lost the request or the reply).
pub async fn call_with_timeout(
    end: &ClientEnd,
    request: KvRequest,
    timeout: Duration,
) -> Option<KvReply> {
    match request {
        KvRequest::Get(args) => tokio::time::timeout(timeout, end.call(&args))
            .await
            .ok()?
            .ok()
            .map(KvReply::Get),
        KvRequest::PutAppend(args) => tokio::time::timeout(timeout, end.call(&args))
            .await
            .ok()?
            .ok()
            .map(KvReply::PutAppend),
    }
}
