//! The model's ghost state: what the properties need of the whole history (who led which term,
//! what was applied, violations seen along the way), kept beside the servers. Raft never sees it
//! and crashes do not erase it.

//!
//! What a step did (a [`GhostEvent`], and the servers before and after it) is judged by the
//! properties (`properties::record`), which keep in [`Ghost`] what they need.

use std::collections::BTreeMap;

use raft::contract::Command;

/// Verification-only state of the whole cluster, kept by the model beside the servers (in the
/// model's history): Raft never sees it, and crashes do not erase it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// The server that led each term, for the terms some server may still lead: a server's term
    /// never goes down (the "current term never decreases" property checks it), so terms below
    /// every server's current term are forgotten. Forgetting keeps states that differ only in who
    /// led a long-gone term from multiplying.
    pub leaders: BTreeMap<u64, usize>,
    /// Every index a server applied: the command, and the lowest term any server was in when it
    /// applied it (an upper bound on the term in which the entry was committed).
    pub applied: BTreeMap<u64, (Command, u64)>,
    /// The first violation of each property that is checked step by step (all but log
    /// matching and leader completeness, which look at the servers as they are), and why.
    pub violations: BTreeMap<&'static str, Violation>,
    /// The highest term any server campaigned in (was a candidate or a leader of): every term a
    /// server holds must be one of those (see `properties::term_from_campaign`).
    pub campaigned: u64,
    /// Lab 2E (`--prevote`): the election and CheckQuorum timeouts so far, bounded by
    /// `--max-timeouts`. Always 0 without pre-votes, so that it adds no states.
    pub timeouts: usize,
}

/// Why a property is violated: in words, and the servers and log indices involved (for the
/// counterexample page, which marks them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Violation {
    /// Why, in words (names the servers and indices too).
    pub why: String,
    /// The servers involved, in the order the words name them.
    pub servers: Vec<usize>,
    /// The log indices involved (none for properties about terms and votes).
    pub indices: Vec<u64>,
}

impl Violation {
    /// A violation: `why`, involving `servers` and log `indices`.
    pub fn new(why: impl Into<String>, servers: &[usize], indices: &[u64]) -> Self {
        Violation {
            why: why.into(),
            servers: servers.to_vec(),
            indices: indices.to_vec(),
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

/// What a server's step did that the model's ghost state records (the model moves these into
/// [`Ghost`] right after the step, so no state keeps any).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GhostEvent {
    /// The server applied `command` at `index` (one event per command of an applied snapshot).
    Applied { index: u64, command: Command },
    /// The Raft panicked (in a handler, a restart, or when read): why, in words.
    Panicked { why: String },
    /// The server could not restart from its persisted bytes: why, in words.
    NotRestarted { why: String },
    /// The service could not read a snapshot the server delivered: why, in words.
    UnreadableSnapshot { why: String },
    /// Lab 2E: an election or CheckQuorum timer fired (counted against `--max-timeouts`).
    TimedOut,
}
