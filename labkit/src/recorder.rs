//! The run recorder: what happened in a run, kept with bounded memory, for the timeline page
//! ([`crate::timeline`]) and for the `lab` log target.
//!
//! Every run's [`Sim`](crate::sim::Sim) owns one [`Recorder`]. The framework writes to it as the
//! run goes: labrpc's calls, deliveries, losses and held-back replies; the drivers' timers, each
//! server's term / role / commit index / log after a handler (only when one of them changed),
//! applies, crashes and restarts; the harness's actions, client operations and checks. Recording
//! reads nothing the run depends on (no RNG draw, nothing folded into the trace hash), so a run
//! with it is the run without it.
//!
//! The same calls log under the target [`LOG_TARGET`] (`lab`): the test's story (actions,
//! crashes, checks, client operations) at `info`, each RPC's delivery and loss at `debug`, with
//! the run's virtual timestamps, interleaved with the student's own `tracing` lines.
//!
//! Memory: at most [`CAPACITY`] events are kept; past that the oldest go first (the page opens
//! on the end of the run anyway) and the recording says how many were dropped.
//!
//! A recorder is on or off. Off (a lab run's first pass), it keeps nothing and only logs, so a
//! passing run pays next to nothing; a run that fails is run again from its seed with the
//! recorder on to draw its picture (the same seed gives the same run: the trace hashes are
//! compared). `LAB_VIZ=1` records every run from the start.
//!
//! Cost when on: a message is one event, written when its call ends, and it keeps the request's encoded
//! bytes (which labrpc would free at that point anyway, so keeping them costs no copy) instead of
//! a description; they are decoded and described only when a page is drawn, by the decoder the
//! driver registered for the method ([`Recorder::set_decoder`]). Requests larger than
//! [`MAX_KEPT_ARGS`] bytes, or past [`MAX_KEPT_BYTES`] in all, keep only their size.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::{self, Write as _};
use std::rc::Rc;
use std::time::Duration;

use serde::Serialize;

/// The `tracing` target of the framework's own log lines (`RUST_LOG=lab=info`, `lab=debug`).
pub const LOG_TARGET: &str = "lab";

/// The most events a recording keeps (the oldest are dropped first).
pub const CAPACITY: usize = 200_000;

/// A request's encoded bytes are kept for its description only up to this size ...
pub const MAX_KEPT_ARGS: usize = 1024;
/// ... and while all kept requests together stay under this many bytes.
pub const MAX_KEPT_BYTES: usize = 32 << 20;

/// Describes a request of `method` from its encoded bytes (registered by a driver).
pub type Decoder = fn(method: &str, args: &[u8]) -> String;

/// A log's entry terms are kept (run-length) only while all kept runs together stay under this
/// many; past it a record says its terms were not kept.
pub const MAX_KEPT_RUNS: usize = 1 << 20;

/// The most persists kept per server (the latest), for the step-through page ...
pub const PERSISTS_KEPT: usize = 256;
/// ... and the most bytes (state and snapshot) they may hold per server.
pub const MAX_PERSIST_BYTES: usize = 16 << 20;

/// Restarts a server from persisted bytes and observes it (registered by a driver): `me`, the
/// cluster's `peers`, the state and snapshot bytes. `Err`: the Raft refused the bytes, in words.
pub type Restarter =
    fn(me: usize, peers: &[usize], state: &[u8], snapshot: &[u8]) -> Result<Restarted, String>;

/// What a Raft restarted from persisted bytes observes of itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restarted {
    pub term: u64,
    pub voted_for: Option<usize>,
    pub log: LogTerms,
}

/// A log's shape, compactly: its snapshot's index and term, and its entries' terms as runs of
/// equal terms `(term, count)`, oldest first. `kept: false`: the runs were not kept (the
/// recorder's budget [`MAX_KEPT_RUNS`] was spent); only the snapshot and the length are then known.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogTerms {
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    pub runs: Vec<(u64, u64)>,
    pub len: u64,
    pub kept: bool,
}

