//! Taking a submission in: only the student-owned files are copied into the grader's work tree;
//! every other file of the submission is compared with the pristine copy, and any difference is
//! reported as ignored.
//!
//! A submission may be the student's repository (files at their repository paths), the same
//! repository inside one top-level folder (a zip of the repository), or the bare files side by side
//! (`raft.rs`, `server.rs`, ... as a Gradescope upload gives them).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use super::GradeError;
use super::pristine::Pristine;

/// The files a student writes: everything else comes from the pristine copy.
pub use crate::student_code::STUDENT_FILES;

/// Larger student files are refused (no real Raft needs a megabyte of source).
pub const MAX_STUDENT_FILE_BYTES: u64 = 1 << 20;

/// Directories never looked into when listing a submission's other files.
const SKIPPED_DIRS: &[&str] = &["target", ".git", "node_modules"];
/// Files whose differences are expected and not worth reporting (cargo rewrites the lock file).
const UNREPORTED_FILES: &[&str] = &["Cargo.lock"];
/// At most this many ignored changes are listed one by one.
pub const MAX_LISTED_CHANGES: usize = 50;

/// Where a student-owned file came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileSource {
    /// Copied from this path (relative to the submission).
    Submitted(String),
    /// Not in the submission: the handout's stub was used.
    Missing,
    /// Present but refused (a symbolic link, too large, ...): the handout's stub was used.
    Refused { found: String, reason: String },
}

/// An edit outside the student-owned files, which grading ignores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredChange {
    /// Path relative to the submission's repository root.
    pub path: String,
    /// True for a file the pristine copy does not have; false for a changed one.
    pub added: bool,
}

/// What was taken from a submission.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intake {
    pub files: Vec<(&'static str, FileSource)>,
    /// Ignored edits (at most [`MAX_LISTED_CHANGES`]) and how many there were in all.
    pub ignored: Vec<IgnoredChange>,
    pub ignored_total: usize,
}

