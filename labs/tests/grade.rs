//! `labs grade` end to end: the reference earns full marks (edits to the tests are ignored and
//! reported), the handout skeleton earns zero, a mutant loses points, a submission that does not
//! compile scores zero with the compiler's message, and a batch writes one CSV row per submission.
//! Then hostile submissions, graded twice for lab 2A: with the static check, which refuses them
//! before building (with the findings' lines), and without it, where the run-time defences alone
//! must hold: a forged pass, a tampered pristine copy, a read of the reference solution, a child
//! detached from its run and a memory hog all score 0, leave nothing behind, and no reference text
//! reaches `results.json`.
//!
//! Every scenario shares one scratch folder (and one cargo target directory, kept between runs of
//! this test), so they run one after the other, ordered so that consecutive submissions rebuild as
//! little as possible.

use std::path::{Path, PathBuf};
use std::process::Command;

use indicatif::ProgressBar;
use labs::grade::intake::{FileSource, STUDENT_FILES};
use labs::grade::pristine::remove_tree;
use labs::grade::{
    Grade, GradeError, GradeOptions, Grader, Rubric, batch_submissions, write_csv, write_results,
};

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labs/ is in the workspace")
}

/// The scratch folder: outside this repository (the grader refuses one inside a checkout with
/// solutions), one per checkout of the repository.
fn scratch() -> PathBuf {
    let name: String = workspace_root()
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    std::env::temp_dir().join(format!("raftlab-grade-tests{name}"))
}

