//! The rubric: points per test, in a TOML file instructors edit (`labs/rubric.toml` by default).
//!
//! ```toml
//! [scoring]
//! mode = "proportional"   # or "all-or-nothing"
//!
//! [lab2a]
//! initial_election = 5
//! re_election = 5
//! ```
//!
//! Every test of every graded suite must have an entry, and every entry must name a real test, so
//! a renamed or new test can never silently be worth nothing.
//!
//! A suite's section may also grade the model checker's presets (`checker check --preset NAME`,
//! [`labkit::presets`]) in a `checker` table; a preset the checker does not have is refused:
//!
//! ```toml
//! [lab2a.checker]
//! election = 5
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::suites::all_suites;

/// How a test's points follow from its seeds.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ScoringMode {
    /// Points × (passing seeds / seeds run).
    #[default]
    Proportional,
    /// Full points only when every seed passes.
    AllOrNothing,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scoring {
    #[serde(default)]
    mode: ScoringMode,
}

#[derive(Debug, Deserialize)]
struct RubricFile {
    #[serde(default)]
    scoring: Scoring,
    #[serde(flatten)]
    labs: BTreeMap<String, LabSection>,
}

/// One suite's section: points per test, and per graded checker preset.
#[derive(Debug, Deserialize)]
struct LabSection {
    #[serde(default)]
    checker: BTreeMap<String, f64>,
    #[serde(flatten)]
    tests: BTreeMap<String, f64>,
}

/// Points per test, by suite (`lab2a` ...) and test name, and per graded checker preset.
#[derive(Clone, Debug, PartialEq)]
pub struct Rubric {
    pub path: PathBuf,
    pub mode: ScoringMode,
    pub points: BTreeMap<String, BTreeMap<String, f64>>,
    /// Points per checker preset, by suite (the `[labXY.checker]` tables).
    pub presets: BTreeMap<String, BTreeMap<String, f64>>,
}

#[derive(Debug, thiserror::Error)]
#[error("rubric {path}: {message}")]
pub struct RubricError {
    pub path: PathBuf,
    pub message: String,
}

