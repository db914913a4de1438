//! Jepsen-style register histories, written as Jepsen writes them (EDN maps, or the etcd tests'
//! log lines), for the tests and the benchmark.
//!
//! A simulated test in the shape of Jepsen's etcd tests: `processes` workers run reads, writes and
//! compare-and-sets of small random values (`rand-int 5`) against a 5-node cluster, each worker
//! talking to one node. A nemesis alternates between a healed network and a partition that cuts
//! two random nodes off. An operation sent to a cut-off node waits for its timeout: a read then
//! fails (`:fail :read :timed-out`, as the etcd tests record it), a write or cas ends `:info`
//! (it may take effect later, when the partition heals, or never), and the worker goes on as a new
//! process (id + `processes`), as Jepsen does. A few operations time out outside partitions too.
//!
//! Every operation that takes effect gets a linearization point strictly inside its window (or, for
//! an `:info` one, anywhere after its call), and the register is run in that order to fill in
//! reads and the outcomes of cas (`:ok` if it found the expected value, else `:fail`). So a
//! generated history is linearizable by construction.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use checker::linearizability::{History, Operation, UNKNOWN_RETURN};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What kind of register test to simulate.
#[derive(Clone, Debug)]
pub struct RegisterWorkload {
    /// Concurrent workers (Jepsen's `:concurrency`).
    pub processes: usize,
    /// Operations invoked in all.
    pub operations: usize,
    /// Independent registers (1: one register and no `:key`, like the etcd tests); a worker picks
    /// a random one per operation.
    pub keys: usize,
    /// Values are `0..values`; 0 means every write and cas writes a value never written before.
    pub values: u32,
    /// Whether the nemesis partitions the cluster.
    pub partitions: bool,
    /// Out of 1000: operations that time out outside partitions.
    pub stray_timeouts_permille: u32,
    pub seed: u64,
}

impl RegisterWorkload {
    /// Like Jepsen's etcd register test: one register, values 0-4, a partitioning nemesis.
    pub fn etcd_like(processes: usize, operations: usize, seed: u64) -> Self {
        Self {
            processes,
            operations,
            keys: 1,
            values: 5,
            partitions: true,
            stray_timeouts_permille: 5,
            seed,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Ok,
    /// A cas that found another value, or a read that timed out.
    Fail,
    Info,
}

/// One operation of a generated history.
#[derive(Clone, Debug)]
pub struct GenOp {
    pub process: u64,
    /// 0 read, 1 write, 2 cas.
    pub f: u8,
    pub key: usize,
    /// The write's value, or the cas's `[expected, new]`.
    pub arg: (u64, u64),
    pub call: u64,
    pub ret: u64,
    pub end: End,
    /// What a read returned (`None`: nil).
    pub read: Option<u64>,
    /// When it took effect, if it did.
    pub lin: Option<u64>,
}

/// A generated history: its operations and the nemesis's start/stop times.
#[derive(Clone, Debug)]
pub struct RegisterHistory {
    pub ops: Vec<GenOp>,
    pub nemesis: Vec<(u64, bool)>,
    pub keys: usize,
}

const NODES: usize = 5;
const TIMEOUT: u64 = 60;

/// Simulates the workload.
pub fn generate_register(w: &RegisterWorkload) -> RegisterHistory {
    let mut rng = ChaCha8Rng::seed_from_u64(w.seed);
    // The nemesis: healed for 150-400 ticks, then partitioned for 100-300, and so on.
    let mut nemesis = Vec::new();
    let mut cut: Vec<(u64, u64, [bool; NODES])> = Vec::new();
    let horizon = (w.operations as u64 / w.processes.max(1) as u64 + 10) * 40 + 1000;
    let mut t = rng.random_range(100..300);
    while w.partitions && t < horizon {
        let length = rng.random_range(100..300);
        let mut isolated = [false; NODES];
        for _ in 0..2 {
            isolated[rng.random_range(0..NODES)] = true;
        }
        cut.push((t, t + length, isolated));
        nemesis.push((t, true));
        nemesis.push((t + length, false));
        t += length + rng.random_range(150..400);
    }
    let isolated_at = |node: usize, time: u64| {
        cut.iter()
            .find(|(from, to, _)| *from <= time && time < *to)
            .map(|(_, to, iso)| iso[node].then_some(*to))
            .unwrap_or(None)
    };
    let mut clock = vec![0u64; w.processes.max(1)];
    let mut pid: Vec<u64> = (0..clock.len() as u64).collect();
    let mut fresh = 0u64;
    let mut ops = Vec::with_capacity(w.operations);
    for _ in 0..w.operations {
        let worker = (0..clock.len()).min_by_key(|&c| (clock[c], c)).unwrap_or(0);
        let call = clock[worker] + rng.random_range(1..=5);
        let f = rng.random_range(0..3u8);
        let mut value = |rng: &mut ChaCha8Rng| {
            if w.values == 0 {
                fresh += 1;
                fresh
            } else {
                rng.random_range(0..u64::from(w.values))
            }
        };
        let arg = match f {
            0 => (0, 0),
            1 => (value(&mut rng), 0),
            _ => {
                let new = value(&mut rng);
                let expected = if w.values == 0 {
                    // Expect a recent value, so that some cas succeed.
                    new.saturating_sub(rng.random_range(1..4))
                } else {
                    value(&mut rng)
                };
                (expected, new)
            }
        };
        let key = rng.random_range(0..w.keys.max(1));
        let node = worker % NODES;
        let stray = rng.random_range(0..1000) < w.stray_timeouts_permille;
        let (ret, end, lin) = match (isolated_at(node, call), stray) {
            (Some(heal), _) => {
                // Stuck behind the partition until the client gives up.
                let ret = call + TIMEOUT;
                let lin = match (f, rng.random_range(0..2)) {
                    (0, _) | (_, 0) => None,
                    // Applied once the partition heals (possibly long after the :info).
                    _ => Some(heal.max(call + 1) + rng.random_range(0..20)),
                };
                (ret, if f == 0 { End::Fail } else { End::Info }, lin)
            }
            (None, true) => {
                let ret = call + TIMEOUT;
                let lin = (f != 0 && rng.random_range(0..2) == 0)
                    .then(|| call + rng.random_range(1..TIMEOUT));
                (ret, if f == 0 { End::Fail } else { End::Info }, lin)
            }
            (None, false) => {
                let duration = rng.random_range(2..=30);
                let ret = call + duration;
                (ret, End::Ok, Some(call + rng.random_range(1..duration)))
            }
        };
        ops.push(GenOp {
            process: pid[worker],
            f,
            key,
            arg,
            call,
            ret,
            end,
            read: None,
            lin,
        });
        clock[worker] = ret;
        if end == End::Info {
            pid[worker] += w.processes as u64;
        }
    }
    // Run the registers in linearization order.
    let mut order: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].lin.is_some()).collect();
    order.sort_by_key(|&i| (ops[i].lin, i));
    let mut registers: BTreeMap<usize, u64> = BTreeMap::new();
    for i in order {
        let op = &mut ops[i];
        let value = registers.get(&op.key).copied();
        match op.f {
            0 => op.read = value,
            1 => {
                registers.insert(op.key, op.arg.0);
            }
            _ => {
                let found = value == Some(op.arg.0);
                if found {
                    registers.insert(op.key, op.arg.1);
                }
                if op.end == End::Ok && !found {
                    op.end = End::Fail;
                }
            }
        }
    }
    RegisterHistory {
        ops,
        nemesis,
        keys: w.keys,
    }
}

