//! Symmetry reduction: servers are interchangeable, so states that differ only in the servers'
//! names behave alike, and the checker needs to explore only one of each such set.
//!
//! stateright's DFS calls [`representative`] on every state it generates and keeps the
//! representative's fingerprint instead of the state's, so a state whose renaming was seen before
//! is not explored again. Paths are unaffected: the search goes on from the state itself, and a
//! counterexample replays exactly as found.
//!
//! Renaming a state renames everything in it that names a server: the positions of the servers,
//! messages' senders and receivers, and the server ids *inside* Raft's state, its persisted bytes
//! and its messages. Only the Raft knows where those are, so this needs its optional
//! `relabel*` functions (see `raft::Raft::relabel`); [`supported`] says whether it has them.
//!
//! Any renaming of a state is sound to pick. To pick the *same* one for every renaming of a
//! state (and so gain the most), servers are sorted by a key that renaming does not change (what
//! their Raft observes, their timers, crashes, the terms they led), and among servers with equal
//! keys every order is tried, keeping the renamed state with the least hash.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::sync::OnceLock;

use std::hash::{Hash, Hasher};

use nohash_hasher::IntMap;

use raft::contract::{Effects, Options, PeerId, Persisted, Request, Timer};
use stateright::actor::{Envelope, Id};

use super::actor::{Msg, Server};
use super::bounds::{Bounds, NetworkSemantics, Strategy};
use super::ghost::Ghost;
use super::node::RaftNode;
use super::panics;
use super::shared::{self, hash_of};
use super::shared::{Counted, Shared};
use super::state::{Flight, History, Machine, RaftState};

/// Why `checker check --symmetry` cannot be used for `R` with these bounds and strategy, if it
/// cannot.
pub fn problem<R: RaftNode>(bounds: &Bounds, strategy: Strategy) -> Option<String> {
    if strategy == Strategy::Bfs {
        Some(
            "stateright's breadth-first search has no symmetry reduction; use --strategy dfs"
                .into(),
        )
    } else if bounds.network == NetworkSemantics::Sequential {
        Some(
            "the sequential network delivers messages in the order they were sent, across \
             servers, and renaming servers does not keep that order; use another network"
                .into(),
        )
    } else if !(2..=MAX_SERVERS).contains(&bounds.servers) {
        Some(format!("symmetry needs 2 to {MAX_SERVERS} servers"))
    } else {
        match panics::catch(|| probe::<R>(bounds.servers)) {
            Ok(true) => None,
            Ok(false) => Some(
                "this Raft does not rename servers (its `relabel`, `relabel_persisted`, \
                 `relabel_request` and `relabel_reply` return None; see raft/src/raft.rs)"
                    .into(),
            ),
            Err(panic) => Some(format!(
                "the Raft panicked while the checker tried renaming servers: {panic}"
            )),
        }
    }
}

/// Whether `R` can rename servers: it boots, starts an election, and all four of its `relabel*`
/// functions rename what that produced (`false` if the Raft panics on the way).
pub fn supported<R: RaftNode>(servers: usize) -> bool {
    panics::catch(|| probe::<R>(servers)).unwrap_or(false)
}

fn probe<R: RaftNode>(servers: usize) -> bool {
    if servers < 2 {
        return false;
    }
    let to: Vec<PeerId> = (0..servers).rev().collect();
    let mut out = Effects::default();
    let peers: Vec<PeerId> = (0..servers).collect();
    let (Ok(mut candidate), Ok(mut voter)) = (
        R::new(
            0,
            &peers,
            &Persisted::default(),
            Options::default(),
            &mut out,
        ),
        R::new(
            1,
            &peers,
            &Persisted::default(),
            Options::default(),
            &mut out,
        ),
    ) else {
        return false;
    };
    // Ask first, so that a Raft without renaming is not run further (its handlers may still be
    // `todo!()`).
    if candidate.relabel(&to).is_none() {
        return false;
    }
    let mut out = Effects::default();
    candidate.on_timer(Timer::Election, &mut out);
    let Some((_, request)) = out.sends.first().cloned() else {
        return false;
    };
    let persisted = out.persist.map(|p| p.state).unwrap_or_default();
    let reply = voter.on_request(0, request.clone(), &mut Effects::default());
    candidate.relabel(&to).is_some()
        && R::relabel_persisted(&persisted, &to).is_some()
        && R::relabel_request(&request, &to).is_some()
        && R::relabel_reply(&reply, &to).is_some()
}

