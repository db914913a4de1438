//! Running one lab test over seeds, the way every lab suite does: `LAB_SEED` / `LAB_SEEDS`, one
//! summary line per run, and on failure what went wrong plus the one command that replays it.
//!
//! ```text
//! lab2a initial_election ok   seed=1 virtual=4.1s wall=0.02s peers=3 rpcs=48 bytes=5340 cmds=0 trace=3f9c0a1b
//! lab2b backup FAIL seed=7 virtual=31.0s wall=0.05s trace=0b5e2a41
//!   failure: panicked: expected index 51 to commit within 10s; only 3 servers agree
//!   replay: LAB_SEED=7 cargo test --release --test lab2b -- backup --exact
//! ```
//!
//! Summary lines are written straight to the process's stdout, past the test harness's output
//! capture, so they show in a plain `cargo test` and the `labs` CLI can read them.

use std::fmt;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use crate::sim::{RunConfig, RunError, Sim, run_with_stats};

/// Environment variable: run each selected test once with exactly this seed.
pub const SEED_VAR: &str = "LAB_SEED";
/// Environment variable: run each selected test with this many seeds (default 1).
pub const SEEDS_VAR: &str = "LAB_SEEDS";
/// The first seed of every test: fixed, so CI is stable.
pub const FIRST_SEED: u64 = 1;

/// The seeds to run: `LAB_SEED=s` gives `[s]`; `LAB_SEEDS=n` gives `1..=n`; neither gives `[1]`.
pub fn seeds_from_env() -> Result<Vec<u64>, String> {
    seeds_from(
        std::env::var(SEED_VAR).ok().as_deref(),
        std::env::var(SEEDS_VAR).ok().as_deref(),
    )
}

/// [`seeds_from_env`] on given values (for tests and the CLI).
pub fn seeds_from(seed: Option<&str>, seeds: Option<&str>) -> Result<Vec<u64>, String> {
    if let Some(seed) = seed {
        let seed = seed
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("{SEED_VAR} must be an unsigned integer, got {seed:?}"))?;
        return Ok(vec![seed]);
    }
    let n = match seeds {
        None => 1,
        Some(n) => match n.trim().parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("{SEEDS_VAR} must be a positive integer, got {n:?}")),
        },
    };
    Ok((0..n).map(|i| FIRST_SEED + i).collect())
}

/// The command that replays one test with one seed.
pub fn replay_command(lab: &str, test: &str, seed: u64) -> String {
    format!("LAB_SEED={seed} cargo test --release --test {lab} -- {test} --exact")
}

/// One summary line.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub lab: String,
    pub test: String,
    pub ok: bool,
    pub seed: u64,
    pub virtual_elapsed: Duration,
    pub wall: Duration,
    /// Lab-specific counters (`peers`, `rpcs`, `bytes`, `cmds`, ...), in order.
    pub fields: Vec<(String, String)>,
    pub trace: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {:<4} seed={} virtual={:.1}s wall={:.2}s",
            self.lab,
            self.test,
            if self.ok { "ok" } else { "FAIL" },
            self.seed,
            self.virtual_elapsed.as_secs_f64(),
            self.wall.as_secs_f64(),
        )?;
        for (key, value) in &self.fields {
            write!(f, " {key}={value}")?;
        }
        write!(f, " trace={:08x}", self.trace as u32)
    }
}

impl Summary {
    /// Parse a line written by `Display` (used by the `labs` CLI). `None` if it is not one.
    pub fn parse(line: &str) -> Option<Summary> {
        let mut words = line.split_whitespace();
        let lab = words.next()?;
        if !lab.starts_with("lab") {
            return None;
        }
        let test = words.next()?;
        let ok = match words.next()? {
            "ok" => true,
            "FAIL" => false,
            _ => return None,
        };
        let mut summary = Summary {
            lab: lab.to_string(),
            test: test.to_string(),
            ok,
            seed: 0,
            virtual_elapsed: Duration::ZERO,
            wall: Duration::ZERO,
            fields: Vec::new(),
            trace: 0,
        };
        let secs = |v: &str| v.strip_suffix('s')?.parse::<f64>().ok();
        let mut saw_seed = false;
        for word in words {
            let (key, value) = word.split_once('=')?;
            match key {
                "seed" => {
                    summary.seed = value.parse().ok()?;
                    saw_seed = true;
                }
                "virtual" => summary.virtual_elapsed = Duration::from_secs_f64(secs(value)?),
                "wall" => summary.wall = Duration::from_secs_f64(secs(value)?),
                "trace" => summary.trace = u64::from_str_radix(value, 16).ok()?,
                _ => summary.fields.push((key.to_string(), value.to_string())),
            }
        }
        saw_seed.then_some(summary)
    }
}

