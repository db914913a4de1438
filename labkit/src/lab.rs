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
//! capture, so they show in a plain `cargo test`. They are for people: the code under test runs in
//! the same process and can print anything. Tools (`labs run`, the grader) read results from the
//! **report channel** instead (see [`REPORT_VAR`]): a file the harness alone writes, one
//! [`RunRecord`] per finished run, each carrying a key that only the harness and the tool know.

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sim::{RunConfig, RunError, Sim, run_recorded};

/// Environment variable: run each selected test once with exactly this seed.
pub const SEED_VAR: &str = "LAB_SEED";
/// Environment variable: run each selected test with this many seeds (default 1).
pub const SEEDS_VAR: &str = "LAB_SEEDS";
/// The first seed of every test: fixed, so CI is stable.
pub const FIRST_SEED: u64 = 1;
/// The most seeds one `LAB_SEEDS` may ask for (a million runs of a test is hours already).
pub const MAX_SEEDS: u64 = 1_000_000;

/// Environment variable: the file to which the harness appends one [`RunRecord`] (a JSON line) per
/// finished run. `labs run` and the grader set it and read their verdicts from it, never from the
/// test's output.
pub const REPORT_VAR: &str = "LAB_REPORT";
/// Environment variable: a file holding the key that authenticates the records. The harness reads
/// it and deletes it before any code under test runs, and puts the key in every record, so a record
/// that the code under test writes itself cannot pass for the harness's.
pub const REPORT_KEY_VAR: &str = "LAB_REPORT_KEY";

/// The seeds to run: `LAB_SEED=s` gives `s..=s`; `LAB_SEEDS=n` gives `1..=n`; neither gives `1..=1`.
pub fn seeds_from_env() -> Result<RangeInclusive<u64>, String> {
    let var = |name| match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(format!("{name} is not text: {v:?}")),
    };
    seeds_from(var(SEED_VAR)?.as_deref(), var(SEEDS_VAR)?.as_deref())
}

/// [`seeds_from_env`] on given values (for tests and the CLI).
pub fn seeds_from(seed: Option<&str>, seeds: Option<&str>) -> Result<RangeInclusive<u64>, String> {
    if let Some(seed) = seed {
        let seed = seed.trim().parse::<u64>().map_err(|_| {
            format!(
                "{SEED_VAR} must be a whole number from 0 to {}, got {seed:?}",
                u64::MAX
            )
        })?;
        return Ok(seed..=seed);
    }
    let n = match seeds {
        None => 1,
        Some(n) => match n.trim().parse::<u64>() {
            Ok(n) if (1..=MAX_SEEDS).contains(&n) => n,
            _ => {
                return Err(format!(
                    "{SEEDS_VAR} must be a whole number from 1 to {MAX_SEEDS}, got {n:?}"
                ));
            }
        },
    };
    Ok(FIRST_SEED..=FIRST_SEED + (n - 1))
}

/// What the harness reports about one finished run on the report channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The key read from [`REPORT_KEY_VAR`] (empty when none was given).
    pub key: String,
    pub lab: String,
    pub test: String,
    pub seed: u64,
    pub ok: bool,
    /// What went wrong, for a failed run.
    pub failure: Option<String>,
    /// The summary line, as printed.
    pub summary: String,
}

impl RunRecord {
    /// The summary line, parsed.
    pub fn parsed_summary(&self) -> Option<Summary> {
        Summary::parse(&self.summary)
    }
}

/// The lines of a report file that are records carrying `key`, and how many other lines there were
/// (a line the harness did not write: damage, or a forgery).
pub fn read_records(text: &str, key: &str) -> (Vec<RunRecord>, usize) {
    let mut records = Vec::new();
    let mut foreign = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<RunRecord>(line) {
            Ok(record) if record.key == key => records.push(record),
            _ => foreign += 1,
        }
    }
    (records, foreign)
}