/// Makes the history not linearizable, on purpose: a completed read about `at` of the way
/// through returns a value that is certainly stale. Needs unique values (`values == 0`): it finds
/// a write W1 that returned before a write W2 was called, W2 returning before the read is called,
/// and makes the read return W1's value (which nothing else writes). Returns the read's index.
pub fn stale_read(history: &mut RegisterHistory, at: f64) -> Option<usize> {
    let ops = &history.ops;
    let start = (ops.len() as f64 * at) as usize;
    let completed_writes: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].f == 1 && ops[i].end == End::Ok)
        .collect();
    for r in start..ops.len() {
        let read = &ops[r];
        if read.f != 0 || read.end != End::Ok {
            continue;
        }
        let found = completed_writes.iter().find_map(|&old| {
            let o = &ops[old];
            let newer = completed_writes.iter().any(|&new| {
                let n = &ops[new];
                n.key == o.key && o.ret < n.call && n.ret < read.call
            });
            (o.key == read.key && newer && read.read != Some(o.arg.0)).then_some(o.arg.0)
        });
        if let Some(value) = found {
            history.ops[r].read = Some(value);
            return Some(r);
        }
    }
    None
}

/// Makes a completed read about `at` of the way through return a value no operation writes.
pub fn impossible_read(history: &mut RegisterHistory, at: f64) -> Option<usize> {
    let start = (history.ops.len() as f64 * at) as usize;
    let r = (start..history.ops.len())
        .find(|&i| history.ops[i].f == 0 && history.ops[i].end == End::Ok)?;
    history.ops[r].read = Some(1_000_000_007);
    Some(r)
}

fn f_name(f: u8) -> &'static str {
    ["read", "write", "cas"][f as usize]
}

fn value_text(op: &GenOp, completion: bool) -> String {
    let nil = |v: Option<u64>| v.map_or("nil".to_owned(), |v| v.to_string());
    match op.f {
        0 if completion && op.end == End::Ok => nil(op.read),
        0 => "nil".to_owned(),
        1 => op.arg.0.to_string(),
        _ => format!("[{} {}]", op.arg.0, op.arg.1),
    }
}

