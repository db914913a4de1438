//! The Gradescope autograder carries no solution: `labs autograder` (what
//! `labs/gradescope/package.sh` zips) holds the student handout plus the grader's own code, and no
//! reference code or text; the handout Gradescope derives from it to grade against is exactly the
//! students' handout.

use std::collections::BTreeMap;
use std::path::Path;

use labs::handout::{generate, generate_autograder};
use labs::student_code::STUDENT_FILES;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labs/ is in the workspace")
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

/// The lines of the reference's solution regions (not their stubs), trimmed.
fn solution_lines(text: &str) -> Vec<String> {
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        match line.trim() {
            "// BEGIN SOLUTION" => inside = true,
            "// STUB" | "// END SOLUTION" => inside = false,
            l if inside => lines.push(l.to_string()),
            _ => {}
        }
    }
    lines
}

#[test]
fn the_autograder_source_has_the_grader_and_no_solution() {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gradescope");
    let _ = std::fs::remove_dir_all(&tmp);
    let (source, handout) = (tmp.join("source"), tmp.join("handout"));
    generate_autograder(workspace_root(), &source).expect("autograder source");
    generate(workspace_root(), &handout).expect("handout");
    let packaged = files(&source);
    let public = files(&handout);

    // The grader is there, with its instructor-only regions (which the handout drops).
    for kept in [
        "labs/src/grade/mod.rs",
        "labs/src/grade/runner.rs",
        "labs/src/bin/labs/instructor.rs",
        "labs/src/mutants.rs",
        "labs/rubric.toml",
        "labkit/student-code.toml",
        "labs/gradescope/setup.sh",
        "labs/gradescope/run_autograder",
    ] {
        assert!(packaged.contains_key(kept), "{kept} is missing");
    }
    let lib = String::from_utf8_lossy(&packaged["labs/src/lib.rs"]);
    assert!(
        lib.contains("// BEGIN INSTRUCTOR ONLY\npub mod grade;"),
        "{lib}"
    );
    // What holds reference code is not.
    for path in packaged.keys() {
        assert!(
            !labs::handout::REFERENCE_BEARING
                .iter()
                .any(|p| path.starts_with(p)),
            "{path} holds reference code"
        );
    }
    for gone in [
        "raft/tests/",
        "labs/mutants/",
        "checker/mutants/",
        "GRADING.md",
    ] {
        assert!(!packaged.keys().any(|p| p.starts_with(gone)), "{gone}");
    }

    // No solution region, and no line of the reference's solutions that is not in the handout.
    let handout_text: String = public
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    let mut reference_only = Vec::new();
    for file in STUDENT_FILES {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
        reference_only.extend(
            solution_lines(&text)
                .into_iter()
                .filter(|l| l.len() >= 30 && !handout_text.contains(l.as_str())),
        );
    }
    assert!(
        reference_only.len() > 100,
        "the reference has distinctive lines to look for ({})",
        reference_only.len()
    );
    for (path, bytes) in &packaged {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.lines().any(|l| l.trim() == "// BEGIN SOLUTION"),
            "{path} has a solution region"
        );
        if let Some(line) = reference_only.iter().find(|l| text.contains(l.as_str())) {
            panic!("{path} holds a line of the reference solution: {line}");
        }
    }

    // Gradescope grades against the handout of this source: exactly the students' handout.
    let derived = tmp.join("derived");
    generate(&source, &derived).expect("the handout of the autograder source");
    assert_eq!(
        files(&derived),
        public,
        "the autograder's pristine copy must be the students' handout"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
