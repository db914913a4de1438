//! What one step does to one machine, computed once per thread and remembered.
//!
//! A step of the model runs a Raft handler on one machine: a delivery, a timer, a restart. The
//! handlers are deterministic (the central rule), so what a step does depends only on the machine
//! and the step, and the search meets the same few thousand machines in millions of states: a
//! search that ran the handler every time spent a third of its time there (cloning the Raft,
//! running it, comparing, hashing and interning the result). [`Memo`] remembers the result of each
//! (machine, step) pair it saw; the model applies it to a whole state (messages in flight, ghost
//! state), which is cheap.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use nohash_hasher::IntMap;
use stateright::actor::{
    Actor, ActorModelAction, Command as ActorCommand, Envelope, Id, Out, is_no_op,
    is_no_op_with_timer,
};

use super::actor::{ActorStep, Msg, RaftActor, Stored};
use super::ghost::GhostEvent;
use super::node::RaftNode;
use super::shared::{self, Counted, Shared};
use super::state::{Flight, Machine};

/// What a delivery, a timer or a restart did to one machine.
pub struct MachineStep<R: RaftNode> {
    /// stateright would see no step: the server did not change and asked for nothing (the other
    /// fields then keep the machine as it was).
    pub no_op: bool,
    /// The machine after the step, its timers set and cancelled as the handler asked.
    pub after: Shared<Machine<R>>,
    /// The messages the server sent, in order.
    pub sends: Vec<Envelope<Msg>>,
    /// What the ghost state must record (taken out of the server: no state keeps any).
    pub events: Vec<GhostEvent>,
}

impl<R: RaftNode> MachineStep<R> {
    /// Run `step` on `machine`, server `i`. `step` is a delivery to it, one of its timers, or its
    /// recovery.
    pub fn new(
        actor: &RaftActor<R>,
        i: usize,
        machine: &Shared<Machine<R>>,
        step: &ActorStep,
    ) -> Self {
        let id = Id::from(i);
        let mut out = Out::new();
        let (no_op, mut after) = match step {
            ActorModelAction::Deliver { src, dst, msg } => {
                debug_assert_eq!(*dst, id);
                let mut server = Cow::Borrowed(&machine.server);
                actor.on_msg(id, &mut server, *src, msg.clone(), &mut out);
                (is_no_op(&server, &out), machine.after(server))
            }
            ActorModelAction::Timeout(at, timer) => {
                debug_assert_eq!(*at, id);
                let mut server = Cow::Borrowed(&machine.server);
                actor.on_timeout(id, &mut server, timer, &mut out);
                let no_op = is_no_op_with_timer(&server, &out, timer);
                let mut after = machine.after(server);
                // A timer that fired is no longer set (unless the handler sets it again).
                after.cancel_timer(timer);
                (no_op, after)
            }
            ActorModelAction::Recover(at) => {
                debug_assert_eq!(*at, id);
                let storage = Stored {
                    state: machine.server.state.clone(),
                    snapshot: machine.server.snapshot.clone(),
                };
                let server = actor.on_start(id, &Some(storage), &mut out);
                let machine = Machine {
                    server,
                    // The crash cancelled every timer; the restarted server sets its own.
                    timers: Vec::new(),
                    crashed: false,
                };
                (false, machine)
            }
            other => unreachable!("{other:?} is not a step of one machine's server"),
        };
        if no_op {
            return MachineStep {
                no_op,
                after: machine.clone(),
                sends: Vec::new(),
                events: Vec::new(),
            };
        }
        let (sends, events) = carry_out(i, &mut after, out);
        MachineStep {
            no_op,
            after: Shared::new(after),
            sends,
            events,
        }
    }
}

/// Carry out on `machine` (server `i`, right after a handler ran) what the handler asked
/// stateright for: set and cancel timers, and return the messages to send and the ghost events
/// (taken out of the server). Saves need nothing: the server keeps the bytes it saved.
pub fn carry_out<R: RaftNode>(
    i: usize,
    machine: &mut Machine<R>,
    out: Out<RaftActor<R>>,
) -> (Vec<Envelope<Msg>>, Vec<GhostEvent>) {
    let mut sends = Vec::new();
    for command in out {
        match command {
            ActorCommand::SetTimer(timer, _) => machine.set_timer(timer),
            ActorCommand::CancelTimer(timer) => machine.cancel_timer(&timer),
            ActorCommand::Send(dst, msg) => sends.push(Envelope {
                src: Id::from(i),
                dst,
                msg,
            }),
            ActorCommand::Save(_) => {}
            ActorCommand::ChooseRandom(..) => {
                unreachable!("the Raft actor makes no random choices")
            }
        }
    }
    let events = std::mem::take(&mut machine.server.events);
    (sends, events)
}

