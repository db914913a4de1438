//! The student handout, generated from the reference solution.
//!
//! Student code in `raft/` and `kvraft/` sits between marker lines:
//!
//! ```text
//!     // BEGIN SOLUTION
//!     ...the reference...
//!     // STUB
//!     // todo!("2A: ...")
//!     // END SOLUTION
//! ```
//!
//! The handout keeps everything outside the regions, drops the reference, and uncomments the
//! optional stub (the `// `-prefixed lines after `// STUB`). Instructor-only files (the mutant
//! catalog, its compiled copies, the grading guide) are left out, and the workspace manifest is
//! adjusted to match. Markdown pages (the README) keep their instructor sections between
//! `<!-- BEGIN INSTRUCTOR ONLY -->` and `<!-- END INSTRUCTOR ONLY -->` out of the handout, so
//! that what students read speaks to students.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Paths (relative to the repository root) that never go into a handout: every path that starts
/// with one of these.
pub const INSTRUCTOR_ONLY: &[&str] = &[
    // Tests of the reference's internals (they name its private fields and helpers).
    "raft/tests/",
    "kvraft/tests/",
    "labs/mutants/",
    "checker/mutants/",
    "GRADING.md",
    "BENCHMARKS.md",
    "docs/benchmarks-history.md",
    ".ci/",
    // The grader and the mutant runner, their rubric and their tests.
    "labs/src/grade/",
    "labs/src/mutants.rs",
    "labs/src/bin/labs/instructor.rs",
    "labs/rubric.toml",
    "labs/gradescope/",
    "labs/tests/grade",
    "labs/tests/snapshots/grade__",
    "labs/tests/mutants",
    "labs/tests/snapshots/mutants",
    // Tests that run the reference Raft or generate a handout from the reference: they cannot
    // pass on a student's Raft, so they are the instructor's.
    "labs/tests/handout.rs",
    "labs/tests/snapshots/handout__",
    "checker/tests/symmetry.rs",
    "checker/tests/actor_model.rs",
    "checker/tests/model.rs",
    "checker/tests/panics.rs",
    "checker/tests/search_threads.rs",
    // The timeline page's tests record runs of the reference; so do the step-through page's
    // (and the browser helper serves only these and the checker's mutant tests).
    "tests/viz.rs",
    "tests/viz_steps.rs",
    "tests/browser/",
    // Profiles the reference's states (it reads the reference's message fields).
    "checker/examples/state_profile.rs",
];

/// What the Gradescope autograder's source leaves out (see [`generate_autograder`]): every file that
/// holds reference code or text derived from it. The grader's own code stays in.
pub const REFERENCE_BEARING: &[&str] = &[
    "raft/tests/",
    "kvraft/tests/",
    "labs/mutants/",
    "checker/mutants/",
    "GRADING.md",
    "BENCHMARKS.md",
    "docs/benchmarks-history.md",
    "checker/examples/state_profile.rs",
    ".ci/",
    "labs/tests/grade",
    "labs/tests/snapshots/grade__",
    "labs/tests/mutants",
    "labs/tests/snapshots/mutants",
];

/// Marker lines (compared after trimming).
const BEGIN: &str = "// BEGIN SOLUTION";
const STUB: &str = "// STUB";
const END: &str = "// END SOLUTION";
/// Framework code that only instructors get (the grader's subcommands, say) sits between these;
/// the handout drops it, stub-free.
const BEGIN_INSTRUCTOR: &str = "// BEGIN INSTRUCTOR ONLY";
const END_INSTRUCTOR: &str = "// END INSTRUCTOR ONLY";

/// Instructor-only sections of Markdown pages sit between these lines (compared after trimming).
const BEGIN_INSTRUCTOR_MD: &str = "<!-- BEGIN INSTRUCTOR ONLY -->";
const END_INSTRUCTOR_MD: &str = "<!-- END INSTRUCTOR ONLY -->";

/// Lint allowances added to a file whose regions were replaced by stubs: a `todo!()` body leaves
/// parameters and imports unused until the student writes the code.
const STUB_ALLOWANCES: &str = "#![allow(unused_imports, unused_variables, dead_code, unused_mut)] // remove as you implement\n";

