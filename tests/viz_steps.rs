//! A failing lab run's last events as the step-through page the model checker draws its
//! counterexamples in (`labkit::steps`): written beside the run's timeline page, announced under
//! it (`steps: PATH`), and rendered in headless Chromium with a column per server, the failing
//! check named, no script error, nothing on the console and no network request.
//!
//! Instructor-only (it runs the reference Raft). The browser tests need Debian's `chromium` (or
//! `LAB_CHROMIUM`); without one they pass saying so, unless `LAB_REQUIRE_CHROMIUM=1`.

use std::path::PathBuf;
use std::process::Command;

use harness::raft::{Applier, Cluster, Net, RAFT_ELECTION_TIMEOUT};
use labkit::lab::{SeedResult, TestSpec, run_seed};

mod browser;
use browser::{chromium, chromium_or_skip, texts_of};

/// Why the deliberately failing run fails.
const FAILURE: &str = "expected a leader to survive its disconnection (this test fails on purpose)";

/// A run that elects a leader, commits a command, cuts the leader off and then fails.
fn failing_run(test: &'static str) -> SeedResult {
    labkit::logging::init();
    let spec = TestSpec::new("viz_steps", test);
    run_seed(&spec, 1, |sim| async move {
        let cluster = Cluster::new(&sim, 3, Net::Reliable, Applier::Plain);
        let leader = cluster.check_one_leader().await;
        cluster.one(101u64, 3, false).await;
        cluster.disconnect(leader);
        cluster.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
        panic!("{FAILURE}");
    })
}

/// The step-through page of a failing run.
fn steps_page(test: &'static str) -> PathBuf {
    let result = failing_run(test);
    assert!(result.error.is_some());
    let picture = result.picture.expect("a failing run gets a picture");
    let steps = labkit::steps::steps_path(&picture);
    assert!(steps.is_file(), "{}", steps.display());
    steps
}

#[test]
fn a_failing_run_writes_its_last_events_as_steps() {
    let path = steps_page("a_failing_run_writes_its_last_events_as_steps");
    assert!(path.ends_with(
        "lab-runs/viz_steps-a_failing_run_writes_its_last_events_as_steps-seed1-steps.html"
    ));
    let page = std::fs::read_to_string(&path).expect("written");
    assert!(page.contains(FAILURE));
    assert!(
        page.contains("test: disconnect s"),
        "the test's action is a step"
    );
    assert!(
        page.contains("Raft.AppendEntries delivered"),
        "deliveries are steps"
    );
    assert!(
        page.contains("\"role\":\"leader\""),
        "the servers' roles are shown"
    );
    assert!(page.len() < 2 << 20, "{} bytes", page.len());
}

/// Run inside [`the_failing_run_prints_the_steps_line`]'s child process only.
#[test]
fn child_failing_run() {
    if std::env::var_os("VIZ_STEPS_CHILD").is_none() {
        return;
    }
    failing_run("child_failing_run");
}

#[test]
fn the_failing_run_prints_the_steps_line() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args(["--exact", "child_failing_run", "--test-threads", "1"])
        .env("VIZ_STEPS_CHILD", "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let picture = lines
        .iter()
        .position(|l| l.trim_start().starts_with("picture: "))
        .unwrap_or_else(|| panic!("no picture line in:\n{stdout}"));
    let steps = lines[picture + 1]
        .trim_start()
        .strip_prefix("steps: ")
        .unwrap_or_else(|| panic!("no steps line under the picture line:\n{stdout}"));
    assert!(steps.ends_with("-steps.html"), "{steps}");
    assert!(std::path::Path::new(steps).is_file(), "{steps}");
}

#[test]
fn the_steps_of_a_failing_run_render_in_chromium() {
    let Some(browser) = chromium_or_skip("the_steps_of_a_failing_run_render_in_chromium") else {
        return;
    };
    let page = steps_page("the_steps_of_a_failing_run_render_in_chromium");
    let shown = chromium(&browser, &page, "", None);
    let dom = &shown.dom;
    assert!(
        !dom.contains("id=\"js-error\""),
        "the page's script failed: {dom}"
    );
    assert!(shown.console.is_empty(), "console: {:?}", shown.console);
    assert!(
        shown.requests.is_empty(),
        "network requests: {:?}",
        shown.requests
    );
    assert_eq!(texts_of(dom, "<th data-server="), ["s0", "s1", "s2"]);
    let problem = texts_of(dom, "id=\"problem\"");
    assert_eq!(problem.len(), 1);
    assert!(problem[0].contains(FAILURE), "{problem:?}");
    // Each server's vote, log terms and persisted state (decoded by restarting the reference Raft
    // from its bytes) are recorded: the cut-off leader of term 1 voted for itself; the others
    // are in the next term and voted for its leader, and each persisted what it holds.
    let roles = texts_of(dom, "data-field=\"role\"");
    let terms = texts_of(dom, "data-field=\"term\"");
    let votes = texts_of(dom, "data-field=\"voted_for\"");
    let persisted_votes = texts_of(dom, "class=\"persisted-vote\"");
    assert_eq!(roles.len(), 3, "{roles:?}");
    let leader_of = |term: &str| {
        (0..3)
            .find(|&i| roles[i] == "leader" && terms[i] == term)
            .map(|i| format!("s{i}"))
    };
    for i in 0..3 {
        let voted = leader_of(&terms[i]).expect("a leader in each server's term");
        assert_eq!(votes[i], voted, "s{i}: {roles:?} {terms:?} {votes:?}");
        assert_eq!(persisted_votes[i], format!("voted for {voted}"), "s{i}");
    }
    assert_eq!(
        (roles[1].as_str(), terms[1].as_str()),
        ("leader", "1"),
        "s1 is the leader cut off"
    );
    let persisted = texts_of(dom, "data-field=\"persisted\"");
    assert!(
        persisted[1].starts_with("term 1voted for s1log 1:t1"),
        "{persisted:?}"
    );
    assert!(
        persisted[0].starts_with("term 2voted for s2log 1:t1"),
        "{persisted:?}"
    );
    assert_eq!(
        texts_of(dom, "data-field=\"log\""),
        ["1:t1", "1:t1", "1:t1"]
    );
    assert!(
        dom.contains("<span class=\"role-leader\">leader</span>"),
        "{dom}"
    );
    // The last step has more messages in flight than it lists: the count is all of them.
    let count = texts_of(dom, "id=\"in-flight-count\"");
    let total: usize = count[0]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    let more: usize = dom
        .split("... and ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a '... and N more' line");
    assert_eq!(
        total,
        labkit::steps::MAX_IN_FLIGHT_SHOWN + more,
        "{count:?}"
    );
    let png = labkit::steps::target_dir("lab-runs").join("viz_steps-steps.png");
    browser::screenshot(&browser, &page, &png, 30_000);
}