/// The representative of `state`'s renamings (see the module's documentation). `state` itself
/// when renaming is not possible: on a sequential network (whose global order of messages
/// renaming does not preserve), once a violation was seen (its message names servers), with more
/// than [`MAX_SERVERS`] servers, or when the Raft does not support it.
///
/// A Raft that panics while renaming (or while read for the servers' keys) gets `state` itself
/// too: any state is a sound representative, it only saves less.
pub fn representative<R: RaftNode>(state: &RaftState<R>) -> RaftState<R> {
    panics::catch(|| best_renaming(state))
        .ok()
        .flatten()
        .unwrap_or_else(|| state.clone())
}

/// The representative of `state`'s renamings, or `None` if it is `state` itself.
fn best_renaming<R: RaftNode>(state: &RaftState<R>) -> Option<RaftState<R>> {
    let n = state.machines.len();
    if !(2..=MAX_SERVERS).contains(&n)
        || !state.history.sent.is_empty()
        || !state.history.ghost.violations.is_empty()
    {
        return None;
    }
    with_cache(|cache: &mut Cache<R>| {
        let keys: Vec<u64> = (0..n).map(|i| server_key(state, i)).collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        // How many orders there are to try: the product of the factorials of the groups' sizes.
        let ties: usize = sorted
            .chunk_by(|a, b| a == b)
            .map(|group| (1..=group.len()).product::<usize>())
            .product();
        // The least hash so far, and the renamed state (`None`: `state` itself).
        let mut best: Option<(u64, Option<RaftState<R>>)> = None;
        let mut unsupported = false;
        let mut consider = |order: &[usize]| {
            // `order[new] = old`: the server now at `old` becomes server `new`.
            let mut to = [0; MAX_SERVERS];
            for (new, &old) in order.iter().enumerate() {
                to[old] = new;
            }
            let to = &to[..n];
            let renamed = if to.iter().enumerate().all(|(old, &new)| old == new) {
                None
            } else {
                match rename(state, to, cache) {
                    Some(renamed) => Some(renamed),
                    None => {
                        unsupported = true;
                        return;
                    }
                }
            };
            if ties == 1 {
                best = Some((0, renamed));
                return;
            }
            let hash = hash_of(renamed.as_ref().unwrap_or(state));
            if best.as_ref().is_none_or(|(least, _)| hash < *least) {
                best = Some((hash, renamed));
            }
        };
        let mut used = [false; MAX_SERVERS];
        let mut order = Vec::with_capacity(n);
        orders(&keys, &sorted, &mut used, &mut order, &mut consider);
        if unsupported {
            return None;
        }
        best.and_then(|(_, renamed)| renamed)
    })
}

/// `state` with server `p` renamed `to[p]` throughout (`to` is a permutation of the servers);
/// `None` if the Raft cannot rename. For tests and tools: the search uses [`representative`].
pub fn rename_state<R: RaftNode>(state: &RaftState<R>, to: &[PeerId]) -> Option<RaftState<R>> {
    let mut sorted = to.to_vec();
    sorted.sort_unstable();
    assert!(
        to.len() == state.machines.len()
            && to.len() <= MAX_SERVERS
            && sorted.iter().enumerate().all(|(i, &p)| i == p),
        "{to:?} is not a renaming of {} servers",
        state.machines.len()
    );
    if !state.history.sent.is_empty() {
        return None;
    }
    with_cache(|cache| rename(state, to, cache))
}

/// The most servers [`representative`] renames (the CLI's limit too).
pub const MAX_SERVERS: usize = 7;

