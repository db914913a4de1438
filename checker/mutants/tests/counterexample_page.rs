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

use std::path::PathBuf;

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
    let (code, text) =
        check::<VoteNotPersisted>(&["--crashes", "1", "--strategy", "bfs", "--html", &file_arg]);
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
    assert!(
        text.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("result: ")
    );
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

// ----- In a real browser (the helpers are shared with tests/viz_steps.rs). -----

#[path = "../../../tests/browser/mod.rs"]
mod browser;
use browser::{chromium, chromium_or_skip, texts_of};

#[test]
fn the_counterexample_page_renders_in_chromium() {
    let Some(browser) = chromium_or_skip("the_counterexample_page_renders_in_chromium") else {
        return;
    };
    let page = vote_not_persisted_page("vote-not-persisted-browser.html");
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
    assert!(
        dom.contains("<th data-server=\"0\" class=\"involved\">"),
        "{dom}"
    );
    assert!(
        dom.contains("<th data-server=\"2\" class=\"involved"),
        "{dom}"
    );
    // It opens on the last step: s1 voted for s2, though it had voted for s0 in the same term;
    // what it persisted says "none", decoded by restarting a Raft from it.
    assert!(dom.contains("data-step=\"8\""), "{dom}");
    let votes = texts_of(dom, "data-field=\"voted_for\"");
    assert_eq!(votes, ["s0", "s2", "s2"], "{dom}");
    let persisted = texts_of(dom, "data-field=\"persisted\"");
    assert_eq!(persisted.len(), 3);
    assert!(
        persisted[1].contains("term 1voted for none"),
        "{persisted:?}"
    );
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
    let Some(browser) =
        chromium_or_skip("the_counterexample_page_steps_forward_and_back_in_chromium")
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
    // Step 5 is s1's crash: a crashed server's vote is not known ("-"); step 6 its restart,
    // with the vote it persisted: none.
    assert_eq!(
        seen,
        ["8:s2 7:s2 6:none 0:none 0:none 1:none 2:s0 5:- 8:s2 8:s2"],
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
    browser::screenshot(&browser, &page, &png, 30_000);
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

/// The network check bites: a page that loads an image from the network is caught.
#[test]
fn a_page_that_fetches_is_caught_in_chromium() {
    let Some(browser) = chromium_or_skip("a_page_that_fetches_is_caught_in_chromium") else {
        return;
    };
    let path = out_dir().join("fetching.html");
    let page =
        "<!DOCTYPE html><html><body><img src=\"http://raftlab-ce.invalid/x.png\"></body></html>";
    std::fs::write(&path, page).expect("written");
    let shown = chromium(&browser, &path, "", None);
    assert!(
        shown
            .requests
            .iter()
            .any(|r| r.contains("raftlab-ce.invalid")),
        "the image request was not seen: {:?}",
        shown.requests
    );
}

/// The properties name the servers and indices a violation involves, and the page marks them:
/// a Raft without the up-to-date check lets s1 lead term 2 without the entry at index 1.
#[test]
fn leader_completeness_names_the_leader_and_the_index() {
    let file = out_dir().join("no-up-to-date-check.html");
    let file_arg = file.display().to_string();
    let (code, text) = check::<raft_mutants::no_up_to_date_check::Raft>(&[
        "--strategy",
        "bfs",
        "--html",
        &file_arg,
    ]);
    assert_eq!(code, 1, "{text}");
    let data = page_data(&std::fs::read_to_string(&file).expect("the page"));
    let problem = &data["problem"];
    assert_eq!(problem["name"], "leader completeness", "{text}");
    assert_eq!(problem["servers"], serde_json::json!([1]));
    assert_eq!(problem["indices"], serde_json::json!([1]));
    // The leader's log lacks index 1; another server's holds it, in term 1.
    let last = data["steps"]
        .as_array()
        .expect("steps")
        .last()
        .expect("a step");
    assert_eq!(last["servers"][1]["role"], "leader");
    assert_eq!(last["servers"][1]["log"]["entries"], serde_json::json!([]));
    assert_eq!(last["servers"][0]["log"]["entries"][0]["term"], 1);
}