impl LogTerms {
    /// The log with a snapshot up to `snapshot_index` (of `snapshot_term`) and entries of `terms`.
    pub fn new(
        snapshot_index: u64,
        snapshot_term: u64,
        terms: impl IntoIterator<Item = u64>,
    ) -> Self {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut len = 0;
        for term in terms {
            len += 1;
            match runs.last_mut() {
                Some((t, n)) if *t == term => *n += 1,
                _ => runs.push((term, 1)),
            }
        }
        LogTerms {
            snapshot_index,
            snapshot_term,
            runs,
            len,
            kept: true,
        }
    }

    /// Whether this is the log of `snapshot_index`, `snapshot_term` and `terms` (no allocation).
    pub fn is(
        &self,
        snapshot_index: u64,
        snapshot_term: u64,
        terms: impl IntoIterator<Item = u64>,
    ) -> bool {
        if !self.kept
            || self.snapshot_index != snapshot_index
            || self.snapshot_term != snapshot_term
        {
            return false;
        }
        let mut runs = self.runs.iter();
        let mut current: Option<(u64, u64)> = None;
        let mut len = 0;
        for term in terms {
            len += 1;
            match &mut current {
                Some((t, left)) if *t == term && *left > 0 => *left -= 1,
                Some((_, 0)) | None => match runs.next() {
                    Some(&(t, n)) if t == term => current = Some((t, n - 1)),
                    _ => return false,
                },
                Some(_) => return false,
            }
        }
        len == self.len && current.is_none_or(|(_, left)| left == 0) && runs.next().is_none()
    }
}

/// A server's persisted state at virtual time `t` (µs); `seq`: how many events had been recorded
/// before it (in a [`Recording`], the index in its events of the first event after it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Persist {
    pub lane: Lane,
    pub t: u64,
    pub seq: u64,
    pub state: Rc<[u8]>,
    pub snapshot: Rc<[u8]>,
}

/// The longest field summary of an RPC kept, in bytes.
pub const SUMMARY_LEN: usize = 160;

/// A lane of the picture: a server (`s2`), a client (`c1003`) or the test itself.
pub type Lane = u32;

/// A server's Raft state as the pages show it (from the Raft's `observe`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServerState {
    pub term: u64,
    /// 0 follower, 1 candidate, 2 leader, 3 pre-candidate (lab 2E).
    pub role: u8,
    pub commit: u64,
    /// Its last log index.
    pub last: u64,
    /// Its snapshot's index.
    pub snap: u64,
    /// Whom it voted for in its term (for the step-through page only).
    #[serde(skip)]
    pub vote: Option<usize>,
}

/// One recorded event. `t` is virtual time in microseconds since the run started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub t: u64,
    #[serde(flatten)]
    pub what: What,
}

/// What happened. Lanes and methods are indices into the recording's `lanes` and `names`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "k")]
pub enum What {
    /// An RPC from `from` to `to` (`m`: method name index, `b`: request bytes), sent at the
    /// event's time, delivered to the handler at `delivered` (if it was), ended at `ended` (a
    /// reply or a loss; `None`: still in flight when the run ended). `why`: "" for a reply, else
    /// why none came. `args`: the encoded request, when kept.
    Msg {
        from: Lane,
        to: Lane,
        m: u32,
        b: usize,
        delivered: Option<u64>,
        ended: Option<u64>,
        why: &'static str,
        #[serde(skip)]
        args: Vec<u8>,
    },
    /// One direction of a link between two lanes was enabled or cut.
    Link {
        from: Lane,
        to: Lane,
        on: bool,
    },
    /// A server's timer fired (`name`: index into `names`).
    Timer {
        lane: Lane,
        name: u32,
    },
    /// A server's Raft state after a handler, recorded when it changed; `log`: its entries'
    /// terms, only when they changed since the server's previous record (`None`: unchanged),
    /// for the step-through page only.
    State {
        lane: Lane,
        #[serde(flatten)]
        state: ServerState,
        #[serde(skip)]
        log: Option<Rc<LogTerms>>,
    },
    /// A server applied a command at `index` (or installed a snapshot up to it).
    Apply {
        lane: Lane,
        index: u64,
        snapshot: bool,
    },
    /// A server crashed (its incarnation stopped) or (re)started.
    Crash {
        lane: Lane,
    },
    Start {
        lane: Lane,
    },
    /// Something the test did (`lane`: the server it concerns, if one).
    Action {
        lane: Option<Lane>,
        text: String,
    },
    /// A client operation began (`ret: false`) or returned (`ret: true`, `text` has the result).
    Client {
        lane: Lane,
        ret: bool,
        text: String,
    },
    /// A check of the harness passed.
    Check {
        text: String,
    },
    /// The run failed: the failing check's message.
    Fail {
        text: String,
    },
}

