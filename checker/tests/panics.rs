//! A Raft that panics is caught, everywhere the checker runs it: `checker check` (every strategy,
//! exit code 1, the panic's message and place, the shortest path ending in the step that
//! panicked), the Explorer (the property shows a discovery), and while the checker only reads
//! the servers. And the verdicts around it: a search thread that dies is a failure, never a pass;
//! bounds too small to elect or commit say so (exit 2) without hiding a bug; the report survives
//! a closed pipe; `explore` refuses a busy or invalid address.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use checker::model::bounds::{Exploration, Strategy};
use checker::model::check::{check, check_with_progress};
use checker::model::cli::{CheckArgs, check_command};
use checker::model::properties::{LEADER_ELECTED, NO_PANIC};
use checker::model::report::{Conclusion, Report, Shortness, Stop, render_report, too_small};
use checker::model::shorten::shortest_violation;
use checker::model::{Bounds, RaftNode, model};
use clap::Parser;
use raft::contract::{
    Command as RaftCommand, CorruptState, Effects, Observation, Options, PeerId, Persisted, Reply,
    Request, Timer,
};
use stateright::Model;

/// A wrapper around the reference that changes one thing; everything else is the reference's.
macro_rules! wrapper {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        struct $name(raft::Raft);
    };
}

/// The handlers the wrappers below do not change.
macro_rules! delegate {
    (boot) => {
        fn new(
            me: PeerId,
            peers: &[PeerId],
            persisted: &Persisted,
            options: Options,
            out: &mut Effects,
        ) -> Result<Self, CorruptState> {
            raft::Raft::new(me, peers, persisted, options, out).map(Self)
        }
    };
    (state) => {
        fn state(&self) -> (u64, bool) {
            RaftNode::state(&self.0)
        }
    };
    (observe) => {
        fn observe(&self) -> Observation<'_> {
            RaftNode::observe(&self.0)
        }
    };
    (on_timer) => {
        fn on_timer(&mut self, timer: Timer, out: &mut Effects) {
            RaftNode::on_timer(&mut self.0, timer, out)
        }
    };
    (on_request) => {
        fn on_request(&mut self, from: PeerId, request: Request, out: &mut Effects) -> Reply {
            RaftNode::on_request(&mut self.0, from, request, out)
        }
    };
    (on_reply) => {
        fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects) {
            RaftNode::on_reply(&mut self.0, from, request, reply, out)
        }
    };
    (rest) => {
        fn start(&mut self, command: RaftCommand, out: &mut Effects) -> Option<(u64, u64)> {
            RaftNode::start(&mut self.0, command, out)
        }
        fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects) {
            RaftNode::snapshot(&mut self.0, index, snapshot, out)
        }
    };
}

/// Where [`Panicky`] panics (the line of the indexing below).
const PANIC_LINE: u32 = line!() + 17;

wrapper!(Panicky);
/// Panics (index out of bounds) in the step in which it wins an election: three steps from the
/// start (a timer, a vote request, its reply).
impl RaftNode for Panicky {
    delegate!(boot);
    delegate!(state);
    delegate!(observe);
    delegate!(on_timer);
    delegate!(on_request);
    delegate!(rest);
    fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects) {
        let led = self.0.state().1;
        RaftNode::on_reply(&mut self.0, from, request, reply, out);
        if !led && self.0.state().1 {
            let votes: Vec<u64> = Vec::new();
            let _ = votes[std::hint::black_box(from)];
        }
    }
}

wrapper!(PanicsOnRestart);
/// Panics when it boots from persisted bytes (a restart after a crash).
impl RaftNode for PanicsOnRestart {
    fn new(
        me: PeerId,
        peers: &[PeerId],
        persisted: &Persisted,
        options: Options,
        out: &mut Effects,
    ) -> Result<Self, CorruptState> {
        assert!(persisted.state.is_empty(), "cannot read my own bytes");
        raft::Raft::new(me, peers, persisted, options, out).map(Self)
    }
    delegate!(state);
    delegate!(observe);
    delegate!(on_timer);
    delegate!(on_request);
    delegate!(on_reply);
    delegate!(rest);
}

