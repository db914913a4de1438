//! The model checker's named presets: fixed bounds with a time limit, listed once. `checker check
//! --preset NAME` runs one, `checker presets` lists them, the lab registry names each lab's
//! presets (its handout page shows the commands), and the grader's rubric grades them
//! (`[lab2a.checker]`), so students run exactly what the grader runs.
//!
//! A preset passes when its search explores every state of its bound within its time limit (CPU
//! time of the checker's process, so that a busy machine does not fail it), no
//! safety property is violated (a panic of the Raft is a violation) and every reachability
//! property the bound allows is reached ("a command commits" is not asked of a bound with
//! `--commands 0`).

/// The `lab` of a preset's record on the report channel (its `test` is the preset's name, its
/// `seed` 0): `checker check --preset NAME` writes one when the grader runs it.
pub const RECORD_LAB: &str = "checker";

/// One preset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    /// The name students type (`--preset election`).
    pub name: &'static str,
    /// The lab whose code it checks (the registry's id, `2a`).
    pub lab: &'static str,
    /// What it covers, in a sentence.
    pub about: &'static str,
    /// The `checker check` bound flags it stands for (all of the bound; nothing else).
    pub flags: &'static [&'static str],
    /// CPU seconds the search may take (the checker process's, all threads; `check --timeout N
    /// --cpu-time`); a search that has not finished by then fails.
    pub time_limit_secs: u64,
}

impl Preset {
    /// The command that runs it, as students type it.
    pub fn command(&self) -> String {
        format!(
            "cargo run --release -p checker -- check --preset {}",
            self.name
        )
    }

    /// The same bound spelled out with flags (what the preset stands for).
    pub fn flags_text(&self) -> String {
        self.flags.join(" ")
    }
}

/// Every preset, in the labs' order. The reference finishes each within a minute on the shared
/// 2-core machine (BENCHMARKS.md has the measurements); the limits, in CPU time, are at least 4x
/// the reference's.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "election",
        lab: "2a",
        about: "election safety and a leader elected: 3 servers, terms up to 2, no commands",
        flags: &["--commands", "0"],
        time_limit_secs: 60,
    },
    Preset {
        name: "duplicate-replies",
        lab: "2a",
        about: "4 servers, term 1, a network that duplicates messages: a vote reply counted twice \
                shows",
        flags: &[
            "--servers",
            "4",
            "--max-term",
            "1",
            "--network",
            "duplicating",
            "--commands",
            "0",
        ],
        time_limit_secs: 120,
    },
    Preset {
        name: "stale-replies",
        lab: "2a",
        about: "the election bound where a message whose delivery would change nothing is lost: \
                stale replies no longer fill the places in flight, so a vote from an earlier \
                candidacy counted now shows",
        flags: &["--commands", "0", "--lose-stale"],
        time_limit_secs: 60,
    },
    Preset {
        name: "replication",
        lab: "2b",
        about: "the default bound: 3 servers, terms up to 2, one command, unordered network",
        flags: &[],
        time_limit_secs: 60,
    },
    Preset {
        name: "figure8",
        lab: "2b",
        about: "Figure 8 of the paper: terms up to 4, two commands, one message at a time, up to 4 \
                lost",
        flags: &[
            "--max-term",
            "4",
            "--commands",
            "2",
            "--network",
            "sequential",
            "--lossy",
            "--max-losses",
            "4",
        ],
        time_limit_secs: 120,
    },
    Preset {
        name: "crash",
        lab: "2c",
        about: "the default bound where any one server may crash once and restart from what it \
                persisted",
        flags: &["--crashes", "1"],
        time_limit_secs: 120,
    },
    Preset {
        name: "snapshots",
        lab: "2d",
        about: "the default bound with servers snapshotting what they applied",
        flags: &["--snapshots"],
        time_limit_secs: 60,
    },
    Preset {
        name: "prevote",
        lab: "2e",
        about: "the default bound with PreVote, the leader's lease and CheckQuorum on, up to 2 \
                election or CheckQuorum timeouts",
        flags: &["--prevote"],
        time_limit_secs: 120,
    },
];

/// The preset named `name`.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Every preset name, comma-separated (for messages).
pub fn names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_labs_are_registered() {
        for (i, preset) in PRESETS.iter().enumerate() {
            assert_eq!(find(preset.name), Some(preset));
            assert!(
                PRESETS[..i].iter().all(|p| p.name != preset.name),
                "{} twice",
                preset.name
            );
            let lab = crate::registry::find(preset.lab)
                .unwrap_or_else(|| panic!("{}: lab {} unknown", preset.name, preset.lab));
            assert!(
                lab.checker_presets.contains(&preset.name),
                "lab {} does not list its preset {}",
                lab.id,
                preset.name
            );
            assert!(preset.time_limit_secs > 0 && preset.time_limit_secs <= 120);
        }
    }
}
