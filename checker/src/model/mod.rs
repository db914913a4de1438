//! The model checker's Raft model: the **same** [`raft::Raft`] the labs run (or any type with the
//! contract's handlers, see [`RaftNode`]), wrapped as a `stateright` actor.
//!
//! stateright explores every order in which timers fire, messages are delivered (and, depending on
//! the network semantics, lost, duplicated or reordered), and servers crash and restart from their
//! persisted bytes. The model client's `commands` proposals are offered to every server at any time
//! (as timers that may fire whenever): a server that leads and lacks the command starts it.
//!
//! Besides the servers, the model keeps **ghost** state for the properties (who led which term,
//! what was applied, violations seen along the way): Raft never sees it and crashes do not erase
//! it. A crashed server keeps nothing but what it persisted, so states that differ only in what a
//! crashed server had in memory are one state.

pub mod cli;
pub mod node;
pub mod panics;
pub mod properties;
pub mod search;
pub mod shared;
pub mod state;
mod step;
pub mod symmetry;
pub mod trace;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;

use std::marker::PhantomData;
use std::sync::Arc;

pub use node::RaftNode;
use raft::contract::{ApplyMsg, Command, Effects, Persisted, Reply, Request, Timer, TimerOp};
pub use shared::{Counted, Shared};
#[doc(hidden)]
pub use stateright;
use stateright::actor::{Actor, ActorModel, ActorModelAction, Envelope, Id, LossyNetwork, Out};
use stateright::{Model, Path, Property};
use thread_local::ThreadLocal;

/// How the model's network may treat messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkSemantics {
    /// Messages between two servers arrive in the order sent, each once.
    Ordered,
    /// Messages arrive in any order, each at most once.
    Unordered,
    /// Messages arrive in any order, any number of times (covers loss, reordering, duplication).
    Duplicating,
    /// One thing at a time: messages are delivered one by one in the order they were sent (across
    /// all servers), and timers fire and servers crash or restart only when no message is in
    /// flight, so each event's consequences play out before the next event. A bound on
    /// concurrency with far fewer interleavings than `Ordered`; it misses every bug that needs a
    /// message to overtake another or to be in flight while a timer fires. A message to a crashed
    /// server is lost.
    Sequential,
}

/// The bounds of one model-checking run. Every field is printed with the results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub servers: usize,
    /// States in which some server's term exceeds this are not explored.
    pub max_term: u64,
    /// Client commands proposed (each to every server).
    pub commands: usize,
    /// Crashes (each followed, nondeterministically, by a recovery).
    pub crashes: usize,
    pub network: NetworkSemantics,
    /// Whether the network may also lose messages.
    ///
    /// With an unordered network a message that is never delivered is as good as lost, so losses
    /// matter only for the `max_in_flight` bound: a step that leaves more than `max_in_flight`
    /// messages in flight also loses, in that same step, enough of them (any of them: one action
    /// per choice, see [`RaftAction`]) that `max_in_flight` remain. This reaches every server
    /// state that losing messages at any time would (move each loss to just before the first
    /// step that needs its room), without the network states of every subset of the messages in
    /// flight. With an ordered network the first message of a channel may be lost at any time. A
    /// duplicating network needs no losses: it may deliver a message any number of times, or never.
    pub lossy: bool,
    /// Whether servers take snapshots of what they applied (exercises the 2D code).
    pub snapshots: bool,
    /// With non-duplicating networks: states with more messages in flight are not explored.
    pub max_in_flight: usize,
    /// With a lossy network: at most this many messages are lost in all (unlimited if `None`).
    /// On an unordered network a step that would need more losses than are left ends the path.
    pub max_losses: Option<usize>,
}

/// The default bound, which `checker check` and CI explore completely in seconds: three servers,
/// terms 1 and 2, one command, an unordered network with up to six messages in flight, no crashes.
/// It covers split votes, a leader elected in term 1 with its command replicated to some, none or
/// all followers, and a second election in term 2 that must preserve what was committed in term 1
/// (where the up-to-date check, log repair and Figure 8's rule all matter).
impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            servers: 3,
            max_term: 2,
            commands: 1,
            crashes: 0,
            network: NetworkSemantics::Unordered,
            lossy: false,
            snapshots: false,
            max_in_flight: 6,
            max_losses: None,
        }
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "servers={} max_term={} commands={} crashes={} network={:?}{}{}",
            self.servers,
            self.max_term,
            self.commands,
            self.crashes,
            self.network,
            if self.lossy { "+lossy" } else { "" },
            if self.snapshots { " snapshots=on" } else { "" },
        )?;
        if self.network != NetworkSemantics::Duplicating {
            write!(f, " max_in_flight={}", self.max_in_flight)?;
        }
        if let (true, Some(n)) = (self.lossy, self.max_losses) {
            write!(f, " max_losses={n}")?;
        }
        Ok(())
    }
}

