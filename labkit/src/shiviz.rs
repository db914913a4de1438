//! A run as a ShiViz log (`LAB_VIZ=shiviz`), for students who know that tool: one host per lane
//! (each server, each client, and `test` for the test's own actions and checks), one line per
//! event with its vector clock, and on the first line the regular expression that ShiViz parses
//! the lines with.
//!
//! The clocks come from the recording's messages: a send ticks its host; a delivery ticks the
//! receiving host after taking in the clock the request left with; a reply that came back ticks the
//! caller after taking in the clock of the delivery (the reply left after it). Everything else
//! (timers, state changes, applies, crashes, the test's actions) is a local event of its host.
//! Events are ordered by virtual time (a send before its delivery before its reply at equal times),
//! so every clock a host shows is larger than the one before it, and a receive dominates its send.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::recorder::{Recording, ServerState, What, role_name};

/// The first line of the log: how ShiViz reads each following line.
pub const REGEX: &str = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)";

/// Where the log of the run whose page is `page` goes: beside it, `NAME.shiviz.log`.
pub fn path_beside(page: &Path) -> PathBuf {
    page.with_extension("shiviz.log")
}

/// One point of the log before clocks are assigned: `(time µs, phase, order)` sorts them.
struct Point {
    t: u64,
    phase: u8,
    order: usize,
    host: String,
    text: String,
    /// A receive: the message whose send (phase 1) or delivery (phase 2) it takes the clock of.
    from: Option<(usize, u8)>,
    /// A send or a delivery that a later receive takes the clock of.
    keep: Option<(usize, u8)>,
}

/// The log's text for `rec`.
pub fn render(rec: &Recording) -> String {
    let lane = |l: u32| {
        rec.lanes
            .get(l as usize)
            .cloned()
            .unwrap_or_else(|| format!("lane{l}"))
    };
    let name = |n: u32| rec.names.get(n as usize).map_or("?", String::as_str);
    let mut points = Vec::new();
    let mut point = |t, phase, host: String, text: String, from, keep| {
        let order = points.len();
        points.push(Point {
            t,
            phase,
            order,
            host,
            text,
            from,
            keep,
        });
    };
    for (n, event) in rec.events.iter().enumerate() {
        let t = event.t;
        match &event.what {
            What::Msg {
                from,
                to,
                m,
                b,
                delivered,
                ended,
                why,
                args,
            } => {
                let method = name(*m);
                let fields = rec.describe(*m, *b, args);
                let (src, dst) = (lane(*from), lane(*to));
                point(
                    t,
                    0,
                    src.clone(),
                    format!("send #{n} {method} to {dst}: {fields}"),
                    None,
                    Some((n, 1)),
                );
                if let Some(d) = delivered {
                    point(
                        *d,
                        1,
                        dst.clone(),
                        format!("recv #{n} {method} from {src}"),
                        Some((n, 1)),
                        Some((n, 2)),
                    );
                }
                match ended {
                    Some(e) if why.is_empty() && delivered.is_some() => point(
                        *e,
                        2,
                        src,
                        format!("reply #{n} {method} from {dst}"),
                        Some((n, 2)),
                        None,
                    ),
                    Some(e) => point(
                        *e,
                        2,
                        src,
                        format!("no reply #{n} {method} from {dst}: {why}"),
                        None,
                        None,
                    ),
                    None => {}
                }
            }
            What::Link { from, to, on } => point(
                t,
                0,
                "test".into(),
                format!(
                    "link {} -> {} {}",
                    lane(*from),
                    lane(*to),
                    if *on { "on" } else { "cut" }
                ),
                None,
                None,
            ),
            What::Timer { lane: l, name: n } => {
                point(t, 0, lane(*l), format!("timer {}", name(*n)), None, None)
            }
            What::State {
                lane: l,
                state:
                    ServerState {
                        term,
                        role,
                        commit,
                        last,
                        snap,
                        ..
                    },
                ..
            } => point(
                t,
                0,
                lane(*l),
                format!(
                    "{} term {term} commit {commit} last {last} snapshot {snap}",
                    role_name(*role)
                ),
                None,
                None,
            ),
            What::Apply {
                lane: l,
                index,
                snapshot,
            } => point(
                t,
                0,
                lane(*l),
                match snapshot {
                    true => format!("apply snapshot up to {index}"),
                    false => format!("apply {index}"),
                },
                None,
                None,
            ),
            What::Crash { lane: l } => point(t, 0, lane(*l), "crash".into(), None, None),
            What::Start { lane: l } => point(t, 0, lane(*l), "start".into(), None, None),
            What::Action { lane: l, text } => {
                let host = l.map_or_else(|| "test".to_string(), lane);
                point(t, 0, host, format!("test: {text}"), None, None)
            }
            What::Client { lane: l, ret, text } => point(
                t,
                0,
                lane(*l),
                format!("{} {text}", if *ret { "returned" } else { "calls" }),
                None,
                None,
            ),
            What::Check { text } => {
                point(t, 0, "test".into(), format!("check: {text}"), None, None)
            }
            What::Fail { text } => {
                point(t, 0, "test".into(), format!("FAILED: {text}"), None, None)
            }
        }
    }
    points.sort_by_key(|p| (p.t, p.phase, p.order));

    let mut clocks: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut kept: BTreeMap<(usize, u8), BTreeMap<String, u64>> = BTreeMap::new();
    let mut out = String::with_capacity(points.len() * 80 + 128);
    out.push_str(REGEX);
    out.push_str("\n\n");
    for p in points {
        let mut clock = clocks.remove(&p.host).unwrap_or_default();
        if let Some(other) = p.from.and_then(|k| kept.remove(&k)) {
            for (host, n) in other {
                let mine = clock.entry(host).or_insert(0);
                *mine = (*mine).max(n);
            }
        }
        *clock.entry(p.host.clone()).or_insert(0) += 1;
        if let Some(k) = p.keep {
            kept.insert(k, clock.clone());
        }
        let json = serde_json::to_string(&clock).unwrap_or_else(|_| "{}".into());
        let text = p.text.replace(['\n', '\r'], " ");
        let _ = writeln!(out, "{} {json} {:.3}ms {text}", p.host, p.t as f64 / 1000.0);
        clocks.insert(p.host, clock);
    }
    out
}