#[derive(Debug, thiserror::Error)]
pub enum HandoutError {
    #[error("{file}:{line}: {message}")]
    Markers {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not list the repository's files with git: {0}")]
    Git(String),
    #[error("{0} already exists and is not empty; choose a new directory")]
    OutputExists(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HandoutError + '_ {
    move |source| HandoutError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Replace every solution region of `source` (named `file` in errors) by its stub. Returns `None`
/// if the file has no regions.
pub fn strip_solutions(file: &str, source: &str) -> Result<Option<String>, HandoutError> {
    strip(file, source, false)
}

/// [`strip_solutions`], optionally keeping instructor-only regions (with their markers).
fn strip(file: &str, source: &str, keep_instructor: bool) -> Result<Option<String>, HandoutError> {
    let error = |line: usize, message: &str| HandoutError::Markers {
        file: file.to_string(),
        line,
        message: message.to_string(),
    };
    #[derive(PartialEq)]
    enum State {
        Outside,
        Solution,
        Stub,
        Instructor,
    }
    let mut state = State::Outside;
    let mut out = String::with_capacity(source.len());
    let mut regions = 0;
    let mut instructor_regions = 0;
    let mut begin_line = 0;
    for (n, line) in source.lines().enumerate() {
        let lineno = n + 1;
        let marker = line.trim();
        match (&state, marker) {
            (State::Outside, BEGIN) => {
                state = State::Solution;
                begin_line = lineno;
                regions += 1;
            }
            (State::Outside, BEGIN_INSTRUCTOR) => {
                state = State::Instructor;
                begin_line = lineno;
                instructor_regions += 1;
                if keep_instructor {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            (State::Instructor, END_INSTRUCTOR) => {
                state = State::Outside;
                if keep_instructor {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            (State::Instructor, BEGIN | STUB | END | BEGIN_INSTRUCTOR) => {
                return Err(error(
                    lineno,
                    "solution markers inside an instructor-only region",
                ));
            }
            (State::Instructor, _) => {
                if keep_instructor {
                    out.push_str(line);
                    out.push('\n');
                }
            }
            (State::Outside, STUB | END | END_INSTRUCTOR) => {
                return Err(error(lineno, "marker outside its region"));
            }
            (State::Outside, _) => {
                out.push_str(line);
                out.push('\n');
            }
            (_, BEGIN) => return Err(error(lineno, "nested BEGIN SOLUTION")),
            (State::Solution, STUB) => state = State::Stub,
            (State::Stub, STUB) => return Err(error(lineno, "a second STUB in one region")),
            (_, END) => state = State::Outside,
            (State::Solution, _) => {}
            (State::Stub, _) => {
                // Uncomment: keep the indentation, drop the first `// ` (or a lone `//`).
                let indent = &line[..line.len() - line.trim_start().len()];
                let body = line.trim_start();
                let Some(code) = body.strip_prefix("// ").or_else(|| body.strip_prefix("//"))
                else {
                    return Err(error(lineno, "stub lines must start with `// `"));
                };
                out.push_str(indent);
                out.push_str(code);
                out.push('\n');
            }
        }
    }
    match state {
        State::Outside => {}
        State::Instructor => {
            return Err(error(
                begin_line,
                "BEGIN INSTRUCTOR ONLY without END INSTRUCTOR ONLY",
            ));
        }
        _ => return Err(error(begin_line, "BEGIN SOLUTION without END SOLUTION")),
    }
    match (regions, instructor_regions) {
        (0, 0) => Ok(None),
        (0, _) if keep_instructor => Ok(None),
        (0, _) => Ok(Some(tidy_cuts(&out))),
        _ => Ok(Some(add_allowances(&tidy_cuts(&out)))),
    }
}

/// `text` (a Markdown page named `file`) without its instructor-only sections, or with them and
/// their marker lines when `keep_instructor` (the autograder's copy). `None` if it has none.
pub fn strip_markdown(
    file: &str,
    text: &str,
    keep_instructor: bool,
) -> Result<Option<String>, HandoutError> {
    let error = |line: usize, message: &str| HandoutError::Markers {
        file: file.to_string(),
        line,
        message: message.to_string(),
    };
    let mut out = String::with_capacity(text.len());
    let mut open: Option<usize> = None;
    let mut sections = 0;
    for (n, line) in text.lines().enumerate() {
        match (open, line.trim()) {
            (None, BEGIN_INSTRUCTOR_MD) => {
                open = Some(n + 1);
                sections += 1;
                continue;
            }
            (Some(_), END_INSTRUCTOR_MD) => {
                open = None;
                continue;
            }
            (Some(_), BEGIN_INSTRUCTOR_MD) => {
                return Err(error(n + 1, "nested BEGIN INSTRUCTOR ONLY"));
            }
            (None, END_INSTRUCTOR_MD) => return Err(error(n + 1, "marker outside its region")),
            (Some(_), _) if !keep_instructor => continue,
            _ => {}
        }
        out.push_str(line);
        out.push('\n');
    }
    if let Some(line) = open {
        return Err(error(
            line,
            "BEGIN INSTRUCTOR ONLY without END INSTRUCTOR ONLY",
        ));
    }
    if sections == 0 || keep_instructor {
        return Ok(None);
    }
    // A cut section leaves at most one blank line behind, and none at the end.
    let mut tidy = String::with_capacity(out.len());
    let mut blank_run = 0;
    for line in out.lines() {
        blank_run = if line.trim().is_empty() {
            blank_run + 1
        } else {
            0
        };
        if blank_run < 2 {
            tidy.push_str(line);
            tidy.push('\n');
        }
    }
    while tidy.ends_with("\n\n") {
        tidy.pop();
    }
    Ok(Some(tidy))
}

/// Remove the blank lines a cut region leaves behind: two blank lines in a row, a blank line
/// before a closing brace, blank lines at the end. (Sources are rustfmt-formatted, which never
/// has these, so only the cuts' traces go.)
fn tidy_cuts(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<&str> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let blank = line.trim().is_empty();
        let next = lines[i + 1..].iter().find(|l| !l.trim().is_empty());
        let before_close = next.is_some_and(|l| l.trim_start().starts_with('}'));
        if blank
            && (out.last().is_none_or(|l| l.trim().is_empty()) || before_close || next.is_none())
        {
            continue;
        }
        out.push(line);
    }
    let mut tidy = out.join("\n");
    tidy.push('\n');
    tidy
}

/// Put the lint allowances after the file's leading inner doc comments (inner attributes must
/// come before any item).
fn add_allowances(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + STUB_ALLOWANCES.len());
    let mut inserted = false;
    for line in source.lines() {
        if !inserted && !line.starts_with("//!") {
            out.push_str(STUB_ALLOWANCES);
            inserted = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !inserted {
        out.push_str(STUB_ALLOWANCES);
    }
    out
}

fn is_instructor_only(path: &str) -> bool {
    INSTRUCTOR_ONLY.iter().any(|p| path.starts_with(p))
}

/// The workspace manifest without instructor-only members.
fn handout_manifest(manifest: &str) -> String {
    manifest.replace(", \"checker/mutants\"", "")
}

/// The files of the repository at `root` (repository-relative): the files git tracks, or, when
/// `root` is not a git checkout (an unpacked Gradescope autograder zip, say), every file outside
/// `target/` and hidden folders.
pub fn tracked_files(root: &Path) -> Result<Vec<String>, HandoutError> {
    if !root.join(".git").exists() {
        return all_files(root);
    }
    let listing = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .map_err(|e| HandoutError::Git(e.to_string()))?;
    if !listing.status.success() {
        return Err(HandoutError::Git(
            String::from_utf8_lossy(&listing.stderr).into_owned(),
        ));
    }
    Ok(listing
        .stdout
        .split(|b| *b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect())
}

/// Every file under `root` except in `target/` and hidden folders, sorted.
fn all_files(root: &Path) -> Result<Vec<String>, HandoutError> {
    let mut files = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            e.depth() == 0
                || !(e.file_type().is_dir() && (name == "target" || name.starts_with('.')))
        });
    for entry in walk {
        let entry = entry.map_err(|e| HandoutError::Io {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        if entry.file_type().is_file()
            && let Ok(rel) = entry.path().strip_prefix(root)
        {
            files.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(files)
}

/// What a generated handout contains.
#[derive(Debug, Default)]
pub struct HandoutReport {
    pub files: usize,
    /// Files whose solution regions were replaced by stubs.
    pub stubbed: Vec<String>,
    /// Instructor-only files that were left out.
    pub left_out: Vec<String>,
}

/// Write the handout of the repository at `root` into `out` (which must not exist or be empty).
pub fn generate(root: &Path, out: &Path) -> Result<HandoutReport, HandoutError> {
    generate_kind(root, out, false)
}

/// Write the source of the Gradescope autograder into `out`: the handout (solutions replaced by
/// their stubs) plus the grader's own code (instructor-only files and regions kept), without any
/// file that holds reference code ([`REFERENCE_BEARING`]). Grading from it works as from this
/// repository (its handout is the students'), and nothing in it reveals a solution.
pub fn generate_autograder(root: &Path, out: &Path) -> Result<HandoutReport, HandoutError> {
    generate_kind(root, out, true)
}

fn generate_kind(root: &Path, out: &Path, autograder: bool) -> Result<HandoutReport, HandoutError> {
    if out.exists() && std::fs::read_dir(out).map_err(io(out))?.next().is_some() {
        return Err(HandoutError::OutputExists(out.to_path_buf()));
    }
    let files = tracked_files(root)?;
    let mut report = HandoutReport::default();
    for rel in files {
        let src = root.join(&rel);
        let left_out = if autograder {
            REFERENCE_BEARING.iter().any(|p| rel.starts_with(p))
        } else {
            is_instructor_only(&rel)
        };
        if left_out {
            report.left_out.push(rel);
            continue;
        }
        if !src.is_file() {
            continue; // deleted in the working tree
        }
        let dst = out.join(&rel);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        if rel.ends_with(".rs") {
            let text = std::fs::read_to_string(&src).map_err(io(&src))?;
            if let Some(stripped) = strip(&rel, &text, autograder)? {
                std::fs::write(&dst, stripped).map_err(io(&dst))?;
                report.stubbed.push(rel);
                report.files += 1;
                continue;
            }
        } else if rel.ends_with(".md") {
            let text = std::fs::read_to_string(&src).map_err(io(&src))?;
            if let Some(stripped) = strip_markdown(&rel, &text, autograder)? {
                std::fs::write(&dst, stripped).map_err(io(&dst))?;
                report.files += 1;
                continue;
            }
        } else if rel == "Cargo.toml" {
            let text = std::fs::read_to_string(&src).map_err(io(&src))?;
            std::fs::write(&dst, handout_manifest(&text)).map_err(io(&dst))?;
            report.files += 1;
            continue;
        }
        std::fs::copy(&src, &dst).map_err(io(&src))?;
        report.files += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_regions_leave_no_stray_blank_lines() {
        let source = "struct A {\n    x: u8,\n}\n\n// BEGIN SOLUTION\nfn helper() {}\n// END SOLUTION\n\nimpl A {\n    fn f() {}\n\n    // BEGIN SOLUTION\n    fn g() {}\n    // END SOLUTION\n}\n\n// BEGIN SOLUTION\nfn tail() {}\n// END SOLUTION\n";
        let stripped = strip_solutions("x.rs", source).unwrap().unwrap();
        assert!(
            stripped.ends_with("struct A {\n    x: u8,\n}\n\nimpl A {\n    fn f() {}\n}\n"),
            "{stripped}"
        );
    }

    #[test]
    fn markdown_instructor_sections_are_cut_and_checked() {
        let page = "# Title\n\nFor all.\n\n<!-- BEGIN INSTRUCTOR ONLY -->\n## Grading\n\nSecret.\n<!-- END INSTRUCTOR ONLY -->\n\n## More\n";
        assert_eq!(
            strip_markdown("README.md", page, false).unwrap().unwrap(),
            "# Title\n\nFor all.\n\n## More\n"
        );
        assert_eq!(strip_markdown("README.md", page, true).unwrap(), None);
        assert_eq!(strip_markdown("a.md", "# plain\n", false).unwrap(), None);
        for bad in [
            "<!-- BEGIN INSTRUCTOR ONLY -->\nx\n",
            "x\n<!-- END INSTRUCTOR ONLY -->\n",
            "<!-- BEGIN INSTRUCTOR ONLY -->\n<!-- BEGIN INSTRUCTOR ONLY -->\n",
        ] {
            assert!(
                matches!(
                    strip_markdown("a.md", bad, false),
                    Err(HandoutError::Markers { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn regions_become_their_stubs() {
        let src = "//! Docs.\nfn a() -> u32 {\n    // BEGIN SOLUTION\n    42\n    // STUB\n    // todo!(\"2A: a\")\n    // END SOLUTION\n}\n// BEGIN SOLUTION\nfn helper() {}\n// END SOLUTION\n";
        let out = strip_solutions("x.rs", src).unwrap().unwrap();
        assert_eq!(
            out,
            format!("//! Docs.\n{STUB_ALLOWANCES}fn a() -> u32 {{\n    todo!(\"2A: a\")\n}}\n")
        );
    }

    #[test]
    fn instructor_only_regions_are_dropped_without_allowances() {
        let src =
            "mod a;\n// BEGIN INSTRUCTOR ONLY\nmod grader;\n// END INSTRUCTOR ONLY\nfn f() {}\n";
        assert_eq!(
            strip_solutions("x.rs", src).unwrap().unwrap(),
            "mod a;\nfn f() {}\n"
        );
        assert!(matches!(
            strip_solutions("x.rs", "// BEGIN INSTRUCTOR ONLY\n// BEGIN SOLUTION\n"),
            Err(HandoutError::Markers { line: 2, .. })
        ));
        assert!(matches!(
            strip_solutions("x.rs", "// BEGIN INSTRUCTOR ONLY\nx\n"),
            Err(HandoutError::Markers { line: 1, .. })
        ));
    }

    #[test]
    fn files_without_regions_are_untouched_and_markers_in_docs_do_not_count() {
        let src =
            "//! Code between `// BEGIN SOLUTION` and `// END SOLUTION` markers.\nfn f() {}\n";
        assert!(strip_solutions("x.rs", src).unwrap().is_none());
    }

    #[test]
    fn malformed_markers_are_errors_with_a_line_number() {
        for (src, line) in [
            ("// BEGIN SOLUTION\nx\n", 1),
            ("x\n// END SOLUTION\n", 2),
            ("// BEGIN SOLUTION\n// BEGIN SOLUTION\n", 2),
            (
                "// BEGIN SOLUTION\n// STUB\nnot a comment\n// END SOLUTION\n",
                3,
            ),
        ] {
            match strip_solutions("f.rs", src) {
                Err(HandoutError::Markers { line: l, .. }) => assert_eq!(l, line, "{src:?}"),
                other => panic!("{src:?}: expected a marker error, got {other:?}"),
            }
        }
    }

    #[test]
    fn outside_git_every_file_but_build_output_and_hidden_folders_counts() {
        let dir = std::env::temp_dir().join(format!("raftlab-files-{}", std::process::id()));
        for f in [
            "Cargo.toml",
            "raft/src/raft.rs",
            "target/release/x",
            ".cache/y",
        ] {
            let path = dir.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        assert_eq!(
            tracked_files(&dir).unwrap(),
            vec!["Cargo.toml".to_string(), "raft/src/raft.rs".to_string()]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn instructor_only_paths_are_recognised() {
        assert!(is_instructor_only("labs/mutants/vote-twice.patch"));
        assert!(is_instructor_only("GRADING.md"));
        assert!(is_instructor_only("labs/src/grade/mod.rs"));
        assert!(is_instructor_only(
            "labs/tests/snapshots/grade__reference.snap"
        ));
        // The lab runtime and the student's CLI go to students.
        assert!(!is_instructor_only("labkit/src/lab.rs"));
        assert!(!is_instructor_only("labs/src/suites.rs"));
        assert_eq!(
            handout_manifest("members = [\"labs\", \"checker\", \"checker/mutants\"]"),
            "members = [\"labs\", \"checker\"]"
        );
    }
}
