//! The labs, listed once. `labs run`, the grader (its suites, its rubric check, the files it takes
//! from a submission), the handout generator and their tests all read this list, so adding a lab
//! is one entry here plus the lab's own files (its suite `tests/<suite>.rs`, its handout page, its
//! rubric section, its student stubs).

/// One lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lab {
    /// The lab's id as students type it (`--lab 2a`).
    pub id: &'static str,
    /// Its suite: the test file `tests/<suite>.rs`, run with `cargo test --test <suite>`; also the
    /// name of its section in the rubric.
    pub suite: &'static str,
    pub title: &'static str,
    /// The handout page (repository path).
    pub handout: &'static str,
    /// The files a student writes for this lab (repository paths). A later lab's student keeps
    /// the earlier labs' files too.
    pub student_files: &'static [&'static str],
    /// The model checker's presets for this lab ([`crate::presets`]; its handout page lists each
    /// with its command, and the rubric may grade them); empty for none.
    pub checker_presets: &'static [&'static str],
}

const RAFT_FILES: &[&str] = &["raft/src/raft.rs", "raft/src/messages.rs"];
const KV_FILES: &[&str] = &[
    "kvraft/src/common.rs",
    "kvraft/src/server.rs",
    "kvraft/src/client.rs",
];

/// Every lab, in the order students meet them.
pub const LABS: &[Lab] = &[
    Lab {
        id: "2a",
        suite: "lab2a",
        title: "Raft leader election",
        handout: "labs/2A.md",
        student_files: RAFT_FILES,
        checker_presets: &["election", "duplicate-replies", "stale-replies"],
    },
    Lab {
        id: "2b",
        suite: "lab2b",
        title: "Raft log replication",
        handout: "labs/2B.md",
        student_files: RAFT_FILES,
        checker_presets: &["replication", "figure8"],
    },
    Lab {
        id: "2c",
        suite: "lab2c",
        title: "Raft persistence",
        handout: "labs/2C.md",
        student_files: RAFT_FILES,
        checker_presets: &["crash"],
    },
    Lab {
        id: "2d",
        suite: "lab2d",
        title: "Raft log compaction (snapshots)",
        handout: "labs/2D.md",
        student_files: RAFT_FILES,
        checker_presets: &["snapshots"],
    },
    Lab {
        id: "2e",
        suite: "lab2e",
        title: "Raft PreVote and CheckQuorum",
        handout: "labs/2E.md",
        student_files: RAFT_FILES,
        checker_presets: &["prevote"],
    },
    Lab {
        id: "3a",
        suite: "lab3a",
        title: "Fault-tolerant key/value service",
        handout: "labs/3A.md",
        student_files: KV_FILES,
        checker_presets: &[],
    },
    Lab {
        id: "3b",
        suite: "lab3b",
        title: "Key/value service with snapshots",
        handout: "labs/3B.md",
        student_files: KV_FILES,
        checker_presets: &[],
    },
];

/// The lab named `name`: its id (`2a`, `2A`) or its suite (`lab2a`).
pub fn find(name: &str) -> Option<&'static Lab> {
    let name = name.to_ascii_lowercase();
    LABS.iter().find(|lab| lab.id == name || lab.suite == name)
}

/// Every suite name, in order.
pub fn suites() -> Vec<&'static str> {
    LABS.iter().map(|lab| lab.suite).collect()
}

/// Every student-owned file of every lab, each once, in the labs' order.
pub fn student_files() -> Vec<&'static str> {
    let mut files = Vec::new();
    for file in LABS.iter().flat_map(|lab| lab.student_files) {
        if !files.contains(file) {
            files.push(*file);
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("labs/ is in the workspace")
    }

    /// The registry and the repository agree: every registered lab has its suite, handout page
    /// and student files, and every suite file in `tests/` is registered.
    #[test]
    fn every_lab_has_its_files_and_every_suite_is_registered() {
        for lab in LABS {
            for path in [format!("tests/{}.rs", lab.suite), lab.handout.to_string()]
                .iter()
                .map(String::as_str)
                .chain(lab.student_files.iter().copied())
            {
                assert!(root().join(path).is_file(), "{}: {path} is missing", lab.id);
            }
            assert_eq!(find(lab.id), Some(lab));
            assert_eq!(find(lab.suite), Some(lab));
            assert_eq!(find(&lab.id.to_ascii_uppercase()), Some(lab));
        }
        for entry in std::fs::read_dir(root().join("tests")).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(suite) = name.strip_suffix(".rs").filter(|n| n.starts_with("lab")) {
                assert!(
                    LABS.iter().any(|lab| lab.suite == suite),
                    "tests/{name} is not in the registry"
                );
            }
        }
        assert_eq!(student_files().len(), 5);
    }

    /// Each lab's presets exist, and its handout page shows each one's command.
    #[test]
    fn every_listed_preset_exists_and_its_handout_page_shows_the_command() {
        for lab in LABS {
            let page = std::fs::read_to_string(root().join(lab.handout)).unwrap();
            for name in lab.checker_presets {
                let preset = crate::presets::find(name)
                    .unwrap_or_else(|| panic!("{}: no preset {name}", lab.id));
                assert_eq!(preset.lab, lab.id, "{name}");
                assert!(
                    page.contains(&preset.command()),
                    "{} does not show `{}`",
                    lab.handout,
                    preset.command()
                );
            }
        }
    }
}
