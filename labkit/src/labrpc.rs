//! labrpc: the simulated, lossy RPC network of the labs, on virtual time.
//!
//! The same model as the course's `labrpc`: a client holds a [`ClientEnd`]; the tester connects each
//! end to a named server, enables or disables it, adds and deletes servers, and turns on unreliable
//! delivery, long delays and long reordering. Every call is serialized (a real copy, and the byte
//! counts are the serialized sizes), travels with a delay drawn from the run's seeded RNG, and either
//! returns the handler's reply or an [`RpcError`]. Errors are values: an unknown service or method, or
//! bytes that do not decode as the expected type, never panic.
//!
//! What the knobs do (the numbers are the course's):
//!
//! | knob | effect |
//! |---|---|
//! | reliable (default) | the request arrives after [`RELIABLE_LATENCY`]; the reply comes straight back |
//! | unreliable | request delayed a further 0–26 ms; 10% of requests and 10% of replies are lost |
//! | disabled end / no server | the call fails after 0–100 ms, or 0–7000 ms with long delays |
//! | long reordering | 2/3 of replies are held back 200 + rand(1 + rand(2000)) ms |
//! | end disabled or server deleted while a handler runs | the call fails; the reply is never delivered |
//!
//! A call whose handler never answers fails with [`RpcError::Timeout`] after the network's call timeout
//! (10 s of virtual time by default), so a stuck server never hangs its caller.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::recorder::Lane;
use crate::sim::Sim;

/// The virtual time a request takes on a reliable network. Nonzero so that any loop of RPCs moves
/// the clock (tokio's timers have millisecond resolution).
pub const RELIABLE_LATENCY: Duration = Duration::from_millis(1);
/// Extra request delay on an unreliable network: 0..UNRELIABLE_MAX_DELAY_MS ms.
pub const UNRELIABLE_MAX_DELAY_MS: u64 = 27;
/// Per mille of requests, and separately of replies, lost on an unreliable network.
pub const UNRELIABLE_LOSS_PER_MILLE: u32 = 100;
/// A call to a disabled end or a missing server fails after 0..SHORT_DELAY_MS ms ...
pub const SHORT_DELAY_MS: u64 = 100;
/// ... or 0..LONG_DELAY_MS ms when long delays are on.
pub const LONG_DELAY_MS: u64 = 7000;
/// Default bound on how long a call waits for its handler.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A request type: it names its method (`"Service.Method"`) and its reply type.
pub trait Rpc: Serialize + DeserializeOwned + 'static {
    type Reply: Serialize + DeserializeOwned + 'static;
    /// `"Service.Method"`, e.g. `"Raft.RequestVote"`.
    const METHOD: &'static str;
}

/// Why a call did not return a reply. Like the course's `Call() == false`, most of these mean "no
/// reply came back"; the variants say why, for tests and logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    #[error("request lost by the unreliable network")]
    RequestLost,
    #[error("reply lost by the unreliable network")]
    ReplyLost,
    #[error("server unreachable (end disabled, not connected, or server deleted)")]
    Unreachable,
    #[error("no reply within the call timeout of {0:?}")]
    Timeout(Duration),
    #[error("unknown service {service:?} (method {method:?})")]
    UnknownService { service: String, method: String },
    #[error("unknown method {method:?}")]
    UnknownMethod { method: String },
    #[error("type mismatch on {method}: the server takes {expected}, the caller sent {sent}")]
    TypeMismatch {
        method: String,
        expected: &'static str,
        sent: String,
    },
    #[error("could not encode the {what} of {method}: {message}")]
    Encode {
        method: String,
        what: &'static str,
        message: String,
    },
    #[error("could not decode the {what} of {method}: {message}")]
    Decode {
        method: String,
        what: &'static str,
        message: String,
    },
}

/// A reply on its way: the encoded reply, or why there is none.
pub type ReplyFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, RpcError>>>>;

/// The request type of a raw handler: no type check is made against it.
const RAW: &str = "";

type SyncHandler = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, RpcError>>;
type AsyncHandler = Box<dyn Fn(&[u8]) -> ReplyFuture>;

enum Handler {
    Sync(SyncHandler),
    Async(AsyncHandler),
}