/// The harness's end of the report channel: opened, and its key read and deleted, before the first
/// run of the process starts.
struct Reporter {
    file: std::fs::File,
    key: String,
}

static REPORTER: OnceLock<Result<Option<Mutex<Reporter>>, String>> = OnceLock::new();

fn reporter() -> &'static Result<Option<Mutex<Reporter>>, String> {
    REPORTER.get_or_init(|| {
        let Some(path) = std::env::var_os(REPORT_VAR) else {
            return Ok(None);
        };
        let key = match std::env::var_os(REPORT_KEY_VAR) {
            None => String::new(),
            Some(key_file) => {
                let key_file = Path::new(&key_file);
                let key = std::fs::read_to_string(key_file)
                    .map_err(|e| format!("{REPORT_KEY_VAR}={}: {e}", key_file.display()))?;
                std::fs::remove_file(key_file)
                    .map_err(|e| format!("{REPORT_KEY_VAR}={}: {e}", key_file.display()))?;
                key.trim().to_string()
            }
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{REPORT_VAR}={}: {e}", Path::new(&path).display()))?;
        Ok(Some(Mutex::new(Reporter { file, key })))
    })
}

/// Open the report channel now, if [`REPORT_VAR`] is set: read and delete the key file. A tool
/// that runs code under test in its own process (the model checker's `--preset`) calls this
/// before any of that code runs.
pub fn open_report_channel() -> Result<(), String> {
    reporter().as_ref().map(|_| ()).map_err(Clone::clone)
}

/// Append `record` (its key filled in with the channel's) to the report channel, if there is one.
pub fn report_record(record: RunRecord) {
    report(record);
}

/// Apply [`MEMORY_LIMIT_VAR`], if set, to this process (once).
pub fn apply_memory_limit_from_env() -> Result<(), String> {
    apply_memory_limit().clone()
}

/// Append `record` (its key filled in) to the report channel, if there is one. Each record is one
/// write of one line, so records of tests running in parallel never interleave.
fn report(mut record: RunRecord) {
    let Ok(Some(reporter)) = reporter() else {
        return;
    };
    let mut reporter = reporter.lock().unwrap_or_else(|e| e.into_inner());
    record.key = reporter.key.clone();
    let mut line = serde_json::to_string(&record).expect("a record serializes");
    line.push('\n');
    if let Err(e) = reporter.file.write_all(line.as_bytes()) {
        let _ = writeln!(
            std::io::stderr(),
            "labs: could not write the run's record to {REPORT_VAR}: {e}"
        );
    }
}

/// A setting the whole test process depends on is wrong: say so once and end the process (every
/// test would fail the same way; one clear message beats one panic per test).
fn exit_on_bad_setting(message: &str) -> ! {
    static ONCE: Mutex<()> = Mutex::new(());
    let _guard = ONCE.lock();
    // Straight to the process's stderr: the test harness captures `eprintln!` per test, and that
    // capture is lost when the process exits.
    let _ = writeln!(std::io::stderr(), "\nerror: {message}\n");
    std::process::exit(2)
}

/// The command that replays one test with one seed.
pub fn replay_command(lab: &str, test: &str, seed: u64) -> String {
    format!("LAB_SEED={seed} cargo test --release --test {lab} -- {test} --exact")
}

/// `LAB_2E=1`: the earlier Raft suites (2A-2D) boot their servers with lab 2E's PreVote and
/// CheckQuorum on (the harness reads it; `lab2e` has them on anyway).
pub const WITH_2E_VAR: &str = "LAB_2E";

/// Settings that change what a run does, not only what it shows: a replay line repeats each one
/// that is set, or it would replay a different run.
pub const RUN_SETTINGS: &[&str] = &[WITH_2E_VAR];

/// The [`RUN_SETTINGS`] that `lookup` (the environment, in a test process) has set to a non-empty
/// value, with those values, in [`RUN_SETTINGS`]'s order.
pub fn run_settings(lookup: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    RUN_SETTINGS
        .iter()
        .filter_map(|name| Some((*name, lookup(name).filter(|v| !v.is_empty())?)))
        .collect()
}