impl Rubric {
    /// Read and check a rubric file.
    pub fn load(path: &Path) -> Result<Rubric, RubricError> {
        let text = std::fs::read_to_string(path).map_err(|e| RubricError {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Rubric::parse(path, &text)
    }

    /// Parse rubric text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<Rubric, RubricError> {
        let error = |message: String| RubricError {
            path: path.to_path_buf(),
            message,
        };
        let file: RubricFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        for (lab, section) in &file.labs {
            if !all_suites().contains(&lab.as_str()) {
                return Err(error(format!(
                    "unknown section [{lab}]: expected [scoring] or one of {}",
                    all_suites().join(", ")
                )));
            }
            let checker = section
                .checker
                .iter()
                .map(|(p, x)| (format!("checker.{p}"), x));
            let tests = section.tests.iter().map(|(t, x)| (t.clone(), x));
            for (item, points) in tests.chain(checker) {
                if !points.is_finite() || *points < 0.0 {
                    return Err(error(format!(
                        "{lab}.{item}: points must be a non-negative number, got {points}"
                    )));
                }
            }
            if let Some(unknown) = section
                .checker
                .keys()
                .find(|p| labkit::presets::find(p).is_none())
            {
                return Err(error(format!(
                    "[{lab}.checker] grades the preset {unknown}, which the model checker does \
                     not have (its presets: {})",
                    labkit::presets::names()
                )));
            }
        }
        let mut points = BTreeMap::new();
        let mut presets = BTreeMap::new();
        for (lab, section) in file.labs {
            if !section.checker.is_empty() {
                presets.insert(lab.clone(), section.checker);
            }
            points.insert(lab, section.tests);
        }
        Ok(Rubric {
            path: path.to_path_buf(),
            mode: file.scoring.mode,
            points,
            presets,
        })
    }

    /// The checker presets `lab`'s section grades, sorted by name.
    pub fn presets(&self, lab: &str) -> Vec<&'static labkit::presets::Preset> {
        self.presets
            .get(lab)
            .map(|p| {
                p.keys()
                    .filter_map(|name| labkit::presets::find(name))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The points of a graded preset of `lab`.
    pub fn preset_points(&self, lab: &str, preset: &str) -> Option<f64> {
        self.presets.get(lab)?.get(preset).copied()
    }

    /// The points of one test, if the rubric lists it.
    pub fn points(&self, lab: &str, test: &str) -> Option<f64> {
        self.points.get(lab)?.get(test).copied()
    }

    /// The tests of `lab` the rubric lists, in file order (sorted by name).
    pub fn tests(&self, lab: &str) -> Vec<String> {
        self.points
            .get(lab)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Check the rubric against the tests a suite really has: both lists must be the same.
    pub fn check_suite(&self, lab: &str, tests: &[String]) -> Result<(), RubricError> {
        let listed = self.tests(lab);
        let missing: Vec<&String> = tests.iter().filter(|t| !listed.contains(t)).collect();
        let unknown: Vec<&String> = listed.iter().filter(|t| !tests.contains(t)).collect();
        if missing.is_empty() && unknown.is_empty() {
            return Ok(());
        }
        let mut message = String::new();
        if !missing.is_empty() {
            message.push_str(&format!(
                "[{lab}] has no points for {} (add them)",
                join(&missing)
            ));
        }
        if !unknown.is_empty() {
            if !message.is_empty() {
                message.push_str("; ");
            }
            message.push_str(&format!(
                "[{lab}] lists {}, which the suite does not have",
                join(&unknown)
            ));
        }
        Err(RubricError {
            path: self.path.clone(),
            message,
        })
    }

    /// A test's score given how many of its seeds passed.
    pub fn score(&self, points: f64, passed: usize, runs: usize) -> f64 {
        if runs == 0 {
            return 0.0;
        }
        let earned = match self.mode {
            ScoringMode::Proportional => points * passed as f64 / runs as f64,
            ScoringMode::AllOrNothing if passed == runs => points,
            ScoringMode::AllOrNothing => 0.0,
        };
        round2(earned)
    }
}

/// Round to hundredths, so scores print and add up cleanly.
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn join(names: &[&String]) -> String {
    names
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Rubric, RubricError> {
        Rubric::parse(Path::new("r.toml"), text)
    }

    #[test]
    fn points_and_mode_are_read() {
        let r = parse("[scoring]\nmode = \"all-or-nothing\"\n[lab2a]\ninitial_election = 5\nre_election = 2.5\n").unwrap();
        assert_eq!(r.mode, ScoringMode::AllOrNothing);
        assert_eq!(r.points("lab2a", "re_election"), Some(2.5));
        assert_eq!(r.score(5.0, 2, 3), 0.0);
        let r = parse("[lab2a]\ninitial_election = 5\n").unwrap();
        assert_eq!(r.mode, ScoringMode::Proportional);
        assert_eq!(r.score(5.0, 2, 3), 3.33);
        let r =
            parse("[lab2a]\ninitial_election = 5\n[lab2a.checker]\nelection = 3\nfigure8 = 2.5\n")
                .unwrap();
        assert_eq!(r.tests("lab2a"), ["initial_election"]);
        let names: Vec<&str> = r.presets("lab2a").iter().map(|p| p.name).collect();
        assert_eq!(names, ["election", "figure8"]);
        assert_eq!(r.preset_points("lab2a", "figure8"), Some(2.5));
        assert!(r.presets("lab2b").is_empty());
    }

    #[test]
    fn mistakes_are_errors_that_say_what_to_fix() {
        let e = parse("[lab9z]\nx = 1\n").unwrap_err();
        assert!(e.message.contains("unknown section [lab9z]"), "{e}");
        let e = parse("[lab2a]\nx = -1\n").unwrap_err();
        assert!(e.message.contains("non-negative"), "{e}");
        let e = parse("[lab2a]\nx = \"five\"\n").unwrap_err();
        assert!(e.to_string().starts_with("rubric r.toml: "), "{e}");
        let e = parse("[scoring]\nmode = \"generous\"\n").unwrap_err();
        assert!(e.message.contains("generous"), "{e}");
        let e = parse("[lab2a]\nx = 1\n[lab2a.checker]\nno-such-preset = 5\n").unwrap_err();
        assert!(
            e.message.starts_with(
                "[lab2a.checker] grades the preset no-such-preset, which the model checker does \
                 not have (its presets: election,"
            ),
            "{e}"
        );
        let e = parse("[lab2a]\nx = 1\n[lab2a.checker]\nelection = -5\n").unwrap_err();
        assert!(e.message.contains("lab2a.checker.election"), "{e}");

        let r = parse("[lab2a]\ninitial_election = 5\nold_test = 1\n").unwrap();
        let e = r
            .check_suite("lab2a", &["initial_election".into(), "re_election".into()])
            .unwrap_err();
        assert_eq!(
            e.message,
            "[lab2a] has no points for re_election (add them); [lab2a] lists old_test, which the suite does not have"
        );
    }

    #[test]
    fn the_rubric_in_this_repository_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let r = Rubric::load(&root.join("rubric.toml")).unwrap();
        for lab in all_suites() {
            assert!(!r.tests(lab).is_empty(), "{lab} has no tests in the rubric");
        }
    }
}
