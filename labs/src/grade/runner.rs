//! Running the graded tests: every (test, seed) pair in its own process, with a real-time limit,
//! so that a panic, a hang or a crash of the whole process costs that one run and nothing else.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use indicatif::ProgressBar;
use wait_timeout::ChildExt;

use crate::lab::{SEED_VAR, SEEDS_VAR, Summary};

/// Keep at most this much of a run's output (its end) for the report.
const OUTPUT_TAIL_BYTES: usize = 4000;

/// One run to make: a test of a suite's executable with one seed.
#[derive(Clone, Debug)]
pub struct RunTask {
    pub lab: &'static str,
    pub test: String,
    pub seed: u64,
    pub exe: PathBuf,
}

/// How one run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// The test failed; what its `failure:` line (or, failing that, its output) said.
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
    pub time_limit: Duration,
}

/// Run one test with one seed. Errors only if the process cannot be started at all.
pub fn run_one(task: &RunTask, settings: &RunSettings<'_>) -> std::io::Result<Verdict> {
    std::fs::create_dir_all(settings.log_dir)?;
    let log = settings
        .log_dir
        .join(format!("{}-{}-{}.log", task.lab, task.test, task.seed));
    let out = File::create(&log)?;
    let mut child = Command::new(&task.exe)
        .args([&task.test, "--exact", "--test-threads", "1"])
        .current_dir(settings.cwd)
        .env(SEED_VAR, task.seed.to_string())
        .env_remove(SEEDS_VAR)
        .env_remove("RUST_LOG")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    let status = match child.wait_timeout(settings.time_limit)? {
        Some(status) => Some(status),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            None
        }
    };
    let output = std::fs::read(&log).unwrap_or_default();
    let output = String::from_utf8_lossy(&output);
    let Some(status) = status else {
        return Ok(Verdict::TimedOut(settings.time_limit));
    };
    Ok(judge(task.lab, &task.test, status.success(), &output))
}

/// The verdict of a finished run from its exit status and output.
pub fn judge(lab: &str, test: &str, success: bool, output: &str) -> Verdict {
    let mut summary: Option<Summary> = None;
    let mut failure: Option<String> = None;
    // The test harness prints `test NAME ... ` before the test runs, so the summary line may
    // follow it on the same line.
    let start = format!("{lab} {test} ");
    for line in output.lines() {
        let parsed = line
            .find(&start)
            .and_then(|at| Summary::parse(&line[at..]))
            .filter(|s| s.test == test);
        if let Some(s) = parsed {
            summary = Some(s);
        } else if let Some(f) = line.trim_start().strip_prefix("failure: ") {
            failure.get_or_insert_with(|| f.to_string());
        }
    }
    match summary {
        Some(s) if s.ok && success => Verdict::Passed,
        Some(s) if s.ok => Verdict::Failed(format!(
            "the test passed but its process then failed:\n{}",
            tail(output)
        )),
        Some(_) => Verdict::Failed(failure.unwrap_or_else(|| tail(output))),
        None if output.contains("running 0 tests") => {
            Verdict::Failed(format!("no test named {test} in this build"))
        }
        None => Verdict::Failed(format!(
            "the test process ended without a result (a crash, an abort or a stack overflow?):\n{}",
            tail(output)
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

    #[test]
    fn verdicts_come_from_summary_and_failure_lines() {
        let ok = "lab2a initial_election ok   seed=1 virtual=4.1s wall=0.02s trace=3f9c0a1b\n";
        assert_eq!(
            judge("lab2a", "initial_election", true, ok),
            Verdict::Passed
        );
        let after_libtest = "running 1 test\ntest initial_election ... lab2a initial_election ok   seed=1 virtual=3.0s wall=0.00s peers=3 trace=398748b6\nok\n";
        assert_eq!(
            judge("lab2a", "initial_election", true, after_libtest),
            Verdict::Passed
        );
        let failed = "lab2a initial_election FAIL seed=1 virtual=4.1s wall=0.02s trace=3f9c0a1b\n  failure: panicked: no leader\n  replay: ...\n";
        assert_eq!(
            judge("lab2a", "initial_election", false, failed),
            Verdict::Failed("panicked: no leader".into())
        );
        let crashed =
            "thread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n";
        assert!(
            matches!(judge("lab2a", "x", false, crashed), Verdict::Failed(m) if m.contains("without a result") && m.contains("overflowed"))
        );
        assert_eq!(
            judge("lab2a", "x", true, "running 0 tests\n"),
            Verdict::Failed("no test named x in this build".into())
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
    #[test]
    fn a_run_past_the_limit_is_killed_and_reported() {
        // A stand-in for a test binary that never ends: a script sleeping far past the limit.
        let dir = std::env::temp_dir().join(format!("raftlab-runner-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("hang.sh");
        std::fs::write(&exe, "#!/bin/sh\nexec sleep 600\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let task = RunTask {
            lab: "lab2a",
            test: "initial_election".into(),
            seed: 1,
            exe,
        };
        let settings = RunSettings {
            cwd: &dir,
            log_dir: &dir.join("logs"),
            time_limit: Duration::from_millis(200),
        };
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
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
