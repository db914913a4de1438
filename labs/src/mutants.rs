//! `labs mutants`: run the lab suites against every classic mistake in the mutant catalog
//! (`labs/mutants/*.patch`) and show which tests catch each one.
//!
//! Each mutant is graded exactly like a student submission ([`crate::grade`]): the reference's
//! student-owned files with the patch applied (by `git apply`) go through the grader, whose shared
//! target directory means only the patched crate and its dependents recompile. A mutant is caught
//! when it loses points.

use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::ProgressBar;

use crate::grade::intake::STUDENT_FILES;
use crate::grade::rubric::round2;
use crate::grade::{GradeError, Grader};
use crate::suites::SuiteError;

/// One entry of the catalog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mutant {
    pub name: String,
    /// The lab whose material the mistake belongs to (`2A` ... `3B`).
    pub lab: String,
    /// What the mistake is, in a sentence.
    pub what: String,
    pub patch: PathBuf,
    /// The files the patch changes (repository-relative).
    pub files: Vec<String>,
}

/// What running the suites against one mutant found.
#[derive(Clone, Debug, PartialEq)]
pub struct MutantResult {
    pub mutant: Mutant,
    /// `labXY/test` of every test with a failing run, and `preset:NAME` of every graded checker
    /// preset that failed.
    pub caught_by: Vec<String>,
    /// Set when the patched tree did not build. Such a mutant is not caught: it is a broken
    /// catalog entry (a mistake a student could hand in compiles), and its lost points say
    /// nothing about the tests.
    pub build_failure: Option<String>,
    /// The static check's findings, when it refused the patched code. Such a mutant is not
    /// caught either: every catalog mutant must pass the static check (a test says so), so a
    /// refusal is a broken catalog entry too.
    pub refused: Vec<String>,
    /// Points the mutant lost under the rubric.
    pub lost: f64,
}

impl MutantResult {
    /// A mutant is caught when it passes the static check, builds and loses points.
    pub fn caught(&self) -> bool {
        self.build_failure.is_none() && self.refused.is_empty() && self.lost > 0.0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MutantError {
    #[error("{path}: {message}")]
    Catalog { path: PathBuf, message: String },
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Grade(#[from] GradeError),
}

/// Parse a patch's header (`Mutant NAME (lab 2A): what it does.`) and the files it changes.
pub fn parse_mutant(patch: &Path, text: &str) -> Result<Mutant, MutantError> {
    let bad = |message: &str| MutantError::Catalog {
        path: patch.to_path_buf(),
        message: message.to_string(),
    };
    let first = text.lines().next().unwrap_or_default();
    let rest = first
        .strip_prefix("Mutant ")
        .ok_or_else(|| bad("the first line must be `Mutant NAME (lab 2A): what it does.`"))?;
    let (name, rest) = rest
        .split_once(" (lab ")
        .ok_or_else(|| bad("missing `(lab ...)` on the first line"))?;
    let (lab, what) = rest
        .split_once("): ")
        .ok_or_else(|| bad("missing `): ` after the lab"))?;
    let files: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("+++ b/"))
        .map(str::to_string)
        .collect();
    if files.is_empty() {
        return Err(bad("the patch changes no file"));
    }
    Ok(Mutant {
        name: name.to_string(),
        lab: lab.to_string(),
        what: what.trim_end_matches('.').to_string(),
        patch: patch.to_path_buf(),
        files,
    })
}

/// Every mutant in `root/labs/mutants`, sorted by name.
pub fn catalog(root: &Path) -> Result<Vec<Mutant>, MutantError> {
    catalog_in(&root.join("labs/mutants"))
}

/// Every mutant (`*.patch`) in the folder `dir`, sorted by name.
pub fn catalog_in(dir: &Path) -> Result<Vec<Mutant>, MutantError> {
    let dir = dir.to_path_buf();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| MutantError::Io(format!("{}: {e}", dir.display())))?;
    let mut patches: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "patch"))
        .collect();
    patches.sort();
    patches
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .map_err(|e| MutantError::Io(format!("{}: {e}", p.display())))?;
            parse_mutant(p, &text)
        })
        .collect()
}

/// Write `mutant` as a submission under `dir/<name>`: the reference's student-owned files with
/// the patch applied. Returns the submission's folder.
pub fn write_submission(root: &Path, mutant: &Mutant, dir: &Path) -> Result<PathBuf, MutantError> {
    let io = |path: &Path, e: std::io::Error| MutantError::Io(format!("{}: {e}", path.display()));
    if let Some(file) = mutant
        .files
        .iter()
        .find(|f| !STUDENT_FILES.contains(&f.as_str()))
    {
        return Err(MutantError::Catalog {
            path: mutant.patch.clone(),
            message: format!("changes {file}, which is not a student-owned file"),
        });
    }
    let submission = dir.join(&mutant.name);
    if submission.exists() {
        std::fs::remove_dir_all(&submission).map_err(|e| io(&submission, e))?;
    }
    for file in STUDENT_FILES {
        let (from, to) = (root.join(file), submission.join(file));
        std::fs::create_dir_all(to.parent().unwrap_or(&submission)).map_err(|e| io(&to, e))?;
        std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
    }
    let read = |files: &[String]| -> Result<Vec<String>, MutantError> {
        files
            .iter()
            .map(|f| std::fs::read_to_string(submission.join(f)).map_err(|e| io(Path::new(f), e)))
            .collect()
    };
    let before = read(&mutant.files)?;
    // The submission may sit inside the repository (under target/): stop git from finding the
    // enclosing repository, in which it would skip every path outside the current directory.
    let applied = Command::new("git")
        .current_dir(&submission)
        .env("GIT_CEILING_DIRECTORIES", dir)
        .arg("apply")
        .arg(&mutant.patch)
        .output()
        .map_err(|e| MutantError::Io(format!("git apply: {e}")))?;
    if !applied.status.success() {
        return Err(MutantError::Catalog {
            path: mutant.patch.clone(),
            message: format!(
                "does not apply to the reference: {}",
                String::from_utf8_lossy(&applied.stderr).trim()
            ),
        });
    }
    if read(&mutant.files)? == before {
        return Err(MutantError::Catalog {
            path: mutant.patch.clone(),
            message: "git apply changed nothing".to_string(),
        });
    }
    Ok(submission)
}

