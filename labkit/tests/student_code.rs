//! The static check on this repository's own student files: the code in `raft/` and `kvraft/`
//! (the reference in the instructor's repository, the student's own code in the handout) must
//! follow the rules of `labkit/student-code.toml`. A refusal names the file and line:
//!
//! ```text
//! raft/src/raft.rs:123:5: std::fs::read is not allowed in student code (no I/O: ...)
//! ```

use std::path::Path;

use labkit::student_code::{Policy, check_tree, render_findings};

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("labkit/ is in the workspace")
}

#[test]
fn the_student_files_follow_the_rules_of_the_labs() {
    // The built-in policy is labkit/student-code.toml as it is now (the build script reruns when
    // the file changes).
    let policy = Policy::builtin().expect("labkit/student-code.toml");
    let findings = check_tree(workspace_root(), &policy).expect("the student files are readable");
    assert!(findings.is_empty(), "{}", render_findings(&findings));
}

#[test]
fn every_dependency_of_the_student_crates_is_a_crate_the_policy_knows() {
    let policy = Policy::builtin().expect("the built-in policy");
    let crates: Vec<&str> = policy.crates().collect();
    for manifest in ["raft/Cargo.toml", "kvraft/Cargo.toml"] {
        let text = std::fs::read_to_string(workspace_root().join(manifest)).expect(manifest);
        let manifest_toml: toml::Table = text.parse().expect("a TOML manifest");
        let deps = manifest_toml
            .get("dependencies")
            .and_then(|d| d.as_table())
            .expect("[dependencies]");
        for name in deps.keys() {
            let name = name.replace('-', "_");
            assert!(
                crates.contains(&name.as_str()),
                "{manifest} depends on {name}, which labkit/student-code.toml's `crates` does not \
                 list: paths into it would not be checked"
            );
        }
    }
}
