//! `labs grade` end to end: the reference earns full marks (edits to the tests are ignored and
//! reported), the handout skeleton earns zero, a mutant loses points, a submission that does not
//! compile scores zero with the compiler's message, and a batch writes one CSV row per submission.
//!
//! Every scenario shares one grader (and one cargo target directory), so they run one after the
//! other, ordered so that consecutive submissions rebuild as little as possible.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use labs::grade::intake::{FileSource, STUDENT_FILES};
use labs::grade::{GradeOptions, Grader, Rubric, batch_submissions, write_csv, write_results};

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labs/ is in the workspace")
}

fn scratch() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("grade")
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A student's repository: the handout with the reference's student files in it.
fn reference_submission(handout: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(handout) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(handout).unwrap();
        if entry.file_type().is_file() {
            let dst = to.join(rel);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), dst).unwrap();
        }
    }
    for file in STUDENT_FILES {
        std::fs::copy(workspace_root().join(file), to.join(file)).unwrap();
    }
}

#[test]
fn grading_end_to_end() {
    let scratch = scratch();
    let _ = std::fs::remove_dir_all(&scratch);
    let rubric = Rubric::load(&workspace_root().join("labs/rubric.toml")).unwrap();
    let options = GradeOptions {
        seeds: 1,
        ..GradeOptions::default()
    };
    let grader = Grader::new(workspace_root(), &scratch, rubric, options).unwrap();
    let handout = scratch.join("pristine");
    let quiet = ProgressBar::hidden();

    // The reference, as a student would hand it in, with a weakened test and a stray file.
    let reference = scratch.join("submissions/reference");
    reference_submission(&handout, &reference);
    write(
        &reference.join("tests/lab2a.rs"),
        "// every test passes now\n",
    );
    write(&reference.join("NOTES.md"), "my notes\n");
    let grade = grader.grade(&reference, "reference", &quiet).unwrap();
    assert!(grade.build_failure.is_none(), "{:?}", grade.build_failure);
    assert_eq!(
        grade.score(),
        grade.max_score(),
        "{}",
        grade.render_markdown()
    );
    let rubric = Rubric::load(&workspace_root().join("labs/rubric.toml")).unwrap();
    let rubric_tests: usize = rubric.points.values().map(|tests| tests.len()).sum();
    assert_eq!(
        grade.tests.len(),
        rubric_tests,
        "one entry per test of the six suites"
    );
    insta::assert_snapshot!("reference", grade.render_markdown());
    let out = scratch.join("results/reference");
    write_results(&grade, &out).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["score"], grade.max_score());
    assert_eq!(json["tests"].as_array().unwrap().len(), grade.tests.len());
    for test in json["tests"].as_array().unwrap() {
        for key in [
            "name",
            "score",
            "max_score",
            "status",
            "output",
            "visibility",
        ] {
            assert!(!test[key].is_null(), "{key} missing in {test}");
        }
        assert_eq!(test["status"], "passed");
    }

    // A batch: the same files uploaded bare (no rebuild: same contents), and a submission that
    // does not compile.
    let batch = scratch.join("batch");
    for file in STUDENT_FILES {
        let name = file.rsplit('/').next().unwrap();
        write(
            &batch.join("alice").join(name),
            &std::fs::read_to_string(workspace_root().join(file)).unwrap(),
        );
    }
    let broken = batch.join("bob");
    reference_submission(&handout, &broken);
    let raft_rs = broken.join("raft/src/raft.rs");
    let text = std::fs::read_to_string(&raft_rs).unwrap();
    std::fs::write(&raft_rs, text + "\nfn oops() -> u32 { \"not a number\" }\n").unwrap();
    let mut grades = Vec::new();
    for (name, dir) in batch_submissions(&batch).unwrap() {
        grades.push(grader.grade(&dir, &name, &quiet).unwrap());
    }
    let (alice, bob) = (&grades[0], &grades[1]);
    assert_eq!(alice.submission, "alice");
    assert!(
        alice
            .intake
            .files
            .iter()
            .all(|(f, s)| matches!(s, FileSource::Submitted(from) if !from.contains('/') && f.ends_with(from.as_str())))
    );
    assert_eq!(alice.score(), alice.max_score());
    let failure = bob
        .build_failure
        .as_deref()
        .expect("bob's code does not build");
    assert!(
        failure.contains("mismatched types") && failure.contains("raft/src/raft.rs"),
        "{failure}"
    );
    assert!(
        !failure.contains(&scratch.display().to_string()),
        "{failure}"
    );
    assert_eq!(bob.score(), 0.0);
    assert!(bob.render_markdown().contains("## Build failed"));
    let csv = scratch.join("results/grades.csv");
    write_csv(&grades, &grader.options().labs, &csv).unwrap();
    let max = labs::grade::report::points(alice.max_score());
    let per_lab: Vec<String> = rubric
        .points
        .values()
        .map(|tests| labs::grade::report::points(tests.values().sum()))
        .collect();
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        format!(
            "submission,score,max_score,2A,2B,2C,2D,3A,3B,build,missing_files,ignored_changes\n\
             alice,{max},{max},{},ok,,0\n\
             bob,0,{max},0,0,0,0,0,0,failed,,0\n",
            per_lab.join(",")
        )
    );

    // One classic mistake loses points.
    let catalog = labs::mutants::catalog(workspace_root()).unwrap();
    let vote_twice = catalog.iter().find(|m| m.name == "vote-twice").unwrap();
    let submission =
        labs::mutants::write_submission(workspace_root(), vote_twice, &scratch.join("mutants"))
            .unwrap();
    let grade = grader.grade(&submission, "vote-twice", &quiet).unwrap();
    assert!(grade.score() < grade.max_score());
    insta::assert_snapshot!("mutant_vote_twice", grade.render_markdown());

    // The handout as it is: nothing implemented, nothing earned.
    let grade = grader.grade(&handout, "skeleton", &quiet).unwrap();
    assert!(grade.build_failure.is_none(), "{:?}", grade.build_failure);
    assert_eq!(grade.score(), 0.0);
    insta::assert_snapshot!("skeleton", grade.render_markdown());
}