/// Call `f` with every order of the servers in which their keys ascend.
fn orders(
    keys: &[u64],
    sorted: &[u64],
    used: &mut [bool],
    order: &mut Vec<usize>,
    f: &mut impl FnMut(&[usize]),
) {
    let k = order.len();
    if k == keys.len() {
        f(order);
        return;
    }
    for i in 0..keys.len() {
        if !used[i] && keys[i] == sorted[k] {
            used[i] = true;
            order.push(i);
            orders(keys, sorted, used, order, f);
            order.pop();
            used[i] = false;
        }
    }
}

/// What renaming does not change about server `i`: a hash of everything about it except its
/// own and its peers' names.
fn server_key<R: RaftNode>(state: &RaftState<R>, i: usize) -> u64 {
    let side = machine_side(&state.machines[i], state.machines.len());
    let mut h = shared::hasher();
    side.key.hash(&mut h);
    // Whom it voted for, up to names: nobody, itself, or another server.
    side.voted_for.map(|p| p == i).hash(&mut h);
    for (term, leader) in &state.history.ghost.leaders {
        if *leader == i {
            term.hash(&mut h);
        }
    }
    h.finish()
}

/// What symmetry keeps with each machine (see [`Shared::derived`]): the part of its
/// [`server_key`] that does not depend on where it is, and its renamings.
struct MachineSide<R: RaftNode> {
    /// A hash of the machine without names: its crash, service, snapshot, timers, and what its
    /// Raft observes but its vote.
    key: u64,
    voted_for: Option<PeerId>,
    renamed: Renamings<Machine<R>>,
}

fn machine_side<R: RaftNode>(
    machine: &Shared<Machine<R>>,
    servers: usize,
) -> &'static MachineSide<R> {
    machine.derived(|machine| {
        let mut h = shared::hasher();
        let server = &machine.server;
        machine.crashed.hash(&mut h);
        server.crashed_in_term.hash(&mut h);
        server.service_index.hash(&mut h);
        server.service.hash(&mut h);
        server.snapshot.hash(&mut h);
        let mut voted_for = None;
        if let Some(raft) = &server.raft {
            let seen = raft.observe();
            (seen.term, seen.role, seen.commit_index).hash(&mut h);
            (seen.snapshot_index, seen.snapshot_term, seen.entries).hash(&mut h);
            voted_for = seen.voted_for;
        }
        machine.timers.hash(&mut h);
        MachineSide {
            key: h.finish(),
            voted_for,
            renamed: Renamings::new(servers),
        }
    })
}

/// A value's renamings, one slot per renaming of `servers` servers, each filled the first time it
/// is needed; none with more than [`SLOTTED_SERVERS`] servers (there would be too many: those
/// go through the thread's [`Cache`]).
struct Renamings<T: 'static> {
    servers: usize,
    slots: Box<[OnceLock<Option<Shared<T>>>]>,
}

/// The most servers whose renamings are kept with the values (5! = 120 slots each).
const SLOTTED_SERVERS: usize = 5;

impl<T: 'static> Renamings<T> {
    fn new(servers: usize) -> Self {
        let slots = if servers <= SLOTTED_SERVERS {
            (0..(1..=servers).product::<usize>())
                .map(|_| OnceLock::new())
                .collect()
        } else {
            Box::default()
        };
        Renamings { servers, slots }
    }

    /// The renaming by `to`, made by `make` if it is not made yet; `None` if this value keeps no
    /// renamings for `to`'s number of servers.
    fn get(
        &self,
        to: &[PeerId],
        make: impl FnOnce() -> Option<Shared<T>>,
    ) -> Option<Option<Shared<T>>> {
        if to.len() != self.servers || self.slots.is_empty() {
            return None;
        }
        Some(self.slots[slot(to)].get_or_init(make).clone())
    }
}

/// The place of the permutation `to` among all permutations of its length (its Lehmer code).
fn slot(to: &[PeerId]) -> usize {
    let mut at = 0;
    for (k, &p) in to.iter().enumerate() {
        let smaller_later = to[k + 1..].iter().filter(|&&q| q < p).count();
        at = at * (to.len() - k) + smaller_later;
    }
    at
}