impl Bounds {
    /// The `checker check`/`checker explore` flags that give these bounds (every one, so that
    /// they mean the same whatever the defaults).
    pub fn to_flags(&self) -> String {
        let network = match self.network {
            NetworkSemantics::Ordered => "ordered",
            NetworkSemantics::Unordered => "unordered",
            NetworkSemantics::Duplicating => "duplicating",
            NetworkSemantics::Sequential => "sequential",
        };
        let mut flags = format!(
            "--servers {} --max-term {} --commands {} --crashes {} --network {network} \
             --max-in-flight {}",
            self.servers, self.max_term, self.commands, self.crashes, self.max_in_flight
        );
        if self.lossy {
            flags.push_str(" --lossy");
        }
        if let Some(n) = self.max_losses {
            flags.push_str(&format!(" --max-losses {n}"));
        }
        if self.snapshots {
            flags.push_str(" --snapshots");
        }
        flags
    }
}

/// A message on the model's network. Requests are [`Shared`]: a message is cloned with every
/// state that holds it, and a reply carries its request along.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    /// A Raft RPC request.
    Request(Shared<Request>),
    /// The reply to `request`, sent back to its sender.
    Reply {
        request: Shared<Request>,
        reply: Reply,
    },
}

/// The model's timers: Raft's own, the client offering command `k` to this server, and the service
/// deciding to take a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModelTimer {
    Raft(Timer),
    Propose(u8),
    Snapshot,
}

/// Verification-only state of the whole cluster, kept by the model beside the servers (in the
/// model's history): Raft never sees it, and crashes do not erase it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// The server that led each term, for the terms some server may still lead: a server's term
    /// never goes down (the "current term never decreases" property checks it), so terms below
    /// every server's current term are forgotten. Forgetting keeps states that differ only in who
    /// led a long-gone term from multiplying.
    pub leaders: BTreeMap<u64, usize>,
    /// Every index a server applied: the command, and the lowest term any server was in when it
    /// applied it (an upper bound on the term in which the entry was committed).
    pub applied: BTreeMap<u64, (Command, u64)>,
    /// The first violation of each property that is checked step by step (all but log
    /// matching and leader completeness, which look at the servers as they are), and why.
    pub violations: BTreeMap<&'static str, String>,
}

/// What a server's step did that the model's ghost state records (the model moves these into
/// [`Ghost`] right after the step, so no state keeps any).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GhostEvent {
    /// The server applied `command` at `index` (one event per command of an applied snapshot).
    Applied { index: u64, command: Command },
    /// The step broke a property that only the server can see break.
    Violation { property: &'static str, why: String },
}

/// What a server saves: Raft's persisted bytes.
#[derive(Clone, Debug, Default, PartialEq, Hash)]
pub struct Stored {
    pub state: Shared<Vec<u8>>,
    pub snapshot: Shared<Vec<u8>>,
}

/// One server's state in the model. The parts are [`Shared`]: a step changes one server, and
/// usually only its Raft state, so the rest is shared with the state before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server<R: 'static> {
    /// `None` while the server is crashed (what it had in memory is gone: only what it persisted
    /// matters from then on), or if it could not restart from its persisted bytes.
    pub raft: Option<Shared<R>>,
    /// The last bytes saved (as in the storage).
    pub state: Shared<Vec<u8>>,
    pub snapshot: Shared<Vec<u8>>,
    /// The service's last applied index in this incarnation (for taking snapshots; always 0
    /// when the model takes no snapshots, so that it adds no states).
    pub service_index: u64,
    /// The service's state machine, the commands applied by index: what its snapshots hold (kept
    /// only when the model takes snapshots).
    pub service: Shared<ServiceSnapshot>,
    /// While crashed: the term the server had when it crashed, so that a restart into an
    /// earlier term shows.
    pub crashed_in_term: Option<u64>,
    /// What the last step did for the ghost state to record; always empty between steps.
    pub events: Vec<GhostEvent>,
}

impl<R: RaftNode> Server<R> {
    /// The server's current term: its Raft's, or while crashed the one it crashed in.
    pub fn term(&self) -> Option<u64> {
        match &self.raft {
            Some(raft) => Some(raft.state().0),
            None => self.crashed_in_term,
        }
    }
}

/// Runs one Raft server (of type `R`) for stateright.
#[derive(Clone, Debug)]
pub struct RaftActor<R> {
    pub servers: usize,
    pub commands: usize,
    pub snapshots: bool,
    raft: PhantomData<fn() -> R>,
}

/// Snapshot contents in the model: the applied commands by index.
pub type ServiceSnapshot = BTreeMap<u64, Command>;

impl<R: RaftNode> Actor for RaftActor<R> {
    type Msg = Msg;
    type Timer = ModelTimer;
    type State = Server<R>;
    type Storage = Stored;
    type Random = ();