/// A finished run's recording, as the timeline page embeds it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Recording {
    /// Lane names, by lane index.
    pub lanes: Vec<String>,
    /// Method and timer names, by index.
    pub names: Vec<String>,
    /// The events kept, oldest first.
    pub events: Vec<Event>,
    /// How many older events were dropped to stay within [`CAPACITY`].
    pub dropped: u64,
    /// Virtual time at the end of the run, in microseconds.
    pub end: u64,
    /// How to describe each method's requests, by method name index.
    #[serde(skip)]
    pub decoders: BTreeMap<u32, Decoder>,
    /// The latest persists of each server (at most [`PERSISTS_KEPT`] each), in time order.
    #[serde(skip)]
    pub persists: Vec<Persist>,
    /// The server lanes whose older persists were not kept.
    #[serde(skip)]
    pub persists_cut: BTreeSet<Lane>,
    /// How to restart each server lane from its persisted bytes, and its cluster.
    #[serde(skip)]
    pub restarters: BTreeMap<Lane, (Restarter, Vec<usize>)>,
}

impl Recording {
    /// The description of a message's request: its decoder's, else its size.
    pub fn describe(&self, m: u32, b: usize, args: &[u8]) -> String {
        let method = self.names.get(m as usize).map_or("", String::as_str);
        match self.decoders.get(&m) {
            Some(decode) if !args.is_empty() || b == 0 => decode(method, args),
            _ => format!("({b} bytes)"),
        }
    }
}

/// A call in flight: its lanes, method, size, when it left and when it was delivered.
struct InFlight {
    from: Lane,
    to: Lane,
    m: u32,
    b: usize,
    sent: u64,
    delivered: Option<u64>,
}

/// The recorder of one run. Single-threaded, like the run.
pub struct Recorder {
    capacity: usize,
    events: RefCell<VecDeque<Event>>,
    dropped: Cell<u64>,
    lanes: RefCell<Interner>,
    names: RefCell<Interner>,
    next_call: Cell<u64>,
    in_flight: RefCell<BTreeMap<u64, InFlight>>,
    kept_bytes: Cell<usize>,
    decoders: RefCell<BTreeMap<u32, Decoder>>,
    /// Events ever pushed (kept or dropped).
    pushed: Cell<u64>,
    kept_runs: Cell<usize>,
    persists: RefCell<BTreeMap<Lane, (VecDeque<Persist>, usize)>>,
    persists_cut: RefCell<BTreeSet<Lane>>,
    restarters: RefCell<BTreeMap<Lane, (Restarter, Vec<usize>)>>,
    on: bool,
}

#[derive(Default)]
struct Interner {
    list: Vec<String>,
    index: BTreeMap<String, u32>,
}

impl Interner {
    fn get(&mut self, name: &str) -> u32 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.list.len() as u32;
        self.list.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }
}

impl Default for Recorder {
    /// A recorder that is on, with the default capacity.
    fn default() -> Self {
        Recorder::with_capacity(CAPACITY)
    }
}

/// The virtual time of the run on this thread, in microseconds (0 outside a run).
fn now_us() -> u64 {
    crate::sim::current_virtual_time().map_or(0, |t| t.as_micros() as u64)
}

/// The name of a role for logs.
pub fn role_name(role: u8) -> &'static str {
    match role {
        3 => "pre-candidate",
        2 => "leader",
        1 => "candidate",
        _ => "follower",
    }
}

impl Recorder {
    /// A recorder that keeps what happens if `on`, else only logs it.
    pub fn new(on: bool) -> Recorder {
        Recorder {
            on,
            ..Recorder::default()
        }
    }

    /// Whether this recorder keeps events (else it only logs).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// A recorder that keeps at most `capacity` events.
    pub fn with_capacity(capacity: usize) -> Recorder {
        Recorder {
            capacity: capacity.max(1),
            events: RefCell::default(),
            dropped: Cell::new(0),
            lanes: RefCell::default(),
            names: RefCell::default(),
            next_call: Cell::new(0),
            in_flight: RefCell::default(),
            kept_bytes: Cell::new(0),
            decoders: RefCell::default(),
            pushed: Cell::new(0),
            kept_runs: Cell::new(0),
            persists: RefCell::default(),
            persists_cut: RefCell::default(),
            restarters: RefCell::default(),
            on: true,
        }
    }