struct Method {
    /// `type_name` of the request type, checked against the caller's.
    request_type: &'static str,
    handler: Handler,
}

/// Decode `bytes` as exactly one `T` (trailing bytes are an error: they mean the types differ).
fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    method: &str,
    what: &'static str,
) -> Result<T, RpcError> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(RpcError::Decode {
            method: method.to_string(),
            what,
            message: format!("{} unexpected trailing bytes", rest.len()),
        }),
        Err(e) => Err(RpcError::Decode {
            method: method.to_string(),
            what,
            message: e.to_string(),
        }),
    }
}

fn encode<T: Serialize>(value: &T, method: &str, what: &'static str) -> Result<Vec<u8>, RpcError> {
    postcard::to_allocvec(value).map_err(|e| RpcError::Encode {
        method: method.to_string(),
        what,
        message: e.to_string(),
    })
}

/// A named set of handlers, one per request type (`"Raft"` with `RequestVote`, `AppendEntries`...).
pub struct Service {
    name: String,
    methods: BTreeMap<String, Method>,
}

impl Service {
    pub fn new(name: impl Into<String>) -> Service {
        Service {
            name: name.into(),
            methods: BTreeMap::new(),
        }
    }

    /// Answer requests of type `R` with `handler`, which replies at once.
    pub fn handle<R: Rpc>(mut self, handler: impl Fn(R) -> R::Reply + 'static) -> Self {
        let method = self.method_of::<R>();
        let handler = move |args: &[u8]| {
            let request: R = decode(args, R::METHOD, "request")?;
            encode(&handler(request), R::METHOD, "reply")
        };
        self.insert::<R>(method, Handler::Sync(Box::new(handler)));
        self
    }

    /// Like [`handle`](Self::handle), but the handler may decline to answer (`None`): the request
    /// is dropped and the caller's call fails with [`RpcError::Unreachable`], as if the server
    /// had died with it. Drivers use this for requests that reach a crashed incarnation.
    pub fn handle_or_drop<R: Rpc>(
        mut self,
        handler: impl Fn(R) -> Option<R::Reply> + 'static,
    ) -> Self {
        let method = self.method_of::<R>();
        let handler = move |args: &[u8]| {
            let request: R = decode(args, R::METHOD, "request")?;
            let reply = handler(request).ok_or(RpcError::Unreachable)?;
            encode(&reply, R::METHOD, "reply")
        };
        self.insert::<R>(method, Handler::Sync(Box::new(handler)));
        self
    }

    /// Answer requests of type `R` with `handler`, which may wait (e.g. for an operation to commit).
    pub fn handle_async<R, F, Fut>(mut self, handler: F) -> Self
    where
        R: Rpc,
        F: Fn(R) -> Fut + 'static,
        Fut: Future<Output = R::Reply> + 'static,
    {
        let method = self.method_of::<R>();
        let handler = Rc::new(handler);
        let handler = move |args: &[u8]| -> ReplyFuture {
            let request: Result<R, _> = decode(args, R::METHOD, "request");
            let handler = handler.clone();
            Box::pin(async move { encode(&handler(request?).await, R::METHOD, "reply") })
        };
        self.insert::<R>(method, Handler::Async(Box::new(handler)));
        self
    }

    /// Answer requests of `method` (`"Service.Method"`) with `handler`, which takes the encoded
    /// arguments and returns the encoded reply, or `None` to drop the request as
    /// [`handle_or_drop`](Self::handle_or_drop) does. For drivers whose messages are declared
    /// elsewhere (the contracts' `rpcs!` lists) and encode themselves; no type check is made.
    pub fn handle_raw_or_drop(
        mut self,
        method: &str,
        handler: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, RpcError> + 'static,
    ) -> Self {
        let name = self.method_name(method);
        let handler = move |args: &[u8]| handler(args)?.ok_or(RpcError::Unreachable);
        self.methods.insert(
            name,
            Method {
                request_type: RAW,
                handler: Handler::Sync(Box::new(handler)),
            },
        );
        self
    }

