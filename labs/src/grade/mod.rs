//! `labs grade`: grade a student submission (or a folder of them) against the pristine tests.
//!
//! 1. The pristine copy is this repository's handout (solutions stubbed, instructor-only files left
//!    out), written once per grader under the scratch folder, which must not lie inside a checkout
//!    holding solutions ([`isolation`]). It is kept read-only on disk and, byte for byte, in memory
//!    ([`pristine`]); the disk copy is verified (and restored) before and after every submission.
//! 2. For each submission, a fresh work tree is written from memory with only the student-owned
//!    files ([`intake::STUDENT_FILES`]) taken from the submission; every other difference is
//!    reported and ignored.
//! 3. The student files are checked against the allow-list (`labkit/student-code.toml`, the
//!    pristine copy's: [`crate::student_code`]); a refused submission is not built and scores 0,
//!    with the findings in its report.
//! 4. The suites are built with cargo (one target directory shared by all submissions, so only the
//!    student crates rebuild); a build failure scores 0 and reports the compiler's messages.
//! 5. Every test runs once per seed in its own process ([`runner`]): its own process group, time
//!    and memory limits, an unprivileged user when the grader runs as root, its verdict read from
//!    the harness's keyed report channel, and whatever it started killed when it ends.
//! 6. Points come from the rubric ([`rubric`]); the results are written as a Markdown report and a
//!    Gradescope `results.json` ([`report`]), and a batch adds one CSV row per submission.

pub mod intake;
pub mod isolation;
pub mod pristine;
pub mod report;
pub mod rubric;
pub mod runner;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use indicatif::ProgressBar;
use wait_timeout::ChildExt;

use crate::handout::HandoutError;
use crate::student_code::{CheckError, POLICY_FILE, Policy, STUDENT_FILES};
use crate::suites::{SuiteError, existing_suites};
use isolation::{CargoConfigs, RunAs};
use pristine::Pristine;
pub use report::{Grade, TestGrade};
pub use rubric::{Rubric, RubricError};
use runner::{RunSettings, RunTask, Verdict};

/// Keep at most this many lines of compiler messages in a report.
const MAX_BUILD_MESSAGE_LINES: usize = 120;

