//! The model's state: per machine, its server, the timers set on it and whether it is down; the
//! messages in flight; the history.
//!
//! stateright's actor model keeps these in its own `ActorModelState`: one vector per kind
//! (servers, timers, storages, random choices, crash flags) and a hash table for the network, all
//! copied for every transition the checker tries, and hashed in full for every state it
//! generates. That copying and hashing was more than half of a search's time, while Raft's own
//! handlers did not show in the profile. Here every part is [`Shared`] (interned): a transition
//! copies a few pointers and replaces only the machine that stepped and the network (both taken
//! from the per-thread memory of steps, see `step`), and a state's hash is a handful of `u64`
//! writes.
//!
//! The transitions are stateright's (see `RaftModel`'s `Model` impl): the same actions, in the
//! same order, with the same effects, on the same [`RaftActor`]. [`RaftState::actor_state`]
//! converts a state to stateright's form, which tests use to check that both models reach the
//! same states.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::hash::Hash;
use std::sync::Arc;

use stateright::actor::{ActorModelState, Envelope, Id, Network, RandomChoices, Timers};

use super::actor::{ModelTimer, Msg, RaftActor, Server, Stored};
use super::bounds::NetworkSemantics;
use super::ghost::Ghost;
use super::node::RaftNode;
use super::shared::{Counted, Shared};

/// One machine of the model: the server running on it (what stateright calls the actor's state),
/// the timers set on it, and whether it is down.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Machine<R: 'static> {
    pub server: Server<R>,
    /// The timers set, sorted (each at most once).
    pub timers: Vec<ModelTimer>,
    pub crashed: bool,
}

impl<R: Clone> Machine<R> {
    /// This machine after a handler ran on its server: the server as the handler left it.
    pub fn after(&self, server: Cow<'_, Server<R>>) -> Machine<R> {
        match server {
            Cow::Owned(server) => Machine {
                server,
                timers: self.timers.clone(),
                crashed: self.crashed,
            },
            Cow::Borrowed(_) => self.clone(),
        }
    }
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
pub struct RaftState<R: 'static> {
    /// Machine `i` runs server `i`.
    pub machines: Vec<Shared<Machine<R>>>,
    /// The messages in flight.
    pub network: Counted<Flight<Msg>>,
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
            network: self.network.to_network(),
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

/// The messages in flight, with the semantics of stateright's `Network` (and convertible to it,
/// see [`Flight::to_network`]), kept in sorted vectors rather than hash tables: there are only a
/// few messages in flight, and copying, hashing and searching a short vector costs less.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Flight<M> {
    /// Each copy is delivered at most once: the distinct messages in flight, sorted, each with
    /// its number of copies.
    Unordered(Vec<(Envelope<M>, usize)>),
    /// Every message sent stays deliverable: the messages, sorted, each once; and the last one
    /// delivered (as in stateright, so that a delivery that changes nothing is still a step).
    Duplicating(Vec<Envelope<M>>, Option<Envelope<M>>),
    /// Each channel (sender, receiver) delivers in the order sent.
    Ordered(BTreeMap<(Id, Id), VecDeque<M>>),
}

impl<M: Clone + Ord + Hash> Flight<M> {
    /// Nothing in flight, on a network of `semantics` (a sequential network is an ordered one).
    pub fn new(semantics: NetworkSemantics) -> Self {
        match semantics {
            NetworkSemantics::Unordered => Flight::Unordered(Vec::new()),
            NetworkSemantics::Duplicating => Flight::Duplicating(Vec::new(), None),
            NetworkSemantics::Ordered | NetworkSemantics::Sequential => {
                Flight::Ordered(BTreeMap::new())
            }
        }
    }