    /// Like [`handle_raw_or_drop`](Self::handle_raw_or_drop), but the reply may take a while (a
    /// future of the encoded reply).
    pub fn handle_raw_async(
        mut self,
        method: &str,
        handler: impl Fn(&[u8]) -> ReplyFuture + 'static,
    ) -> Self {
        let name = self.method_name(method);
        self.methods.insert(
            name,
            Method {
                request_type: RAW,
                handler: Handler::Async(Box::new(handler)),
            },
        );
        self
    }

    fn insert<R: Rpc>(&mut self, method: String, handler: Handler) {
        let request_type = std::any::type_name::<R>();
        self.methods.insert(
            method,
            Method {
                request_type,
                handler,
            },
        );
    }

    fn method_of<R: Rpc>(&self) -> String {
        self.method_name(R::METHOD)
    }

    fn method_name(&self, full: &str) -> String {
        let (service, method) = full.split_once('.').unwrap_or(("", full));
        assert_eq!(
            service, self.name,
            "{full} registered on service {:?}",
            self.name
        );
        method.to_string()
    }
}

/// A server: a set of services and a count of the requests delivered to it.
#[derive(Clone, Default)]
pub struct Server(Rc<ServerState>);

#[derive(Default)]
struct ServerState {
    services: RefCell<BTreeMap<String, Rc<Service>>>,
    count: Cell<u64>,
}

impl Server {
    pub fn new() -> Server {
        Server::default()
    }

    pub fn add_service(&self, service: Service) {
        self.0
            .services
            .borrow_mut()
            .insert(service.name.clone(), Rc::new(service));
    }

    /// Requests delivered to this server so far.
    pub fn count(&self) -> u64 {
        self.0.count.get()
    }

    fn dispatch(
        &self,
        method: &str,
        request_type: Option<&str>,
        args: &[u8],
    ) -> Result<Dispatch, RpcError> {
        self.0.count.set(self.0.count.get() + 1);
        let (service_name, method_name) = method.split_once('.').unwrap_or(("", method));
        let service = self
            .0
            .services
            .borrow()
            .get(service_name)
            .cloned()
            .ok_or_else(|| RpcError::UnknownService {
                service: service_name.to_string(),
                method: method.to_string(),
            })?;
        let Some(entry) = service.methods.get(method_name) else {
            return Err(RpcError::UnknownMethod {
                method: method.to_string(),
            });
        };
        if let Some(sent) =
            request_type.filter(|t| entry.request_type != RAW && *t != entry.request_type)
        {
            return Err(RpcError::TypeMismatch {
                method: method.to_string(),
                expected: entry.request_type,
                sent: sent.to_string(),
            });
        }
        match &entry.handler {
            Handler::Sync(f) => Ok(Dispatch::Done(f(args)?)),
            Handler::Async(f) => Ok(Dispatch::Pending(f(args))),
        }
    }
}

enum Dispatch {
    Done(Vec<u8>),
    Pending(ReplyFuture),
}

/// The network: ends, servers, the knobs, and the counters.
#[derive(Clone)]
pub struct Network(Rc<NetworkState>);

struct NetworkState {
    sim: Sim,
    knobs: Cell<Knobs>,
    ends: RefCell<Vec<EndState>>,
    end_ids: RefCell<BTreeMap<String, usize>>,
    servers: RefCell<BTreeMap<String, ServerEntry>>,
    next_incarnation: Cell<u64>,
    total_count: Cell<u64>,
    total_bytes: Cell<u64>,
    // Woken on every topology change, so pending handlers re-check whether their server is gone.
    changed: Notify,
}

#[derive(Clone, Copy)]
struct Knobs {
    reliable: bool,
    long_delays: bool,
    long_reordering: bool,
    call_timeout: Option<Duration>,
}

struct EndState {
    name: String,
    enabled: bool,
    server: Option<String>,
    /// The recorder's lanes this end joins (`from` calls `to`), if the tester named them.
    route: Option<(Lane, Lane)>,
}

struct ServerEntry {
    server: Server,
    // Distinguishes a server from the one that replaced it under the same name.
    incarnation: u64,
}

/// The target of a call as seen when it was made.
struct Target {
    server: Server,
    name: String,
    incarnation: u64,
}

