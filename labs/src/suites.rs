//! Running whole lab suites as a user would (`cargo test --release --test labXY`), over many seeds,
//! with a progress display and a summary table. Used by `labs run`.
//!
//! The suites are compiled once with cargo; each test binary then runs with `LAB_SEEDS`, and its
//! summary lines (see [`crate::lab`]) are read as they appear.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::lab::{Summary, replay_command};

/// The lab suites in the order students meet them.
pub const LABS: [&str; 6] = ["lab2a", "lab2b", "lab2c", "lab2d", "lab3a", "lab3b"];

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("could not run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} failed:\n{output}")]
    Command { command: String, output: String },
    #[error("unknown lab {0:?}: expected one of 2a, 2b, 2c, 2d, 3a, 3b (or lab2a, ...) or all")]
    UnknownLab(String),
}

/// Normalise `2A`, `lab2a`, `all` into suite names.
pub fn select_labs(wanted: &[String]) -> Result<Vec<&'static str>, SuiteError> {
    if wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case("all")) {
        return Ok(LABS.to_vec());
    }
    let mut labs = Vec::new();
    for w in wanted {
        let w = w.to_ascii_lowercase();
        let name = if w.starts_with("lab") {
            w
        } else {
            format!("lab{w}")
        };
        let lab = LABS
            .iter()
            .find(|l| **l == name)
            .ok_or_else(|| SuiteError::UnknownLab(name.clone()))?;
        if !labs.contains(lab) {
            labs.push(*lab);
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
}

/// One suite's results.
#[derive(Debug, Default, Clone)]
pub struct SuiteResults {
    pub lab: String,
    pub tests: BTreeMap<String, TestResults>,
    pub wall: Duration,
    /// Set when the executable ended badly without a summary explaining it.
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
    pub fn failed(&self) -> usize {
        self.tests
            .values()
            .flat_map(|t| &t.runs)
            .filter(|s| !s.ok)
            .count()
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

/// Run one suite's executable with `seeds` seeds and `jobs` test threads, advancing `progress` by
/// one per summary line.
pub fn run_suite(
    lab: &str,
    exe: &Path,
    seeds: u64,
    jobs: usize,
    progress: &ProgressBar,
) -> Result<SuiteResults, SuiteError> {
    let started = Instant::now();
    let mut child = Command::new(exe)
        .args(["--test-threads", &jobs.to_string()])
        .env("LAB_SEEDS", seeds.to_string())
        .env_remove("LAB_SEED")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| SuiteError::Spawn {
            command: exe.display().to_string(),
            source,
        })?;
    let mut results = SuiteResults {
        lab: lab.to_string(),
        ..SuiteResults::default()
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let mut last: Option<(String, u64)> = None;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(summary) = Summary::parse(&line) {
            progress.inc(1);
            progress.set_message(format!(
                "{} {} seed={}",
                summary.lab, summary.test, summary.seed
            ));
            last = (!summary.ok).then(|| (summary.test.clone(), summary.seed));
            results
                .tests
                .entry(summary.test.clone())
                .or_default()
                .runs
                .push(summary);
        } else if let (Some(failure), Some((test, seed))) =
            (line.trim_start().strip_prefix("failure: "), &last)
        {
            results
                .tests
                .entry(test.clone())
                .or_default()
                .failures
                .insert(*seed, failure.to_string());
        }
    }
    let status = child.wait().map_err(|source| SuiteError::Spawn {
        command: exe.display().to_string(),
        source,
    })?;
    results.wall = started.elapsed();
    if !status.success() && results.failed() == 0 {
        results.crashed = Some(format!(
            "test binary exited with {status} and no failing summary"
        ));
    }
    Ok(results)
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
            s.crashed
                .as_ref()
                .map(|c| format!("  ({c})"))
                .unwrap_or_default(),
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
        for (test, results) in &s.tests {
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
        assert_eq!(select_labs(&[]).unwrap(), LABS.to_vec());
        assert_eq!(
            select_labs(&["2A".into(), "lab2b".into(), "2a".into()]).unwrap(),
            vec!["lab2a", "lab2b"]
        );
        assert!(matches!(
            select_labs(&["4z".into()]),
            Err(SuiteError::UnknownLab(l)) if l == "lab4z"
        ));
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
