//! What a check found and concludes, and the report `checker check` prints.

use std::fmt::Write as _;
use std::time::Duration;

use stateright::Expectation;

use super::action::RaftPath;
use super::bounds::{Bounds, Exploration, NetworkSemantics, Strategy};
use super::ghost::Violation;
use super::node::RaftNode;
use super::properties::{COMMAND_COMMITS, LEADER_ELECTED};
use super::raft_model::model;
use super::trace::render_steps;
/// How short a printed counterexample is known to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortness {
    /// No path to a violation of the property is shorter.
    Shortest,
    /// No single step can be left out, and no shorter path was found, but the search for one
    /// stopped after this many states: a shorter one may exist.
    Minimal { searched: usize },
}

/// The verdict on one property.
#[derive(Clone, Debug)]
pub struct Verdict<R: RaftNode> {
    pub name: &'static str,
    pub expectation: Expectation,
    /// For safety: held in every explored state. For reachability: reached.
    pub ok: bool,
    /// For a violated safety property: the counterexample printed (see the module's
    /// documentation), and how short it is known to be.
    pub counterexample: Option<RaftPath<R>>,
    pub shortness: Option<Shortness>,
    /// For a violated safety property: why, in its last state (names the servers involved).
    pub why: Option<String>,
    /// For a violated safety property with a counterexample: why, with the servers and log
    /// indices involved (the counterexample page marks them).
    pub violation: Option<Violation>,
}

/// Why a search stopped before it explored every state within the bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The time limit (`--timeout`, or simulation's default) passed.
    TimeLimit(Duration),
    /// Every state at most this many steps from the start was checked, and some lie beyond.
    DepthLimit(usize),
    /// Breadth-first search checked the depth of its first violation (this many steps) and
    /// stopped there.
    FirstViolation(usize),
    /// Depth-first search stopped at its first safety violation (`--stop-at-first-violation`).
    AtFirstViolation,
    /// Simulation samples paths; it ended (every property was discovered) before its time limit.
    Sampled,
    /// A search thread panicked outside the Raft (a bug of the checker), with this message.
    Failed(String),
}

/// What a check found.
pub struct Report<R: RaftNode> {
    pub bounds: Bounds,
    pub exploration: Exploration,
    pub generated: usize,
    pub unique: usize,
    /// The most steps from the start of any state checked.
    pub max_depth: usize,
    /// How long the search took, and then the shortening of its counterexamples.
    pub elapsed: Duration,
    pub shortening: Duration,
    /// Every state within the bounds was explored (so "holds" covers them all). False if the
    /// search stopped early: see [`Report::stop`].
    pub complete: bool,
    pub stop: Option<Stop>,
    pub verdicts: Vec<Verdict<R>>,
}