/// The limits of one lab test.
#[derive(Clone, Debug)]
pub struct TestSpec {
    /// The suite: `lab2a` ... `lab3b` (also the integration-test target name).
    pub lab: &'static str,
    /// The test function's name.
    pub test: &'static str,
    pub virtual_limit: Duration,
    pub real_time_budget: Duration,
}

impl TestSpec {
    /// The course's limits: 120 s of virtual time; 60 s of real time.
    pub fn new(lab: &'static str, test: &'static str) -> TestSpec {
        TestSpec {
            lab,
            test,
            virtual_limit: Duration::from_secs(120),
            real_time_budget: Duration::from_secs(60),
        }
    }
}

/// The result of one seed.
#[derive(Debug)]
pub struct SeedResult {
    pub summary: Summary,
    pub error: Option<RunError>,
}

/// Run `body` once with `seed` under the spec's limits and print its summary line (and, on failure,
/// the failure and the replay command).
pub fn run_seed<F, Fut>(spec: &TestSpec, seed: u64, body: F) -> SeedResult
where
    F: FnOnce(Sim) -> Fut,
    Fut: Future<Output = Vec<(String, String)>>,
{
    let config = RunConfig::new(seed)
        .virtual_limit(spec.virtual_limit)
        .real_time_budget(spec.real_time_budget)
        .label(format!(
            "{} {} seed={seed} (replay: {})",
            spec.lab,
            spec.test,
            replay_command(spec.lab, spec.test, seed)
        ));
    let (result, stats) = run_with_stats(config, body);
    let (fields, error) = match result {
        Ok(fields) => (fields, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    let summary = Summary {
        lab: spec.lab.to_string(),
        test: spec.test.to_string(),
        ok: error.is_none(),
        seed,
        virtual_elapsed: stats.virtual_elapsed,
        wall: stats.wall,
        fields,
        trace: stats.trace,
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{summary}");
    if let Some(error) = &error {
        let _ = writeln!(out, "  failure: {error}");
        let _ = writeln!(
            out,
            "  replay: {}",
            replay_command(spec.lab, spec.test, seed)
        );
    }
    let _ = out.flush();
    SeedResult { summary, error }
}

/// Run a lab test over the seeds from the environment; panic (failing the test) if any seed fails,
/// naming the failing seeds and the replay command of the first.
pub fn run_test<F, Fut>(spec: TestSpec, body: F)
where
    F: Fn(Sim) -> Fut,
    Fut: Future<Output = Vec<(String, String)>>,
{
    crate::logging::init();
    let seeds = seeds_from_env().unwrap_or_else(|e| panic!("{e}"));
    let mut failed = Vec::new();
    let mut first_error = None;
    for &seed in &seeds {
        let result = run_seed(&spec, seed, &body);
        if let Some(error) = result.error {
            failed.push(seed);
            first_error.get_or_insert(error);
        }
    }
    if let Some(error) = first_error {
        panic!(
            "{} {}: {} of {} seeds failed ({}); first failure: {error}\nreplay: {}",
            spec.lab,
            spec.test,
            failed.len(),
            seeds.len(),
            failed
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            replay_command(spec.lab, spec.test, failed[0])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_follow_the_conventions() {
        assert_eq!(seeds_from(None, None), Ok(vec![1]));
        assert_eq!(seeds_from(None, Some("3")), Ok(vec![1, 2, 3]));
        assert_eq!(seeds_from(Some("1234"), Some("3")), Ok(vec![1234]));
        assert!(
            seeds_from(None, Some("0"))
                .unwrap_err()
                .contains("LAB_SEEDS")
        );
        assert!(
            seeds_from(Some("x"), None)
                .unwrap_err()
                .contains("LAB_SEED")
        );
    }

    #[test]
    fn summary_line_round_trips() {
        let summary = Summary {
            lab: "lab2a".into(),
            test: "initial_election".into(),
            ok: true,
            seed: 1,
            virtual_elapsed: Duration::from_millis(4100),
            wall: Duration::from_millis(20),
            fields: vec![("peers".into(), "3".into()), ("rpcs".into(), "48".into())],
            trace: 0x3f9c_0a1b,
        };
        let line = summary.to_string();
        assert_eq!(
            line,
            "lab2a initial_election ok   seed=1 virtual=4.1s wall=0.02s peers=3 rpcs=48 trace=3f9c0a1b"
        );
        assert_eq!(Summary::parse(&line), Some(summary));
        assert_eq!(Summary::parse("test foo ... ok"), None);
    }

    #[test]
    fn replay_command_is_the_documented_one() {
        assert_eq!(
            replay_command("lab2b", "backup", 1234),
            "LAB_SEED=1234 cargo test --release --test lab2b -- backup --exact"
        );
    }
}