/// The default memory cap of one test run, in MiB. The reference's test processes peak at a few
/// tens of MiB of address space above the program itself (measured in GRADING.md, section 8);
/// this leaves a wide margin.
pub const DEFAULT_MEMORY_LIMIT_MIB: u64 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum GradeError {
    #[error(transparent)]
    Rubric(#[from] RubricError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not write the pristine copy: {0}")]
    Handout(#[from] HandoutError),
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error("the submission {0} is not a directory")]
    NotADirectory(PathBuf),
    #[error("the pristine copy has no suite {0} (tests/{0}.rs)")]
    NoSuite(&'static str),
    #[error("the student-code policy: {0}")]
    Policy(#[from] CheckError),
    #[error(
        "the scratch folder {scratch} is inside {checkout}, a checkout with solutions ({file} has \
         a `// BEGIN SOLUTION` region): code under test could reach them by relative paths. \
         Choose a scratch folder outside it (--scratch DIR; the default is outside any repository)"
    )]
    ScratchInCheckout {
        scratch: PathBuf,
        checkout: PathBuf,
        file: &'static str,
    },
    #[error(
        "the tests run as uid {uid}, which cannot enter {dir} on the way to the scratch folder \
         {scratch}: choose a scratch folder others can reach (the default as root is \
         /var/cache/raftlab/grade)"
    )]
    ScratchUnreachable {
        scratch: PathBuf,
        dir: PathBuf,
        uid: u32,
    },
    #[error("cargo configuration: {0}")]
    CargoConfig(String),
    #[error(
        "the build failed, and not because of the submission's code: no compiler error points \
         into the source ({0}). Nothing was graded: fix the machine (disk space, memory, \
         toolchain) and grade again"
    )]
    BuildEnvironment(String),
    #[error("{0}")]
    Other(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GradeError + '_ {
    move |source| GradeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A build's outcome: each suite's test executable, or the compiler's error messages.
type BuildOutcome = Result<Vec<(&'static str, PathBuf)>, String>;

/// How to grade.
#[derive(Clone, Debug)]
pub struct GradeOptions {
    /// The suites to grade (`lab2a` ...).
    pub labs: Vec<&'static str>,
    /// Seeds 1..=`seeds` for every test.
    pub seeds: u64,
    /// Test processes run at once.
    pub jobs: usize,
    /// Real-time limit of one test run (one test, one seed).
    pub time_limit: Duration,
    /// Real-time limit of building one submission.
    pub build_time_limit: Duration,
    /// Memory cap of one test run, in MiB (`None`: no cap).
    pub memory_limit_mib: Option<u64>,
    /// The user test processes run as (default: `nobody` when the grader runs as root, else the
    /// grader's own user).
    pub run_as: Option<RunAs>,
    /// Check the student files against the allow-list before building (default). Only the
    /// grader's own tests turn it off, to show that the run-time defences hold on their own
    /// against code the check would refuse.
    pub static_check: bool,
}

impl Default for GradeOptions {
    fn default() -> Self {
        GradeOptions {
            labs: crate::suites::all_suites(),
            seeds: 1,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            time_limit: Duration::from_secs(120),
            build_time_limit: Duration::from_secs(900),
            memory_limit_mib: Some(DEFAULT_MEMORY_LIMIT_MIB),
            run_as: isolation::default_run_as(),
            static_check: true,
        }
    }
}

/// A grader: the pristine copy, the work tree and the shared target directory, under one scratch
/// folder.
pub struct Grader {
    pristine: Pristine,
    work: PathBuf,
    target_dir: PathBuf,
    logs: PathBuf,
    runs: PathBuf,
    /// The pictures of bad histories kept for each submission (`<name>/<file>`).
    pictures: PathBuf,
    policy: Policy,
    cargo_configs: CargoConfigs,
    /// The student files of the last build and the modification times they were given: the same
    /// content keeps its time (cargo does not rebuild it), new content gets a newer one.
    last_built: Mutex<BTreeMap<String, (Vec<u8>, SystemTime)>>,
    rubric: Rubric,
    options: GradeOptions,
}

impl Grader {
    /// Write the handout of the repository at `root` under `scratch` as the pristine copy.
    /// `scratch` must not be inside a checkout with solutions (nor, when the tests run as another
    /// user, out of that user's reach).
    pub fn new(
        root: &Path,
        scratch: &Path,
        rubric: Rubric,
        options: GradeOptions,
    ) -> Result<Grader, GradeError> {
        let scratch = isolation::check_scratch(scratch, options.run_as)?;
        std::fs::create_dir_all(&scratch).map_err(io(&scratch))?;
        let pristine = Pristine::write(root, &scratch.join("pristine"))?;
        let present = existing_suites(pristine.dir(), &options.labs);
        if let Some(missing) = options.labs.iter().find(|l| !present.contains(l)) {
            return Err(GradeError::NoSuite(missing));
        }
        let policy_text = pristine
            .get(POLICY_FILE)
            .ok_or_else(|| GradeError::Other(format!("the pristine copy has no {POLICY_FILE}")))?;
        let policy =
            crate::policy::parse_policy(POLICY_FILE, &String::from_utf8_lossy(policy_text))?;
        let work = scratch.join("work");
        let cargo_configs = CargoConfigs::snapshot(&work)?;
        isolation::become_subreaper().map_err(io(&scratch))?;
        Ok(Grader {
            pristine,
            work,
            // Its own target directory: cargo names a workspace's artifacts by paths relative to
            // the workspace, so the work tree and this repository would overwrite each other's
            // builds (and cargo would take one's stale artifacts for the other's) in a shared one.
            target_dir: scratch.join("target"),
            logs: scratch.join("logs"),
            runs: scratch.join("runs"),
            pictures: scratch.join("pictures"),
            policy,
            cargo_configs,
            last_built: Mutex::new(BTreeMap::new()),
            rubric,
            options,
        })
    }

    pub fn options(&self) -> &GradeOptions {
        &self.options
    }

    /// The pristine copy's folder.
    pub fn pristine_dir(&self) -> &Path {
        self.pristine.dir()
    }

    /// The work tree (written afresh for every submission).
    pub fn work_dir(&self) -> &Path {
        &self.work
    }

    /// Grade the submission in `submission`, named `name` in the report.
    pub fn grade(
        &self,
        submission: &Path,
        name: &str,
        progress: &ProgressBar,
    ) -> Result<Grade, GradeError> {
        let started = Instant::now();
        let before = self.pristine.ensure()?;
        if !before.is_empty() {
            progress.suspend(|| {
                eprintln!(
                    "warning: the pristine copy had changed before grading {name} (restored): {}",
                    before.join(", ")
                )
            });
        }
        let (intake, taken) = intake::intake(submission, &self.pristine)?;
        let student_files = self.student_files(&taken);
        self.pristine.write_work_tree(&self.work, &student_files)?;
        let mut grade = Grade {
            submission: name.to_string(),
            labs: self.options.labs.clone(),
            seeds: self.options.seeds,
            mode: self.rubric.mode,
            intake,
            refused: Vec::new(),
            build_failure: None,
            tampering: Vec::new(),
            tests: Vec::new(),
            execution_time: Duration::ZERO,
        };
        if self.options.static_check {
            let findings = crate::student_code::check_tree(&self.work, &self.policy)?;
            if !findings.is_empty() {
                grade.refused = findings.iter().map(ToString::to_string).collect();
                self.score_all(&mut grade, "refused by the static check of student code");
                grade.execution_time = started.elapsed();
                return Ok(grade);
            }
        }
        progress.set_message(format!("{name}: building"));
        self.cargo_configs.verify()?;
        let built = self.build()?;
        *self.last_built.lock().unwrap_or_else(|e| e.into_inner()) = student_files;
        let executables = match built {
            Ok(executables) => executables,
            Err(messages) => {
                grade.build_failure = Some(messages);
                self.score_all(&mut grade, "the submission does not compile");
                grade.execution_time = started.elapsed();
                return Ok(grade);
            }
        };
        self.prepare_history_dir();
        let logs = self.logs.join(name);
        let settings = RunSettings {
            cwd: &self.work,
            log_dir: &logs,
            run_dir: &self.runs,
            time_limit: self.options.time_limit,
            memory_limit_mib: self.options.memory_limit_mib,
            run_as: self.options.run_as,
            skip_student_check: !self.options.static_check,
        };
        let mut tasks = Vec::new();
        let mut tests_by_lab = Vec::new();
        for (lab, exe) in &executables {
            let tests = match runner::list_tests(exe, &settings).map_err(io(exe))? {
                Ok(tests) => tests,
                Err(why) => {
                    grade.build_failure = Some(format!("the {lab} test executable: {why}"));
                    self.score_all(&mut grade, "the test executable could not list its tests");
                    grade.execution_time = started.elapsed();
                    return Ok(grade);
                }
            };
            self.rubric.check_suite(lab, &tests)?;
            for test in &tests {
                for seed in 1..=self.options.seeds {
                    tasks.push(RunTask {
                        lab,
                        test: test.clone(),
                        seed,
                        exe: exe.clone(),
                        preset: None,
                    });
                }
            }
            tests_by_lab.push((*lab, tests));
        }
        // The graded checker presets: the checker built against the submission's Raft, each
        // preset one run under the same isolation as a test.
        let graded_presets: Vec<(&'static str, &'static labkit::presets::Preset)> = self
            .options
            .labs
            .iter()
            .flat_map(|lab| self.rubric.presets(lab).into_iter().map(move |p| (*lab, p)))
            .collect();
        let mut preset_failure = None;
        if !graded_presets.is_empty() {
            progress.set_message(format!("{name}: building the model checker"));
            match self.build_checker()? {
                Ok(checker) => {
                    for (lab, preset) in &graded_presets {
                        tasks.push(RunTask {
                            lab,
                            test: preset.name.to_string(),
                            seed: 0,
                            exe: checker.clone(),
                            preset: Some(preset),
                        });
                    }
                }
                Err(messages) => preset_failure = Some(messages),
            }
        }
        progress.set_message(format!("{name}: running {} test runs", tasks.len()));
        let verdicts = runner::run_all(&tasks, &settings, self.options.jobs, progress)
            .map_err(io(&self.logs))?
            .into_iter()
            .map(|v| {
                self.relative_paths(keep_pictures(v, &self.history_dir(), &self.pictures, name))
            })
            .collect::<Vec<_>>();
        // What this submission's code may have done to the grader's own copy.
        grade.tampering = self.pristine.ensure()?;
        let mut by_test: BTreeMap<(&str, String), Vec<(u64, Verdict)>> = BTreeMap::new();
        let mut by_preset: BTreeMap<(&str, &str), Verdict> = BTreeMap::new();
        for (task, verdict) in tasks.iter().zip(verdicts) {
            match task.preset {
                Some(p) => {
                    by_preset.insert((task.lab, p.name), verdict);
                }
                None => by_test
                    .entry((task.lab, task.test.clone()))
                    .or_default()
                    .push((task.seed, verdict)),
            }
        }
        for (lab, tests) in tests_by_lab {
            for test in tests {
                let runs = by_test.remove(&(lab, test.clone())).unwrap_or_default();
                let mut runs = runs.into_iter();
                grade.tests.push(self.test_grade(lab, test, |_| {
                    runs.next().map(|(_, v)| v).expect("one verdict per seed")
                }));
            }
            for preset in self.rubric.presets(lab) {
                let verdict = by_preset.remove(&(lab, preset.name)).unwrap_or_else(|| {
                    Verdict::Failed(format!(
                        "the model checker does not compile against this submission, so no \
                         preset ran. The compiler said:\n{}",
                        preset_failure.as_deref().unwrap_or("(nothing)")
                    ))
                });
                grade.tests.push(self.preset_grade(lab, preset, verdict));
            }
        }
        grade.execution_time = started.elapsed();
        Ok(grade)
    }

    /// A graded preset's grade: one run (the checker is deterministic), scored like a test.
    fn preset_grade(
        &self,
        lab: &'static str,
        preset: &'static labkit::presets::Preset,
        verdict: Verdict,
    ) -> TestGrade {
        let max_score = self.rubric.preset_points(lab, preset.name).unwrap_or(0.0);
        let passed = usize::from(verdict.passed());
        TestGrade {
            lab,
            test: preset.name.to_string(),
            score: self.rubric.score(max_score, passed, 1),
            max_score,
            runs: vec![(0, verdict)],
            preset: Some(preset),
        }
    }

    /// Every test of the graded labs, failed with `why` (nothing was run).
    fn score_all(&self, grade: &mut Grade, why: &str) {
        for lab in &self.options.labs {
            for test in self.rubric.tests(lab) {
                grade
                    .tests
                    .push(self.test_grade(lab, test, |_| Verdict::Failed(why.into())));
            }
            for preset in self.rubric.presets(lab) {
                grade
                    .tests
                    .push(self.preset_grade(lab, preset, Verdict::Failed(why.into())));
            }
        }
    }

    /// The student files to put in the work tree (the submission's, or the handout's stub for a
    /// missing one), each with its modification time: the last build's if the content is the
    /// same, otherwise now.
    fn student_files(
        &self,
        taken: &BTreeMap<String, Vec<u8>>,
    ) -> BTreeMap<String, (Vec<u8>, SystemTime)> {
        let last = self.last_built.lock().unwrap_or_else(|e| e.into_inner());
        let now = SystemTime::now();
        STUDENT_FILES
            .iter()
            .filter_map(|file| {
                let bytes = taken
                    .get(*file)
                    .cloned()
                    .or_else(|| self.pristine.get(file).map(<[u8]>::to_vec))?;
                let modified = match last.get(*file) {
                    Some((before, modified)) if *before == bytes => *modified,
                    _ => now,
                };
                Some((file.to_string(), (bytes, modified)))
            })
            .collect()
    }

    /// Where the KV tests write pictures of bad histories: beside their executable.
    fn history_dir(&self) -> PathBuf {
        self.target_dir.join("release/lab-histories")
    }

    /// The KV tests write pictures of bad histories beside their executable
    /// (`target/release/lab-histories/`): let the test user write there, and only there, and empty
    /// it of the last submission's pictures (each submission's are kept by [`keep_pictures`]).
    fn prepare_history_dir(&self) {
        let dir = self.history_dir();
        let _ = std::fs::remove_dir_all(&dir);
        let _ = std::fs::create_dir_all(&dir);
        #[cfg(unix)]
        if let Some(user) = self.options.run_as {
            let _ = std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid));
        }
    }

    /// Paths in a failure message as the student sees them in their own repository, not as they
    /// are in the grader's scratch folder; the pictures the grader kept, relative to the scratch
    /// folder (`pictures/<submission>/<file>`).
    fn relative_paths(&self, verdict: Verdict) -> Verdict {
        match verdict {
            Verdict::Failed(message) => Verdict::Failed(
                message
                    .replace(&format!("{}/", self.pictures.display()), "pictures/")
                    .replace(&format!("{}/", self.target_dir.display()), "target/")
                    .replace(&format!("{}/", self.work.display()), ""),
            ),
            other => other,
        }
    }

    /// A test's grade, with `verdict(seed)` for each seed.
    fn test_grade(
        &self,
        lab: &'static str,
        test: String,
        mut verdict: impl FnMut(u64) -> Verdict,
    ) -> TestGrade {
        let max_score = self.rubric.points(lab, &test).unwrap_or(0.0);
        let runs: Vec<(u64, Verdict)> = (1..=self.options.seeds)
            .map(|seed| (seed, verdict(seed)))
            .collect();
        let passed = runs.iter().filter(|(_, v)| v.passed()).count();
        TestGrade {
            lab,
            score: self.rubric.score(max_score, passed, runs.len()),
            max_score,
            test,
            runs,
            preset: None,
        }
    }

    /// Build the model checker (`checker`) in the work tree, against the submission's Raft: its
    /// executable, or the compiler's messages.
    fn build_checker(&self) -> Result<Result<PathBuf, String>, GradeError> {
        let stdout_path = self.logs.join("build-checker.json");
        let stderr_path = self.logs.join("build-checker.stderr");
        let stdout = File::create(&stdout_path).map_err(io(&stdout_path))?;
        let stderr = File::create(&stderr_path).map_err(io(&stderr_path))?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(&self.work)
            .args([
                "build",
                "--release",
                "-p",
                "checker",
                "--bin",
                "checker",
                "--message-format=json",
            ])
            .env("CARGO_TARGET_DIR", &self.target_dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        let mut child = command.spawn().map_err(io(&self.work))?;
        let status = child
            .wait_timeout(self.options.build_time_limit)
            .map_err(io(&self.work))?;
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Err(format!(
                "the build did not finish within {}s of real time (killed)",
                self.options.build_time_limit.as_secs()
            )));
        };
        let json = std::fs::read_to_string(&stdout_path).map_err(io(&stdout_path))?;
        let (executables, errors) = build_messages(&json, &["checker"]);
        match executables.into_iter().next() {
            Some((_, exe)) if status.success() => Ok(Ok(exe)),
            _ => {
                blame_the_code(&errors, &stderr_path)?;
                Ok(Err(self.compiler_messages(&errors, &stderr_path)))
            }
        }
    }

    /// The compiler's error messages (or, if it gave none, its stderr), relative to the work
    /// tree and cut to [`MAX_BUILD_MESSAGE_LINES`].
    fn compiler_messages(&self, errors: &[CompilerError], stderr_path: &Path) -> String {
        let mut text = errors
            .iter()
            .map(|e| e.rendered.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        if text.trim().is_empty() {
            text = std::fs::read_to_string(stderr_path).unwrap_or_default();
        }
        // Paths inside the scratch folder mean nothing to the student: show them relative.
        let text = text.replace(&format!("{}/", self.work.display()), "");
        let lines: Vec<&str> = text.lines().collect();
        let mut shown = lines[..lines.len().min(MAX_BUILD_MESSAGE_LINES)].join("\n");
        if lines.len() > MAX_BUILD_MESSAGE_LINES {
            shown.push_str(&format!(
                "\n... ({} more lines)",
                lines.len() - MAX_BUILD_MESSAGE_LINES
            ));
        }
        shown
    }

    /// Build the suites in the work tree: their executables, or the compiler's error messages.
    fn build(&self) -> Result<BuildOutcome, GradeError> {
        std::fs::create_dir_all(&self.logs).map_err(io(&self.logs))?;
        let stdout_path = self.logs.join("build.json");
        let stderr_path = self.logs.join("build.stderr");
        let stdout = File::create(&stdout_path).map_err(io(&stdout_path))?;
        let stderr = File::create(&stderr_path).map_err(io(&stderr_path))?;
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = Command::new(cargo);
        command
            .current_dir(&self.work)
            .args(["test", "--release", "--no-run", "--message-format=json"])
            .env("CARGO_TARGET_DIR", &self.target_dir)
            // The instructor's own flags (say `-D warnings`) must not fail a student's build.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        for lab in &self.options.labs {
            command.args(["--test", lab]);
        }
        let mut child = command.spawn().map_err(io(&self.work))?;
        let status = child
            .wait_timeout(self.options.build_time_limit)
            .map_err(io(&self.work))?;
        let Some(status) = status else {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Err(format!(
                "the build did not finish within {}s of real time (killed)",
                self.options.build_time_limit.as_secs()
            )));
        };
        let json = std::fs::read_to_string(&stdout_path).map_err(io(&stdout_path))?;
        let (mut executables, errors) = build_messages(&json, &self.options.labs);
        if !status.success() {
            blame_the_code(&errors, &stderr_path)?;
            return Ok(Err(self.compiler_messages(&errors, &stderr_path)));
        }
        self.options
            .labs
            .iter()
            .map(|lab| {
                executables
                    .remove(lab)
                    .map(|exe| (*lab, exe))
                    .ok_or(GradeError::NoSuite(lab))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Ok)
    }
}

