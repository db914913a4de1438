//! What grading a submission found, and its three renderings: the Markdown report, Gradescope's
//! `results.json`, and a row of the batch CSV.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::json;

use super::intake::{FileSource, Intake};
use super::rubric::{ScoringMode, round2};
use super::runner::Verdict;
use crate::lab::replay_command;
use labkit::presets::Preset;

/// One test's grade, or one graded checker preset's.
#[derive(Clone, Debug, PartialEq)]
pub struct TestGrade {
    pub lab: &'static str,
    /// The test's name, or the preset's.
    pub test: String,
    pub max_score: f64,
    pub score: f64,
    /// Each seed's verdict, by seed (a preset: one run, seed 0; the checker is deterministic).
    pub runs: Vec<(u64, Verdict)>,
    /// Set for a graded checker preset.
    pub preset: Option<&'static Preset>,
}

impl TestGrade {
    /// Its name in reports: the test's, or `checker --preset NAME`.
    pub fn name(&self) -> String {
        match self.preset {
            Some(p) => format!("checker --preset {}", p.name),
            None => self.test.clone(),
        }
    }

    /// Its name in the mutant table: `lab2a/test`, or `preset:NAME`.
    pub fn label(&self) -> String {
        match self.preset {
            Some(p) => format!("preset:{}", p.name),
            None => format!("{}/{}", self.lab, self.test),
        }
    }

    /// The command that replays a run.
    pub fn replay(&self, seed: u64) -> String {
        match self.preset {
            Some(p) => p.command(),
            None => replay_command(self.lab, &self.test, seed),
        }
    }

    pub fn passed_runs(&self) -> usize {
        self.runs.iter().filter(|(_, v)| v.passed()).count()
    }

    pub fn passed(&self) -> bool {
        !self.runs.is_empty() && self.passed_runs() == self.runs.len()
    }

    fn failing(&self) -> impl Iterator<Item = &(u64, Verdict)> {
        self.runs.iter().filter(|(_, v)| !v.passed())
    }

    /// The text Gradescope shows under the test.
    fn output(&self) -> String {
        if let Some(p) = self.preset {
            let mut out = format!(
                "The model checker's preset {} (lab {}: {}; time limit {}s of CPU time): {}.",
                p.name,
                p.lab.to_ascii_uppercase(),
                p.about,
                p.time_limit_secs,
                if self.passed() { "passed" } else { "failed" }
            );
            for (_, verdict) in self.failing() {
                let _ = write!(out, "\n\n{}\nreplay: {}", verdict.describe(), p.command());
            }
            return out;
        }
        let mut out = format!(
            "{} of {} seeds passed.",
            self.passed_runs(),
            self.runs.len()
        );
        for (seed, verdict) in self.failing() {
            let _ = write!(
                out,
                "\n\nseed {seed}: {}\nreplay: {}",
                verdict.describe(),
                self.replay(*seed)
            );
        }
        out
    }
}

/// Everything grading one submission found.
#[derive(Clone, Debug, PartialEq)]
pub struct Grade {
    /// The submission's name (its folder's name).
    pub submission: String,
    pub labs: Vec<&'static str>,
    pub seeds: u64,
    pub mode: ScoringMode,
    pub intake: Intake,
    /// The static check's findings (`file:line:column: why`), when it refused the submission
    /// (which was then neither built nor run).
    pub refused: Vec<String>,
    /// The compiler's messages, when the submission did not build.
    pub build_failure: Option<String>,
    /// Files of the grader's pristine copy that changed while this submission's tests ran
    /// (restored before anything else was graded).
    pub tampering: Vec<String>,
    pub tests: Vec<TestGrade>,
    /// Real time spent grading (kept out of the Markdown report, which is a function of the code).
    pub execution_time: Duration,
}

/// `lab2a` -> `2A`.
pub fn lab_title(lab: &str) -> String {
    lab.trim_start_matches("lab").to_ascii_uppercase()
}