wrapper!(PanicsWhenRead);
/// Its handlers are fine, but reading a leader's state (`observe`) panics: the model reads every
/// server right after each step, so the step that made it a leader is where it is caught.
impl RaftNode for PanicsWhenRead {
    delegate!(boot);
    delegate!(state);
    delegate!(on_timer);
    delegate!(on_request);
    delegate!(on_reply);
    delegate!(rest);
    fn observe(&self) -> Observation<'_> {
        let view = RaftNode::observe(&self.0);
        assert!(view.role != raft::contract::Role::Leader, "a leader hides");
        view
    }
}

wrapper!(PanicsOnStart);
/// Panics when a client command is started (`start`).
impl RaftNode for PanicsOnStart {
    delegate!(boot);
    delegate!(state);
    delegate!(observe);
    delegate!(on_timer);
    delegate!(on_request);
    delegate!(on_reply);
    fn start(&mut self, _: RaftCommand, _: &mut Effects) -> Option<(u64, u64)> {
        unimplemented!("start")
    }
    fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects) {
        RaftNode::snapshot(&mut self.0, index, snapshot, out)
    }
}

wrapper!(PanicsOnSnapshot);
/// Panics when the service hands it a snapshot (`snapshot`).
impl RaftNode for PanicsOnSnapshot {
    delegate!(boot);
    delegate!(state);
    delegate!(observe);
    delegate!(on_timer);
    delegate!(on_request);
    delegate!(on_reply);
    fn start(&mut self, command: RaftCommand, out: &mut Effects) -> Option<(u64, u64)> {
        RaftNode::start(&mut self.0, command, out)
    }
    fn snapshot(&mut self, index: u64, _: Vec<u8>, _: &mut Effects) {
        panic!("no room for a snapshot up to {index}")
    }
}

wrapper!(NeverElects);
/// Ignores its election timer: never a candidate, so never a leader (no property is violated).
impl RaftNode for NeverElects {
    delegate!(boot);
    delegate!(state);
    delegate!(observe);
    delegate!(on_request);
    delegate!(on_reply);
    delegate!(rest);
    fn on_timer(&mut self, timer: Timer, out: &mut Effects) {
        if timer != Timer::Election {
            RaftNode::on_timer(&mut self.0, timer, out)
        }
    }
}

/// Hashes like the reference, but panics when hashed as a candidate: a panic outside every
/// handler, in the search itself, which must end the search as a failure.
#[derive(Clone, Debug, PartialEq, Eq)]
struct HashPanics(raft::Raft);

impl std::hash::Hash for HashPanics {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        assert!(
            RaftNode::observe(&self.0).role != raft::contract::Role::Candidate,
            "cannot hash a candidate"
        );
        self.0.hash(state)
    }
}

impl RaftNode for HashPanics {
    delegate!(boot);
    delegate!(state);
    delegate!(observe);
    delegate!(on_timer);
    delegate!(on_request);
    delegate!(on_reply);
    delegate!(rest);
}

/// `checker check`'s arguments from these flags.
fn check_args(flags: &[&str]) -> CheckArgs {
    #[derive(Parser)]
    struct Check {
        #[command(flatten)]
        args: CheckArgs,
    }
    Check::try_parse_from(std::iter::once("check").chain(flags.iter().copied()))
        .expect("arguments")
        .args
}

fn with(strategy: Strategy) -> Exploration {
    Exploration {
        strategy,
        ..Exploration::default()
    }
}

fn verdict<'a, R: RaftNode>(
    report: &'a Report<R>,
    name: &str,
) -> &'a checker::model::report::Verdict<R> {
    report
        .verdicts
        .iter()
        .find(|v| v.name == name)
        .expect("a verdict per property")
}

fn panic_text() -> String {
    format!(
        "the Raft panicked: index out of bounds: the len is 0 but the index is 1 at {}:{PANIC_LINE} \
         (server 0, handling the reply to its RequestVote from server 1)",
        file!()
    )
}