    fn on_start(&self, id: Id, storage: &Option<Stored>, o: &mut Out<Self>) -> Server<R> {
        let me = usize::from(id);
        let stored = storage.clone().unwrap_or_default();
        let persisted = Persisted {
            state: stored.state.to_vec(),
            snapshot: stored.snapshot.to_vec(),
        };
        let mut out = Effects::default();
        let mut events = Vec::new();
        // The cluster's initial configuration: servers 0..servers (a Raft may learn others from
        // its log; the model delivers only to the servers it runs).
        let peers: Vec<usize> = (0..self.servers).collect();
        let booted = panics::catch(|| {
            let booted = R::new(me, &peers, &persisted, &mut out);
            if let Ok(raft) = &booted {
                // What the model and the properties read of a server: a Raft that panics there
                // panics here, where it is caught and reported.
                let _ = (raft.state(), raft.observe());
            }
            booted
        });
        let raft = match booted {
            Ok(Ok(raft)) => Some(Shared::new(raft)),
            Ok(Err(e)) => {
                events.push(GhostEvent::Violation {
                    property: properties::RESTARTS,
                    why: format!("server {me} could not restart from its persisted state: {e}"),
                });
                None
            }
            Err(panic) => {
                // Whatever the handler asked for before it panicked is not carried out.
                out = Effects::default();
                let doing = match storage {
                    Some(_) => "restarting from its persisted state",
                    None => "starting",
                };
                events.push(GhostEvent::Violation {
                    property: properties::NO_PANIC,
                    why: panics::describe(&panic, me, doing),
                });
                None
            }
        };
        let service_index = match &raft {
            Some(r) if self.snapshots => r.observe().snapshot_index,
            _ => 0,
        };
        // The service restarts from the snapshot it persisted through Raft (an unreadable one
        // shows when Raft delivers it).
        let service = if self.snapshots && !stored.snapshot.is_empty() {
            postcard::from_bytes::<ServiceSnapshot>(&stored.snapshot).unwrap_or_default()
        } else {
            ServiceSnapshot::new()
        };
        let mut server = Server {
            raft,
            state: stored.state,
            snapshot: stored.snapshot,
            service_index,
            service: Shared::new(service),
            crashed_in_term: None,
            events,
        };
        for k in 1..=self.commands {
            o.set_timer(
                ModelTimer::Propose(k as u8),
                stateright::actor::model_timeout(),
            );
        }
        if self.snapshots {
            o.set_timer(ModelTimer::Snapshot, stateright::actor::model_timeout());
        }
        self.carry_out(me, &mut server, out, o);
        server
    }

    fn on_msg(&self, id: Id, state: &mut Cow<Server<R>>, src: Id, msg: Msg, o: &mut Out<Self>) {
        let me = usize::from(id);
        let from = usize::from(src);
        if state.raft.is_none() {
            return;
        }
        match msg {
            Msg::Request(request) => {
                let doing = || format!("handling {} from server {from}", method(&request));
                let reply = self.step(me, state, o, doing, |rf, out| {
                    rf.on_request(from, (*request).clone(), out)
                });
                if let Some(reply) = reply {
                    o.send(src, Msg::Reply { request, reply });
                }
            }
            Msg::Reply { request, reply } => {
                let doing = || {
                    format!(
                        "handling the reply to its {} from server {from}",
                        method(&request)
                    )
                };
                self.step(me, state, o, doing, |rf, out| {
                    rf.on_reply(from, (*request).clone(), reply, out)
                });
            }
        }
    }

    fn on_timeout(
        &self,
        id: Id,
        state: &mut Cow<Server<R>>,
        timer: &ModelTimer,
        o: &mut Out<Self>,
    ) {
        let me = usize::from(id);
        if state.raft.is_none() {
            return;
        }
        match timer {
            ModelTimer::Raft(timer) => {
                let doing = || format!("on its {timer:?} timer");
                self.step(me, state, o, doing, |rf, out| rf.on_timer(*timer, out));
            }
            ModelTimer::Propose(k) => {
                let command = vec![*k];
                // In its log, or in its service's state machine (a snapshot may have trimmed it
                // from the log: proposing it again would grow the log forever).
                let offer = self.read(me, state, "reading its state", |raft, server| {
                    let has_it = raft.observe().entries.iter().any(|e| e.command == command)
                        || server.service.values().any(|c| *c == command);
                    raft.state().1 && !has_it
                });
                if offer == Some(true) {
                    let doing = || format!("starting command [{k}]");
                    self.step(me, state, o, doing, |rf, out| {
                        rf.start(command, out);
                    });
                }
                // Offered again and again; firing while nothing happens is a no-op for stateright.
                o.set_timer(timer.clone(), stateright::actor::model_timeout());
            }
            ModelTimer::Snapshot => {
                let index = state.service_index;
                let snapshot_index = self.read(me, state, "reading its state", |raft, _| {
                    raft.observe().snapshot_index
                });
                if snapshot_index.is_some_and(|snapshot_index| index > snapshot_index) {
                    let data: ServiceSnapshot = state
                        .service
                        .range(..=index)
                        .map(|(i, c)| (*i, c.clone()))
                        .collect();
                    let data = postcard::to_allocvec(&data).expect("encoding to memory");
                    let doing = || format!("taking a snapshot up to index {index}");
                    self.step(me, state, o, doing, |rf, out| rf.snapshot(index, data, out));
                }
                o.set_timer(ModelTimer::Snapshot, stateright::actor::model_timeout());
            }
        }
    }
}

