//! The model checker's Raft model: the **same** [`raft::Raft`] the labs run (or any type with the
//! contract's handlers, see [`RaftNode`]), wrapped as a `stateright` actor.
//!
//! stateright explores every order in which timers fire, messages are delivered (and, depending on
//! the network semantics, lost, duplicated or reordered), and servers crash and restart from their
//! persisted bytes. The model client's `commands` proposals are offered to every server at any time
//! (as timers that may fire whenever): a server that leads and lacks the command starts it.
//!
//! Besides Raft's own state, each server carries **ghost** state for the properties: the terms it
//! has led and what it has applied. Ghost state is saved with the persisted bytes so that it
//! survives crashes, but Raft never sees it.

pub mod cli;
pub mod node;
pub mod properties;
pub mod shared;
pub mod trace;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use std::marker::PhantomData;

pub use node::RaftNode;
use raft::contract::{ApplyMsg, Command, Effects, Persisted, Reply, Request, Timer, TimerOp};
use serde::{Deserialize, Serialize};
pub use shared::Shared;
#[doc(hidden)]
pub use stateright;
use stateright::actor::{
    Actor, ActorModel, ActorModelAction, ActorModelState, Envelope, Id, LossyNetwork, Network, Out,
};
use stateright::{Model, Path, Property};

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
    /// messages in flight is followed by losses (of any of them, one per step) until
    /// `max_in_flight` remain, and nothing else happens in between. This reaches every server
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

/// Verification-only state of one server: never shown to Raft, kept across crashes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ghost {
    /// Every term this server has led.
    pub led_terms: BTreeSet<u64>,
    /// Every index this server applied: the command, and this server's term when it applied it
    /// (an upper bound on the term in which the entry was committed).
    pub applied: BTreeMap<u64, (Command, u64)>,
    /// As leader, it changed or removed entries of its own log.
    pub append_only_violation: Option<String>,
    /// It applied a different command at an index it had applied before, or delivered an
    /// unreadable snapshot.
    pub apply_violation: Option<String>,
    /// It could not restart from its own persisted bytes.
    pub restart_failure: Option<String>,
}

/// What a server saves: Raft's persisted bytes, and the ghost state riding along. Every part is
/// [`Shared`] with the server's own state, so saving costs no copy.
#[derive(Clone, Debug, Default, PartialEq, Hash)]
pub struct Stored {
    pub state: Shared<Vec<u8>>,
    pub snapshot: Shared<Vec<u8>>,
    pub ghost: Shared<Ghost>,
}

/// One server's state in the model. The parts are [`Shared`]: a step changes one server, and
/// usually only its Raft state, so the rest is shared with the state before.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server<R> {
    /// `None` if the server could not restart from its persisted bytes.
    pub raft: Option<Shared<R>>,
    /// The last bytes saved, so ghost changes can be saved with them.
    pub state: Shared<Vec<u8>>,
    pub snapshot: Shared<Vec<u8>>,
    /// The service's last applied index in this incarnation (for taking snapshots; always 0
    /// when the model takes no snapshots, so that it adds no states).
    pub service_index: u64,
    pub ghost: Shared<Ghost>,
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
type ServiceSnapshot = BTreeMap<u64, Command>;

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
        let (raft, ghost) = match R::boot(me, self.servers, &persisted, &mut out) {
            Ok(raft) => (Some(Shared::new(raft)), stored.ghost),
            Err(e) => {
                let mut ghost = stored.ghost;
                ghost.update(|g| {
                    g.restart_failure.get_or_insert(format!(
                        "server {me} could not restart from its persisted state: {e}"
                    ));
                    true
                });
                (None, ghost)
            }
        };
        let service_index = match &raft {
            Some(r) if self.snapshots => r.observe().snapshot_index,
            _ => 0,
        };
        let mut server = Server {
            raft,
            state: stored.state,
            snapshot: stored.snapshot,
            service_index,
            ghost,
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
                let reply = self.step(me, state, o, |rf, out| {
                    rf.on_request(from, (*request).clone(), out)
                });
                if let Some(reply) = reply {
                    o.send(src, Msg::Reply { request, reply });
                }
            }
            Msg::Reply { request, reply } => {
                self.step(me, state, o, |rf, out| {
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
                self.step(me, state, o, |rf, out| rf.on_timer(*timer, out));
            }
            ModelTimer::Propose(k) => {
                let command = vec![*k];
                let raft = state.raft.as_ref().expect("checked above");
                // In its log, or applied already (a snapshot may have trimmed it from the log:
                // proposing it again would grow the log forever).
                let has_it = raft.observe().entries.iter().any(|e| e.command == command)
                    || state.ghost.applied.values().any(|(c, _)| *c == command);
                if raft.state().1 && !has_it {
                    self.step(me, state, o, |rf, out| {
                        rf.start(command, out);
                    });
                }
                // Offered again and again; firing while nothing happens is a no-op for stateright.
                o.set_timer(timer.clone(), stateright::actor::model_timeout());
            }
            ModelTimer::Snapshot => {
                let index = state.service_index;
                let snapshot_index = state
                    .raft
                    .as_ref()
                    .map_or(0, |r| r.observe().snapshot_index);
                if index > snapshot_index {
                    let data: ServiceSnapshot = state
                        .ghost
                        .applied
                        .range(..=index)
                        .map(|(i, (c, _))| (*i, c.clone()))
                        .collect();
                    let data = postcard::to_allocvec(&data).expect("encoding to memory");
                    self.step(me, state, o, |rf, out| rf.snapshot(index, data, out));
                }
                o.set_timer(ModelTimer::Snapshot, stateright::actor::model_timeout());
            }
        }
    }
}