/// Grade one mutant like a submission.
pub fn grade_mutant(
    grader: &Grader,
    root: &Path,
    mutant: &Mutant,
    dir: &Path,
) -> Result<MutantResult, MutantError> {
    let submission = write_submission(root, mutant, dir)?;
    let grade = grader.grade(&submission, &mutant.name, &ProgressBar::hidden())?;
    Ok(MutantResult {
        mutant: mutant.clone(),
        caught_by: grade
            .tests
            .iter()
            .filter(|t| !t.passed())
            .map(|t| t.label())
            .collect(),
        build_failure: grade.build_failure.clone(),
        refused: grade.refused.clone(),
        lost: round2(grade.max_score() - grade.score()),
    })
}

/// The table `labs mutants` prints: one row per mutant, the points it lost and the tests that
/// catch it.
pub fn render_table(results: &[MutantResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.mutant.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!(
        "{:<width$}  {:<3}  {:>6}  caught by\n",
        "mutant", "lab", "lost"
    );
    for r in results {
        let caught = if let Some(finding) = r.refused.first() {
            let first = finding.lines().next().unwrap_or_default();
            format!("REFUSED BY THE STATIC CHECK (fix the patch): {first}")
        } else if r.build_failure.is_some() {
            "DOES NOT BUILD (fix the patch)".to_string()
        } else if r.caught_by.is_empty() {
            "NOT CAUGHT".to_string()
        } else {
            r.caught_by.join(" ")
        };
        out.push_str(&format!(
            "{:<width$}  {:<3}  {:>6}  {caught}\n",
            r.mutant.name,
            r.mutant.lab,
            crate::grade::report::points(r.lost)
        ));
    }
    let caught = results.iter().filter(|r| r.caught()).count();
    out.push_str(&format!(
        "{caught} of {} mutants caught (passed the static check, built and lost points)\n",
        results.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCH: &str = "Mutant vote-twice (lab 2A): votes twice in a term.\n\ndiff --git a/raft/src/raft.rs b/raft/src/raft.rs\n--- a/raft/src/raft.rs\n+++ b/raft/src/raft.rs\n@@ -1 +1 @@\n-a\n+b\n";

    #[test]
    fn headers_and_files_are_parsed() {
        let m = parse_mutant(Path::new("x.patch"), PATCH).unwrap();
        assert_eq!(
            (m.name.as_str(), m.lab.as_str(), m.what.as_str()),
            ("vote-twice", "2A", "votes twice in a term")
        );
        assert_eq!(m.files, vec!["raft/src/raft.rs".to_string()]);
        assert!(matches!(
            parse_mutant(Path::new("x.patch"), "diff --git a/x b/x\n"),
            Err(MutantError::Catalog { .. })
        ));
    }

    #[test]
    fn the_catalog_in_this_repository_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let catalog = catalog(root).unwrap();
        assert!(catalog.len() >= 10, "{catalog:?}");
        assert!(
            catalog
                .iter()
                .all(|m| m.files.iter().all(|f| STUDENT_FILES.contains(&f.as_str()))),
            "every mutant must change student-owned files only"
        );
    }

    #[test]
    fn the_table_says_what_caught_each_mutant() {
        let m = parse_mutant(Path::new("x.patch"), PATCH).unwrap();
        let caught = MutantResult {
            mutant: m.clone(),
            caught_by: vec!["lab2c/figure8".into()],
            build_failure: None,
            refused: vec![],
            lost: 12.5,
        };
        let missed = MutantResult {
            mutant: Mutant {
                name: "no-step-down".into(),
                ..m
            },
            caught_by: vec![],
            build_failure: None,
            refused: vec![],
            lost: 0.0,
        };
        let broken = MutantResult {
            mutant: Mutant {
                name: "typo".into(),
                ..caught.mutant.clone()
            },
            caught_by: vec!["lab2a/initial_election".into()],
            build_failure: Some("error[E0308]: mismatched types".into()),
            refused: vec![],
            lost: 40.0,
        };
        assert!(
            !broken.caught(),
            "a mutant that does not build is not caught"
        );
        let refused = MutantResult {
            mutant: Mutant {
                name: "clocked".into(),
                ..caught.mutant.clone()
            },
            caught_by: vec!["lab2a/initial_election".into()],
            build_failure: None,
            refused: vec!["raft/src/raft.rs:3: std::time::Instant is not allowed\n  detail".into()],
            lost: 40.0,
        };
        assert!(
            !refused.caught(),
            "a mutant the static check refuses is not caught"
        );
        assert_eq!(
            render_table(&[caught, missed, broken, refused]),
            "mutant        lab    lost  caught by\n\
             vote-twice    2A     12.5  lab2c/figure8\n\
             no-step-down  2A        0  NOT CAUGHT\n\
             typo          2A       40  DOES NOT BUILD (fix the patch)\n\
             clocked       2A       40  REFUSED BY THE STATIC CHECK (fix the patch): raft/src/raft.rs:3: std::time::Instant is not allowed\n\
             1 of 4 mutants caught (passed the static check, built and lost points)\n"
        );
    }
}
