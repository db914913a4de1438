//! Generates Jepsen-style register histories (see `tests/support/jepsen.rs`), checks each one and
//! prints how long it took; optionally writes them as Jepsen log lines or EDN.
//!
//! ```sh
//! # 102 histories shaped like Jepsen's etcd tests (10 processes, 200-1,500 operations each):
//! cargo run --release -p checker --example jepsen_histories -- --count 102
//! # the same, written out, to run `checker linearizability` on:
//! cargo run --release -p checker --example jepsen_histories -- --count 5 --out /tmp/h --format log
//! ```

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use checker::linearizability::{CheckOptions, History, HistoryFormat, Verdict, check_history};
use clap::{Parser, ValueEnum};
use support::jepsen::{
    RegisterWorkload, counts, generate_register, impossible_read, stale_read, to_edn, to_log,
};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Log,
    Edn,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bad {
    /// Linearizable by construction.
    None,
    /// A late read returns a value no operation writes.
    Impossible,
    /// A late read returns a value certainly overwritten before it was called (unique values).
    Stale,
}

#[derive(Parser)]
struct Args {
    /// How many histories.
    #[arg(long, default_value_t = 102)]
    count: u64,
    /// Concurrent processes.
    #[arg(long, default_value_t = 10)]
    processes: usize,
    /// Operations per history; by default 200 to 1,500, varying with the seed.
    #[arg(long)]
    ops: Option<usize>,
    /// Independent registers (keys).
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Register values 0..VALUES (0: every write a new value).
    #[arg(long, default_value_t = 5)]
    values: u32,
    /// Make each history not linearizable.
    #[arg(long, value_enum, default_value = "none")]
    bad: Bad,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the histories to this directory too.
    #[arg(long)]
    out: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "log")]
    format: Format,
    /// Print a line per history.
    #[arg(long)]
    verbose: bool,
    /// Give each check this many seconds.
    #[arg(long)]
    timeout: Option<f64>,
    /// No partitions and no stray timeouts (so no `:info`).
    #[arg(long)]
    calm: bool,
}

fn main() {
    let args = Args::parse();
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).expect("create the output directory");
    }
    let (mut total, mut slowest) = (Duration::ZERO, Duration::ZERO);
    let (mut ops_total, mut info_total) = (0, 0);
    let mut verdicts = std::collections::BTreeMap::new();
    for i in 0..args.count {
        let seed = args.seed + i;
        let operations = args.ops.unwrap_or(200 + (seed * 7919 % 1301) as usize);
        let mut w = RegisterWorkload::etcd_like(args.processes, operations, seed);
        w.keys = args.keys;
        w.values = args.values;
        if args.calm {
            w.partitions = false;
            w.stray_timeouts_permille = 0;
        }
        let mut generated = generate_register(&w);
        let corrupted = match args.bad {
            Bad::None => Some(0),
            Bad::Impossible => impossible_read(&mut generated, 0.9),
            Bad::Stale => stale_read(&mut generated, 0.9),
        };
        if corrupted.is_none() {
            eprintln!("seed {seed}: no read to corrupt; skipped");
            continue;
        }
        let (text, format) = match args.format {
            Format::Log => (to_log(&generated), HistoryFormat::Log),
            Format::Edn => (to_edn(&generated), HistoryFormat::Edn),
        };
        if let Some(dir) = &args.out {
            let ext = if args.format == Format::Log {
                "log"
            } else {
                "edn"
            };
            let path = dir.join(format!("register-{seed:03}.{ext}"));
            std::fs::write(&path, &text).expect("write a history");
        }
        let history = History::parse(&text, format, &Default::default()).expect("parse");
        let start = Instant::now();
        let mut options = CheckOptions::default();
        if let Some(secs) = args.timeout {
            options = options.timeout(Duration::from_secs_f64(secs));
        }
        let report = check_history(&history, &options).expect("check");
        let took = start.elapsed();
        total += took;
        slowest = slowest.max(took);
        let (info, fail, cas) = counts(&generated);
        ops_total += generated.ops.len();
        info_total += info;
        *verdicts.entry(report.verdict.to_string()).or_insert(0) += 1;
        if args.verbose {
            let steps: u64 = report.info.partitions.iter().map(|p| p.steps).sum();
            println!(
                "seed {seed}: {} ops ({cas} cas, {info} :info, {fail} :fail): {} in {:.2} ms, \
                 {steps} steps",
                generated.ops.len(),
                report.verdict,
                took.as_secs_f64() * 1e3
            );
        }
        let expected = match args.bad {
            Bad::None => Verdict::Ok,
            _ => Verdict::Illegal,
        };
        if report.verdict != expected {
            let placed: Vec<usize> = report
                .info
                .partitions
                .iter()
                .map(|p| p.linearization.len())
                .collect();
            println!(
                "seed {seed}: expected {expected}, got {} (longest prefixes: {placed:?})",
                report.verdict
            );
        }
    }
    println!(
        "{} histories, {ops_total} operations ({info_total} :info), verdicts {verdicts:?}: total \
         {:.1} ms, slowest {:.1} ms",
        args.count,
        total.as_secs_f64() * 1e3,
        slowest.as_secs_f64() * 1e3
    );
}