/// Empty the scratch folder but keep its cargo target directory (the dependencies take minutes
/// to build).
fn clean_scratch(scratch: &Path) {
    if let Ok(entries) = std::fs::read_dir(scratch) {
        for entry in entries.flatten() {
            if entry.file_name() != "target" {
                remove_tree(&entry.path()).unwrap();
            }
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(path);
    std::fs::write(path, text).unwrap();
}

/// A student's repository: the handout with the reference's student files in it.
fn reference_submission(handout: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(handout) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(handout).unwrap();
        if entry.file_type().is_file() {
            // Written, not copied: the pristine copy is read-only, and copies keep permissions.
            write(
                &to.join(rel),
                &std::fs::read_to_string(entry.path()).unwrap(),
            );
        }
    }
    for file in STUDENT_FILES {
        write(
            &to.join(file),
            &std::fs::read_to_string(workspace_root().join(file)).unwrap(),
        );
    }
}

#[test]
fn grading_end_to_end() {
    let scratch = scratch();
    clean_scratch(&scratch);
    // Never inside a checkout with solutions: a relative path would reach the reference.
    let inside = workspace_root().join("target/grade-scratch");
    let refused = Grader::new(
        workspace_root(),
        &inside,
        Rubric::load(&workspace_root().join("labs/rubric.toml")).unwrap(),
        GradeOptions::default(),
    );
    assert!(
        matches!(refused, Err(GradeError::ScratchInCheckout { .. })),
        "a scratch folder inside the repository must be refused"
    );
    assert!(!inside.exists());
    let rubric = Rubric::load(&workspace_root().join("labs/rubric.toml")).unwrap();
    let options = GradeOptions {
        seeds: 1,
        ..GradeOptions::default()
    };
    let grader = Grader::new(workspace_root(), &scratch, rubric, options).unwrap();
    let handout = grader.pristine_dir().to_path_buf();
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
    let rubric_presets: usize = rubric.presets.values().map(|p| p.len()).sum();
    assert!(
        rubric_presets >= 6,
        "the rubric grades the checker's presets"
    );
    assert_eq!(
        grade.tests.len(),
        rubric_tests + rubric_presets,
        "one entry per test of the six suites and per graded preset"
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
    let again = grader.grade(&batch.join("alice"), "alice", &quiet).unwrap();
    assert_eq!(again.score(), again.max_score());
    let again = grader.grade(&batch.join("alice"), "alice", &quiet).unwrap();
    assert_eq!(again.score(), again.max_score());
    let build_log = std::fs::read_to_string(scratch.join("logs/build.json")).unwrap();
    assert!(
        build_log.contains("\"fresh\":true") && !build_log.contains("\"fresh\":false"),
        "an identical resubmission recompiled something"
    );
    let csv = scratch.join("results/grades.csv");
    write_csv(&grades, &grader.options().labs, &csv).unwrap();
    let max = labs::grade::report::points(alice.max_score());
    let per_lab: Vec<String> = rubric
        .points
        .iter()
        .map(|(lab, tests)| {
            let presets: f64 = rubric.presets.get(lab).map_or(0.0, |p| p.values().sum());
            labs::grade::report::points(tests.values().sum::<f64>() + presets)
        })
        .collect();
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap(),
        format!(
            "submission,score,max_score,2A,2B,2C,2D,2E,3A,3B,build,missing_files,ignored_changes\n\
             alice,{max},{max},{},ok,,0\n\
             bob,0,{max},0,0,0,0,0,0,0,failed,,0\n",
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

    // A mistake only the model checker's duplicating network shows: the tests pass it, the
    // graded preset fails it and the report shows the counterexample.
    let counted = catalog
        .iter()
        .find(|m| m.name == "vote-replies-counted-not-recorded")
        .unwrap();
    let submission =
        labs::mutants::write_submission(workspace_root(), counted, &scratch.join("mutants"))
            .unwrap();
    let grade = grader
        .grade(&submission, "vote-replies-counted", &quiet)
        .unwrap();
    let failing: Vec<String> = grade
        .tests
        .iter()
        .filter(|t| !t.passed())
        .map(|t| t.label())
        .collect();
    // Every lab test passes it; the duplicating network's preset fails it. (Other presets may
    // fail it too on a loaded machine: its state space is larger than the reference's, and a
    // search past its real-time limit fails.)
    assert!(
        failing.contains(&"preset:duplicate-replies".to_string())
            && failing.iter().all(|f| f.starts_with("preset:")),
        "{}",
        grade.render_markdown()
    );
    let report = grade.render_markdown();
    assert!(
        report.contains("counterexample for \"election safety\"")
            && report.contains(
                "replay: `cargo run --release -p checker -- check --preset duplicate-replies`"
            ),
        "{report}"
    );
    let out = scratch.join("results/vote-replies-counted");
    write_results(&grade, &out).unwrap();
    let json = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        json.contains("counterexample for \\\"election safety\\\""),
        "{json}"
    );

    // The handout as it is: nothing implemented, nothing earned (a `todo!()` panicking in the
    // model checker fails every preset).
    let grade = grader.grade(&handout, "skeleton", &quiet).unwrap();
    assert!(grade.build_failure.is_none(), "{:?}", grade.build_failure);
    assert_eq!(grade.score(), 0.0);
    for preset in grade.tests.iter().filter(|t| t.preset.is_some()) {
        let labs::grade::runner::Verdict::Failed(why) = &preset.runs[0].1 else {
            panic!("{}: {:?}", preset.test, preset.runs);
        };
        assert!(
            why.contains("the Raft panicked: not yet implemented"),
            "{why}"
        );
    }
    insta::assert_snapshot!("skeleton", grade.render_markdown());
    drop(grader);

    hostile_submissions(&scratch);
    a_mutant_that_keeps_full_marks_fails_labs_mutants(&scratch);
    a_mutant_that_does_not_build_is_not_caught(&scratch);
    a_build_the_machine_failed_grades_nothing(&scratch);
}

/// A catalog mutant with a type error is a broken catalog entry, not a caught mistake: `labs
/// mutants` says so and exits non-zero.
fn a_mutant_that_does_not_build_is_not_caught(scratch: &Path) {
    let catalog = scratch.join("typo-catalog");
    // A type error (well-formed, so the static check lets it through) before the file's last
    // line, inside the last solution region.
    let source = std::fs::read_to_string(workspace_root().join("raft/src/raft.rs")).unwrap();
    let lines: Vec<&str> = source.lines().collect();
    let n = lines.len();
    let (before_last, last) = (lines[n - 2], lines[n - 1]);
    write(
        &catalog.join("typo.patch"),
        &format!(
            "Mutant typo (lab 2A): does not compile.\n\n\
             diff --git a/raft/src/raft.rs b/raft/src/raft.rs\n\
             --- a/raft/src/raft.rs\n\
             +++ b/raft/src/raft.rs\n\
             @@ -{},2 +{},3 @@\n\
             \x20{before_last}\n\
             +const TYPO: u32 = \"not a number\";\n\
             \x20{last}\n",
            n - 1,
            n - 1
        ),
    );
    assert_the_only_mutant_is_not_caught(&catalog, scratch, "DOES NOT BUILD");
}

/// A build that fails for the machine's reasons (here a stand-in cargo reporting a full disk,
/// with no compiler error in the code) must not become a grade: `labs mutants` stops with an
/// error instead of counting the mutant as caught, and `labs grade --batch` writes no results for
/// the submissions it could not build, goes on, and exits 2 naming them.
fn a_build_the_machine_failed_grades_nothing(scratch: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let fake_cargo = scratch.join("full-disk-cargo");
    write(
        &fake_cargo,
        "#!/bin/sh\n\
         echo '{\"reason\":\"compiler-message\",\"message\":{\"level\":\"error\",\"spans\":[],\"rendered\":\"error: failed to write libraft.rlib: No space left on device (os error 28)\"}}'\n\
         echo 'error: could not compile `raft` (lib) due to 1 previous error' >&2\n\
         exit 101\n",
    );
    std::fs::set_permissions(&fake_cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = labs_mutants_2a(&scratch.join("noop-catalog"), scratch, Some(&fake_cargo));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("No space left on device") && stderr.contains("Nothing was graded"),
        "{stderr}"
    );
    assert!(!stdout.contains("caught"), "{stdout}");

    let batch = scratch.join("full-disk-batch");
    for student in ["carol", "dave"] {
        write(
            &batch.join(student).join("raft.rs"),
            &std::fs::read_to_string(workspace_root().join("raft/src/raft.rs")).unwrap(),
        );
    }
    let out = scratch.join("full-disk-results");
    let output = Command::new(env!("CARGO_BIN_EXE_labs"))
        .current_dir(workspace_root())
        .env("CARGO", &fake_cargo)
        .args(["grade", "--lab", "2a", "--batch"])
        .arg(&batch)
        .arg("--out")
        .arg(&out)
        .arg("--scratch")
        .arg(scratch)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("carol: NOT GRADED")
            && stderr.contains("dave: NOT GRADED")
            && stderr.contains("2 submission(s) not graded"),
        "{stderr}"
    );
    for student in ["carol", "dave"] {
        assert!(
            !out.join(student).join("results.json").exists(),
            "{student} got a grade for a build the machine failed"
        );
    }
}

/// `labs mutants` exits non-zero when a mutant keeps full marks: a no-op mutant (a comment
/// changed) graded for lab 2A, tests and checker presets, loses nothing.
fn a_mutant_that_keeps_full_marks_fails_labs_mutants(scratch: &Path) {
    let catalog = scratch.join("noop-catalog");
    // git apply wants context: the second line is kept as it is.
    let source = std::fs::read_to_string(workspace_root().join("raft/src/raft.rs")).unwrap();
    let mut lines = source.lines();
    let (first, second) = (lines.next().unwrap(), lines.next().unwrap());
    write(
        &catalog.join("noop.patch"),
        &format!(
            "Mutant noop (lab 2A): changes a comment only.\n\n\
             diff --git a/raft/src/raft.rs b/raft/src/raft.rs\n\
             --- a/raft/src/raft.rs\n\
             +++ b/raft/src/raft.rs\n\
             @@ -1,2 +1,2 @@\n\
             -{first}\n\
             +{first} (a comment changed)\n\
             \x20{second}\n"
        ),
    );
    assert_the_only_mutant_is_not_caught(&catalog, scratch, "NOT CAUGHT");
}

/// `labs mutants --lab 2a` on a catalog of one mutant exits 1 and says why it is not caught.
fn assert_the_only_mutant_is_not_caught(catalog: &Path, scratch: &Path, why: &str) {
    let output = labs_mutants_2a(catalog, scratch, None);
    let table = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{table}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        table.contains(why) && table.contains("0 of 1 mutants caught"),
        "{table}"
    );
}

