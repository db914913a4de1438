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

/// The files a student writes: everything else comes from the pristine copy.
pub const STUDENT_FILES: &[&str] = &[
    "raft/src/raft.rs",
    "raft/src/messages.rs",
    "kvraft/src/common.rs",
    "kvraft/src/server.rs",
    "kvraft/src/client.rs",
];

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

/// Make the work tree the pristine copy with the student-owned files of `submission` in it, and
/// list every other difference between the submission and `pristine`.
pub fn intake(submission: &Path, pristine: &Path, work: &Path) -> Result<Intake, GradeError> {
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
    sync_tree(pristine, work, &taken)?;
    if let Some(repo) = repo {
        list_ignored_changes(&repo, pristine, &mut intake)?;
    }
    Ok(intake)
}

fn list_ignored_changes(
    repo: &Path,
    pristine: &Path,
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
        let theirs = entry.path();
        let ours = pristine.join(&rel);
        let added = !ours.is_file();
        let changed = added
            || !entry.file_type().is_file()
            || std::fs::read(theirs).ok() != std::fs::read(&ours).ok();
        if changed {
            intake.ignored_total += 1;
            if intake.ignored.len() < MAX_LISTED_CHANGES {
                intake.ignored.push(IgnoredChange { path: rel, added });
            }
        }
    }
    Ok(())
}

/// Make `work` an exact copy of `pristine`, except that the files named in `replaced` get the
/// given contents: rewrite files whose content differs (leaving equal files untouched, so cargo
/// does not rebuild them), delete files `pristine` does not have.
pub fn sync_tree(
    pristine: &Path,
    work: &Path,
    replaced: &BTreeMap<String, Vec<u8>>,
) -> Result<(), GradeError> {
    std::fs::create_dir_all(work).map_err(io(work))?;
    for entry in WalkDir::new(pristine).sort_by_file_name() {
        let entry = entry.map_err(|e| GradeError::Other(e.to_string()))?;
        let Ok(rel) = entry.path().strip_prefix(pristine) else {
            continue;
        };
        let dst = work.join(rel);
        if entry.file_type().is_dir() {
            if dst.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                std::fs::remove_file(&dst).map_err(io(&dst))?;
            }
            std::fs::create_dir_all(&dst).map_err(io(&dst))?;
            continue;
        }
        let key = rel.to_string_lossy().replace('\\', "/");
        let wanted = match replaced.get(&key) {
            Some(bytes) => bytes.clone(),
            None => std::fs::read(entry.path()).map_err(io(entry.path()))?,
        };
        let same = dst.symlink_metadata().is_ok_and(|m| m.is_file())
            && std::fs::read(&dst).is_ok_and(|have| have == wanted);
        if !same {
            if dst.symlink_metadata().is_ok_and(|m| m.is_dir()) {
                std::fs::remove_dir_all(&dst).map_err(io(&dst))?;
            }
            std::fs::write(&dst, wanted).map_err(io(&dst))?;
        }
    }
    // Remove what a previous submission's tests (or its code) left behind.
    let mut extra = Vec::new();
    for entry in WalkDir::new(work).min_depth(1).contents_first(true) {
        let entry = entry.map_err(|e| GradeError::Other(e.to_string()))?;
        let Ok(rel) = entry.path().strip_prefix(work) else {
            continue;
        };
        if pristine.join(rel).symlink_metadata().is_err() {
            extra.push((entry.path().to_path_buf(), entry.file_type().is_dir()));
        }
    }
    for (path, is_dir) in extra {
        let result = if is_dir {
            std::fs::remove_dir(&path)
        } else {
            std::fs::remove_file(&path)
        };
        result.map_err(io(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("raftlab-intake-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn pristine_and_work(dir: &Path) -> (PathBuf, PathBuf) {
        let (pristine, work) = (dir.join("pristine"), dir.join("work"));
        for f in STUDENT_FILES {
            write(&pristine.join(f), "stub\n");
        }
        write(&pristine.join("tests/lab2a.rs"), "the real test\n");
        sync_tree(&pristine, &work, &BTreeMap::new()).unwrap();
        (pristine, work)
    }

    #[test]
    fn only_student_files_are_taken_and_other_edits_are_reported() {
        let dir = scratch("repo");
        let (pristine, work) = pristine_and_work(&dir);
        let sub = dir.join("sub/my-raftlab");
        write(&sub.join("raft/src/raft.rs"), "mine\n");
        write(&sub.join("tests/lab2a.rs"), "fn always_pass() {}\n");
        write(&sub.join("notes.txt"), "hi\n");
        write(&sub.join("target/debug/junk"), "x\n");
        let intake = intake(&dir.join("sub"), &pristine, &work).unwrap();
        assert_eq!(
            intake.files[0],
            (
                "raft/src/raft.rs",
                FileSource::Submitted("my-raftlab/raft/src/raft.rs".into())
            )
        );
        assert_eq!(intake.files[1].1, FileSource::Missing);
        assert_eq!(
            std::fs::read_to_string(work.join("raft/src/raft.rs")).unwrap(),
            "mine\n"
        );
        assert_eq!(
            std::fs::read_to_string(work.join("tests/lab2a.rs")).unwrap(),
            "the real test\n"
        );
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
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn flat_uploads_work_and_symlinks_are_refused() {
        let dir = scratch("flat");
        let (pristine, work) = pristine_and_work(&dir);
        let sub = dir.join("sub");
        write(&sub.join("server.rs"), "my server\n");
        #[cfg(unix)]
        std::os::unix::fs::symlink("/etc/hostname", sub.join("raft.rs")).unwrap();
        let intake = intake(&sub, &pristine, &work).unwrap();
        assert_eq!(
            std::fs::read_to_string(work.join("kvraft/src/server.rs")).unwrap(),
            "my server\n"
        );
        #[cfg(unix)]
        assert!(
            matches!(&intake.files[0].1, FileSource::Refused { found, .. } if found == "raft.rs")
        );
        assert_eq!(
            std::fs::read_to_string(work.join("raft/src/raft.rs")).unwrap(),
            "stub\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sync_restores_changed_files_and_removes_extra_ones() {
        let dir = scratch("sync");
        let (pristine, work) = pristine_and_work(&dir);
        write(&work.join("tests/lab2a.rs"), "tampered\n");
        write(&work.join("extra/dir/file"), "x\n");
        sync_tree(&pristine, &work, &BTreeMap::new()).unwrap();
        assert_eq!(
            std::fs::read_to_string(work.join("tests/lab2a.rs")).unwrap(),
            "the real test\n"
        );
        assert!(!work.join("extra").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