/// Every strategy reports the panic as a violation, with its message and place, a 3-step path
/// ending in the step that panicked, and exit code 1.
#[test]
fn a_panic_is_a_violation_in_every_strategy() {
    let bounds = Bounds::default();
    let (property, path) = shortest_violation::<Panicky>(&bounds, 5).expect("found");
    assert_eq!(property, NO_PANIC);
    assert_eq!(path.clone().into_actions().len(), 3);
    for exploration in [
        with(Strategy::Dfs),
        Exploration {
            threads: 2,
            ..with(Strategy::Dfs)
        },
        with(Strategy::Bfs),
        Exploration {
            threads: 2,
            ..with(Strategy::Bfs)
        },
        Exploration {
            timeout: Some(Duration::from_secs(2)),
            ..with(Strategy::Simulation)
        },
    ] {
        let report = check::<Panicky>(&bounds, &exploration);
        let text = render_report(&report, "127.0.0.1:3000");
        let name = format!("{:?} on {}", exploration.strategy, exploration.threads);
        assert_eq!(report.conclusion(), Conclusion::Violated, "{name}: {text}");
        assert_eq!(report.conclusion().exit_code(), 1);
        let v = verdict(&report, NO_PANIC);
        let found = v.counterexample.as_ref().expect("a path");
        assert_eq!(v.shortness, Some(Shortness::Shortest), "{name}");
        let why = v.why.as_deref().expect("why");
        if exploration.strategy == Strategy::Bfs {
            // The first shortest path in breadth-first order, whatever the threads.
            assert_eq!(found.clone().into_actions(), path.clone().into_actions());
            assert_eq!(why, panic_text(), "{name}");
        } else {
            // A shortest path: the shortened path of another election, maybe.
            assert_eq!(found.clone().into_actions().len(), 3, "{name}: {text}");
            assert!(
                why.starts_with(
                    "the Raft panicked: index out of bounds: the len is 0 but the index is "
                ) && why.contains(&format!(" at {}:{PANIC_LINE} (server ", file!()))
                    && why.contains(", handling the reply to its RequestVote from server "),
                "{name}: {why}"
            );
        }
        assert!(
            text.contains(&format!("violated: {NO_PANIC}: {why}\n")),
            "{name}: {text}"
        );
        // Nothing after the panic: the model offers no step from a state where a server panicked.
        let mut after = Vec::new();
        model::<Panicky>(&bounds).actions(found.last_state(), &mut after);
        assert!(after.is_empty(), "{after:?}");
    }
}

/// A panic in `start` and one in `snapshot` are caught, with what the server was doing.
#[test]
fn panics_in_start_and_snapshot_are_caught() {
    let report = check::<PanicsOnStart>(&Bounds::default(), &with(Strategy::Bfs));
    let v = verdict(&report, NO_PANIC);
    let why = v.why.as_deref().expect("a panic");
    assert!(
        why.starts_with("the Raft panicked: not implemented: start at checker/tests/panics.rs:")
            && why.ends_with(", starting command [1, 1])"),
        "{why}"
    );
    // Elected in three steps, then the command.
    assert_eq!(
        v.counterexample
            .as_ref()
            .map(|p| p.clone().into_actions().len()),
        Some(4)
    );

    let bounds = Bounds {
        snapshots: true,
        ..Bounds::default()
    };
    let report = check::<PanicsOnSnapshot>(&bounds, &with(Strategy::Bfs));
    let why = verdict(&report, NO_PANIC).why.clone().expect("a panic");
    assert!(
        why.starts_with(
            "the Raft panicked: no room for a snapshot up to 1 at checker/tests/panics.rs:"
        ) && why.ends_with(", taking a snapshot up to index 1)"),
        "{why}"
    );
    assert_eq!(report.conclusion().exit_code(), 1);
}

/// A panic while restarting from persisted bytes (`boot`), and one while the model reads a
/// server (`observe`), are caught and reported like a handler's.
#[test]
fn panics_on_restart_and_when_read_are_caught_too() {
    let bounds = Bounds {
        crashes: 1,
        ..Bounds::default()
    };
    let report = check::<PanicsOnRestart>(&bounds, &with(Strategy::Dfs));
    let v = verdict(&report, NO_PANIC);
    let why = v.why.as_deref().expect("a panic");
    assert!(
        why.starts_with("the Raft panicked: cannot read my own bytes at checker/tests/panics.rs:")
            && why.ends_with("restarting from its persisted state)"),
        "{why}"
    );
    let steps = v
        .counterexample
        .as_ref()
        .expect("a path")
        .clone()
        .into_actions();
    assert_eq!(steps.len(), 3, "{steps:?}"); // a step that persists, the crash, the restart

    let report = check::<PanicsWhenRead>(&Bounds::default(), &with(Strategy::Dfs));
    let why = verdict(&report, NO_PANIC).why.clone().expect("a panic");
    assert!(
        why.starts_with("the Raft panicked: a leader hides at checker/tests/panics.rs:")
            && why.contains("handling the reply to its RequestVote"),
        "{why}"
    );
    assert_eq!(report.conclusion().exit_code(), 1);
}