/// Points without a trailing `.0`.
pub fn points(x: f64) -> String {
    let x = round2(x);
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

impl Grade {
    pub fn score(&self) -> f64 {
        round2(self.tests.iter().map(|t| t.score).sum())
    }

    pub fn max_score(&self) -> f64 {
        round2(self.tests.iter().map(|t| t.max_score).sum())
    }

    /// (score, max score, tests passed, tests) of one lab.
    pub fn lab_totals(&self, lab: &str) -> (f64, f64, usize, usize) {
        let tests: Vec<&TestGrade> = self.tests.iter().filter(|t| t.lab == lab).collect();
        (
            round2(tests.iter().map(|t| t.score).sum()),
            round2(tests.iter().map(|t| t.max_score).sum()),
            tests.iter().filter(|t| t.passed()).count(),
            tests.len(),
        )
    }

    fn seeds_text(&self) -> String {
        if self.seeds == 1 {
            "seed 1".into()
        } else {
            format!("seeds 1-{}", self.seeds)
        }
    }

    /// Notes about the submission itself: files taken, ignored edits, build failure (Markdown).
    fn submission_notes(&self) -> String {
        let mut out = String::new();
        out.push_str("## Files graded\n\n");
        for (file, source) in &self.intake.files {
            let line = match source {
                FileSource::Submitted(from) if from == file => format!("- `{file}`\n"),
                FileSource::Submitted(from) => format!("- `{file}` (from `{from}`)\n"),
                FileSource::Missing => {
                    format!(
                        "- `{file}`: **missing** from the submission; the handout's stub was used\n"
                    )
                }
                FileSource::Refused { found, reason } => format!(
                    "- `{file}`: `{found}` was **refused** ({reason}); the handout's stub was used\n"
                ),
            };
            out.push_str(&line);
        }
        if self.intake.ignored_total > 0 {
            let _ = write!(
                out,
                "\n## Ignored changes\n\nOnly the files above are graded. These {} differ from the pristine \
                 copy, and grading used the pristine version:\n\n",
                if self.intake.ignored_total == 1 {
                    "1 file".to_string()
                } else {
                    format!("{} files", self.intake.ignored_total)
                }
            );
            for change in &self.intake.ignored {
                let _ = writeln!(
                    out,
                    "- `{}` ({})",
                    change.path,
                    if change.added { "added" } else { "changed" }
                );
            }
            let unlisted = self.intake.ignored_total - self.intake.ignored.len();
            if unlisted > 0 {
                let _ = writeln!(out, "- ... and {unlisted} more");
            }
        }
        if !self.refused.is_empty() {
            let _ = write!(
                out,
                "\n## Refused by the static check\n\nThe student files break the rules of the labs (no \
                 threads, clocks, randomness or I/O; only what `labkit/student-code.toml` allows), so \
                 nothing was built or run and every test scores 0. `cargo test` shows the same \
                 findings in your own repository.\n\n```text\n{}\n```\n",
                self.refused.join("\n")
            );
        }
        if !self.tampering.is_empty() {
            let _ = write!(
                out,
                "\n## Grader files changed\n\nWhile this submission's tests ran, files of the grader's \
                 pristine copy changed (they were restored before anything else was graded):\n\n{}",
                self.tampering
                    .iter()
                    .map(|t| format!("- `{t}`\n"))
                    .collect::<String>()
            );
        }
        if let Some(failure) = &self.build_failure {
            let _ = write!(
                out,
                "\n## Build failed\n\nThe submission does not compile, so every test scores 0. The compiler said:\n\n```text\n{}\n```\n",
                failure.trim_end()
            );
        }
        out
    }

    /// The Markdown report: totals per lab, the files graded, points per test, and every failing
    /// seed with the command that replays it.
    pub fn render_markdown(&self) -> String {
        let mut out = format!(
            "# raftlab grade: {}\n\n**{} / {} points** (labs {}; {} per test; {} scoring)\n\n",
            self.submission,
            points(self.score()),
            points(self.max_score()),
            self.labs
                .iter()
                .map(|l| lab_title(l))
                .collect::<Vec<_>>()
                .join(", "),
            self.seeds_text(),
            match self.mode {
                ScoringMode::Proportional => "proportional",
                ScoringMode::AllOrNothing => "all-or-nothing",
            }
        );
        out.push_str("| lab | points | tests passed |\n|---|---:|---:|\n");
        for lab in &self.labs {
            let (score, max, passed, tests) = self.lab_totals(lab);
            let _ = writeln!(
                out,
                "| {} | {} / {} | {passed} / {tests} |",
                lab_title(lab),
                points(score),
                points(max)
            );
        }
        let _ = writeln!(
            out,
            "| **total** | **{} / {}** | {} / {} |\n",
            points(self.score()),
            points(self.max_score()),
            self.tests.iter().filter(|t| t.passed()).count(),
            self.tests.len()
        );
        out.push_str(&self.submission_notes());
        out.push_str("\n## Points per test\n");
        for lab in &self.labs {
            let _ = write!(
                out,
                "\n### {}\n\n| test | seeds passed | points |\n|---|---:|---:|\n",
                lab_title(lab)
            );
            for t in self.tests.iter().filter(|t| t.lab == *lab) {
                let _ = writeln!(
                    out,
                    "| {} | {} / {} | {} / {} |",
                    t.name(),
                    t.passed_runs(),
                    t.runs.len(),
                    points(t.score),
                    points(t.max_score)
                );
            }
        }
        let failing: Vec<&TestGrade> = self.tests.iter().filter(|t| !t.passed()).collect();
        if self.build_failure.is_none() && self.refused.is_empty() && !failing.is_empty() {
            out.push_str(
                "\n## Failing runs\n\nEach command replays the run exactly, in the student's own repository.\n",
            );
            for t in failing {
                let _ = writeln!(out, "\n### {} {}\n", t.lab, t.name());
                for (seed, verdict) in t.failing() {
                    let seed_text = if t.preset.is_some() {
                        "the search".to_string()
                    } else {
                        format!("seed {seed}")
                    };
                    let text = verdict.describe();
                    if text.contains('\n') {
                        let _ = writeln!(
                            out,
                            "- {seed_text}:\n\n  ```text\n{}\n  ```\n",
                            text.lines()
                                .map(|l| format!("  {l}"))
                                .collect::<Vec<_>>()
                                .join("\n")
                        );
                    } else {
                        let _ = writeln!(out, "- {seed_text}: {text}");
                    }
                    let _ = writeln!(out, "  replay: `{}`", t.replay(*seed));
                }
            }
        }
        out
    }

    /// Gradescope's `results.json`.
    pub fn results_json(&self) -> serde_json::Value {
        let tests: Vec<serde_json::Value> = self
            .tests
            .iter()
            .map(|t| {
                json!({
                    "name": format!("{} {}", lab_title(t.lab), t.name()),
                    "score": t.score,
                    "max_score": t.max_score,
                    "status": if t.passed() { "passed" } else { "failed" },
                    "output": match (&self.build_failure, self.refused.is_empty()) {
                        (_, false) => "The submission was refused by the static check of student code: see above.".to_string(),
                        (Some(_), true) => "The submission does not compile: see the build failure above.".to_string(),
                        (None, true) => t.output(),
                    },
                    "visibility": "visible",
                })
            })
            .collect();
        json!({
            "score": self.score(),
            "execution_time": self.execution_time.as_secs_f64().ceil() as u64,
            "output": format!(
                "**{} / {} points** ({} per test)\n\n{}",
                points(self.score()),
                points(self.max_score()),
                self.seeds_text(),
                self.submission_notes()
            ),
            "output_format": "md",
            "visibility": "visible",
            "stdout_visibility": "hidden",
            "tests": tests,
        })
    }

    /// The batch CSV's header for these labs.
    pub fn csv_header(labs: &[&'static str]) -> Vec<String> {
        let mut header = vec!["submission".to_string(), "score".into(), "max_score".into()];
        header.extend(labs.iter().map(|l| lab_title(l)));
        header.extend([
            "build".into(),
            "missing_files".into(),
            "ignored_changes".into(),
        ]);
        header
    }

    /// This grade as a row under [`Grade::csv_header`].
    pub fn csv_row(&self) -> Vec<String> {
        let mut row = vec![
            self.submission.clone(),
            points(self.score()),
            points(self.max_score()),
        ];
        row.extend(self.labs.iter().map(|l| points(self.lab_totals(l).0)));
        row.extend([
            if !self.refused.is_empty() {
                "refused".into()
            } else if self.build_failure.is_some() {
                "failed".into()
            } else {
                "ok".into()
            },
            self.intake
                .missing()
                .map(|(f, _)| *f)
                .collect::<Vec<_>>()
                .join(" "),
            self.intake.ignored_total.to_string(),
        ]);
        row
    }
}