/// `labs mutants --lab 2a --catalog CATALOG`, with `cargo` standing in for cargo if given.
fn labs_mutants_2a(catalog: &Path, scratch: &Path, cargo: Option<&Path>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_labs"));
    command
        .current_dir(workspace_root())
        .args(["mutants", "--lab", "2a", "--catalog"])
        .arg(catalog)
        .arg("--scratch")
        .arg(scratch);
    if let Some(cargo) = cargo {
        command.env("CARGO", cargo);
    }
    command.output().unwrap()
}

/// Lines of the reference's solution regions that the handout does not have (at least 30
/// characters): if one shows up in a grade, the reference leaked.
fn reference_only_lines(handout: &Path) -> Vec<String> {
    let mut public = String::new();
    for entry in walkdir::WalkDir::new(handout) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            public.push_str(&String::from_utf8_lossy(
                &std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    let mut lines = Vec::new();
    for file in STUDENT_FILES {
        let text = std::fs::read_to_string(workspace_root().join(file)).unwrap();
        let mut inside = false;
        for line in text.lines() {
            match line.trim() {
                "// BEGIN SOLUTION" => inside = true,
                "// STUB" | "// END SOLUTION" => inside = false,
                l if inside && l.len() >= 30 && !public.contains(l) => lines.push(l.to_string()),
                _ => {}
            }
        }
    }
    assert!(lines.len() > 100, "{}", lines.len());
    lines
}

/// Write `grade`'s results under `out` and check that they show no reference text.
fn results_without_reference(grade: &Grade, out: &Path, reference: &[String]) -> String {
    write_results(grade, out).unwrap();
    let json = std::fs::read_to_string(out.join("results.json")).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for line in reference {
        assert!(
            !json.contains(line.as_str()) && !report.contains(line.as_str()),
            "{}: the reference's line {line:?} is in the results",
            grade.submission
        );
    }
    json
}

/// The handout's `raft/src/raft.rs` (every handler a `todo!()`), with `code` appended and
/// `call` made the first statement of `Raft::new`.
fn stub_raft_with(handout: &Path, call: &str, code: &str) -> String {
    let stub = std::fs::read_to_string(handout.join("raft/src/raft.rs")).unwrap();
    let head = ") -> Result<Raft, CorruptState> {\n";
    assert!(stub.contains(head), "Raft::new in the stub");
    format!(
        "{}\n{code}",
        stub.replacen(head, &format!("{head}        {call}\n"), 1)
    )
}

/// A submission folder holding only `raft.rs` (the other student files are the handout's).
fn submission(dir: &Path, raft_rs: &str) -> PathBuf {
    write(&dir.join("raft/src/raft.rs"), raft_rs);
    dir.to_path_buf()
}

/// Hostile code for lab 2A: what a run does depends on its test, so that one build covers three
/// attacks at run time.
fn saboteur_code(marker: &Path) -> String {
    format!(
        r##"
/// Hostile (the grader's tests): each lab 2A test is a different attack.
fn sabotage() {{
    use std::io::Write;
    let test = std::env::args().nth(1).unwrap_or_default();
    if test == "check" {{
        // In the model checker (`checker check --preset NAME`): claim a pass on stdout, append a
        // record with a guessed key to the report channel, and exit 0 before the search.
        let preset = std::env::args().nth(3).unwrap_or_default();
        println!("preset {{preset}}: passed");
        if let Some(report) = std::env::var_os("LAB_REPORT") {{
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(report) {{
                let _ = writeln!(f, r#"{{{{"key":"00000000000000000000000000000000","lab":"checker","test":"{{preset}}","seed":0,"ok":true,"failure":null,"summary":"preset {{preset}}: passed"}}}}"#);
            }}
        }}
        std::process::exit(0);
    }}
    if test == "initial_election" {{
        // Forge: passing summary lines on the real stdout, a record with a guessed key on the
        // report channel, and exit 0 before the harness says anything.
        let mut out = std::io::stdout().lock();
        for t in ["initial_election", "re_election", "many_elections"] {{
            let _ = writeln!(out, "lab2a {{t}} ok   seed=1 virtual=3.0s wall=0.00s peers=3 rpcs=48 bytes=608 cmds=0 trace=398748b6");
        }}
        let _ = out.flush();
        if let Some(report) = std::env::var_os("LAB_REPORT") {{
            if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(report) {{
                let _ = writeln!(f, r#"{{{{"key":"00000000000000000000000000000000","lab":"lab2a","test":"initial_election","seed":1,"ok":true,"failure":null,"summary":"lab2a initial_election ok   seed=1 virtual=3.0s wall=0.00s trace=398748b6"}}}}"#);
            }}
        }}
        std::process::exit(0);
    }}
    if test == "re_election" {{
        // Tamper: plant always-passing tests in the grader's pristine copy, and a file in its
        // target directory, for the next submission.
        let planted = "#[test]
fn initial_election() {{}}
#[test]
fn re_election() {{}}
#[test]
fn many_elections() {{}}
";
        let _ = std::fs::write("../pristine/tests/lab2a.rs", planted);
        let _ = std::fs::write("../target/planted", "x");
        // Detach: a child in a session of its own that writes a file after grading.
        let _ = std::process::Command::new("setsid")
            .args(["sh", "-c", "sleep 5; touch {marker}"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }}
    if test == "many_elections" {{
        // Allocate without bound (3 GiB, touched), far past the grader's memory limit.
        let mut hog: Vec<Vec<u8>> = Vec::new();
        for _ in 0..3072 {{
            hog.push(vec![1u8; 1 << 20]);
        }}
        std::hint::black_box(&hog);
    }}
}}
"##,
        marker = marker.display()
    )
}

/// Whether a process whose command line contains `needle` is running.
fn process_running(needle: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
    })
}

fn test_verdict<'a>(grade: &'a Grade, test: &str) -> &'a str {
    let t = grade
        .tests
        .iter()
        .find(|t| t.lab == "lab2a" && t.test == test)
        .unwrap_or_else(|| panic!("no grade for lab2a {test}"));
    assert_eq!(t.score, 0.0, "{test}: {:?}", t.runs);
    match &t.runs[0].1 {
        labs::grade::runner::Verdict::Failed(why) => why,
        other => panic!("{test}: {other:?}"),
    }
}

fn hostile_submissions(scratch: &Path) {
    let quiet = ProgressBar::hidden();
    let rubric = || Rubric::load(&workspace_root().join("labs/rubric.toml")).unwrap();
    let lab2a = GradeOptions {
        labs: vec!["lab2a"],
        seeds: 1,
        ..GradeOptions::default()
    };
    let checked = Grader::new(workspace_root(), scratch, rubric(), lab2a.clone()).unwrap();
    let handout = checked.pristine_dir().to_path_buf();
    let reference = reference_only_lines(&handout);
    let subs = scratch.join("hostile");
    // Where a detached child would write: a folder anyone may write to.
    let drop_dir = scratch.join("drop");
    std::fs::create_dir_all(&drop_dir).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&drop_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let marker = drop_dir.join("written-after-grading");
    let saboteur = submission(
        &subs.join("saboteur"),
        &stub_raft_with(&handout, "sabotage();", &saboteur_code(&marker)),
    );
    let thief = submission(
        &subs.join("thief"),
        &stub_raft_with(
            &handout,
            "panic!(\"{STOLEN}\");",
            "const STOLEN: &str = include_str!(\"../../../../../raft/src/raft.rs\");\n",
        ),
    );
    let chatty_code = "fn chatty() -> u64 {\n    println!(\"hello\");\n    let t = std::time::Instant::now();\n    let mut seen = std::collections::HashMap::new();\n    seen.insert(1, t);\n    unsafe { std::ptr::null::<u8>().read() as u64 }\n}\n";
    let chatty_raft = stub_raft_with(&handout, "let _ = chatty();", chatty_code);
    let chatty_line = chatty_raft
        .lines()
        .position(|l| l == "fn chatty() -> u64 {")
        .unwrap()
        + 1;
    let chatty = submission(&subs.join("chatty"), &chatty_raft);

    // With the static check: refused before any build, each finding with its line.
    let results = scratch.join("results/hostile-checked");
    for (name, dir, expected) in [
        (
            "saboteur",
            &saboteur,
            vec![
                "std::env::args is not allowed",
                "std::io::stdout is not allowed",
                "std::fs::OpenOptions::new is not allowed",
                "std::process::exit is not allowed",
                "std::process::Command::new is not allowed",
            ],
        ),
        (
            "thief",
            &thief,
            vec!["include_str! is not allowed in student code (student code may not read files"],
        ),
        (
            "chatty",
            &chatty,
            vec![
                "println! is not allowed",
                "no clocks",
                "BTreeMap",
                "unsafe is not allowed",
            ],
        ),
    ] {
        let grade = checked.grade(dir, name, &quiet).unwrap();
        assert_eq!(grade.score(), 0.0, "{name}");
        assert!(grade.build_failure.is_none(), "{name} was built");
        let findings = grade.refused.join("\n");
        for what in expected {
            assert!(
                findings.contains(what),
                "{name}: {what:?} not in\n{findings}"
            );
        }
        assert!(
            grade
                .refused
                .iter()
                .all(|f| f.starts_with("raft/src/raft.rs:"))
        );
        let json = results_without_reference(&grade, &results.join(name), &reference);
        assert!(json.contains("Refused by the static check"), "{json}");
        assert!(grade.render_markdown().contains(&grade.refused[0]));
    }
    let chatty_grade = checked.grade(&chatty, "chatty", &quiet).unwrap();
    for (offset, what) in [
        (1, "println!"),
        (2, "std::time::Instant::now"),
        (3, "std::collections::HashMap::new"),
        (5, "unsafe"),
    ] {
        let at = format!("raft/src/raft.rs:{}:", chatty_line + offset);
        assert!(
            chatty_grade
                .refused
                .iter()
                .any(|f| f.starts_with(&at) && f.contains(what)),
            "{what} at {at}: {:#?}",
            chatty_grade.refused
        );
    }
    drop(checked);

    // Without it (the grader's test-only mode), the run-time defences alone.
    let unchecked = Grader::new(
        workspace_root(),
        scratch,
        rubric(),
        GradeOptions {
            static_check: false,
            ..lab2a
        },
    )
    .unwrap();
    let pristine_test = std::fs::read(unchecked.pristine_dir().join("tests/lab2a.rs")).unwrap();
    let results = scratch.join("results/hostile-unchecked");
    let grade = unchecked.grade(&saboteur, "saboteur", &quiet).unwrap();
    assert!(grade.build_failure.is_none(), "{:?}", grade.build_failure);
    assert_eq!(grade.score(), 0.0, "{}", grade.render_markdown());
    // The forged pass: the line on the report channel is not the harness's.
    let forged = test_verdict(&grade, "initial_election");
    assert!(forged.contains("did not write"), "{forged}");
    // The same forgery inside the model checker's process: every graded preset scores 0.
    let presets: Vec<_> = grade.tests.iter().filter(|t| t.preset.is_some()).collect();
    assert!(!presets.is_empty(), "lab 2A grades checker presets");
    for preset in presets {
        let forged = test_verdict(&grade, &preset.test);
        assert!(
            forged.contains("did not write"),
            "{}: {forged}",
            preset.test
        );
    }
    // The memory hog: stopped at the cap, named as such.
    let hog = test_verdict(&grade, "many_elections");
    assert!(
        hog.starts_with(&format!(
            "exceeded the memory limit of {} MiB",
            labs::grade::DEFAULT_MEMORY_LIMIT_MIB
        )),
        "{hog}"
    );
    // The tamperer and the detached child: the run fails on the stub, nothing was written, and
    // nothing it started is still running.
    let tamperer = test_verdict(&grade, "re_election");
    assert!(tamperer.contains("not yet implemented"), "{tamperer}");
    assert!(grade.tampering.is_empty(), "{:?}", grade.tampering);
    assert_eq!(
        std::fs::read(unchecked.pristine_dir().join("tests/lab2a.rs")).unwrap(),
        pristine_test
    );
    assert!(!scratch.join("target/planted").exists());
    assert!(
        !process_running(&marker.display().to_string()),
        "the detached child outlived grading"
    );
    results_without_reference(&grade, &results.join("saboteur"), &reference);

    // Reading the reference by a relative path from the work tree finds nothing: the scratch
    // folder is outside any checkout. The build fails, without reference text.
    let grade = unchecked.grade(&thief, "thief", &quiet).unwrap();
    let failure = grade
        .build_failure
        .as_deref()
        .expect("the thief does not build");
    assert!(failure.contains("couldn't read"), "{failure}");
    assert_eq!(grade.score(), 0.0);
    results_without_reference(&grade, &results.join("thief"), &reference);

    // The next submission in the batch (the skeleton) is graded against the pristine tests.
    let grade = unchecked.grade(&handout, "victim", &quiet).unwrap();
    assert!(grade.build_failure.is_none());
    assert_eq!(grade.score(), 0.0, "{}", grade.render_markdown());

    // Past the detached child's 5 seconds (waiting on a real child process): its file never
    // appears, though the folder is writable by the test user.
    assert!(Command::new("sleep").arg("6").status().unwrap().success());
    assert!(
        !marker.exists(),
        "a child of a graded run wrote after grading"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let control = drop_dir.join("control");
        let mut touch = Command::new("touch");
        touch.arg(&control);
        if let Some(user) = unchecked.options().run_as {
            touch.uid(user.uid).gid(user.gid);
        }
        assert!(touch.status().unwrap().success() && control.exists());
    }
    // Each run's private folder is gone.
    assert_eq!(std::fs::read_dir(scratch.join("runs")).unwrap().count(), 0);
}