/// The largest picture (or history) file the grader keeps for a report.
const MAX_KEPT_PICTURE_BYTES: u64 = 64 << 20;

/// A failure message's pictures of bad histories (files in `history_dir`, which the next
/// submission's runs overwrite) copied to `pictures/<submission>/`, and the message made to name
/// the copies. Only plain files named in the message, directly in `history_dir`, of a sane size,
/// are copied (the code under test wrote them: no links followed); a name that cannot be kept
/// stays as it was.
pub fn keep_pictures(
    verdict: Verdict,
    history_dir: &Path,
    pictures: &Path,
    submission: &str,
) -> Verdict {
    let Verdict::Failed(mut message) = verdict else {
        return verdict;
    };
    let prefix = format!("{}/", history_dir.display());
    let folder: String = submission
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    let kept_dir = pictures.join(&folder);
    let mut names = std::collections::BTreeSet::new();
    for (at, _) in message.match_indices(&prefix) {
        let rest = &message[at + prefix.len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        let name = name.trim_end_matches('.').to_string();
        if !name.is_empty() && !name.starts_with('.') {
            names.insert(name);
        }
    }
    for name in names {
        let from = history_dir.join(&name);
        let plain = std::fs::symlink_metadata(&from)
            .is_ok_and(|m| m.file_type().is_file() && m.len() <= MAX_KEPT_PICTURE_BYTES);
        let to = kept_dir.join(&name);
        let copied = plain
            && std::fs::create_dir_all(&kept_dir).is_ok()
            && std::fs::copy(&from, &to).is_ok();
        if copied {
            message = message.replace(&format!("{prefix}{name}"), &to.display().to_string());
        }
    }
    Verdict::Failed(message)
}

/// One error the compiler reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompilerError {
    pub rendered: String,
    /// The error points at source code (it has a span). Errors of the machine (a full disk, a
    /// failed linker, a killed compiler) point at none.
    pub located: bool,
}