impl<R: RaftNode> RaftActor<R> {
    /// Run one Raft handler and carry out its effects; checks leader append-only around it.
    fn step<T>(
        &self,
        me: usize,
        state: &mut Cow<Server<R>>,
        o: &mut Out<Self>,
        handler: impl FnOnce(&mut R, &mut Effects) -> T,
    ) -> Option<T> {
        // Work on a copy, and write the state back only if something changed: stateright treats
        // an untouched state as a no-op, which keeps repeated timers from adding states.
        let old = state.raft.clone()?;
        let mut raft = R::clone(&old);
        let mut out = Effects::default();
        let result = handler(&mut raft, &mut out);
        if out.is_empty() && *old == raft {
            return Some(result);
        }
        let server = state.to_mut();
        if let Some(why) = append_only_violation(me, &*old, &raft) {
            server.ghost.update(|g| {
                g.append_only_violation.get_or_insert(why);
                true
            });
        }
        server.raft = Some(Shared::new(raft));
        self.carry_out(me, server, out, o);
        Some(result)
    }

    /// Carry out effects in the contract's order: persist, send, timers, apply; then save the
    /// persisted bytes and the ghost state if either changed.
    fn carry_out(&self, me: usize, server: &mut Server<R>, out: Effects, o: &mut Out<Self>) {
        let mut dirty = false;
        if let Some(p) = out.persist {
            server.state = Shared::new(p.state);
            if let Some(snapshot) = p.snapshot {
                server.snapshot = Shared::new(snapshot);
            }
            dirty = true;
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
        let term = server.raft.as_ref().map_or(0, |r| r.state().0);
        if !out.applies.is_empty() {
            let mut service_index = server.service_index;
            dirty |= server.ghost.update(|ghost| {
                out.applies.into_iter().fold(false, |changed, msg| {
                    apply(me, ghost, &mut service_index, term, msg) | changed
                })
            });
            if self.snapshots {
                server.service_index = service_index;
            }
        }
        if let Some((term, true)) = server.raft.as_ref().map(|r| r.state())
            && !server.ghost.led_terms.contains(&term)
        {
            dirty |= server.ghost.update(|g| g.led_terms.insert(term));
        }
        if dirty {
            o.save(Stored {
                state: server.state.clone(),
                snapshot: server.snapshot.clone(),
                ghost: server.ghost.clone(),
            });
        }
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
    let kept = |view: &raft::contract::Observation<'_>| {
        let skip = (from - view.snapshot_index) as usize;
        view.entries.get(skip..).unwrap_or_default().to_vec()
    };
    let (old_kept, new_kept) = (kept(&before), kept(&after));
    if new_kept.starts_with(&old_kept) {
        return None;
    }
    let listed = |kept: Vec<raft::messages::Entry>| {
        (from + 1..)
            .zip(kept)
            .map(|(i, e)| (i, e.term, e.command))
            .collect::<Vec<_>>()
    };
    Some(format!(
        "server {me}, leader of term {term}, changed entries of its own log: \
         {:?} became {:?}",
        listed(old_kept),
        listed(new_kept)
    ))
}

/// Record an apply in the ghost state; true if the ghost changed.
fn apply(me: usize, ghost: &mut Ghost, service_index: &mut u64, term: u64, msg: ApplyMsg) -> bool {
    let commands: Vec<(u64, Command)> = match msg {
        ApplyMsg::Command { index, command } => {
            *service_index = index;
            vec![(index, command)]
        }
        ApplyMsg::Snapshot { index, data, .. } => {
            *service_index = index;
            match postcard::from_bytes::<ServiceSnapshot>(&data) {
                Ok(snapshot) => snapshot.into_iter().collect(),
                Err(e) => {
                    ghost.apply_violation.get_or_insert(format!(
                        "server {me} delivered a snapshot the service cannot read: {e}"
                    ));
                    return true;
                }
            }
        }
    };
    let mut changed = false;
    for (index, command) in commands {
        match ghost.applied.get(&index) {
            Some((old, _)) if *old != command => {
                ghost.apply_violation.get_or_insert(format!(
                    "server {me} applied {command:?} at index {index}, where it had applied {old:?}"
                ));
                changed = true;
            }
            Some(_) => {}
            None => {
                ghost.applied.insert(index, (command, term));
                changed = true;
            }
        }
    }
    changed
}

/// The model's "history": with the sequential network, the messages in flight in the order they
/// were sent (empty otherwise); and how many messages the network lost so far (counted only
/// when `max_losses` bounds it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct InFlight {
    pub sent: std::collections::VecDeque<Envelope<Msg>>,
    pub lost: usize,
}