/// A cache's key for renaming a value of hash `hash` by `to` (3 bits per server, spread over
/// the 64 bits so that keys stay as random as the hashes: the caches do not hash them again).
fn key<T: Hash>(value: &T, to: &[PeerId]) -> u64 {
    let code = to.iter().fold(0, |code, &p| code << 3 | p as u64);
    hash_of(value) ^ code.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The renamings done so far, per thread: the DFS meets the same servers and messages in many
/// states, and renaming them (copying, decoding and encoding Raft's state) is the costly part.
/// Machines keep their own renamings with them (see [`Renamings`]) up to [`SLOTTED_SERVERS`]
/// servers; these caches hold the rest: messages in flight (which are [`Counted`], not interned:
/// keeping their renamings with them would make cycles that are never freed), requests, ghost
/// states, and machines of larger clusters.
///
/// The caches are keyed by the 64-bit hash of what they rename (and the renaming), not by the
/// value: comparing values made up a fifth of the search's time. Two different values with the
/// same hash would make the search skip states, the risk stateright takes already, since it tells
/// states apart by a 64-bit fingerprint.
struct Cache<R: RaftNode> {
    machines: IntMap<u64, Option<Shared<Machine<R>>>>,
    networks: IntMap<u64, Option<Counted<Flight<Msg>>>>,
    requests: IntMap<u64, Option<Shared<Request>>>,
    ghosts: IntMap<u64, Shared<Ghost>>,
}

/// Entries a cache keeps before it starts over (bounds its memory).
const CACHE_ENTRIES: usize = 1 << 18;

impl<R: RaftNode> Default for Cache<R> {
    fn default() -> Self {
        Cache {
            machines: IntMap::default(),
            networks: IntMap::default(),
            requests: IntMap::default(),
            ghosts: IntMap::default(),
        }
    }
}

/// Get `key`'s value from `map`, making it with `make` (and starting over when `map` is full).
fn cached<V: Clone>(map: &mut IntMap<u64, V>, key: u64, make: impl FnOnce() -> V) -> V {
    if let Some(value) = map.get(&key) {
        return value.clone();
    }
    if map.len() >= CACHE_ENTRIES {
        map.clear();
    }
    let value = make();
    map.insert(key, value.clone());
    value
}

impl<R: RaftNode> Cache<R> {
    fn machine(
        &mut self,
        machine: &Shared<Machine<R>>,
        to: &[PeerId],
    ) -> Option<Shared<Machine<R>>> {
        let rename = || rename_machine(machine, to);
        if let Some(renamed) = machine_side(machine, to.len()).renamed.get(to, rename) {
            return renamed;
        }
        cached(&mut self.machines, key(machine, to), rename)
    }

    fn network(
        &mut self,
        network: &Counted<Flight<Msg>>,
        to: &[PeerId],
    ) -> Option<Counted<Flight<Msg>>> {
        let key = key(network, to);
        if let Some(renamed) = self.networks.get(&key) {
            return renamed.clone();
        }
        if self.networks.len() >= CACHE_ENTRIES {
            self.networks.clear();
        }
        let renamed = rename_network(network, to, self).map(Counted::new);
        self.networks.insert(key, renamed.clone());
        renamed
    }

    fn request(&mut self, request: &Shared<Request>, to: &[PeerId]) -> Option<Shared<Request>> {
        cached(&mut self.requests, key(request, to), || {
            R::relabel_request(request, to).map(Shared::new)
        })
    }

    fn ghost(&mut self, ghost: &Shared<Ghost>, to: &[PeerId]) -> Shared<Ghost> {
        if ghost.leaders.is_empty() {
            return ghost.clone();
        }
        cached(&mut self.ghosts, key(ghost, to), || {
            Shared::new(Ghost {
                leaders: ghost.leaders.iter().map(|(t, l)| (*t, to[*l])).collect(),
                applied: ghost.applied.clone(),
                violations: ghost.violations.clone(),
                campaigned: ghost.campaigned,
                timeouts: ghost.timeouts,
            })
        })
    }

    fn message(&mut self, msg: &Msg, to: &[PeerId]) -> Option<Msg> {
        Some(match msg {
            Msg::Request(request) => Msg::Request(self.request(request, to)?),
            Msg::Reply { request, reply } => Msg::Reply {
                request: self.request(request, to)?,
                reply: R::relabel_reply(reply, to)?,
            },
        })
    }

    fn envelope(&mut self, env: &Envelope<Msg>, to: &[PeerId]) -> Option<Envelope<Msg>> {
        Some(Envelope {
            src: rename_id(env.src, to),
            dst: rename_id(env.dst, to),
            msg: self.message(&env.msg, to)?,
        })
    }
}

thread_local! {
    /// One [`Cache`] per Raft type, per thread (a list: a thread checks one or two types).
    static CACHES: RefCell<Vec<(TypeId, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

fn with_cache<R: RaftNode, T>(f: impl FnOnce(&mut Cache<R>) -> T) -> T {
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let at = match caches.iter().position(|(t, _)| *t == TypeId::of::<R>()) {
            Some(at) => at,
            None => {
                caches.push((TypeId::of::<R>(), Box::new(Cache::<R>::default())));
                caches.len() - 1
            }
        };
        f(caches[at]
            .1
            .downcast_mut()
            .expect("the caches are keyed by type"))
    })
}

/// `state` with server `p` renamed `to[p]` throughout; `None` if the Raft cannot rename.
fn rename<R: RaftNode>(
    state: &RaftState<R>,
    to: &[PeerId],
    cache: &mut Cache<R>,
) -> Option<RaftState<R>> {
    let mut machines = state.machines.clone();
    for (old, machine) in state.machines.iter().enumerate() {
        machines[to[old]] = cache.machine(machine, to)?;
    }
    Some(RaftState {
        machines,
        network: cache.network(&state.network, to)?,
        history: History {
            ghost: cache.ghost(&state.history.ghost, to),
            // Empty: renaming is refused on the sequential network.
            sent: state.history.sent.clone(),
            lost: state.history.lost,
        },
    })
}

fn rename_machine<R: RaftNode>(
    machine: &Shared<Machine<R>>,
    to: &[PeerId],
) -> Option<Shared<Machine<R>>> {
    let server = &machine.server;
    Some(Shared::new(Machine {
        server: Server {
            raft: match &server.raft {
                Some(raft) => Some(Shared::new(raft.relabel(to)?)),
                None => None,
            },
            state: rename_bytes::<R>(&server.state, to)?,
            snapshot: server.snapshot.clone(),
            service_index: server.service_index,
            service: server.service.clone(),
            crashed_in_term: server.crashed_in_term,
            events: server.events.clone(),
        },
        timers: machine.timers.clone(),
        crashed: machine.crashed,
    }))
}

fn rename_bytes<R: RaftNode>(bytes: &Shared<Vec<u8>>, to: &[PeerId]) -> Option<Shared<Vec<u8>>> {
    if bytes.is_empty() {
        return Some(bytes.clone());
    }
    R::relabel_persisted(bytes, to).map(Shared::new)
}

fn rename_id(id: Id, to: &[PeerId]) -> Id {
    Id::from(to[usize::from(id)])
}

fn rename_network<R: RaftNode>(
    network: &Flight<Msg>,
    to: &[PeerId],
    cache: &mut Cache<R>,
) -> Option<Flight<Msg>> {
    network.map(|env| cache.envelope(env, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every permutation of up to [`SLOTTED_SERVERS`] servers has its own slot, and the slots
    /// are exactly 0..n!.
    #[test]
    fn each_renaming_has_its_own_slot() {
        fn permutations(n: usize) -> Vec<Vec<PeerId>> {
            if n == 0 {
                return vec![Vec::new()];
            }
            let mut all = Vec::new();
            for shorter in permutations(n - 1) {
                for at in 0..n {
                    let mut p = shorter.clone();
                    p.insert(at, n - 1);
                    all.push(p);
                }
            }
            all
        }
        for n in 1..=SLOTTED_SERVERS {
            let mut slots: Vec<usize> = permutations(n).iter().map(|p| slot(p)).collect();
            slots.sort_unstable();
            let count: usize = (1..=n).product();
            assert_eq!(slots, (0..count).collect::<Vec<_>>(), "{n} servers");
        }
        assert_eq!(slot(&[0, 1, 2]), 0);
        assert_eq!(slot(&[2, 1, 0]), 5);
    }
}