/// What machines say when they, not the code, fail a build.
const ENVIRONMENT_FAILURES: &[&str] = &[
    "No space left on device",
    "os error 28",
    "Cannot allocate memory",
    "os error 12",
    "Disk quota exceeded",
    "Too many open files",
    "SIGKILL",
    "signal: 9",
    "Killed",
];

/// A failed build is the submission's fault only when the compiler pointed at code (the reference
/// builds, and only student-owned files differ from it) and the machine reported none of its own
/// failures (a student cannot put text in those: they have no span, and cargo's stderr carries no
/// compiler message under `--message-format=json`). Otherwise the failure is the machine's, and
/// grading it would give a grade the submission did not earn.
pub fn blame_the_code(errors: &[CompilerError], stderr_path: &Path) -> Result<(), GradeError> {
    let stderr = std::fs::read_to_string(stderr_path).unwrap_or_default();
    let environment = errors
        .iter()
        .filter(|e| !e.located)
        .map(|e| e.rendered.as_str())
        .chain(stderr.lines())
        .find(|line| ENVIRONMENT_FAILURES.iter().any(|m| line.contains(m)));
    let located = errors.iter().any(|e| e.located);
    match (environment, located) {
        (None, true) => Ok(()),
        (Some(line), _) => Err(GradeError::BuildEnvironment(line.trim().to_string())),
        (None, false) => {
            let last = errors
                .iter()
                .map(|e| e.rendered.trim().to_string())
                .chain(stderr.lines().map(|l| l.trim().to_string()))
                .rfind(|l| !l.is_empty())
                .unwrap_or_else(|| "cargo said nothing".to_string());
            Err(GradeError::BuildEnvironment(last))
        }
    }
}