/// The properties and the printer read the servers under a guard too: a Raft that panics there
/// (which the model's steps would have caught first) makes a violation and a note, not a crash.
#[test]
fn a_panic_while_the_checker_reads_a_server_is_a_violation_not_a_crash() {
    let bounds = Bounds {
        servers: 1,
        ..Bounds::default()
    };
    let mut state = checker::model::raft_model::initial_state::<PanicsWhenRead>(&bounds);
    // A leader of one server, put in place behind the model's back.
    let mut out = Effects::default();
    let mut leader = raft::Raft::new(0, &[0], &Persisted::default(), Options::default(), &mut out)
        .expect("boots");
    RaftNode::on_timer(&mut leader, Timer::Election, &mut out);
    assert!(RaftNode::state(&leader).1, "a single server elects itself");
    let mut machine = (*state.machines[0]).clone();
    machine.server.raft = Some(checker::model::Shared::new(PanicsWhenRead(leader)));
    state.machines[0] = checker::model::Shared::new(machine);
    let why = checker::model::properties::leader_completeness(&state)
        .expect("a violation")
        .why;
    assert!(
        why.starts_with(
            "the Raft panicked while the checker read the servers' states: a leader hides at \
             checker/tests/panics.rs:"
        ),
        "{why}"
    );
    let servers = checker::model::trace::describe_servers(&state);
    assert!(
        servers.starts_with("s0 (the Raft panicked when read: a leader hides at "),
        "{servers}"
    );
}

/// A search thread that panics outside the Raft (here: hashing it) ends the search as a failure,
/// never as "every property holds" (which is what a dead stateright thread used to give).
#[test]
fn a_search_thread_that_dies_is_a_failure_not_a_pass() {
    for exploration in [
        with(Strategy::Dfs),
        Exploration {
            threads: 2,
            ..with(Strategy::Dfs)
        },
        with(Strategy::Bfs),
        Exploration {
            threads: 2,
            ..with(Strategy::Bfs)
        },
    ] {
        let report = check::<HashPanics>(&Bounds::default(), &exploration);
        let text = render_report(&report, "127.0.0.1:3000");
        let Some(Stop::Failed(why)) = &report.stop else {
            panic!("{:?}: {text}", exploration.strategy);
        };
        assert!(why.contains("cannot hash a candidate"), "{why}");
        assert!(!report.complete && !report.passed(), "{text}");
        assert_eq!(report.conclusion().exit_code(), 1, "{text}");
        assert!(
            text.lines()
                .last()
                .is_some_and(|l| l.starts_with("result: the search failed: ")),
            "{text}"
        );
    }
}

/// `checker check` on a panicking Raft: exit code 1, the panic, the path, and the command that
/// opens the Explorer on the same bounds next to each Explorer link.
#[test]
fn the_check_command_exits_1_on_a_panic_and_says_how_to_explore_it() {
    let args = check_args(&["--max-term", "1"]);
    let mut out = Vec::new();
    let code = check_command::<Panicky>(&args, "a panicking Raft", &mut out, false);
    let text = String::from_utf8(out).expect("text");
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("checking a panicking Raft\n"), "{text}");
    assert!(text.contains("  the Raft does not panic        VIOLATED: the Raft panicked: "));
    assert!(text.contains("   3. s1 -> s0  RequestVote("), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    let open = lines
        .iter()
        .position(|l| l.starts_with("open it: "))
        .expect("an explore command");
    assert_eq!(
        lines[open],
        "open it: cargo run --release -p checker -- explore --servers 3 --max-term 1 \
         --commands 1 --crashes 0 --network unordered --max-in-flight 6"
    );
    assert!(
        lines[open + 1].starts_with("explore it: http://127.0.0.1:3000/#/steps/"),
        "{text}"
    );
    assert_eq!(
        text.matches("open it: ").count(),
        text.matches("explore it: ").count()
    );

    // The Explorer serving what the command says opens the link at the panic.
    #[derive(Parser)]
    struct Explore {
        #[command(flatten)]
        bounds: checker::model::cli::BoundsArgs,
    }
    let flags = lines[open]
        .strip_prefix("open it: cargo run --release -p checker -- explore ")
        .expect("the command");
    let bounds = Explore::try_parse_from(std::iter::once("explore").chain(flags.split(' ')))
        .expect("the printed flags parse")
        .bounds
        .bounds();
    let steps = lines[open + 1]
        .strip_prefix("explore it: http://127.0.0.1:3000/#/steps/")
        .expect("a link");
    let address = serve::<Panicky>(bounds);
    let parent = &steps[..steps.rfind('/').expect("steps")];
    let states = http(&address, "GET", &format!("/.states/{parent}"));
    assert!(
        states.contains(&panic_text().replace('"', "\\\"")),
        "{states}"
    );
    let end = http(&address, "GET", &format!("/.states/{steps}"));
    assert!(
        end.starts_with("HTTP/1.1 200") || end.starts_with("HTTP/1.0 200"),
        "{end}"
    );
}

