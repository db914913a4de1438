//! Headless Chromium for the page tests (`checker/mutants/tests/counterexample_page.rs`, `tests/viz.rs`,
//! `tests/viz_steps.rs`): open a page with every request going through a local proxy, and give
//! back its DOM after its scripts ran (or a screenshot), the console's messages, and the requests
//! the page made.
//!
//! The browser is `LAB_CHROMIUM`, else Debian's `chromium` on the `PATH`. Without one a test says
//! so and passes, unless `LAB_REQUIRE_CHROMIUM=1` (CI sets it), which makes it fail instead.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The browser: `LAB_CHROMIUM`, else the first of Debian's names found on the `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
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
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
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
pub struct Rendered {
    /// The DOM after the page's scripts ran.
    pub dom: String,
    /// The console's messages (every `CONSOLE` line of the browser's log).
    pub console: Vec<String>,
    /// The first line of each request the browser sent to a proxy that every request (file URLs
    /// aside) goes through, but for the browser's own services.
    pub requests: Vec<String>,
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
pub fn chromium(
    browser: &Path,
    page: &Path,
    fragment: &str,
    screenshot: Option<&Path>,
) -> Rendered {
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
    let profile =
        std::env::temp_dir().join(format!("raftlab-ce-chromium-{}-{n}", std::process::id()));
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

/// A screenshot of `page` written to `png`, checked: the page made no request and its console
/// stayed silent, and the file is a 1400 x 900 PNG of more than `min_bytes` bytes (a blank page
/// compresses to a few KB).
pub fn screenshot(browser: &Path, page: &Path, png: &Path, min_bytes: usize) {
    if let Some(dir) = png.parent() {
        std::fs::create_dir_all(dir).expect("the screenshot's folder");
    }
    let _ = std::fs::remove_file(png);
    let shown = chromium(browser, page, "", Some(png));
    assert!(shown.console.is_empty(), "console: {:?}", shown.console);
    assert!(
        shown.requests.is_empty(),
        "network requests: {:?}",
        shown.requests
    );
    let bytes =
        std::fs::read(png).unwrap_or_else(|e| panic!("no screenshot {} ({e})", png.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
    let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
    assert_eq!((width, height), (1400, 900), "the window's size");
    assert!(
        bytes.len() > min_bytes,
        "{} bytes: a blank page?",
        bytes.len()
    );
}

/// The elements of `dom` whose opening tag contains `attribute` (`data-field="voted_for"`), each
/// as its text content (tags removed; the element must not hold another of its own tag).
pub fn texts_of(dom: &str, attribute: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let mut from = 0;
    while let Some(found) = dom[from..].find(attribute) {
        let at = from + found;
        let open = if attribute.starts_with('<') {
            at
        } else {
            dom[..at].rfind('<').expect("inside a tag")
        };
        let tag: String = dom[open + 1..]
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let body_start = at + dom[at..].find('>').expect("the tag ends") + 1;
        let close = format!("</{tag}>");
        let body_end = body_start
            + dom[body_start..]
                .find(&close)
                .unwrap_or(dom.len() - body_start);
        let mut text = String::new();
        let mut in_tag = false;
        for c in dom[body_start..body_end].chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        texts.push(text);
        from = body_start;
    }
    texts
}
