//! The timeline page of a failing run: it is written and announced (`picture: PATH`), and it
//! renders in a real browser (headless Chromium) with a lane per server and the failure marked,
//! without a single network request.
//!
//! The browser test needs Debian's `chromium` (or `LAB_CHROMIUM=/path/to/chrome`). Without one it
//! says so and passes, unless `LAB_REQUIRE_CHROMIUM=1` (CI sets it), which makes it fail instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use harness::raft::{Applier, Cluster, Net, RAFT_ELECTION_TIMEOUT};
use labkit::lab::{SeedResult, TestSpec, run_seed};
use labkit::sim::{RunConfig, run_recorded};

mod browser;
use browser::chromium_or_skip;

/// Why the deliberately failing run fails.
const FAILURE: &str = "expected a leader to survive its disconnection (this test fails on purpose)";

/// A run that elects a leader, cuts it off and then fails a check: a real failing run.
fn failing_run(test: &'static str) -> SeedResult {
    labkit::logging::init(); // as every lab test's runner does
    let spec = TestSpec::new("viz", test);
    run_seed(&spec, 1, |sim| async move {
        let cluster = Cluster::new(&sim, 3, Net::Reliable, Applier::Plain);
        let leader = cluster.check_one_leader().await;
        cluster.one(101u64, 3, false).await;
        cluster.disconnect(leader);
        cluster.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
        panic!("{FAILURE}");
    })
}

#[test]
fn a_failing_run_writes_its_picture() {
    let result = failing_run("a_failing_run_writes_its_picture");
    assert!(result.error.is_some());
    let path = result.picture.expect("a failing run gets a picture");
    assert!(
        path.starts_with(labkit::timeline::runs_dir()),
        "{}",
        path.display()
    );
    assert!(path.ends_with("lab-runs/viz-a_failing_run_writes_its_picture-seed1.html"));
    let page = std::fs::read_to_string(&path).expect("the picture exists");
    assert!(page.contains(FAILURE));
    assert!(
        page.contains("disconnect s"),
        "the test's action is in the data"
    );
    assert!(page.contains("AppendEntries"), "messages are in the data");
    assert!(
        !page.contains("not deterministic"),
        "the replay drawn is the run that failed"
    );
}

/// Recording reads nothing the run depends on: the same seed gives the same trace with the
/// recorder on or off (and only on does it keep anything).
#[test]
fn recording_does_not_change_the_run() {
    let run = |record: bool| {
        let config = RunConfig::new(5).record(record);
        let (result, stats, recording) = run_recorded(config, |sim| async move {
            let cluster = Cluster::new(&sim, 3, Net::Unreliable, Applier::Plain);
            let leader = cluster.check_one_leader().await;
            cluster.one(7u64, 3, true).await;
            cluster.disconnect(leader);
            cluster.one(8u64, 2, true).await;
        });
        assert!(result.is_ok(), "{result:?}");
        (stats.trace, stats.events, recording.events.len())
    };
    let (off, on) = (run(false), run(true));
    assert_eq!((off.0, off.1), (on.0, on.1), "same trace, same events");
    assert_eq!(off.2, 0);
    assert!(on.2 > 50, "{} events recorded", on.2);
}

/// Run inside [`the_failing_run_prints_the_picture_line`]'s child process only.
#[test]
fn child_failing_run() {
    if std::env::var_os("VIZ_CHILD").is_none() {
        return;
    }
    failing_run("child_failing_run");
}