/// Serve the Explorer for `R` within `bounds` on a free port; its address, once it answers.
fn serve<R: RaftNode>(bounds: Bounds) -> String {
    let address = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let serve_at = address.clone();
    std::thread::spawn(move || {
        model::<R>(&bounds).checker().serve(serve_at.as_str());
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&address).is_err() {
        assert!(Instant::now() < deadline, "the Explorer did not start");
        std::thread::park_timeout(Duration::from_millis(20));
    }
    address
}

/// A reader that goes away does not make the command panic: the verdict's exit code, quietly.
#[test]
fn a_closed_pipe_ends_the_check_command_quietly() {
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    /// Takes the first line, then goes away.
    struct Head(usize);
    impl Write for Head {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0 += 1;
            if self.0 > 1 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let args = check_args(&["--max-term", "1"]);
    // Gone before the search: no search, the code of a closed pipe.
    assert_eq!(
        check_command::<Panicky>(&args, "it", &mut Closed, false),
        checker::model::cli::CLOSED_PIPE
    );
    // Gone after the first line: the verdict's code.
    assert_eq!(
        check_command::<Panicky>(&args, "it", &mut Head(0), false),
        1
    );
    assert_eq!(
        check_command::<raft::Raft>(&args, "it", &mut Head(0), false),
        0
    );
}

/// The `checker` binary (built for the reference Raft) with its output pipe closed: no panic, and
/// its exit code; `--depth 0` and a busy `explore` address are usage problems (exit code 2).
#[test]
fn the_binary_ends_quietly_on_a_closed_pipe_and_refuses_bad_usage() {
    let checker = env!("CARGO_BIN_EXE_checker");
    // `checker check | head -1`: the reader takes the first line and goes away.
    let mut child = Command::new(checker)
        .args(["check", "--max-term", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run checker");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 8];
    stdout.read_exact(&mut first).expect("the first bytes");
    drop(stdout);
    let output = child.wait_with_output().expect("checker ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = Command::new(checker)
        .args(["check", "--depth", "0"])
        .output()
        .expect("run checker");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("leave --depth out"));

    let busy = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = busy.local_addr().expect("address").to_string();
    let output = Command::new(checker)
        .args(["explore", "--address", &address])
        .output()
        .expect("run checker");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with(&format!("checker: cannot serve on {address}: ")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let output = Command::new(checker)
        .args(["explore", "--address", "not-an-address"])
        .output()
        .expect("run checker");
    assert_eq!(output.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

/// The child of [`a_caught_panic_is_not_printed`]: checks the panicking Raft in a process of its
/// own, so that what the panic hook prints can be read.
#[test]
#[ignore = "run by a_caught_panic_is_not_printed in a process of its own"]
fn child_checks_a_panicking_raft() {
    if std::env::var_os("RAFTLAB_PANICS_CHILD").is_none() {
        return;
    }
    let report = check::<Panicky>(&Bounds::default(), &with(Strategy::Dfs));
    assert_eq!(report.conclusion(), Conclusion::Violated);
    println!("explored {} states", report.unique);
}

/// The search meets the panic in many states, and prints none of them (the hook records them).
#[test]
fn a_caught_panic_is_not_printed() {
    let output = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "child_checks_a_panicking_raft",
            "--include-ignored",
            "--nocapture",
        ])
        .env("RAFTLAB_PANICS_CHILD", "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("explored "), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stdout.contains("panicked at"), "{stdout}");
}

fn http(address: &str, method: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// The Explorer on a panicking Raft: it keeps serving, "the Raft does not panic" gets a
/// discovery, and the state at the end of it shows the panic.
#[test]
fn the_explorer_shows_a_panic_as_a_discovery() {
    let address = serve::<Panicky>(Bounds {
        max_term: 1,
        ..Bounds::default()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let ran = http(&address, "POST", "/.runtocompletion");
    assert!(ran.contains(" 200 "), "{ran}");
    // Run to completion in the background; poll until it is done.
    let status = loop {
        let status = http(&address, "GET", "/.status");
        if status.contains("\"done\":true") {
            break status;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(50),
            "{status}"
        );
        std::thread::park_timeout(Duration::from_millis(50));
    };
    let body = &status[status.find("\r\n\r\n").expect("a body") + 4..];
    let json: serde_json::Value = serde_json::from_str(body).expect("JSON");
    let properties = json["properties"].as_array().expect("properties");
    let discovery = properties
        .iter()
        .find(|p| p[1] == NO_PANIC)
        .map(|p| p[2].clone())
        .expect("the property is listed");
    let Some(path) = discovery.as_str() else {
        panic!("no discovery for {NO_PANIC}: {status}");
    };
    let leader = properties
        .iter()
        .find(|p| p[1] == LEADER_ELECTED)
        .expect("listed");
    assert!(leader[2].is_null(), "a leader was never elected: {status}");
    // The state at the end of the discovery's path, as the Explorer shows it.
    let parent = &path[..path.rfind('/').expect("a path of steps")];
    let states = http(&address, "GET", &format!("/.states/{parent}"));
    assert!(
        states.contains("the Raft panicked: index out of bounds"),
        "{states}"
    );
}

/// Bounds too small to elect a leader or commit a command say so with exit code 2, decided from
/// the bounds: a Raft that never elects a leader within a bound that allows it exits 1, and a
/// violation exits 1 whatever the bound.
#[test]
fn too_small_bounds_say_so_but_never_hide_a_bug() {
    let default = Bounds::default();
    let cases: [(Bounds, Option<usize>, &str); 5] = [
        (
            Bounds {
                max_term: 0,
                ..default.clone()
            },
            None,
            "this bound is too small to elect a leader (--max-term 0: ",
        ),
        (
            Bounds {
                max_in_flight: 0,
                ..default.clone()
            },
            None,
            "this bound is too small to elect a leader (--max-in-flight 0: ",
        ),
        (
            default.clone(),
            Some(1),
            "this bound is too small to elect a leader (--depth 1: electing a leader of 3 \
             server(s) takes at least 3 steps)",
        ),
        (
            Bounds {
                commands: 0,
                ..default.clone()
            },
            None,
            "this bound is too small to commit a command (--commands 0: ",
        ),
        (
            default.clone(),
            Some(5),
            "this bound is too small to commit a command (--depth 5: committing a command with \
             3 server(s) takes at least 6 steps)",
        ),
    ];
    for (bounds, depth, says) in cases {
        let report = check::<raft::Raft>(
            &bounds,
            &Exploration {
                max_depth: depth,
                ..with(Strategy::Dfs)
            },
        );
        let text = render_report(&report, "127.0.0.1:3000");
        let Conclusion::TooSmall(why) = report.conclusion() else {
            panic!("{bounds} depth {depth:?}: {text}");
        };
        assert!(why.starts_with(says), "{why}");
        assert_eq!(report.conclusion().exit_code(), 2);
        assert!(
            text.lines().last().is_some_and(|l| l.contains(says)),
            "{text}"
        );
    }
    // The least depths at which the reference elects a leader and commits are not too small.
    assert_eq!(too_small(&default, Some(3), LEADER_ELECTED), None);
    for (depth, reached) in [(3, 1), (6, 2)] {
        let report = check::<raft::Raft>(
            &default,
            &Exploration {
                max_depth: Some(depth),
                ..with(Strategy::Bfs)
            },
        );
        assert_eq!(
            report
                .verdicts
                .iter()
                .filter(|v| v.ok && v.expectation == stateright::Expectation::Sometimes)
                .count(),
            reached,
            "depth {depth}"
        );
    }
    // A Raft that never elects a leader, within a bound that allows it: a bug, exit code 1.
    let report = check::<NeverElects>(&default, &with(Strategy::Dfs));
    assert!(report.complete);
    assert_eq!(
        report.conclusion(),
        Conclusion::NeverReached(vec!["a leader is elected", "a command commits"])
    );
    assert_eq!(report.conclusion().exit_code(), 1);
    // A violation within a bound too small to commit: still a bug, exit code 1.
    let report = check::<Panicky>(
        &Bounds {
            commands: 0,
            ..default
        },
        &with(Strategy::Dfs),
    );
    assert_eq!(report.conclusion(), Conclusion::Violated);
    assert_eq!(report.conclusion().exit_code(), 1);
}

/// `--depth N` checks the states at most N steps from the start (breadth-first: all of them;
/// depth-first: those it meets first within N steps) and says where it stopped, and how much that
/// covers; without a limit, nothing claims to have stopped early.
#[test]
fn a_depth_limit_counts_steps_and_says_so() {
    for strategy in [Strategy::Dfs, Strategy::Bfs] {
        let report = check::<raft::Raft>(
            &Bounds::default(),
            &Exploration {
                max_depth: Some(4),
                ..with(strategy)
            },
        );
        assert_eq!(report.max_depth, 4, "{strategy:?}");
        assert_eq!(report.stop, Some(Stop::DepthLimit(4)), "{strategy:?}");
        let text = render_report(&report, "127.0.0.1:3000");
        let says = match strategy {
            Strategy::Bfs => {
                "(stopped at depth 4: verdicts cover the paths of at most 4 steps only)"
            }
            _ => {
                "(stopped at depth 4: verdicts cover the explored part only; depth-first search \
                 skips a state within 4 steps that it met deeper first, --strategy bfs does not)"
            }
        };
        assert!(text.contains(says), "{text}");
    }
    let report = check::<raft::Raft>(
        &Bounds {
            max_term: 1,
            ..Bounds::default()
        },
        &with(Strategy::Dfs),
    );
    assert!(report.complete && report.stop.is_none());
    assert!(!render_report(&report, "127.0.0.1:3000").contains("stopped"));
}

/// Simulation never ends by itself: it has a time limit, printed, and it reports progress.
#[test]
fn simulation_has_a_time_limit_and_shows_progress() {
    assert_eq!(
        with(Strategy::Simulation).time_limit(),
        Some(Duration::from_secs(60))
    );
    assert_eq!(with(Strategy::Dfs).time_limit(), None);
    let calls = AtomicUsize::new(0);
    let report = check_with_progress::<raft::Raft>(
        &Bounds::default(),
        &Exploration {
            timeout: Some(Duration::from_secs(1)),
            ..with(Strategy::Simulation)
        },
        &|p| {
            assert_eq!(p.time_limit, Some(Duration::from_secs(1)));
            calls.fetch_add(1, Ordering::Relaxed);
        },
    );
    assert!(calls.load(Ordering::Relaxed) > 0);
    assert_eq!(report.stop, Some(Stop::TimeLimit(Duration::from_secs(1))));
    let text = render_report(&report, "127.0.0.1:3000");
    assert!(
        text.contains("exploration: Simulation, 1 thread(s), seed 0, time limit 1s\n"),
        "{text}"
    );
    assert!(
        text.contains("(stopped at the time limit of 1s: "),
        "{text}"
    );
}

/// `checker linearizability FILE | head`: the reader goes away before the report is written; the
/// command ends quietly with its verdict's exit code (1: not linearizable).
#[test]
fn the_linearizability_command_ends_quietly_on_a_closed_pipe() {
    let dir = std::env::temp_dir().join(format!("raftlab-pipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let history = dir.join("bad.edn");
    std::fs::write(
        &history,
        "{:process 0, :type :invoke, :f :write, :value 1}\n\
         {:process 0, :type :ok, :f :write, :value 1}\n\
         {:process 1, :type :invoke, :f :read, :value nil}\n\
         {:process 1, :type :ok, :f :read, :value 2}\n",
    )
    .expect("write the history");
    let mut child = Command::new(env!("CARGO_BIN_EXE_checker"))
        .arg("linearizability")
        .arg(&history)
        .arg("--html")
        .arg(dir.join("bad.html"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run checker");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("checker ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}
