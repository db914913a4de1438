//! Short counterexamples: leaving steps out of a path, and level-ordered searches for shorter
//! paths (see [`super::check`] for what "shortest" means by strategy).

use std::collections::BTreeMap;

use stateright::{Checker, Model, Path};

use super::action::RaftAction;
use super::action::RaftPath;
use super::bounds::{Bounds, SEARCH_STATE_LIMIT};
use super::node::RaftNode;
use super::properties::{SAFETY, first_violation, violation_of};
use super::raft_model::{RaftModel, model};
use super::report::Shortness;
use super::search::{self, Counts, End, SearchOptions};
/// Shorten each path (of a violation of the property it is filed under): leave out steps while
/// the rest still violates the property ([`minimize`]), then look for shorter paths with one
/// level-ordered search of the depths below each (see the module's documentation).
pub(super) fn shorten<R: RaftNode>(
    model: &RaftModel<R>,
    paths: BTreeMap<&'static str, RaftPath<R>>,
    threads: usize,
    state_limit: usize,
    progress: &(dyn Fn(Counts) + Sync),
) -> BTreeMap<&'static str, (RaftPath<R>, Shortness)> {
    let mut minimal = BTreeMap::new();
    for (name, path) in paths {
        let init = path.clone().into_vec()[0].0.clone();
        let steps = minimize(model, path.clone().into_actions(), name);
        let path = Path::from_actions(model, init, &steps).unwrap_or(path);
        minimal.insert(name, path);
    }
    let longest = minimal
        .values()
        .map(|p| p.clone().into_actions().len())
        .max()
        .unwrap_or(0);
    if longest == 0 {
        return minimal
            .into_iter()
            .map(|(name, path)| (name, (path, Shortness::Shortest)))
            .collect();
    }
    let outcome = search::search(
        model,
        &SearchOptions {
            threads: threads.max(1),
            max_depth: Some(longest - 1),
            deadline: None,
            state_limit: Some(state_limit),
            properties: Some(minimal.keys().copied().collect()),
            stop_after_first_violation: false,
        },
        progress,
    );
    // Depths below `checked` were all checked (every one, if the search went through them all).
    let checked = match outcome.end {
        End::Exhausted | End::DepthLimit | End::AllDiscovered | End::FirstViolation => usize::MAX,
        End::Deadline | End::StateLimit | End::Failed => outcome.counts.depth,
    };
    minimal
        .into_iter()
        .map(|(name, path)| {
            let len = path.clone().into_actions().len();
            match outcome.discoveries.get(name) {
                Some(shorter) if shorter.clone().into_actions().len() < len => {
                    (name, (shorter.clone(), Shortness::Shortest))
                }
                _ if checked >= len.saturating_sub(1) => (name, (path, Shortness::Shortest)),
                _ => (
                    name,
                    (
                        path,
                        Shortness::Minimal {
                            searched: outcome.counts.unique,
                        },
                    ),
                ),
            }
        })
        .collect()
}

/// The shortest path that violates `property`, at most `limit` steps long (`None` if there is
/// none, or if the search for one stopped at [`SEARCH_STATE_LIMIT`] states).
pub fn shortest<R: RaftNode>(
    bounds: &Bounds,
    property: &'static str,
    limit: usize,
) -> Option<RaftPath<R>> {
    let model = model::<R>(bounds);
    let mut outcome = search::search(
        &model,
        &SearchOptions {
            max_depth: Some(limit),
            state_limit: Some(SEARCH_STATE_LIMIT),
            properties: Some(vec![property]),
            ..SearchOptions::default()
        },
        &|_| {},
    );
    outcome.discoveries.remove(property)
}

/// The shortest path (up to `max_depth` steps) that violates any safety property, and which: the
/// first such path a one-thread breadth-first queue would meet, named by the first property (in
/// [`first_violation`]'s order) its last state violates. `None` also if the search stopped at
/// [`SEARCH_STATE_LIMIT`] states without one.
pub fn shortest_violation<R: RaftNode>(
    bounds: &Bounds,
    max_depth: usize,
) -> Option<(&'static str, RaftPath<R>)> {
    shortest_violation_with::<R>(bounds, max_depth, 1)
}

