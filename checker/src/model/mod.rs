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
pub mod trace;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use std::marker::PhantomData;

pub use node::RaftNode;
use raft::contract::{ApplyMsg, Command, Effects, Persisted, Reply, Request, Timer, TimerOp};
use serde::{Deserialize, Serialize};
use stateright::actor::{Actor, ActorModel, Id, LossyNetwork, Network, Out};

/// How the model's network may treat messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkSemantics {
    /// Messages between two servers arrive in the order sent, each once.
    Ordered,
    /// Messages arrive in any order, each at most once.
    Unordered,
    /// Messages arrive in any order, any number of times (covers loss, reordering, duplication).
    Duplicating,
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
    /// Whether the network may also drop messages outright.
    pub lossy: bool,
    /// Whether servers take snapshots of what they applied (exercises the 2D code).
    pub snapshots: bool,
    /// With non-duplicating networks: states with more messages in flight are not explored.
    pub max_in_flight: usize,
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
        Ok(())
    }
}

/// A message on the model's network.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Msg {
    /// A Raft RPC request.
    Request(Request),
    /// The reply to `request`, sent back to its sender.
    Reply { request: Request, reply: Reply },
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

/// What a server saves: Raft's persisted bytes, and the ghost state riding along.
#[derive(Clone, Debug, Default, PartialEq, Hash)]
pub struct Stored {
    pub state: Vec<u8>,
    pub snapshot: Vec<u8>,
    pub ghost: Ghost,
}