/// One search thread's memory of what steps did (see the module's documentation): to machines,
/// by the hash of the machine and the step; to the messages in flight; and the ways to shed
/// messages from a network over its bound. Each table starts over when full, which bounds its
/// memory. Entries are checked against their whole key, not only its hash: a wrong step would be
/// a wrong state.
pub struct Memo<R: RaftNode> {
    steps: IntMap<u64, Remembered<R>>,
    moves: IntMap<u64, Move<R>>,
    sheddings: IntMap<u64, (Counted<Flight<Msg>>, usize, Sheddings)>,
}

/// The messages in flight after a machine's step: `network` before it, `delivered` taken out of
/// flight, and what `change` sent added.
struct Move<R: RaftNode> {
    network: Counted<Flight<Msg>>,
    delivered: Option<Envelope<Msg>>,
    change: Arc<MachineStep<R>>,
    result: Counted<Flight<Msg>>,
}

/// One way for a network over its bound to shed messages: which it loses, and what remains.
pub struct Shedding {
    pub lost: Vec<Envelope<Msg>>,
    pub kept: Counted<Flight<Msg>>,
}

/// All the ways a network sheds a number of messages, in [`Flight::loss_choices`]' order.
pub type Sheddings = Arc<[Shedding]>;

struct Remembered<R: RaftNode> {
    machine: Shared<Machine<R>>,
    step: ActorStep,
    result: Arc<MachineStep<R>>,
}

/// Entries the memo keeps of steps (small: a machine is interned) before it starts over.
const STEP_ENTRIES: usize = 1 << 18;

/// Entries the memo keeps of networks after steps and of sheddings (each holds sets of messages
/// of its own) before it starts over. 2^18 of each took over a gigabyte on the target bound, for
/// no measurable gain in speed.
const NETWORK_ENTRIES: usize = 1 << 16;

impl<R: RaftNode> Default for Memo<R> {
    fn default() -> Self {
        Memo {
            steps: IntMap::default(),
            moves: IntMap::default(),
            sheddings: IntMap::default(),
        }
    }
}

impl<R: RaftNode> Memo<R> {
    /// What `step` did to `machine`, computed by `run` if this memo has not seen the pair.
    pub fn get_or_insert(
        &mut self,
        machine: &Shared<Machine<R>>,
        step: &ActorStep,
        run: impl FnOnce() -> MachineStep<R>,
    ) -> Arc<MachineStep<R>> {
        let key = key(&(machine, step));
        if let Some(seen) = self.steps.get(&key)
            && seen.machine == *machine
            && seen.step == *step
        {
            return seen.result.clone();
        }
        make_room(&mut self.steps, STEP_ENTRIES);
        let result = Arc::new(run());
        self.steps.insert(
            key,
            Remembered {
                machine: machine.clone(),
                step: step.clone(),
                result: result.clone(),
            },
        );
        result
    }

    /// The messages in flight after `change`: `network`, less `delivered`, plus what `change`
    /// sent.
    pub fn network_after(
        &mut self,
        network: &Counted<Flight<Msg>>,
        delivered: Option<&Envelope<Msg>>,
        change: &Arc<MachineStep<R>>,
    ) -> Counted<Flight<Msg>> {
        // The step's result is told apart by its address, which is its own while the entry
        // holds it.
        let key = key(&(network, delivered, Arc::as_ptr(change)));
        if let Some(seen) = self.moves.get(&key)
            && seen.network == *network
            && seen.delivered.as_ref() == delivered
            && Arc::ptr_eq(&seen.change, change)
        {
            return seen.result.clone();
        }
        make_room(&mut self.moves, NETWORK_ENTRIES);
        let mut after = Flight::clone(network);
        if let Some(env) = delivered {
            assert!(after.take(env, true), "a delivered message was in flight");
        }
        for env in &change.sends {
            after.send(env.clone());
        }
        let result = Counted::new(after);
        self.moves.insert(
            key,
            Move {
                network: network.clone(),
                delivered: delivered.cloned(),
                change: change.clone(),
                result: result.clone(),
            },
        );
        result
    }

