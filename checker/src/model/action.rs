//! One step of the Raft model: an actor step and the losses folded into it.

use std::fmt;
use std::sync::Arc;

use stateright::Path;
use stateright::actor::Envelope;

use super::actor::{ActorStep, Msg};
use super::node::RaftNode;
use super::state::RaftState;
use super::step::Sheddings;
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
    pub(super) after_step: Option<Arc<RaftState<R>>>,
    /// The losses: one of the ways to shed the excess, by its place in the list of them.
    pub(super) shedding: Option<(Sheddings, usize)>,
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

/// A path through the model.
pub type RaftPath<R> = Path<RaftState<R>, RaftAction<R>>;