    fn push(&self, what: What) {
        self.push_at(now_us(), what);
    }

    fn push_at(&self, t: u64, what: What) {
        if !self.on {
            return;
        }
        let mut events = self.events.borrow_mut();
        if events.len() >= self.capacity {
            match events.pop_front() {
                Some(Event {
                    what: What::Msg { args, .. },
                    ..
                }) => self.kept_bytes.set(self.kept_bytes.get() - args.len()),
                Some(Event {
                    what: What::State { log: Some(log), .. },
                    ..
                }) if log.kept => self.kept_runs.set(self.kept_runs.get() - log.runs.len()),
                _ => {}
            }
            self.dropped.set(self.dropped.get() + 1);
        }
        self.pushed.set(self.pushed.get() + 1);
        events.push_back(Event { t, what });
    }

    /// Describe requests of `method` with `decode` when a page is drawn (drivers call this).
    pub fn set_decoder(&self, method: &str, decode: Decoder) {
        let m = self.name(method);
        self.decoders.borrow_mut().insert(m, decode);
    }

    /// The lane index of `name` (`s0`, `c1003`).
    pub fn lane(&self, name: &str) -> Lane {
        self.lanes.borrow_mut().get(name)
    }

    /// The lane of server `id`.
    pub fn server_lane(&self, id: usize) -> Lane {
        self.lane(&format!("s{id}"))
    }

    fn name(&self, name: &str) -> u32 {
        self.names.borrow_mut().get(name)
    }

    fn lane_name(&self, lane: Lane) -> String {
        self.lanes
            .borrow()
            .list
            .get(lane as usize)
            .cloned()
            .unwrap_or_default()
    }

    /// An RPC from lane `from` to lane `to` left, `bytes` long; returns its id for the later
    /// calls (`None` when the recorder is off).
    pub fn send(&self, from: Lane, to: Lane, method: &str, bytes: usize) -> Option<u64> {
        if !self.on {
            return None;
        }
        let id = self.next_call.get();
        self.next_call.set(id + 1);
        let m = self.name(method);
        let call = InFlight {
            from,
            to,
            m,
            b: bytes,
            sent: now_us(),
            delivered: None,
        };
        self.in_flight.borrow_mut().insert(id, call);
        Some(id)
    }

    /// Log (`debug`) that an RPC from `from` to `to` reached its server.
    pub fn log_delivered(&self, method: &str, from: Lane, to: Lane) {
        tracing::debug!(target: LOG_TARGET, "{method} {} -> {} delivered", self.lane_name(from), self.lane_name(to));
    }

    /// Log (`debug`) that an RPC from `from` to `to` got no reply, and why.
    pub fn log_lost(&self, method: &str, from: Lane, to: Lane, why: &str) {
        tracing::debug!(target: LOG_TARGET, "{method} {} -> {}: {why}", self.lane_name(from), self.lane_name(to));
    }

    /// Call `id`'s request reached its server's handler.
    pub fn deliver(&self, id: u64) {
        if let Some(call) = self.in_flight.borrow_mut().get_mut(&id) {
            call.delivered = Some(now_us());
        }
    }

    /// Call `id` ended: with a reply (`why == ""`) or without one (`why` says why). `args` are
    /// its encoded request, kept (not copied) to describe it later.
    pub fn end_call(&self, id: u64, why: &'static str, args: Vec<u8>) {
        let Some(call) = self.in_flight.borrow_mut().remove(&id) else {
            return;
        };
        let kept = self.kept_bytes.get();
        let args = if args.len() <= MAX_KEPT_ARGS && kept + args.len() <= MAX_KEPT_BYTES {
            self.kept_bytes.set(kept + args.len());
            args
        } else {
            Vec::new()
        };
        let what = What::Msg {
            from: call.from,
            to: call.to,
            m: call.m,
            b: call.b,
            delivered: call.delivered,
            ended: Some(now_us()),
            why,
            args,
        };
        self.push_at(call.sent, what);
    }

