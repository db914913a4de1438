//! Tests of `checker::linearizability`: hand-written histories, generated ones, a cross-check
//! against a brute-force checker, the EDN reader, the HTML picture and the command line.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use checker::linearizability::{
    CheckOptions, CheckReport, History, HistoryError, HistoryFormat, KvOp, LinearizationInfo,
    Operation, PartitionStatus, UNKNOWN_RETURN, Verdict, check_history, render_html, write_html,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use support::{Workload, corrupt_read, generate};

const NEVER: u64 = UNKNOWN_RETURN;

fn get(client: u64, key: &str, call: u64, ret: u64, value: &str) -> Operation {
    Operation::get(client, key, call, ret, value)
}

fn put(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Operation {
    Operation::put(client, key, value, call, ret)
}

fn append(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Operation {
    Operation::append(client, key, value, call, ret)
}

fn report(ops: Vec<Operation>, options: &CheckOptions) -> CheckReport {
    let history = History::new(ops);
    let report = check_history(&history, options).expect("valid history");
    assert_valid_explanation(&history, &report.info);
    report
}

/// The verdict, which must not depend on partitioning.
fn verdict(ops: Vec<Operation>) -> Verdict {
    let by_key = report(ops.clone(), &CheckOptions::default()).verdict;
    let whole = report(ops, &CheckOptions::default().partition_by_key(false)).verdict;
    assert_eq!(
        by_key, whole,
        "partitioned and unpartitioned verdicts differ"
    );
    by_key
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

// ---------------------------------------------------------------------------------------------
// A reference: the sequential store, and what a correct explanation must satisfy.

fn apply(store: &mut BTreeMap<String, String>, op: &Operation) -> bool {
    let value = store.entry(op.input.key.clone()).or_default();
    match op.input.op {
        KvOp::Get => value == op.output.text(),
        KvOp::Put => {
            *value = op.input.value.clone().unwrap_or_default();
            true
        }
        KvOp::Append => {
            value.push_str(op.input.value.as_deref().unwrap_or(""));
            true
        }
        _ => unreachable!("key/value operations only"),
    }
}

/// Checks the report's explanation independently: each linearization (or longest prefix) is a
/// valid order of its operations, complete when linearizable, and each stuck operation really
/// cannot come next after an illegal partition's prefix.
fn assert_valid_explanation(history: &History, info: &LinearizationInfo) {
    let ops = &history.operations;
    for p in &info.partitions {
        if p.status == PartitionStatus::NotChecked {
            continue;
        }
        let mut store = BTreeMap::new();
        for (pos, &i) in p.linearization.iter().enumerate() {
            assert!(p.operations.contains(&i), "op {i} is not in its partition");
            assert!(apply(&mut store, &ops[i]), "linearization step {pos} fails");
            // Nothing that returned before this op's call may come later or be missing.
            for &j in &p.operations {
                if ops[j].ret < ops[i].call {
                    let before = p.linearization[..pos].contains(&j);
                    assert!(
                        before,
                        "op {j} returned before op {i} was called but is not before it"
                    );
                }
            }
        }
        match p.status {
            PartitionStatus::Linearizable => {
                // Every operation that returned; of those with unknown outcome, the ones that
                // took effect.
                let mut placed = p.linearization.clone();
                placed.retain(|&i| !ops[i].is_pending());
                placed.sort_unstable();
                let mut all = p.operations.clone();
                all.retain(|&i| !ops[i].is_pending());
                all.sort_unstable();
                assert_eq!(
                    placed, all,
                    "a linearization must place every operation that returned"
                );
            }
            PartitionStatus::Illegal => {
                assert!(!p.stuck.is_empty(), "an illegal partition names stuck ops");
                for s in &p.stuck {
                    assert!(!p.linearization.contains(&s.op));
                    assert!(
                        !apply(&mut store.clone(), &ops[s.op]),
                        "{}\n{}",
                        s.reason,
                        history.to_json()
                    );
                }
            }
            _ => {}
        }
    }
}

/// Brute force: tries every order that respects real time. Gets with unknown outcome are ignored
/// and writes with unknown outcome may be left out (= placed after everything else).
fn brute_force(ops: &[Operation]) -> bool {
    fn search(ops: &[&Operation], placed: &mut [bool], store: &BTreeMap<String, String>) -> bool {
        if (0..ops.len()).all(|i| placed[i] || ops[i].is_pending()) {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            let must_wait =
                (0..ops.len()).any(|j| j != i && !placed[j] && ops[j].ret < ops[i].call);
            if must_wait {
                continue;
            }
            let mut next = store.clone();
            if !apply(&mut next, ops[i]) {
                continue;
            }
            placed[i] = true;
            if search(ops, placed, &next) {
                return true;
            }
            placed[i] = false;
        }
        false
    }
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|op| !(op.input.op == KvOp::Get && op.is_pending()))
        .collect();
    search(&ops, &mut vec![false; ops.len()], &BTreeMap::new())
}

// ---------------------------------------------------------------------------------------------
// Hand-written histories.

#[test]
fn empty_history_is_linearizable() {
    assert_eq!(verdict(vec![]), Verdict::Ok);
}

#[test]
fn sequential_history() {
    assert_eq!(
        verdict(vec![
            put(0, "k", "a", 0, 10),
            get(0, "k", 20, 30, "a"),
            append(0, "k", "b", 40, 50),
            get(0, "k", 60, 70, "ab"),
            put(0, "k", "c", 80, 90),
            get(0, "k", 100, 110, "c"),
        ]),
        Verdict::Ok
    );
}

#[test]
fn absent_keys_read_empty() {
    assert_eq!(verdict(vec![get(0, "k", 0, 10, "")]), Verdict::Ok);
    assert_eq!(
        verdict(vec![put(0, "a", "x", 0, 10), get(1, "b", 20, 30, "")]),
        Verdict::Ok
    );
    assert_eq!(verdict(vec![get(0, "k", 0, 10, "x")]), Verdict::Illegal);
}

#[test]
fn get_concurrent_with_put_may_see_either_value() {
    for seen in ["", "a"] {
        assert_eq!(
            verdict(vec![put(0, "k", "a", 0, 100), get(1, "k", 50, 60, seen)]),
            Verdict::Ok,
            "{seen:?}"
        );
    }
}

#[test]
fn get_cannot_see_a_put_before_it_is_called() {
    assert_eq!(
        verdict(vec![get(1, "k", 0, 10, "a"), put(0, "k", "a", 20, 30)]),
        Verdict::Illegal
    );
}

#[test]
fn get_cannot_miss_a_put_that_returned() {
    assert_eq!(
        verdict(vec![put(0, "k", "a", 0, 10), get(1, "k", 20, 30, "")]),
        Verdict::Illegal
    );
}

#[test]
fn reads_cannot_go_back_in_time() {
    // Both gets overlap the put, but once the first saw "a" the second (after it) must too.
    assert_eq!(
        verdict(vec![
            put(0, "k", "a", 0, 100),
            get(1, "k", 10, 20, "a"),
            get(2, "k", 30, 40, ""),
        ]),
        Verdict::Illegal
    );
    // Overlapping each other, the reads may be ordered either way.
    assert_eq!(
        verdict(vec![
            put(0, "k", "a", 0, 100),
            get(1, "k", 10, 40, "a"),
            get(2, "k", 30, 50, ""),
        ]),
        Verdict::Ok
    );
}

#[test]
fn concurrent_appends_in_either_order() {
    for seen in ["ab", "ba"] {
        assert_eq!(
            verdict(vec![
                append(0, "k", "a", 0, 50),
                append(1, "k", "b", 10, 60),
                get(2, "k", 70, 80, seen),
            ]),
            Verdict::Ok,
            "{seen:?}"
        );
    }
}

#[test]
fn sequential_appends_keep_their_order() {
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, 10),
            append(1, "k", "b", 20, 30),
            get(2, "k", 40, 50, "ba"),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn appends_are_never_lost() {
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, 50),
            append(1, "k", "b", 0, 50),
            get(2, "k", 60, 70, "ab"),
            get(2, "k", 80, 90, "a"),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn concurrent_appends_pinned_by_reads() {
    // Four concurrent appends; the reads fix their order one by one.
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, 100),
            append(1, "k", "b", 0, 100),
            append(2, "k", "c", 0, 100),
            append(3, "k", "d", 0, 100),
            get(4, "k", 5, 15, "c"),
            get(4, "k", 20, 30, "cad"),
            get(4, "k", 110, 120, "cadb"),
        ]),
        Verdict::Ok
    );
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, 100),
            append(1, "k", "b", 0, 100),
            append(2, "k", "c", 0, 100),
            get(4, "k", 5, 15, "c"),
            get(4, "k", 20, 30, "ca"),
            get(4, "k", 110, 120, "cba"),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn put_resets_what_appends_built() {
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, 10),
            append(1, "k", "b", 20, 100),
            put(2, "k", "p", 20, 100),
            get(3, "k", 30, 40, "pb"),
            get(3, "k", 110, 120, "pb"),
        ]),
        Verdict::Ok
    );
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, 10),
            put(2, "k", "p", 20, 30),
            get(3, "k", 40, 50, "ap"),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn touching_windows_overlap() {
    // The get is called exactly when the put returns: they are concurrent, either order works.
    assert_eq!(
        verdict(vec![put(0, "k", "a", 0, 10), get(1, "k", 10, 20, "")]),
        Verdict::Ok
    );
    assert_eq!(
        verdict(vec![put(0, "k", "a", 0, 10), get(1, "k", 11, 20, "")]),
        Verdict::Illegal
    );
    // A zero-length operation is fine.
    assert_eq!(
        verdict(vec![put(0, "k", "a", 5, 5), get(1, "k", 6, 6, "a")]),
        Verdict::Ok
    );
}