/// [`replay_command`] preceded by `settings` (`NAME=value`, quoted for a POSIX shell if needed).
pub fn replay_command_with(
    lab: &str,
    test: &str,
    seed: u64,
    settings: &[(&str, String)],
) -> String {
    let mut line = String::new();
    for (name, value) in settings {
        let plain = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/:,".contains(c));
        if plain {
            line.push_str(&format!("{name}={value} "));
        } else {
            line.push_str(&format!("{name}='{}' ", value.replace('\'', "'\\''")));
        }
    }
    line + &replay_command(lab, test, seed)
}

/// The replay command of a run in this process: [`replay_command`] with the run settings this
/// process's environment has set (a run of 2A with `LAB_2E=1` replays with `LAB_2E=1`).
pub fn replay_command_here(lab: &str, test: &str, seed: u64) -> String {
    replay_command_with(
        lab,
        test,
        seed,
        &run_settings(|name| std::env::var(name).ok()),
    )
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
    /// The timeline page written for this run (a failed run, or any with `LAB_VIZ=1`).
    pub picture: Option<std::path::PathBuf>,
    /// The run's ShiViz log, written beside its page with `LAB_VIZ=shiviz`.
    pub shiviz: Option<std::path::PathBuf>,
}

/// Run `body` once with `seed` under the spec's limits and print its summary line (and, on failure,
/// the failure and the replay command, and the picture of the run: `body` runs a second time, with
/// the recorder on, to draw it; see [`crate::timeline::picture_of_run`]).
pub fn run_seed<F, Fut>(spec: &TestSpec, seed: u64, body: F) -> SeedResult
where
    F: Fn(Sim) -> Fut,
    Fut: Future<Output = Vec<(String, String)>>,
{
    let config = RunConfig::new(seed)
        .virtual_limit(spec.virtual_limit)
        .real_time_budget(spec.real_time_budget)
        .label(format!(
            "{} {} seed={seed} (replay: {})",
            spec.lab,
            spec.test,
            replay_command_here(spec.lab, spec.test, seed)
        ))
        .record(crate::timeline::record_every_run());
    let (result, stats, recording) = run_recorded(config.clone(), &body);
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
    // The verdict is reported before the picture is drawn (which may run the seed again), so a
    // tool that stops the process meanwhile still has it.
    let mut result = print_and_report(spec, seed, summary, error);
    let rerun = || {
        let (_, stats, recording) = run_recorded(config.record(true), &body);
        (recording, stats.trace)
    };
    let picture = crate::timeline::picture_of_run(
        spec,
        &result.summary,
        result.error.as_ref(),
        recording,
        rerun,
    );
    let mut out = std::io::stdout().lock();
    match &picture {
        Some(Ok(drawn)) => {
            let _ = writeln!(out, "  picture: {}", drawn.page.display());
            let steps = crate::steps::steps_path(&drawn.page);
            let _ = writeln!(out, "  steps: {}", steps.display());
            match &drawn.shiviz {
                Some(Ok(path)) => drop(writeln!(out, "  shiviz: {}", path.display())),
                Some(Err(e)) => drop(writeln!(out, "  shiviz: not written: {e}")),
                None => {}
            }
        }
        Some(Err(e)) => drop(writeln!(out, "  picture: not written: {e}")),
        None => {}
    }
    let _ = out.flush();
    if let Some(Ok(drawn)) = picture {
        result.shiviz = drawn.shiviz.and_then(Result::ok);
        result.picture = Some(drawn.page);
    }
    result
}