impl Network {
    /// A reliable network with no ends and no servers.
    pub fn new(sim: &Sim) -> Network {
        Network(Rc::new(NetworkState {
            sim: sim.clone(),
            knobs: Cell::new(Knobs {
                reliable: true,
                long_delays: false,
                long_reordering: false,
                call_timeout: Some(DEFAULT_CALL_TIMEOUT),
            }),
            ends: RefCell::default(),
            end_ids: RefCell::default(),
            servers: RefCell::default(),
            next_incarnation: Cell::new(1),
            total_count: Cell::new(0),
            total_bytes: Cell::new(0),
            changed: Notify::new(),
        }))
    }

    fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        let mut knobs = self.0.knobs.get();
        f(&mut knobs);
        self.0.knobs.set(knobs);
    }

    /// Reliable: no loss, no extra delay. Unreliable: 0–26 ms request delay, 10% request and 10%
    /// reply loss.
    pub fn set_reliable(&self, reliable: bool) {
        if self.0.knobs.get().reliable != reliable {
            let text = if reliable {
                "network reliable"
            } else {
                "network unreliable"
            };
            self.0.sim.recorder().action(None, text);
        }
        self.update_knobs(|k| k.reliable = reliable);
    }

    /// Calls to disabled ends or missing servers fail after 0–7000 ms instead of 0–100 ms.
    pub fn set_long_delays(&self, long_delays: bool) {
        self.update_knobs(|k| k.long_delays = long_delays);
    }

    /// Hold back about 2/3 of replies by 200 + rand(1 + rand(2000)) ms.
    pub fn set_long_reordering(&self, long_reordering: bool) {
        if self.0.knobs.get().long_reordering != long_reordering {
            let text = format!(
                "long reordering {}",
                if long_reordering { "on" } else { "off" }
            );
            self.0.sim.recorder().action(None, text);
        }
        self.update_knobs(|k| k.long_reordering = long_reordering);
    }

    /// How long a call waits for its handler (`None`: forever).
    pub fn set_call_timeout(&self, timeout: Option<Duration>) {
        self.update_knobs(|k| k.call_timeout = timeout);
    }

    pub fn is_reliable(&self) -> bool {
        self.0.knobs.get().reliable
    }

    /// Create a client end named `name` (disabled and unconnected, as in the course). A second end
    /// with the same name is the same end.
    pub fn make_end(&self, name: impl Into<String>) -> ClientEnd {
        let name = name.into();
        let mut ids = self.0.end_ids.borrow_mut();
        let id = *ids.entry(name.clone()).or_insert_with(|| {
            let mut ends = self.0.ends.borrow_mut();
            ends.push(EndState {
                name: name.clone(),
                enabled: false,
                server: None,
                route: None,
            });
            ends.len() - 1
        });
        ClientEnd {
            net: self.clone(),
            id,
        }
    }

    fn with_end<T>(&self, name: &str, f: impl FnOnce(&mut EndState) -> T) -> T {
        let id = *self
            .0
            .end_ids
            .borrow()
            .get(name)
            .unwrap_or_else(|| panic!("no client end named {name:?}; create it with make_end"));
        f(&mut self.0.ends.borrow_mut()[id])
    }

    /// Say which lanes of the run's picture end `end` joins (server `s0` calling `s2`, client
    /// `c1003` calling `s1`), so that its calls are recorded as messages between them and its
    /// enabling and cutting as link changes. Ends without a route are not recorded.
    pub fn label_end(&self, end: &str, from: &str, to: &str) {
        let rec = self.0.sim.recorder();
        let route = (rec.lane(from), rec.lane(to));
        self.with_end(end, |e| e.route = Some(route));
    }

    /// Route end `end` to the server named `server` (which may be added later).
    pub fn connect(&self, end: &str, server: &str) {
        self.with_end(end, |e| e.server = Some(server.to_string()));
        self.0.changed.notify_waiters();
    }

    /// Enable or disable end `end`. A disabled end behaves as if the network were cut.
    pub fn enable(&self, end: &str, enabled: bool) {
        let route = self.with_end(end, |e| {
            let changed = e.enabled != enabled;
            e.enabled = enabled;
            e.route.filter(|_| changed)
        });
        if let Some((from, to)) = route {
            self.0.sim.recorder().link(from, to, enabled);
        }
        self.0.changed.notify_waiters();
    }

    /// Register `server` under `name`, replacing (and so killing) any server of that name.
    pub fn add_server(&self, name: &str, server: Server) {
        let incarnation = self.0.next_incarnation.get();
        self.0.next_incarnation.set(incarnation + 1);
        self.0.servers.borrow_mut().insert(
            name.to_string(),
            ServerEntry {
                server,
                incarnation,
            },
        );
        self.0.changed.notify_waiters();
    }

    /// Remove the server `name`: calls in flight to it fail and its late replies are never delivered.
    pub fn delete_server(&self, name: &str) {
        self.0.servers.borrow_mut().remove(name);
        self.0.changed.notify_waiters();
    }

    /// Requests delivered to the server currently registered as `name` (0 if none).
    pub fn count(&self, name: &str) -> u64 {
        self.0
            .servers
            .borrow()
            .get(name)
            .map_or(0, |s| s.server.count())
    }

    /// Calls made through any end, delivered or not.
    pub fn total_count(&self) -> u64 {
        self.0.total_count.get()
    }

    /// Serialized bytes of every request sent and every reply delivered.
    pub fn total_bytes(&self) -> u64 {
        self.0.total_bytes.get()
    }

    fn add_bytes(&self, n: usize) {
        self.0.total_bytes.set(self.0.total_bytes.get() + n as u64);
    }

    /// The server end `id` reaches right now, if the end is enabled and connected to a live server.
    fn target(&self, id: usize) -> Option<Target> {
        let ends = self.0.ends.borrow();
        let end = &ends[id];
        if !end.enabled {
            return None;
        }
        let name = end.server.as_ref()?;
        let servers = self.0.servers.borrow();
        let entry = servers.get(name)?;
        Some(Target {
            server: entry.server.clone(),
            name: name.clone(),
            incarnation: entry.incarnation,
        })
    }

    /// Whether end `id` still reaches the same server incarnation (the course's `isServerDead`).
    fn still_reaches(&self, id: usize, target: &Target) -> bool {
        self.0.ends.borrow()[id].enabled && self.is_alive(target)
    }

    /// Whether the server `target` named is still registered (not deleted or replaced).
    fn is_alive(&self, target: &Target) -> bool {
        self.0
            .servers
            .borrow()
            .get(&target.name)
            .is_some_and(|s| s.incarnation == target.incarnation)
    }

    /// Per mille chance.
    fn chance(&self, per_mille: u32) -> bool {
        self.0.sim.random_range(0..1000u32) < per_mille
    }
}

