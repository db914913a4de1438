//! The timeline page of a failing run: it is written and announced (`picture: PATH`), and it
//! renders in a real browser (headless Chromium) with a lane per server and the failure marked,
//! without a single network request.
//!
//! The browser test needs Debian's `chromium` (or `LAB_CHROMIUM=/path/to/chrome`). Without one it
//! says so and passes, unless `LAB_REQUIRE_CHROMIUM=1` (CI sets it), which makes it fail instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use harness::raft::{Applier, Cluster, Net, RAFT_ELECTION_TIMEOUT};
use labkit::lab::{SeedResult, TestSpec, run_seed};
use labkit::sim::{RunConfig, run_recorded};

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

/// The browser: `LAB_CHROMIUM`, else the first of Debian's names found on the `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LAB_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "chrome-headless-shell",
            "google-chrome",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The browser, or `None` when there is none and none is required (the test then passes, saying
/// so); with `LAB_REQUIRE_CHROMIUM=1` a missing browser fails the test.
fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        if std::env::var("LAB_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
            panic!(
                "{test}: no chromium found and LAB_REQUIRE_CHROMIUM=1 (install Debian's chromium)"
            );
        }
        println!(
            "SKIPPED {test}: no chromium found (apt-get install chromium, or set LAB_CHROMIUM); \
             set LAB_REQUIRE_CHROMIUM=1 to fail instead"
        );
    }
    found
}

/// The page's DOM after its script ran, from headless Chromium, and how many connections the
/// browser sent to a proxy that every request (file URLs aside) goes through: the first line of
/// each.
fn render_in_chromium(chromium: &Path, page: &Path) -> (String, Vec<String>) {
    let proxy = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = proxy.local_addr().expect("bound").port();
    let (seen, requests) = mpsc::channel::<String>();
    {
        std::thread::spawn(move || {
            for stream in proxy.incoming() {
                let mut first = String::from("(unreadable)");
                if let Ok(mut stream) = stream {
                    let mut buf = [0u8; 512];
                    let n = stream.read(&mut buf).unwrap_or(0);
                    let text = String::from_utf8_lossy(&buf[..n]);
                    first = text.lines().next().unwrap_or("").to_string();
                }
                if seen.send(first).is_err() {
                    break; // the test has what it needed
                }
            }
        });
    }
    // A fresh profile per browser: tests run in parallel.
    static BROWSERS: AtomicUsize = AtomicUsize::new(0);
    let n = BROWSERS.fetch_add(1, Ordering::SeqCst);
    let profile = std::env::temp_dir().join(format!("raftlab-chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).expect("a fresh profile folder");
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            // The browser's own services (time, updates, sign-in, safe browsing) would
            // otherwise call home; only the page's requests are of interest.
            "--disable-client-side-phishing-detection",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-domain-reliability",
            "--no-pings",
            "--safebrowsing-disable-auto-update",
            "--disable-features=OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
            "--metrics-recording-only",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--proxy-server=127.0.0.1:{port}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .arg("--window-size=1400,900")
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium starts");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && dom.contains("</html>"),
        "chromium failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    // The browser has exited, so its connections are all queued at the proxy ahead of this last
    // one: once the proxy has read it, it has read every request the browser made.
    const LAST: &str = "RAFTLAB-LAST-REQUEST";
    let mut last = TcpStream::connect(("127.0.0.1", port)).expect("connect to the proxy");
    last.write_all(format!("{LAST}\r\n").as_bytes())
        .expect("write to the proxy");
    drop(last);
    let mut seen = Vec::new();
    loop {
        match requests.recv_timeout(Duration::from_secs(30)) {
            Ok(first) if first == LAST => break,
            Ok(first) => seen.push(first),
            Err(e) => panic!("the proxy stopped answering ({e}); requests so far: {seen:?}"),
        }
    }
    (dom, seen)
}

#[test]
fn the_picture_renders_in_chromium() {
    let Some(chromium) = chromium_or_skip("the_picture_renders_in_chromium") else {
        return;
    };
    let result = failing_run("the_picture_renders_in_chromium");
    let page = result.picture.expect("a failing run gets a picture");
    let (dom, requests) = render_in_chromium(&chromium, &page);
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
    let from_page = page_requests(&requests);
    assert!(
        from_page.is_empty(),
        "the page made network requests: {from_page:?}"
    );
}

/// The hosts headless Chromium itself calls (component updates, sign-in, network time, safe
/// browsing) whatever the flags say: not the page's doing.
const BROWSER_SERVICE_HOSTS: &[&str] = &[
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
    "safebrowsing.googleapis.com",
    "redirector.gvt1.com",
];

/// The requests the proxy saw that are not the browser's own.
fn page_requests(requests: &[String]) -> Vec<String> {
    requests
        .iter()
        .filter(|line| {
            let target = line.split_whitespace().nth(1).unwrap_or("");
            let host = target
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            let host = host.split(['/', ':']).next().unwrap_or("");
            !BROWSER_SERVICE_HOSTS.contains(&host)
        })
        .cloned()
        .collect()
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
    let (_, requests) = render_in_chromium(&chromium, &path);
    let from_page = page_requests(&requests);
    assert!(
        from_page.iter().any(|r| r.contains("raftlab-viz.invalid")),
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
    let (dom, _) = render_in_chromium(&chromium, &path);
    assert!(
        dom.contains("id=\"js-error\""),
        "the error was not caught: {dom}"
    );
    assert!(!dom.contains("id=\"failure-marker\""));
}
