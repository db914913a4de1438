//! Running whole lab suites as a user would (`cargo test --release --test labXY`), over many seeds,
//! with a progress display and a summary table. Used by `labs run`.
//!
//! The suites are compiled once with cargo; each test binary then runs with `LAB_SEEDS`, and the
//! harness's records of finished runs (its report channel, see [`crate::lab::REPORT_VAR`]) are read
//! as they appear. Every (test, seed) run is accounted for by name: one that never reports (the
//! binary crashed, or was stopped for making no progress) counts as failed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use wait_timeout::ChildExt;

use crate::lab::{
    REPORT_KEY_VAR, REPORT_VAR, RunRecord, SEED_VAR, SEEDS_VAR, Summary, read_records,
    replay_command,
};

/// The lab suites in the order students meet them (from [`crate::registry`]).
pub fn all_suites() -> Vec<&'static str> {
    crate::registry::suites()
}

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("could not run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed:\n{output}")]
    Command { command: String, output: String },
    #[error("unknown lab {0:?}: expected one of {ids} (or lab2a, ...) or all", ids = known_ids())]
    UnknownLab(String),
}

fn known_ids() -> String {
    crate::registry::LABS
        .iter()
        .map(|lab| lab.id)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Normalise `2A`, `lab2a`, `all` into suite names.
pub fn select_labs(wanted: &[String]) -> Result<Vec<&'static str>, SuiteError> {
    if wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case("all")) {
        return Ok(all_suites());
    }
    let mut labs = Vec::new();
    for w in wanted {
        let lab = crate::registry::find(w)
            .ok_or_else(|| SuiteError::UnknownLab(w.to_ascii_lowercase()))?
            .suite;
        if !labs.contains(&lab) {
            labs.push(lab);
        }
    }
    Ok(labs)
}

/// The workspace root: the directory of the top-level `Cargo.toml`.
pub fn workspace_root() -> Result<PathBuf, SuiteError> {
    let out = run_command(Command::new("cargo").args([
        "locate-project",
        "--workspace",
        "--message-format",
        "plain",
    ]))?;
    let manifest = PathBuf::from(out.trim());
    Ok(manifest.parent().map(Path::to_path_buf).unwrap_or_default())
}

