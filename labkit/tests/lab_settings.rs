//! The settings a lab test process reads (`LAB_SEED`, `LAB_SEEDS`, the report channel): a bad one
//! ends the process once, with one clear message, whatever the number of tests; and the report
//! channel carries the harness's own record of every run.
//!
//! Each test here re-runs this test binary as a child whose `child_*` tests call the lab runner
//! (they do nothing unless the parent asks for them).

use std::process::Command;

use labkit::lab::{REPORT_KEY_VAR, REPORT_VAR, TestSpec, read_records, run_test};

const CHILD_VAR: &str = "RAFTLAB_SETTINGS_CHILD";

fn child_body(test: &'static str) {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    run_test(TestSpec::new("labx", test), |sim| async move {
        sim.sleep(std::time::Duration::from_millis(10)).await;
        Vec::new()
    });
}

#[test]
fn child_a() {
    child_body("child_a");
}

#[test]
fn child_b() {
    child_body("child_b");
}

/// Run this binary's `child_*` tests (two threads) with `env`; (exit code, stdout, stderr).
fn run_children(env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["child_", "--test-threads", "2"])
        .env(CHILD_VAR, "1")
        .env_remove("LAB_SEED")
        .env_remove("LAB_SEEDS")
        .env_remove(REPORT_VAR)
        .env_remove(REPORT_KEY_VAR);
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_seed_settings_fail_once_and_clearly() {
    for (var, value, expected) in [
        (
            "LAB_SEED",
            "abc",
            "LAB_SEED must be a whole number from 0 to 18446744073709551615, got \"abc\"",
        ),
        (
            "LAB_SEEDS",
            "0",
            "LAB_SEEDS must be a whole number from 1 to 1000000, got \"0\"",
        ),
        (
            "LAB_SEEDS",
            "100000000000",
            "LAB_SEEDS must be a whole number from 1 to 1000000, got \"100000000000\"",
        ),
    ] {
        let (code, stdout, stderr) = run_children(&[(var, value)]);
        assert_eq!(code, Some(2), "{var}={value}: {stdout}{stderr}");
        assert_eq!(
            stderr.matches(expected).count(),
            1,
            "{var}={value}: one message expected:\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "{var}={value}: no panic expected:\n{stderr}"
        );
        assert!(
            !stdout.contains(" ok "),
            "{var}={value}: no run may pass:\n{stdout}"
        );
    }
}

#[test]
fn the_report_channel_carries_each_run_with_the_key() {
    let dir = std::env::temp_dir().join(format!("raftlab-settings-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (report, key) = (dir.join("report.jsonl"), dir.join("key"));
    std::fs::write(&key, "secret-key\n").unwrap();
    let (code, stdout, stderr) = run_children(&[
        ("LAB_SEEDS", "2"),
        (REPORT_VAR, report.to_str().unwrap()),
        (REPORT_KEY_VAR, key.to_str().unwrap()),
    ]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        !key.exists(),
        "the harness deletes the key file before any run"
    );
    let (mut records, foreign) =
        read_records(&std::fs::read_to_string(&report).unwrap(), "secret-key");
    assert_eq!(foreign, 0);
    records.sort_by(|a, b| (&a.test, a.seed).cmp(&(&b.test, b.seed)));
    let runs: Vec<(&str, u64, bool)> = records
        .iter()
        .map(|r| (r.test.as_str(), r.seed, r.ok))
        .collect();
    assert_eq!(
        runs,
        [
            ("child_a", 1, true),
            ("child_a", 2, true),
            ("child_b", 1, true),
            ("child_b", 2, true)
        ]
    );
    // A missing key file is a setting that cannot work: one message, exit 2.
    let (code, _, stderr) = run_children(&[
        (REPORT_VAR, report.to_str().unwrap()),
        (REPORT_KEY_VAR, key.to_str().unwrap()),
    ]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr.matches("the report channel cannot be used").count(),
        1,
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

const FAILING_VAR: &str = "RAFTLAB_SETTINGS_FAILING";

/// A run that fails (only when the parent asks for it).
#[test]
fn failing_run() {
    if std::env::var_os(FAILING_VAR).is_none() {
        return;
    }
    run_test(TestSpec::new("labx", "failing_run"), |sim| async move {
        sim.sleep(std::time::Duration::from_millis(10)).await;
        panic!("this run fails");
    });
}

/// A failing run's replay lines (under the summary line and in the test's panic) repeat the
/// settings that change the run: with `LAB_2E=1` (2E's switch in the 2A-2D suites) they begin
/// with `LAB_2E=1`, so the replay runs the same Raft; without it they do not mention it.
#[test]
fn a_failing_runs_replay_line_repeats_lab_2e() {
    for with_2e in [true, false] {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["failing_run", "--exact", "--test-threads", "1"])
            .env(FAILING_VAR, "1")
            .env("LAB_SEED", "5")
            .env("LAB_VIZ", "0")
            .env_remove("LAB_SEEDS")
            .env_remove(REPORT_VAR)
            .env_remove(REPORT_KEY_VAR)
            .env_remove(labkit::lab::WITH_2E_VAR);
        if with_2e {
            command.env(labkit::lab::WITH_2E_VAR, "1");
        }
        let out = command.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(101), "{text}");
        let replay = "LAB_SEED=5 cargo test --release --test labx -- failing_run --exact";
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(replay)).collect();
        assert!(lines.len() >= 2, "a replay line and the panic's: {text}");
        for line in lines {
            let expected = if with_2e {
                format!("LAB_2E=1 {replay}")
            } else {
                replay.to_string()
            };
            assert!(line.contains(&expected), "{line}");
            assert_eq!(line.contains("LAB_2E"), with_2e, "{line}");
        }
    }
}