/// A request's method without the service's name: `RequestVote`.
fn method(request: &Request) -> &'static str {
    request.method().trim_start_matches("Raft.")
}

impl<R: RaftNode> RaftActor<R> {
    /// Run one Raft handler and carry out its effects. If the handler panics (or the Raft panics
    /// when read right after it), the server stays as it was, nothing it asked for is carried
    /// out, and the step records a violation of [`properties::NO_PANIC`] saying what the server
    /// was `doing`; the result is then `None`.
    fn step<T>(
        &self,
        me: usize,
        state: &mut Cow<Server<R>>,
        o: &mut Out<Self>,
        doing: impl FnOnce() -> String,
        handler: impl FnOnce(&mut R, &mut Effects) -> T,
    ) -> Option<T> {
        // Work on a copy, and write the state back only if something changed: stateright treats
        // an untouched state as a no-op, which keeps repeated timers from adding states.
        let old = state.raft.clone()?;
        let ran = panics::catch(|| {
            let mut raft = R::clone(&old);
            let mut out = Effects::default();
            let result = handler(&mut raft, &mut out);
            // What the model and the properties read of a server: a Raft that panics there
            // panics here, where it is caught and reported.
            let _ = (raft.state(), raft.observe());
            let unchanged = out.is_empty() && *old == raft;
            (raft, out, result, unchanged)
        });
        let (raft, out, result, unchanged) = match ran {
            Ok(ran) => ran,
            Err(panic) => {
                self.panicked(me, state, &panic, &doing());
                return None;
            }
        };
        if unchanged {
            return Some(result);
        }
        let server = state.to_mut();
        server.raft = Some(Shared::new(raft));
        self.carry_out(me, server, out, o);
        Some(result)
    }

    /// Read the server's Raft (and the rest of the server) with `read`; `None` if it has no Raft,
    /// or if the Raft panicked (which is recorded as for a handler, see [`Self::step`]).
    fn read<T>(
        &self,
        me: usize,
        state: &mut Cow<Server<R>>,
        doing: &str,
        read: impl FnOnce(&R, &Server<R>) -> T,
    ) -> Option<T> {
        let server: &Server<R> = state;
        let raft = server.raft.as_ref()?;
        match panics::catch(|| read(raft, server)) {
            Ok(value) => Some(value),
            Err(panic) => {
                self.panicked(me, state, &panic, doing);
                None
            }
        }
    }

    /// Record that server `me` panicked (see [`Self::step`]).
    fn panicked(&self, me: usize, state: &mut Cow<Server<R>>, panic: &panics::Panic, doing: &str) {
        state.to_mut().events.push(GhostEvent::Violation {
            property: properties::NO_PANIC,
            why: panics::describe(panic, me, doing),
        });
    }

    /// Carry out effects in the contract's order: persist, send, timers, apply.
    fn carry_out(&self, me: usize, server: &mut Server<R>, out: Effects, o: &mut Out<Self>) {
        if let Some(p) = out.persist {
            server.state = Shared::new(p.state);
            if let Some(snapshot) = p.snapshot {
                server.snapshot = Shared::new(snapshot);
            }
            o.save(Stored {
                state: server.state.clone(),
                snapshot: server.snapshot.clone(),
            });
        }
        for (to, request) in out.sends {
            if to < self.servers && to != me {
                o.send(Id::from(to), Msg::Request(Shared::new(request)));
            }
        }
        for op in out.timers {
            match op {
                TimerOp::Set { timer, .. } => {
                    o.set_timer(ModelTimer::Raft(timer), stateright::actor::model_timeout())
                }
                TimerOp::Cancel { timer } => o.cancel_timer(ModelTimer::Raft(timer)),
            }
        }
        for msg in out.applies {
            self.apply(me, server, msg);
        }
    }

    /// The service applies `msg`: its state machine and index follow (when the model takes
    /// snapshots), and the ghost state hears of every command.
    fn apply(&self, me: usize, server: &mut Server<R>, msg: ApplyMsg) {
        let applied: Vec<(u64, Command)> = match msg {
            ApplyMsg::Command { index, command } => {
                if self.snapshots {
                    server.service_index = index;
                    server.service.update(|service| {
                        service.insert(index, command.clone());
                        true
                    });
                }
                vec![(index, command)]
            }
            ApplyMsg::Snapshot { index, data, .. } => {
                match postcard::from_bytes::<ServiceSnapshot>(&data) {
                    Ok(snapshot) => {
                        if self.snapshots {
                            server.service_index = index;
                            server.service = Shared::new(snapshot.clone());
                        }
                        snapshot.into_iter().collect()
                    }
                    Err(e) => {
                        server.events.push(GhostEvent::Violation {
                            property: properties::STATE_MACHINE_SAFETY,
                            why: format!(
                                "server {me} delivered a snapshot the service cannot read: {e}"
                            ),
                        });
                        return;
                    }
                }
            }
        };
        server.events.extend(
            applied
                .into_iter()
                .map(|(index, command)| GhostEvent::Applied { index, command }),
        );
    }
}