/// One client's end of a connection. Cheap to clone.
#[derive(Clone)]
pub struct ClientEnd {
    net: Network,
    id: usize,
}

/// Why a call got no reply, as the recording says it.
fn loss_reason(error: &RpcError) -> &'static str {
    match error {
        RpcError::RequestLost => "request lost",
        RpcError::ReplyLost => "reply lost",
        RpcError::Unreachable => "unreachable",
        RpcError::Timeout(_) => "timeout",
        _ => "error",
    }
}

/// Trace event kinds.
#[derive(Hash)]
enum Ev {
    Call,
    RequestLost,
    Delivered,
    ReplyLost,
    Reply,
    Failed,
}

impl ClientEnd {
    /// This end's name.
    pub fn name(&self) -> String {
        self.net.0.ends.borrow()[self.id].name.clone()
    }

    /// Send `request` and wait for the reply.
    pub async fn call<R: Rpc>(&self, request: &R) -> Result<R::Reply, RpcError> {
        let args = encode(request, R::METHOD, "request")?;
        let reply = self
            .send(R::METHOD, Some(std::any::type_name::<R>()), args)
            .await?;
        decode(&reply, R::METHOD, "reply")
    }

    /// Send already-serialized `args` to `method` and return the serialized reply, with no type
    /// check: the handler decodes whatever arrives.
    pub async fn call_raw(&self, method: &str, args: Vec<u8>) -> Result<Vec<u8>, RpcError> {
        self.send(method, None, args).await
    }