/// From cargo's JSON messages: the executables of the targets named in `names`, and the
/// compiler's error messages.
fn build_messages(
    json: &str,
    names: &[&'static str],
) -> (BTreeMap<&'static str, PathBuf>, Vec<CompilerError>) {
    let mut executables = BTreeMap::new();
    let mut errors = Vec::new();
    for line in json.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                let name = message["target"]["name"].as_str().unwrap_or_default();
                if let (Some(target), Some(exe)) = (
                    names.iter().find(|l| **l == name),
                    message["executable"].as_str(),
                ) {
                    executables.insert(*target, PathBuf::from(exe));
                }
            }
            Some("compiler-message") if message["message"]["level"] == "error" => {
                if let Some(rendered) = message["message"]["rendered"].as_str() {
                    let located = message["message"]["spans"]
                        .as_array()
                        .is_some_and(|spans| !spans.is_empty());
                    errors.push(CompilerError {
                        rendered: rendered.to_string(),
                        located,
                    });
                }
            }
            _ => {}
        }
    }
    (executables, errors)
}

/// Write `grade`'s `results.json` and `report.md` into `out`.
pub fn write_results(grade: &Grade, out: &Path) -> Result<(), GradeError> {
    std::fs::create_dir_all(out).map_err(io(out))?;
    let json = serde_json::to_string_pretty(&grade.results_json())
        .map_err(|e| GradeError::Other(e.to_string()))?;
    let results = out.join("results.json");
    std::fs::write(&results, json + "\n").map_err(io(&results))?;
    let report = out.join("report.md");
    std::fs::write(&report, grade.render_markdown()).map_err(io(&report))?;
    Ok(())
}

