//! One Raft server as a `stateright` actor: the model's messages, timers and storage, and the
//! wrapper that runs the contract's handlers and carries out their effects.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;

use raft::contract::{
    ApplyMsg, Command, Effects, Options, Persisted, Reply, Request, Timer, TimerOp,
};
use stateright::actor::{Actor, ActorModelAction, Id, Out};

use super::ghost::GhostEvent;
use super::node::RaftNode;
use super::panics;
use super::shared::Shared;
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
    /// What every server boots with (lab 2E's switch).
    pub options: Options,
    pub(super) raft: PhantomData<fn() -> R>,
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
            let booted = R::new(me, &peers, &persisted, self.options, &mut out);
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
                events.push(GhostEvent::NotRestarted {
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
                events.push(GhostEvent::Panicked {
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
                if self.options.prevote_and_check_quorum
                    && matches!(timer, Timer::Election | Timer::CheckQuorum)
                {
                    // Counted against `--max-timeouts` (lab 2E).
                    state.to_mut().events.push(GhostEvent::TimedOut);
                }
                let doing = || format!("on its {timer:?} timer");
                self.step(me, state, o, doing, |rf, out| rf.on_timer(*timer, out));
            }
            ModelTimer::Propose(k) => {
                // A leader that holds no proposal of `k` proposes it: in its log, or in its
                // service's state machine (a snapshot may have trimmed it from the log:
                // proposing it again would grow the log forever).
                let offer = self.read(me, state, "reading its state", |raft, server| {
                    let (term, leads) = raft.state();
                    let has_it = raft
                        .observe()
                        .entries
                        .iter()
                        .any(|e| proposes(&e.command, *k))
                        || server.service.values().any(|c| proposes(c, *k));
                    (leads && !has_it).then(|| proposal(*k, term))
                });
                if let Some(Some(command)) = offer {
                    let shown = command.clone();
                    let doing = move || format!("starting command {shown:?}");
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

/// The model client's command `k` as proposed by the leader of `term`: `[k, term]` (a term
/// above 255 is written 255). Each proposal is unique, since a leader proposes `k` at most once
/// in its term: an entry at the wrong index, a duplicated entry, or one leader's entry kept where
/// another's was committed shows as different commands at one index. The term, not the leader's
/// id, tells proposals apart, so that renaming servers (`--symmetry`) leaves commands alone.
pub fn proposal(k: u8, term: u64) -> raft::contract::Command {
    vec![k, u8::try_from(term).unwrap_or(u8::MAX)]
}

/// Whether `command` is a proposal of the model client's command `k` (see [`proposal`]).
pub fn proposes(command: &[u8], k: u8) -> bool {
    command.first() == Some(&k)
}

/// A request's method without the service's name: `RequestVote`.
fn method(request: &Request) -> &'static str {
    request.method().trim_start_matches("Raft.")
}

impl<R: RaftNode> RaftActor<R> {
    /// Run one Raft handler and carry out its effects. If the handler panics (or the Raft panics
    /// when read right after it), the server stays as it was, nothing it asked for is carried
    /// out, and the step records a violation of [`super::properties::NO_PANIC`] saying what the server
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
        state.to_mut().events.push(GhostEvent::Panicked {
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
                        server.events.push(GhostEvent::UnreadableSnapshot {
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

/// One step of stateright's actor model: a delivery, a timer, a crash, a recovery, or (on an
/// ordered or sequential lossy network) a loss.
pub type ActorStep = ActorModelAction<Msg, ModelTimer, ()>;