/// Print a finished run's summary line (and failure and replay command) and report it on the
/// report channel.
fn print_and_report(
    spec: &TestSpec,
    seed: u64,
    summary: Summary,
    error: Option<RunError>,
) -> SeedResult {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{summary}");
    if let Some(error) = &error {
        let _ = writeln!(out, "  failure: {error}");
        let _ = writeln!(
            out,
            "  replay: {}",
            replay_command_here(spec.lab, spec.test, seed)
        );
    }
    let _ = out.flush();
    drop(out);
    report(RunRecord {
        key: String::new(),
        lab: spec.lab.to_string(),
        test: spec.test.to_string(),
        seed,
        ok: error.is_none(),
        failure: error.as_ref().map(ToString::to_string),
        summary: summary.to_string(),
    });
    SeedResult {
        summary,
        error,
        picture: None,
        shiviz: None,
    }
}

/// Environment variable: cap the test process's memory (its address space, `RLIMIT_AS`, soft and
/// hard limit) at this many MiB. The harness sets the limit once, before any code under test runs;
/// the grader sets the variable for every run. A run over the limit fails to allocate and aborts.
pub const MEMORY_LIMIT_VAR: &str = "LAB_MEMORY_LIMIT_MIB";

/// Apply [`MEMORY_LIMIT_VAR`], if set (once per process).
fn apply_memory_limit() -> &'static Result<(), String> {
    static APPLIED: OnceLock<Result<(), String>> = OnceLock::new();
    APPLIED.get_or_init(|| {
        let Some(value) = std::env::var_os(MEMORY_LIMIT_VAR) else {
            return Ok(());
        };
        let mib = value
            .to_str()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&mib| mib > 0)
            .ok_or_else(|| {
                format!("{MEMORY_LIMIT_VAR} must be a whole number of MiB above 0, got {value:?}")
            })?;
        set_memory_limit(mib.saturating_mul(1 << 20))
            .map_err(|e| format!("{MEMORY_LIMIT_VAR}={mib}: could not set the limit: {e}"))
    })
}

#[cfg(unix)]
fn set_memory_limit(bytes: u64) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Never above the hard limit already in force (raising it needs privileges).
    let bytes = getrlimit(Resource::As)
        .maximum
        .map_or(bytes, |hard| hard.min(bytes));
    setrlimit(
        Resource::As,
        Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn set_memory_limit(_bytes: u64) -> Result<(), String> {
    Err("memory limits need a Unix system".to_string())
}

/// The static check of this workspace's student files (once per process).
fn student_code_findings() -> &'static Result<Vec<crate::student_code::Finding>, String> {
    static FINDINGS: OnceLock<Result<Vec<crate::student_code::Finding>, String>> = OnceLock::new();
    FINDINGS.get_or_init(|| crate::student_code::check_this_workspace().map_err(|e| e.to_string()))
}

