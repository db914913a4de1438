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
use std::sync::Arc;

use nohash_hasher::IntMap;
use stateright::actor::{
    Actor, ActorModelAction, Command as ActorCommand, Envelope, Id, Out, is_no_op,
    is_no_op_with_timer,
};

use super::shared;
use super::{ActorStep, GhostEvent, Machine, Msg, RaftActor, RaftNode, Shared, Stored};

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

/// One search thread's memory of what steps did to machines (see the module's documentation),
/// by the hash of the machine and the step. It starts over when full, which bounds its memory.
pub struct Memo<R: RaftNode> {
    steps: IntMap<u64, Remembered<R>>,
}

struct Remembered<R: RaftNode> {
    machine: Shared<Machine<R>>,
    step: ActorStep,
    result: Arc<MachineStep<R>>,
}

/// Entries the memo keeps before it starts over.
const MEMO_ENTRIES: usize = 1 << 18;

impl<R: RaftNode> Default for Memo<R> {
    fn default() -> Self {
        Memo {
            steps: IntMap::default(),
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
        let key = {
            use std::hash::{Hash, Hasher};
            let mut h = shared::hasher();
            machine.hash(&mut h);
            step.hash(&mut h);
            h.finish()
        };
        if let Some(seen) = self.steps.get(&key)
            // The pair itself, not only its hash: a wrong step would be a wrong state.
            && seen.machine == *machine
            && seen.step == *step
        {
            return seen.result.clone();
        }
        if self.steps.len() >= MEMO_ENTRIES {
            self.steps.clear();
        }
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
}