/// If `old` led and `new` still leads the same term, every entry of `old`'s log that a snapshot
/// has not taken since must still be in `new`'s log, unchanged.
fn append_only_violation<R: RaftNode>(me: usize, old: &R, new: &R) -> Option<String> {
    let (term, true) = old.state() else {
        return None;
    };
    if new.state() != (term, true) {
        return None;
    }
    let (before, after) = (old.observe(), new.observe());
    // Entries that a snapshot took since are not the leader's to keep in its log.
    let from = after.snapshot_index.max(before.snapshot_index);
    fn kept<'a>(view: &raft::contract::Observation<'a>, from: u64) -> &'a [raft::messages::Entry] {
        let skip = (from - view.snapshot_index) as usize;
        view.entries.get(skip..).unwrap_or_default()
    }
    let (old_kept, new_kept) = (kept(&before, from), kept(&after, from));
    if new_kept.starts_with(old_kept) {
        return None;
    }
    let listed = |kept: &[raft::messages::Entry]| {
        (from + 1..)
            .zip(kept)
            .map(|(i, e)| (i, e.term, e.command.clone()))
            .collect::<Vec<_>>()
    };
    Some(format!(
        "server {me}, leader of term {term}, changed entries of its own log: \
         {:?} became {:?}",
        listed(old_kept),
        listed(new_kept)
    ))
}

/// Record a violation of `property` in `ghost`, unless one is recorded already.
fn violated(ghost: &mut Cow<Ghost>, property: &'static str, why: impl FnOnce() -> String) {
    if !ghost.violations.contains_key(property) {
        ghost.to_mut().violations.insert(property, why());
    }
}

/// Record in `ghost` what server `me` did in a step, from its state before and after it and the
/// events of the step. Reads first, and makes a new ghost state only when there is something new.
fn record<R: RaftNode>(
    ghost: &mut Shared<Ghost>,
    me: usize,
    before: Option<&Server<R>>,
    after: &Server<R>,
    events: &[GhostEvent],
) {
    let mut edited = Cow::Borrowed(&**ghost);
    record_in(&mut edited, me, before, after, events);
    if let Cow::Owned(edited) = edited {
        *ghost = Shared::new(edited);
    }
}

fn record_in<R: RaftNode>(
    ghost: &mut Cow<Ghost>,
    me: usize,
    before: Option<&Server<R>>,
    after: &Server<R>,
    events: &[GhostEvent],
) {
    let term = after.raft.as_ref().map(|r| r.state().0);
    for event in events {
        match event {
            GhostEvent::Violation { property, why } => {
                violated(ghost, property, || why.clone());
            }
            GhostEvent::Applied { index, command } => {
                let term = term.unwrap_or(0);
                match ghost.applied.get(index) {
                    Some((first, _)) if first != command => {
                        let first = first.clone();
                        violated(ghost, properties::STATE_MACHINE_SAFETY, || {
                            format!(
                                "server {me} applied {command:?} at index {index}, \
                                 where {first:?} was applied before"
                            )
                        });
                    }
                    Some((_, lowest)) if *lowest <= term => {}
                    _ => {
                        ghost
                            .to_mut()
                            .applied
                            .insert(*index, (command.clone(), term));
                    }
                }
            }
        }
    }
    if let Some(raft) = &after.raft
        && let (term, true) = raft.state()
    {
        match ghost.leaders.get(&term) {
            Some(&other) if other != me => {
                violated(ghost, properties::ELECTION_SAFETY, || {
                    format!("servers {other} and {me} both led term {term}")
                });
            }
            Some(_) => {}
            None => {
                ghost.to_mut().leaders.insert(term, me);
            }
        }
    }
    let Some(before) = before else {
        return;
    };
    if let (Some(old), Some(new)) = (before.term(), after.term())
        && new < old
    {
        let how = if before.raft.is_none() {
            "restarted"
        } else {
            "stepped"
        };
        violated(ghost, properties::TERMS_NEVER_DECREASE, || {
            format!("server {me} {how} from term {old} into term {new}")
        });
    }
    if let (Some(old), Some(new)) = (&before.raft, &after.raft)
        && let Some(why) = append_only_violation(me, &**old, &**new)
    {
        violated(ghost, properties::LEADER_APPEND_ONLY, || why);
    }
}

/// The model's history: the ghost state; with the sequential network, the messages in flight in
/// the order they were sent (empty otherwise); and how many messages the network lost so far
/// (counted only when `max_losses` bounds it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct History {
    pub ghost: Shared<Ghost>,
    pub sent: Shared<std::collections::VecDeque<Envelope<Msg>>>,
    pub lost: usize,
}

pub use state::{Flight, Machine, RaftState};
use step::{MachineStep, Memo, Sheddings};

/// One step of stateright's actor model: a delivery, a timer, a crash, a recovery, or (on an
/// ordered or sequential lossy network) a loss.
pub type ActorStep = ActorModelAction<Msg, ModelTimer, ()>;

