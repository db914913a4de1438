//! Benchmarks of the linearizability checker on generated key/value histories.
//!
//! `CARGO_TARGET_DIR=/work/target-checker cargo bench -p checker --bench linearizability`
//!
//! - `porcupine_like`: histories shaped like porcupine's KV test data (6.824 lab clients appending
//!   to and reading 10 keys with heavy overlap): ~340 operations from 10 clients checked as one
//!   search (unpartitioned), and ~1,700 operations from 50 clients partitioned by key.
//! - `scale`: 1k, 10k and 100k operations from 10 and 50 clients (100 operations per key),
//!   partitioned; unpartitioned only for 10 clients up to 10k operations (see below).
//!
//! "bad" histories have one get, 90% of the way through, return a value that never existed. They
//! are checked with the default options: stop at the first illegal partition, explain it.
//!
//! Skipped, because they would take absurdly long (for porcupine too): unpartitioned checks of
//! 50 clients (50 operations on different keys, all overlapping, can be interleaved in too many
//! ways; 1k operations do not finish in 20 s) and of 100k operations.
//!
//! - `register`: Jepsen-style register histories with cas (see `tests/support/jepsen.rs`): 10
//!   or 50 processes, a partitioning nemesis (so many `:info`), 1k and 10k operations, read from
//!   Jepsen log lines. Values 0-4 as in Jepsen's etcd tests ("ok", and "bad" with a late read of a
//!   value nobody writes), and unique values ("ok", and "stale" with a late read of a value
//!   certainly overwritten). 100k operations and single-register 50-process histories with
//!   values 0-4 are measured with `examples/jepsen_histories.rs` instead (see BENCHMARKS.md).
//!
//! With `PORCUPINE_KV_DIR=<porcupine>/test_data/kv` set, `porcupine_files` also checks
//! porcupine's own `c10-ok.txt`, `c10-bad.txt`, `c50-ok.txt` and `c50-bad.txt` (Jepsen EDN).

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use checker::linearizability::{CheckOptions, History, HistoryFormat, Verdict, check_history};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use support::jepsen::{RegisterWorkload, generate_register, impossible_read, stale_read, to_log};
use support::{Workload, corrupt_read, generate};

/// A generated history, and the same one with a corrupted read late in it.
fn histories(clients: usize, operations: usize, keys: usize) -> [(&'static str, History); 2] {
    let ok = generate(&Workload::lab_like(clients, operations, keys, 42));
    let mut bad = ok.clone();
    corrupt_read(&mut bad, 0.9).expect("a get to corrupt");
    [("ok", ok), ("bad", bad)]
}

fn check(history: &History, by_key: bool) -> Verdict {
    let options = CheckOptions::default().partition_by_key(by_key);
    check_history(history, &options)
        .expect("valid history")
        .verdict
}

fn expected(name: &str) -> Verdict {
    match name {
        "ok" => Verdict::Ok,
        _ => Verdict::Illegal,
    }
}

fn porcupine_like(c: &mut Criterion) {
    let mut group = c.benchmark_group("porcupine_like");
    for (clients, operations, by_key) in [(10, 340, false), (50, 1700, true)] {
        let split = if by_key {
            "partitioned"
        } else {
            "unpartitioned"
        };
        for (name, history) in histories(clients, operations, 10) {
            assert_eq!(check(&history, by_key), expected(name));
            let id = format!("c{clients}_{operations}ops_{split}/{name}");
            group.bench_function(id, |b| b.iter(|| check(black_box(&history), by_key)));
        }
    }
    group.finish();
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    for operations in [1_000, 10_000, 100_000] {
        for clients in [10, 50] {
            for (name, history) in histories(clients, operations, operations / 100) {
                for by_key in [true, false] {
                    if !by_key && (clients > 10 || operations > 10_000) {
                        continue; // see the file's doc
                    }
                    assert_eq!(check(&history, by_key), expected(name));
                    let split = if by_key {
                        "partitioned"
                    } else {
                        "unpartitioned"
                    };
                    let id = BenchmarkId::new(format!("c{clients}_{split}/{name}"), operations);
                    group.bench_with_input(id, &history, |b, h| {
                        b.iter(|| check(black_box(h), by_key))
                    });
                }
            }
        }
    }
    group.finish();
}

fn register(c: &mut Criterion) {
    let mut group = c.benchmark_group("register");
    for operations in [1_000, 10_000] {
        for processes in [10, 50] {
            for values in [5, 0] {
                if values == 5 && processes == 50 {
                    continue; // see the file's doc
                }
                let mut w = RegisterWorkload::etcd_like(processes, operations, 42);
                w.values = values;
                let ok = generate_register(&w);
                let mut bad = ok.clone();
                let (bad_name, corrupted) = match values {
                    0 => ("stale", stale_read(&mut bad, 0.9)),
                    _ => ("bad", impossible_read(&mut bad, 0.9)),
                };
                corrupted.expect("a read to corrupt");
                for (name, generated) in [("ok", ok), (bad_name, bad)] {
                    let history = History::from_log(&to_log(&generated)).expect("parse");
                    let expected = if name == "ok" {
                        Verdict::Ok
                    } else {
                        Verdict::Illegal
                    };
                    assert_eq!(check(&history, true), expected, "{name} {w:?}");
                    let kind = if values == 0 { "unique" } else { "values5" };
                    let id = BenchmarkId::new(format!("c{processes}_{kind}/{name}"), operations);
                    group.bench_with_input(id, &history, |b, h| {
                        b.iter(|| check(black_box(h), true))
                    });
                }
            }
        }
    }
    group.finish();
}

fn porcupine_files(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("PORCUPINE_KV_DIR").map(PathBuf::from) else {
        return;
    };
    let mut group = c.benchmark_group("porcupine_files");
    for (file, by_key) in [("c10", false), ("c50", true)] {
        for name in ["ok", "bad"] {
            let path = dir.join(format!("{file}-{name}.txt"));
            let history = History::read_file(&path, Some(HistoryFormat::Edn))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(check(&history, by_key), expected(name));
            let split = if by_key {
                "partitioned"
            } else {
                "unpartitioned"
            };
            let id = format!("{file}_{split}/{name}");
            group.bench_function(id, |b| b.iter(|| check(black_box(&history), by_key)));
        }
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = porcupine_like, scale, register, porcupine_files
}
criterion_main!(benches);
