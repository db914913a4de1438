//! The counterexample page: `checker check` on a Raft that forgets its vote in a crash
//! (`vote-not-persisted`, `--crashes 1`) writes a step-through page and prints `page: PATH`; the
//! page names the violated property and the servers involved, shows each server's vote and what
//! it persisted decoded through the Raft's own restart, and renders in a real browser (headless
//! Chromium): no script error, nothing on the console, no network request, one column per server,
//! and the Previous/Next buttons and arrow keys move between steps. A screenshot is written under
//! `target/` and its size checked. `--html FILE` with nothing violated says there is nothing to
//! show.
//!
//! The browser tests need Debian's `chromium` (or `LAB_CHROMIUM=/path/to/chrome`). Without one they
//! say so and pass, unless `LAB_REQUIRE_CHROMIUM=1` (CI sets it), which makes them fail instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use checker::model::RaftNode;
use checker::model::cli::{CheckArgs, check_command};
use clap::Parser;

type VoteNotPersisted = raft_mutants::vote_not_persisted::Raft;

/// Where these tests write: `target/counterexample-page-tests/`.
fn out_dir() -> PathBuf {
    let dir = labkit::steps::target_dir("counterexample-page-tests");
    std::fs::create_dir_all(&dir).expect("the test folder");
    dir
}

/// `checker check` with `flags` on the Raft `R`: its exit code and output.
fn check<R: RaftNode>(flags: &[&str]) -> (u8, String) {
    #[derive(Parser)]
    struct Check {
        #[command(flatten)]
        args: CheckArgs,
    }
    let args = Check::try_parse_from(std::iter::once("check").chain(flags.iter().copied()))
        .expect("arguments")
        .args;
    let mut out = Vec::new();
    let code = check_command::<R>(&args, "the mutant", &mut out, false);
    (code, String::from_utf8(out).expect("utf-8"))
}

/// The page of `vote-not-persisted` at `--crashes 1`, written to `name` under [`out_dir`]
/// (breadth-first, so the 8-step path is the shortest).
fn vote_not_persisted_page(name: &str) -> PathBuf {
    let file = out_dir().join(name);
    let _ = std::fs::remove_file(&file);
    let file_arg = file.display().to_string();
    let (code, text) = check::<VoteNotPersisted>(&[
        "--crashes",
        "1",
        "--strategy",
        "bfs",
        "--html",
        &file_arg,
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("\npage: {file_arg}\n")),
        "no page line: {text}"
    );
    assert!(file.is_file(), "{text}");
    file
}

/// The JSON data embedded in a page.
fn page_data(page: &str) -> serde_json::Value {
    let start = page
        .find("<script id=\"data\" type=\"application/json\">")
        .expect("the data element")
        + "<script id=\"data\" type=\"application/json\">".len();
    let end = start + page[start..].find("</script>").expect("its end");
    serde_json::from_str(&page[start..end].replace("<\\/", "</")).expect("JSON")
}

#[test]
fn a_violation_writes_a_page_with_the_property_and_the_decoded_votes() {
    let file = vote_not_persisted_page("vote-not-persisted.html");
    let page = std::fs::read_to_string(&file).expect("the page");
    let data = page_data(&page);
    let problem = &data["problem"];
    assert_eq!(problem["name"], "election safety");
    assert_eq!(problem["why"], "servers 0 and 2 both led term 1");
    assert_eq!(problem["servers"], serde_json::json!([0, 2]));
    let steps = data["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 9, "the initial state and 8 steps");
    assert_eq!(problem["step"], 8);
    // Step 2: s1 votes for s0 in term 1 (in memory), but persists only the new term.
    let s1 = &steps[2]["servers"][1];
    assert_eq!(s1["voted_for"], "s0");
    assert_eq!(s1["persisted"]["term"], 1);
    assert_eq!(
        s1["persisted"]["voted_for"], "none",
        "the vote it forgot to persist, decoded by a restart: {s1}"
    );
    // Step 5: s1 is down; what it persisted is still shown, decoded.
    let down = &steps[5]["servers"][1];
    assert_eq!(down["up"], false);
    assert_eq!(down["persisted"]["voted_for"], "none");
    // The last step: s1 voted for s2 after its restart.
    assert_eq!(steps[8]["servers"][1]["voted_for"], "s2");
    assert_eq!(steps[8]["kind"], "reply");
    let fields = steps[7]["fields"].to_string();
    assert!(fields.contains("\"candidate\",\"2\""), "{fields}");
    // Size: a page of a short path stays small.
    assert!(page.len() < 64 * 1024, "{} bytes", page.len());
}

/// The reference violates nothing: `--html FILE` says there is nothing to show and writes nothing.
#[test]
fn html_without_a_violation_says_there_is_nothing_to_show() {
    let file = out_dir().join("nothing.html");
    let _ = std::fs::remove_file(&file);
    let file_arg = file.display().to_string();
    let (code, text) = check::<raft::Raft>(&["--servers", "1", "--html", &file_arg]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!(
            "page: nothing to show: no safety property was violated, so there is no path to \
             step through ({file_arg} not written)"
        )),
        "{text}"
    );
    assert!(!file.exists());
    assert!(text.trim_end().lines().last().unwrap().starts_with("result: "));
}

