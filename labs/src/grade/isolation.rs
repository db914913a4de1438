//! What keeps a submission's code from reaching beyond its own runs: where the scratch folder may
//! be, which user the tests run as, the cargo configuration the build reads, and the processes a
//! run leaves behind.
//!
//! - The scratch folder (pristine copy, work tree, target directory) must not sit inside a checkout
//!   that holds solutions (a folder above it with a student file containing `// BEGIN SOLUTION`):
//!   a relative `include_str!("../../..")` in a submission would otherwise reach the reference.
//! - When the grader runs as root, every test process runs as `nobody` (uid and gid 65534), so the
//!   code under test cannot write the grader's files (root ignores permission bits; `nobody` does
//!   not). The scratch folder must then be reachable by that user.
//! - Cargo reads `.cargo/config.toml` in every folder above the work tree and in the cargo home; a
//!   test that planted one there (in `/tmp`, say) could run its own linker at the next build. The
//!   files present when the grader starts are remembered, and the grader refuses to build if any of
//!   them changed or a new one appeared; one owned by another user is refused from the start.
//! - Each run is its own process group, killed as a whole when the run ends; the grader is a child
//!   subreaper (Linux), so a process that left the group (`setsid`) and was orphaned is adopted by
//!   the grader, which kills and reaps it after every run.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Mutex, OnceLock};

use super::GradeError;
use crate::student_code::STUDENT_FILES;

/// The user test processes run as, when the grader runs as root: `nobody`.
pub const NOBODY: RunAs = RunAs {
    uid: 65534,
    gid: 65534,
};

/// A user and group to run test processes as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// `nobody` when the grader runs as root; otherwise the tests run as the grader's own user.
pub fn default_run_as() -> Option<RunAs> {
    #[cfg(unix)]
    if rustix::process::geteuid().is_root() {
        return Some(NOBODY);
    }
    None
}

/// The default scratch folder, named `name` (`grade`, `mutants`): outside any repository. As root,
/// `/var/cache/raftlab/NAME` (which `nobody` can reach); otherwise the user's cache folder
/// (`$XDG_CACHE_HOME` or `~/.cache`), `raftlab/NAME`.
pub fn default_scratch(name: &str) -> PathBuf {
    if default_run_as().is_some() {
        return Path::new("/var/cache/raftlab").join(name);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("raftlab").join(name)
}

/// `path` made absolute, with symbolic links resolved as far as the path exists.
pub fn resolved(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let mut existing = absolute.as_path();
    while !existing.exists() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => break,
        }
    }
    let rest = absolute.strip_prefix(existing).unwrap_or(Path::new(""));
    Ok(std::fs::canonicalize(existing)?.join(rest))
}

/// The student file in `dir` that holds a solution region, if any.
pub fn solution_file(dir: &Path) -> Option<&'static str> {
    STUDENT_FILES.iter().copied().find(|file| {
        std::fs::read_to_string(dir.join(file))
            .is_ok_and(|text| text.lines().any(|l| l.trim() == "// BEGIN SOLUTION"))
    })
}