/// The model's states and actions (stateright's actor-model types).
pub type RaftState<R> = ActorModelState<RaftActor<R>, InFlight>;
pub type RaftAction = ActorModelAction<Msg, ModelTimer, ()>;

/// The Raft model: stateright's actor model of the servers, with this crate's network bounds
/// (see [`Bounds::lossy`]) and properties on top.
pub struct RaftModel<R: RaftNode> {
    pub actors: ActorModel<RaftActor<R>, Bounds, InFlight>,
}

impl<R: RaftNode> RaftModel<R> {
    pub fn bounds(&self) -> &Bounds {
        &self.actors.cfg
    }

    /// Whether this model loses messages only to keep at most `max_in_flight` of them in flight
    /// (see [`Bounds::lossy`]).
    fn sheds(&self) -> bool {
        self.bounds().lossy && self.bounds().network == NetworkSemantics::Unordered
    }
}

impl<R: RaftNode> Model for RaftModel<R> {
    type State = RaftState<R>;
    type Action = RaftAction;

    fn init_states(&self) -> Vec<Self::State> {
        self.actors.init_states()
    }

    fn actions(&self, state: &Self::State, actions: &mut Vec<Self::Action>) {
        if self.sheds() && state.network.len() > self.bounds().max_in_flight {
            // Too many messages in flight after the last step: the network loses some (one at a
            // time) before anything else happens.
            let mut lost: Vec<_> = state
                .network
                .iter_deliverable()
                .map(|env| ActorModelAction::Drop(env.to_cloned_msg()))
                .collect();
            lost.sort();
            actions.extend(lost);
        } else if let Some(next) = state.history.sent.front() {
            // Sequential: the oldest message in flight arrives (or is lost) next.
            if !state.crashed[usize::from(next.dst)] {
                actions.push(ActorModelAction::Deliver {
                    src: next.src,
                    dst: next.dst,
                    msg: next.msg.clone(),
                });
            }
            if self.bounds().lossy || state.crashed[usize::from(next.dst)] {
                actions.push(ActorModelAction::Drop(next.clone()));
            }
        } else {
            self.actors.actions(state, actions);
        }
        if self
            .bounds()
            .max_losses
            .is_some_and(|max| state.history.lost >= max)
        {
            actions.retain(|a| !matches!(a, ActorModelAction::Drop(_)));
        }
    }

    fn next_state(&self, last_state: &Self::State, action: Self::Action) -> Option<Self::State> {
        let lost = matches!(action, ActorModelAction::Drop(_));
        let mut next = self.actors.next_state(last_state, action)?;
        if lost && self.bounds().network == NetworkSemantics::Sequential {
            next.history.sent.pop_front();
        }
        if lost && self.bounds().max_losses.is_some() {
            next.history.lost += 1;
        }
        Some(next)
    }

    fn format_action(&self, action: &Self::Action) -> String {
        self.actors.format_action(action)
    }

    fn format_step(&self, last_state: &Self::State, action: Self::Action) -> Option<String> {
        self.actors.format_step(last_state, action)
    }

    fn as_svg(&self, path: Path<Self::State, Self::Action>) -> Option<String> {
        self.actors.as_svg(path)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        let bounds = self.bounds();
        let terms_ok = state.actor_states.iter().all(|s| {
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
    let network = match bounds.network {
        // A sequential network is an ordered one (which delivers even messages that change
        // nothing) whose global order the history keeps.
        NetworkSemantics::Ordered | NetworkSemantics::Sequential => Network::new_ordered([]),
        NetworkSemantics::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkSemantics::Duplicating => Network::new_unordered_duplicating([]),
    };
    // Only an ordered network needs stateright's own losses (of the first message of a channel,
    // at any time): see `Bounds::lossy` for the others.
    let lossy = bounds.lossy && bounds.network == NetworkSemantics::Ordered;
    let actors = ActorModel::new(bounds.clone(), InFlight::default())
        .actors((0..bounds.servers).map(|_| actor.clone()))
        .init_network(network)
        .lossy_network(if lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
        .max_crashes(bounds.crashes)
        .record_msg_out(|bounds, sent, env| {
            (bounds.network == NetworkSemantics::Sequential).then(|| {
                let mut sent = sent.clone();
                sent.sent.push_back(env.to_cloned_msg());
                sent
            })
        })
        .record_msg_in(|bounds, sent, _| {
            (bounds.network == NetworkSemantics::Sequential).then(|| {
                let mut sent = sent.clone();
                sent.sent.pop_front();
                sent
            })
        });
    RaftModel { actors }
}