/// The submissions of a batch: every sub-folder of `folder` (or link to a folder) whose name does
/// not start with a dot, sorted by name.
pub fn batch_submissions(folder: &Path) -> Result<Vec<(String, PathBuf)>, GradeError> {
    let mut subs: Vec<(String, PathBuf)> = std::fs::read_dir(folder)
        .map_err(io(folder))?
        .filter_map(|e| e.ok())
        // `is_dir` follows links: a class split over machines links each share's folders.
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    subs.sort();
    Ok(subs)
}

/// Write the batch CSV: one row per grade.
pub fn write_csv(grades: &[Grade], labs: &[&'static str], path: &Path) -> Result<(), GradeError> {
    let csv_error = |e: csv::Error| GradeError::Other(format!("{}: {e}", path.display()));
    let mut writer = csv::Writer::from_path(path).map_err(csv_error)?;
    writer
        .write_record(Grade::csv_header(labs))
        .map_err(csv_error)?;
    for grade in grades {
        writer.write_record(grade.csv_row()).map_err(csv_error)?;
    }
    writer.flush().map_err(io(path))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cargo's JSON for one compiler error, with or without a span.
    fn error_json(rendered: &str, located: bool) -> String {
        let spans = if located {
            r#"[{"file_name":"raft/src/raft.rs","line_start":3}]"#
        } else {
            "[]"
        };
        format!(
            r#"{{"reason":"compiler-message","message":{{"level":"error","spans":{spans},"rendered":{}}}}}"#,
            serde_json::Value::String(rendered.to_string())
        )
    }

    #[test]
    fn only_a_compiler_error_in_the_code_blames_the_submission() {
        let dir = std::env::temp_dir().join(format!("raftlab-blame-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let stderr = dir.join("build.stderr");
        let blame = |json: &[String], stderr_text: &str| {
            std::fs::write(&stderr, stderr_text).unwrap();
            let (_, errors) = build_messages(&json.join("\n"), &[]);
            blame_the_code(&errors, &stderr)
        };
        let type_error = error_json("error[E0308]: mismatched types", true);
        let aborting = error_json("error: aborting due to 1 previous error", false);
        let full_disk = error_json(
            "error: failed to write libraft.rlib: No space left on device (os error 28)",
            false,
        );
        let cargo_said = "error: could not compile `raft` (lib) due to 1 previous error\n";
        // A type error (with rustc's unlocated "aborting" line) is the code's.
        assert!(blame(&[type_error.clone(), aborting.clone()], cargo_said).is_ok());
        // A full disk, a killed compiler or a silent failure is the machine's, even next to a
        // located error.
        for (json, stderr_text) in [
            (vec![full_disk.clone()], cargo_said),
            (vec![type_error.clone(), full_disk], cargo_said),
            (
                vec![],
                "error: rustc interrupted by SIGKILL, possibly out of memory\n",
            ),
            (
                vec![type_error.clone()],
                "error: could not exec the linker: Killed\n",
            ),
            (vec![aborting], cargo_said),
            (vec![], ""),
        ] {
            let result = blame(&json, stderr_text);
            assert!(
                matches!(result, Err(GradeError::BuildEnvironment(_))),
                "{json:?} {stderr_text:?}: {result:?}"
            );
        }
        // A student cannot claim a full disk from inside the code: located text is not read.
        let forged = error_json("error: No space left on device", true);
        assert!(blame(&[forged], cargo_said).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pictures_are_kept_per_submission_and_named_in_the_message() {
        let root = std::env::temp_dir().join(format!("raftlab-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let (hist, pics) = (
            root.join("target/release/lab-histories"),
            root.join("pictures"),
        );
        std::fs::create_dir_all(&hist).unwrap();
        let message = |name: &str| {
            Verdict::Failed(format!(
                "NOT linearizable. Picture: {0}/{name}.html (history: {0}/{name}.json)",
                hist.display()
            ))
        };
        let text = |v: Verdict| match v {
            Verdict::Failed(m) => m,
            other => panic!("{other:?}"),
        };
        // Two submissions, the same test: each keeps its own picture.
        std::fs::write(hist.join("lab3a-x-seed1.html"), "alice's").unwrap();
        std::fs::write(hist.join("lab3a-x-seed1.json"), "{}").unwrap();
        let alice = text(keep_pictures(
            message("lab3a-x-seed1"),
            &hist,
            &pics,
            "alice",
        ));
        std::fs::write(hist.join("lab3a-x-seed1.html"), "bob's").unwrap();
        let bob = text(keep_pictures(
            message("lab3a-x-seed1"),
            &hist,
            &pics,
            "bob/../x",
        ));
        let kept = |who: &str| pics.join(who).join("lab3a-x-seed1.html");
        assert!(
            alice.contains(&kept("alice").display().to_string()),
            "{alice}"
        );
        assert!(alice.contains(&pics.join("alice/lab3a-x-seed1.json").display().to_string()));
        assert!(
            bob.contains(&kept("bob____x").display().to_string()),
            "{bob}"
        );
        assert_eq!(std::fs::read_to_string(kept("alice")).unwrap(), "alice's");
        assert_eq!(std::fs::read_to_string(kept("bob____x")).unwrap(), "bob's");
        // A link planted by the code under test is not followed; its name stays as it was.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/hostname", hist.join("lab3a-y-seed1.html")).unwrap();
            let carol = text(keep_pictures(
                message("lab3a-y-seed1"),
                &hist,
                &pics,
                "carol",
            ));
            assert!(!pics.join("carol/lab3a-y-seed1.html").exists());
            assert!(carol.contains(&format!("{}/lab3a-y-seed1.html", hist.display())));
        }
        assert_eq!(
            keep_pictures(Verdict::Passed, &hist, &pics, "x"),
            Verdict::Passed
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_batch_is_the_sorted_visible_sub_folders_and_links_to_folders() {
        let dir = std::env::temp_dir().join(format!("raftlab-batch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in [
            "class/bob",
            "class/alice",
            "class/.hidden",
            "elsewhere/carol",
        ] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::fs::write(dir.join("class/notes.txt"), "").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.join("elsewhere/carol"), dir.join("class/carol")).unwrap();
        let names: Vec<String> = batch_submissions(&dir.join("class"))
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        #[cfg(unix)]
        assert_eq!(names, ["alice", "bob", "carol"]);
        #[cfg(not(unix))]
        assert_eq!(names, ["alice", "bob"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