/// Write `rec`'s log to `path`.
pub fn write(rec: &Recording, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, render(rec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::Recorder;
    use std::time::Duration;

    /// A small run: a request delivered and answered, one lost, one delivered whose reply was
    /// lost, a timer, a state change, an action and a check.
    fn sample() -> Recording {
        let rec = Recorder::default();
        let (s0, s1, s2) = (rec.server_lane(0), rec.server_lane(1), rec.server_lane(2));
        rec.start(s0);
        rec.timer(s0, "election");
        rec.state(
            s0,
            ServerState {
                term: 1,
                role: 1,
                ..ServerState::default()
            },
            None,
        );
        let a = rec.send(s0, s1, "Raft.RequestVote", 10).unwrap();
        let b = rec.send(s0, s2, "Raft.RequestVote", 10).unwrap();
        rec.deliver(a);
        rec.end_call(a, "", Vec::new());
        rec.end_call(b, "request lost", Vec::new());
        rec.state(
            s0,
            ServerState {
                term: 1,
                role: 2,
                ..ServerState::default()
            },
            None,
        );
        let c = rec.send(s0, s2, "Raft.AppendEntries", 10).unwrap();
        rec.deliver(c);
        rec.end_call(c, "reply lost", Vec::new());
        let d = rec.send(s2, s1, "Raft.AppendEntries", 10).unwrap();
        rec.deliver(d);
        rec.end_call(d, "", Vec::new());
        rec.action(Some(s1), "disconnect s1");
        rec.check("one leader");
        rec.take(Duration::from_secs(1))
    }

    type Clock = BTreeMap<String, u64>;

    /// The log parsed back with its own first line: `(host, clock, event)` per line.
    fn parse(log: &str) -> Vec<(String, Clock, String)> {
        let mut lines = log.lines();
        let header = lines.next().expect("a header line");
        let regex = regex::Regex::new(&format!("^{header}$")).expect("the header is a regex");
        assert_eq!(lines.next(), Some(""), "a blank line after the header");
        lines
            .map(|line| {
                let caps = regex
                    .captures(line)
                    .unwrap_or_else(|| panic!("the header's regex does not read {line:?}"));
                let clock: Clock = serde_json::from_str(&caps["clock"])
                    .unwrap_or_else(|e| panic!("{line:?}: the clock is not JSON: {e}"));
                (caps["host"].to_string(), clock, caps["event"].to_string())
            })
            .collect()
    }

    fn leq(a: &Clock, b: &Clock) -> bool {
        a.iter().all(|(h, n)| b.get(h).is_some_and(|m| n <= m))
    }

    /// Each host's clocks grow (its own entry by one each time), and every receive's clock
    /// dominates its send's (a reply's, its delivery's).
    fn check_clocks(events: &[(String, Clock, String)]) -> usize {
        let mut last: BTreeMap<&str, &Clock> = BTreeMap::new();
        for (host, clock, event) in events {
            if let Some(before) = last.get(host.as_str()) {
                assert!(leq(before, clock), "{host}: {before:?} then {clock:?}");
                assert_eq!(clock[host], before[host] + 1, "{host} ticks once: {event}");
            } else {
                assert_eq!(clock[host], 1, "{host}'s first event: {event}");
            }
            last.insert(host, clock);
        }
        let find = |prefix: &str, id: &str| {
            events
                .iter()
                .find(|(_, _, e)| {
                    e.split_once(' ')
                        .is_some_and(|(_, rest)| rest.starts_with(&format!("{prefix} #{id} ")))
                })
                .map(|(h, c, _)| (h.clone(), c.clone()))
        };
        let mut pairs = 0;
        for (_, _, event) in events {
            let Some(id) = event
                .split_once(" send #")
                .and_then(|(_, rest)| rest.split(' ').next())
            else {
                continue;
            };
            let (_, sent) = find("send", id).expect("the send");
            if let Some((_, got)) = find("recv", id) {
                assert!(leq(&sent, &got), "recv #{id} {got:?} dominates {sent:?}");
                pairs += 1;
                if let Some((_, reply)) = find("reply", id) {
                    assert!(leq(&got, &reply), "reply #{id} dominates its delivery");
                    pairs += 1;
                }
            }
        }
        pairs
    }

    #[test]
    fn the_log_parses_back_with_its_own_regex_and_its_clocks_are_causal() {
        let log = render(&sample());
        let events = parse(&log);
        assert_eq!(
            events.iter().filter(|(h, _, _)| h == "s0").count(),
            10,
            "{log}"
        );
        let pairs = check_clocks(&events);
        assert_eq!(pairs, 5, "3 deliveries and 2 replies:\n{log}");
        assert!(log.contains("recv #"));
        assert!(log.contains("test: disconnect s1"));
        assert!(log.contains("no reply #"));
        let s1_last = events.iter().rev().find(|(h, _, _)| h == "s1").unwrap();
        assert!(
            s1_last.1["s0"] >= 4,
            "s1 heard of s0's vote request: {s1_last:?}"
        );
    }

    #[test]
    fn a_receive_that_forgot_its_send_is_caught() {
        let log = render(&sample());
        // Erase what s1 learned from s0 when the vote request arrived: the check must object.
        let mut events = parse(&log);
        let (_, clock, _) = events
            .iter_mut()
            .find(|(h, _, e)| h == "s1" && e.contains("recv #"))
            .unwrap();
        clock.remove("s0");
        let caught = std::panic::catch_unwind(|| check_clocks(&events));
        assert!(caught.is_err(), "a receive not dominating its send passed");
    }

    #[test]
    fn the_log_sits_beside_the_page() {
        assert_eq!(
            path_beside(Path::new("/x/lab2a-t-seed1.html")),
            Path::new("/x/lab2a-t-seed1.shiviz.log")
        );
    }
}
