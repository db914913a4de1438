//! The Raft model: stateright's actor-model transitions carried out on this crate's state, with
//! the network bounds and the properties on top.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use stateright::actor::{Actor, ActorModel, ActorModelAction, Envelope, Id, LossyNetwork, Out};
use stateright::{Model, Path, Property};
use thread_local::ThreadLocal;

use super::action::RaftAction;
use super::actor::{ActorStep, Msg, RaftActor};
use super::bounds::{Bounds, NetworkSemantics};
use super::node::RaftNode;
use super::panics;
use super::properties::{self, record};
use super::shared::{Counted, Shared};
use super::state::{Flight, History, Machine, RaftState};
use super::step::{self, MachineStep, Memo};
use super::trace;
/// The Raft model: the servers as stateright actors, with this crate's state representation
/// (see [`state`]), network bounds (see [`Bounds::lossy`]) and properties on top.
pub struct RaftModel<R: RaftNode> {
    /// The same actors in stateright's own actor model: the bounds, and replays for `as_svg`.
    pub actors: ActorModel<RaftActor<R>, Bounds, History>,
    pub(super) actor: RaftActor<R>,
    /// Each search thread's memory of what steps did to machines.
    memo: ThreadLocal<RefCell<Memo<R>>>,
    /// Offer only steps that change the state (see [`RaftModel::for_simulation`]).
    only_steps_that_change: bool,
    /// Once set, no state has a next step (see [`RaftModel::stopped_by`]).
    stop: Option<Arc<AtomicBool>>,
}

impl<R: RaftNode> RaftModel<R> {
    pub fn bounds(&self) -> &Bounds {
        &self.actors.cfg
    }

    /// The same model for stateright's simulation: it offers only the steps that change the
    /// state, each with its outcome, so `next_state` never ignores an action. Why: stateright
    /// 0.31's simulation records an ignored action's index in its path but cannot replay it, so
    /// a counterexample whose walk met one panics when it is rebuilt ("Unable to reconstruct a
    /// `Path`"). The states reached, and the paths, are the same as the plain model's.
    pub fn for_simulation(mut self) -> Self {
        self.only_steps_that_change = true;
        self
    }

    /// The same model, whose search ends soon after `stop` is set: from then on every state is a
    /// dead end, so stateright's depth-first threads empty their stacks and return. (A single
    /// depth-first thread never looks at stateright's own timeout, and nothing else stops it.)
    /// Sound because no property is an "eventually" one, which a dead end would settle. Clear
    /// `stop` before rebuilding paths: a path is replayed through [`Model::actions`].
    pub fn stopped_by(mut self, stop: Arc<AtomicBool>) -> Self {
        assert!(
            self.properties()
                .iter()
                .all(|p| p.expectation != stateright::Expectation::Eventually),
            "a stopped search would settle an eventually property"
        );
        self.stop = Some(stop);
        self
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

    /// With [`Bounds::lose_stale`]: the unordered network loses every message whose delivery
    /// would change nothing now (a stale vote reply, a duplicate ack). Such a message can never be
    /// delivered in this model (a delivery that changes nothing is not a step), so it would hold
    /// its place under `max_in_flight` for good and hide the paths that need that room. Losing a
    /// message is something any network may do at any time, so every path found this way is a
    /// real one; and it is done the same way after every step (no new choices), so it adds no
    /// branching. (Consuming such messages as steps of their own instead, or losing them only at
    /// the cap, multiplied the default bound's states beyond minutes: see BENCHMARKS.md.)
    fn lose_stale_messages(&self, next: &mut RaftState<R>) {
        let bounds = self.bounds();
        if !bounds.lose_stale || bounds.network != NetworkSemantics::Unordered {
            return;
        }
        let dead: Vec<Envelope<Msg>> = next
            .network
            .deliverable()
            .into_iter()
            .filter(|e| {
                let i = usize::from(e.dst);
                next.machines.get(i).is_some_and(|machine| {
                    !machine.crashed
                        && self
                            .machine_step(
                                i,
                                machine,
                                &ActorModelAction::Deliver {
                                    src: e.src,
                                    dst: e.dst,
                                    msg: e.msg.clone(),
                                },
                            )
                            .no_op
                })
            })
            .map(|e| e.to_cloned_msg())
            .collect();
        if dead.is_empty() {
            return;
        }
        next.network.update(|network| {
            for envelope in &dead {
                while network.take(envelope, false) {}
            }
            true
        });
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
        if self
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::Relaxed))
        {
            return;
        }
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
        if self.only_steps_that_change {
            for step in steps {
                if let Some(after) = self.actor_next(state, &step) {
                    actions.push(RaftAction {
                        step,
                        after_step: Some(Arc::new(after)),
                        shedding: None,
                    });
                }
            }
            return;
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
        self.lose_stale_messages(&mut next);
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
        properties::all::<R, Self>()
    }

    fn within_boundary(&self, state: &Self::State) -> bool {
        let bounds = self.bounds();
        // A pre-candidate (lab 2E) counts as in the term it asks pre-votes for: so at the bound,
        // an election timeout ends the exploration as it did before pre-votes.
        let terms_ok = state.servers().all(|s| {
            s.raft.as_ref().is_none_or(|r| {
                let asks = bounds.prevote && r.observe().role == raft::contract::Role::PreCandidate;
                r.state().0 + u64::from(asks) <= bounds.max_term
            })
        });
        let timeouts_ok = !bounds.prevote || state.history.ghost.timeouts <= bounds.max_timeouts;
        // A lossy network sheds the excess itself.
        let network_ok = bounds.network == NetworkSemantics::Duplicating
            || self.sheds()
            || state.network.len() <= bounds.max_in_flight;
        terms_ok && network_ok && timeouts_ok
    }
}

/// The stateright model for `bounds`: actors, network, crashes, properties, boundary.
pub fn model<R: RaftNode>(bounds: &Bounds) -> RaftModel<R> {
    let actor = RaftActor::<R> {
        servers: bounds.servers,
        commands: bounds.commands,
        snapshots: bounds.snapshots,
        options: raft::contract::Options {
            prevote_and_check_quorum: bounds.prevote,
        },
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
        only_steps_that_change: false,
        stop: None,
    }
}

/// The model's initial state, for tests of the Explorer.
pub fn initial_state<R: RaftNode>(bounds: &Bounds) -> RaftState<R> {
    model::<R>(bounds)
        .init_states()
        .into_iter()
        .next()
        .expect("one initial state")
}
