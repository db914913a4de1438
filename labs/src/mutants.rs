//! `labs mutants`: run the lab suites against every classic mistake in the mutant catalog
//! (`labs/mutants/*.patch`) and show which tests catch each one.
//!
//! A scratch copy of the repository's tracked files is made once (under the target directory);
//! for each mutant the patched files are restored from the repository, the patch is applied with
//! `git apply`, and the suites are built (sharing one target directory, so only the patched crate
//! and its dependents recompile) and run like `labs run` does.

use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::ProgressBar;

use crate::handout::tracked_files;
use crate::suites::{SuiteError, build_suites_with, run_suite};

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutantResult {
    pub mutant: Mutant,
    /// `labXY/test` of every test with a failing run.
    pub caught_by: Vec<String>,
    /// Set when the patched tree did not build (which also counts as caught).
    pub build_failure: Option<String>,
}

impl MutantResult {
    pub fn caught(&self) -> bool {
        self.build_failure.is_some() || !self.caught_by.is_empty()
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
    let dir = root.join("labs/mutants");
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

fn copy_file(from: &Path, to: &Path) -> Result<(), MutantError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| MutantError::Io(format!("{}: {e}", parent.display())))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| MutantError::Io(format!("{} -> {}: {e}", from.display(), to.display())))
}

fn read_all(dir: &Path, files: &[String]) -> Result<Vec<String>, MutantError> {
    files
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.join(f)).map_err(|e| MutantError::Io(format!("{f}: {e}")))
        })
        .collect()
}

/// Copy the repository's tracked files into `scratch` (once per `labs mutants` run).
pub fn prepare_scratch(root: &Path, scratch: &Path) -> Result<(), MutantError> {
    let files = tracked_files(root).map_err(|e| MutantError::Io(e.to_string()))?;
    for rel in files {
        let src = root.join(&rel);
        if src.is_file() {
            copy_file(&src, &scratch.join(&rel))?;
        }
    }
    Ok(())
}

/// Where and how to run the suites against mutants.
pub struct MutantRun<'a> {
    /// The repository (pristine files come from here).
    pub root: &'a Path,
    /// The scratch copy made by [`prepare_scratch`].
    pub scratch: &'a Path,
    /// The target directory shared by every mutant's build.
    pub target_dir: &'a Path,
    pub labs: &'a [&'static str],
    pub seeds: u64,
    pub jobs: usize,
}

/// Restore the files `mutant` touches, apply its patch in the scratch copy, build and run the
/// suites there.
pub fn run_mutant(run: &MutantRun<'_>, mutant: &Mutant) -> Result<MutantResult, MutantError> {
    let (root, scratch) = (run.root, run.scratch);
    for file in &mutant.files {
        copy_file(&root.join(file), &scratch.join(file))?;
    }
    let before = read_all(scratch, &mutant.files)?;
    // The scratch copy may sit inside the repository (under target/): stop git from finding the
    // enclosing repository, in which it would skip every path outside the current directory.
    let ceiling = scratch.parent().unwrap_or(scratch);
    let applied = Command::new("git")
        .current_dir(scratch)
        .env("GIT_CEILING_DIRECTORIES", ceiling)
        .arg("apply")
        .arg(&mutant.patch)
        .output()
        .map_err(|e| MutantError::Io(format!("git apply: {e}")))?;
    if applied.status.success() && read_all(scratch, &mutant.files)? == before {
        return Err(MutantError::Catalog {
            path: mutant.patch.clone(),
            message: "git apply changed nothing".to_string(),
        });
    }
    if !applied.status.success() {
        return Err(MutantError::Catalog {
            path: mutant.patch.clone(),
            message: format!(
                "does not apply to the reference: {}",
                String::from_utf8_lossy(&applied.stderr).trim()
            ),
        });
    }
    let mut result = MutantResult {
        mutant: mutant.clone(),
        caught_by: Vec::new(),
        build_failure: None,
    };
    let executables = match build_suites_with(scratch, run.labs, Some(run.target_dir)) {
        Ok(executables) => executables,
        Err(SuiteError::Command { output, .. }) => {
            result.build_failure = Some(output.lines().take(20).collect::<Vec<_>>().join("\n"));
            // Restore the pristine files for the next mutant.
            for file in &mutant.files {
                copy_file(&root.join(file), &scratch.join(file))?;
            }
            return Ok(result);
        }
        Err(e) => return Err(e.into()),
    };
    for (lab, exe) in executables {
        let suite = run_suite(lab, &exe, run.seeds, run.jobs, &ProgressBar::hidden())?;
        for (test, runs) in &suite.tests {
            if runs.runs.iter().any(|r| !r.ok) {
                result.caught_by.push(format!("{lab}/{test}"));
            }
        }
        if let Some(crash) = suite.crashed {
            result.caught_by.push(format!("{lab} ({crash})"));
        }
    }
    for file in &mutant.files {
        copy_file(&root.join(file), &scratch.join(file))?;
    }
    Ok(result)
}

/// The table `labs mutants` prints: one row per mutant, the tests that catch it.
pub fn render_table(results: &[MutantResult]) -> String {
    let width = results
        .iter()
        .map(|r| r.mutant.name.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut out = format!("{:<width$}  {:<3}  caught by\n", "mutant", "lab");
    for r in results {
        let caught = if let Some(_failure) = &r.build_failure {
            "(does not build)".to_string()
        } else if r.caught_by.is_empty() {
            "NOT CAUGHT".to_string()
        } else {
            r.caught_by.join(" ")
        };
        out.push_str(&format!(
            "{:<width$}  {:<3}  {caught}\n",
            r.mutant.name, r.mutant.lab
        ));
    }
    let caught = results.iter().filter(|r| r.caught()).count();
    out.push_str(&format!("{caught} of {} mutants caught\n", results.len()));
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
        assert!(catalog.iter().all(|m| m.files == ["raft/src/raft.rs"]));
    }

    #[test]
    fn the_table_says_what_caught_each_mutant() {
        let m = parse_mutant(Path::new("x.patch"), PATCH).unwrap();
        let caught = MutantResult {
            mutant: m.clone(),
            caught_by: vec!["lab2c/figure8".into()],
            build_failure: None,
        };
        let missed = MutantResult {
            mutant: Mutant {
                name: "no-step-down".into(),
                ..m
            },
            caught_by: vec![],
            build_failure: None,
        };
        assert_eq!(
            render_table(&[caught, missed]),
            "mutant        lab  caught by\nvote-twice    2A   lab2c/figure8\nno-step-down  2A   NOT CAUGHT\n1 of 2 mutants caught\n"
        );
    }
}