/// [`shortest_violation`] on `threads` threads (the same result).
pub fn shortest_violation_with<R: RaftNode>(
    bounds: &Bounds,
    max_depth: usize,
    threads: usize,
) -> Option<(&'static str, RaftPath<R>)> {
    let model = model::<R>(bounds);
    let outcome = search::search(
        &model,
        &SearchOptions {
            threads,
            max_depth: Some(max_depth),
            state_limit: Some(SEARCH_STATE_LIMIT),
            properties: Some(SAFETY.to_vec()),
            stop_after_first_violation: true,
            ..SearchOptions::default()
        },
        &|_| {},
    );
    let (_, name) = outcome
        .found_at
        .iter()
        .map(|(name, at)| (*at, *name))
        .min()?;
    let path = outcome.discoveries.get(name)?.clone();
    let (property, _) = first_violation(path.last_state())?;
    Some((property, path))
}

/// Replay `actions` from the initial state; the steps up to the first state that violates
/// `property`, or `None` if some step is not possible or no state violates it.
fn replay<R: RaftNode>(
    model: &RaftModel<R>,
    actions: &[RaftAction<R>],
    property: &str,
) -> Option<Vec<RaftAction<R>>> {
    let mut state = model.init_states().into_iter().next()?;
    for (k, action) in actions.iter().enumerate() {
        let mut enabled = Vec::new();
        model.actions(&state, &mut enabled);
        if !enabled.contains(action) {
            return None;
        }
        state = model.next_state(&state, action.clone())?;
        if !Model::within_boundary(model, &state) {
            return None;
        }
        if violation_of(property, &state).is_some() {
            return Some(actions[..=k].to_vec());
        }
    }
    None
}

/// Shorten a counterexample for `property`: drop single steps as long as the rest still leads to
/// a violation of it (the result is minimal in that no single step can be left out, not
/// necessarily the shortest counterexample there is).
pub fn minimize<R: RaftNode>(
    model: &RaftModel<R>,
    mut actions: Vec<RaftAction<R>>,
    property: &str,
) -> Vec<RaftAction<R>> {
    // Passes from the last step to the first, until one leaves every step in: leaving a step
    // out can make another one unnecessary.
    loop {
        let before = actions.len();
        let mut k = actions.len();
        while k > 0 {
            k -= 1;
            let mut shorter = actions.clone();
            shorter.remove(k);
            if let Some(found) = replay(model, &shorter, property) {
                actions = found;
                k = k.min(actions.len());
            }
        }
        if actions.len() == before {
            return actions;
        }
    }
}

/// Look for a safety violation depth-first (stateright's DFS, one thread, so always the same
/// one), stopping at the first; shorten it with [`minimize`] and return the violated property and
/// the path. Far cheaper than breadth-first search when the violation lies deep in a large state
/// space; the path is the shortest *found* (no single step of it can go), not necessarily the
/// shortest there is.
pub fn depth_first_violation<R: RaftNode>(
    bounds: &Bounds,
    max_depth: Option<usize>,
) -> Option<(&'static str, RaftPath<R>)> {
    let mut builder = model::<R>(bounds)
        .checker()
        .finish_when(stateright::HasDiscoveries::AnyFailures);
    if let Some(depth) = max_depth {
        // stateright counts the initial state as depth 1 and does not check its target depth.
        builder = builder.target_max_depth(depth + 2);
    }
    let checker = builder.spawn_dfs().join();
    let discoveries = checker.discoveries();
    let (name, path) = SAFETY
        .iter()
        .find_map(|name| discoveries.get(name).map(|path| (*name, path.clone())))?;
    let model = model::<R>(bounds);
    let steps = minimize(&model, path.into_actions(), name);
    let init = model.init_states().into_iter().next()?;
    Path::from_actions(&model, init, &steps).map(|path| (name, path))
}