/// One server's state in the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Server<R> {
    /// `None` if the server could not restart from its persisted bytes.
    pub raft: Option<R>,
    /// The last bytes saved, so ghost changes can be saved with them.
    pub state: Vec<u8>,
    pub snapshot: Vec<u8>,
    /// The service's last applied index in this incarnation (for taking snapshots).
    pub service_index: u64,
    pub ghost: Ghost,
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
            state: stored.state.clone(),
            snapshot: stored.snapshot.clone(),
        };
        let mut out = Effects::default();
        let (raft, ghost) = match R::boot(me, self.servers, &persisted, &mut out) {
            Ok(raft) => (Some(raft), stored.ghost),
            Err(e) => {
                let mut ghost = stored.ghost;
                ghost.restart_failure.get_or_insert(format!(
                    "server {me} could not restart from its persisted state: {e}"
                ));
                (None, ghost)
            }
        };
        let service_index = raft.as_ref().map_or(0, |r| r.observe().snapshot_index);
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
                    rf.on_request(from, request.clone(), out)
                });
                if let Some(reply) = reply {
                    o.send(src, Msg::Reply { request, reply });
                }
            }
            Msg::Reply { request, reply } => {
                self.step(me, state, o, |rf, out| {
                    rf.on_reply(from, request, reply, out)
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
                let has_it = raft.observe().entries.iter().any(|e| e.command == command);
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
        let mut raft = state.raft.clone()?;
        let before = leader_log(&raft);
        let mut out = Effects::default();
        let result = handler(&mut raft, &mut out);
        if out.is_empty() && state.raft.as_ref() == Some(&raft) {
            return Some(result);
        }
        let server = state.to_mut();
        server.raft = Some(raft);
        let raft = server.raft.as_mut().expect("just set");
        if let (Some((term, old)), Some((new_term, new))) = (before, leader_log(raft)) {
            // Entries that a snapshot took since are not the leader's to keep in its log.
            let snapshot_index = raft.observe().snapshot_index;
            let kept: Vec<_> = old
                .into_iter()
                .filter(|(i, _, _)| *i > snapshot_index)
                .collect();
            if new_term == term && !new.starts_with(&kept) {
                server.ghost.append_only_violation.get_or_insert(format!(
                    "server {me}, leader of term {term}, changed entries of its own log: \
                     {kept:?} became {new:?}"
                ));
            }
        }
        self.carry_out(me, server, out, o);
        Some(result)
    }

    /// Carry out effects in the contract's order: persist, send, timers, apply; then save the
    /// persisted bytes and the ghost state if either changed.
    fn carry_out(&self, me: usize, server: &mut Server<R>, out: Effects, o: &mut Out<Self>) {
        let mut dirty = false;
        if let Some(p) = out.persist {
            server.state = p.state;
            if let Some(snapshot) = p.snapshot {
                server.snapshot = snapshot;
            }
            dirty = true;
        }
        for (to, request) in out.sends {
            if to < self.servers && to != me {
                o.send(Id::from(to), Msg::Request(request));
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
        for msg in out.applies {
            dirty |= apply(me, server, term, msg);
        }
        if let Some((term, true)) = server.raft.as_ref().map(R::state) {
            dirty |= server.ghost.led_terms.insert(term);
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

/// (index, term, command) of the log entries after the snapshot.
type LogEntries = Vec<(u64, u64, Command)>;

/// A leader's term and its log entries after the snapshot.
fn leader_log<R: RaftNode>(raft: &R) -> Option<(u64, LogEntries)> {
    let (term, leads) = raft.state();
    if !leads {
        return None;
    }
    let view = raft.observe();
    let entries = view
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            (
                view.snapshot_index + 1 + i as u64,
                e.term,
                e.command.clone(),
            )
        })
        .collect();
    Some((term, entries))
}

/// Record an apply in the ghost state; true if the ghost changed.
fn apply<R>(me: usize, server: &mut Server<R>, term: u64, msg: ApplyMsg) -> bool {
    let commands: Vec<(u64, Command)> = match msg {
        ApplyMsg::Command { index, command } => {
            server.service_index = index;
            vec![(index, command)]
        }
        ApplyMsg::Snapshot { index, data, .. } => {
            server.service_index = index;
            match postcard::from_bytes::<ServiceSnapshot>(&data) {
                Ok(snapshot) => snapshot.into_iter().collect(),
                Err(e) => {
                    server.ghost.apply_violation.get_or_insert(format!(
                        "server {me} delivered a snapshot the service cannot read: {e}"
                    ));
                    return true;
                }
            }
        }
    };
    let mut changed = false;
    for (index, command) in commands {
        match server.ghost.applied.get(&index) {
            Some((old, _)) if *old != command => {
                server.ghost.apply_violation.get_or_insert(format!(
                    "server {me} applied {command:?} at index {index}, where it had applied {old:?}"
                ));
                changed = true;
            }
            Some(_) => {}
            None => {
                server.ghost.applied.insert(index, (command, term));
                changed = true;
            }
        }
    }
    changed
}

/// The stateright model for `bounds`: actors, network, crashes, properties, boundary.
pub fn model<R: RaftNode>(bounds: &Bounds) -> ActorModel<RaftActor<R>, Bounds, ()> {
    let actor = RaftActor::<R> {
        servers: bounds.servers,
        commands: bounds.commands,
        snapshots: bounds.snapshots,
        raft: PhantomData,
    };
    let network = match bounds.network {
        NetworkSemantics::Ordered => Network::new_ordered([]),
        NetworkSemantics::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkSemantics::Duplicating => Network::new_unordered_duplicating([]),
    };
    let model = ActorModel::new(bounds.clone(), ())
        .actors((0..bounds.servers).map(|_| actor.clone()))
        .init_network(network)
        .lossy_network(if bounds.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        })
        .max_crashes(bounds.crashes)
        .within_boundary(|bounds, state| {
            let terms_ok = state.actor_states.iter().all(|s| {
                s.raft
                    .as_ref()
                    .is_none_or(|r| r.state().0 <= bounds.max_term)
            });
            let network_ok = bounds.network == NetworkSemantics::Duplicating
                || state.network.len() <= bounds.max_in_flight;
            terms_ok && network_ok
        });
    properties::add(model)
}