/// One line per event, in time order (a completion before an invoke at the same time), with the
/// nemesis's lines from `nemesis`.
fn events(
    history: &RegisterHistory,
    line: impl Fn(&GenOp, bool) -> String,
    nemesis: impl Fn(u64, bool) -> String,
) -> Vec<String> {
    let mut events: Vec<(u64, u8, usize, String)> = Vec::new();
    for (i, op) in history.ops.iter().enumerate() {
        events.push((op.call, 1, i, line(op, false)));
        events.push((op.ret, 0, i, line(op, true)));
    }
    for &(time, start) in &history.nemesis {
        events.push((time, 2, 0, nemesis(time, start)));
    }
    events.sort_by_key(|e| (e.0, e.1, e.2));
    events.into_iter().map(|e| e.3).collect()
}

fn kind(op: &GenOp, completion: bool) -> &'static str {
    match (completion, op.end) {
        (false, _) => ":invoke",
        (true, End::Ok) => ":ok",
        (true, End::Fail) => ":fail",
        (true, End::Info) => ":info",
    }
}

fn value(op: &GenOp, completion: bool) -> String {
    match (completion, op.end) {
        (true, End::Info) => ":timed-out".to_owned(),
        (true, End::Fail) if op.f == 0 => ":timed-out".to_owned(),
        _ => value_text(op, completion),
    }
}

/// The history as Jepsen's EDN history file: one map per line, with `:time` and `:index`.
pub fn to_edn(history: &RegisterHistory) -> String {
    let keyed = history.keys > 1;
    let lines = events(
        history,
        |op, completion| {
            let key = if keyed {
                format!(", :key {}", op.key)
            } else {
                String::new()
            };
            let time = if completion { op.ret } else { op.call };
            format!(
                "{{:type {}, :f :{}{key}, :value {}, :process {}, :time {}",
                kind(op, completion),
                f_name(op.f),
                value(op, completion),
                op.process,
                time * 1_000_000
            )
        },
        |time, start| {
            let f = if start { ":start" } else { ":stop" };
            format!(
                "{{:type :info, :f {f}, :value nil, :process :nemesis, :time {}",
                time * 1_000_000
            )
        },
    );
    let mut out = String::new();
    for (index, line) in lines.iter().enumerate() {
        let _ = writeln!(out, "{line}, :index {index}}}");
    }
    out
}

/// The history as the log lines Jepsen's etcd tests write (one register only), with some of the
/// rest of a test's log around them.
pub fn to_log(history: &RegisterHistory) -> String {
    let lines = events(
        history,
        |op, completion| {
            format!(
                "INFO  jepsen.util - {}\t{}\t:{}\t{}",
                op.process,
                kind(op, completion),
                f_name(op.f),
                value(op, completion)
            )
        },
        |_, start| {
            let f = if start { ":start" } else { ":stop" };
            format!(
                "INFO  jepsen.util - :nemesis\t:info\t{f}\tnil\n\
                 WARN  jepsen.nemesis - partitioning the cluster"
            )
        },
    );
    let mut out = String::from(
        "INFO  jepsen.core - Running test etcd\nINFO  jepsen.core - Worker 0 starting\n",
    );
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("INFO  jepsen.core - Run complete, writing\n");
    out
}

/// The history as the checker's operations (times as generated; `:fail` reads in `failed`, a
/// `:fail` cas as a cas that found another value).
pub fn to_history(history: &RegisterHistory) -> History {
    let mut out = History::default();
    for op in &history.ops {
        let key = if history.keys > 1 {
            op.key.to_string()
        } else {
            String::new()
        };
        let ret = match op.end {
            End::Info => UNKNOWN_RETURN,
            _ => op.ret,
        };
        let a = op.arg.0.to_string();
        let b = op.arg.1.to_string();
        let read = op.read.map(|v| v.to_string());
        let operation = match op.f {
            0 => Operation::read(op.process, &key, op.call, ret, read.as_deref()),
            1 => Operation::write(op.process, &key, &a, op.call, ret),
            _ => Operation::cas(
                op.process,
                &key,
                Some(&a),
                &b,
                op.call,
                ret,
                op.end != End::Fail,
            ),
        };
        if op.f == 0 && op.end == End::Fail {
            out.failed.push(operation);
        } else {
            out.operations.push(operation);
        }
    }
    out
}

/// How many operations ended `:info`, how many `:fail`, and how many cas.
pub fn counts(history: &RegisterHistory) -> (usize, usize, usize) {
    let info = history.ops.iter().filter(|o| o.end == End::Info).count();
    let fail = history.ops.iter().filter(|o| o.end == End::Fail).count();
    let cas = history.ops.iter().filter(|o| o.f == 2).count();
    (info, fail, cas)
}
