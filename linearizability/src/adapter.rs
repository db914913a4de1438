//! Runs the search on any [`Model`]: steps operations by index, keeps one state per object of the
//! partition (several when the history is not split), and fingerprints states with a fixed hash.

use std::collections::HashMap;
use std::rc::Rc;

use super::history::Operation;
use super::model::Model;
use super::search::{self, mix64};

/// A fixed-seed hasher, so that fingerprints (and so search order in memo chains) are the same in
/// every run.
fn hasher() -> ahash::RandomState {
    ahash::RandomState::with_seeds(
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    )
}

/// The states of the objects of a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
enum States<S> {
    One(S),
    Many(Rc<[S]>),
}

/// A state of the partition, with its fingerprint kept up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State<S> {
    fingerprint: u64,
    states: States<S>,
}

impl<S: Clone> State<S> {
    pub(crate) fn get(&self, object: usize) -> &S {
        match &self.states {
            States::One(state) => state,
            States::Many(states) => &states[object],
        }
    }
}

/// The operations of one partition, stepped through a [`Model`].
pub(crate) struct Adapter<'a, M: Model> {
    model: &'a M,
    ops: Vec<&'a Operation<M::Input, M::Output>>,
    /// Per operation: which object of the partition it touches.
    objects: Vec<usize>,
    count: usize,
    read_only: Vec<bool>,
    classes: Vec<u64>,
    hasher: ahash::RandomState,
}

impl<'a, M: Model> Adapter<'a, M> {
    pub(crate) fn new(model: &'a M, ops: Vec<&'a Operation<M::Input, M::Output>>) -> Self {
        let mut object_ids: HashMap<String, usize> = HashMap::new();
        let objects = ops
            .iter()
            .map(|op| {
                let next = object_ids.len();
                *object_ids
                    .entry(model.partition_key(&op.input))
                    .or_insert(next)
            })
            .collect();
        let mut input_ids: HashMap<&M::Input, u64> = HashMap::new();
        // Unknown operations with the same input are alike; returned ones are each their own
        // class (their outputs need not be comparable).
        let classes = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                if op.is_pending() {
                    let next = input_ids.len() as u64;
                    *input_ids.entry(&op.input).or_insert(next)
                } else {
                    (1 << 63) | i as u64
                }
            })
            .collect();
        let read_only = ops
            .iter()
            .map(|op| model.is_read_only(&op.input, op.known_output()))
            .collect();
        Self {
            model,
            ops,
            objects,
            count: object_ids.len().max(1),
            read_only,
            classes,
            hasher: hasher(),
        }
    }

    fn hash_of(&self, object: usize, state: &M::State) -> u64 {
        mix64(self.hasher.hash_one(state) ^ mix64(object as u64))
    }
}

impl<M: Model> search::Model for Adapter<'_, M> {
    type State = State<M::State>;

    fn init(&mut self) -> Self::State {
        let init = self.model.init();
        let fingerprint = (0..self.count).fold(0u64, |sum, object| {
            sum.wrapping_add(self.hash_of(object, &init))
        });
        let states = match self.count {
            1 => States::One(init),
            count => States::Many(vec![init; count].into()),
        };
        State {
            fingerprint,
            states,
        }
    }

    fn step(&mut self, state: &Self::State, op: usize) -> Option<Self::State> {
        let object = self.objects[op];
        let operation = self.ops[op];
        let old = state.get(object);
        let new = self
            .model
            .step(old, &operation.input, operation.known_output())?;
        if new == *old {
            return Some(state.clone());
        }
        let fingerprint = state
            .fingerprint
            .wrapping_sub(self.hash_of(object, old))
            .wrapping_add(self.hash_of(object, &new));
        let states = match &state.states {
            States::One(_) => States::One(new),
            States::Many(states) => {
                let mut states = states.to_vec();
                states[object] = new;
                States::Many(states.into())
            }
        };
        Some(State {
            fingerprint,
            states,
        })
    }

    fn fingerprint(&self, state: &Self::State) -> u64 {
        state.fingerprint
    }

    fn is_read_only(&self, op: usize) -> bool {
        self.read_only[op]
    }

    fn class(&self, op: usize) -> u64 {
        self.classes[op]
    }
}
