//! The model's state: per machine, its server, the timers set on it and whether it is down; the
//! messages in flight; the history.
//!
//! stateright's actor model keeps these in its own `ActorModelState`: one vector per kind
//! (servers, timers, storages, random choices, crash flags) and a hash table for the network, all
//! copied for every transition the checker tries, and hashed in full for every state it
//! generates. That copying and hashing was more than half of a search's time, while Raft's own
//! handlers did not show in the profile. Here every part is [`Shared`]: a transition copies a
//! few reference counts and rebuilds only the machine that stepped and the network, and a state's
//! hash is a handful of `u64` writes.
//!
//! The transitions are stateright's (see `RaftModel`'s `Model` impl): the same actions, in the
//! same order, with the same effects, on the same [`RaftActor`]. [`RaftState::actor_state`]
//! converts a state to stateright's form, which tests use to check that both models reach the
//! same states.

use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::Arc;

use stateright::actor::{ActorModelState, Envelope, Network, RandomChoices, Timers};

use super::{History, ModelTimer, Msg, RaftActor, RaftNode, Server, Shared, Stored};

/// One machine of the model: the server running on it (what stateright calls the actor's state),
/// the timers set on it, and whether it is down.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Machine<R> {
    pub server: Server<R>,
    /// The timers set, sorted (each at most once).
    pub timers: Vec<ModelTimer>,
    pub crashed: bool,
}

impl<R> Machine<R> {
    /// Set `timer` (a no-op if it is set).
    pub fn set_timer(&mut self, timer: ModelTimer) {
        if let Err(at) = self.timers.binary_search(&timer) {
            self.timers.insert(at, timer);
        }
    }

    /// Cancel `timer` (a no-op if it is not set).
    pub fn cancel_timer(&mut self, timer: &ModelTimer) {
        if let Ok(at) = self.timers.binary_search(timer) {
            self.timers.remove(at);
        }
    }
}

/// A state of the Raft model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RaftState<R> {
    /// Machine `i` runs server `i`.
    pub machines: Vec<Shared<Machine<R>>>,
    /// The messages in flight, in stateright's representation.
    pub network: Shared<Network<Msg>>,
    pub history: History,
}

impl<R: RaftNode> RaftState<R> {
    /// Server `i` (while crashed: what it persisted; its Raft is gone).
    pub fn server(&self, i: usize) -> &Server<R> {
        &self.machines[i].server
    }

    /// Whether server `i` is down.
    pub fn crashed(&self, i: usize) -> bool {
        self.machines[i].crashed
    }

    /// The servers, in order.
    pub fn servers(&self) -> impl Iterator<Item = &Server<R>> + Clone {
        self.machines.iter().map(|m| &m.server)
    }

    /// This state as stateright's actor model keeps it (for tests that compare the two models,
    /// and tools that want stateright's form). A server's storage is `None` until it first saves.
    pub fn actor_state(&self) -> ActorModelState<RaftActor<R>, History> {
        let machines = &self.machines;
        ActorModelState {
            actor_states: machines
                .iter()
                .map(|m| Arc::new(m.server.clone()))
                .collect(),
            network: (*self.network).clone(),
            timers_set: machines
                .iter()
                .map(|m| {
                    let mut timers = Timers::new();
                    for timer in &m.timers {
                        timers.set(timer.clone());
                    }
                    timers
                })
                .collect(),
            random_choices: machines.iter().map(|_| RandomChoices::default()).collect(),
            crashed: machines.iter().map(|m| m.crashed).collect(),
            history: self.history.clone(),
            actor_storages: machines
                .iter()
                .map(|m| {
                    let saved = !m.server.state.is_empty() || !m.server.snapshot.is_empty();
                    saved.then(|| Stored {
                        state: m.server.state.clone(),
                        snapshot: m.server.snapshot.clone(),
                    })
                })
                .collect(),
        }
    }
}

/// Put `envelope` in flight (as stateright's network does).
pub fn send<M: Eq + Hash>(network: &mut Network<M>, envelope: Envelope<M>) {
    match network {
        Network::UnorderedDuplicating(set, _) => {
            set.insert(envelope);
        }
        Network::UnorderedNonDuplicating(multiset) => {
            *multiset.entry(envelope).or_insert(0) += 1;
        }
        Network::Ordered(channels) => channels
            .entry((envelope.src, envelope.dst))
            .or_insert_with(|| VecDeque::with_capacity(1))
            .push_back(envelope.msg),
    }
}

/// Take one copy of `envelope` out of flight because it was delivered (a duplicating network
/// keeps it, and remembers it as the last delivered, as stateright's does) or lost. Returns
/// whether it was in flight.
pub fn take<M: Clone + Eq + Hash>(
    network: &mut Network<M>,
    envelope: &Envelope<M>,
    delivered: bool,
) -> bool {
    match network {
        Network::UnorderedDuplicating(set, last) => {
            if delivered {
                *last = Some(envelope.clone());
                set.contains(envelope)
            } else {
                set.remove(envelope)
            }
        }
        Network::UnorderedNonDuplicating(multiset) => match multiset.get_mut(envelope) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                multiset.remove(envelope);
                true
            }
            None => false,
        },
        Network::Ordered(channels) => {
            let key = (envelope.src, envelope.dst);
            let Some(channel) = channels.get_mut(&key) else {
                return false;
            };
            let Some(at) = channel.iter().position(|m| *m == envelope.msg) else {
                return false;
            };
            channel.remove(at);
            // Channels are never empty, so that taking a message undoes sending it.
            if channel.is_empty() {
                channels.remove(&key);
            }
            true
        }
    }
}