    async fn send(
        &self,
        method: &str,
        request_type: Option<&str>,
        args: Vec<u8>,
    ) -> Result<Vec<u8>, RpcError> {
        let net = &self.net;
        let sim = &net.0.sim;
        let knobs = net.0.knobs.get();
        net.0.total_count.set(net.0.total_count.get() + 1);
        net.add_bytes(args.len());
        sim.record((Ev::Call, self.id, method, args.len()));

        let route = net.0.ends.borrow()[self.id].route;
        let call = route.and_then(|(from, to)| sim.recorder().send(from, to, method, args.len()));
        let result = (self.deliver(method, request_type, &args, knobs, call, route)).await;
        match &result {
            Ok(reply) => sim.record((Ev::Reply, self.id, reply.len())),
            Err(_) => sim.record((Ev::Failed, self.id)),
        }
        if let Some((from, to)) = route {
            let why = result.as_ref().err().map_or("", loss_reason);
            if !why.is_empty() {
                sim.recorder().log_lost(method, from, to, why);
            }
            if let Some(call) = call {
                sim.recorder().end_call(call, why, args);
            }
        }
        result
    }

    async fn deliver(
        &self,
        method: &str,
        request_type: Option<&str>,
        args: &[u8],
        knobs: Knobs,
        call: Option<u64>,
        route: Option<(Lane, Lane)>,
    ) -> Result<Vec<u8>, RpcError> {
        let net = &self.net;
        let sim = &net.0.sim;
        let Some(target) = net.target(self.id) else {
            // As in the course: a cut-off call fails, but only after a while.
            let max = if knobs.long_delays {
                LONG_DELAY_MS
            } else {
                SHORT_DELAY_MS
            };
            let ms = sim.random_range(0..max);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            return Err(RpcError::Unreachable);
        };

        let mut delay = RELIABLE_LATENCY;
        if !knobs.reliable {
            delay += Duration::from_millis(sim.random_range(0..UNRELIABLE_MAX_DELAY_MS));
        }
        tokio::time::sleep(delay).await;
        sim.checkpoint().await;
        if !knobs.reliable && net.chance(UNRELIABLE_LOSS_PER_MILLE) {
            sim.record((Ev::RequestLost, self.id));
            return Err(RpcError::RequestLost);
        }
        // The end may have been cut, or the server killed, while the request was on its way.
        if !net.still_reaches(self.id, &target) {
            return Err(RpcError::Unreachable);
        }
        sim.record((Ev::Delivered, self.id));
        if let Some((from, to)) = route {
            sim.recorder().log_delivered(method, from, to);
        }
        if let Some(call) = call {
            sim.recorder().deliver(call);
        }

        let reply = match target.server.dispatch(method, request_type, args)? {
            Dispatch::Done(reply) => reply,
            Dispatch::Pending(handler) => self.await_handler(handler, &target, knobs).await?,
        };
        if !net.still_reaches(self.id, &target) {
            return Err(RpcError::Unreachable);
        }
        if !knobs.reliable && net.chance(UNRELIABLE_LOSS_PER_MILLE) {
            sim.record((Ev::ReplyLost, self.id));
            return Err(RpcError::ReplyLost);
        }
        if knobs.long_reordering && sim.random_range(0..900u32) < 600 {
            let spread = sim.random_range(0..2000u64);
            let ms = 200 + sim.random_range(0..=spread);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            sim.checkpoint().await;
            // A deleted server's late replies are never delivered.
            if !net.is_alive(&target) {
                return Err(RpcError::Unreachable);
            }
        }
        net.add_bytes(reply.len());
        Ok(reply)
    }

    /// Wait for an asynchronous handler, giving up if the server goes away or the timeout passes.
    async fn await_handler(
        &self,
        mut handler: ReplyFuture,
        target: &Target,
        knobs: Knobs,
    ) -> Result<Vec<u8>, RpcError> {
        let net = &self.net;
        let timeout = async {
            match knobs.call_timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        loop {
            // Register for change notifications before checking, so no change is missed.
            let changed = net.0.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !net.still_reaches(self.id, target) {
                return Err(RpcError::Unreachable);
            }
            tokio::select! {
                biased;
                reply = &mut handler => return reply,
                _ = &mut changed => continue,
                _ = &mut timeout => {
                    return Err(RpcError::Timeout(knobs.call_timeout.unwrap_or_default()));
                }
            }
        }
    }
}
