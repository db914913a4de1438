//! What to check: the model's bounds (servers, terms, commands, crashes, network) and how to
//! explore them (strategy, threads, depth, time).

use std::fmt;
use std::time::Duration;

/// How the model's network may treat messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NetworkSemantics {
    /// Messages between two servers arrive in the order sent, each once.
    Ordered,
    /// Messages arrive in any order, each at most once.
    Unordered,
    /// Messages arrive in any order, any number of times (covers loss, reordering, duplication).
    Duplicating,
    /// One thing at a time: messages are delivered one by one in the order they were sent (across
    /// all servers), and timers fire and servers crash or restart only when no message is in
    /// flight, so each event's consequences play out before the next event. A bound on
    /// concurrency with far fewer interleavings than `Ordered`; it misses every bug that needs a
    /// message to overtake another or to be in flight while a timer fires. A message to a crashed
    /// server is lost.
    Sequential,
}

/// The bounds of one model-checking run. Every field is printed with the results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub servers: usize,
    /// States in which some server's term exceeds this (or, with `prevote`, a pre-candidate asks
    /// for pre-votes for a term beyond it) are not explored.
    pub max_term: u64,
    /// Client commands proposed (each offered to every server; a leader proposes command `k` as
    /// `[k, its term]`, so every proposal is distinguishable: see `actor::proposal`).
    pub commands: usize,
    /// Crashes (each followed, nondeterministically, by a recovery).
    pub crashes: usize,
    pub network: NetworkSemantics,
    /// Whether the network may also lose messages.
    ///
    /// With an unordered network a message that is never delivered is as good as lost, so losses
    /// matter only for the `max_in_flight` bound: a step that leaves more than `max_in_flight`
    /// messages in flight also loses, in that same step, enough of them (any of them: one action
    /// per choice, see [`RaftAction`]) that `max_in_flight` remain. This reaches every server
    /// state that losing messages at any time would (move each loss to just before the first
    /// step that needs its room), without the network states of every subset of the messages in
    /// flight. With an ordered network the first message of a channel may be lost at any time. A
    /// duplicating network needs no losses: it may deliver a message any number of times, or never.
    pub lossy: bool,
    /// Whether servers take snapshots of what they applied (exercises the 2D code).
    pub snapshots: bool,
    /// With non-duplicating networks: states with more messages in flight are not explored.
    pub max_in_flight: usize,
    /// With a lossy network: at most this many messages are lost in all (unlimited if `None`).
    /// On an unordered network a step that would need more losses than are left ends the path.
    pub max_losses: Option<usize>,
    /// Lab 2E: the servers run with PreVote, the leader's lease and CheckQuorum
    /// (`Options::prevote_and_check_quorum`).
    pub prevote: bool,
    /// With `prevote`: at most this many election and CheckQuorum timeouts in all. Pre-votes do
    /// not raise terms, so `max_term` alone no longer bounds how often servers time out.
    pub max_timeouts: usize,
    /// With an unordered network: after every step the network loses each message whose delivery
    /// would change nothing at that moment (a stale reply, a duplicate ack), so that such
    /// messages do not hold places under `max_in_flight` for good. Every path found is still a
    /// real one (a network may lose any message); bugs that need a stale message delivered *into*
    /// a Raft that mishandles it are still found, because for that Raft the delivery changes
    /// something and the message stays.
    pub lose_stale: bool,
}

/// `--max-timeouts` when none is given.
pub const DEFAULT_MAX_TIMEOUTS: usize = 2;

