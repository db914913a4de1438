//! Tests of the register (read/write/cas) and versioned key/value models, of Jepsen's outcomes
//! (`:fail`, `:info`) and formats (EDN, log lines), of a lab's own model through the trait, and
//! of the command line on all of them: hand-written histories, generated ones, Jepsen-style ones,
//! and small random ones cross-checked against a brute-force checker with its own semantics.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;

use checker::linearizability::{
    CheckOptions, FailedCas, History, HistoryError, HistoryFormat, Model, ModelKind, OpKind,
    Operation, PartitionStatus, ReadOptions, Status, UNKNOWN_RETURN, Verdict, check_history,
    check_operations, render_html,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::jepsen::{
    End, RegisterWorkload, counts, generate_register, impossible_read, stale_read, to_edn,
    to_history, to_log,
};

const NEVER: u64 = UNKNOWN_RETURN;

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

fn read(c: u64, call: u64, ret: u64, v: Option<&str>) -> Operation {
    Operation::read(c, "", call, ret, v)
}

fn write(c: u64, v: &str, call: u64, ret: u64) -> Operation {
    Operation::write(c, "", v, call, ret)
}

fn cas(c: u64, from: &str, to: &str, call: u64, ret: u64, ok: bool) -> Operation {
    Operation::cas(c, "", Some(from), to, call, ret, ok)
}

fn vget(c: u64, key: &str, call: u64, ret: u64, found: Option<(&str, u64)>) -> Operation {
    Operation::versioned_get(c, key, call, ret, found)
}

fn vput(c: u64, key: &str, v: &str, version: u64, call: u64, ret: u64, s: Status) -> Operation {
    Operation::versioned_put(c, key, v, version, call, ret, s)
}

/// The verdict for the model, checked against the brute force too (histories here are small),
/// with and without partitioning.
fn verdict(model: ModelKind, ops: Vec<Operation>) -> Verdict {
    let history = History::new(ops);
    let options = CheckOptions::default().model(model);
    let report = check_history(&history, &options).expect("valid history");
    let whole = check_history(&history, &options.clone().partition_by_key(false)).unwrap();
    assert_eq!(
        report.verdict, whole.verdict,
        "partitioning changed the verdict"
    );
    if history.operations.len() <= 12 {
        assert_eq!(
            report.verdict == Verdict::Ok,
            brute_force(model, &history.operations),
            "brute force disagrees"
        );
    }
    report.verdict
}

fn register(ops: Vec<Operation>) -> Verdict {
    verdict(ModelKind::Register, ops)
}

fn versioned(ops: Vec<Operation>) -> Verdict {
    verdict(ModelKind::VersionedKv, ops)
}

// ---------------------------------------------------------------------------------------------
// A brute-force checker with its own statement of the semantics.

/// A key's state: for the register `None` is nil; for the versioned store, absent.
type Cell = Option<(String, u64)>;

/// What `op` does to `cell` if it can return what it returned (`None`: it cannot). For an
/// operation whose outcome is unknown: what it does if it takes effect.
fn reference_step(model: ModelKind, cell: &Cell, op: &Operation) -> Option<Cell> {
    let known = !op.is_pending();
    let input = &op.input;
    let out = &op.output;
    let value = input.value.clone();
    match model {
        ModelKind::Register => {
            let held = cell.as_ref().map(|(v, _)| v.clone());
            match input.op {
                OpKind::Read | OpKind::Get => (!known || out.value == held).then(|| cell.clone()),
                OpKind::Write | OpKind::Put => Some(value.map(|v| (v, 0))),
                OpKind::Cas => {
                    let found = held == input.expected;
                    let after = || value.clone().map(|v| (v, 0));
                    match (known, out.status) {
                        (false, _) => Some(if found { after() } else { cell.clone() }),
                        (true, Status::Ok) => found.then(after),
                        (true, _) => (!found).then(|| cell.clone()),
                    }
                }
                OpKind::Append => None,
            }
        }
        ModelKind::VersionedKv => match input.op {
            OpKind::Get | OpKind::Read => {
                if !known {
                    return Some(cell.clone());
                }
                let fits = match (out.status, cell) {
                    (Status::ErrNoKey, None) => true,
                    (Status::Ok, Some((v, ver))) => {
                        out.value.as_deref() == Some(v.as_str())
                            && out.version.is_none_or(|o| o == *ver)
                    }
                    _ => false,
                };
                fits.then(|| cell.clone())
            }
            _ => {
                let version = input.version?;
                let current = cell.as_ref().map_or(0, |(_, ver)| *ver);
                let applies = current == version;
                let after = Some((value.unwrap_or_default(), version + 1));
                let status = if known { out.status } else { Status::ErrMaybe };
                match status {
                    Status::Ok => applies.then_some(after),
                    Status::ErrMaybe => Some(if applies { after } else { cell.clone() }),
                    Status::ErrVersion => (!applies && cell.is_some()).then(|| cell.clone()),
                    Status::ErrNoKey => (!applies && cell.is_none()).then(|| cell.clone()),
                    Status::Fail => None,
                }
            }
        },
        ModelKind::Kv => unreachable!("the key/value model has its own brute force"),
    }
}

/// Tries every order that respects real time, leaving out any operations whose outcome is unknown
/// (= placing them after everything), with a memo of failed (placed set, state) pairs.
fn brute_force(model: ModelKind, ops: &[Operation]) -> bool {
    type State = Vec<(String, Cell)>;
    fn search(
        model: ModelKind,
        ops: &[&Operation],
        placed: u32,
        state: &HashMap<String, Cell>,
        failed: &mut HashSet<(u32, State)>,
    ) -> bool {
        if (0..ops.len()).all(|i| placed & (1 << i) != 0 || ops[i].is_pending()) {
            return true;
        }
        let mut key: State = state.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        key.sort();
        if failed.contains(&(placed, key.clone())) {
            return false;
        }
        for i in 0..ops.len() {
            if placed & (1 << i) != 0 {
                continue;
            }
            let must_wait = (0..ops.len())
                .any(|j| j != i && placed & (1 << j) == 0 && ops[j].ret < ops[i].call);
            if must_wait {
                continue;
            }
            let cell = state.get(&ops[i].input.key).cloned().flatten();
            let Some(next) = reference_step(model, &cell, ops[i]) else {
                continue;
            };
            let mut state = state.clone();
            state.insert(ops[i].input.key.clone(), next);
            if search(model, ops, placed | (1 << i), &state, failed) {
                return true;
            }
        }
        failed.insert((placed, key));
        false
    }
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|op| !(op.is_pending() && op.input.op.is_read()))
        .collect();
    search(model, &ops, 0, &HashMap::new(), &mut HashSet::new())
}