impl Intake {
    pub fn missing(&self) -> impl Iterator<Item = &(&'static str, FileSource)> {
        self.files
            .iter()
            .filter(|(_, s)| !matches!(s, FileSource::Submitted(_)))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GradeError + '_ {
    move |source| GradeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The folder of `submission` that holds its repository: the submission itself, or its only
/// sub-folder that has the student files at their repository paths. `None` for a flat upload.
fn repository_root(submission: &Path) -> Option<PathBuf> {
    let has_layout = |dir: &Path| STUDENT_FILES.iter().any(|f| dir.join(f).exists());
    if has_layout(submission) {
        return Some(submission.to_path_buf());
    }
    let mut candidates = std::fs::read_dir(submission)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir() && has_layout(p));
    let first = candidates.next()?;
    candidates.next().is_none().then_some(first)
}

/// The student-owned files of `submission` (by repository path; a missing or refused one is left
/// out, so the handout's stub is used), and every other difference between the submission and
/// the pristine copy.
pub fn intake(
    submission: &Path,
    pristine: &Pristine,
) -> Result<(Intake, BTreeMap<String, Vec<u8>>), GradeError> {
    if !submission.is_dir() {
        return Err(GradeError::NotADirectory(submission.to_path_buf()));
    }
    let repo = repository_root(submission);
    let mut intake = Intake::default();
    let mut taken = BTreeMap::new();
    for &file in STUDENT_FILES {
        // At its repository path, or (flat upload) by its bare name at the top.
        let candidates = [
            repo.as_ref().map(|r| r.join(file)),
            Some(submission.join(file.rsplit('/').next().unwrap_or(file))),
        ];
        let found = candidates
            .into_iter()
            .flatten()
            .find(|p| p.symlink_metadata().is_ok_and(|m| !m.file_type().is_dir()));
        let source = match found {
            None => FileSource::Missing,
            Some(path) => {
                let shown = path
                    .strip_prefix(submission)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                let meta = path.symlink_metadata().map_err(io(&path))?;
                if !meta.file_type().is_file() {
                    FileSource::Refused {
                        found: shown,
                        reason: "not a regular file (a symbolic link?)".into(),
                    }
                } else if meta.len() > MAX_STUDENT_FILE_BYTES {
                    FileSource::Refused {
                        found: shown,
                        reason: format!(
                            "{} bytes, over the limit of {MAX_STUDENT_FILE_BYTES}",
                            meta.len()
                        ),
                    }
                } else {
                    taken.insert(file.to_string(), std::fs::read(&path).map_err(io(&path))?);
                    FileSource::Submitted(shown)
                }
            }
        };
        intake.files.push((file, source));
    }
    if let Some(repo) = repo {
        list_ignored_changes(&repo, pristine, &mut intake)?;
    }
    Ok((intake, taken))
}

fn list_ignored_changes(
    repo: &Path,
    pristine: &Pristine,
    intake: &mut Intake,
) -> Result<(), GradeError> {
    let walk = WalkDir::new(repo)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir()
                && e.depth() > 0
                && SKIPPED_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
        });
    for entry in walk {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(repo) else {
            continue;
        };
        let rel = rel.to_string_lossy().replace('\\', "/");
        if STUDENT_FILES.contains(&rel.as_str()) || UNREPORTED_FILES.contains(&rel.as_str()) {
            continue;
        }
        let ours = pristine.get(&rel);
        let added = ours.is_none();
        let changed = added
            || !entry.file_type().is_file()
            || std::fs::read(entry.path()).ok().as_deref() != ours;
        if changed {
            intake.ignored_total += 1;
            if intake.ignored.len() < MAX_LISTED_CHANGES {
                intake.ignored.push(IgnoredChange { path: rel, added });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grader takes exactly the files the lab registry names as the students'.
    #[test]
    fn the_student_files_are_the_registrys() {
        assert_eq!(STUDENT_FILES, crate::registry::student_files());
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("raftlab-intake-{}-{name}", std::process::id()));
        let _ = super::super::pristine::remove_tree(&dir);
        dir
    }

    /// A pristine copy of a tiny repository (the handout generator copies every file of a folder
    /// that is not a git checkout).
    fn pristine(dir: &Path) -> Pristine {
        let repo = dir.join("repo");
        for f in STUDENT_FILES {
            write(&repo.join(f), "stub\n");
        }
        write(&repo.join("tests/lab2a.rs"), "the real test\n");
        Pristine::write(&repo, &dir.join("pristine")).unwrap()
    }

    #[test]
    fn only_student_files_are_taken_and_other_edits_are_reported() {
        let dir = scratch("repo");
        let pristine = pristine(&dir);
        let sub = dir.join("sub/my-raftlab");
        write(&sub.join("raft/src/raft.rs"), "mine\n");
        write(&sub.join("tests/lab2a.rs"), "fn always_pass() {}\n");
        write(&sub.join("notes.txt"), "hi\n");
        write(&sub.join("target/debug/junk"), "x\n");
        let (intake, taken) = intake(&dir.join("sub"), &pristine).unwrap();
        assert_eq!(
            intake.files[0],
            (
                "raft/src/raft.rs",
                FileSource::Submitted("my-raftlab/raft/src/raft.rs".into())
            )
        );
        assert_eq!(intake.files[1].1, FileSource::Missing);
        assert_eq!(
            taken.get("raft/src/raft.rs").map(Vec::as_slice),
            Some(&b"mine\n"[..])
        );
        assert_eq!(taken.len(), 1, "only the student files are taken");
        assert_eq!(
            intake.ignored,
            vec![
                IgnoredChange {
                    path: "notes.txt".into(),
                    added: true
                },
                IgnoredChange {
                    path: "tests/lab2a.rs".into(),
                    added: false
                }
            ]
        );
        super::super::pristine::remove_tree(&dir).unwrap();
    }

    #[test]
    fn flat_uploads_work_and_symlinks_are_refused() {
        let dir = scratch("flat");
        let pristine = pristine(&dir);
        let sub = dir.join("sub");
        write(&sub.join("server.rs"), "my server\n");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", sub.join("raft.rs")).unwrap();
        let (intake, taken) = intake(&sub, &pristine).unwrap();
        assert_eq!(
            taken.get("kvraft/src/server.rs").map(Vec::as_slice),
            Some(&b"my server\n"[..])
        );
        #[cfg(unix)]
        assert!(
            matches!(&intake.files[0].1, FileSource::Refused { found, .. } if found == "raft.rs")
        );
        assert!(!taken.contains_key("raft/src/raft.rs"));
        super::super::pristine::remove_tree(&dir).unwrap();
    }
}