/// What a check concludes, and `checker check`'s exit code for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Conclusion {
    /// Every safety property held and every reachability property was reached (exit code 0).
    Pass,
    /// A safety property was violated: a bug of the Raft (exit code 1).
    Violated,
    /// Nothing was violated, but the bound cannot elect a leader or commit a command, whatever
    /// the Raft does: these words say why (exit code 2, a problem of the bound).
    TooSmall(String),
    /// Nothing was violated, and the bound allows a leader to be elected and a command to commit,
    /// but the search explored every state without reaching it: a bug of the Raft (exit code 1).
    NeverReached(Vec<&'static str>),
    /// Nothing was violated, but the search stopped early before reaching these: nothing can be
    /// concluded (exit code 2).
    NotReachedYet(Vec<&'static str>),
    /// The search failed (a search thread panicked outside the Raft): exit code 1, never a pass.
    Failed(String),
}

impl Conclusion {
    /// `checker check`'s exit code: 0 pass, 1 a violation (a bug of the Raft) or a failed
    /// search, 2 a bound too small to tell (or a search stopped before it could).
    pub fn exit_code(&self) -> u8 {
        match self {
            Conclusion::Pass => 0,
            Conclusion::Violated | Conclusion::NeverReached(_) | Conclusion::Failed(_) => 1,
            Conclusion::TooSmall(_) | Conclusion::NotReachedYet(_) => 2,
        }
    }
}

impl<R: RaftNode> Report<R> {
    /// Every safety property held, every reachability property was reached, and the search did
    /// not fail.
    pub fn passed(&self) -> bool {
        self.conclusion() == Conclusion::Pass
    }

    /// What the check concludes (see [`Conclusion`]).
    pub fn conclusion(&self) -> Conclusion {
        if self
            .verdicts
            .iter()
            .any(|v| v.expectation == Expectation::Always && !v.ok)
        {
            return Conclusion::Violated;
        }
        if let Some(Stop::Failed(why)) = &self.stop {
            return Conclusion::Failed(why.clone());
        }
        let missing: Vec<&'static str> = self
            .verdicts
            .iter()
            .filter(|v| v.expectation == Expectation::Sometimes && !v.ok)
            .map(|v| v.name)
            .collect();
        if missing.is_empty() {
            return Conclusion::Pass;
        }
        for name in &missing {
            if let Some(why) = too_small(&self.bounds, self.exploration.max_depth, name) {
                return Conclusion::TooSmall(why);
            }
        }
        if self.complete {
            Conclusion::NeverReached(missing)
        } else {
            Conclusion::NotReachedYet(missing)
        }
    }
}

/// Why no Raft can reach `property` (a reachability property) within `bounds` and `max_depth`
/// steps, if none can: decided from the bounds alone, so that it cannot hide a bug. Electing a
/// leader of `n` servers takes a timer and, for each of the `n / 2` votes it needs besides its
/// own, a request and a reply; committing a command then takes the command and, for each of
/// `n / 2` followers, an AppendEntries and its reply.
pub fn too_small(bounds: &Bounds, max_depth: Option<usize>, property: &str) -> Option<String> {
    let n = bounds.servers;
    let elect = 1 + 2 * (n / 2);
    let commit = elect + 1 + 2 * (n / 2);
    let cannot_elect = if bounds.max_term == 0 {
        Some("--max-term 0: a leader's term is at least 1".to_owned())
    } else if n > 1 && bounds.network != NetworkSemantics::Duplicating && bounds.max_in_flight == 0
    {
        Some("--max-in-flight 0: no request for a vote can be in flight".to_owned())
    } else {
        max_depth.filter(|d| *d < elect).map(|depth| {
            format!(
                "--depth {depth}: electing a leader of {n} server(s) takes at least {elect} steps"
            )
        })
    };
    let why = match property {
        LEADER_ELECTED => cannot_elect.map(|why| format!("too small to elect a leader ({why})")),
        COMMAND_COMMITS => cannot_elect
            .or_else(|| {
                (bounds.commands == 0).then(|| "--commands 0: no command is proposed".into())
            })
            .or_else(|| {
                max_depth.filter(|d| *d < commit).map(|depth| {
                    format!(
                        "--depth {depth}: committing a command with {n} server(s) takes at least \
                         {commit} steps"
                    )
                })
            })
            .map(|why| format!("too small to commit a command ({why})")),
        _ => None,
    }?;
    Some(format!("this bound is {why}"))
}

/// The Explorer URL that opens `path` (served by `checker explore` at `address`).
pub fn explorer_url<R: RaftNode>(bounds: &Bounds, address: &str, path: &RaftPath<R>) -> String {
    format!(
        "http://{address}/#/steps/{}",
        path.encode(&model::<R>(bounds))
    )
}

/// The whole report as printed by `checker check`: bounds, exploration, counts, a verdict per
/// property, each counterexample (with the `checker explore` command and the Explorer link that
/// open it), and the conclusion (see [`Conclusion`]) as its last line.
pub fn render_report<R: RaftNode>(report: &Report<R>, explorer_address: &str) -> String {
    render_report_with_pages(report, explorer_address, &Pages::default())
}

/// What `checker check` says about its step-through pages (see [`super::page`]): a line per
/// violated property (`page: PATH`), printed under its counterexample, and a note printed
/// before the conclusion (when `--html` asked for a page and there is none to show).
#[derive(Clone, Debug, Default)]
pub struct Pages {
    pub lines: Vec<(&'static str, String)>,
    pub note: Option<String>,
}

/// [`render_report`], with what was done about the step-through pages.
pub fn render_report_with_pages<R: RaftNode>(
    report: &Report<R>,
    explorer_address: &str,
    pages: &Pages,
) -> String {
    let mut out = String::new();
    let e = &report.exploration;
    let _ = writeln!(out, "bounds: {}", report.bounds);
    let time_limit = match (e.timeout, e.time_limit()) {
        (Some(t), _) if e.cpu_time => format!(", time limit {}s of CPU time", t.as_secs_f64()),
        (Some(t), _) => format!(", time limit {}s", t.as_secs_f64()),
        (None, Some(t)) => format!(", time limit {}s (simulation's default)", t.as_secs_f64()),
        (None, None) => String::new(),
    };
    let _ = writeln!(
        out,
        "exploration: {:?}, {} thread(s){}{}{}{}",
        e.strategy,
        e.threads,
        if e.symmetry { ", symmetry" } else { "" },
        e.max_depth
            .map(|d| format!(", max depth {d}"))
            .unwrap_or_default(),
        if e.strategy == Strategy::Simulation {
            format!(", seed {}", e.seed)
        } else {
            String::new()
        },
        time_limit,
    );
    let secs = report.elapsed.as_secs_f64();
    let stopped = match &report.stop {
        None => String::new(),
        Some(Stop::TimeLimit(t)) => format!(
            " (stopped at the time limit of {}s: verdicts cover the explored part only)",
            t.as_secs_f64()
        ),
        Some(Stop::DepthLimit(d)) if e.strategy == Strategy::Bfs => {
            format!(" (stopped at depth {d}: verdicts cover the paths of at most {d} steps only)")
        }
        Some(Stop::DepthLimit(d)) => format!(
            " (stopped at depth {d}: verdicts cover the explored part only; depth-first search \
             skips a state within {d} steps that it met deeper first, --strategy bfs does not)"
        ),
        Some(Stop::FirstViolation(d)) => format!(
            " (breadth-first search stops after depth {d}, where it found its first violation: \
             verdicts cover the paths of at most {d} steps only)"
        ),
        Some(Stop::AtFirstViolation) => " (depth-first search stopped at its first violation: \
             verdicts cover the explored part only)"
            .to_owned(),
        Some(Stop::Sampled) => {
            " (simulation samples paths: verdicts cover the sampled paths only)".to_owned()
        }
        Some(Stop::Failed(why)) => {
            format!(" (the search failed: {why}; verdicts cover the explored part only)")
        }
    };
    let _ = writeln!(
        out,
        "states: {} generated, {} unique, max depth {}, {:.1}s, {:.0} states/s{stopped}",
        report.generated,
        report.unique,
        report.max_depth,
        secs,
        report.generated as f64 / secs.max(1e-9),
    );
    if report.verdicts.iter().any(|v| v.shortness.is_some()) && !report.shortening.is_zero() {
        let _ = writeln!(
            out,
            "shortening the counterexamples took {:.1}s",
            report.shortening.as_secs_f64()
        );
    }
    for v in &report.verdicts {
        let verdict = match (&v.expectation, v.ok) {
            (Expectation::Sometimes, true) => "reached".to_owned(),
            (Expectation::Sometimes, false) => "NOT REACHED".to_owned(),
            (_, true) => "holds".to_owned(),
            (_, false) => match &v.why {
                Some(why) => format!("VIOLATED: {why}"),
                None => "VIOLATED".to_owned(),
            },
        };
        let _ = writeln!(out, "  {:<NAME_COLUMN$} {verdict}", v.name);
    }
    for v in report.verdicts.iter().filter(|v| !v.ok) {
        if let Some(path) = &v.counterexample {
            let steps = path.clone().into_actions().len();
            let shortness = match v.shortness {
                Some(Shortness::Shortest) | None => "no shorter path violates it".to_owned(),
                Some(Shortness::Minimal { searched }) => format!(
                    "no step can be left out, but a shorter path may exist: the search for one \
                     stopped after {searched} states"
                ),
            };
            let _ = writeln!(
                out,
                "\ncounterexample for \"{}\" ({steps} steps; {shortness}):",
                v.name,
            );
            out.push_str(&render_steps(&report.bounds, path));
            if let Some(why) = &v.why {
                let _ = writeln!(out, "violated: {}: {why}", v.name);
            }
            let _ = writeln!(
                out,
                "open it: cargo run --release -p checker -- explore {}",
                explore_flags(&report.bounds, explorer_address)
            );
            let _ = writeln!(
                out,
                "explore it: {}",
                explorer_url(&report.bounds, explorer_address, path)
            );
            for (_, line) in pages.lines.iter().filter(|(name, _)| *name == v.name) {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    if let Some(note) = &pages.note {
        let _ = writeln!(out, "\n{note}");
    }
    let _ = writeln!(out, "\n{}", conclusion_line(report));
    out
}

/// The arguments of `checker explore` that serve the Explorer for `bounds` at `address`.
pub fn explore_flags(bounds: &Bounds, address: &str) -> String {
    let mut flags = bounds.to_flags();
    if address != DEFAULT_EXPLORER {
        let _ = write!(flags, " --address {address}");
    }
    flags
}

/// Where `checker explore` serves, and `checker check` links to, by default.
pub const DEFAULT_EXPLORER: &str = "127.0.0.1:3000";

/// The report's last line: what the check concludes.
fn conclusion_line<R: RaftNode>(report: &Report<R>) -> String {
    let hedge = if report.complete {
        ""
    } else {
        " in the explored part"
    };
    match report.conclusion() {
        Conclusion::Pass => format!(
            "result: every safety property holds and every reachability property was reached{hedge} \
             (exit code 0)"
        ),
        Conclusion::Violated => {
            let first = report
                .verdicts
                .iter()
                .find(|v| v.expectation == Expectation::Always && !v.ok);
            match first {
                Some(v) => format!(
                    "result: VIOLATED: {}: {} (exit code 1)",
                    v.name,
                    v.why.as_deref().unwrap_or("see above")
                ),
                None => "result: VIOLATED (exit code 1)".to_owned(),
            }
        }
        Conclusion::TooSmall(why) => format!(
            "result: {why}; nothing was violated, but nothing can be concluded (exit code 2)"
        ),
        Conclusion::NeverReached(missing) => format!(
            "result: NOT REACHED: {} (every state within the bound was explored, and the bound \
             allows it: a bug of the Raft) (exit code 1)",
            missing.join(", ")
        ),
        Conclusion::NotReachedYet(missing) => format!(
            "result: not reached before the search stopped: {}; nothing was violated, but \
             nothing can be concluded (exit code 2)",
            missing.join(", ")
        ),
        Conclusion::Failed(why) => format!("result: the search failed: {why} (exit code 1)"),
    }
}

/// The width of the report's property column: every property's name fits, so the verdicts line up.
const NAME_COLUMN: usize = 30;

#[cfg(test)]
mod column_tests {
    use super::super::properties::{REACHABILITY, SAFETY};

    #[test]
    fn every_property_name_fits_the_report_column() {
        for name in SAFETY.iter().chain(REACHABILITY.iter()) {
            assert!(
                name.len() <= super::NAME_COLUMN,
                "\"{name}\" ({} characters) overflows the {}-character property column",
                name.len(),
                super::NAME_COLUMN
            );
        }
    }
}