// ---------------------------------------------------------------------------------------------
// Register: hand-written.

#[test]
fn register_sequential_cas() {
    assert_eq!(
        register(vec![
            read(0, 0, 1, None),
            write(0, "1", 2, 3),
            cas(0, "1", "2", 4, 5, true),
            cas(0, "1", "3", 6, 7, false),
            read(0, 8, 9, Some("2")),
        ]),
        Verdict::Ok
    );
}

#[test]
fn register_cas_succeeds_iff_the_value_is_the_expected_one() {
    // Succeeded although the register held 1.
    assert_eq!(
        register(vec![write(0, "1", 0, 1), cas(0, "2", "3", 2, 3, true)]),
        Verdict::Illegal
    );
    // Failed although the register held 1.
    assert_eq!(
        register(vec![write(0, "1", 0, 1), cas(0, "1", "3", 2, 3, false)]),
        Verdict::Illegal
    );
    // Concurrent with a write of 2: may have found 2.
    assert_eq!(
        register(vec![
            write(0, "1", 0, 1),
            write(1, "2", 2, 10),
            cas(0, "2", "3", 3, 4, true),
            read(2, 11, 12, Some("3")),
        ]),
        Verdict::Ok
    );
    // Two successful cas from the same value, one after the other: impossible.
    assert_eq!(
        register(vec![
            write(0, "1", 0, 1),
            cas(1, "1", "2", 2, 3, true),
            cas(2, "1", "2", 4, 5, true),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn register_nil_is_the_initial_value() {
    assert_eq!(register(vec![read(0, 0, 1, None)]), Verdict::Ok);
    assert_eq!(
        register(vec![write(0, "1", 0, 1), read(1, 2, 3, None)]),
        Verdict::Illegal
    );
    assert_eq!(
        register(vec![
            Operation::cas(0, "", None, "5", 0, 1, true),
            read(1, 2, 3, Some("5"))
        ]),
        Verdict::Ok
    );
}

#[test]
fn register_stale_read_is_illegal() {
    assert_eq!(
        register(vec![
            write(0, "1", 0, 1),
            write(0, "2", 2, 3),
            read(1, 4, 5, Some("1")),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn register_info_write_may_take_effect_any_time_after_its_call() {
    // Seen long after it timed out.
    assert_eq!(
        register(vec![
            write(0, "1", 0, NEVER),
            read(1, 10, 11, None),
            read(1, 100, 101, Some("1")),
        ]),
        Verdict::Ok
    );
    // Never seen.
    assert_eq!(
        register(vec![write(0, "1", 0, NEVER), read(1, 100, 101, None)]),
        Verdict::Ok
    );
    // Not before its call.
    assert_eq!(
        register(vec![read(1, 0, 1, Some("1")), write(0, "1", 5, NEVER)]),
        Verdict::Illegal
    );
    // Once seen, it happened: the value cannot go back.
    assert_eq!(
        register(vec![
            write(0, "1", 0, NEVER),
            read(1, 10, 11, Some("1")),
            read(1, 20, 21, None),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn register_info_cas_takes_effect_only_if_it_finds_its_value() {
    // The cas could only have found 1 before the write of 3 returned... it did not run then
    // (the read at 4-5 still sees 1 and the write of 3 came after): 2 is impossible.
    assert_eq!(
        register(vec![
            write(0, "1", 0, 1),
            cas(1, "7", "2", 2, NEVER, true),
            read(2, 4, 5, Some("1")),
            read(2, 6, 7, Some("2")),
        ]),
        Verdict::Illegal
    );
    assert_eq!(
        register(vec![
            write(0, "1", 0, 1),
            cas(1, "1", "2", 2, NEVER, true),
            read(2, 4, 5, Some("1")),
            read(2, 6, 7, Some("2")),
        ]),
        Verdict::Ok
    );
}

#[test]
fn register_chain_of_unknown_operations() {
    // The read of 3 needs all three unknown operations, in this order.
    assert_eq!(
        register(vec![
            write(0, "1", 0, NEVER),
            cas(1, "1", "2", 1, NEVER, true),
            cas(2, "2", "3", 2, NEVER, true),
            read(3, 10, 11, Some("3")),
        ]),
        Verdict::Ok
    );
    // Without the middle one it cannot happen.
    assert_eq!(
        register(vec![
            write(0, "1", 0, NEVER),
            cas(2, "2", "3", 2, NEVER, true),
            read(3, 10, 11, Some("3")),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn register_reads_with_unknown_outcome_are_ignored() {
    let history = History::new(vec![write(0, "1", 0, 1), read(1, 2, NEVER, Some("9"))]);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Ok);
    assert_eq!(report.info.ignored, vec![1]);
    assert_eq!(report.info.model, Some(ModelKind::Register));
}

#[test]
fn register_explains_a_violation() {
    let history = History::new(vec![
        write(0, "1", 0, 1),
        write(0, "2", 2, 3),
        read(1, 4, 5, Some("1")),
    ]);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    let p = &report.info.partitions[0];
    assert_eq!(p.status, PartitionStatus::Illegal);
    assert_eq!(p.linearization, vec![0, 1]);
    assert_eq!(p.stuck.len(), 1);
    assert_eq!(p.stuck[0].reason, "read() -> 1 but the register holds 2");
}

#[test]
fn register_keys_are_independent_registers() {
    let r = |c, k: &str, call, ret, v: Option<&str>| Operation::read(c, k, call, ret, v);
    let w = |c, k: &str, v: &str, call, ret| Operation::write(c, k, v, call, ret);
    assert_eq!(
        register(vec![
            w(0, "a", "1", 0, 1),
            r(1, "b", 2, 3, None),
            w(0, "b", "2", 4, 5),
            r(1, "a", 6, 7, Some("1")),
        ]),
        Verdict::Ok
    );
    assert_eq!(
        register(vec![w(0, "a", "1", 0, 1), r(1, "b", 2, 3, Some("1"))]),
        Verdict::Illegal
    );
}

// ---------------------------------------------------------------------------------------------
// Versioned store: hand-written.

#[test]
fn versioned_puts_and_gets() {
    use Status::*;
    assert_eq!(
        versioned(vec![
            vget(0, "k", 0, 1, None),
            vput(0, "k", "a", 0, 2, 3, Ok),
            vget(0, "k", 4, 5, Some(("a", 1))),
            vput(0, "k", "b", 1, 6, 7, Ok),
            vput(1, "k", "c", 1, 8, 9, ErrVersion),
            vput(1, "j", "c", 3, 10, 11, ErrNoKey),
            vget(1, "k", 12, 13, Some(("b", 2))),
        ]),
        Verdict::Ok
    );
}

#[test]
fn versioned_errors_must_be_the_right_ones() {
    use Status::*;
    let created = || vput(0, "k", "a", 0, 0, 1, Ok);
    // ErrVersion although the version matched.
    assert_eq!(
        versioned(vec![created(), vput(1, "k", "b", 1, 2, 3, ErrVersion)]),
        Verdict::Illegal
    );
    // OK although the version did not match.
    assert_eq!(
        versioned(vec![created(), vput(1, "k", "b", 5, 2, 3, Ok)]),
        Verdict::Illegal
    );
    // ErrNoKey for a key that exists; ErrVersion for one that does not.
    assert_eq!(
        versioned(vec![created(), vput(1, "k", "b", 5, 2, 3, ErrNoKey)]),
        Verdict::Illegal
    );
    assert_eq!(
        versioned(vec![vput(1, "k", "b", 5, 2, 3, ErrVersion)]),
        Verdict::Illegal
    );
    // A get that missed a put that returned, or read a wrong version.
    assert_eq!(
        versioned(vec![created(), vget(1, "k", 2, 3, None)]),
        Verdict::Illegal
    );
    assert_eq!(
        versioned(vec![created(), vget(1, "k", 2, 3, Some(("a", 2)))]),
        Verdict::Illegal
    );
    // Two puts of the same version, one after the other, cannot both be applied.
    assert_eq!(
        versioned(vec![
            created(),
            vput(1, "k", "b", 1, 2, 3, Ok),
            vput(2, "k", "c", 1, 4, 5, Ok),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn versioned_err_maybe_is_accepted_either_way() {
    use Status::*;
    let created = || vput(0, "k", "a", 0, 0, 1, Ok);
    // Applied (its first attempt went through): the next get sees it.
    assert_eq!(
        versioned(vec![
            created(),
            vput(1, "k", "b", 1, 2, 3, ErrMaybe),
            vget(2, "k", 4, 5, Some(("b", 2))),
        ]),
        Verdict::Ok
    );
    // Not applied: a concurrent put got version 1 first.
    let racing = || {
        vec![
            created(),
            vput(1, "k", "b", 1, 2, 10, ErrMaybe),
            vput(3, "k", "c", 1, 2, 10, Ok),
        ]
    };
    let mut ops = racing();
    ops.push(vget(2, "k", 11, 12, Some(("c", 2))));
    assert_eq!(versioned(ops), Verdict::Ok);
    // ... and then it cannot have been applied.
    let mut ops = racing();
    ops.push(vget(2, "k", 11, 12, Some(("b", 2))));
    assert_eq!(versioned(ops), Verdict::Illegal);
    // With nobody else to change the version, a put whose version matched was applied: its
    // retry can only have found another version because its first attempt went through.
    assert_eq!(
        versioned(vec![
            created(),
            vput(1, "k", "b", 1, 2, 3, ErrMaybe),
            vget(2, "k", 4, 5, Some(("a", 1))),
        ]),
        Verdict::Illegal
    );
    // But it happened within its window: not after a get that came later.
    assert_eq!(
        versioned(vec![
            created(),
            vput(1, "k", "b", 1, 2, 3, ErrMaybe),
            vget(2, "k", 4, 5, Some(("a", 1))),
            vget(2, "k", 6, 7, Some(("b", 2))),
        ]),
        Verdict::Illegal
    );
    // An unknown outcome may also take effect later.
    assert_eq!(
        versioned(vec![
            created(),
            vput(1, "k", "b", 1, 2, NEVER, Ok),
            vget(2, "k", 4, 5, Some(("a", 1))),
            vget(2, "k", 6, 7, Some(("b", 2))),
        ]),
        Verdict::Ok
    );
}

#[test]
fn versioned_get_without_a_version_compares_the_value() {
    let mut get = vget(1, "k", 2, 3, Some(("a", 1)));
    get.output.version = None;
    assert_eq!(
        versioned(vec![vput(0, "k", "a", 0, 0, 1, Status::Ok), get]),
        Verdict::Ok
    );
}

#[test]
fn models_reject_operations_they_do_not_know() {
    let history = History::new(vec![cas(0, "1", "2", 0, 1, true)]);
    let err = check_history(&history, &CheckOptions::default().model(ModelKind::Kv)).unwrap_err();
    assert!(
        matches!(err, HistoryError::Unsupported { index: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("the kv model"), "{err}");
    let history = History::new(vec![Operation::put(0, "k", "v", 0, 1)]);
    let options = CheckOptions::default().model(ModelKind::VersionedKv);
    let err = check_history(&history, &options).unwrap_err();
    assert!(
        err.to_string().contains("needs the version it expects"),
        "{err}"
    );
    let history = History::new(vec![Operation::append(0, "k", "v", 0, 1)]);
    let options = CheckOptions::default().model(ModelKind::Register);
    assert!(check_history(&history, &options).is_err());
}

#[test]
fn the_model_is_inferred_from_the_operations() {
    let infer = |ops: Vec<Operation>| ModelKind::infer(&ops);
    assert_eq!(infer(vec![Operation::get(0, "k", 0, 1, "")]), ModelKind::Kv);
    assert_eq!(infer(vec![read(0, 0, 1, None)]), ModelKind::Register);
    assert_eq!(
        infer(vec![cas(0, "1", "2", 0, 1, true)]),
        ModelKind::Register
    );
    let kv_words = vec![read(0, 0, 1, None), Operation::append(0, "k", "x", 0, 1)];
    assert_eq!(infer(kv_words), ModelKind::Kv);
    let put = vput(0, "k", "a", 0, 0, 1, Status::Ok);
    assert_eq!(infer(vec![put]), ModelKind::VersionedKv);
    assert_eq!(
        infer(vec![vget(0, "k", 0, 1, None)]),
        ModelKind::VersionedKv
    );
}

// ---------------------------------------------------------------------------------------------
// Small random histories against the brute force.

/// A random small history of `model`: windows in a small range (so they overlap and touch),
/// some unknown outcomes, outputs from a random order of the operations, about half perturbed.
fn small_random(model: ModelKind, rng: &mut ChaCha8Rng, max_ops: usize) -> Vec<Operation> {
    let clients = rng.random_range(1..=4u64);
    let keys = ["k", "j"];
    let keys = &keys[..rng.random_range(1..=2)];
    let values = ["1", "2", "3"];
    let n = rng.random_range(0..=max_ops);
    let mut clock = vec![0u64; clients as usize];
    let mut ops: Vec<Operation> = Vec::new();
    let mut points: Vec<u64> = Vec::new();
    for _ in 0..n {
        let c = rng.random_range(0..clients) as usize;
        let call = clock[c] + rng.random_range(0..4);
        let ret = call + rng.random_range(0..8);
        let key = keys[rng.random_range(0..keys.len())];
        let v = values[rng.random_range(0..values.len())];
        let w = values[rng.random_range(0..values.len())];
        let mut op = match (model, rng.random_range(0..3)) {
            (ModelKind::Register, 0) => Operation::read(c as u64, key, call, ret, None),
            (ModelKind::Register, 1) => Operation::write(c as u64, key, v, call, ret),
            (ModelKind::Register, _) => Operation::cas(c as u64, key, Some(v), w, call, ret, true),
            (_, 0) => Operation::versioned_get(c as u64, key, call, ret, None),
            (_, _) => {
                let version = rng.random_range(0..3);
                Operation::versioned_put(c as u64, key, v, version, call, ret, Status::Ok)
            }
        };
        if rng.random_range(0..8) == 0 {
            op.ret = NEVER;
        }
        clock[c] = ret + 1;
        points.push(rng.random_range(call..=ret.min(call + 8)));
        ops.push(op);
    }
    // Outputs from a random order of the points, ...
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (points[i], rng.random_range(0..100u32)));
    let mut cells: HashMap<String, Cell> = HashMap::new();
    for i in order {
        let cell = cells.get(&ops[i].input.key).cloned().flatten();
        let op = &mut ops[i];
        match (model, op.input.op) {
            (ModelKind::Register, OpKind::Read) => {
                op.output.value = cell.as_ref().map(|(v, _)| v.clone());
            }
            (ModelKind::Register, OpKind::Cas) => {
                let found = cell.as_ref().map(|(v, _)| v.clone()) == op.input.expected;
                op.output.status = if found { Status::Ok } else { Status::Fail };
            }
            (ModelKind::VersionedKv, OpKind::Get) => {
                if let Some((v, ver)) = &cell {
                    op.output.value = Some(v.clone());
                    op.output.version = Some(*ver);
                    op.output.status = Status::Ok;
                }
            }
            (ModelKind::VersionedKv, OpKind::Put) => {
                let version = op.input.version.unwrap_or(0);
                op.output.status = match &cell {
                    Some((_, ver)) if *ver == version => Status::Ok,
                    None if version == 0 => Status::Ok,
                    Some(_) => Status::ErrVersion,
                    None => Status::ErrNoKey,
                };
                if rng.random_range(0..6) == 0 && op.output.status != Status::ErrNoKey {
                    op.output.status = Status::ErrMaybe;
                }
            }
            _ => {}
        }
        let next = reference_step(model, &cell, op).unwrap_or(cell);
        cells.insert(op.input.key.clone(), next);
    }
    // ... about half of them perturbed.
    for op in &mut ops {
        if rng.random_range(0..2) == 0 {
            continue;
        }
        match op.input.op {
            OpKind::Read => {
                op.output.value = [None, Some("1"), Some("2"), Some("3")][rng.random_range(0..4)]
                    .map(str::to_owned)
            }
            OpKind::Cas => {
                op.output.status = [Status::Ok, Status::Fail][rng.random_range(0..2)];
            }
            OpKind::Get => {
                op.output = match rng.random_range(0..3) {
                    0 => checker::linearizability::Output {
                        status: Status::ErrNoKey,
                        ..Default::default()
                    },
                    _ => checker::linearizability::Output {
                        value: Some(values[rng.random_range(0..3)].to_owned()),
                        version: Some(rng.random_range(1..3)),
                        status: Status::Ok,
                    },
                }
            }
            OpKind::Put => {
                op.output.status = [
                    Status::Ok,
                    Status::ErrVersion,
                    Status::ErrNoKey,
                    Status::ErrMaybe,
                ][rng.random_range(0..4)];
            }
            _ => {}
        }
    }
    ops
}

fn cross_check(model: ModelKind, seed: u64, cases: usize, max_ops: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ok, mut illegal) = (0, 0);
    for case in 0..cases {
        let ops = small_random(model, &mut rng, max_ops);
        let expected = brute_force(model, &ops);
        let history = History::new(ops);
        for by_key in [true, false] {
            let options = CheckOptions::default()
                .model(model)
                .partition_by_key(by_key);
            let report = check_history(&history, &options).unwrap();
            assert_eq!(
                report.verdict == Verdict::Ok,
                expected,
                "{model} case {case}, partitioned {by_key}:\n{}",
                history.to_json()
            );
            assert_valid_explanation(model, &history, &report);
        }
        if expected {
            ok += 1;
        } else {
            illegal += 1;
        }
    }
    assert!(
        ok > cases / 5 && illegal > cases / 5,
        "{model}: {ok} linearizable, {illegal} not"
    );
}

/// Each reported linearization is a valid order (per the brute force's semantics) that respects
/// real time, complete when linearizable; each stuck operation really cannot come next.
fn assert_valid_explanation(
    model: ModelKind,
    history: &History,
    report: &checker::linearizability::CheckReport,
) {
    let ops = &history.operations;
    for p in &report.info.partitions {
        let mut cells: HashMap<String, Cell> = HashMap::new();
        for (pos, &i) in p.linearization.iter().enumerate() {
            let cell = cells.get(&ops[i].input.key).cloned().flatten();
            let next = reference_step(model, &cell, &ops[i]);
            assert!(next.is_some(), "step {pos} of the linearization fails");
            cells.insert(ops[i].input.key.clone(), next.flatten());
            for &j in &p.operations {
                if ops[j].ret < ops[i].call {
                    assert!(p.linearization[..pos].contains(&j), "real time broken");
                }
            }
        }
        if p.status == PartitionStatus::Linearizable {
            for &j in &p.operations {
                assert!(
                    ops[j].is_pending() || p.linearization.contains(&j),
                    "operation {j} returned but is not linearized"
                );
            }
        }
        if p.status == PartitionStatus::Illegal {
            assert!(!p.stuck.is_empty());
            for s in &p.stuck {
                let cell = cells.get(&ops[s.op].input.key).cloned().flatten();
                assert!(
                    reference_step(model, &cell, &ops[s.op]).is_none(),
                    "stuck operation fits: {}",
                    s.reason
                );
            }
        }
    }
}

#[test]
fn register_agrees_with_brute_force() {
    cross_check(ModelKind::Register, 11, 4000, 9);
}

#[test]
fn versioned_agrees_with_brute_force() {
    cross_check(ModelKind::VersionedKv, 12, 4000, 9);
}

/// 100,000 histories of up to 13 operations per model:
/// `cargo test --release -p checker --test linearizability_models -- --ignored`.
#[test]
#[ignore]
fn stress_brute_force_models() {
    for seed in 0..10 {
        cross_check(ModelKind::Register, 1000 + seed, 10_000, 13);
        cross_check(ModelKind::VersionedKv, 2000 + seed, 10_000, 13);
    }
}

// ---------------------------------------------------------------------------------------------
// Generated and Jepsen-style histories.

#[test]
fn generated_register_histories_are_linearizable() {
    for seed in 0..24u64 {
        let processes = [3, 10, 10, 20][seed as usize % 4];
        let mut w = RegisterWorkload::etcd_like(processes, 600, seed);
        w.keys = [1, 1, 3][seed as usize % 3];
        w.values = [5, 0, 2][seed as usize % 3];
        let generated = generate_register(&w);
        let history = to_history(&generated);
        let report = check_history(&history, &CheckOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Ok, "workload {w:?}");
        assert_valid_explanation(ModelKind::Register, &history, &report);
    }
}

#[test]
fn generated_versioned_histories_are_linearizable() {
    // Clients put with small versions (some right, some stale, some for absent keys); lost
    // replies make some puts ErrMaybe and some outcomes unknown.
    for seed in 0..20u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let clients = [2, 5, 10, 15][seed as usize % 4];
        let keys = [1, 3][seed as usize % 2];
        let mut clock = vec![0u64; clients];
        let mut planned = Vec::new();
        for n in 0..400 {
            let c = (0..clients).min_by_key(|&c| clock[c]).unwrap();
            let call = clock[c] + rng.random_range(1..5);
            let ret = call + rng.random_range(2..40);
            let point = rng.random_range(call + 1..ret);
            let key = rng.random_range(0..keys);
            let op = if rng.random_range(0..2) == 0 {
                Operation::versioned_get(c as u64, &key.to_string(), call, ret, None)
            } else {
                let version = rng.random_range(0..4);
                let value = format!("{c}.{n}");
                Operation::versioned_put(
                    c as u64,
                    &key.to_string(),
                    &value,
                    version,
                    call,
                    ret,
                    Status::Ok,
                )
            };
            clock[c] = ret;
            planned.push((op, point, rng.random_range(0..10)));
        }
        let mut order: Vec<usize> = (0..planned.len()).collect();
        order.sort_by_key(|&i| planned[i].1);
        let mut cells: HashMap<String, Cell> = HashMap::new();
        for i in order {
            let (op, _, roll) = &mut planned[i];
            let cell = cells.get(&op.input.key).cloned().flatten();
            match op.input.op {
                OpKind::Get => {
                    if let Some((v, ver)) = &cell {
                        op.output.value = Some(v.clone());
                        op.output.version = Some(*ver);
                        op.output.status = Status::Ok;
                    } else {
                        op.output.status = Status::ErrNoKey;
                    }
                }
                _ => {
                    let version = op.input.version.unwrap();
                    let current = cell.as_ref().map_or(0, |(_, v)| *v);
                    op.output.status = match &cell {
                        _ if current == version => Status::Ok,
                        Some(_) => Status::ErrVersion,
                        None => Status::ErrNoKey,
                    };
                    // A lost reply: the clerk retried and reports ErrMaybe if the retry found
                    // another version (here: when it was applied), or the client crashed.
                    if *roll == 0 && op.output.status == Status::Ok {
                        op.output.status = Status::ErrMaybe;
                    } else if *roll == 1 {
                        op.ret = NEVER;
                    }
                }
            }
            let next = reference_step(ModelKind::VersionedKv, &cell, op)
                .unwrap_or_else(|| panic!("{op:?} in {cell:?}"));
            cells.insert(op.input.key.clone(), next);
        }
        let ops: Vec<Operation> = planned.into_iter().map(|(op, _, _)| op).collect();
        let history = History::new(ops);
        assert_eq!(
            ModelKind::infer(&history.operations),
            ModelKind::VersionedKv
        );
        let report = check_history(&history, &CheckOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Ok, "seed {seed}");
        assert_valid_explanation(ModelKind::VersionedKv, &history, &report);
        // A get that returns an older version right after a put: not linearizable.
        let mut bad = history.clone();
        let late = bad.operations.len() * 9 / 10;
        if let Some(get) = bad.operations[late..]
            .iter_mut()
            .find(|op| op.input.op == OpKind::Get && op.output.version.is_some_and(|v| v > 1))
        {
            get.output.version = get.output.version.map(|v| v + 7);
            let report = check_history(&bad, &CheckOptions::default()).unwrap();
            assert_eq!(report.verdict, Verdict::Illegal, "seed {seed}, corrupted");
        }
    }
}

#[test]
fn jepsen_style_histories_in_both_formats() {
    for seed in 0..12u64 {
        // 10 processes, partitions that leave many operations :info.
        let w = RegisterWorkload::etcd_like(10, 1200, 500 + seed);
        let mut generated = generate_register(&w);
        let (info, fail, cas) = counts(&generated);
        assert!(info >= 20, "seed {seed}: only {info} :info");
        assert!(cas > 300 && fail > 100);
        let log = to_log(&generated);
        let edn = to_edn(&generated);
        assert_eq!(HistoryFormat::detect(&log), Some(HistoryFormat::Log));
        assert_eq!(HistoryFormat::detect(&edn), Some(HistoryFormat::Edn));
        let from_log = History::from_log(&log).unwrap();
        let from_edn = History::from_edn(&edn).unwrap();
        // Failed reads are dropped in both; a failed cas is kept from the log (the etcd tests'
        // meaning) and dropped from EDN (Knossos's), unless asked otherwise.
        let failed_reads = generated
            .ops
            .iter()
            .filter(|o| o.f == 0 && o.end == End::Fail)
            .count();
        assert_eq!(from_log.failed.len(), failed_reads);
        assert_eq!(
            from_log.operations.len(),
            generated.ops.len() - failed_reads
        );
        assert_eq!(from_edn.failed.len(), fail);
        let edn_mismatch = History::parse(
            &edn,
            HistoryFormat::Edn,
            &ReadOptions {
                failed_cas: Some(FailedCas::Mismatch),
            },
        )
        .unwrap();
        // The same operations (times differ: they are line numbers, and the files differ).
        let strip = |h: &History| -> Vec<_> {
            h.operations
                .iter()
                .map(|o| (o.client, o.input.clone(), o.output.clone(), o.is_pending()))
                .collect()
        };
        assert!(
            strip(&edn_mismatch) == strip(&from_log),
            "seed {seed}: formats disagree"
        );
        for (name, history) in [("log", &from_log), ("edn", &from_edn)] {
            let report = check_history(history, &CheckOptions::default()).unwrap();
            assert_eq!(report.verdict, Verdict::Ok, "seed {seed} {name}");
            assert_eq!(report.info.model, Some(ModelKind::Register));
        }
        // A read of a value no operation writes.
        impossible_read(&mut generated, 0.8).unwrap();
        let bad = History::from_log(&to_log(&generated)).unwrap();
        let report = check_history(&bad, &CheckOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Illegal, "seed {seed}");
    }
}

#[test]
fn jepsen_style_stale_reads_are_found() {
    for seed in 0..12u64 {
        let mut w = RegisterWorkload::etcd_like([10, 20][seed as usize % 2], 1500, 900 + seed);
        w.values = 0; // unique values, so a stale read is certainly stale
        let mut generated = generate_register(&w);
        let ok = History::from_log(&to_log(&generated)).unwrap();
        let report = check_history(&ok, &CheckOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Ok, "seed {seed}");
        stale_read(&mut generated, [0.3, 0.9][seed as usize % 2]).expect("a read to make stale");
        let bad = History::from_edn(&to_edn(&generated)).unwrap();
        let report = check_history(&bad, &CheckOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Illegal, "seed {seed}");
        assert_valid_explanation(ModelKind::Register, &bad, &report);
    }
}

// ---------------------------------------------------------------------------------------------
// Readers.

const REGISTER_LOG: &str = "\
INFO  jepsen.core - Running test etcd
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 1\t:ok\t:cas\t[1 2]
INFO  jepsen.util - 2\t:ok\t:read\t2
INFO  jepsen.util - :nemesis\t:info\t:start\tnil
INFO  jepsen.util - 3\t:invoke\t:cas\t[1 3]
INFO  jepsen.util - 3\t:fail\t:cas\t[1 3]
INFO  jepsen.util - 4\t:invoke\t:write\t4
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:fail\t:read\t:timed-out
INFO  jepsen.util - 4\t:info\t:write\t:timed-out
WARN  jepsen.etcd - a line that is not an operation
INFO  jepsen.util - 14\t:invoke\t:read\tnil
INFO  jepsen.util - 14\t:ok\t:read\t4
";

#[test]
fn reads_jepsen_log_lines() {
    let history = History::from_log(REGISTER_LOG).unwrap();
    let ops = &history.operations;
    assert_eq!(ops.len(), 6, "{ops:#?}");
    assert_eq!(history.failed.len(), 1); // the read that timed out
    assert_eq!(ops[0], write(0, "1", 2, 3));
    assert_eq!(ops[1], cas(1, "1", "2", 4, 6, true));
    assert_eq!(ops[2], read(2, 5, 7, Some("2")));
    assert_eq!(ops[3], cas(3, "1", "3", 9, 10, false)); // :fail of a cas: found another value
    assert_eq!(ops[4], write(4, "4", 11, NEVER)); // :info: unknown; process 4 is now 14
    assert_eq!(ops[5], read(14, 16, 17, Some("4")));
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Ok);
    // Read as Knossos does, the failed cas is dropped.
    let ignored = History::parse(
        REGISTER_LOG,
        HistoryFormat::Log,
        &ReadOptions {
            failed_cas: Some(FailedCas::Ignore),
        },
    )
    .unwrap();
    assert_eq!(ignored.operations.len(), 5);
    assert_eq!(ignored.failed.len(), 2);
}

#[test]
fn a_failed_cas_read_as_a_mismatch_can_make_a_history_illegal() {
    // The register surely holds 1 throughout, so a cas from 1 cannot have found another value.
    let log = "\
INFO  jepsen.util - 0\t:invoke\t:write\t1
INFO  jepsen.util - 0\t:ok\t:write\t1
INFO  jepsen.util - 1\t:invoke\t:cas\t[1 3]
INFO  jepsen.util - 1\t:fail\t:cas\t[1 3]
INFO  jepsen.util - 2\t:invoke\t:read\tnil
INFO  jepsen.util - 2\t:ok\t:read\t1
";
    let mismatch = History::from_log(log).unwrap();
    let report = check_history(&mismatch, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    let reason = &report.info.partitions[0].stuck[0].reason;
    assert!(reason.contains("found another value than 1"), "{reason}");
    let ignore = History::parse(
        log,
        HistoryFormat::Log,
        &ReadOptions {
            failed_cas: Some(FailedCas::Ignore),
        },
    )
    .unwrap();
    let report = check_history(&ignore, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Ok);
}

const REGISTER_EDN: &str = r#"[{:type :invoke, :f :write, :value 1, :process 0, :time 10, :index 0}
{:type :ok, :f :write, :value 1, :process 0, :time 20, :index 1}
{:type :invoke, :f :cas, :value [1 2], :process 1, :time 30, :index 2}
{:type :info, :f :cas, :value [1 2], :process 1, :time 40, :index 3, :error :timeout}
{:type :invoke, :f :read, :value nil, :process 1, :time 50, :index 4}
{:type :ok, :f :read, :value 2, :process 1, :time 60, :index 5}
{:type :invoke, :f :cas, :value [2 3], :process 2, :time 70, :index 6}
{:type :fail, :f :cas, :value [2 3], :process 2, :time 80, :index 7}]
"#;

#[test]
fn reads_jepsen_edn_registers() {
    let history = History::from_edn(REGISTER_EDN).unwrap();
    let ops = &history.operations;
    assert_eq!(ops.len(), 3);
    assert_eq!(history.failed.len(), 1); // the failed cas, as Knossos reads it
    assert!(ops[1].is_pending()); // the :info cas
    // Process 1 went on after its :info (Jepsen would have renamed it): that is fine.
    assert_eq!(ops[2], read(1, 5, 6, Some("2")));
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Ok);
    // Read as a mismatch, the failed cas [2 3] must have found another value than 2, but it
    // ran after a read of 2 returned, with nothing that could change it: not linearizable.
    let mismatch = History::parse(
        REGISTER_EDN,
        HistoryFormat::Edn,
        &ReadOptions {
            failed_cas: Some(FailedCas::Mismatch),
        },
    )
    .unwrap();
    assert_eq!(mismatch.operations.len(), 4);
    let report = check_history(&mismatch, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
}

#[test]
fn reads_versioned_edn() {
    let edn = r#"
{:process 0, :type :invoke, :f :put, :key "k", :value "a", :version 0}
{:process 0, :type :ok, :f :put, :key "k", :value "a", :err :OK}
{:process 1, :type :invoke, :f :put, :key "k", :value "b", :version 0}
{:process 1, :type :ok, :f :put, :key "k", :value "b", :err :ErrVersion}
{:process 2, :type :invoke, :f :get, :key "k"}
{:process 2, :type :ok, :f :get, :key "k", :value "a", :version 1}
{:process 3, :type :invoke, :f :put, :key "k", :value "c", :version 1}
{:process 3, :type :ok, :f :put, :key "k", :value "c", :status "ErrMaybe"}
"#;
    let history = History::from_edn(edn).unwrap();
    assert_eq!(history.operations.len(), 4);
    assert_eq!(history.operations[1].output.status, Status::ErrVersion);
    assert_eq!(history.operations[2].output.version, Some(1));
    assert_eq!(history.operations[3].output.status, Status::ErrMaybe);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.info.model, Some(ModelKind::VersionedKv));
    assert_eq!(report.verdict, Verdict::Ok);
    let bad = edn.replace(":version 1}\n{:process 3", ":version 2}\n{:process 3");
    let history = History::from_edn(&bad).unwrap();
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
}

#[test]
fn versioned_json_round_trip() {
    let history = History::new(vec![
        vput(0, "k", "a", 0, 0, 1, Status::Ok),
        vput(1, "k", "b", 0, 2, 3, Status::ErrVersion),
        vget(2, "k", 4, 5, Some(("a", 1))),
        vget(2, "j", 6, 7, None),
        cas(3, "1", "2", 8, 9, false),
    ]);
    let json = history.to_json();
    assert!(
        json.contains("\"ErrVersion\"") && json.contains("\"ErrNoKey\""),
        "{json}"
    );
    assert_eq!(History::from_json(&json).unwrap(), history);
}

// ---------------------------------------------------------------------------------------------
// A lab's own model, through the trait.

/// A counter: `Some(n)` adds n, `None` reads the total (the output).
struct Counter;

impl Model for Counter {
    type Input = Option<u32>;
    type Output = u32;
    type State = u32;

    fn name(&self) -> String {
        "counter".into()
    }
    fn init(&self) -> u32 {
        0
    }
    fn step(&self, state: &u32, input: &Option<u32>, output: Option<&u32>) -> Option<u32> {
        match (input, output) {
            (Some(add), _) => Some(state + add),
            (None, Some(read)) => (read == state).then_some(*state),
            (None, None) => Some(*state),
        }
    }
    fn is_read_only(&self, input: &Option<u32>, _: Option<&u32>) -> bool {
        input.is_none()
    }
    fn describe_operation(&self, input: &Option<u32>, output: Option<&u32>) -> String {
        match input {
            Some(n) => format!("add({n})"),
            None => format!("read() -> {}", output.map_or("?".into(), u32::to_string)),
        }
    }
    fn describe_state(&self, state: &u32) -> String {
        state.to_string()
    }
}

#[test]
fn a_lab_can_add_a_model() {
    use checker::linearizability::Operation as Op;
    let op = |client, input, call, ret, output| Op {
        client,
        input,
        call,
        output,
        ret,
    };
    let ok = vec![
        op(0, Some(2), 0, 10, 0),
        op(1, Some(3), 0, 10, 0),
        op(2, None, 5, 6, 3),
        op(2, None, 11, 12, 5),
        op(3, Some(1), 13, NEVER, 0),
        op(2, None, 20, 21, 6),
    ];
    let report = check_operations(&Counter, &ok, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Ok);
    assert_eq!(report.info.model, None);
    let mut bad = ok.clone();
    bad[3].output = 4;
    let report = check_operations(&Counter, &bad, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    assert_eq!(
        report.info.partitions[0].stuck[0].reason,
        "read() -> 4 cannot happen when the state is 5"
    );
    let history = History::new(bad);
    let html = checker::linearizability::render_html_with(&Counter, &history, &report.info);
    assert!(html.contains("read() -&gt; 4") && html.contains("counter model"));
}

// ---------------------------------------------------------------------------------------------
// The picture.

#[test]
fn pictures_show_register_and_versioned_operations_readably() {
    let history = History::new(vec![
        write(0, "4", 0, 1),
        cas(1, "4", "2", 2, 3, true),
        cas(2, "4", "9", 4, 5, false),
        write(3, "7", 6, NEVER),
        read(4, 8, 9, Some("4")),
    ]);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    let html = render_html(&history, &report.info);
    for text in [
        "cas(4, 2) -&gt; ok",
        "cas(4, 9) -&gt; fail",
        "write(7)",
        "read() -&gt; 4",
        "register model",
    ] {
        assert!(html.contains(text), "{text} missing");
    }
    assert!(
        html.contains("read() -&gt; 4 but the register holds 2"),
        "reason"
    );

    let history = History::new(vec![
        vput(0, "k", "a", 0, 0, 1, Status::Ok),
        vput(1, "k", "b", 1, 2, 3, Status::ErrMaybe),
        vget(2, "k", 4, 5, Some(("a", 3))),
    ]);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    let html = render_html(&history, &report.info);
    for text in [
        "put(&quot;k&quot;, &quot;a&quot;, version 0) -&gt; OK",
        "put(&quot;k&quot;, &quot;b&quot;, version 1) -&gt; ErrMaybe",
        "get(&quot;k&quot;) -&gt; (&quot;a&quot;, version 3)",
        "(&quot;a&quot;, version 1)",
    ] {
        assert!(html.contains(text), "{text} missing");
    }
}

#[test]
fn a_client_that_goes_on_after_an_unknown_outcome_gets_another_lane() {
    let history = History::new(vec![
        write(1, "1", 0, NEVER),
        read(1, 5, 6, Some("1")),
        read(1, 7, 8, Some("1")),
    ]);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    let html = render_html(&history, &report.info);
    assert!(html.contains(">client 1</text>") && html.contains(">client 1 (2)</text>"));
}

// ---------------------------------------------------------------------------------------------
// Command line.

fn checker(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_checker"))
        .args(args)
        .output()
        .expect("run checker");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_checks_register_logs_and_edn() {
    let log = tmp("etcd-like.log");
    std::fs::write(&log, REGISTER_LOG).unwrap();
    let (code, out, err) = checker(&["linearizability", log.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("model: register"), "{out}");
    assert!(out.contains("read as jepsen log"), "{out}");
    assert!(
        out.contains("failed cas: 1 read as a cas that found another value"),
        "{out}"
    );
    assert!(out.contains("1 more operations failed"), "{out}");

    let bad = tmp("etcd-like-bad.log");
    std::fs::write(&bad, REGISTER_LOG.replace(":read\t4", ":read\t1")).unwrap();
    let html = tmp("etcd-like-bad.html");
    let _ = std::fs::remove_file(&html);
    let (code, out, _) = checker(&["linearizability", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("the register: at most"), "{out}");
    assert!(html.exists());

    // The same history, as EDN without an extension that says so.
    let generated = generate_register(&RegisterWorkload::etcd_like(10, 800, 77));
    let edn = tmp("history-from-jepsen");
    std::fs::write(&edn, to_edn(&generated)).unwrap();
    let (code, out, err) = checker(&["linearizability", edn.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("read as edn"), "{out}");
}

#[test]
fn cli_failed_cas_and_model_flags() {
    let log = tmp("mismatch.log");
    std::fs::write(
        &log,
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\n\
         INFO  jepsen.util - 1\t:invoke\t:cas\t[1 3]\nINFO  jepsen.util - 1\t:fail\t:cas\t[1 3]\n",
    )
    .unwrap();
    let path = log.to_str().unwrap();
    let (code, _, _) = checker(&["linearizability", path]);
    assert_eq!(code, 1);
    let (code, out, _) = checker(&["linearizability", path, "--failed-cas", "ignore"]);
    assert_eq!(code, 0, "{out}");
    let (code, _, err) = checker(&["linearizability", path, "--model", "kv"]);
    assert_eq!(code, 3);
    assert!(err.contains("the kv model has no such operation"), "{err}");
    let (code, _, _) = checker(&[
        "linearizability",
        path,
        "--format",
        "log",
        "--model",
        "register",
    ]);
    assert_eq!(code, 1);
}

#[test]
fn cli_checks_versioned_histories() {
    let path = tmp("versioned.json");
    History::new(vec![
        vput(0, "k", "a", 0, 0, 1, Status::Ok),
        vput(1, "k", "b", 1, 2, 3, Status::ErrMaybe),
        vget(2, "k", 4, 5, Some(("b", 2))),
    ])
    .write_json(&path)
    .unwrap();
    let (code, out, err) = checker(&["linearizability", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("model: versioned-kv"), "{out}");
    let bad = tmp("versioned-bad.json");
    History::new(vec![
        vput(0, "k", "a", 0, 0, 1, Status::Ok),
        vput(1, "k", "b", 1, 2, 3, Status::ErrVersion),
    ])
    .write_json(&bad)
    .unwrap();
    let (code, out, _) = checker(&["linearizability", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("it would be applied"), "{out}");
}

#[test]
fn cli_says_when_there_is_nothing_to_check() {
    for (name, text) in [("empty.edn", ""), ("empty.json", "  \n"), ("empty.log", "")] {
        let path = tmp(name);
        std::fs::write(&path, text).unwrap();
        let (code, out, err) = checker(&["linearizability", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("operations: 0: the history is empty"), "{out}");
    }
    let path = tmp("unfinished.log");
    std::fs::write(
        &path,
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\n",
    )
    .unwrap();
    let (code, out, _) = checker(&["linearizability", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no completed operations"), "{out}");
    let missing = tmp("no-such-history.log");
    let (code, _, err) = checker(&["linearizability", missing.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("no-such-history.log: no such file"), "{err}");
}

#[test]
fn cli_keeps_the_verdict_when_the_picture_cannot_be_written() {
    let bad = tmp("unwritable-picture.log");
    std::fs::write(&bad, REGISTER_LOG.replace(":read\t4", ":read\t1")).unwrap();
    let html = tmp("no-such-directory/picture.html");
    let args = [
        "linearizability",
        bad.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ];
    let (code, out, err) = checker(&args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT linearizable"), "{out}");
    assert!(err.contains("warning: no picture: cannot write"), "{err}");
}

#[test]
fn cli_memory_limit_gives_unknown() {
    // 50 processes hammering one register with 3 values: too much for 0 MiB of memo.
    let mut w = RegisterWorkload::etcd_like(50, 3000, 3);
    w.values = 3;
    let path = tmp("memory.log");
    std::fs::write(&path, to_log(&generate_register(&w))).unwrap();
    let args = [
        "linearizability",
        path.to_str().unwrap(),
        "--memory-limit",
        "0",
    ];
    let (code, out, _) = checker(&args);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown (memory limit reached"), "{out}");
}