/// One step of the Raft model: an actor step, then the messages the network loses at once
/// because the step left more than `max_in_flight` in flight (see [`Bounds::lossy`]; never any
/// unless the network is lossy and unordered).
///
/// Folding the losses into the step that makes them necessary, rather than losing one message
/// per step, keeps the states in between (over `max_in_flight`, where nothing else may happen)
/// out of the state space: they were two thirds of it.
pub struct RaftAction<R: RaftNode> {
    pub step: ActorStep,
    /// The state right after `step` and before the losses. The loss choices depend on what the
    /// step sent, so the model runs the step once, when it lists the actions, and every choice
    /// shares the result. A cache, not part of the action's identity.
    after_step: Option<Arc<RaftState<R>>>,
    /// The losses: one of the ways to shed the excess, by its place in the list of them.
    shedding: Option<(Sheddings, usize)>,
}

impl<R: RaftNode> RaftAction<R> {
    /// A step with no losses.
    pub fn step(step: ActorStep) -> Self {
        RaftAction {
            step,
            after_step: None,
            shedding: None,
        }
    }

    /// The messages the network loses right after the step (sorted; a message in flight twice
    /// may be lost twice).
    pub fn lost(&self) -> &[Envelope<Msg>] {
        match &self.shedding {
            Some((sheddings, at)) => &sheddings[*at].lost,
            None => &[],
        }
    }
}

impl<R: RaftNode> Clone for RaftAction<R> {
    fn clone(&self) -> Self {
        RaftAction {
            step: self.step.clone(),
            after_step: self.after_step.clone(),
            shedding: self.shedding.clone(),
        }
    }
}

impl<R: RaftNode> PartialEq for RaftAction<R> {
    fn eq(&self, other: &Self) -> bool {
        self.step == other.step && self.lost() == other.lost()
    }
}

impl<R: RaftNode> Eq for RaftAction<R> {}

impl<R: RaftNode> fmt::Debug for RaftAction<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lost().is_empty() {
            self.step.fmt(f)
        } else {
            f.debug_struct("RaftAction")
                .field("step", &self.step)
                .field("lost", &self.lost())
                .finish()
        }
    }
}

/// The Raft model: the servers as stateright actors, with this crate's state representation
/// (see [`state`]), network bounds (see [`Bounds::lossy`]) and properties on top.
pub struct RaftModel<R: RaftNode> {
    /// The same actors in stateright's own actor model: the bounds, and replays for `as_svg`.
    pub actors: ActorModel<RaftActor<R>, Bounds, History>,
    actor: RaftActor<R>,
    /// Each search thread's memory of what steps did to machines.
    memo: ThreadLocal<RefCell<Memo<R>>>,
}

impl<R: RaftNode> RaftModel<R> {
    pub fn bounds(&self) -> &Bounds {
        &self.actors.cfg
    }

    /// After a step (or at the start): the ghost forgets the leaders of terms no server can lead
    /// any more.
    fn forget_old_leaders(&self, next: &mut RaftState<R>) {
        let ghost = &mut next.history.ghost;
        if let Some(lowest) = next.machines.iter().filter_map(|m| m.server.term()).min()
            && ghost
                .leaders
                .first_key_value()
                .is_some_and(|(t, _)| *t < lowest)
        {
            ghost.update(|g| {
                g.leaders.retain(|t, _| *t >= lowest);
                true
            });
        }
    }

    /// Whether this model loses messages only to keep at most `max_in_flight` of them in flight
    /// (see [`Bounds::lossy`]).
    fn sheds(&self) -> bool {
        self.bounds().lossy && self.bounds().network == NetworkSemantics::Unordered
    }

    fn ordered(&self) -> bool {
        matches!(
            self.bounds().network,
            NetworkSemantics::Ordered | NetworkSemantics::Sequential
        )
    }

    /// stateright's actor-model actions in `state`, in the order its `ActorModel` lists them:
    /// losses (where its network loses), deliveries, timers, crashes, recoveries.
    fn actor_steps(&self, state: &RaftState<R>, steps: &mut Vec<ActorStep>) {
        // Only an ordered network needs stateright's own losses (of the first message of a
        // channel, at any time): see `Bounds::lossy` for the others. The sequential network lists
        // its own losses (see `actions`).
        let bounds = self.bounds();
        let drops = bounds.lossy && bounds.network == NetworkSemantics::Ordered;
        let deliverable = state.network.deliverable();
        if drops {
            steps.extend(
                deliverable
                    .iter()
                    .map(|e| ActorModelAction::Drop(e.to_cloned_msg())),
            );
        }
        steps.extend(deliverable.iter().map(|e| ActorModelAction::Deliver {
            src: e.src,
            dst: e.dst,
            msg: e.msg.clone(),
        }));
        for (i, machine) in state.machines.iter().enumerate() {
            for timer in &machine.timers {
                steps.push(ActorModelAction::Timeout(Id::from(i), timer.clone()));
            }
        }
        let down = state.machines.iter().filter(|m| m.crashed).count();
        if down < bounds.crashes {
            for (i, machine) in state.machines.iter().enumerate() {
                if !machine.crashed {
                    steps.push(ActorModelAction::Crash(Id::from(i)));
                }
            }
        }
        for (i, machine) in state.machines.iter().enumerate() {
            if machine.crashed {
                steps.push(ActorModelAction::Recover(Id::from(i)));
            }
        }
    }