    /// The ways `network` (unordered) can lose `count` messages.
    pub fn sheddings(&mut self, network: &Counted<Flight<Msg>>, count: usize) -> Sheddings {
        let key = key(&(network, count));
        if let Some((seen, seen_count, sheddings)) = self.sheddings.get(&key)
            && seen == network
            && *seen_count == count
        {
            return sheddings.clone();
        }
        make_room(&mut self.sheddings, NETWORK_ENTRIES);
        let sheddings: Sheddings = network
            .loss_choices(count)
            .into_iter()
            .map(|lost| {
                let mut kept = Flight::clone(network);
                kept.lose(&lost);
                Shedding {
                    lost,
                    kept: Counted::new(kept),
                }
            })
            .collect();
        self.sheddings
            .insert(key, (network.clone(), count, sheddings.clone()));
        sheddings
    }
}

fn key(value: &impl Hash) -> u64 {
    let mut h = shared::hasher();
    value.hash(&mut h);
    h.finish()
}

/// Start `table` over if it holds `entries`.
fn make_room<V>(table: &mut IntMap<u64, V>, entries: usize) {
    if table.len() >= entries {
        table.clear();
    }
}

// BEGIN INSTRUCTOR ONLY
// These tests step the reference Raft, so they are the instructor's.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Bounds, ModelTimer, NetworkSemantics, model};
    use raft::contract::Timer;
    use stateright::Model;

    type Raft = raft::Raft;

    /// The first state of the default bound, and the model.
    fn start() -> (crate::model::RaftModel<Raft>, crate::model::RaftState<Raft>) {
        let model = model::<Raft>(&Bounds::default());
        let init = model.init_states().remove(0);
        (model, init)
    }

    fn election(i: usize) -> ActorStep {
        ActorModelAction::Timeout(Id::from(i), ModelTimer::Raft(Timer::Election))
    }

    #[test]
    fn a_pair_seen_before_gives_the_same_result_and_a_new_pair_is_run() {
        let (model, init) = start();
        let mut memo = Memo::<Raft>::default();
        let machine = &init.machines[0];
        let first = memo.get_or_insert(machine, &election(0), || {
            MachineStep::new(&model.actor, 0, machine, &election(0))
        });
        assert!(!first.no_op);
        assert_eq!(
            first.sends.len(),
            2,
            "a candidate asks both others for votes"
        );
        let again = memo.get_or_insert(machine, &election(0), || unreachable!("remembered"));
        assert!(Arc::ptr_eq(&first, &again));
        // Another machine with the same step, and the same machine with another step, run.
        let mut ran = 0;
        let other = &init.machines[1];
        memo.get_or_insert(other, &election(1), || {
            ran += 1;
            MachineStep::new(&model.actor, 1, other, &election(1))
        });
        let heartbeat = ActorModelAction::Timeout(Id::from(0), ModelTimer::Raft(Timer::Heartbeat));
        memo.get_or_insert(machine, &heartbeat, || {
            ran += 1;
            MachineStep::new(&model.actor, 0, machine, &heartbeat)
        });
        assert_eq!(ran, 2);
    }

    #[test]
    fn a_remembered_network_is_the_one_computed_anew() {
        let (model, init) = start();
        let mut memo = Memo::<Raft>::default();
        let change = Arc::new(MachineStep::new(
            &model.actor,
            0,
            &init.machines[0],
            &election(0),
        ));
        let network = &init.network;
        let after = memo.network_after(network, None, &change);
        assert_eq!(after.len(), 2);
        let mut expected = Flight::new(NetworkSemantics::Unordered);
        change.sends.iter().for_each(|e| expected.send(e.clone()));
        assert_eq!(*after, expected);
        assert!(Counted::ptr_eq(
            &after,
            &memo.network_after(network, None, &change)
        ));
        // Delivering one request leaves the other.
        let delivered = change.sends[0].clone();
        let left = memo.network_after(
            &after,
            Some(&delivered),
            &Arc::new(MachineStep {
                no_op: true,
                after: init.machines[1].clone(),
                sends: Vec::new(),
                events: Vec::new(),
            }),
        );
        assert_eq!(left.len(), 1);
        assert_eq!(*left.deliverable()[0].msg, change.sends[1].msg);
        // Shedding one of the two: either can go, and the other stays.
        let sheddings = memo.sheddings(&after, 1);
        assert_eq!(sheddings.len(), 2);
        for shedding in sheddings.iter() {
            assert_eq!(shedding.lost.len(), 1);
            assert_eq!(shedding.kept.len(), 1);
            let mut whole = Flight::clone(&shedding.kept);
            whole.send(shedding.lost[0].clone());
            assert_eq!(whole, *after);
        }
        assert!(Arc::ptr_eq(&sheddings, &memo.sheddings(&after, 1)));
    }
}
// END INSTRUCTOR ONLY
