//! The pristine copy: the handout the grader grades against, written once per grader, kept
//! read-only on disk and, as the reference for every check, in memory (every file's bytes).
//!
//! Before every submission (and after its tests ran) the copy on disk is compared with the copy in
//! memory; any difference (a changed, added or missing file, a link, a permission) is reported and
//! the disk copy rewritten from memory. Each submission's work tree is written afresh from memory,
//! never from the disk copy, so no submission is ever graded against a tampered copy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use walkdir::WalkDir;

use super::GradeError;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GradeError + '_ {
    move |source| GradeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The pristine copy: its folder and its files.
pub struct Pristine {
    dir: PathBuf,
    files: BTreeMap<String, Vec<u8>>,
    /// Every file of a work tree that does not come from the submission gets this modification
    /// time (older than any build), so cargo rebuilds only what the student files change.
    written: SystemTime,
}

impl Pristine {
    /// Write the handout of the repository at `root` into `dir` (replacing what is there), read
    /// it into memory and make the folder read-only.
    pub fn write(root: &Path, dir: &Path) -> Result<Pristine, GradeError> {
        if dir.symlink_metadata().is_ok() {
            remove_tree(dir)?;
        }
        crate::handout::generate(root, dir)?;
        let files = read_tree(dir)?;
        let pristine = Pristine {
            dir: dir.to_path_buf(),
            files,
            written: SystemTime::now(),
        };
        set_read_only(dir)?;
        Ok(pristine)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// A file's bytes, by its repository-relative path.
    pub fn get(&self, rel: &str) -> Option<&[u8]> {
        self.files.get(rel).map(Vec::as_slice)
    }

    /// How the folder on disk differs from the copy in memory (at most 50 paths listed).
    pub fn differences(&self) -> Vec<String> {
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        let dirs: BTreeSet<String> = self
            .files
            .keys()
            .flat_map(|f| {
                Path::new(f)
                    .ancestors()
                    .skip(1)
                    .filter(|a| !a.as_os_str().is_empty())
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        for entry in WalkDir::new(&self.dir).follow_links(false).min_depth(1) {
            let Ok(entry) = entry else {
                found.push("(unreadable entry)".to_string());
                continue;
            };
            let Ok(rel) = entry.path().strip_prefix(&self.dir) else {
                continue;
            };
            let rel = rel.to_string_lossy().replace('\\', "/");
            let file_type = entry.file_type();
            if file_type.is_dir() {
                if !dirs.contains(&rel) {
                    found.push(format!("{rel}/ (added)"));
                } else if !read_only(entry.path(), 0o555) {
                    found.push(format!("{rel}/ (permissions changed)"));
                }
                continue;
            }
            match self.files.get(&rel) {
                None => found.push(format!("{rel} (added)")),
                Some(_) if !file_type.is_file() => {
                    found.push(format!("{rel} (replaced by a link or a special file)"))
                }
                Some(bytes) => {
                    seen.insert(rel.clone());
                    if std::fs::read(entry.path()).ok().as_ref() != Some(bytes) {
                        found.push(format!("{rel} (changed)"));
                    } else if !read_only(entry.path(), 0o444) {
                        found.push(format!("{rel} (permissions changed)"));
                    }
                }
            }
        }
        for rel in self.files.keys() {
            if !seen.contains(rel) && !found.iter().any(|f| f.starts_with(&format!("{rel} ("))) {
                found.push(format!("{rel} (missing)"));
            }
        }
        found.truncate(50);
        found
    }

    /// Compare the folder on disk with memory; if they differ, rewrite the folder from memory.
    /// Returns the differences found.
    pub fn ensure(&self) -> Result<Vec<String>, GradeError> {
        let differences = self.differences();
        if !differences.is_empty() {
            remove_tree(&self.dir)?;
            for (rel, bytes) in &self.files {
                let path = self.dir.join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io(parent))?;
                }
                std::fs::write(&path, bytes).map_err(io(&path))?;
            }
            set_read_only(&self.dir)?;
        }
        Ok(differences)
    }

    /// Write a fresh work tree in `work` (whatever was there is deleted): the pristine files, with
    /// `replaced` files' contents instead, and the given modification time for each replaced
    /// file.
    pub fn write_work_tree(
        &self,
        work: &Path,
        replaced: &BTreeMap<String, (Vec<u8>, SystemTime)>,
    ) -> Result<(), GradeError> {
        if work.symlink_metadata().is_ok() {
            remove_tree(work)?;
        }
        for (rel, pristine_bytes) in &self.files {
            let path = work.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let (bytes, modified) = match replaced.get(rel) {
                Some((bytes, modified)) => (bytes.as_slice(), *modified),
                None => (pristine_bytes.as_slice(), self.written),
            };
            std::fs::write(&path, bytes).map_err(io(&path))?;
            let file = std::fs::File::options()
                .write(true)
                .open(&path)
                .map_err(io(&path))?;
            file.set_modified(modified).map_err(io(&path))?;
        }
        Ok(())
    }
}

/// Every file under `dir`, by repository-relative path.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, GradeError> {
    let mut files = BTreeMap::new();
    for entry in WalkDir::new(dir).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| GradeError::Other(e.to_string()))?;
        if entry.file_type().is_file()
            && let Ok(rel) = entry.path().strip_prefix(dir)
        {
            let bytes = std::fs::read(entry.path()).map_err(io(entry.path()))?;
            files.insert(rel.to_string_lossy().replace('\\', "/"), bytes);
        }
    }
    Ok(files)
}