/// Run a lab test over the seeds from the environment; panic (failing the test) if any seed fails,
/// naming the failing seeds and the replay command of the first.
pub fn run_test<F, Fut>(spec: TestSpec, body: F)
where
    F: Fn(Sim) -> Fut,
    Fut: Future<Output = Vec<(String, String)>>,
{
    crate::logging::init();
    // Before any code under test runs: the report channel's key must be read (and deleted) now.
    if let Err(e) = reporter() {
        exit_on_bad_setting(&format!("the report channel cannot be used: {e}"));
    }
    if let Err(e) = apply_memory_limit() {
        exit_on_bad_setting(e);
    }
    let seeds = seeds_from_env().unwrap_or_else(|e| exit_on_bad_setting(&e));
    // The student files are checked before any of their code runs; each run fails with the
    // findings (file:line:column) if the check refuses them.
    let findings = match student_code_findings() {
        Ok(findings) => findings,
        Err(e) => exit_on_bad_setting(&format!("the student files cannot be checked: {e}")),
    };
    if !findings.is_empty() {
        let text = crate::student_code::render_findings(findings);
        for seed in seeds {
            let summary = Summary {
                lab: spec.lab.to_string(),
                test: spec.test.to_string(),
                ok: false,
                seed,
                virtual_elapsed: Duration::ZERO,
                wall: Duration::ZERO,
                fields: Vec::new(),
                trace: 0,
            };
            print_and_report(
                &spec,
                seed,
                summary,
                Some(RunError::StudentCode(text.clone())),
            );
        }
        panic!("{} {}: {text}", spec.lab, spec.test);
    }
    let runs = seeds.clone().count();
    let mut failed = Vec::new();
    let mut first_error = None;
    for seed in seeds {
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
            runs,
            failed
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            replay_command_here(spec.lab, spec.test, failed[0])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_follow_the_conventions() {
        assert_eq!(seeds_from(None, None), Ok(1..=1));
        assert_eq!(seeds_from(None, Some("3")), Ok(1..=3));
        assert_eq!(seeds_from(Some("1234"), Some("3")), Ok(1234..=1234));
        assert_eq!(seeds_from(None, Some("1000000")), Ok(1..=1_000_000));
        for bad in ["0", "-1", "abc", "", "1000001", "100000000000"] {
            let e = seeds_from(None, Some(bad)).unwrap_err();
            assert!(e.contains("LAB_SEEDS") && e.contains("1000000"), "{e}");
        }
        for bad in ["x", "-3", "18446744073709551616"] {
            let e = seeds_from(Some(bad), None).unwrap_err();
            assert!(e.starts_with("LAB_SEED must"), "{e}");
        }
    }

    #[test]
    fn records_need_the_key() {
        let record = RunRecord {
            key: "k1".into(),
            lab: "lab2a".into(),
            test: "initial_election".into(),
            seed: 1,
            ok: true,
            failure: None,
            summary: "lab2a initial_election ok   seed=1 virtual=3.0s wall=0.00s trace=398748b6"
                .into(),
        };
        let forged = RunRecord {
            key: "guess".into(),
            ..record.clone()
        };
        let text = format!(
            "{}\nlab2a initial_election ok seed=1\n{}\n",
            serde_json::to_string(&record).unwrap(),
            serde_json::to_string(&forged).unwrap()
        );
        let (records, foreign) = read_records(&text, "k1");
        assert_eq!(records, vec![record.clone()]);
        assert_eq!(foreign, 2);
        assert_eq!(
            records[0].parsed_summary().map(|s| s.test),
            Some("initial_election".to_string())
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

    /// A run with a setting that changes it (`LAB_2E=1` in the 2A-2D suites) replays with that
    /// setting: without it the replay would run the other Raft.
    #[test]
    fn replay_line_repeats_the_run_settings_that_are_set() {
        let env = |on: bool| move |name: &str| (on && name == "LAB_2E").then(|| "1".to_string());
        let settings = run_settings(env(true));
        assert_eq!(settings, vec![("LAB_2E", "1".to_string())]);
        assert_eq!(
            replay_command_with("lab2a", "re_election", 3, &settings),
            "LAB_2E=1 LAB_SEED=3 cargo test --release --test lab2a -- re_election --exact"
        );
        assert_eq!(run_settings(env(false)), Vec::new());
        assert_eq!(run_settings(|_| Some(String::new())), Vec::new());
        assert_eq!(
            replay_command_with("lab2a", "re_election", 3, &run_settings(env(false))),
            replay_command("lab2a", "re_election", 3)
        );
        assert_eq!(
            replay_command_with("lab2a", "t", 1, &[("LAB_2E", "a b'c".to_string())]),
            "LAB_2E='a b'\\''c' LAB_SEED=1 cargo test --release --test lab2a -- t --exact"
        );
        assert!(RUN_SETTINGS.contains(&WITH_2E_VAR));
    }

    #[test]
    fn replay_command_is_the_documented_one() {
        assert_eq!(
            replay_command("lab2b", "backup", 1234),
            "LAB_SEED=1234 cargo test --release --test lab2b -- backup --exact"
        );
    }
}