    /// How many messages are in flight (counting copies).
    pub fn len(&self) -> usize {
        match self {
            Flight::Unordered(messages) => messages.iter().map(|(_, n)| n).sum(),
            Flight::Duplicating(messages, _) => messages.len(),
            Flight::Ordered(channels) => channels.values().map(VecDeque::len).sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages that may be delivered next, each once, sorted (as stateright orders its
    /// deliveries): every distinct message, or the first of each channel.
    pub fn deliverable(&self) -> Vec<Envelope<&M>> {
        fn borrow<M>(e: &Envelope<M>) -> Envelope<&M> {
            Envelope {
                src: e.src,
                dst: e.dst,
                msg: &e.msg,
            }
        }
        match self {
            Flight::Unordered(messages) => messages.iter().map(|(e, _)| borrow(e)).collect(),
            Flight::Duplicating(messages, _) => messages.iter().map(borrow).collect(),
            Flight::Ordered(channels) => channels
                .iter()
                .filter_map(|(&(src, dst), queue)| {
                    queue.front().map(|msg| Envelope { src, dst, msg })
                })
                .collect(),
        }
    }

    /// Put `envelope` in flight.
    pub fn send(&mut self, envelope: Envelope<M>) {
        match self {
            Flight::Unordered(messages) => {
                match messages.binary_search_by(|(e, _)| e.cmp(&envelope)) {
                    Ok(at) => messages[at].1 += 1,
                    Err(at) => messages.insert(at, (envelope, 1)),
                }
            }
            Flight::Duplicating(messages, _) => {
                if let Err(at) = messages.binary_search(&envelope) {
                    messages.insert(at, envelope);
                }
            }
            Flight::Ordered(channels) => channels
                .entry((envelope.src, envelope.dst))
                .or_insert_with(|| VecDeque::with_capacity(1))
                .push_back(envelope.msg),
        }
    }

    /// Take one copy of `envelope` out of flight because it was delivered (a duplicating network
    /// keeps it, and remembers it as the last delivered) or lost. Returns whether it was in
    /// flight.
    pub fn take(&mut self, envelope: &Envelope<M>, delivered: bool) -> bool {
        match self {
            Flight::Unordered(messages) => {
                let Ok(at) = messages.binary_search_by(|(e, _)| e.cmp(envelope)) else {
                    return false;
                };
                if messages[at].1 > 1 {
                    messages[at].1 -= 1;
                } else {
                    messages.remove(at);
                }
                true
            }
            Flight::Duplicating(messages, last) => {
                let Ok(at) = messages.binary_search(envelope) else {
                    return false;
                };
                if delivered {
                    *last = Some(envelope.clone());
                } else {
                    messages.remove(at);
                }
                true
            }
            Flight::Ordered(channels) => {
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

    /// Every way to choose `count` messages of an unordered network to lose, each as a sorted
    /// list (identical copies are not told apart: losing either of two copies is one choice).
    /// None on other networks, which do not shed messages (see `Bounds::lossy`).
    pub fn loss_choices(&self, count: usize) -> Vec<Vec<Envelope<M>>> {
        let Flight::Unordered(distinct) = self else {
            return Vec::new();
        };
        let mut choices = Vec::new();
        let mut chosen = Vec::with_capacity(count);
        choose(distinct, count, &mut chosen, &mut choices);
        choices
    }

    /// Lose one copy of each of `lost` (from an unordered network, which sheds messages).
    pub fn lose(&mut self, lost: &[Envelope<M>]) {
        assert!(
            matches!(self, Flight::Unordered(_)),
            "only an unordered network sheds messages"
        );
        for env in lost {
            assert!(self.take(env, false), "a lost message was in flight");
        }
    }

    /// The same messages with `f` applied to each (`None` if `f` fails on any).
    pub fn map(&self, mut f: impl FnMut(&Envelope<M>) -> Option<Envelope<M>>) -> Option<Self> {
        Some(match self {
            Flight::Unordered(messages) => {
                let mut mapped = messages
                    .iter()
                    .map(|(e, n)| Some((f(e)?, *n)))
                    .collect::<Option<Vec<_>>>()?;
                mapped.sort_unstable();
                Flight::Unordered(mapped)
            }
            Flight::Duplicating(messages, last) => {
                let mut mapped = messages.iter().map(&mut f).collect::<Option<Vec<_>>>()?;
                mapped.sort_unstable();
                let last = match last {
                    Some(e) => Some(f(e)?),
                    None => None,
                };
                Flight::Duplicating(mapped, last)
            }
            Flight::Ordered(channels) => {
                let mut mapped = BTreeMap::new();
                for (&(src, dst), queue) in channels {
                    let mut renamed = VecDeque::with_capacity(queue.len());
                    let mut channel = None;
                    for msg in queue {
                        let e = f(&Envelope {
                            src,
                            dst,
                            msg: msg.clone(),
                        })?;
                        channel = Some((e.src, e.dst));
                        renamed.push_back(e.msg);
                    }
                    if let Some(channel) = channel {
                        mapped.insert(channel, renamed);
                    }
                }
                Flight::Ordered(mapped)
            }
        })
    }

    /// The same messages as stateright's `Network`.
    pub fn to_network(&self) -> Network<M> {
        match self {
            Flight::Unordered(messages) => Network::new_unordered_nonduplicating(
                messages
                    .iter()
                    .flat_map(|(e, n)| std::iter::repeat_n(e.clone(), *n)),
            ),
            Flight::Duplicating(messages, last) => {
                Network::new_unordered_duplicating_with_last_msg(messages.clone(), last.clone())
            }
            Flight::Ordered(channels) => {
                Network::new_ordered(channels.iter().flat_map(|(&(src, dst), queue)| {
                    queue.iter().map(move |msg| Envelope {
                        src,
                        dst,
                        msg: msg.clone(),
                    })
                }))
            }
        }
    }
}

/// Extend `chosen` by `count` more messages from `distinct` (message, copies) in every way.
fn choose<M: Clone>(
    distinct: &[(Envelope<M>, usize)],
    count: usize,
    chosen: &mut Vec<Envelope<M>>,
    choices: &mut Vec<Vec<Envelope<M>>>,
) {
    if count == 0 {
        choices.push(chosen.clone());
        return;
    }
    let Some(((env, copies), rest)) = distinct.split_first() else {
        return;
    };
    for k in (0..=(*copies).min(count)).rev() {
        let before = chosen.len();
        chosen.extend(std::iter::repeat_n(env.clone(), k));
        choose(rest, count - k, chosen, choices);
        chosen.truncate(before);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(src: usize, dst: usize, msg: u8) -> Envelope<u8> {
        Envelope {
            src: Id::from(src),
            dst: Id::from(dst),
            msg,
        }
    }

    fn unordered(envelopes: &[Envelope<u8>]) -> Flight<u8> {
        let mut network = Flight::new(NetworkSemantics::Unordered);
        for env in envelopes {
            network.send(*env);
        }
        network
    }

    #[test]
    fn loss_choices_are_the_sub_multisets_of_the_size_asked() {
        let (a, b) = (env(0, 1, 7), env(1, 2, 8));
        let network = unordered(&[a, b, a]);
        assert_eq!(network.loss_choices(1), vec![vec![a], vec![b]]);
        // Two copies of `a`: losing both is one choice, losing either one with `b` another.
        assert_eq!(network.loss_choices(2), vec![vec![a, a], vec![a, b]]);
        assert_eq!(network.loss_choices(3), vec![vec![a, a, b]]);
        assert!(network.loss_choices(4).is_empty());
    }

    #[test]
    fn losing_removes_one_copy_each() {
        let (a, b) = (env(0, 1, 7), env(1, 2, 8));
        let mut network = unordered(&[a, b, a]);
        network.lose(&[a, b]);
        assert_eq!(network, unordered(&[a]));
    }

    /// Send `sent`, take `taken` (delivered or lost), and compare with stateright's network
    /// holding `left`.
    fn agrees(semantics: NetworkSemantics, delivered: bool, left: Network<u8>) {
        let sent = [
            env(1, 0, 5),
            env(0, 2, 9),
            env(0, 1, 7),
            env(0, 2, 3),
            env(0, 1, 7),
        ];
        let mut flight = Flight::new(semantics);
        for e in sent {
            flight.send(e);
        }
        assert_eq!(flight.len(), left_after_sends(semantics));
        assert!(flight.take(&env(0, 1, 7), delivered));
        assert!(flight.take(&env(0, 2, 9), delivered));
        assert!(!flight.take(&env(2, 1, 1), delivered));
        assert_eq!(flight.to_network(), left);
        let deliverable = flight.deliverable();
        let mut sorted = deliverable.clone();
        sorted.sort_unstable();
        assert_eq!(deliverable, sorted);
    }

    fn left_after_sends(semantics: NetworkSemantics) -> usize {
        match semantics {
            NetworkSemantics::Duplicating => 4,
            _ => 5,
        }
    }

    #[test]
    fn a_flight_holds_what_staterights_network_would() {
        agrees(
            NetworkSemantics::Unordered,
            true,
            Network::new_unordered_nonduplicating([env(1, 0, 5), env(0, 1, 7), env(0, 2, 3)]),
        );
        agrees(
            NetworkSemantics::Ordered,
            false,
            Network::new_ordered([env(1, 0, 5), env(0, 2, 3), env(0, 1, 7)]),
        );
        // Delivered: a duplicating network keeps the message and remembers the last delivered.
        agrees(
            NetworkSemantics::Duplicating,
            true,
            Network::new_unordered_duplicating_with_last_msg(
                [env(1, 0, 5), env(0, 2, 9), env(0, 1, 7), env(0, 2, 3)],
                Some(env(0, 2, 9)),
            ),
        );
        // Lost: it is gone.
        agrees(
            NetworkSemantics::Duplicating,
            false,
            Network::new_unordered_duplicating([env(1, 0, 5), env(0, 2, 3)]),
        );
    }

    #[test]
    fn mapping_keeps_the_messages_sorted() {
        let mut flight = Flight::new(NetworkSemantics::Unordered);
        for e in [env(0, 1, 7), env(2, 1, 8), env(0, 1, 7)] {
            flight.send(e);
        }
        let swapped = flight
            .map(|e| {
                let swap = |id: Id| Id::from(2 - usize::from(id));
                Some(Envelope {
                    src: swap(e.src),
                    dst: swap(e.dst),
                    msg: e.msg,
                })
            })
            .expect("renamed");
        let mut expected = Flight::new(NetworkSemantics::Unordered);
        for e in [env(2, 1, 7), env(0, 1, 8), env(2, 1, 7)] {
            expected.send(e);
        }
        assert_eq!(swapped, expected);
        assert!(flight.map(|_| None).is_none());
    }
}