#[test]
fn the_failing_run_prints_the_picture_line() {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args(["--exact", "child_failing_run", "--test-threads", "1"])
        .env("VIZ_CHILD", "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let replay = lines
        .iter()
        .position(|l| l.trim_start().starts_with("replay: "))
        .unwrap_or_else(|| panic!("no replay line in:\n{stdout}"));
    let picture = lines[replay + 1]
        .trim_start()
        .strip_prefix("picture: ")
        .unwrap_or_else(|| panic!("no picture line under the replay line:\n{stdout}"));
    assert!(Path::new(picture).is_file(), "{picture}");
}

/// `RUST_LOG=lab=info` tells the test's story with virtual timestamps; `lab=debug` adds the
/// deliveries and losses.
#[test]
fn the_lab_log_target_tells_the_story() {
    let exe = std::env::current_exe().expect("the test binary");
    let log = |filter: &str| {
        let out = Command::new(&exe)
            .args(["--exact", "child_failing_run", "--nocapture"])
            .env("VIZ_CHILD", "1")
            .env("RUST_LOG", filter)
            .env("NO_COLOR", "1")
            .output()
            .expect("the test binary runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let info = log("lab=info");
    let line = |text: &str, log: &str| {
        log.lines()
            .find(|l| l.contains(text))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no line with {text:?} in:\n{log}"))
    };
    // The leader is cut off at about 0.5 s of virtual time, after the checks that passed.
    let cut = line("lab: test: disconnect s", &info);
    assert!(cut.trim_start().starts_with("0.5"), "{cut}");
    line("lab: check passed: one leader", &info);
    line("lab: test: start(101) at s", &info);
    assert!(!info.contains("delivered"), "deliveries are debug lines");
    let debug = log("lab=debug");
    line("Raft.AppendEntries s", &debug);
    line("delivered", &debug);
    line("unreachable", &debug);
}

#[test]
fn a_passing_run_gets_no_picture_unless_asked() {
    let spec = TestSpec::new("viz", "a_passing_run_gets_no_picture_unless_asked");
    let result = run_seed(&spec, 1, |sim| async move {
        sim.sleep(Duration::from_millis(10)).await;
        Vec::new()
    });
    assert!(result.error.is_none());
    // LAB_VIZ=1 in the environment asks for every run's picture.
    let asked = std::env::var("LAB_VIZ").is_ok_and(|v| v == "1");
    assert_eq!(result.picture.is_some(), asked);
}

/// The page's DOM after its script ran in headless Chromium, and the requests it made (the
/// browser's own services aside), and what its console said.
fn render_in_chromium(chromium: &Path, page: &Path) -> browser::Rendered {
    browser::chromium(chromium, page, "", None)
}

/// The page made no network request and its console stayed silent.
fn assert_quiet(rendered: &browser::Rendered) {
    assert!(
        rendered.requests.is_empty(),
        "the page made network requests: {:?}",
        rendered.requests
    );
    assert!(
        rendered.console.is_empty(),
        "the console said: {:?}",
        rendered.console
    );
}

#[test]
fn the_picture_renders_in_chromium() {
    let Some(chromium) = chromium_or_skip("the_picture_renders_in_chromium") else {
        return;
    };
    let result = failing_run("the_picture_renders_in_chromium");
    let page = result.picture.expect("a failing run gets a picture");
    let rendered = render_in_chromium(&chromium, &page);
    let dom = &rendered.dom;
    assert!(
        !dom.contains("id=\"js-error\""),
        "the page's script failed: {dom}"
    );
    for lane in ["s0", "s1", "s2", "test"] {
        assert!(
            dom.contains(&format!("class=\"lane\" data-lane=\"{lane}\""))
                || dom.contains(&format!("data-lane=\"{lane}\"")),
            "no lane {lane} drawn"
        );
    }
    assert!(
        dom.contains("id=\"failure-marker\""),
        "no failure marker drawn"
    );
    assert!(dom.contains("class=\"band role-leader\""), "no leader band");
    assert!(
        dom.contains("class=\"cut\""),
        "the cut server is not shaded"
    );
    assert!(dom.contains("class=\"msg"), "no message drawn");
    assert!(dom.contains("class=\"action\""), "no test action drawn");
    assert_quiet(&rendered);
}

/// The network check bites: a page that loads an image from the network is caught.
#[test]
fn a_page_that_fetches_is_caught_in_chromium() {
    let Some(chromium) = chromium_or_skip("a_page_that_fetches_is_caught_in_chromium") else {
        return;
    };
    let dir = labkit::timeline::runs_dir();
    std::fs::create_dir_all(&dir).expect("the runs folder");
    let path = dir.join("viz-fetching.html");
    let page =
        "<!DOCTYPE html><html><body><img src=\"http://raftlab-viz.invalid/x.png\"></body></html>";
    std::fs::write(&path, page).expect("written");
    let requests = render_in_chromium(&chromium, &path).requests;
    assert!(
        requests.iter().any(|r| r.contains("raftlab-viz.invalid")),
        "the image request was not seen: {requests:?}"
    );
}

/// The browser test itself fails on a page whose script breaks (so it cannot pass vacuously).
#[test]
fn a_broken_page_is_caught_in_chromium() {
    let Some(chromium) = chromium_or_skip("a_broken_page_is_caught_in_chromium") else {
        return;
    };
    let result = failing_run("a_broken_page_is_caught_in_chromium");
    let page = result.picture.expect("a failing run gets a picture");
    let html = std::fs::read_to_string(&page).expect("written");
    let broken = html.replacen("JSON.parse(", "JSON.parse(undefinedThing + ", 1);
    let path = page.with_file_name("viz-broken.html");
    std::fs::write(&path, broken).expect("written");
    let dom = render_in_chromium(&chromium, &path).dom;
    assert!(
        dom.contains("id=\"js-error\""),
        "the error was not caught: {dom}"
    );
    assert!(!dom.contains("id=\"failure-marker\""));
}

// ----- KV history pictures. -----

/// Appended to a copy of a history picture: once the page has loaded (after the page's own load
/// handlers), measure where the first operation that could not be placed is on screen, and say it
/// in the DOM.
const MEASURE_STUCK: &str = "<script>window.addEventListener('load', function () {
  var g = document.querySelector('g.op.stuck'), d = document.createElement('div');
  d.id = 'measure';
  if (g) {
    var r = g.getBoundingClientRect();
    d.setAttribute('data-box', [r.left, r.top, r.right, r.bottom, window.innerWidth, window.innerHeight].join(' '));
  }
  document.body.appendChild(d);
});</script>";

/// Whether the page copy with [`MEASURE_STUCK`] says the stuck operation lies inside the window.
fn stuck_on_screen(dom: &str) -> bool {
    let at = dom
        .find("data-box=\"")
        .unwrap_or_else(|| panic!("nothing measured (no stuck operation?): {dom}"));
    let rest = &dom[at + 10..];
    let v: Vec<f64> = rest[..rest.find('"').expect("closed")]
        .split(' ')
        .map(|n| n.parse().expect("a number"))
        .collect();
    let (left, top, right, bottom, width, height) = (v[0], v[1], v[2], v[3], v[4], v[5]);
    right > left && left >= 0.0 && top >= 0.0 && right <= width && bottom <= height
}

/// The page in Chromium with [`MEASURE_STUCK`] appended (a copy beside it named `copy`).
fn render_measured(chromium: &Path, page: &Path, copy: &str, html: &str) -> browser::Rendered {
    let measured = page.with_file_name(copy);
    let html = html.replacen("</body>", &format!("{MEASURE_STUCK}</body>"), 1);
    std::fs::write(&measured, html).expect("written");
    render_in_chromium(chromium, &measured)
}

/// A PNG of the page as headless Chromium shows it in a 1400 x 900 window, under
/// `target/screenshots/NAME.png` (checked: see [`browser::screenshot`]).
fn screenshot(chromium: &Path, page: &Path, name: &str) -> PathBuf {
    let dir = labkit::timeline::runs_dir().with_file_name("screenshots");
    let png = dir.join(format!("{name}.png"));
    browser::screenshot(chromium, page, &png, 20_000);
    png
}

/// A real 3A-style run (5 servers, a partition, a crash and restart, leaders) whose recorded
/// history gets one stale read added, so that it is not linearizable: the failure names the
/// picture, and the picture carries the run's faults.
fn non_linearizable_kv_run(test: &'static str) -> PathBuf {
    use harness::kv::KvCluster;
    use linearizability::Operation;
    labkit::logging::init();
    let spec = TestSpec::new("viz", test);
    let result = run_seed(&spec, 1, |sim| async move {
        let cfg = KvCluster::new(
            &sim,
            harness::TestId { lab: "viz", test },
            5,
            Net::Reliable,
            None,
        );
        let all = cfg.all();
        let ck = cfg.make_client(&all);
        cfg.put(&ck, "k", "a", Some(0)).await;
        let (p1, p2) = cfg.make_partition();
        cfg.partition(&p1, &p2);
        let majority = cfg.make_client(&p1);
        cfg.append(&majority, "k", "b", Some(1)).await;
        cfg.shutdown_server(p1[0]);
        cfg.sleep(Duration::from_millis(500)).await;
        cfg.start_server(p1[0]);
        cfg.partition(&p1, &p2);
        cfg.append(&majority, "k", "c", Some(1)).await;
        cfg.connect_all();
        cfg.sleep(Duration::from_millis(300)).await;
        let read = cfg.get(&ck, "k", Some(0)).await;
        assert_eq!(read, "abc");
        // A read after that one, of the value before both appends: stale.
        let t = cfg.now().as_nanos() as u64;
        cfg.record_operation(Operation::get(7, "k", t + 1_000_000, t + 2_000_000, "a"));
        cfg.sleep(Duration::from_millis(5)).await;
        cfg.check_linearizable();
        Vec::new()
    });
    let failure = result
        .error
        .expect("the history is not linearizable")
        .to_string();
    assert!(failure.contains("NOT linearizable"), "{failure}");
    let picture = failure
        .split("Picture: ")
        .nth(1)
        .and_then(|rest| rest.split(" (history: ").next())
        .unwrap_or_else(|| panic!("no picture named in: {failure}"));
    PathBuf::from(picture)
}

#[test]
fn a_kv_history_picture_shows_the_faults_in_chromium() {
    let page = non_linearizable_kv_run("a_kv_history_picture_shows_the_faults_in_chromium");
    let html = std::fs::read_to_string(&page).expect("the picture exists");
    // The harness's faults are in the page whatever the browser.
    for text in [
        "class=\"fault part\"",
        ">network</text>",
        "class=\"fault crash\"",
        "class=\"fault leader\"",
        " ms</text>",
    ] {
        assert!(
            html.contains(text),
            "{text} missing from {}",
            page.display()
        );
    }
    let Some(chromium) = chromium_or_skip("a_kv_history_picture_shows_the_faults_in_chromium")
    else {
        return;
    };
    let rendered = render_measured(&chromium, &page, "viz-kv-measured.html", &html);
    let dom = &rendered.dom;
    assert!(
        !dom.contains("id=\"js-error\""),
        "the page's script failed: {dom}"
    );
    assert!(dom.contains("class=\"partshade\""), "no partition shaded");
    assert!(dom.contains("class=\"op stuck"), "no stuck operation");
    assert!(stuck_on_screen(dom), "the stuck operation is off screen");
    assert!(
        dom.contains("could not come next"),
        "the details panel does not open on the stuck operation"
    );
    assert_quiet(&rendered);
    screenshot(&chromium, &page, "kv-history");
}

/// 50 clients, 2,000 operations over 10 keys (each client uses two), one stale read late in the
/// run, and a partition every second: the failing key's chart has only its clients' rows and the
/// page opens on the stuck read. Without the page's scrolling the read would be off screen (the
/// check bites).
#[test]
fn a_big_history_picture_opens_on_its_stuck_operation_in_chromium() {
    use linearizability::{
        Annotation, AnnotationKind, CheckOptions, History, Operation, PictureOptions, Verdict,
        check_history, render_html_annotated,
    };
    const MS: u64 = 1_000_000;
    let mut values: std::collections::BTreeMap<String, String> = Default::default();
    let mut ops = Vec::new();
    for k in 0..2000u64 {
        let client = k % 50;
        let key = match k % 2 {
            0 => client % 10,
            _ => (client + 3) % 10,
        }
        .to_string();
        let (call, ret) = (k * 5 * MS, k * 5 * MS + 4 * MS);
        if k == 1900 {
            // Stale: the value before the last append to this key.
            ops.push(Operation::get(client, &key, call, ret, "x"));
            continue;
        }
        let value = values.entry(key.clone()).or_default();
        if k % 3 == 0 {
            ops.push(Operation::get(client, &key, call, ret, value));
        } else {
            let piece = format!("{client}.{k};");
            ops.push(Operation::append(client, &key, &piece, call, ret));
            value.push_str(&piece);
        }
    }
    // Operation 1900 is client 0's (1900 % 50), on its first key (client % 10).
    let failing_key = "0";
    let history = History::new(ops);
    let report = check_history(&history, &CheckOptions::default()).expect("a valid history");
    assert_eq!(report.verdict, Verdict::Illegal);
    let mut annotations = Vec::new();
    for s in 0..10u64 {
        annotations.push(Annotation {
            row: "network".into(),
            start: s * 1000 * MS,
            end: s * 1000 * MS + 600 * MS,
            kind: AnnotationKind::Partition,
            label: format!("partition [{}] | rest", s % 5),
            detail: "a partition".into(),
        });
        annotations.push(Annotation {
            row: format!("s{}", s % 5),
            start: s * 1000 * MS,
            end: s * 1000 * MS + 900 * MS,
            kind: AnnotationKind::Leader,
            label: format!("leader T{s}"),
            detail: format!("led term {s}"),
        });
    }
    let options = PictureOptions {
        annotations,
        nanoseconds: true,
    };
    let html = render_html_annotated(&history, &report.info, &options);
    let section = &html[html.find("<section>").expect("a drawn key")..];
    assert!(section.contains(&format!("key &quot;{failing_key}&quot;: NOT linearizable")));
    let rows = section.matches("class=\"client\"").count();
    assert!(
        (1..=10).contains(&rows),
        "{rows} client rows: only the failing key's clients"
    );
    let dir = labkit::timeline::runs_dir();
    std::fs::create_dir_all(&dir).expect("the runs folder");
    let page = dir.join("viz-big-history.html");
    std::fs::write(&page, &html).expect("written");
    let Some(chromium) =
        chromium_or_skip("a_big_history_picture_opens_on_its_stuck_operation_in_chromium")
    else {
        return;
    };
    let rendered = render_measured(&chromium, &page, "viz-big-measured.html", &html);
    let dom = &rendered.dom;
    assert!(!dom.contains("id=\"js-error\""), "the page's script failed");
    assert!(stuck_on_screen(dom), "the stuck operation is off screen");
    assert_quiet(&rendered);
    // The same page without its scrolling: the stuck read is off screen, and the check says so.
    let unscrolled = html.replacen("stuck.scrollIntoView(", "void (", 1);
    assert!(!unscrolled.contains("scrollIntoView("));
    assert_ne!(unscrolled, html);
    let dom = render_measured(&chromium, &page, "viz-big-unscrolled.html", &unscrolled).dom;
    assert!(
        !stuck_on_screen(&dom),
        "the check would pass without the page scrolling"
    );
    screenshot(&chromium, &page, "kv-big-history");
}

/// A KV server's applies are recorded (Raft hands them to the server, not to the tester), and
/// recording a KV run does not change it.
#[test]
fn kv_applies_are_recorded_and_recording_does_not_change_a_kv_run() {
    use harness::kv::KvCluster;
    use labkit::recorder::What;
    let run = |record: bool| {
        let config = RunConfig::new(3).record(record);
        let (result, stats, recording) = run_recorded(config, |sim| async move {
            let id = harness::TestId {
                lab: "viz",
                test: "kv_applies",
            };
            let cfg = KvCluster::new(&sim, id, 3, Net::Unreliable, None);
            let ck = cfg.make_client(&cfg.all());
            for i in 0..5 {
                cfg.append(&ck, "k", &i.to_string(), Some(0)).await;
            }
            let (p1, p2) = cfg.make_partition();
            cfg.partition(&p1, &p2);
            cfg.put(&ck, "j", "v", Some(0)).await;
            cfg.check_linearizable();
        });
        assert!(result.is_ok(), "{result:?}");
        let applies: Vec<(String, u64)> = (recording.events.iter())
            .filter_map(|e| match &e.what {
                What::Apply { lane, index, .. } => {
                    Some((recording.lanes[*lane as usize].clone(), *index))
                }
                _ => None,
            })
            .collect();
        (stats.trace, stats.events, applies)
    };
    let (off, on) = (run(false), run(true));
    assert_eq!((off.0, off.1), (on.0, on.1), "same trace, same events");
    assert!(off.2.is_empty());
    for server in ["s0", "s1", "s2"] {
        let indices: Vec<u64> = (on.2.iter())
            .filter(|(lane, _)| lane == server)
            .map(|&(_, i)| i)
            .collect();
        assert!(indices.len() >= 3, "{server} applied {indices:?}");
        assert!(
            indices.windows(2).all(|w| w[0] < w[1]),
            "{server}: {indices:?}"
        );
    }
}