/// Without `--html`, each counterexample's page goes to `target/counterexamples/`.
#[test]
fn without_html_the_page_goes_under_target() {
    let (code, text) = check::<raft_mutants::vote_twice::Raft>(&["--strategy", "bfs"]);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("page: "))
        .unwrap_or_else(|| panic!("no page line: {text}"));
    assert!(
        line.ends_with("target/counterexamples/election-safety.html"),
        "{line}"
    );
    let page = std::fs::read_to_string(line).expect("the page");
    assert!(page.contains("\"name\":\"election safety\""));
}

// ----- In a real browser. -----

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

/// What headless Chromium made of a page.
struct Rendered {
    /// The DOM after the page's scripts ran.
    dom: String,
    /// The console's messages (every `CONSOLE` line of the browser's log).
    console: Vec<String>,
    /// The first line of each request the browser sent to a proxy that every request (file URLs
    /// aside) goes through, but for the browser's own services.
    requests: Vec<String>,
}

/// The hosts headless Chromium itself calls whatever the flags say: not the page's doing.
const BROWSER_SERVICE_HOSTS: &[&str] = &[
    "update.googleapis.com",
    "accounts.google.com",
    "clients2.google.com",
    "safebrowsing.googleapis.com",
    "redirector.gvt1.com",
];

/// Open `page` (with `fragment` after `#` if not empty) in headless Chromium, either dumping its
/// DOM or, with `screenshot`, writing a screenshot there.
fn chromium(browser: &Path, page: &Path, fragment: &str, screenshot: Option<&Path>) -> Rendered {
    let proxy = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let port = proxy.local_addr().expect("bound").port();
    let (seen, requests) = mpsc::channel::<String>();
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
                break;
            }
        }
    });
    static BROWSERS: AtomicUsize = AtomicUsize::new(0);
    let n = BROWSERS.fetch_add(1, Ordering::SeqCst);
    let profile = std::env::temp_dir().join(format!(
        "raftlab-ce-chromium-{}-{n}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).expect("a fresh profile folder");
    let mut command = Command::new("timeout");
    command.arg("120").arg(browser).args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--disable-client-side-phishing-detection",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--no-pings",
        "--safebrowsing-disable-auto-update",
        "--disable-features=OptimizationHints,MediaRouter,Translate,NetworkTimeServiceQuerying,AutofillServerCommunication,CertificateTransparencyComponentUpdater",
        "--metrics-recording-only",
        "--enable-logging=stderr",
        "--log-level=0",
        "--hide-scrollbars",
    ]);
    command
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--proxy-server=127.0.0.1:{port}"))
        .arg("--proxy-bypass-list=<-loopback>")
        .arg("--window-size=1400,900");
    match screenshot {
        Some(png) => command.arg(format!("--screenshot={}", png.display())),
        None => command.arg("--dump-dom"),
    };
    let url = if fragment.is_empty() {
        format!("file://{}", page.display())
    } else {
        format!("file://{}#{fragment}", page.display())
    };
    let out = command.arg(url).output().expect("chromium starts");
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && (screenshot.is_some() || dom.contains("</html>")),
        "chromium failed ({}): {log}",
        out.status
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
    let requests = seen
        .into_iter()
        .filter(|line| {
            let target = line.split_whitespace().nth(1).unwrap_or("");
            let host = target
                .trim_start_matches("http://")
                .trim_start_matches("https://");
            let host = host.split(['/', ':']).next().unwrap_or("");
            !BROWSER_SERVICE_HOSTS.contains(&host)
        })
        .collect();
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    Rendered {
        dom,
        console,
        requests,
    }
}

/// The elements of `dom` that carry `attribute` (`data-field="voted_for"`), each as its text
/// content (tags removed).
fn texts_of(dom: &str, attribute: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut rest = dom;
    while let Some(at) = rest.find(attribute) {
        let after = &rest[at..];
        let open_end = after.find('>').expect("a tag") + 1;
        let body = &after[open_end..];
        let close = body.find("</td>").or_else(|| body.find("</th>")).unwrap_or(body.len());
        let mut text = String::new();
        let mut in_tag = false;
        for c in body[..close].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        texts.push(text);
        rest = &after[open_end..];
    }
    texts
}