    pub fn link(&self, from: Lane, to: Lane, on: bool) {
        tracing::debug!(target: LOG_TARGET, "link {} -> {} {}", self.lane_name(from), self.lane_name(to), if on { "on" } else { "cut" });
        self.push(What::Link { from, to, on });
    }

    pub fn timer(&self, lane: Lane, name: &str) {
        let name = self.name(name);
        self.push(What::Timer { lane, name });
    }

    /// A server's state after a handler and, if its log's terms changed since its previous
    /// record, the log (kept while within [`MAX_KEPT_RUNS`], else marked not kept).
    pub fn state(&self, lane: Lane, state: ServerState, log: Option<Rc<LogTerms>>) {
        if !self.on {
            return;
        }
        let ServerState {
            term,
            role,
            commit,
            last,
            ..
        } = state;
        tracing::trace!(target: LOG_TARGET, "{}: term {term} {} commit {commit} last {last}", self.lane_name(lane), role_name(role));
        let log = log.map(|log| {
            let kept = self.kept_runs.get();
            if log.kept && kept + log.runs.len() <= MAX_KEPT_RUNS {
                self.kept_runs.set(kept + log.runs.len());
                log
            } else {
                Rc::new(LogTerms {
                    snapshot_index: log.snapshot_index,
                    snapshot_term: log.snapshot_term,
                    runs: Vec::new(),
                    len: log.len,
                    kept: false,
                })
            }
        });
        self.push(What::State { lane, state, log });
    }

    /// Restart server `lane` (of the cluster `peers`) from its persisted bytes with `restart`
    /// when a page shows what it persisted (drivers call this).
    pub fn set_restarter(&self, lane: Lane, restart: Restarter, peers: Vec<usize>) {
        self.restarters.borrow_mut().insert(lane, (restart, peers));
    }

    /// Server `lane` persisted `state` and `snapshot` (shared with its persister, not copied).
    /// The latest [`PERSISTS_KEPT`] per server are kept, within [`MAX_PERSIST_BYTES`].
    pub fn persisted(&self, lane: Lane, state: Rc<[u8]>, snapshot: Rc<[u8]>) {
        if !self.on {
            return;
        }
        let mut all = self.persists.borrow_mut();
        let (kept, bytes) = all.entry(lane).or_default();
        *bytes += state.len() + snapshot.len();
        kept.push_back(Persist {
            lane,
            t: now_us(),
            seq: self.pushed.get(),
            state,
            snapshot,
        });
        while kept.len() > PERSISTS_KEPT || (*bytes > MAX_PERSIST_BYTES && kept.len() > 1) {
            if let Some(old) = kept.pop_front() {
                *bytes -= old.state.len() + old.snapshot.len();
                self.persists_cut.borrow_mut().insert(lane);
            }
        }
    }

    pub fn apply(&self, lane: Lane, index: u64, snapshot: bool) {
        self.push(What::Apply {
            lane,
            index,
            snapshot,
        });
    }

    pub fn crash(&self, lane: Lane) {
        tracing::info!(target: LOG_TARGET, "{} crashed", self.lane_name(lane));
        self.push(What::Crash { lane });
    }

    pub fn start(&self, lane: Lane) {
        tracing::info!(target: LOG_TARGET, "{} started", self.lane_name(lane));
        self.push(What::Start { lane });
    }

    /// Something the test did, concerning server lane `lane` if any; logged at `info`.
    pub fn action(&self, lane: Option<Lane>, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(target: LOG_TARGET, "test: {text}");
        self.push(What::Action { lane, text });
    }

    /// A client operation called (`ret == false`) or returned; logged at `info`.
    pub fn client(&self, lane: Lane, ret: bool, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(target: LOG_TARGET, "{} {} {text}", self.lane_name(lane), if ret { "returned" } else { "calls" });
        self.push(What::Client { lane, ret, text });
    }

    /// A check of the harness passed; logged at `info`.
    pub fn check(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(target: LOG_TARGET, "check passed: {text}");
        self.push(What::Check { text });
    }

    /// The run failed with `text`; logged at `info` (the failure line says it anyway).
    pub fn fail(&self, text: impl Into<String>) {
        let text = text.into();
        tracing::info!(target: LOG_TARGET, "check FAILED: {text}");
        self.push(What::Fail { text });
    }