#[cfg(unix)]
fn read_only(path: &Path, mode: u32) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.symlink_metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
}

#[cfg(not(unix))]
fn read_only(path: &Path, _mode: u32) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.permissions().readonly())
}

/// Make every file under `dir` read-only (0444) and every folder 0555.
fn set_read_only(dir: &Path) -> Result<(), GradeError> {
    // Files first, folders last (deepest first), so that each is still writable when reached.
    for entry in WalkDir::new(dir).follow_links(false).contents_first(true) {
        let entry = entry.map_err(|e| GradeError::Other(e.to_string()))?;
        let path = entry.path();
        let mut permissions = path.symlink_metadata().map_err(io(path))?.permissions();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            permissions.set_mode(if entry.file_type().is_dir() {
                0o555
            } else {
                0o444
            });
        }
        #[cfg(not(unix))]
        permissions.set_readonly(true);
        if !entry.file_type().is_symlink() {
            std::fs::set_permissions(path, permissions).map_err(io(path))?;
        }
    }
    Ok(())
}

/// Remove `path` and everything under it, read-only folders included.
pub fn remove_tree(path: &Path) -> Result<(), GradeError> {
    let meta = path.symlink_metadata().map_err(io(path))?;
    if !meta.is_dir() {
        return std::fs::remove_file(path).map_err(io(path));
    }
    for entry in WalkDir::new(path).follow_links(false) {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_dir() {
            let mut permissions = match entry.path().symlink_metadata() {
                Ok(m) => m.permissions(),
                Err(_) => continue,
            };
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                permissions.set_mode(0o755);
            }
            #[cfg(not(unix))]
            #[allow(clippy::permissions_set_readonly_false)]
            permissions.set_readonly(false);
            let _ = std::fs::set_permissions(entry.path(), permissions);
        }
    }
    std::fs::remove_dir_all(path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_pristine_copy_is_found_and_rewritten() {
        let dir = std::env::temp_dir().join(format!("raftlab-pristine-{}", std::process::id()));
        let _ = remove_tree(&dir);
        let copy = dir.join("pristine");
        std::fs::create_dir_all(copy.join("tests")).unwrap();
        std::fs::write(copy.join("tests/lab2a.rs"), "the real test\n").unwrap();
        std::fs::write(copy.join("Cargo.toml"), "[workspace]\n").unwrap();
        let pristine = Pristine {
            dir: copy.clone(),
            files: read_tree(&copy).unwrap(),
            written: SystemTime::now(),
        };
        set_read_only(&copy).unwrap();
        assert_eq!(pristine.differences(), Vec::<String>::new());
        // What a test process of the grader's own user could do: make it writable, rewrite it,
        // plant a file.
        remove_tree(&copy).unwrap();
        std::fs::create_dir_all(copy.join("tests")).unwrap();
        std::fs::write(copy.join("tests/lab2a.rs"), "// every test passes\n").unwrap();
        std::fs::write(copy.join("tests/planted.rs"), "\n").unwrap();
        let found = pristine.ensure().unwrap();
        assert!(
            found.contains(&"tests/lab2a.rs (changed)".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"tests/planted.rs (added)".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"Cargo.toml (missing)".to_string()),
            "{found:?}"
        );
        assert_eq!(
            std::fs::read_to_string(copy.join("tests/lab2a.rs")).unwrap(),
            "the real test\n"
        );
        assert!(!copy.join("tests/planted.rs").exists());
        assert_eq!(pristine.differences(), Vec::<String>::new());
        // A fresh work tree holds the pristine files and the replaced ones, nothing else.
        let work = dir.join("work");
        std::fs::create_dir_all(work.join("stale")).unwrap();
        let mut replaced = BTreeMap::new();
        replaced.insert(
            "Cargo.toml".to_string(),
            (b"[workspace] # theirs\n".to_vec(), SystemTime::now()),
        );
        pristine.write_work_tree(&work, &replaced).unwrap();
        assert!(!work.join("stale").exists());
        assert_eq!(
            std::fs::read_to_string(work.join("tests/lab2a.rs")).unwrap(),
            "the real test\n"
        );
        assert_eq!(
            std::fs::read_to_string(work.join("Cargo.toml")).unwrap(),
            "[workspace] # theirs\n"
        );
        remove_tree(&dir).unwrap();
    }
}