    /// The state after `step`, as stateright's actor model computes it (`None` if the step is
    /// not enabled or, as stateright judges, changes nothing).
    fn actor_next(&self, last: &RaftState<R>, step: &ActorStep) -> Option<RaftState<R>> {
        let mut next = last.clone();
        match step {
            ActorModelAction::Drop(env) => {
                next.network.update(|n| n.take(env, false));
            }
            ActorModelAction::Deliver { src, dst, msg } => {
                let i = usize::from(*dst);
                let machine = last.machines.get(i)?;
                if machine.crashed {
                    return None;
                }
                let change = self.machine_step(i, machine, step);
                // stateright's ordered network takes a message that changes nothing out of
                // flight all the same.
                if change.no_op && !self.ordered() {
                    return None;
                }
                if self.bounds().network == NetworkSemantics::Sequential {
                    next.history.sent.update(|sent| sent.pop_front().is_some());
                }
                let delivered = Envelope {
                    src: *src,
                    dst: *dst,
                    msg: msg.clone(),
                };
                self.apply(&mut next, i, &change, Some(&delivered));
            }
            ActorModelAction::Timeout(id, _) => {
                let i = usize::from(*id);
                let change = self.machine_step(i, &last.machines[i], step);
                if change.no_op {
                    return None;
                }
                self.apply(&mut next, i, &change, None);
            }
            ActorModelAction::Crash(id) => {
                let i = usize::from(*id);
                let up = &last.machines[i].server;
                let mut server = up.clone();
                if server.raft.is_some() {
                    // Only what it persisted survives a crash.
                    server.crashed_in_term = server.raft.take().map(|r| r.state().0);
                    server.service_index = 0;
                    server.service = Shared::default();
                }
                record(&mut next.history.ghost, i, Some(up), &server, &[]);
                next.machines[i] = Shared::new(Machine {
                    server,
                    timers: Vec::new(),
                    crashed: true,
                });
            }
            ActorModelAction::Recover(id) => {
                let i = usize::from(*id);
                assert!(last.machines[i].crashed, "only a crashed server recovers");
                let change = self.machine_step(i, &last.machines[i], step);
                self.apply(&mut next, i, &change, None);
            }
            ActorModelAction::SelectRandom { .. } => {
                unreachable!("the Raft actor makes no random choices")
            }
        }
        self.forget_old_leaders(&mut next);
        Some(next)
    }

    /// What a delivery, timer or recovery does to `machine` (server `i`), remembered: see
    /// [`step::Memo`].
    fn machine_step(
        &self,
        i: usize,
        machine: &Shared<Machine<R>>,
        step: &ActorStep,
    ) -> Arc<MachineStep<R>> {
        let memo = self.memo.get_or_default();
        let mut memo = memo.borrow_mut();
        memo.get_or_insert(machine, step, || {
            MachineStep::new(&self.actor, i, machine, step)
        })
    }

    /// Put what `change` did to server `i` into `next`: its machine, and the messages it sent
    /// (after taking `delivered` out of flight); and record the step in the ghost state.
    fn apply(
        &self,
        next: &mut RaftState<R>,
        i: usize,
        change: &Arc<MachineStep<R>>,
        delivered: Option<&Envelope<Msg>>,
    ) {
        if !change.sends.is_empty() || delivered.is_some() {
            if self.bounds().network == NetworkSemantics::Sequential {
                next.history.sent.update(|sent| {
                    sent.extend(change.sends.iter().cloned());
                    true
                });
            }
            let memo = self.memo.get_or_default();
            next.network = memo
                .borrow_mut()
                .network_after(&next.network, delivered, change);
        }
        let before = &next.machines[i].server;
        record(
            &mut next.history.ghost,
            i,
            Some(before),
            &change.after.server,
            &change.events,
        );
        next.machines[i] = change.after.clone();
    }
}

impl<R: RaftNode> Model for RaftModel<R> {
    type State = RaftState<R>;
    type Action = RaftAction<R>;