    /// Events kept so far.
    pub fn len(&self) -> usize {
        self.events.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.borrow().is_empty()
    }

    /// Everything recorded so far, ending at virtual time `end` (calls still in flight
    /// included, without an end); the recorder is emptied.
    pub fn take(&self, end: Duration) -> Recording {
        for (_, call) in std::mem::take(&mut *self.in_flight.borrow_mut()) {
            let what = What::Msg {
                from: call.from,
                to: call.to,
                m: call.m,
                b: call.b,
                delivered: call.delivered,
                ended: None,
                why: "",
                args: Vec::new(),
            };
            self.push_at(call.sent, what);
        }
        self.kept_bytes.set(0);
        self.kept_runs.set(0);
        let mut persists: Vec<Persist> = std::mem::take(&mut *self.persists.borrow_mut())
            .into_values()
            .flat_map(|(kept, _)| kept)
            .collect();
        // `seq` becomes the index in `events` of the first event recorded after the persist.
        let base = self.pushed.replace(0) - self.events.borrow().len() as u64;
        for p in &mut persists {
            p.seq = p.seq.saturating_sub(base);
        }
        persists.sort_by_key(|p| (p.t, p.seq, p.lane));
        Recording {
            persists,
            persists_cut: self.persists_cut.take(),
            restarters: self.restarters.take(),
            lanes: self.lanes.borrow().list.clone(),
            names: self.names.borrow().list.clone(),
            events: self.events.take().into(),
            dropped: self.dropped.replace(0),
            end: end.as_micros() as u64,
            decoders: self.decoders.take(),
        }
    }
}

/// A `fmt::Write` that keeps at most `max` bytes and then refuses more, so that formatting a large
/// value (an AppendEntries with many entries) stops early instead of building it all.
struct Bounded {
    text: String,
    max: usize,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.text.push_str(&s[..cut]);
        Err(fmt::Error)
    }
}

/// `value`'s `Debug` text, cut at [`SUMMARY_LEN`] bytes (with `...` when cut).
pub fn summary(value: &impl fmt::Debug) -> String {
    let mut out = Bounded {
        text: String::with_capacity(64),
        max: SUMMARY_LEN,
    };
    if write!(out, "{value:?}").is_err() {
        out.text.push_str("...");
    }
    out.text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_capacity_dropping_the_oldest() {
        let rec = Recorder::with_capacity(3);
        for i in 0..5 {
            rec.check(format!("c{i}"));
        }
        let recording = rec.take(Duration::from_secs(1));
        assert_eq!(recording.dropped, 2);
        let texts: Vec<_> = recording
            .events
            .iter()
            .map(|e| match &e.what {
                What::Check { text } => text.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(texts, ["c2", "c3", "c4"]);
        assert_eq!(recording.end, 1_000_000);
    }

    #[test]
    fn summaries_are_cut() {
        let long = vec![7u8; 1000];
        let s = summary(&long);
        assert!(s.len() <= SUMMARY_LEN + 3 && s.ends_with("..."), "{s}");
        assert_eq!(summary(&(1, "x")), "(1, \"x\")");
    }

    #[test]
    fn an_off_recorder_keeps_nothing() {
        let rec = Recorder::new(false);
        assert_eq!(rec.send(0, 1, "Raft.AppendEntries", 10), None);
        rec.check("x");
        rec.state(
            0,
            ServerState {
                term: 1,
                role: 2,
                ..ServerState::default()
            },
            None,
        );
        assert!(rec.is_empty());
    }

    #[test]
    fn lanes_and_calls_are_numbered_once() {
        let rec = Recorder::default();
        assert_eq!(rec.server_lane(0), 0);
        assert_eq!(rec.lane("c9"), 1);
        assert_eq!(rec.server_lane(0), 0);
        let a = rec.send(0, 1, "Raft.AppendEntries", 10);
        let b = rec.send(1, 0, "Raft.AppendEntries", 10);
        assert_eq!((a, b), (Some(0), Some(1)));
        let recording = rec.take(Duration::ZERO);
        assert_eq!(recording.lanes, ["s0", "c9"]);
        assert_eq!(recording.names, ["Raft.AppendEntries"]);
    }
}
