//! The lab driver for the KV service (labs 3A/3B): runs a [`kvraft::KvServer`] as a server on the
//! simulated network, and pumps a [`kvraft::Clerk`]'s operations over it.
//!
//! A KV server is a [`Host`] of a Raft, like a bare Raft: the Raft driver runs it (Raft's RPCs and
//! timers go to the server's Raft, then the server's `after_raft`; the persister), and this module
//! adds its "KVServer" service, whose methods come from the KV contract's `rpcs!` list. A clerk's
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

use kvraft::contract::{
    ClerkContract, ClerkStep, KvEffects, KvError, KvReply, KvRequest, KvServerContract, Op,
    RequestId,
};
use kvraft::{Clerk, KvServer};
use raft::Raft;
use raft::contract::{Effects, PeerId, RaftContract};
use tokio::sync::{Semaphore, oneshot};

use crate::raft_driver::{Host, Node, restart_from};
use labkit::labrpc::{ClientEnd, RpcError, Server, Service};
use labkit::persister::Persister;
use labkit::sim::{RunError, Sim};

/// A KV server as the Raft driver runs it: Raft's events go to its Raft, then to its `after_raft`;
/// what goes up are its answers to clerks. The second field, when set, is the run and the
/// server's lane to record the server's applies in (Raft hands them to the server, not up).
pub struct KvHost<S>(pub S, pub Option<(Sim, labkit::recorder::Lane)>);

impl<S: KvServerContract> Host for KvHost<S> {
    type Raft = Raft;
    type Effects = KvEffects;
    type Up = (RequestId, KvReply);
    type Error = KvError;

    fn raft(&self) -> &Raft {
        self.0.raft()
    }

    fn raft_mut(&mut self) -> &mut Raft {
        self.0.raft_mut()
    }

    fn raft_effects(out: &mut KvEffects) -> &mut Effects {
        &mut out.raft
    }

    fn after_raft(&mut self, out: &mut KvEffects) -> Result<(), KvError> {
        if let Some((sim, lane)) = &self.1 {
            for apply in &out.raft.applies {
                let (index, snapshot) = match apply {
                    raft::contract::ApplyMsg::Command { index, .. } => (*index, false),
                    raft::contract::ApplyMsg::Snapshot { index, .. } => (*index, true),
                };
                sim.recorder().apply(*lane, index, snapshot);
            }
        }
        self.0.after_raft(out)
    }

    fn split(effects: KvEffects) -> (Effects, Vec<(RequestId, KvReply)>) {
        (effects.raft, effects.replies)
    }
}

/// How long a server spends on a client's request before handing it to the state machine. It
/// takes one request at a time. Close to the course's reference (about 15 ms per operation with
/// one client); the speed tests' bound is 33 ms per operation.
pub const REQUEST_SERVICE_TIME: Duration = Duration::from_millis(15);

/// One running incarnation of a KV server. Cheap to clone.
#[derive(Clone)]
pub struct KvNode {
    node: Node<KvHost<KvServer>>,
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
    /// Boot KV server `me` of the cluster `peers` from `persister` (empty on first boot); `ends`
    /// are its ends to the other servers, by id. It snapshots when Raft's state reaches
    /// `maxraftstate` bytes (`None`: never). Returns the node and the labrpc server (services
    /// "Raft" and "KVServer") to register under its name.
    pub fn start(
        sim: &Sim,
        me: PeerId,
        peers: &[PeerId],
        ends: BTreeMap<PeerId, ClientEnd>,
        persister: Persister,
        maxraftstate: Option<usize>,
    ) -> Result<(KvNode, Server), KvError> {
        // The same span as a Raft node's, so that Raft's logs and the service's both carry the id.
        let span = tracing::span!(target: labkit::logging::SERVER_SPAN_TARGET, tracing::Level::ERROR, "server", id = me);
        let waiting = Rc::new(Waiting::default());
        let up = {
            let waiting = waiting.clone();
            move |(id, reply)| waiting.answer(id, reply)
        };
        let applies = Some((sim.clone(), sim.recorder().server_lane(me)));
        let lane = sim.recorder().server_lane(me);
        sim.recorder()
            .set_restarter(lane, restart_from::<Raft>, peers.to_vec());
        let (node, server) = Node::boot(sim, me, ends, persister, span, up, |persisted, out| {
            KvServer::new(me, peers, persisted, maxraftstate, out).map(|kv| KvHost(kv, applies))
        })?;
        let kv = KvNode {
            node,
            sim: sim.clone(),
            waiting,
            service: Rc::new(Semaphore::new(1)),
        };
        let mut service = Service::new("KVServer");
        for &method in KvRequest::METHODS {
            sim.recorder().set_decoder(method, describe_kv_request);
            let kv = kv.clone();
            service = service.handle_raw_async(method, move |bytes| {
                let kv = kv.clone();
                let request = KvRequest::decode(method, bytes);
                Box::pin(async move {
                    let request = request.map_err(|e| RpcError::Decode {
                        method: method.to_string(),
                        what: "request",
                        message: e.message,
                    })?;
                    let reply = kv.request(request.clone()).await;
                    if !reply.answers(&request) {
                        return kv.mismatched(&request, reply).await;
                    }
                    Ok(reply.encode())
                })
            });
        }
        server.add_service(service);
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
        self.node.inspect(|host| f(&host.0))
    }

    /// Call `watcher` with `(term, is_leader)` now and whenever either changes.
    pub fn watch_leadership(&self, watcher: impl Fn(u64, bool) + 'static) {
        self.node.watch_leadership(watcher);
    }

    /// Crash: the server stops, and the calls waiting on it are never answered.
    pub fn kill(&self) {
        self.node.kill();
        self.waiting.calls.borrow_mut().clear();
    }

    pub fn is_alive(&self) -> bool {
        self.node.is_alive()
    }

    /// Give this server's Raft an end to server `peer` (a server added to the cluster, say),
    /// replacing any it had.
    pub fn add_peer(&self, peer: PeerId, end: ClientEnd) {
        self.node.add_peer(peer, end);
    }

    /// Take this server's end to `peer` away: what its Raft sends there is dropped from now on.
    pub fn remove_peer(&self, peer: PeerId) {
        self.node.remove_peer(peer);
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
        let handled = self.node.handle(|host, out| {
            host.0.on_client_request(id, request, out)?;
            Host::after_raft(host, out)
        });
        if handled.is_none() {
            self.waiting.calls.borrow_mut().remove(&id);
        }
        match answer.await {
            Ok(reply) => reply,
            Err(_) => std::future::pending().await,
        }
    }

    /// An answer of the wrong kind is a bug in the server: fail the run saying so.
    async fn mismatched<T>(&self, request: &KvRequest, reply: KvReply) -> T {
        let message = format!(
            "server {} answered a {} request with {reply:?}, a reply of the wrong kind",
            self.id(),
            request.kind()
        );
        self.sim.fail(RunError::Panicked { message });
        std::future::pending().await
    }
}

/// A clerk's request as the run's picture describes it.
fn describe_kv_request(method: &str, args: &[u8]) -> String {
    match KvRequest::decode(method, args) {
        Ok(request) => labkit::recorder::summary(&request),
        Err(e) => format!("(undecodable: {})", e.message),
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
    let method = request.method();
    let bytes = tokio::time::timeout(timeout, end.call_raw(method, request.encode()))
        .await
        .ok()?
        .ok()?;
    KvReply::decode(method, &bytes).ok()
}