#[test]
fn unknown_write_may_have_happened() {
    assert_eq!(
        verdict(vec![
            put(0, "k", "a", 0, NEVER),
            get(1, "k", 1000, 1010, "a"),
        ]),
        Verdict::Ok
    );
}

#[test]
fn unknown_write_may_not_have_happened() {
    assert_eq!(
        verdict(vec![
            put(0, "k", "a", 0, NEVER),
            get(1, "k", 1000, 1010, ""),
            put(2, "k", "b", 2000, 2010),
            get(1, "k", 3000, 3010, "b"),
        ]),
        Verdict::Ok
    );
}

#[test]
fn unknown_write_may_take_effect_late() {
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, NEVER),
            get(1, "k", 1000, 1010, ""),
            append(2, "k", "b", 2000, 2010),
            get(1, "k", 3000, 3010, "ba"),
        ]),
        Verdict::Ok
    );
}

#[test]
fn unknown_write_cannot_take_effect_before_its_call() {
    assert_eq!(
        verdict(vec![get(1, "k", 0, 10, "a"), put(0, "k", "a", 20, NEVER),]),
        Verdict::Illegal
    );
}

#[test]
fn unknown_write_once_seen_has_happened() {
    assert_eq!(
        verdict(vec![
            append(0, "k", "a", 0, NEVER),
            get(1, "k", 100, 110, "a"),
            get(1, "k", 200, 210, ""),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn unknown_get_is_ignored() {
    let report = report(
        vec![put(0, "k", "a", 0, 10), get(1, "k", 20, NEVER, "nonsense")],
        &CheckOptions::default(),
    );
    assert_eq!(report.verdict, Verdict::Ok);
    assert_eq!(report.info.ignored, vec![1]);
}

#[test]
fn explains_an_illegal_history() {
    let report = report(
        vec![
            put(0, "k", "a", 0, 10),     // 0
            append(1, "k", "b", 20, 30), // 1
            get(2, "k", 40, 50, "ab"),   // 2
            get(2, "k", 60, 70, "a"),    // 3: stale
            append(0, "k", "c", 80, 90), // 4
            get(1, "other", 0, 100, ""), // 5: another key, fine
        ],
        &CheckOptions::default(),
    );
    assert_eq!(report.verdict, Verdict::Illegal);
    let partitions = &report.info.partitions;
    assert_eq!(partitions.len(), 2);
    let k = partitions
        .iter()
        .find(|p| p.key.as_deref() == Some("k"))
        .unwrap();
    assert_eq!(k.status, PartitionStatus::Illegal);
    assert_eq!(k.operations, vec![0, 1, 2, 3, 4]);
    assert_eq!(k.linearization, vec![0, 1, 2]);
    assert_eq!(k.stuck.len(), 1);
    assert_eq!(k.stuck[0].op, 3);
    assert_eq!(
        k.stuck[0].reason,
        r#"get("k") returned "a" but the value at this point is "ab""#
    );
}

#[test]
fn multi_key_histories_agree_with_and_without_partitioning() {
    assert_eq!(
        verdict(vec![
            put(0, "a", "1", 0, 100),
            put(1, "b", "2", 0, 100),
            get(2, "a", 10, 20, "1"),
            get(2, "b", 30, 40, ""),
            get(3, "b", 50, 60, "2"),
            get(3, "a", 70, 80, "1"),
        ]),
        Verdict::Ok
    );
    assert_eq!(
        verdict(vec![
            put(0, "a", "1", 0, 10),
            put(1, "b", "2", 20, 30),
            get(2, "b", 40, 50, "2"),
            get(2, "a", 60, 70, ""),
        ]),
        Verdict::Illegal
    );
}

#[test]
fn stops_at_the_first_illegal_partition_only_if_asked() {
    let mut ops = Vec::new();
    for key in ["a", "b", "c"] {
        ops.push(put(0, key, "x", 0, 10));
        ops.push(get(1, key, 20, 30, "")); // illegal in every key
    }
    let all = report(
        ops.clone(),
        &CheckOptions::default().stop_at_first_illegal(false),
    );
    assert!(
        all.info
            .partitions
            .iter()
            .all(|p| p.status == PartitionStatus::Illegal)
    );
    let first = report(ops, &CheckOptions::default());
    assert_eq!(first.verdict, Verdict::Illegal);
    assert!(
        first
            .info
            .partitions
            .iter()
            .any(|p| p.status == PartitionStatus::Illegal)
    );
}

#[test]
fn times_out_as_unknown() {
    let history = generate(&Workload::lab_like(20, 3000, 5, 7));
    let options = CheckOptions::default()
        .partition_by_key(false)
        .timeout(Duration::ZERO);
    let report = check_history(&history, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert_eq!(report.info.partitions[0].status, PartitionStatus::TimedOut);
}

#[test]
fn rejects_an_operation_returning_before_its_call() {
    let history = History::new(vec![put(0, "k", "a", 10, 5)]);
    let err = check_history(&history, &CheckOptions::default()).unwrap_err();
    assert!(matches!(
        err,
        HistoryError::InvalidOperation { index: 0, .. }
    ));
    assert!(err.to_string().contains("operation 0"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// JSON.

#[test]
fn json_round_trip() {
    let history = History::new(vec![put(0, "k", "a", 0, 10), get(1, "k", 5, NEVER, "")]);
    let path = tmp("round-trip.json");
    history.write_json(&path).unwrap();
    assert_eq!(History::read_file(&path, None).unwrap(), history);
    assert!(history.to_json().contains("18446744073709551615"));
}

#[test]
fn json_accepts_lower_case_ops_and_missing_values() {
    let text = r#"{"operations": [
        {"client": 1, "input": {"op": "append", "key": "k", "value": "x"}, "call": 0,
         "output": {"value": ""}, "ret": 5},
        {"client": 2, "input": {"op": "Get", "key": "k"}, "call": 6, "output": {"value": "x"},
         "ret": 9}
    ]}"#;
    let history = History::from_json(text).unwrap();
    assert_eq!(history.operations[0].input.op, KvOp::Append);
    assert_eq!(history.operations[1].input.value, None);
    assert_eq!(
        check_history(&history, &CheckOptions::default())
            .unwrap()
            .verdict,
        Verdict::Ok
    );
}

#[test]
fn json_errors_are_reported() {
    assert!(matches!(
        History::from_json("{\"operations\": [{\"client\": 1}]}"),
        Err(HistoryError::Json(_))
    ));
    assert!(matches!(
        History::from_json("not json"),
        Err(HistoryError::Json(_))
    ));
    let backwards = r#"{"operations": [{"client": 1, "input": {"op": "Put", "key": "k",
        "value": "x"}, "call": 9, "output": {"value": ""}, "ret": 5}]}"#;
    assert!(matches!(
        History::from_json(backwards),
        Err(HistoryError::InvalidOperation { index: 0, .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Generated histories.

#[test]
fn generated_histories_are_linearizable() {
    let mut cases = 0;
    for seed in 0..40 {
        // At most ~15 clients per key: dozens of operations on one key, all overlapping, can take
        // exponential time (that is what timeouts are for).
        let (clients, keys) =
            [(1, 1), (3, 2), (10, 1), (15, 1), (50, 5), (50, 10)][seed as usize % 6];
        let mut w = Workload::lab_like(clients, 300, keys, seed);
        w.pending_permille = [0, 30][seed as usize % 2];
        w.put_percent = [6, 30][(seed as usize / 2) % 2];
        let history = generate(&w);
        let report = report(history.operations.clone(), &CheckOptions::default());
        assert_eq!(report.verdict, Verdict::Ok, "workload {w:?}");
        if clients <= 15 {
            let whole = report_of(&history, false);
            assert_eq!(whole, Verdict::Ok, "unpartitioned, workload {w:?}");
        }
        cases += 1;
    }
    assert_eq!(cases, 40);
}

fn report_of(history: &History, by_key: bool) -> Verdict {
    let options = CheckOptions::default().partition_by_key(by_key);
    let report = check_history(history, &options).unwrap();
    assert_valid_explanation(history, &report.info);
    report.verdict
}

#[test]
fn generated_histories_with_a_corrupted_read_are_not() {
    for seed in 0..20 {
        let (clients, keys) = [(3, 1), (10, 2), (50, 5)][seed as usize % 3];
        let mut w = Workload::lab_like(clients, 400, keys, 100 + seed);
        w.pending_permille = [0, 20][seed as usize % 2];
        let mut history = generate(&w);
        let at = [0.1, 0.5, 0.9][seed as usize % 3];
        let bad = corrupt_read(&mut history, at).expect("a get to corrupt");
        let options = CheckOptions::default().stop_at_first_illegal(false);
        let report = check_history(&history, &options).unwrap();
        assert_eq!(report.verdict, Verdict::Illegal, "workload {w:?}");
        assert_valid_explanation(&history, &report.info);
        let key = &history.operations[bad].input.key;
        let partition = report
            .info
            .partitions
            .iter()
            .find(|p| p.key.as_ref() == Some(key))
            .unwrap();
        assert_eq!(partition.status, PartitionStatus::Illegal);
        assert_eq!(
            report
                .info
                .partitions
                .iter()
                .filter(|p| p.status == PartitionStatus::Illegal)
                .count(),
            1
        );
    }
}

/// A small random history with arbitrary outputs: 1-`max_clients` clients, 1-2 keys, at most `max_ops`
/// operations, times in a small range so that windows overlap and touch often.
fn small_random_history(rng: &mut ChaCha8Rng, max_ops: usize, max_clients: u64) -> Vec<Operation> {
    let clients = rng.random_range(1..=max_clients);
    let keys = ["k", "j"];
    let keys = &keys[..rng.random_range(1..=2)];
    let n = rng.random_range(0..=max_ops);
    let mut clock = vec![0u64; clients as usize];
    let mut crashed = vec![false; clients as usize];
    let mut ops: Vec<Operation> = Vec::new();
    let mut lin: Vec<u64> = Vec::new();
    for _ in 0..n {
        let c = rng.random_range(0..clients) as usize;
        if crashed[c] {
            continue;
        }
        let call = clock[c] + rng.random_range(0..4);
        let ret = call + rng.random_range(0..8);
        let key = keys[rng.random_range(0..keys.len())];
        let value = ["a", "b", "c", "ab", ""][rng.random_range(0..5)];
        let mut op = match rng.random_range(0..10) {
            0..4 => get(c as u64, key, call, ret, ""),
            4..6 => put(c as u64, key, value, call, ret),
            _ => append(c as u64, key, value, call, ret),
        };
        if rng.random_range(0..10) == 0 {
            op.ret = NEVER;
            crashed[c] = true;
        }
        clock[c] = ret + 1;
        lin.push(rng.random_range(call..=ret.min(call + 8)));
        ops.push(op);
    }
    // Outputs: usually what a random valid order would give, sometimes perturbed or arbitrary.
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (lin[i], rng.random_range(0..100u32)));
    let mut store = BTreeMap::new();
    for i in order {
        let value = store
            .entry(ops[i].input.key.clone())
            .or_insert(String::new());
        match ops[i].input.op {
            KvOp::Get => ops[i].output.value = Some(value.clone()),
            KvOp::Put => *value = ops[i].input.value.clone().unwrap_or_default(),
            KvOp::Append => value.push_str(ops[i].input.value.as_deref().unwrap_or("")),
            _ => unreachable!(),
        }
    }
    for op in &mut ops {
        if op.input.op == KvOp::Get && rng.random_range(0..2) == 0 {
            let len = rng.random_range(0..=3);
            op.output.value = Some(
                (0..len)
                    .map(|_| ["a", "b", "c"][rng.random_range(0..3)])
                    .collect(),
            );
        }
    }
    ops
}

#[test]
fn agrees_with_brute_force_on_small_histories() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (mut ok, mut illegal) = (0, 0);
    for case in 0..6000 {
        let ops = small_random_history(&mut rng, 8, 3);
        let expected = brute_force(&ops);
        let history = History::new(ops);
        for by_key in [true, false] {
            let got = report_of(&history, by_key);
            assert_eq!(
                got == Verdict::Ok,
                expected,
                "case {case}, partitioned: {by_key}, history:\n{}",
                history.to_json()
            );
        }
        if expected {
            ok += 1;
        } else {
            illegal += 1;
        }
    }
    // Both verdicts are well represented.
    assert!(ok > 1500 && illegal > 1500, "ok {ok}, illegal {illegal}");
}

/// Brute force with a memo of failed (placed set, store) pairs, for histories of up to 32 ops.
fn memo_brute_force(ops: &[Operation]) -> bool {
    use std::collections::HashSet;
    fn search(
        ops: &[&Operation],
        placed: u32,
        store: &BTreeMap<String, String>,
        failed: &mut HashSet<(u32, Vec<(String, String)>)>,
    ) -> bool {
        if (0..ops.len()).all(|i| placed & (1 << i) != 0 || ops[i].is_pending()) {
            return true;
        }
        let key = (placed, store.clone().into_iter().collect::<Vec<_>>());
        if failed.contains(&key) {
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
            let mut next = store.clone();
            if !apply(&mut next, ops[i]) {
                continue;
            }
            if search(ops, placed | (1 << i), &next, failed) {
                return true;
            }
        }
        failed.insert(key);
        false
    }
    let ops: Vec<&Operation> = ops
        .iter()
        .filter(|op| !(op.input.op == KvOp::Get && op.is_pending()))
        .collect();
    search(&ops, 0, &BTreeMap::new(), &mut HashSet::new())
}

/// 400,000 histories of up to 16 operations from up to 6 clients against the memoised brute force
/// (about 30 s in release mode): `cargo test --release -p checker --test linearizability -- --ignored`.
#[test]
#[ignore]
fn stress_brute_force() {
    for seed in 0..40u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed * 7919);
        for case in 0..10000 {
            let mut ops = small_random_history(&mut rng, 16, 6);
            if seed % 2 == 0 {
                for op in &mut ops {
                    op.input.key = "k".into();
                }
            }
            let expected = memo_brute_force(&ops);
            let history = History::new(ops);
            for by_key in [true, false] {
                let got = report_of(&history, by_key);
                assert_eq!(
                    got == Verdict::Ok,
                    expected,
                    "seed {seed} case {case}:\n{}",
                    history.to_json()
                );
            }
        }
    }
}

#[test]
fn agrees_with_brute_force_on_histories_of_one_key() {
    // One key and more appends: the look-ahead on append order is exercised harder.
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    for case in 0..3000 {
        let ops: Vec<Operation> = small_random_history(&mut rng, 9, 3)
            .into_iter()
            .map(|mut op| {
                op.input.key = "k".into();
                op
            })
            .collect();
        let expected = brute_force(&ops);
        let history = History::new(ops);
        let got = report_of(&history, true);
        assert_eq!(
            got == Verdict::Ok,
            expected,
            "case {case}:\n{}",
            history.to_json()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// EDN.

const EDN: &str = r#"
; a comment, then a blank line

{:process 0, :type :invoke, :f :append, :key "1", :value "x"}
{:process 1 :type :invoke :f :get :key "1" :value nil :time 12345}
{:process 0, :type :ok, :f :append, :key "1", :value "x", :index 3}
  {:process 1, :type :ok, :f :get, :key "1", :value "x"}  
{:process :nemesis, :type :info, :f :start, :value nil}
{:process 2, :type :invoke, :f :put, :key "2", :value "y"}
{:process 2, :type :fail, :f :put, :key "2", :value "y", :error [:timeout "gave up"]}
{:process 3, :type :invoke, :f :put, :key "2", :value "z"}
{:process 3, :type :info, :f :put, :key "2", :value "z"}
{:process 4, :type :invoke, :f :get, :key "2", :value nil}
{:process 4, :type :ok, :f :get, :key "2", :value nil}
{:process 5, :type :invoke, :f :append, :key "2", :value "w"}
"#;

#[test]
fn edn_reads_a_jepsen_history() {
    let history = History::from_edn(EDN).unwrap();
    let ops = &history.operations;
    assert_eq!(ops.len(), 5, "{ops:#?}"); // the :fail is dropped
    assert_eq!(ops[0], append(0, "1", "x", 4, 6));
    assert_eq!(ops[1], get(1, "1", 5, 7, "x"));
    assert_eq!(ops[2], put(3, "2", "z", 11, NEVER)); // :info: unknown
    let mut nil_read = get(4, "2", 13, 14, "");
    nil_read.output.value = None; // nil: absent, which a key/value store reads as ""
    assert_eq!(ops[3], nil_read);
    assert_eq!(ops[4], append(5, "2", "w", 15, NEVER)); // never completed: unknown
    assert_eq!(
        check_history(&history, &CheckOptions::default())
            .unwrap()
            .verdict,
        Verdict::Ok
    );
}

#[test]
fn edn_errors_name_the_line() {
    let cases = [
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil",
            "missing '}'",
        ),
        (
            "{:process 0, :type :ok, :f :get, :key \"1\", :value \"x\"}",
            "without a matching :invoke",
        ),
        (
            "{:process 0, :type :invoke, :f :frob, :key \"1\", :value [1 2]}",
            "unsupported operation",
        ),
        (
            "{:process 0, :type :invoke, :f :cas, :key \"1\", :value 1}",
            "needs :value [expected new]",
        ),
        (
            "{:process 0, :type :invoke, :f :put, :key \"1\", :value \"x\", :version -1}",
            ":version -1 is not",
        ),
        ("{:type :invoke, :f :get, :key \"1\"}", "no :process"),
        ("[:process 0]", "expected a map"),
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value \"unterminated}",
            "unterminated string",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\"} trailing",
            "after the map",
        ),
        (
            "{:process -1, :type :invoke, :f :get, :key \"1\"}",
            "not a non-negative integer",
        ),
        (
            "{:process 0, :type :begin, :f :get, :key \"1\"}",
            "unknown :type",
        ),
        (
            "{:process 0, :type :invoke, :f :put, :key \"1\"}",
            "without :value",
        ),
        ("{:process 0 :type}", "odd number"),
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n\
          {:process 0, :type :ok, :f :put, :key \"1\", :value \"x\"}",
            "completes its :invoke :get",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n\
          {:process 0, :type :invoke, :f :get, :key \"1\", :value nil}",
            "still open",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n\
          {:process 0, :type :ok, :f :get, :key \"2\", :value nil}",
            "is for key",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"\\q\"}",
            "unknown string escape",
        ),
        (
            "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n)",
            "unexpected ')'",
        ),
    ];
    for (text, expected) in cases {
        let line = text.lines().count();
        match History::from_edn(text) {
            Err(HistoryError::Edn { line: at, reason }) => {
                assert_eq!(at, line, "{text}");
                assert!(reason.contains(expected), "{text}: {reason}");
            }
            other => panic!("{text}: expected an error, got {other:?}"),
        }
    }
    // Deep nesting and odd bytes are errors, not crashes.
    let deep = format!("{{:process 0, :x {}}}", "[".repeat(10_000));
    assert!(History::from_edn(&deep).is_err());
    assert!(History::from_edn("\u{0}\u{7f}{").is_err());
    let err = History::from_edn("\n\n{:process 0, :type :ok, :f :get, :key \"1\", :value \"x\"}")
        .unwrap_err();
    assert!(err.to_string().starts_with("line 3: "), "{err}");
}

#[test]
fn edn_files_by_extension_or_format() {
    let edn = tmp("history.edn");
    std::fs::write(&edn, EDN).unwrap();
    assert_eq!(History::read_file(&edn, None).unwrap().operations.len(), 5);
    let jepsen = tmp("history.jepsen");
    std::fs::write(&jepsen, EDN).unwrap();
    assert_eq!(
        History::read_file(&jepsen, None).unwrap().operations.len(),
        5
    );
    // Any other extension: the content says.
    let txt = tmp("history.txt");
    std::fs::write(&txt, EDN).unwrap();
    assert_eq!(History::read_file(&txt, None).unwrap().operations.len(), 5);
    let read = History::read_file(&txt, Some(HistoryFormat::Edn)).unwrap();
    assert_eq!(read.operations.len(), 5);
    let garbage = tmp("garbage.txt");
    std::fs::write(&garbage, "hello\nworld\n").unwrap();
    assert!(matches!(
        History::read_file(&garbage, None),
        Err(HistoryError::UnknownFormat(_))
    ));
    let missing = History::read_file(&tmp("missing.json"), None).unwrap_err();
    assert!(matches!(missing, HistoryError::Missing { .. }));
    assert!(
        missing.to_string().ends_with("missing.json: no such file"),
        "{missing}"
    );
}

// ---------------------------------------------------------------------------------------------
// HTML.

fn bad_history() -> History {
    History::new(vec![
        put(0, "k", "a", 0, 10),
        append(1, "k", "<b>", 20, 30),
        get(2, "k", 40, 50, "a<b>"),
        get(3, "k", 60, 70, "a"),
        append(0, "k", "c", 80, NEVER),
        get(1, "k", 90, NEVER, "?"),
        put(4, "other", "o", 0, 5),
    ])
}

#[test]
fn html_picture_is_written_and_self_contained() {
    let history = bad_history();
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    let path = tmp("picture.html");
    write_html(&history, &report.info, &path).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg"));
    assert!(html.contains("History is NOT linearizable"));
    assert!(html.contains("could not come next"));
    assert!(html.contains("stuck here"));
    // The stuck reason and the ops' inputs and outputs, escaped.
    assert!(
        html.contains("get(&quot;k&quot;) returned &quot;a&quot;"),
        "reason"
    );
    assert!(html.contains("append(&quot;k&quot;, &quot;&lt;b&gt;&quot;)"));
    assert!(!html.contains("<b>"), "values must be escaped");
    // Each op has its hover text (shown in the panel beside the chart).
    assert_eq!(html.matches("data-info=\"client").count(), 6);
    // Nothing is fetched from anywhere.
    assert!(!html.contains("http://") && !html.contains("https://"));
    assert!(!html.contains("<link") && !html.contains(" src="));
    // The linearizable key is listed, not drawn.
    assert!(html.contains("1 other partition(s), not drawn"));
    assert!(html.contains("key &quot;other&quot;: linearizable, 1 operations"));
}

#[test]
fn html_picture_of_large_histories_focuses_on_the_failure() {
    let mut history = generate(&Workload::lab_like(10, 3000, 1, 5));
    corrupt_read(&mut history, 0.8).unwrap();
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Illegal);
    let html = render_html(&history, &report.info);
    assert!(
        html.contains("Showing "),
        "a large partition is drawn around the failure"
    );
    assert!(html.matches("<g class=\"op").count() <= 600);
    assert!(html.len() < 3_000_000);
}

#[test]
fn html_picture_of_a_linearizable_history() {
    let history = History::new(vec![put(0, "k", "a", 0, 10), get(1, "k", 5, 15, "a")]);
    let report = check_history(&history, &CheckOptions::default()).unwrap();
    let html = render_html(&history, &report.info);
    assert!(html.contains("History is linearizable"));
    assert!(html.contains("All 2 operations linearize"));
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
fn cli_linearizable_history_exits_0() {
    let path = tmp("cli-ok.json");
    generate(&Workload::lab_like(5, 200, 3, 1))
        .write_json(&path)
        .unwrap();
    let (code, out, err) = checker(&["linearizability", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("linearizable"), "{out}");
    assert!(out.contains("operations: 200"), "{out}");
    assert!(out.contains("partitions: 3 (by key)"), "{out}");
    let (code, out, _) = checker(&["linearizability", path.to_str().unwrap(), "--no-partition"]);
    assert_eq!(code, 0);
    assert!(out.contains("partitions: 1 (not split by key)"), "{out}");
}

#[test]
fn cli_illegal_history_exits_1_and_draws_it() {
    let path = tmp("cli-bad.json");
    bad_history().write_json(&path).unwrap();
    let html = path.with_extension("html");
    let _ = std::fs::remove_file(&html);
    let (code, out, err) = checker(&["linearizability", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("NOT linearizable"), "{out}");
    assert!(
        out.contains("returned \"a\" but the value at this point is \"a<b>\""),
        "{out}"
    );
    assert!(
        out.contains(&format!("picture: {}", html.display())),
        "{out}"
    );
    assert!(html.exists());

    let custom = tmp("cli-custom.html");
    let _ = std::fs::remove_file(&custom);
    let args = [
        "linearizability",
        path.to_str().unwrap(),
        "--html",
        custom.to_str().unwrap(),
    ];
    let (code, _, _) = checker(&args);
    assert_eq!(code, 1);
    assert!(custom.exists());
}

#[test]
fn cli_reads_edn_by_extension_or_flag() {
    let edn = tmp("cli.edn");
    std::fs::write(&edn, EDN).unwrap();
    let (code, out, err) = checker(&["linearizability", edn.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let txt = tmp("cli-edn.txt");
    std::fs::write(&txt, EDN).unwrap();
    let (code, out, err) = checker(&["linearizability", txt.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("read as edn"), "{out}");
    let (code, _, _) = checker(&["linearizability", txt.to_str().unwrap(), "--format", "edn"]);
    assert_eq!(code, 0);
    let garbage = tmp("cli-garbage.txt");
    std::fs::write(&garbage, "hello\n").unwrap();
    let (code, _, err) = checker(&["linearizability", garbage.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("cannot tell the format"), "{err}");
}

#[test]
fn cli_timeout_exits_2() {
    let path = tmp("cli-slow.json");
    generate(&Workload::lab_like(20, 3000, 5, 7))
        .write_json(&path)
        .unwrap();
    let args = [
        "linearizability",
        path.to_str().unwrap(),
        "--no-partition",
        "--timeout",
        "0",
    ];
    let (code, out, err) = checker(&args);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("unknown"), "{out}");
}

#[test]
fn cli_bad_input_exits_3() {
    let malformed = tmp("cli-malformed.edn");
    std::fs::write(&malformed, "{:process 0, :type :ok, :f :get, :key \"1\"}\n").unwrap();
    let (code, _, err) = checker(&["linearizability", malformed.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("line 1:"), "{err}");

    let bad_json = tmp("cli-malformed.json");
    std::fs::write(&bad_json, "{\"operations\": 7}").unwrap();
    let (code, _, err) = checker(&["linearizability", bad_json.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("invalid JSON history"), "{err}");

    let missing = tmp("does-not-exist.json");
    let (code, _, err) = checker(&["linearizability", missing.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("does-not-exist.json: no such file"), "{err}");

    let (code, _, _) = checker(&["linearizability"]);
    assert_eq!(code, 3, "a missing argument is bad usage");
    let (code, _, _) = checker(&["linearizability", "x.json", "--timeout", "-1"]);
    assert_eq!(code, 3);
    let (code, _, _) = checker(&["frobnicate"]);
    assert_eq!(code, 3);
    let (code, out, _) = checker(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("linearizability"));
}
