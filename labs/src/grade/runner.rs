//! Running the graded tests: every (test, seed) pair in its own process, with a real-time limit,
//! so that a panic, a hang or a crash of the whole process costs that one run and nothing else.
//!
//! A run's verdict comes from the harness's report channel ([`crate::lab::REPORT_VAR`]), never
//! from its output, which the code under test can write too: each run gets a private folder
//! outside the work tree with a fresh random key in a file that the harness reads and deletes
//! before any code under test runs. A run passes only if its process exited successfully and the
//! report holds exactly one record with that key, for that lab, test and seed, saying it passed,
//! and nothing else. Each run is its own process group with a memory cap, a minimal environment,
//! and (when the grader runs as root) an unprivileged user; when it ends, whatever it started is
//! killed ([`super::isolation`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use indicatif::ProgressBar;
use wait_timeout::ChildExt;

use labkit::presets::{Preset, RECORD_LAB};

use super::isolation::{self, RunAs};
use crate::lab::{MEMORY_LIMIT_VAR, REPORT_KEY_VAR, REPORT_VAR, RunRecord, SEED_VAR, read_records};

/// Keep at most this much of a run's output (its end) for the report.
const OUTPUT_TAIL_BYTES: usize = 4000;
/// Read at most this much of a report file (a run writes a few hundred bytes).
const MAX_REPORT_BYTES: u64 = 1 << 20;
/// Read at most this much of the end of a run's output.
const MAX_OUTPUT_READ: u64 = 64 << 10;

/// One run to make: a test of a suite's executable with one seed, or (with `preset`) the model
/// checker's `check --preset NAME` (`exe` the checker, `test` the preset's name, seed 0).
#[derive(Clone, Debug)]
pub struct RunTask {
    pub lab: &'static str,
    pub test: String,
    pub seed: u64,
    pub exe: PathBuf,
    pub preset: Option<&'static Preset>,
}

/// The grader's real-time limit of a preset's run beyond the preset's own time limit (which the
/// checker enforces itself, then reports "timed out"): start-up, and shortening a counterexample.
pub const PRESET_MARGIN: Duration = Duration::from_secs(60);

/// A preset's own limit is CPU time (a busy machine must not fail a search that fits); the
/// grader still kills a run whose real time exceeds this many times that limit (plus
/// [`PRESET_MARGIN`]), so that a run that hangs without using the CPU ends too.
pub const PRESET_REAL_TIME_FACTOR: u32 = 3;

impl RunTask {
    /// The (lab, test, seed) its record on the report channel must name.
    fn record_identity(&self) -> (&str, &str, u64) {
        match self.preset {
            Some(p) => (RECORD_LAB, p.name, 0),
            None => (self.lab, &self.test, self.seed),
        }
    }

    /// Its real-time limit: the grader's for a test; for a preset, [`PRESET_REAL_TIME_FACTOR`]
    /// times its own (CPU-time) limit plus a margin.
    pub fn time_limit(&self, settings: &RunSettings<'_>) -> Duration {
        match self.preset {
            Some(p) => {
                Duration::from_secs(p.time_limit_secs) * PRESET_REAL_TIME_FACTOR + PRESET_MARGIN
            }
            None => settings.time_limit,
        }
    }

    /// What the process is asked: one test, or one preset.
    fn args(&self) -> Vec<String> {
        match self.preset {
            Some(p) => vec!["check".into(), "--preset".into(), p.name.into()],
            None => vec![
                self.test.clone(),
                "--exact".into(),
                "--test-threads".into(),
                "1".into(),
            ],
        }
    }
}

/// How one run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// The test failed; what the harness's record (or, failing that, the grader) said.
    Failed(String),
    /// Killed after the real-time limit.
    TimedOut(Duration),
}

impl Verdict {
    pub fn passed(&self) -> bool {
        *self == Verdict::Passed
    }

    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Passed => "passed".into(),
            Verdict::Failed(why) => why.clone(),
            Verdict::TimedOut(limit) => format!(
                "did not finish within the grader's limit of {}s of real time (killed)",
                limit.as_secs()
            ),
        }
    }
}

