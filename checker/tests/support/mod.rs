//! Synthetic key/value histories, shared by the tests and the benchmark
//! (`benches/linearizability.rs` includes this file with `#[path]`).
//!
//! Histories come from the sequential store itself: every operation gets a window `[call, ret]`
//! and a linearization point strictly inside it, and the store is run in the order of those points
//! to fill in what each get returned. So a generated history is linearizable by construction, and
//! the windows overlap as much as the workload asks.

#![allow(dead_code)] // each includer uses a different part

pub mod jepsen;

use checker::linearizability::{History, KvOp, Operation, UNKNOWN_RETURN};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// What kind of history to generate.
#[derive(Clone, Debug)]
pub struct Workload {
    pub clients: usize,
    pub operations: usize,
    pub keys: usize,
    /// Out of 100: how many operations are gets, and how many puts (the rest are appends).
    pub get_percent: u32,
    pub put_percent: u32,
    /// Usual duration of an operation, in virtual nanoseconds (durations are uniform in
    /// `[2, 2 * typical]`); a client waits up to `typical / 4` between operations.
    pub typical: u64,
    /// Out of 1000: operations that take 10-40 times longer (a client stuck behind a partition).
    pub slow_permille: u32,
    /// Out of 1000: operations whose outcome is unknown (the client crashed; a fresh client id
    /// takes its place). Half of them take effect.
    pub pending_permille: u32,
    pub seed: u64,
}

impl Workload {
    /// Clients appending to and reading a handful of keys with heavy overlap, like the 6.824 KV
    /// tests (about half appends, 44% gets, 6% puts, some very slow operations).
    pub fn lab_like(clients: usize, operations: usize, keys: usize, seed: u64) -> Self {
        Self {
            clients,
            operations,
            keys,
            get_percent: 44,
            put_percent: 6,
            typical: 100,
            slow_permille: 20,
            pending_permille: 0,
            seed,
        }
    }
}

/// A linearizable history of the workload, with its operations in call order.
pub fn generate(w: &Workload) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(w.seed);
    let mut clock: Vec<u64> = vec![0; w.clients.max(1)];
    let mut ids: Vec<u64> = (0..clock.len() as u64).collect();
    let mut next_id = clock.len() as u64;
    let mut seq = vec![0u64; clock.len()];
    // (operation, linearization point, whether it takes effect)
    let mut planned: Vec<(Operation, u64, bool)> = Vec::with_capacity(w.operations);
    for _ in 0..w.operations {
        // The client that is free first goes next, so clients progress together.
        let c = (0..clock.len()).min_by_key(|&c| (clock[c], c)).unwrap_or(0);
        let call = clock[c] + rng.random_range(0..=w.typical / 4);
        let mut duration = rng.random_range(2..=2 * w.typical.max(1));
        if rng.random_range(0..1000) < w.slow_permille {
            duration *= rng.random_range(10..=40);
        }
        let lin = call + rng.random_range(1..duration);
        let ret = call + duration;
        let key = rng.random_range(0..w.keys.max(1)).to_string();
        let roll = rng.random_range(0..100);
        let value = format!("x {} {} y", ids[c], seq[c]);
        seq[c] += 1;
        let mut op = if roll < w.get_percent {
            Operation::get(ids[c], &key, call, ret, "")
        } else if roll < w.get_percent + w.put_percent {
            Operation::put(ids[c], &key, &value, call, ret)
        } else {
            Operation::append(ids[c], &key, &value, call, ret)
        };
        let mut happens = true;
        if rng.random_range(0..1000) < w.pending_permille {
            op.ret = UNKNOWN_RETURN;
            happens = op.input.op != KvOp::Get && rng.random_range(0..2) == 0;
            // The crashed client is replaced by a new one.
            ids[c] = next_id;
            next_id += 1;
        }
        clock[c] = ret;
        planned.push((op, lin, happens));
    }
    // Run the store in linearization order to fill in the gets.
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| (planned[i].1, i));
    let mut store: BTreeMap<String, String> = BTreeMap::new();
    for i in order {
        let (op, _, happens) = &mut planned[i];
        if !*happens {
            continue;
        }
        let value = store.entry(op.input.key.clone()).or_default();
        match op.input.op {
            KvOp::Get => op.output.value = Some(value.clone()),
            KvOp::Put => *value = op.input.value.clone().unwrap_or_default(),
            KvOp::Append => value.push_str(op.input.value.as_deref().unwrap_or("")),
            _ => unreachable!("key/value operations only"),
        }
    }
    let mut operations: Vec<Operation> = planned.into_iter().map(|(op, _, _)| op).collect();
    operations.sort_by_key(|op| (op.call, op.client));
    History::new(operations)
}

/// Makes a completed get at about `at` (a fraction of the history, e.g. 0.9) return a value that
/// never existed, so the history is not linearizable. Returns the index of that get.
pub fn corrupt_read(history: &mut History, at: f64) -> Option<usize> {
    let ops = &mut history.operations;
    let start = ((ops.len() as f64 * at) as usize).min(ops.len().saturating_sub(1));
    let index = (start..ops.len())
        .chain(0..start)
        .find(|&i| ops[i].input.op == KvOp::Get && !ops[i].is_pending())?;
    ops[index]
        .output
        .value
        .get_or_insert_default()
        .push_str("x corrupted y");
    Some(index)
}