/// A long recorded log shows as runs of one term, split where the commit index falls, with the
/// runs that changed since the previous step marked.
#[test]
fn a_long_recorded_log_renders_as_runs_in_chromium() {
    use labkit::steps::{Log, ServerView, Step, StepsPage};
    let Some(browser) = chromium_or_skip("a_long_recorded_log_renders_as_runs_in_chromium") else {
        return;
    };
    let terms =
        |n: u64| labkit::recorder::LogTerms::new(5, 1, (0..n).map(|i| if i < 30 { 2 } else { 4 }));
    let view = |n: u64, commit: u64| ServerView {
        up: true,
        role: Some("leader".into()),
        term: Some(4),
        voted_for: Some("s0".into()),
        commit: Some(commit),
        log: Log::of_terms(&terms(n)),
        ..ServerView::default()
    };
    let step = |n: u64, commit: u64| Step {
        kind: "timer".into(),
        event: "s0: Heartbeat timer fires".into(),
        servers: vec![view(n, commit)],
        ..Step::default()
    };
    let data = StepsPage {
        title: "runs".into(),
        servers: vec!["s0".into()],
        steps: vec![step(40, 20), step(45, 40)],
        ..StepsPage::default()
    };
    let path = labkit::steps::target_dir("lab-runs").join("viz_steps-runs.html");
    labkit::steps::write(&data, &path).expect("written");
    let shown = chromium(&browser, &path, "", None);
    assert!(!shown.dom.contains("id=\"js-error\""), "{}", shown.dom);
    assert!(shown.console.is_empty(), "console: {:?}", shown.console);
    // Snapshot up to 5; indices 6..35 of term 2 (committed), 36..40 of term 4 committed and
    // 41..50 not yet.
    assert_eq!(
        texts_of(&shown.dom, "data-field=\"log\""),
        ["snap@5 (t1)6..35:t2 ×3036..40:t4 ×541..50:t4 ×10"]
    );
    let committed = shown.dom.matches("class=\"entry run committed").count();
    assert_eq!(committed, 2, "{}", shown.dom);
    let changed: Vec<&str> = shown
        .dom
        .split("class=\"entry run")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or(""))
        .collect();
    assert_eq!(changed, [" committed", " committed changed", " changed"]);
}

/// A server's log is recorded only when its terms changed since that server's previous record
/// (a heartbeat or a commit records the state without the log), and the last log recorded is the
/// log the server ends with.
#[test]
fn a_log_is_recorded_only_when_it_changed() {
    use labkit::recorder::{LogTerms, What};
    use labkit::sim::{RunConfig, run_recorded};
    use std::collections::BTreeMap;
    use std::rc::Rc;

    let config = RunConfig::new(1).record(true);
    let (result, _, recording) = run_recorded(config, |sim| async move {
        let cluster = Cluster::new(&sim, 3, Net::Reliable, Applier::Plain);
        cluster.check_one_leader().await;
        for cmd in [101u64, 102, 103] {
            cluster.one(cmd, 3, false).await;
        }
        // Heartbeats only: states may be recorded, logs must not be.
        cluster.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
    });
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(recording.dropped, 0, "the run fits the recorder");
    let mut last: BTreeMap<u32, Rc<LogTerms>> = BTreeMap::new();
    let (mut with_log, mut without_log) = (0, 0);
    for event in &recording.events {
        let What::State { lane, log, .. } = &event.what else {
            continue;
        };
        match log {
            Some(log) => {
                with_log += 1;
                if let Some(before) = last.get(lane) {
                    assert!(
                        (before.snapshot_index, before.snapshot_term, &before.runs)
                            != (log.snapshot_index, log.snapshot_term, &log.runs),
                        "lane {lane} recorded an unchanged log at t={}us: {log:?}",
                        event.t
                    );
                }
                last.insert(*lane, log.clone());
            }
            None => without_log += 1,
        }
    }
    assert_eq!(last.len(), 3, "each server's log was recorded: {last:?}");
    for (lane, log) in &last {
        assert_eq!(log.len, 3, "lane {lane} ends with the 3 commands: {log:?}");
        assert_eq!(log.runs.len(), 1, "one term: {log:?}");
    }
    assert!(
        without_log > with_log,
        "most records leave the log out: {without_log} without, {with_log} with"
    );
}
