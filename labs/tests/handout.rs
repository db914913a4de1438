//! `labs handout`: the student repository has no solutions and no instructor-only files, its stubs
//! name the lab to implement, and it builds without warnings.

use std::path::Path;
use std::process::Command;

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labs/ is in the workspace")
}

#[test]
fn the_handout_has_stubs_instead_of_solutions_and_builds_without_warnings() {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("handout");
    let _ = std::fs::remove_dir_all(&out);
    let report = labs::handout::generate(workspace_root(), &out).expect("handout");
    for student_file in [
        "raft/src/raft.rs",
        "raft/src/messages.rs",
        "kvraft/src/server.rs",
    ] {
        assert!(
            report.stubbed.iter().any(|f| f == student_file),
            "{report:?}"
        );
    }
    for gone in [
        "labs/mutants",
        "checker/mutants",
        "GRADING.md",
        "raft/tests",
        "labs/src/grade",
        "labs/src/mutants.rs",
        "labs/src/bin/labs/instructor.rs",
        "labs/rubric.toml",
        "labs/gradescope",
        "labs/tests/grade.rs",
    ] {
        assert!(
            !out.join(gone).exists(),
            "{gone} must not be in the handout"
        );
    }
    // The stubs follow the rules the students' code is checked against.
    let policy = labs::student_code::load_policy(&out.join(labs::student_code::POLICY_FILE))
        .expect("the handout has the student-code policy");
    let findings = labs::student_code::check_tree(&out, &policy).expect("student files");
    assert!(
        findings.is_empty(),
        "{}",
        labs::student_code::render_findings(&findings)
    );
    let raft = std::fs::read_to_string(out.join("raft/src/raft.rs")).expect("raft.rs");
    assert!(!raft.contains("BEGIN SOLUTION") && !raft.contains("become_leader"));
    insta::assert_snapshot!("handout_raft_rs", raft);
    // The message and KV argument types keep their names, lose the reference's fields, and say
    // where the student's go.
    for (file, kept, gone) in [
        (
            "raft/src/messages.rs",
            "pub struct AppendEntriesArgs {",
            "pub leader_commit",
        ),
        (
            "kvraft/src/common.rs",
            "pub struct PutAppendArgs {",
            "pub seq",
        ),
    ] {
        let text = std::fs::read_to_string(out.join(file)).expect(file);
        assert!(
            text.contains(kept) && !text.contains(gone) && text.contains("// Your fields here"),
            "{file} in the handout:\n{text}"
        );
    }
    // The grader's subcommands are cut out of the CLI, not just their files.
    let cli = std::fs::read_to_string(out.join("labs/src/bin/labs/main.rs")).expect("main.rs");
    for gone in [
        "mod instructor",
        "instructor::",
        "INSTRUCTOR ONLY",
        "labs grade",
    ] {
        assert!(!cli.contains(gone), "{gone:?} in the handout's CLI:\n{cli}");
    }
    // Every registered lab reaches the student: its handout page, its suite, its stubbed files.
    for lab in labs::registry::LABS {
        for path in [lab.handout, &format!("tests/{}.rs", lab.suite)]
            .into_iter()
            .chain(lab.student_files.iter().copied())
        {
            assert!(out.join(path).is_file(), "{}: {path}", lab.id);
        }
    }

    // It compiles, tests included, without a single warning. (A separate target directory: the
    // handout is a different workspace.)
    let status = Command::new(env!("CARGO"))
        .current_dir(&out)
        .args(["check", "--workspace", "--tests", "--quiet"])
        .env("CARGO_TARGET_DIR", out.with_file_name("handout-target"))
        .env("RUSTFLAGS", "-D warnings")
        .status()
        .expect("run cargo check on the handout");
    assert!(status.success(), "the handout does not build cleanly");
}