/// Check that `scratch` may be used: not inside (or at) a checkout with solutions, and reachable
/// by `run_as`. Returns it resolved.
pub fn check_scratch(scratch: &Path, run_as: Option<RunAs>) -> Result<PathBuf, GradeError> {
    let resolved = resolved(scratch).map_err(|source| GradeError::Io {
        path: scratch.to_path_buf(),
        source,
    })?;
    for dir in resolved.ancestors() {
        if let Some(file) = solution_file(dir) {
            return Err(GradeError::ScratchInCheckout {
                scratch: resolved.clone(),
                checkout: dir.to_path_buf(),
                file,
            });
        }
    }
    #[cfg(unix)]
    if let Some(run_as) = run_as {
        use std::os::unix::fs::MetadataExt;
        for dir in resolved.ancestors().skip(1) {
            if let Ok(meta) = std::fs::metadata(dir)
                && meta.uid() != run_as.uid
                && meta.mode() & 0o001 == 0
            {
                return Err(GradeError::ScratchUnreachable {
                    scratch: resolved.clone(),
                    dir: dir.to_path_buf(),
                    uid: run_as.uid,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = run_as;
    Ok(resolved)
}

/// The cargo configuration files a build in `work` would read, and what they held when the grader
/// started.
pub struct CargoConfigs {
    files: Vec<(PathBuf, Option<Vec<u8>>)>,
}

impl CargoConfigs {
    /// Every place cargo looks for configuration when building in `work`: `.cargo/config` and
    /// `.cargo/config.toml` in `work` and each folder above it, and in the cargo home.
    pub fn candidates(work: &Path) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = work.ancestors().map(|d| d.join(".cargo")).collect();
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
        if let Some(home) = home
            && !dirs.contains(&home)
        {
            dirs.push(home);
        }
        dirs.iter()
            .flat_map(|d| [d.join("config"), d.join("config.toml")])
            .collect()
    }

    /// Remember the configuration files for a build in `work`; refuse one owned by a user other
    /// than root or the grader's (anyone could have written it).
    pub fn snapshot(work: &Path) -> Result<CargoConfigs, GradeError> {
        let files: Vec<(PathBuf, Option<Vec<u8>>)> = Self::candidates(work)
            .into_iter()
            .map(|path| {
                let content = std::fs::read(&path).ok();
                (path, content)
            })
            .collect();
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            for (path, content) in &files {
                if content.is_some()
                    && let Ok(meta) = std::fs::metadata(path)
                    && meta.uid() != 0
                    && meta.uid() != me
                {
                    return Err(GradeError::CargoConfig(format!(
                        "{} belongs to uid {}, not to the grader's user or root: a build would \
                         follow it; remove it or grade elsewhere",
                        path.display(),
                        meta.uid()
                    )));
                }
            }
        }
        Ok(CargoConfigs { files })
    }

    /// Refuse if any configuration file changed, appeared or disappeared since [`Self::snapshot`].
    pub fn verify(&self) -> Result<(), GradeError> {
        for (path, before) in &self.files {
            let now = std::fs::read(path).ok();
            if &now != before {
                return Err(GradeError::CargoConfig(format!(
                    "{} {} since grading started (code under test may have planted it); the \
                     grader will not build with it",
                    path.display(),
                    match (before, &now) {
                        (None, _) => "appeared",
                        (_, None) => "disappeared",
                        _ => "changed",
                    }
                )));
            }
        }
        Ok(())
    }
}

/// The test processes running now (their pids): never taken for strays.
static RUNS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

fn runs() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    RUNS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Make this process a child subreaper (Linux; once): orphaned descendants of its runs become its
/// children, instead of init's, so that [`reap_strays`] can find them.
pub fn become_subreaper() -> io::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = DONE.get_or_init(|| {
        #[cfg(target_os = "linux")]
        {
            rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
                .map_err(|e| e.to_string())
        }
        #[cfg(not(target_os = "linux"))]
        Ok(())
    });
    result.clone().map_err(io::Error::other)
}

/// Start a run's process and remember it as a run (under the same lock that [`reap_strays`]
/// takes, so a run just started is never taken for a stray).
pub fn spawn_run(command: &mut Command) -> io::Result<Child> {
    let mut runs = runs();
    let child = command.spawn()?;
    runs.insert(child.id());
    Ok(child)
}

/// After a run's process ended and was waited for: kill what is left of its process group and
/// every stray process (see [`reap_strays`]).
pub fn end_run(pid: u32) {
    runs().remove(&pid);
    kill_group(pid);
    reap_strays();
}

/// Kill the process group `pgid` (a run's, led by its first process).
pub fn kill_group(pgid: u32) {
    #[cfg(unix)]
    if let Some(pid) = i32::try_from(pgid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    #[cfg(not(unix))]
    let _ = pgid;
}

/// One of this process's children, as `/proc` shows it.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct ChildProc {
    pid: i32,
    pgid: i32,
    sid: i32,
    uid: u32,
}

#[cfg(target_os = "linux")]
fn children_of(parent: i32) -> Vec<ChildProc> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut children = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp session ...`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        let number = |i: usize| fields.get(i).and_then(|f| f.parse::<i32>().ok());
        let (Some(ppid), Some(pgid), Some(sid)) = (number(1), number(2), number(3)) else {
            continue;
        };
        if ppid != parent {
            continue;
        }
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        children.push(ChildProc {
            pid,
            pgid,
            sid,
            uid: meta.uid(),
        });
    }
    children
}

/// Kill and reap every stray child of this process: a child that is not a run in progress and is
/// in another process group or session than the grader, or runs as another user. With the grader
/// a child subreaper, that is every process a finished run left behind, however it detached
/// (`setsid`, a double fork); the grader's own helpers (cargo, git) share its group, session and
/// user and are left alone. Returns how many were killed.
pub fn reap_strays() -> usize {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{Pid, Signal, WaitOptions, geteuid, getpgrp, getpid, getsid};
        let me = getpid().as_raw_pid();
        let my_pgid = getpgrp().as_raw_pid();
        let my_sid = getsid(None).map_or(-1, |p| p.as_raw_pid());
        let my_uid = geteuid().as_raw();
        let mut killed = 0;
        // Killing a process orphans its children, which are adopted in turn: repeat until none.
        for _round in 0..1000 {
            let strays: Vec<ChildProc> = {
                let runs = runs();
                children_of(me)
                    .into_iter()
                    .filter(|c| !runs.contains(&(c.pid as u32)))
                    .filter(|c| c.pgid != my_pgid || c.sid != my_sid || c.uid != my_uid)
                    .collect()
            };
            if strays.is_empty() {
                break;
            }
            for stray in &strays {
                if let Some(pid) = Pid::from_raw(stray.pid) {
                    let _ = rustix::process::kill_process(pid, Signal::KILL);
                }
            }
            for stray in &strays {
                if let Some(pid) = Pid::from_raw(stray.pid) {
                    // SIGKILL cannot be caught: the wait is short.
                    let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
                }
            }
            killed += strays.len();
        }
        killed
    }
    #[cfg(not(target_os = "linux"))]
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("raftlab-iso-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_scratch_folder_inside_a_checkout_with_solutions_is_refused() {
        let dir = temp("scratch");
        let repo = dir.join("repo");
        std::fs::create_dir_all(repo.join("raft/src")).unwrap();
        std::fs::write(
            repo.join("raft/src/raft.rs"),
            "fn f() {\n    // BEGIN SOLUTION\n    1\n    // END SOLUTION\n}\n",
        )
        .unwrap();
        let err = check_scratch(&repo.join("target/grade"), None).unwrap_err();
        assert!(
            matches!(
                &err,
                GradeError::ScratchInCheckout {
                    file: "raft/src/raft.rs",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("outside"), "{err}");
        // Through a symbolic link, too.
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(repo.join("target"), dir.join("link")).unwrap();
            std::fs::create_dir_all(repo.join("target")).unwrap();
            assert!(check_scratch(&dir.join("link/grade"), None).is_err());
        }
        // A handout (stubs, no markers) is fine, and so is a folder beside the checkout.
        std::fs::write(repo.join("raft/src/raft.rs"), "fn f() { todo!() }\n").unwrap();
        assert!(check_scratch(&repo.join("target/grade"), None).is_ok());
        assert!(check_scratch(&dir.join("elsewhere"), None).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_scratch_folder_the_test_user_cannot_reach_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp("reach");
        let private = dir.join("private");
        std::fs::create_dir_all(&private).unwrap();
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = check_scratch(&private.join("grade"), Some(NOBODY)).unwrap_err();
        assert!(
            matches!(err, GradeError::ScratchUnreachable { .. }),
            "{err}"
        );
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_scratch(&private.join("grade"), Some(NOBODY)).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cargo_config_planted_above_the_work_tree_stops_the_build() {
        let dir = temp("cargo-config");
        let work = dir.join("scratch/work");
        std::fs::create_dir_all(&work).unwrap();
        let configs = CargoConfigs::snapshot(&work).unwrap();
        configs.verify().unwrap();
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(
            dir.join(".cargo/config.toml"),
            "[target.x86_64-unknown-linux-gnu]\nlinker = \"/tmp/evil\"\n",
        )
        .unwrap();
        let err = configs.verify().unwrap_err();
        assert!(
            err.to_string()
                .contains("config.toml appeared since grading started"),
            "{err}"
        );
        // One that another user could have written is refused from the start.
        #[cfg(unix)]
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(dir.join(".cargo/config.toml"), Some(NOBODY.uid), None)
                .unwrap();
            let err = CargoConfigs::snapshot(&work).err().expect("refused");
            assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