    fn init_states(&self) -> Vec<Self::State> {
        let servers = self.bounds().servers;
        let network = Flight::new(self.bounds().network);
        let mut state = RaftState {
            machines: Vec::with_capacity(servers),
            network: Counted::new(network),
            history: History::default(),
        };
        for i in 0..servers {
            let mut out = Out::new();
            let server = self.actor.on_start(Id::from(i), &None, &mut out);
            let mut machine = Machine {
                server,
                timers: Vec::new(),
                crashed: false,
            };
            let (sends, events) = step::carry_out(i, &mut machine, out);
            record(&mut state.history.ghost, i, None, &machine.server, &events);
            state.network.update(|network| {
                sends.into_iter().for_each(|env| network.send(env));
                true
            });
            state.machines.push(Shared::new(machine));
        }
        self.forget_old_leaders(&mut state);
        vec![state]
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        if state
            .history
            .ghost
            .violations
            .contains_key(properties::NO_PANIC)
        {
            // A server panicked: the path ends with the step that panicked.
            return;
        }
        let bounds = self.bounds();
        let mut steps = Vec::new();
        if self.sheds() {
            if state.network.len() > bounds.max_in_flight {
                // Reached only when `max_losses` forbade the losses a step needed: a dead end.
                return;
            }
            self.actor_steps(state, &mut steps);
            for step in steps {
                let Some(after) = self.actor_next(state, &step) else {
                    continue;
                };
                let excess = after.network.len().saturating_sub(bounds.max_in_flight);
                let after = Arc::new(after);
                let affordable = bounds
                    .max_losses
                    .is_none_or(|max| state.history.lost + excess <= max);
                if excess == 0 || !affordable {
                    actions.push(RaftAction {
                        step,
                        after_step: Some(after),
                        shedding: None,
                    });
                    continue;
                }
                let memo = self.memo.get_or_default();
                let sheddings = memo.borrow_mut().sheddings(&after.network, excess);
                for at in 0..sheddings.len() {
                    actions.push(RaftAction {
                        step: step.clone(),
                        after_step: Some(after.clone()),
                        shedding: Some((sheddings.clone(), at)),
                    });
                }
            }
            return;
        }
        if let Some(next) = state.history.sent.front() {
            // Sequential: the oldest message in flight arrives (or is lost) next.
            let down = state.crashed(usize::from(next.dst));
            if !down {
                steps.push(ActorModelAction::Deliver {
                    src: next.src,
                    dst: next.dst,
                    msg: next.msg.clone(),
                });
            }
            if bounds.lossy || down {
                steps.push(ActorModelAction::Drop(next.clone()));
            }
        } else {
            self.actor_steps(state, &mut steps);
        }
        if bounds
            .max_losses
            .is_some_and(|max| state.history.lost >= max)
        {
            steps.retain(|a| !matches!(a, ActorModelAction::Drop(_)));
        }
        actions.extend(steps.into_iter().map(RaftAction::step));
    }

    fn next_state(&self, last_state: &Self::State, action: Self::Action) -> Option<Self::State> {
        let RaftAction {
            step,
            after_step,
            shedding,
        } = action;
        let dropped = matches!(step, ActorModelAction::Drop(_));
        let mut next = match after_step {
            Some(after) => Arc::unwrap_or_clone(after),
            None => self.actor_next(last_state, &step)?,
        };
        let mut lost = 0;
        if let Some((sheddings, at)) = shedding {
            next.network = sheddings[at].kept.clone();
            lost = sheddings[at].lost.len();
        }
        if dropped && self.bounds().network == NetworkSemantics::Sequential {
            next.history.sent.update(|sent| sent.pop_front().is_some());
        }
        let losses = lost + usize::from(dropped);
        if losses > 0 && self.bounds().max_losses.is_some() {
            next.history.lost += losses;
        }
        Some(next)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        trace::describe_action(self.bounds(), action)
    }

    fn as_svg(&self, path: Path<Self::State, Self::Action>) -> Option<String> {
        // stateright draws the actor model's paths: replay the steps there (with no losses, the
        // same steps are enabled; the lost messages are merely never delivered).
        // (Under `catch`: stateright's actor model has no ghost state and so does not end a
        // path where a server panicked; the Explorer must not die of it.)
        let steps: Vec<ActorStep> = path.into_actions().into_iter().map(|a| a.step).collect();
        panics::catch(|| {
            let init = self.actors.init_states().into_iter().next()?;
            self.actors
                .as_svg(Path::from_actions(&self.actors, init, &steps)?)
        })
        .ok()
        .flatten()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        let bounds = self.bounds();
        let terms_ok = state.servers().all(|s| {
            s.raft
                .as_ref()
                .is_none_or(|r| r.state().0 <= bounds.max_term)
        });
        // A lossy network sheds the excess itself.
        let network_ok = bounds.network == NetworkSemantics::Duplicating
            || self.sheds()
            || state.network.len() <= bounds.max_in_flight;
        terms_ok && network_ok
    }
}

/// The stateright model for `bounds`: actors, network, crashes, properties, boundary.
pub fn model<R: RaftNode>(bounds: &Bounds) -> RaftModel<R> {
    let actor = RaftActor::<R> {
        servers: bounds.servers,
        commands: bounds.commands,
        snapshots: bounds.snapshots,
        raft: PhantomData,
    };
    // stateright's own model of the same actors, for `as_svg`'s replays (and as the bounds'
    // keeper). Its network and losses are as in `RaftModel::actor_steps`; a sequential network
    // is an ordered one (which delivers even messages that change nothing) whose global order
    // `RaftModel` keeps, and whose losses are stateright's actions too.
    let network = Flight::<Msg>::new(bounds.network).to_network();
    let lossy = (bounds.lossy && bounds.network == NetworkSemantics::Ordered)
        || bounds.network == NetworkSemantics::Sequential;
    let actors = ActorModel::new(bounds.clone(), History::default())
        .actors((0..bounds.servers).map(|_| actor.clone()))
        .init_network(network)
        .lossy_network(if lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
        .max_crashes(bounds.crashes);
    RaftModel {
        actors,
        actor,
        memo: ThreadLocal::new(),
    }
}