/// The default bound, which `checker check` and CI explore completely in seconds: three servers,
/// terms 1 and 2, one command, an unordered network with up to six messages in flight, no crashes.
/// It covers split votes, a leader elected in term 1 with its command replicated to some, none or
/// all followers, and a second election in term 2 that must preserve what was committed in term 1
/// (where the up-to-date check, log repair and Figure 8's rule all matter).
impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            servers: 3,
            max_term: 2,
            commands: 1,
            crashes: 0,
            network: NetworkSemantics::Unordered,
            lossy: false,
            snapshots: false,
            max_in_flight: 6,
            max_losses: None,
            prevote: false,
            max_timeouts: DEFAULT_MAX_TIMEOUTS,
            lose_stale: false,
        }
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "servers={} max_term={} commands={} crashes={} network={:?}{}{}",
            self.servers,
            self.max_term,
            self.commands,
            self.crashes,
            self.network,
            if self.lossy { "+lossy" } else { "" },
            if self.snapshots { " snapshots=on" } else { "" },
        )?;
        if self.network != NetworkSemantics::Duplicating {
            write!(f, " max_in_flight={}", self.max_in_flight)?;
        }
        if let (true, Some(n)) = (self.lossy, self.max_losses) {
            write!(f, " max_losses={n}")?;
        }
        if self.prevote {
            write!(f, " prevote=on max_timeouts={}", self.max_timeouts)?;
        }
        if self.lose_stale {
            write!(f, " lose_stale=on")?;
        }
        Ok(())
    }
}

impl Bounds {
    /// The `checker check`/`checker explore` flags that give these bounds (every one, so that
    /// they mean the same whatever the defaults).
    pub fn to_flags(&self) -> String {
        let network = match self.network {
            NetworkSemantics::Ordered => "ordered",
            NetworkSemantics::Unordered => "unordered",
            NetworkSemantics::Duplicating => "duplicating",
            NetworkSemantics::Sequential => "sequential",
        };
        let mut flags = format!(
            "--servers {} --max-term {} --commands {} --crashes {} --network {network} \
             --max-in-flight {}",
            self.servers, self.max_term, self.commands, self.crashes, self.max_in_flight
        );
        if self.lossy {
            flags.push_str(" --lossy");
        }
        if let Some(n) = self.max_losses {
            flags.push_str(&format!(" --max-losses {n}"));
        }
        if self.snapshots {
            flags.push_str(" --snapshots");
        }
        if self.prevote {
            flags.push_str(&format!(" --prevote --max-timeouts {}", self.max_timeouts));
        }
        if self.lose_stale {
            flags.push_str(" --lose-stale");
        }
        flags
    }
}

/// How to explore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    Bfs,
    Dfs,
    Simulation,
}

/// Simulation samples paths until stopped: its time limit when none is given.
pub const SIMULATION_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Exploration settings (the bounds of the model itself are in [`Bounds`]).
#[derive(Clone, Debug)]
pub struct Exploration {
    pub strategy: Strategy,
    pub threads: usize,
    /// Check only the states at most this many steps from the start (no limit if `None`).
    pub max_depth: Option<usize>,
    /// Stop after this long (the verdicts then cover only what was explored). Simulation without
    /// one stops after [`SIMULATION_TIME_LIMIT`].
    pub timeout: Option<Duration>,
    /// The time limit counts this process's CPU time, not real time (see [`super::clock`]).
    pub cpu_time: bool,
    /// Depth-first search stops at its first safety violation instead of exploring on (the
    /// presets: any violation fails them). Which violation it reports then does not depend on
    /// how far it got before a time limit.
    pub first_violation: bool,
    /// Seed for the simulation strategy.
    pub seed: u64,
    /// Explore one state of each set that differ only in the servers' names (DFS and simulation;
    /// see [`super::symmetry`]; check [`super::symmetry::problem`] first).
    pub symmetry: bool,
    /// With DFS and simulation: the most states the search for shorter counterexamples may find
    /// (see the module's documentation).
    pub shortening_limit: usize,
}

impl Default for Exploration {
    fn default() -> Self {
        Exploration {
            strategy: Strategy::Dfs,
            threads: 1,
            max_depth: None,
            timeout: None,
            cpu_time: false,
            first_violation: false,
            seed: 0,
            symmetry: false,
            shortening_limit: SEARCH_STATE_LIMIT,
        }
    }
}

impl Exploration {
    /// The time limit in effect: the one given, or simulation's default.
    pub fn time_limit(&self) -> Option<Duration> {
        match (self.timeout, self.strategy) {
            (None, Strategy::Simulation) => Some(SIMULATION_TIME_LIMIT),
            (timeout, _) => timeout,
        }
    }
}

/// States a search for shorter paths may find before it gives up.
pub const SEARCH_STATE_LIMIT: usize = 3_000_000;
