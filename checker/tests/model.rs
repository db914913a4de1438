//! The model checker on the reference Raft: the default bound is explored completely, every
//! safety property holds and every reachability property is reached; the Explorer serves the
//! same model over HTTP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use checker::model::trace::{Exploration, Report, Strategy, check, initial_state, render_report};
use checker::model::{Bounds, Server};
use stateright::Model;

/// Check the reference depth-first within `bounds`; it must explore them completely and pass.
fn reference_passes(bounds: &Bounds) -> (Report<raft::Raft>, String) {
    let report = check::<raft::Raft>(
        bounds,
        &Exploration {
            strategy: Strategy::Dfs,
            ..Exploration::default()
        },
    );
    let text = render_report(&report, "127.0.0.1:3000");
    assert!(report.complete, "{text}");
    assert!(report.passed(), "{text}");
    (report, text)
}

#[test]
fn reference_passes_the_default_bound_completely() {
    let (report, text) = reference_passes(&Bounds::default());
    assert!(
        report.unique > 100_000,
        "a meaningful bound explores many states: {text}"
    );
    for line in [
        "election safety                holds",
        "a command commits              reached",
    ] {
        assert!(text.contains(line), "{text}");
    }
}

/// With snapshot requests on, the bound is still finite: a command trimmed into a snapshot is not
/// proposed again (it once was, and the search ran past depth 5,000 without end).
#[test]
fn reference_passes_the_snapshot_bound_completely() {
    let (report, text) = reference_passes(&Bounds {
        snapshots: true,
        ..Bounds::default()
    });
    assert!(report.max_depth < 100, "{text}");
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn explorer_serves_the_models_initial_state() {
    // A free port: bind, note it, release it for the Explorer.
    let address = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let bounds = Bounds::default();
    let serve_at = address.clone();
    std::thread::spawn(move || {
        let model = checker::model::model::<raft::Raft>(&bounds);
        model.checker().serve(serve_at.as_str());
    });
    // The server binds in the background: retry the connection for up to 10 s of real time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&address).is_err() {
        assert!(
            Instant::now() < deadline,
            "Explorer did not start on {address}"
        );
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let status = get(&address, "/.status");
    assert!(
        status.starts_with("HTTP/1.1 200") || status.starts_with("HTTP/1.0 200"),
        "{status}"
    );
    assert!(status.contains("\"model\""), "{status}");

    let states = get(&address, "/.states");
    assert!(states.contains("200"), "{states}");
    // The initial state: three followers in term 0, as Debug-printed by the Explorer.
    let init: Vec<std::sync::Arc<Server<raft::Raft>>> =
        initial_state::<raft::Raft>(&Bounds::default()).actor_states;
    assert_eq!(init.len(), 3);
    assert!(states.contains("term: 0"), "{states}");
    assert!(states.contains("role: Follower"), "{states}");
}
