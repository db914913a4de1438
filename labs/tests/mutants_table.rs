//! The mutant table (`labs mutants`) as a reviewed insta snapshot: every classic mistake of the
//! catalog must lose points, and any change in what catches what shows in review.
//!
//! Regrading every mutant (its tests and the rubric's checker presets) takes one to two minutes
//! each on 2 cores, so the full comparison is an ignored test (`cargo test --release -p labs --test mutants_table -- --ignored`); the fast test
//! checks that the reviewed snapshot covers exactly the catalog and that every row lost points.

use std::path::Path;

use labs::grade::{GradeOptions, Grader, Rubric};
use labs::mutants::{catalog, grade_mutant, render_table};

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labs/ is in the workspace")
}

const SNAPSHOT: &str = "tests/snapshots/mutants_table__mutants_table.snap";

#[test]
fn the_reviewed_table_covers_the_catalog_and_every_mutant_loses_points() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT))
        .expect("the reviewed mutant table (run the ignored test to create it)");
    // Skip insta's front matter and the header row; stop at the closing count line.
    let body = text.split("---\n").nth(2).expect("insta snapshot body");
    let rows: Vec<(&str, f64)> = body
        .lines()
        .skip(1)
        .take_while(|l| !l.contains(" mutants caught"))
        .inspect(|l| {
            assert!(
                !l.contains("NOT CAUGHT")
                    && !l.contains("DOES NOT BUILD")
                    && !l.contains("REFUSED BY THE STATIC CHECK"),
                "a mutant that does not build or is not caught counts for nothing: {l}"
            )
        })
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().expect("mutant name");
            let _lab = words.next();
            let lost = words
                .next()
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("no points lost in row {l:?}"));
            (name, lost)
        })
        .collect();
    let names: Vec<String> = catalog(workspace_root())
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        rows.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>(),
        names,
        "the reviewed table must list exactly the catalog: regrade with \
         `cargo test --release -p labs --test mutants_table -- --ignored` and review"
    );
    for (name, lost) in rows {
        assert!(lost > 0.0, "mutant {name} loses no points");
    }
}

#[test]
#[ignore = "regrades every mutant with the checker presets: one to two minutes each on 2 cores"]
fn mutants_table() {
    let root = workspace_root();
    // Outside this repository: the grader refuses a scratch folder inside a checkout with
    // solutions.
    // One per checkout of the repository (two graders must not share a scratch folder).
    let name: String = root
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let scratch = std::env::temp_dir().join(format!("raftlab-mutants-table{name}"));
    let rubric = Rubric::load(&root.join("labs/rubric.toml")).unwrap();
    let options = GradeOptions {
        ..GradeOptions::default()
    };
    let grader = Grader::new(root, &scratch, rubric, options).unwrap();
    let results: Vec<_> = catalog(root)
        .unwrap()
        .iter()
        .map(|m| grade_mutant(&grader, root, m, &scratch.join("submissions")).unwrap())
        .collect();
    insta::assert_snapshot!("mutants_table", render_table(&results));
}

/// Every mutant is a plausible student submission: it passes the static check of student code
/// (otherwise the grader would refuse it before running any test, and the table would say nothing
/// about the tests' strength).
#[test]
fn every_mutant_passes_the_static_check() {
    let root = workspace_root();
    let policy = labs::student_code::load_policy(&root.join(labs::student_code::POLICY_FILE))
        .expect("labkit/student-code.toml");
    let dir = std::env::temp_dir().join(format!("raftlab-mutants-check-{}", std::process::id()));
    for mutant in catalog(root).unwrap() {
        let submission = labs::mutants::write_submission(root, &mutant, &dir).unwrap();
        let findings = labs::student_code::check_tree(&submission, &policy).unwrap();
        assert!(
            findings.is_empty(),
            "mutant {}: {}",
            mutant.name,
            labs::student_code::render_findings(&findings)
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
