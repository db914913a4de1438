//! The model keeps its states in its own compact form (`checker::model::state`) and carries out
//! stateright's actor-model transitions itself. These tests hold it to stateright's own
//! `ActorModel` of the same actors: both must reach exactly the same states, compared on what
//! the two forms share (each server's Raft and service while it runs, what it persisted, its
//! timers, whether it is down, and the messages in flight; not the ghost state, which only this
//! model keeps, nor what a crashed server had in memory, which only this model forgets).

use raft::contract::RaftContract as _;
use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use checker::model::stateright::Model;
use checker::model::stateright::actor::ActorModelState;
use checker::model::{Bounds, History, NetworkSemantics, RaftActor, model};

type ActorState = ActorModelState<RaftActor<raft::Raft>, History>;

/// What both forms of a state say, hashed.
fn shared_part(state: &ActorState) -> u64 {
    let mut h = DefaultHasher::new();
    for (i, server) in state.actor_states.iter().enumerate() {
        let crashed = state.crashed[i];
        crashed.hash(&mut h);
        state.actor_storages[i]
            .clone()
            .unwrap_or_default()
            .hash(&mut h);
        if !crashed {
            (&server.raft, server.service_index, &server.service).hash(&mut h);
        }
        state.timers_set[i].hash(&mut h);
    }
    state.network.hash(&mut h);
    h.finish()
}

/// Every state of `model` within `keep`, breadth-first, as `part` sees it (at most `limit`
/// states of `model`).
fn reached<M: Model>(
    model: &M,
    limit: usize,
    keep: impl Fn(&M::State) -> bool,
    part: impl Fn(&M::State) -> u64,
) -> HashSet<u64>
where
    M::State: Hash,
{
    let key = |state: &M::State| {
        let mut h = DefaultHasher::new();
        state.hash(&mut h);
        h.finish()
    };
    let mut seen = HashSet::new();
    let mut parts = HashSet::new();
    let mut queue = VecDeque::new();
    for init in model.init_states() {
        seen.insert(key(&init));
        queue.push_back(init);
    }
    let mut actions = Vec::new();
    while let Some(state) = queue.pop_front() {
        parts.insert(part(&state));
        assert!(
            seen.len() <= limit,
            "more than {limit} states: pick a smaller bound"
        );
        model.actions(&state, &mut actions);
        for action in actions.drain(..) {
            if let Some(next) = model.next_state(&state, action)
                && keep(&next)
                && seen.insert(key(&next))
            {
                queue.push_back(next);
            }
        }
    }
    parts
}

/// Both models reach the same states with `bounds` (which must not shed messages: stateright's
/// actor model has no such losses, see `Bounds::lossy`).
fn same_states(bounds: Bounds) {
    let ours = model::<raft::Raft>(&bounds);
    let ours_reached = reached(
        &ours,
        2_000_000,
        |s| ours.within_boundary(s),
        |s| shared_part(&s.actor_state()),
    );
    let duplicating = bounds.network == NetworkSemantics::Duplicating;
    let theirs_reached = reached(
        &ours.actors,
        2_000_000,
        |s: &ActorState| {
            let terms_ok = s.actor_states.iter().enumerate().all(|(i, server)| {
                s.crashed[i]
                    || server
                        .raft
                        .as_ref()
                        .is_none_or(|r| r.state().0 <= bounds.max_term)
            });
            terms_ok && (duplicating || s.network.len() <= bounds.max_in_flight)
        },
        shared_part,
    );
    assert!(
        ours_reached.len() > 1_000,
        "{bounds}: too small a test ({} states)",
        ours_reached.len()
    );
    assert_eq!(
        ours_reached.len(),
        theirs_reached.len(),
        "{bounds}: this model reached {} states, stateright's {}",
        ours_reached.len(),
        theirs_reached.len()
    );
    assert!(ours_reached == theirs_reached, "{bounds}: different states");
}

#[test]
fn an_unordered_network_with_a_crash_reaches_what_stateright_reaches() {
    same_states(Bounds {
        max_term: 1,
        crashes: 1,
        ..Bounds::default()
    });
}

#[test]
fn an_ordered_lossy_network_reaches_what_stateright_reaches() {
    same_states(Bounds {
        max_term: 1,
        network: NetworkSemantics::Ordered,
        lossy: true,
        max_in_flight: 3,
        ..Bounds::default()
    });
}

#[test]
fn a_duplicating_network_reaches_what_stateright_reaches() {
    same_states(Bounds {
        max_term: 1,
        network: NetworkSemantics::Duplicating,
        ..Bounds::default()
    });
}

#[test]
fn snapshots_reach_what_stateright_reaches() {
    same_states(Bounds {
        max_term: 1,
        commands: 2,
        crashes: 1,
        snapshots: true,
        max_in_flight: 4,
        ..Bounds::default()
    });
}