#[test]
fn the_counterexample_page_renders_in_chromium() {
    let Some(browser) = chromium_or_skip("the_counterexample_page_renders_in_chromium") else {
        return;
    };
    let page = vote_not_persisted_page("vote-not-persisted-browser.html");
    let shown = chromium(&browser, &page, "", None);
    let dom = &shown.dom;
    assert!(!dom.contains("id=\"js-error\""), "the page's script failed: {dom}");
    assert!(shown.console.is_empty(), "console: {:?}", shown.console);
    assert!(shown.requests.is_empty(), "network requests: {:?}", shown.requests);
    // The violated property, named on screen with its servers.
    let problem = texts_of(dom, "id=\"problem\"");
    assert_eq!(
        problem,
        ["violated: election safety: servers 0 and 2 both led term 1; servers s0, s2 (step 8)"],
        "{dom}"
    );
    // One column per server, the two involved marked.
    let heads = texts_of(dom, "<th data-server=");
    assert_eq!(heads, ["s0", "s1", "s2"], "{dom}");
    assert!(dom.contains("<th data-server=\"0\" class=\"involved\">"), "{dom}");
    assert!(dom.contains("<th data-server=\"2\" class=\"involved"), "{dom}");
    // It opens on the last step: s1 voted for s2, though it had voted for s0 in the same term;
    // what it persisted says "none", decoded by restarting a Raft from it.
    assert!(dom.contains("data-step=\"8\""), "{dom}");
    let votes = texts_of(dom, "data-field=\"voted_for\"");
    assert_eq!(votes, ["s0", "s2", "s2"], "{dom}");
    let persisted = texts_of(dom, "data-field=\"persisted\"");
    assert_eq!(persisted.len(), 3);
    assert!(persisted[1].contains("term 1voted for none"), "{persisted:?}");
    // The step that made s2 a leader is marked as a change.
    assert!(
        dom.contains("<td data-server=\"2\" data-field=\"role\" class=\"changed\">"),
        "{dom}"
    );
}

/// The buttons and arrow keys move between steps: a script added to a copy of the page presses
/// them (as events, the way a user's click and key press arrive) and writes down the step shown
/// after each, and the vote shown for s1.
#[test]
fn the_counterexample_page_steps_forward_and_back_in_chromium() {
    let Some(browser) = chromium_or_skip("the_counterexample_page_steps_forward_and_back_in_chromium")
    else {
        return;
    };
    let page = vote_not_persisted_page("vote-not-persisted-steps.html");
    let html = std::fs::read_to_string(&page).expect("the page");
    let driver = r#"<script>
(function () {
  var seen = [];
  function note() {
    var vote = document.querySelector('td[data-server="1"][data-field="voted_for"]').textContent;
    seen.push(document.body.getAttribute("data-step") + ":" + vote);
  }
  function key(k) { document.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true })); }
  note();
  key("ArrowLeft"); note();
  document.getElementById("prev").click(); note();
  key("Home"); note();
  key("ArrowLeft"); note();
  document.getElementById("next").click(); note();
  key("ArrowRight"); note();
  document.querySelector('#steps li[data-step="5"]').click(); note();
  key("End"); note();
  key("ArrowRight"); note();
  var out = document.createElement("pre");
  out.id = "driven";
  out.textContent = seen.join(" ");
  document.body.appendChild(out);
})();
</script>
</body>"#;
    let driven = page.with_file_name("vote-not-persisted-driven.html");
    std::fs::write(&driven, html.replacen("</body>", driver, 1)).expect("written");
    let shown = chromium(&browser, &driven, "", None);
    assert!(shown.console.is_empty(), "console: {:?}", shown.console);
    let seen = texts_of(&shown.dom, "id=\"driven\"");
    // Step 5 is s1's crash: a crashed server's vote is not known ("-").
    assert_eq!(
        seen,
        ["8:s2 7:s2 6:s0 0:none 0:none 1:none 2:s0 5:- 8:s2 8:s2"],
        "{}",
        shown.dom
    );
    // `#step=N` opens step N.
    let opened = chromium(&browser, &page, "step=3", None);
    assert!(opened.dom.contains("data-step=\"3\""));
}

#[test]
fn the_counterexample_page_screenshot() {
    let Some(browser) = chromium_or_skip("the_counterexample_page_screenshot") else {
        return;
    };
    let page = vote_not_persisted_page("vote-not-persisted-screenshot.html");
    let png = out_dir().join("counterexample-page.png");
    let _ = std::fs::remove_file(&png);
    let shown = chromium(&browser, &page, "", Some(&png));
    assert!(shown.console.is_empty(), "console: {:?}", shown.console);
    assert!(shown.requests.is_empty(), "network requests: {:?}", shown.requests);
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // 1400 x 900 pixels (the PNG's header), and not a blank page (which compresses to a few KB).
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), (1400, 900));
    assert!(bytes.len() > 30_000, "{} bytes: a blank page?", bytes.len());
}

/// The browser checks bite: a page whose script fails is seen on the console and in the DOM.
#[test]
fn a_broken_counterexample_page_is_caught_in_chromium() {
    let Some(browser) = chromium_or_skip("a_broken_counterexample_page_is_caught_in_chromium")
    else {
        return;
    };
    let page = vote_not_persisted_page("vote-not-persisted-broken-source.html");
    let html = std::fs::read_to_string(&page).expect("the page");
    let broken = html.replacen("JSON.parse(", "JSON.parse(undefinedThing + ", 1);
    let path = page.with_file_name("vote-not-persisted-broken.html");
    std::fs::write(&path, broken).expect("written");
    let shown = chromium(&browser, &path, "", None);
    assert!(shown.dom.contains("id=\"js-error\""), "{}", shown.dom);
    assert!(
        shown.console.iter().any(|l| l.contains("undefinedThing")),
        "{:?}",
        shown.console
    );
    assert!(!shown.dom.contains("id=\"problem\" data-property"));
}