/// Where and how runs happen.
pub struct RunSettings<'a> {
    /// The working directory of every run (the work tree).
    pub cwd: &'a Path,
    /// Where each run's output is written.
    pub log_dir: &'a Path,
    /// Where each run's private folder (its key and report files) is made; outside the work tree.
    pub run_dir: &'a Path,
    pub time_limit: Duration,
    /// The memory cap of one run, in MiB.
    pub memory_limit_mib: Option<u64>,
    /// The user the test processes run as (`None`: the grader's own).
    pub run_as: Option<RunAs>,
    /// Tell the harness not to check the student files (the grader's test-only mode).
    pub skip_student_check: bool,
}

/// A run's private folder, removed when dropped.
struct RunDir {
    path: PathBuf,
}

impl RunDir {
    fn new(parent: &Path, task: &RunTask, run_as: Option<RunAs>) -> std::io::Result<RunDir> {
        std::fs::create_dir_all(parent)?;
        let path = parent.join(format!(
            "{}-{}-{}-{:016x}",
            task.lab,
            task.test,
            task.seed,
            rand::random::<u64>()
        ));
        std::fs::create_dir(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
            if let Some(user) = run_as {
                std::os::unix::fs::chown(&path, Some(user.uid), Some(user.gid))?;
            }
        }
        #[cfg(not(unix))]
        let _ = run_as;
        Ok(RunDir { path })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Run one test with one seed. Errors only if the process cannot be started at all.
pub fn run_one(task: &RunTask, settings: &RunSettings<'_>) -> std::io::Result<Verdict> {
    isolation::become_subreaper()?;
    std::fs::create_dir_all(settings.log_dir)?;
    let log = settings
        .log_dir
        .join(format!("{}-{}-{}.log", task.lab, task.test, task.seed));
    let out = File::create(&log)?;
    let dir = RunDir::new(settings.run_dir, task, settings.run_as)?;
    let key = format!("{:032x}", rand::random::<u128>());
    let key_path = dir.path.join("key");
    let report_path = dir.path.join("report.jsonl");
    std::fs::write(&key_path, &key)?;
    #[cfg(unix)]
    if let Some(user) = settings.run_as {
        // The harness (as that user) deletes the key file once it has read it.
        std::os::unix::fs::chown(&key_path, Some(user.uid), Some(user.gid))?;
    }
    let mut command = Command::new(&task.exe);
    command
        .args(task.args())
        .current_dir(settings.cwd)
        // Nothing of the grader's environment reaches the code under test.
        .env_clear()
        .env(SEED_VAR, task.seed.to_string())
        .env(REPORT_VAR, &report_path)
        .env(REPORT_KEY_VAR, &key_path)
        .env("RUST_BACKTRACE", "0")
        // No second run of a failing seed to draw its picture: verdicts only.
        .env(crate::timeline::VIZ_VAR, "0")
        .env("HOME", &dir.path)
        .env("TMPDIR", &dir.path)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    if let Some(mib) = settings.memory_limit_mib {
        command.env(MEMORY_LIMIT_VAR, mib.to_string());
    }
    if settings.skip_student_check {
        command.env(crate::student_code::SKIP_VAR, "1");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        if let Some(user) = settings.run_as {
            command.uid(user.uid).gid(user.gid);
        }
    }
    let mut child = isolation::spawn_run(&mut command)?;
    let pid = child.id();
    let time_limit = task.time_limit(settings);
    let status = match child.wait_timeout(time_limit) {
        Ok(Some(status)) => Some(status),
        Ok(None) => {
            isolation::kill_group(pid);
            let _ = child.kill();
            let _ = child.wait();
            None
        }
        Err(e) => {
            isolation::kill_group(pid);
            let _ = child.kill();
            let _ = child.wait();
            isolation::end_run(pid);
            return Err(e);
        }
    };
    // Nothing the run started survives it, so nothing writes to its files any more.
    isolation::end_run(pid);
    let Some(status) = status else {
        return Ok(Verdict::TimedOut(time_limit));
    };
    let output = read_output(&log);
    let report = read_report(&report_path);
    Ok(judge(
        task,
        &RunOutcome {
            success: status.success(),
            status: status.to_string(),
            report: &report,
            key: &key,
            output: &output,
            memory_limit_mib: settings.memory_limit_mib,
        },
    ))
}

/// The tests of a suite's executable (`--list`), asked under the same restrictions as a run (its
/// own process group, the run's user and environment, the time limit), since the executable
/// holds the submission's code. `Ok(Err(why))` when it did not answer.
pub fn list_tests(
    exe: &Path,
    settings: &RunSettings<'_>,
) -> std::io::Result<Result<Vec<String>, String>> {
    isolation::become_subreaper()?;
    std::fs::create_dir_all(settings.log_dir)?;
    let name = exe
        .file_name()
        .map_or("suite".into(), |n| n.to_string_lossy().into_owned());
    let listing = settings.log_dir.join(format!("{name}.list"));
    let out = File::create(&listing)?;
    let mut command = Command::new(exe);
    command
        .args(["--list", "--format", "terse"])
        .current_dir(settings.cwd)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
        if let Some(user) = settings.run_as {
            command.uid(user.uid).gid(user.gid);
        }
    }
    let mut child = isolation::spawn_run(&mut command)?;
    let pid = child.id();
    let status = child.wait_timeout(settings.time_limit);
    if !matches!(status, Ok(Some(_))) {
        isolation::kill_group(pid);
        let _ = child.kill();
        let _ = child.wait();
    }
    isolation::end_run(pid);
    match status? {
        Some(status) if status.success() => {
            let text = read_output(&listing);
            Ok(Ok(text
                .lines()
                .filter_map(|l| l.strip_suffix(": test"))
                .map(str::to_string)
                .collect()))
        }
        Some(status) => Ok(Err(format!("listing its tests failed ({status})"))),
        None => Ok(Err(format!(
            "listing its tests did not finish within {}s",
            settings.time_limit.as_secs()
        ))),
    }
}

/// The report file's text: only a regular file (not a link, a pipe or a device that a run may
/// have put in its place), and at most [`MAX_REPORT_BYTES`] of it.
fn read_report(path: &Path) -> String {
    let regular = path
        .symlink_metadata()
        .is_ok_and(|m| m.file_type().is_file());
    if !regular {
        return String::new();
    }
    let mut bytes = Vec::new();
    if let Ok(file) = File::open(path) {
        let _ = file.take(MAX_REPORT_BYTES).read_to_end(&mut bytes);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The start and the end of a run's output (it may be huge).
fn read_output(path: &Path) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let mut head = Vec::new();
    let _ = (&mut file).take(4096.min(len)).read_to_end(&mut head);
    let mut text = String::from_utf8_lossy(&head).into_owned();
    if len > 4096 {
        let from = len.saturating_sub(MAX_OUTPUT_READ).max(4096);
        let mut rest = Vec::new();
        if file.seek(SeekFrom::Start(from)).is_ok() {
            let _ = file.take(MAX_OUTPUT_READ).read_to_end(&mut rest);
        }
        if from > 4096 {
            text.push_str("\n...\n");
        }
        text.push_str(&String::from_utf8_lossy(&rest));
    }
    text
}

/// What is known about a finished run.
pub struct RunOutcome<'a> {
    /// The process exited with status 0.
    pub success: bool,
    /// The exit status, for messages (`exit status: 101`, `signal: 6 (SIGABRT) (core dumped)`).
    pub status: String,
    /// The report file's text.
    pub report: &'a str,
    /// The run's key.
    pub key: &'a str,
    /// The run's output (diagnostics only: the code under test can write to it).
    pub output: &'a str,
    pub memory_limit_mib: Option<u64>,
}

/// The verdict of a finished run, from its exit status and the harness's record.
pub fn judge(task: &RunTask, outcome: &RunOutcome<'_>) -> Verdict {
    let (records, foreign) = read_records(outcome.report, outcome.key);
    if foreign > 0 {
        return Verdict::Failed(format!(
            "the report channel held {foreign} line(s) that the harness did not write (a forged \
             result?), so the run counts as failed"
        ));
    }
    let (lab, test, seed) = task.record_identity();
    let (mine, other): (Vec<RunRecord>, Vec<RunRecord>) = records
        .into_iter()
        .partition(|r| r.lab == lab && r.test == test && r.seed == seed);
    if let Some(r) = other.first() {
        return Verdict::Failed(format!(
            "the harness reported {} {} seed={} for a run of {lab} {test} seed={seed}",
            r.lab, r.test, r.seed
        ));
    }
    let harness = if task.preset.is_some() {
        "model checker"
    } else {
        "harness"
    };
    let output = outcome.output;
    match mine.as_slice() {
        [] => {
            if let Some(mib) = outcome.memory_limit_mib
                && output.contains("memory allocation of")
                && output.contains("failed")
            {
                Verdict::Failed(format!(
                    "exceeded the memory limit of {mib} MiB (the process could not allocate more \
                     and was aborted; {})",
                    outcome.status
                ))
            } else if task.preset.is_none() && output.contains("running 0 tests") {
                Verdict::Failed(format!("no test named {} in this build", task.test))
            } else {
                Verdict::Failed(format!(
                    "the {} process ended ({}) without the {harness}'s record of its result (a \
                     crash, an abort, a stack overflow, or code that ended the process?); its \
                     output ended with:\n{}",
                    if task.preset.is_some() {
                        "model checker's"
                    } else {
                        "test"
                    },
                    outcome.status,
                    tail(output)
                ))
            }
        }
        [record] if record.ok && outcome.success => Verdict::Passed,
        [record] if record.ok => Verdict::Failed(format!(
            "the {} passed but its process then failed ({}):\n{}",
            if task.preset.is_some() {
                "preset"
            } else {
                "test"
            },
            outcome.status,
            tail(output)
        )),
        [record] => Verdict::Failed(
            record
                .failure
                .clone()
                .unwrap_or_else(|| format!("failed (the {harness} gave no reason)")),
        ),
        many => Verdict::Failed(format!(
            "the {harness} reported {} results for one run",
            many.len()
        )),
    }
}

/// The end of `text`, at most [`OUTPUT_TAIL_BYTES`] bytes, cut at a line start.
fn tail(text: &str) -> String {
    let text = text.trim_end();
    if text.len() <= OUTPUT_TAIL_BYTES {
        return text.to_string();
    }
    let mut start = text.len() - OUTPUT_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let cut = text[start..].find('\n').map_or(start, |i| start + i + 1);
    format!("...\n{}", &text[cut..])
}

/// Run every task on `jobs` worker threads; results come back in the order of `tasks`.
pub fn run_all(
    tasks: &[RunTask],
    settings: &RunSettings<'_>,
    jobs: usize,
    progress: &ProgressBar,
) -> std::io::Result<Vec<Verdict>> {
    let (task_tx, task_rx) = crossbeam_channel::unbounded::<usize>();
    for i in 0..tasks.len() {
        task_tx.send(i).expect("receiver alive");
    }
    drop(task_tx);
    let (done_tx, done_rx) = crossbeam_channel::unbounded();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            let (task_rx, done_tx) = (task_rx.clone(), done_tx.clone());
            scope.spawn(move || {
                for i in task_rx {
                    let task = &tasks[i];
                    let verdict = run_one(task, settings);
                    progress.inc(1);
                    progress.set_message(format!("{} {} seed={}", task.lab, task.test, task.seed));
                    if done_tx.send((i, verdict)).is_err() {
                        break;
                    }
                }
            });
        }
    });
    drop(done_tx);
    let mut verdicts: Vec<Option<Verdict>> = vec![None; tasks.len()];
    for (i, verdict) in done_rx {
        verdicts[i] = Some(verdict?);
    }
    Ok(verdicts
        .into_iter()
        .map(|v| v.expect("every task ran"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> RunTask {
        RunTask {
            lab: "lab2a",
            test: "initial_election".into(),
            seed: 1,
            exe: PathBuf::from("/nonexistent"),
            preset: None,
        }
    }

    fn record(key: &str, ok: bool) -> String {
        serde_json::to_string(&RunRecord {
            key: key.into(),
            lab: "lab2a".into(),
            test: "initial_election".into(),
            seed: 1,
            ok,
            failure: (!ok).then(|| "panicked: no leader".to_string()),
            summary: "lab2a initial_election ok   seed=1 virtual=3.0s wall=0.00s trace=398748b6"
                .into(),
        })
        .unwrap()
            + "\n"
    }

    fn outcome<'a>(success: bool, report: &'a str, output: &'a str) -> RunOutcome<'a> {
        RunOutcome {
            success,
            status: if success {
                "exit status: 0"
            } else {
                "exit status: 101"
            }
            .into(),
            report,
            key: "k",
            output,
            memory_limit_mib: Some(1024),
        }
    }

    #[test]
    fn only_the_harness_record_with_the_key_passes_a_run() {
        let ok = record("k", true);
        assert_eq!(judge(&task(), &outcome(true, &ok, "")), Verdict::Passed);
        // Printed summary lines count for nothing, and an exit(0) without a record fails.
        let forged_output =
            "lab2a initial_election ok   seed=1 virtual=4.1s wall=0.02s trace=3f9c0a1b\n";
        assert!(matches!(
            judge(&task(), &outcome(true, "", forged_output)),
            Verdict::Failed(m) if m.contains("without the harness's record")
        ));
        // A record with another key (a guess) is a foreign line, and spoils the run.
        let forged = format!("{ok}{}", record("guess", true));
        assert!(matches!(
            judge(&task(), &outcome(true, &forged, "")),
            Verdict::Failed(m) if m.contains("did not write")
        ));
        assert!(matches!(
            judge(&task(), &outcome(true, &format!("{ok}{ok}"), "")),
            Verdict::Failed(m) if m.contains("2 results")
        ));
        // A passing record from a process that then failed.
        assert!(matches!(
            judge(&task(), &outcome(false, &ok, "boom")),
            Verdict::Failed(m) if m.contains("then failed") && m.contains("boom")
        ));
        // A failing record: its failure text.
        assert_eq!(
            judge(&task(), &outcome(false, &record("k", false), "")),
            Verdict::Failed("panicked: no leader".into())
        );
        let other_seed = record("k", true).replace("\"seed\":1", "\"seed\":2");
        assert!(matches!(
            judge(&task(), &outcome(true, &other_seed, "")),
            Verdict::Failed(m) if m.contains("seed=2")
        ));
    }

    #[test]
    fn crashes_and_the_memory_limit_are_named() {
        let crashed =
            "thread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n";
        assert!(matches!(
            judge(&task(), &outcome(false, "", crashed)),
            Verdict::Failed(m) if m.contains("without the harness's record") && m.contains("overflowed")
        ));
        assert!(matches!(
            judge(&task(), &outcome(false, "", "memory allocation of 1048576 bytes failed\n")),
            Verdict::Failed(m) if m.starts_with("exceeded the memory limit of 1024 MiB")
        ));
        assert_eq!(
            judge(&task(), &outcome(true, "", "running 0 tests\n")),
            Verdict::Failed("no test named initial_election in this build".into())
        );
    }

    #[test]
    fn long_output_keeps_its_end() {
        let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
        let t = tail(&text);
        assert!(t.starts_with("...\nline "), "{}", &t[..20]);
        assert!(t.ends_with("line 1999"));
        assert!(t.len() <= OUTPUT_TAIL_BYTES + 4);
    }

    #[cfg(unix)]
    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join(name);
        std::fs::write(&exe, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    }

    #[cfg(unix)]
    fn settings<'a>(
        dir: &'a Path,
        logs: &'a Path,
        runs: &'a Path,
        limit: Duration,
    ) -> RunSettings<'a> {
        RunSettings {
            cwd: dir,
            log_dir: logs,
            run_dir: runs,
            time_limit: limit,
            memory_limit_mib: None,
            run_as: None,
            skip_student_check: false,
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_run_past_the_limit_is_killed_and_reported_and_leaves_no_folder() {
        // A stand-in for a test binary that never ends: a script sleeping far past the limit.
        let dir = std::env::temp_dir().join(format!("raftlab-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let task = RunTask {
            exe: script(&dir, "hang.sh", "exec sleep 600"),
            ..task()
        };
        let (logs, runs) = (dir.join("logs"), dir.join("runs"));
        let settings = settings(&dir, &logs, &runs, Duration::from_millis(200));
        let verdicts = run_all(
            std::slice::from_ref(&task),
            &settings,
            1,
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(
            verdicts,
            vec![Verdict::TimedOut(Duration::from_millis(200))]
        );
        assert_eq!(
            std::fs::read_dir(&runs).unwrap().count(),
            0,
            "the run's folder is removed"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A stand-in for a model checker whose Raft claims a pass: it prints the preset's passing
    /// line, appends a record with a guessed key and exits 0. The run fails; so does one that
    /// writes no record at all; only a record with the run's key passes.
    #[cfg(unix)]
    #[test]
    fn a_preset_run_passes_only_with_the_checkers_keyed_record() {
        let dir =
            std::env::temp_dir().join(format!("raftlab-runner-preset-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let preset = labkit::presets::find("election");
        let (logs, runs) = (dir.join("logs"), dir.join("runs"));
        let settings = settings(&dir, &logs, &runs, Duration::from_secs(30));
        let record = |key: &str| {
            format!(
                "echo '{{\"key\":\"{key}\",\"lab\":\"checker\",\"test\":\"election\",\"seed\":0,\"ok\":true,\"failure\":null,\"summary\":\"preset election: passed\"}}' >> \"$LAB_REPORT\""
            )
        };
        let run = |name: &str, body: &str| {
            let task = RunTask {
                exe: script(&dir, name, body),
                preset,
                test: "election".into(),
                seed: 0,
                ..task()
            };
            run_one(&task, &settings).unwrap()
        };
        let forged = run(
            "forge.sh",
            &format!(
                "echo 'preset election: passed'\n{}\nexit 0",
                record("guess")
            ),
        );
        assert!(
            matches!(&forged, Verdict::Failed(m) if m.contains("did not write")),
            "{forged:?}"
        );
        let silent = run("silent.sh", "echo 'preset election: passed'\nexit 0");
        assert!(
            matches!(&silent, Verdict::Failed(m) if m.contains("without the model checker's record")),
            "{silent:?}"
        );
        // The checker's own behaviour: read the key file, delete it, write a record with the key.
        let honest = run(
            "honest.sh",
            "key=$(cat \"$LAB_REPORT_KEY\"); rm -f \"$LAB_REPORT_KEY\"\n\
             printf '{\"key\":\"%s\",\"lab\":\"checker\",\"test\":\"election\",\"seed\":0,\"ok\":true,\"failure\":null,\"summary\":\"preset election: passed\"}\\n' \"$key\" >> \"$LAB_REPORT\"\n\
             exit 0",
        );
        assert_eq!(honest, Verdict::Passed);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_run_that_prints_a_pass_and_detaches_a_child_fails_and_the_child_is_killed() {
        let dir =
            std::env::temp_dir().join(format!("raftlab-runner-detach-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let marker = dir.join("late-write");
        // Prints a pass, writes a line into the report file, detaches a child into its own
        // session that would write a file later, and exits 0.
        let body = format!(
            "env\n\
             echo 'lab2a initial_election ok   seed=1 virtual=3.0s wall=0.00s trace=398748b6'\n\
             echo '{{\"key\":\"guess\"}}' >> \"$LAB_REPORT\"\n\
             setsid sh -c 'sleep 2; touch {}' </dev/null >/dev/null 2>&1 &\n\
             exit 0",
            marker.display()
        );
        let task = RunTask {
            exe: script(&dir, "forge.sh", &body),
            ..task()
        };
        let (logs, runs) = (dir.join("logs"), dir.join("runs"));
        let settings = settings(&dir, &logs, &runs, Duration::from_secs(30));
        let verdict = run_one(&task, &settings).unwrap();
        assert!(
            matches!(&verdict, Verdict::Failed(m) if m.contains("did not write")),
            "{verdict:?}"
        );
        // Nothing of the grader's environment (here, cargo's) reached the run.
        let output = std::fs::read_to_string(logs.join("lab2a-initial_election-1.log")).unwrap();
        let names: Vec<&str> = output
            .lines()
            .filter_map(|l| l.split_once('=').map(|(name, _)| name))
            .filter(|name| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .collect();
        for name in &names {
            assert!(
                [
                    "LAB_SEED",
                    "LAB_REPORT",
                    "LAB_REPORT_KEY",
                    "LAB_VIZ",
                    "RUST_BACKTRACE",
                    "HOME",
                    "TMPDIR",
                    "PATH",
                    "PWD",
                    "SHLVL",
                    "_"
                ]
                .contains(name),
                "{name} reached the run: {names:?}"
            );
        }
        assert!(names.contains(&"LAB_REPORT_KEY"), "{output}");
        // No process is left that could still write the marker: wait for a real `sleep 3`.
        let leftover = |needle: &str| {
            std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
                std::fs::read(e.path().join("cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
            })
        };
        assert!(
            !leftover(&marker.display().to_string()),
            "a detached process survived the run"
        );
        let waited = Command::new("sleep").arg("3").status().unwrap();
        assert!(waited.success());
        assert!(
            !marker.exists(),
            "a detached child wrote after the run ended"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