fn run_command(command: &mut Command) -> Result<String, SuiteError> {
    let text = format!("{command:?}");
    let out = command.output().map_err(|source| SuiteError::Spawn {
        command: text.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(SuiteError::Command {
            command: text,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Which of `labs` exist as `tests/<lab>.rs` under `root`.
pub fn existing_suites(root: &Path, labs: &[&'static str]) -> Vec<&'static str> {
    labs.iter()
        .copied()
        .filter(|lab| root.join("tests").join(format!("{lab}.rs")).is_file())
        .collect()
}

/// Build the suites in release mode and return each one's test executable.
pub fn build_suites(
    root: &Path,
    labs: &[&'static str],
) -> Result<Vec<(&'static str, PathBuf)>, SuiteError> {
    build_suites_with(root, labs, None)
}

/// [`build_suites`] with a given target directory.
pub fn build_suites_with(
    root: &Path,
    labs: &[&'static str],
    target_dir: Option<&Path>,
) -> Result<Vec<(&'static str, PathBuf)>, SuiteError> {
    let mut command = Command::new("cargo");
    command
        .current_dir(root)
        .args(["test", "--release", "--no-run", "--message-format=json"]);
    if let Some(dir) = target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    for lab in labs {
        command.args(["--test", lab]);
    }
    let out = run_command(&mut command)?;
    let mut executables = BTreeMap::new();
    for line in out.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        if let (Some(lab), Some(exe)) = (
            labs.iter().find(|l| **l == name),
            message["executable"].as_str(),
        ) {
            executables.insert(*lab, PathBuf::from(exe));
        }
    }
    Ok(labs
        .iter()
        .filter_map(|lab| executables.remove(lab).map(|exe| (*lab, exe)))
        .collect())
}

/// The test names in a suite's executable.
pub fn list_tests(exe: &Path) -> Result<Vec<String>, SuiteError> {
    let out = run_command(Command::new(exe).args(["--list", "--format", "terse"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

/// One test's results over all seeds.
#[derive(Debug, Default, Clone)]
pub struct TestResults {
    pub runs: Vec<Summary>,
    /// Failure messages by seed.
    pub failures: BTreeMap<u64, String>,
    /// Seeds that never reported a result (the binary was stopped or ended first), with why.
    pub unfinished: BTreeMap<u64, String>,
}

/// One suite's results.
#[derive(Debug, Default, Clone)]
pub struct SuiteResults {
    pub lab: String,
    pub tests: BTreeMap<String, TestResults>,
    pub wall: Duration,
    /// Set when the executable ended badly (or was stopped): what happened, and the end of what it
    /// wrote to stderr.
    pub crashed: Option<String>,
}

impl SuiteResults {
    pub fn passed(&self) -> usize {
        self.tests
            .values()
            .flat_map(|t| &t.runs)
            .filter(|s| s.ok)
            .count()
    }
    /// Failed runs, counting every run that never finished.
    pub fn failed(&self) -> usize {
        self.tests
            .values()
            .map(|t| t.runs.iter().filter(|s| !s.ok).count() + t.unfinished.len())
            .sum()
    }
    pub fn virtual_total(&self) -> Duration {
        self.tests
            .values()
            .flat_map(|t| &t.runs)
            .map(|s| s.virtual_elapsed)
            .sum()
    }
    pub fn ok(&self) -> bool {
        self.crashed.is_none() && self.failed() == 0
    }
}

/// How `labs run` runs one suite's executable.
#[derive(Clone, Debug)]
pub struct SuiteRun {
    /// Seeds `1..=seeds` for every test.
    pub seeds: u64,
    /// Tests run in parallel (libtest's `--test-threads`).
    pub jobs: usize,
    /// Stop the executable when no run has finished for this long.
    pub time_limit: Duration,
}

/// Keep at most this much of a suite's stderr (its end) for the summary.
const STDERR_TAIL_BYTES: usize = 3000;

/// Run one suite's executable: every test in `tests` with seeds `1..=seeds`, advancing `progress`
/// by one per finished run. Results come from the harness's report channel (see
/// [`crate::lab::REPORT_VAR`]), never from the output, so interleaved output cannot lose a run;
/// every expected (test, seed) run that did not report is counted as failed, by name.
pub fn run_suite(
    lab: &str,
    exe: &Path,
    tests: &[String],
    settings: &SuiteRun,
    progress: &ProgressBar,
) -> Result<SuiteResults, SuiteError> {
    let started = Instant::now();
    let spawn_error = |source| SuiteError::Spawn {
        command: exe.display().to_string(),
        source,
    };
    let dir = ScratchDir::new(lab).map_err(spawn_error)?;
    let report_path = dir.path.join("report.jsonl");
    let key_path = dir.path.join("key");
    let stderr_path = dir.path.join("stderr");
    let key = format!("{:032x}", rand::random::<u128>());
    std::fs::write(&key_path, &key).map_err(spawn_error)?;
    std::fs::write(&report_path, "").map_err(spawn_error)?;
    let mut child = Command::new(exe)
        .args(["--test-threads", &settings.jobs.max(1).to_string()])
        .env(SEEDS_VAR, settings.seeds.to_string())
        .env_remove(SEED_VAR)
        .env(REPORT_VAR, &report_path)
        .env(REPORT_KEY_VAR, &key_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).map_err(spawn_error)?)
        .spawn()
        .map_err(spawn_error)?;
    let mut results = SuiteResults {
        lab: lab.to_string(),
        ..SuiteResults::default()
    };
    let mut reader = RecordReader::new(&report_path, &key);
    let mut last_progress = Instant::now();
    let mut stopped = false;
    let status = loop {
        // Wait for the binary a little (returning as soon as it exits), then read new records.
        let finished = child
            .wait_timeout(Duration::from_millis(20))
            .map_err(spawn_error)?;
        let new = reader.read_new();
        if !new.is_empty() {
            last_progress = Instant::now();
        }
        for record in new {
            progress.inc(1);
            progress.set_message(format!(
                "{} {} seed={}",
                record.lab, record.test, record.seed
            ));
            add_record(&mut results, record);
        }
        if let Some(status) = finished {
            // Records written just before the exit.
            for record in reader.read_new() {
                progress.inc(1);
                add_record(&mut results, record);
            }
            break Some(status);
        }
        if last_progress.elapsed() >= settings.time_limit {
            let _ = child.kill();
            let _ = child.wait();
            for record in reader.read_new() {
                progress.inc(1);
                add_record(&mut results, record);
            }
            stopped = true;
            break None;
        }
    };
    results.wall = started.elapsed();
    let stderr = tail(&std::fs::read_to_string(&stderr_path).unwrap_or_default());
    let why_unfinished = match status {
        None => format!(
            "did not finish: no run of the suite finished for {}, so it was stopped (raise the \
             limit with --time-limit SECS)",
            seconds(settings.time_limit)
        ),
        Some(status) => format!("did not finish: the test binary ended first ({status})"),
    };
    let mut unfinished = 0;
    for test in tests {
        let entry = results.tests.entry(test.clone()).or_default();
        for seed in 1..=settings.seeds {
            if !entry.runs.iter().any(|r| r.seed == seed) {
                entry.unfinished.insert(seed, why_unfinished.clone());
                unfinished += 1;
            }
        }
    }
    if reader.foreign > 0 {
        results.crashed = Some(format!(
            "{} line(s) of the report channel were not the harness's records",
            reader.foreign
        ));
    } else if stopped {
        results.crashed = Some(format!(
            "stopped after {} without a finished run; {unfinished} run(s) did not finish{}",
            seconds(settings.time_limit),
            stderr_note(&stderr)
        ));
    } else if let Some(status) = status.filter(|s| !s.success())
        && (unfinished > 0 || results.failed() == 0)
    {
        results.crashed = Some(format!(
            "test binary exited with {status}{}{}",
            if unfinished > 0 {
                format!("; {unfinished} run(s) did not finish")
            } else {
                " and no failing run".to_string()
            },
            stderr_note(&stderr)
        ));
    }
    Ok(results)
}

/// `120s`, or `0.5s` for a limit that is not whole seconds.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

fn stderr_note(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n{stderr}")
    }
}

fn add_record(results: &mut SuiteResults, record: RunRecord) {
    let Some(summary) = record.parsed_summary() else {
        return;
    };
    let entry = results.tests.entry(record.test.clone()).or_default();
    if let Some(failure) = record.failure {
        entry.failures.insert(record.seed, failure);
    }
    entry.runs.push(summary);
}

/// Reads the records appended to a report file since the last call (whole lines only).
struct RecordReader<'a> {
    path: &'a Path,
    key: &'a str,
    offset: usize,
    foreign: usize,
}

impl<'a> RecordReader<'a> {
    fn new(path: &'a Path, key: &'a str) -> Self {
        RecordReader {
            path,
            key,
            offset: 0,
            foreign: 0,
        }
    }

    fn read_new(&mut self) -> Vec<RunRecord> {
        let Ok(bytes) = std::fs::read(self.path) else {
            return Vec::new();
        };
        let Some(end) = bytes[self.offset.min(bytes.len())..]
            .iter()
            .rposition(|&b| b == b'\n')
            .map(|i| self.offset + i + 1)
        else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&bytes[self.offset..end]);
        self.offset = end;
        let (records, foreign) = read_records(&text, self.key);
        self.foreign += foreign;
        records
    }
}

/// A private temporary folder, removed when dropped.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new(label: &str) -> std::io::Result<ScratchDir> {
        let path = std::env::temp_dir().join(format!(
            "raftlab-run-{}-{label}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The end of `text`, at most [`STDERR_TAIL_BYTES`] bytes, cut at a line start.
pub fn tail(text: &str) -> String {
    let text = text.trim_end();
    if text.len() <= STDERR_TAIL_BYTES {
        return text.to_string();
    }
    let mut start = text.len() - STDERR_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = text[start..].find('\n').map_or(start, |i| start + i + 1);
    format!("...\n{}", &text[cut..])
}

/// A progress bar for `total` runs (hidden when stderr is not a terminal).
pub fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed:>4} [{bar:40}] {pos}/{len} runs  {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// The summary table, and below it every failing seed with its replay command.
pub fn render_table(suites: &[SuiteResults]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "{:<7} {:>5} {:>6} {:>6} {:>6} {:>10} {:>8}\n",
        "suite", "tests", "runs", "passed", "failed", "virtual", "wall"
    ));
    for s in suites {
        out.push_str(&format!(
            "{:<7} {:>5} {:>6} {:>6} {:>6} {:>9.1}s {:>7.2}s{}\n",
            s.lab,
            s.tests.len(),
            s.passed() + s.failed(),
            s.passed(),
            s.failed(),
            s.virtual_total().as_secs_f64(),
            s.wall.as_secs_f64(),
            if s.crashed.is_some() {
                "  (see below)"
            } else {
                ""
            },
        ));
    }
    let (tests, passed, failed, virt, wall) = suites.iter().fold(
        (0, 0, 0, Duration::ZERO, Duration::ZERO),
        |(t, p, f, v, w), s| {
            (
                t + s.tests.len(),
                p + s.passed(),
                f + s.failed(),
                v + s.virtual_total(),
                w + s.wall,
            )
        },
    );
    out.push_str(&format!(
        "{:<7} {:>5} {:>6} {:>6} {:>6} {:>9.1}s {:>7.2}s\n",
        "total",
        tests,
        passed + failed,
        passed,
        failed,
        virt.as_secs_f64(),
        wall.as_secs_f64()
    ));
    for s in suites {
        if let Some(crashed) = &s.crashed {
            out.push_str(&format!("\n{}: {crashed}\n", s.lab));
        }
        for (test, results) in &s.tests {
            for (seed, why) in &results.unfinished {
                out.push_str(&format!(
                    "\nFAIL {} {} seed={seed}: {why}\n  replay: {}\n",
                    s.lab,
                    test,
                    replay_command(&s.lab, test, *seed)
                ));
            }
            for run in results.runs.iter().filter(|r| !r.ok) {
                out.push_str(&format!(
                    "\nFAIL {} {} seed={}: {}\n  replay: {}\n",
                    s.lab,
                    test,
                    run.seed,
                    results
                        .failures
                        .get(&run.seed)
                        .map(String::as_str)
                        .unwrap_or("(no message)"),
                    replay_command(&s.lab, test, run.seed)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_are_normalised() {
        assert_eq!(select_labs(&[]).unwrap(), all_suites());
        assert_eq!(
            select_labs(&["2A".into(), "lab2b".into(), "2a".into()]).unwrap(),
            vec!["lab2a", "lab2b"]
        );
        assert!(matches!(
            select_labs(&["4z".into()]),
            Err(SuiteError::UnknownLab(l)) if l == "4z"
        ));
    }

    /// A stand-in for a suite's test executable: a shell script that reports runs on the report
    /// channel as the harness does (`record TEST SEED ok|FAIL`), prints whatever else it likes,
    /// and may hang or crash.
    #[cfg(unix)]
    fn fake_suite(name: &str, body: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "raftlab-suites-{}-{name}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("suite.sh");
        let script = format!(
            r#"#!/bin/sh
key=$(cat "$LAB_REPORT_KEY"); rm -f "$LAB_REPORT_KEY"
record() {{
  ok=true; failure=null; word=ok
  if [ "$3" = FAIL ]; then ok=false; failure='"boom"'; word=FAIL; fi
  printf '{{"key":"%s","lab":"lab2x","test":"%s","seed":%s,"ok":%s,"failure":%s,"summary":"lab2x %s %s seed=%s virtual=1.0s wall=0.00s trace=00000001"}}\n' \
    "$key" "$1" "$2" "$ok" "$failure" "$1" "$word" "$2" >> "$LAB_REPORT"
}}
{body}
"#
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, exe)
    }

    #[cfg(unix)]
    fn run_fake(body: &str, tests: &[&str], seeds: u64) -> SuiteResults {
        let (dir, exe) = fake_suite("run", body);
        let tests: Vec<String> = tests.iter().map(|t| t.to_string()).collect();
        let settings = SuiteRun {
            seeds,
            jobs: 1,
            time_limit: Duration::from_millis(500),
        };
        let results = run_suite("lab2x", &exe, &tests, &settings, &ProgressBar::hidden()).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        results
    }

    #[cfg(unix)]
    #[test]
    fn a_stopped_suite_names_every_run_that_did_not_finish() {
        // Two of three tests report; then the binary hangs and is stopped.
        let results = run_fake(
            "record a 1 ok; record b 1 ok; record a 2 ok; exec sleep 600",
            &["a", "b", "c"],
            2,
        );
        assert_eq!(results.passed(), 3);
        assert_eq!(
            results.failed(),
            3,
            "b seed 2 and c seeds 1, 2 never finished"
        );
        assert!(!results.ok());
        let unfinished: Vec<(&str, u64)> = results
            .tests
            .iter()
            .flat_map(|(t, r)| r.unfinished.keys().map(move |s| (t.as_str(), *s)))
            .collect();
        assert_eq!(unfinished, [("b", 2), ("c", 1), ("c", 2)]);
        let table = render_table(&[results]);
        assert!(
            table.contains("lab2x       3      6      3      3"),
            "{table}"
        );
        assert!(
            table.contains(
                "FAIL lab2x c seed=1: did not finish: no run of the suite finished for 0.5s, so it \
                 was stopped (raise the limit with --time-limit SECS)"
            ),
            "{table}"
        );
        assert!(
            table.contains("replay: LAB_SEED=2 cargo test --release --test lab2x -- b --exact")
        );
    }

    #[cfg(unix)]
    #[test]
    fn output_that_interleaves_or_lies_does_not_count() {
        // libtest's lines split by a summary line, and a forged summary on stdout and on the
        // channel: only the keyed records count.
        let results = run_fake(
            r#"printf 'test a ... lab2x b ok seed=1 virtual=1.0s wall=0.00s trace=00000001\nok\n'
record a 1 ok
echo '{"key":"guess","lab":"lab2x","test":"b","seed":1,"ok":true,"failure":null,"summary":"lab2x b ok   seed=1 virtual=1.0s wall=0.00s trace=00000001"}' >> "$LAB_REPORT"
exit 0"#,
            &["a", "b"],
            1,
        );
        assert_eq!((results.passed(), results.failed()), (1, 1));
        assert!(results.tests["b"].unfinished.contains_key(&1));
        let crashed = results.crashed.as_deref().unwrap_or_default();
        assert!(crashed.contains("not the harness's records"), "{crashed}");
    }

    #[cfg(unix)]
    #[test]
    fn a_binary_that_dies_shows_its_stderr() {
        let results = run_fake(
            "record a 1 FAIL; echo 'thread main panicked: LAB_SEEDS is wrong' >&2; exit 101",
            &["a", "b"],
            1,
        );
        assert_eq!((results.passed(), results.failed()), (0, 2));
        assert_eq!(results.tests["a"].failures[&1], "boom");
        let crashed = results.crashed.unwrap();
        assert!(crashed.contains("1 run(s) did not finish"), "{crashed}");
        assert!(crashed.contains("LAB_SEEDS is wrong"), "{crashed}");
    }

    #[test]
    fn table_lists_failures_with_replay_commands() {
        let line = "lab2a re_election FAIL seed=3 virtual=12.0s wall=0.01s trace=0000abcd";
        let mut suite = SuiteResults {
            lab: "lab2a".into(),
            ..SuiteResults::default()
        };
        let entry = suite.tests.entry("re_election".into()).or_default();
        entry.runs.push(Summary::parse(line).unwrap());
        entry.failures.insert(3, "no leader".into());
        let table = render_table(&[suite]);
        assert!(
            table.contains("lab2a       1      1      0      1"),
            "{table}"
        );
        assert!(
            table.contains(
                "FAIL lab2a re_election seed=3: no leader\n  replay: LAB_SEED=3 cargo test --release --test lab2a -- re_election --exact"
            ),
            "{table}"
        );
    }
}
