//! The Raft state machine: Figure 2 of the extended Raft paper (election, replication, persistence)
//! plus log compaction (section 7, Figure 13). **Student code.**
//!
//! Each handler takes one event and describes its consequences in `out` (see [`crate::contract`]).
//! Log indices start at 1; index 0 is a sentinel entry with term 0.

use crate::contract::{
    Command, CorruptState, Effects, Observation, Options, PeerId, Persisted, RaftContract, Reply,
    Request, Timer,
};
use crate::messages::{RequestVoteArgs, RequestVoteReply};
// BEGIN SOLUTION
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, trace, warn};

use crate::contract::{ApplyMsg, Role};
use crate::messages::{
    AppendEntriesArgs, AppendEntriesReply, Entry, InstallSnapshotArgs, InstallSnapshotReply,
};

/// A leader sends a round of AppendEntries every 100 ms (the tests allow at most 10 per second).
const HEARTBEAT_INTERVAL: Range<Duration> = Duration::from_millis(100)..Duration::from_millis(101);
/// How long a follower waits for a leader before it starts an election. The driver draws each
/// timeout at random from this range, so that split votes do not repeat forever.
const ELECTION_TIMEOUT: Range<Duration> = Duration::from_millis(300)..Duration::from_millis(600);
// END SOLUTION
// BEGIN SOLUTION
/// 2E: how often a leader checks that a majority answered it. A follower that hears nothing for
/// the longest election timeout may have started an election, so a leader that heard no majority
/// for that long steps down; it does so at most two intervals after it was cut off.
const CHECK_QUORUM_INTERVAL: Range<Duration> = ELECTION_TIMEOUT.end..Duration::from_millis(601);
// END SOLUTION

/// One Raft server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Raft {
    // BEGIN SOLUTION
    me: PeerId,
    /// Every server of the cluster, `me` included, in increasing order.
    peers: Vec<PeerId>,
    // Persistent state (Figure 2): written with `persist` in the handler that changes it.
    term: u64,
    voted_for: Option<PeerId>,
    log: Log,
    /// The service's latest snapshot (it covers `log.snapshot_index`), to send to lagging peers.
    snapshot: Vec<u8>,
    // Volatile state.
    role: Role,
    commit_index: u64,
    last_applied: u64,
    /// Candidate only: the servers that granted us their vote in this term (us included).
    votes: BTreeSet<PeerId>,
    /// Leader only: what we know of each other server's log.
    progress: BTreeMap<PeerId, Progress>,
    /// The run's options, as `new` received them (2E's switch).
    options: Options,
    // STUB
    // // Your state here (Figure 2), and the `options` that `new` receives.
    // END SOLUTION
    // BEGIN SOLUTION
    /// 2E, follower: this term's leader was heard since the election timer last fired. Its lease:
    /// meanwhile we refuse pre-votes and votes. (The timer is at least the minimum election
    /// timeout, so the lease lasts at least that long after the leader's last message.)
    leader_heard: bool,
    /// 2E, leader: the followers that answered since the last quorum check (CheckQuorum).
    answered: BTreeSet<PeerId>,
    // STUB
    // // 2E: your state here (the leader's lease, CheckQuorum).
    // END SOLUTION
}

// BEGIN SOLUTION
/// A leader's view of one follower (`nextIndex[]` and `matchIndex[]` of Figure 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Progress {
    /// The next entry to send: AppendEntries go out with `prev_log_index = next_index - 1`.
    next_index: u64,
    /// The highest entry known to be replicated on the follower.
    match_index: u64,
}

/// The log after the snapshot. `snapshot_index` and `snapshot_term` describe the last entry the
/// snapshot covers (0 and 0 without a snapshot: the sentinel), and `entries[i]` has index
/// `snapshot_index + 1 + i`. Terms never decrease along the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Log {
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry>,
}

impl Log {
    fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The entry at `index`, if it is in the log (not in the snapshot).
    fn entry(&self, index: u64) -> Option<&Entry> {
        let i = index.checked_sub(self.snapshot_index + 1)?;
        self.entries.get(usize::try_from(i).ok()?)
    }

    /// The term at `index`, if we still know it (the snapshot's last entry included).
    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            Some(self.snapshot_term)
        } else {
            self.entry(index).map(|e| e.term)
        }
    }

    /// Whether our entry at `index` has term `term`. Entries inside the snapshot are committed, and
    /// committed entries are the same on every server, so they always match.
    fn matches(&self, index: u64, term: u64) -> bool {
        index <= self.snapshot_index || self.term_at(index) == Some(term)
    }

    /// The entries after `index`, which must lie in `snapshot_index..=last_index`.
    fn after(&self, index: u64) -> &[Entry] {
        &self.entries[(index - self.snapshot_index) as usize..]
    }

    /// The first index after the snapshot whose term is `term` or later.
    fn first_index_of(&self, term: u64) -> u64 {
        // Terms never decrease along the log: binary search.
        self.snapshot_index + 1 + self.entries.partition_point(|e| e.term < term) as u64
    }

    /// The last index holding an entry of term `term`, if any.
    fn last_index_of(&self, term: u64) -> Option<u64> {
        let end = self.entries.partition_point(|e| e.term <= term);
        match end.checked_sub(1) {
            Some(i) if self.entries[i].term == term => Some(self.snapshot_index + end as u64),
            None if self.snapshot_term == term && self.snapshot_index > 0 => {
                Some(self.snapshot_index)
            }
            _ => None,
        }
    }

    /// Delete the entries from `index` on (`index` must be after the snapshot).
    fn truncate_from(&mut self, index: u64) {
        self.entries
            .truncate((index - self.snapshot_index - 1) as usize);
    }

    /// Let a snapshot ending at `index` (of term `term`) replace the log up to there. The entries
    /// after it stay if our log agrees with the snapshot at `index`, else the whole log goes
    /// (Figure 13, steps 6 and 7).
    fn compact(&mut self, index: u64, term: u64) {
        if index >= self.snapshot_index && self.term_at(index) == Some(term) {
            self.entries.drain(..(index - self.snapshot_index) as usize);
        } else {
            self.entries.clear();
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }
}

/// What survives a crash, encoded with postcard. The snapshot itself is saved beside it.
#[derive(Serialize, Deserialize)]
struct Durable<'a> {
    term: u64,
    voted_for: Option<PeerId>,
    log: Cow<'a, Log>,
}

/// Decode and sanity-check persisted state: bytes that decode but make no sense are corrupt too.
fn decode(bytes: &[u8], peers: &[PeerId]) -> Result<Durable<'static>, CorruptState> {
    let (durable, rest): (Durable, _) =
        postcard::take_from_bytes(bytes).map_err(|e| CorruptState(e.to_string()))?;
    let log = &durable.log;
    let terms = std::iter::once(log.snapshot_term)
        .chain(log.entries.iter().map(|e| e.term))
        .chain(std::iter::once(durable.term));
    let problem = if !rest.is_empty() {
        format!("{} trailing bytes", rest.len())
    } else if durable.voted_for.is_some_and(|v| !peers.contains(&v)) {
        format!(
            "voted for server {:?}, not one of {peers:?}",
            durable.voted_for
        )
    } else if !terms.is_sorted() {
        "log terms out of order".to_string()
    } else if log.snapshot_index == 0 && log.snapshot_term != 0 {
        "snapshot term without a snapshot".to_string()
    } else {
        return Ok(durable);
    };
    Err(CorruptState(problem))
}

/// The sender's term, carried by every request.
fn request_term(request: &Request) -> u64 {
    match request {
        Request::RequestVote(args) => args.term,
        Request::AppendEntries(args) => args.term,
        Request::InstallSnapshot(args) => args.term,
        // 2E: a pre-vote's term is only proposed; it never makes the receiver adopt it.
        Request::PreVote(_) => 0,
    }
}
// END SOLUTION

impl RaftContract for Raft {
    /// Boot server `me`, one of `peers`, or restart it from what it persisted last (empty on first
    /// boot).
    fn new(
        me: PeerId,
        peers: &[PeerId],
        persisted: &Persisted,
        options: Options,
        out: &mut Effects,
    ) -> Result<Raft, CorruptState> {
        // BEGIN SOLUTION
        debug_assert!(peers.contains(&me), "server {me} of {peers:?}");
        let durable = if !persisted.state.is_empty() {
            decode(&persisted.state, peers)?
        } else if persisted.snapshot.is_empty() {
            Durable {
                term: 0,
                voted_for: None,
                log: Cow::Owned(Log::default()),
            }
        } else {
            return Err(CorruptState("a snapshot without Raft state".to_string()));
        };
        let log = durable.log.into_owned();
        let snapshot = match log.snapshot_index {
            0 => Vec::new(),
            _ => persisted.snapshot.clone(),
        };
        let mut peers = peers.to_vec();
        peers.sort_unstable();
        peers.dedup();
        let rf = Raft {
            me,
            peers,
            term: durable.term,
            voted_for: durable.voted_for,
            // The service restores its own state from the snapshot: that much is applied already.
            commit_index: log.snapshot_index,
            last_applied: log.snapshot_index,
            log,
            snapshot,
            role: Role::Follower,
            votes: BTreeSet::new(),
            progress: BTreeMap::new(),
            options,
            leader_heard: false,
            answered: BTreeSet::new(),
        };
        out.set_timer(Timer::Election, ELECTION_TIMEOUT);
        debug!(term = rf.term, role = ?rf.role, me, "booted");
        Ok(rf)
        // STUB
        // todo!("2A: set up the state (keep `options`) and arm the election timer; 2C/2D: restore from `persisted`")
        // END SOLUTION
    }

    /// The current term, and whether this server believes it is the leader.
    fn state(&self) -> (u64, bool) {
        // BEGIN SOLUTION
        (self.term, self.role == Role::Leader)
        // STUB
        // todo!("2A: return (current term, is leader)")
        // END SOLUTION
    }

    /// A truthful, read-only view of the state for the tester and the model checker.
    fn observe(&self) -> Observation<'_> {
        // BEGIN SOLUTION
        Observation {
            term: self.term,
            role: self.role,
            voted_for: self.voted_for,
            commit_index: self.commit_index,
            snapshot_index: self.log.snapshot_index,
            snapshot_term: self.log.snapshot_term,
            entries: &self.log.entries,
        }
        // STUB
        // todo!("2A: describe the state (see `Observation`)")
        // END SOLUTION
    }

    /// A timer armed with `out.set_timer` fired.
    fn on_timer(&mut self, timer: Timer, out: &mut Effects) {
        // BEGIN SOLUTION
        if self.options.prevote_and_check_quorum && self.on_timer_2e(timer, out) {
            return; // 2E: elections begin with pre-votes; CheckQuorum
        }
        match timer {
            Timer::Election if self.role != Role::Leader => self.become_candidate(out),
            Timer::Heartbeat if self.role == Role::Leader => {
                self.broadcast_append(out);
                out.set_timer(Timer::Heartbeat, HEARTBEAT_INTERVAL);
            }
            _ => trace!(?timer, role = ?self.role, "timer not for this role; ignored"),
        }
        // STUB
        // todo!("2A: start an election, or send heartbeats as a leader")
        // END SOLUTION
    }

    /// Handle an RPC request from peer `from` and return the reply (same variant as the request).
    fn on_request(&mut self, from: PeerId, request: Request, out: &mut Effects) -> Reply {
        // BEGIN SOLUTION
        trace!(from, method = request.method(), "request");
        if self.options.prevote_and_check_quorum
            && let Some(reply) = self.refuse_in_lease(&request)
        {
            return reply; // 2E: stickiness, before a newer term can touch us
        }
        // Rules for all servers (Figure 2): a newer term makes us a follower in that term.
        let term = request_term(&request);
        if term > self.term {
            self.become_follower(term, out);
        }
        match request {
            Request::RequestVote(args) => Reply::RequestVote(self.request_vote(args, out)),
            Request::AppendEntries(args) => Reply::AppendEntries(self.append_entries(args, out)),
            Request::InstallSnapshot(args) => {
                Reply::InstallSnapshot(self.install_snapshot(args, out))
            }
            Request::PreVote(args) => Reply::PreVote(self.pre_vote(args)),
        }
        // STUB
        // todo!("2A: handle RequestVote and heartbeats; 2B: AppendEntries; 2D: InstallSnapshot; 2E: PreVote")
        // END SOLUTION
    }

    /// Handle the `reply` that peer `from` sent to our `request`.
    fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects) {
        // BEGIN SOLUTION
        if self.options.prevote_and_check_quorum {
            self.note_answer(from, &request, &reply); // 2E: CheckQuorum
        }
        match (request, reply) {
            (Request::RequestVote(args), Reply::RequestVote(reply)) => {
                if self.is_current(args.term, reply.term, out) {
                    self.vote_reply(from, reply, out);
                }
            }
            (Request::AppendEntries(args), Reply::AppendEntries(reply)) => {
                if self.is_current(args.term, reply.term, out) {
                    self.append_reply(from, args, reply, out);
                }
            }
            (Request::InstallSnapshot(args), Reply::InstallSnapshot(reply)) => {
                if self.is_current(args.term, reply.term, out) {
                    self.snapshot_reply(from, args, out);
                }
            }
            (Request::PreVote(args), Reply::PreVote(reply)) => {
                self.pre_vote_reply(from, args, reply, out);
            }
            (request, _) => {
                warn!(
                    from,
                    method = request.method(),
                    "reply does not match its request; ignored"
                );
            }
        }
        // STUB
        // todo!("2A: count votes; 2B: track replication and commit; 2D: InstallSnapshot replies; 2E: pre-votes")
        // END SOLUTION
    }

    /// The service asks to replicate `command`. Returns `None` unless we are the leader, else the
    /// index and term the command will have if it commits.
    fn start(&mut self, command: Command, out: &mut Effects) -> Option<(u64, u64)> {
        // BEGIN SOLUTION
        if self.role != Role::Leader {
            return None;
        }
        self.log.entries.push(Entry {
            term: self.term,
            command,
        });
        self.persist(out);
        // Send the new entry at once to the peers that are up to date. A peer still catching up
        // gets it with the next batch, when its previous one is acknowledged: sending every
        // start's whole backlog to a lagging peer would cost quadratic bytes.
        let index = self.log.last_index();
        for peer in self.others() {
            if self.progress[&peer].next_index == index {
                self.send_append(peer, out);
            }
        }
        self.advance_commit(out); // commits at once in a one-server cluster
        Some((index, self.term))
        // STUB
        // todo!("2B: append to the log as leader and replicate")
        // END SOLUTION
    }

    /// The service saved a snapshot of everything up to and including `index`: trim the log.
    fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects) {
        // BEGIN SOLUTION
        if index <= self.log.snapshot_index || index > self.commit_index {
            trace!(index, "snapshot outside the committed log; ignored");
            return;
        }
        let term = self
            .log
            .term_at(index)
            .expect("committed entries after the snapshot are in the log");
        self.log.compact(index, term);
        self.snapshot = snapshot;
        self.persist_with_snapshot(out);
        debug!(term = self.term, role = ?self.role, index, "took a snapshot");
        // STUB
        // todo!("2D: trim the log and persist the state together with the snapshot")
        // END SOLUTION
    }

    // BEGIN SOLUTION
    // ----- Optional, not part of any lab: symmetry for the model checker. -----
    // (See `RaftContract::relabel`: renaming servers lets `checker check --symmetry` explore
    // one state of each set that differ only in the servers' names.)

    fn relabel(&self, to: &[PeerId]) -> Option<Raft> {
        let rename = |p: &PeerId| to.get(*p).copied();
        let mut renamed = self.clone();
        renamed.me = rename(&self.me)?;
        renamed.peers = self.peers.iter().map(rename).collect::<Option<_>>()?;
        renamed.peers.sort_unstable();
        renamed.voted_for = match &self.voted_for {
            Some(p) => Some(rename(p)?),
            None => None,
        };
        renamed.votes = self.votes.iter().map(rename).collect::<Option<_>>()?;
        renamed.answered = self.answered.iter().map(rename).collect::<Option<_>>()?;
        renamed.progress = (self.progress.iter())
            .map(|(p, progress)| Some((rename(p)?, *progress)))
            .collect::<Option<_>>()?;
        Some(renamed)
    }

    fn relabel_persisted(state: &[u8], to: &[PeerId]) -> Option<Vec<u8>> {
        if state.is_empty() {
            return Some(Vec::new());
        }
        let peers: Vec<PeerId> = (0..to.len()).collect();
        let mut durable = decode(state, &peers).ok()?;
        durable.voted_for = match durable.voted_for {
            Some(p) => Some(*to.get(p)?),
            None => None,
        };
        Some(postcard::to_allocvec(&durable).expect("encoding to memory cannot fail"))
    }

    fn relabel_request(request: &Request, to: &[PeerId]) -> Option<Request> {
        let mut renamed = request.clone();
        match &mut renamed {
            Request::RequestVote(args) => args.candidate = *to.get(args.candidate)?,
            Request::AppendEntries(args) => args.leader = *to.get(args.leader)?,
            Request::InstallSnapshot(args) => args.leader = *to.get(args.leader)?,
            Request::PreVote(args) => args.candidate = *to.get(args.candidate)?,
        }
        Some(renamed)
    }

    fn relabel_reply(reply: &Reply, to: &[PeerId]) -> Option<Reply> {
        // The replies carry no server ids.
        let _ = to;
        Some(reply.clone())
    }
    // END SOLUTION
}

// BEGIN SOLUTION
impl Raft {
    // ----- Role transitions: the only places `role` changes. -----

    /// Follow a leader of `term` (or wait for one): we saw a newer term, or the current leader.
    fn become_follower(&mut self, term: u64, out: &mut Effects) {
        debug_assert!(term >= self.term);
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist(out);
        }
        if self.role == Role::Leader {
            out.cancel_timer(Timer::Heartbeat);
            out.set_timer(Timer::Election, ELECTION_TIMEOUT);
            if self.options.prevote_and_check_quorum {
                self.stop_check_quorum(out); // 2E
            }
        }
        self.role = Role::Follower;
        self.votes.clear();
        self.progress.clear();
        debug!(term = self.term, role = ?self.role, "follower");
    }

    /// The election timeout passed without a leader: start an election in a new term.
    fn become_candidate(&mut self, out: &mut Effects) {
        self.role = Role::Candidate;
        self.term += 1;
        self.voted_for = Some(self.me);
        self.votes = BTreeSet::from([self.me]);
        self.persist(out);
        out.set_timer(Timer::Election, ELECTION_TIMEOUT);
        debug!(term = self.term, role = ?self.role, "became candidate");
        let args = RequestVoteArgs {
            term: self.term,
            candidate: self.me,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.others() {
            out.send(peer, Request::RequestVote(args.clone()));
        }
        if self.won_election() {
            self.become_leader(out); // a one-server cluster
        }
    }

    fn become_leader(&mut self, out: &mut Effects) {
        self.role = Role::Leader;
        self.votes.clear();
        let next_index = self.log.last_index() + 1;
        let progress = Progress {
            next_index,
            match_index: 0,
        };
        self.progress = self.others().map(|p| (p, progress)).collect();
        debug!(term = self.term, role = ?self.role, "became leader");
        out.cancel_timer(Timer::Election);
        self.broadcast_append(out);
        out.set_timer(Timer::Heartbeat, HEARTBEAT_INTERVAL);
        if self.options.prevote_and_check_quorum {
            out.set_timer(Timer::CheckQuorum, CHECK_QUORUM_INTERVAL); // 2E
        }
    }

    // ----- Request handlers (we are the receiver). -----

    fn request_vote(&mut self, args: RequestVoteArgs, out: &mut Effects) -> RequestVoteReply {
        // Election restriction (section 5.4.1): vote only for a candidate whose log is at least as
        // up-to-date as ours (a later last term, or the same last term and at least as long), so
        // that whoever wins holds every committed entry.
        let up_to_date = (args.last_log_term, args.last_log_index)
            >= (self.log.last_term(), self.log.last_index());
        let vote_granted = args.term == self.term
            && self.peers.contains(&args.candidate)
            && self.voted_for.is_none_or(|v| v == args.candidate)
            && up_to_date;
        if vote_granted {
            self.voted_for = Some(args.candidate);
            self.persist(out);
            out.set_timer(Timer::Election, ELECTION_TIMEOUT);
            debug!(term = self.term, role = ?self.role, candidate = args.candidate, "granted vote");
        }
        RequestVoteReply {
            term: self.term,
            vote_granted,
        }
    }

    fn append_entries(
        &mut self,
        mut args: AppendEntriesArgs,
        out: &mut Effects,
    ) -> AppendEntriesReply {
        let reject = |term, conflict_index, conflict_term| AppendEntriesReply {
            term,
            success: false,
            conflict_index,
            conflict_term,
        };
        if args.term < self.term || !self.heard_from_leader(out) {
            return reject(self.term, 0, None);
        }
        // Consistency check: our log must hold the leader's entry at prev_log_index. If not, tell
        // the leader where to resume, skipping a whole term per round trip (fast backup).
        let prev = args.prev_log_index;
        let last = self.log.last_index();
        if prev > last {
            return reject(self.term, last + 1, None); // our log is too short
        }
        if !self.log.matches(prev, args.prev_log_term) {
            let term = self.log.term_at(prev).unwrap_or_default();
            return reject(self.term, self.log.first_index_of(term), Some(term));
        }
        // Append what we don't have yet, truncating only at a real conflict: a delayed, shorter
        // AppendEntries must not cut off entries that a later one has already added.
        let last_new = prev + args.entries.len() as u64;
        let new = (prev + 1..)
            .zip(&args.entries)
            .position(|(index, e)| !self.log.matches(index, e.term));
        if let Some(new) = new {
            self.log.truncate_from(prev + 1 + new as u64);
            self.log.entries.extend(args.entries.drain(new..));
            self.persist(out);
        }
        // Commit what the leader has committed, up to the last entry this message vouches for:
        // beyond it our log may still differ from the leader's.
        let commit = args.leader_commit.min(last_new);
        if commit > self.commit_index {
            self.commit_index = commit;
            self.apply_committed(out);
        }
        AppendEntriesReply {
            term: self.term,
            success: true,
            conflict_index: 0,
            conflict_term: None,
        }
    }

    fn install_snapshot(
        &mut self,
        args: InstallSnapshotArgs,
        out: &mut Effects,
    ) -> InstallSnapshotReply {
        let reply = InstallSnapshotReply { term: self.term };
        let (index, term) = (args.last_included_index, args.last_included_term);
        // A snapshot that ends within what we committed has nothing new (and would undo applies).
        if args.term < self.term || !self.heard_from_leader(out) || index <= self.commit_index {
            return reply;
        }
        self.log.compact(index, term);
        self.commit_index = index;
        self.last_applied = index;
        self.snapshot = args.data.clone();
        self.persist_with_snapshot(out);
        out.apply(ApplyMsg::Snapshot {
            index,
            term,
            data: args.data,
        });
        debug!(term = self.term, role = ?self.role, index, "installed the leader's snapshot");
        reply
    }

    /// An AppendEntries or InstallSnapshot of our term came: its sender is this term's leader.
    /// Returns false if we lead this term ourselves, which election safety rules out.
    fn heard_from_leader(&mut self, out: &mut Effects) -> bool {
        if self.options.prevote_and_check_quorum {
            self.leader_heard = self.role != Role::Leader; // 2E: the leader's lease
        }
        match self.role {
            Role::PreCandidate => self.become_follower(self.term, out), // 2E
            Role::Leader => {
                warn!(term = self.term, "another leader in my term; ignored");
                return false;
            }
            Role::Candidate => self.become_follower(self.term, out),
            Role::Follower => {}
        }
        out.set_timer(Timer::Election, ELECTION_TIMEOUT);
        true
    }

    // ----- Reply handlers (we sent the request). -----

    /// Term bookkeeping for the reply to a request we sent in term `sent`: a newer term makes us a
    /// follower; otherwise the reply counts only if we are still in the term we sent it in.
    fn is_current(&mut self, sent: u64, reply_term: u64, out: &mut Effects) -> bool {
        if reply_term > self.term {
            self.become_follower(reply_term, out);
            return false;
        }
        sent == self.term
    }

    fn vote_reply(&mut self, from: PeerId, reply: RequestVoteReply, out: &mut Effects) {
        if self.role != Role::Candidate || !reply.vote_granted {
            return;
        }
        if self.peers.contains(&from) {
            self.votes.insert(from);
        }
        if self.won_election() {
            self.become_leader(out);
        }
    }

    fn append_reply(
        &mut self,
        from: PeerId,
        args: AppendEntriesArgs,
        reply: AppendEntriesReply,
        out: &mut Effects,
    ) {
        if self.role != Role::Leader || from == self.me {
            return;
        }
        let Some(p) = self.progress.get_mut(&from) else {
            return;
        };
        if reply.success {
            // Replies can arrive out of order: never move backwards.
            let matched = args.prev_log_index + args.entries.len() as u64;
            let advanced = matched > p.match_index;
            p.match_index = p.match_index.max(matched);
            p.next_index = p.next_index.max(matched + 1);
            // Pipeline the catch-up: send the rest now rather than at the next heartbeat.
            if advanced && p.next_index <= self.log.last_index() {
                self.send_append(from, out);
            }
            self.advance_commit(out);
        } else {
            // Fast backup: if we have entries of the follower's conflicting term, resume after our
            // last one; otherwise skip that term altogether (or to the end of a short log).
            let next = match reply.conflict_term.and_then(|t| self.log.last_index_of(t)) {
                Some(last_of_term) => last_of_term + 1,
                None => reply.conflict_index,
            };
            // Entries up to match_index are known to match; a failure never moves us forward.
            let old = p.next_index;
            p.next_index = next.min(old).max(p.match_index + 1);
            if p.next_index < old {
                self.send_append(from, out); // retry now rather than at the next heartbeat
            }
        }
    }

    fn snapshot_reply(&mut self, from: PeerId, args: InstallSnapshotArgs, out: &mut Effects) {
        if self.role != Role::Leader || from == self.me {
            return;
        }
        if let Some(p) = self.progress.get_mut(&from) {
            let advanced = args.last_included_index > p.match_index;
            p.match_index = p.match_index.max(args.last_included_index);
            p.next_index = p.next_index.max(p.match_index + 1);
            if advanced && p.next_index <= self.log.last_index() {
                self.send_append(from, out);
            }
        }
    }

    // ----- Helpers. -----

    fn others(&self) -> impl Iterator<Item = PeerId> + '_ {
        let me = self.me;
        self.peers.iter().copied().filter(move |&p| p != me)
    }

    fn won_election(&self) -> bool {
        self.votes.len() * 2 > self.peers.len()
    }

    fn broadcast_append(&self, out: &mut Effects) {
        for peer in self.others() {
            self.send_append(peer, out);
        }
    }

    /// Leader: send `peer` the entries from its next_index on, or our snapshot if we have
    /// compacted some of them away.
    fn send_append(&self, peer: PeerId, out: &mut Effects) {
        let next = self.progress[&peer].next_index;
        let request = if next <= self.log.snapshot_index {
            Request::InstallSnapshot(InstallSnapshotArgs {
                term: self.term,
                leader: self.me,
                last_included_index: self.log.snapshot_index,
                last_included_term: self.log.snapshot_term,
                data: self.snapshot.clone(),
            })
        } else {
            let prev = next - 1;
            Request::AppendEntries(AppendEntriesArgs {
                term: self.term,
                leader: self.me,
                prev_log_index: prev,
                prev_log_term: self
                    .log
                    .term_at(prev)
                    .expect("next_index <= last index + 1"),
                entries: self.log.after(prev).to_vec(),
                leader_commit: self.commit_index,
            })
        };
        out.send(peer, request);
    }

    /// Leader: commit the highest index that a majority holds, if it is from our own term.
    fn advance_commit(&mut self, out: &mut Effects) {
        let mut matched: Vec<u64> = (self.peers.iter())
            .map(|p| match self.progress.get(p) {
                Some(progress) => progress.match_index,
                None => self.log.last_index(), // us
            })
            .collect();
        matched.sort_unstable();
        // Sorted ascending, the entries from position (peers - 1) / 2 on are a majority.
        let n = matched[(self.peers.len() - 1) / 2];
        // Figure 8: count replicas only for an entry of our own term. An older entry stored on a
        // majority can still be overwritten by a later leader; it commits indirectly, with the
        // first entry of our term after it.
        if n > self.commit_index && self.log.term_at(n) == Some(self.term) {
            self.commit_index = n;
            debug!(term = self.term, role = ?self.role, commit_index = n, "committed");
            self.apply_committed(out);
        }
    }

    /// Hand every newly committed entry to the service, in log order.
    fn apply_committed(&mut self, out: &mut Effects) {
        while self.last_applied < self.commit_index {
            let index = self.last_applied + 1;
            let entry = self
                .log
                .entry(index)
                .expect("committed entries after the snapshot are in the log");
            out.apply(ApplyMsg::Command {
                index,
                command: entry.command.clone(),
            });
            self.last_applied = index;
        }
    }

    fn encode(&self) -> Vec<u8> {
        let durable = Durable {
            term: self.term,
            voted_for: self.voted_for,
            log: Cow::Borrowed(&self.log),
        };
        postcard::to_allocvec(&durable).expect("encoding to memory cannot fail")
    }

    /// Save term, vote and log (Figure 2's persistent state).
    fn persist(&self, out: &mut Effects) {
        out.persist(self.encode(), None);
    }

    /// Save the state together with a new snapshot, atomically.
    fn persist_with_snapshot(&self, out: &mut Effects) {
        out.persist(self.encode(), Some(self.snapshot.clone()));
    }
}
// END SOLUTION

// ----- Lab 2E: PreVote, the leader's lease (stickiness) and CheckQuorum (see labs/2E.md). -----
//
// A server that lost touch with its leader first asks the others whether they *would* vote for
// it in the next term (etcd's PreVote): only with a majority of pre-votes does it raise its term
// and campaign. A server that still hears a leader refuses both pre-votes and votes (the
// leader's lease), so a server cut off on one side cannot depose a leader the others still hear.
// And a leader that has not heard from a majority for an election timeout steps down
// (CheckQuorum), so that a leader cut off from the majority stops accepting commands.
//
// The handlers call these only when the run's `Options::prevote_and_check_quorum` is on (lab
// 2E). Labs 2A-2D run with it off, so these stubs never stand in their way.
impl Raft {
    /// 2E: a timer fired. Returns whether 2E handled it: the election timer starts a round of
    /// pre-votes instead of an election; the CheckQuorum timer checks the leader's majority.
    fn on_timer_2e(&mut self, timer: Timer, out: &mut Effects) -> bool {
        // BEGIN SOLUTION
        match timer {
            Timer::Election if self.role != Role::Leader => {
                self.become_pre_candidate(out);
                true
            }
            Timer::CheckQuorum => {
                if self.role == Role::Leader {
                    self.check_quorum(out);
                }
                true
            }
            _ => false,
        }
        // STUB
        // todo!("2E: the election timer starts a round of pre-votes; CheckQuorum")
        // END SOLUTION
    }

    /// 2E: the refusal of `request` while a leader's lease holds (stickiness), if it is one to
    /// refuse; checked before the request's term can make us adopt it.
    fn refuse_in_lease(&self, request: &Request) -> Option<Reply> {
        // BEGIN SOLUTION
        // (A candidate only exists after a majority granted it pre-votes, so this refuses the rare
        // candidate whose pre-votes came from servers that had lost the leader for a moment.)
        match request {
            Request::RequestVote(args) if self.in_lease() => {
                debug!(term = self.term, role = ?self.role, candidate = args.candidate, "refused a vote: a leader's lease holds");
                Some(Reply::RequestVote(RequestVoteReply {
                    term: self.term,
                    vote_granted: false,
                }))
            }
            _ => None,
        }
        // STUB
        // todo!("2E: refuse votes while a leader's lease holds")
        // END SOLUTION
    }

    /// 2E: would we vote for `args.candidate` in `args.term`? The same rules as a vote (a later
    /// term than ours, an up-to-date log) plus no leader's lease; but nothing changes here: not
    /// our term, not our vote, not our election timer.
    fn pre_vote(&self, args: RequestVoteArgs) -> RequestVoteReply {
        // BEGIN SOLUTION
        let up_to_date = (args.last_log_term, args.last_log_index)
            >= (self.log.last_term(), self.log.last_index());
        let vote_granted = self.options.prevote_and_check_quorum
            && args.term > self.term
            && self.peers.contains(&args.candidate)
            && !self.in_lease()
            && up_to_date;
        trace!(
            term = self.term,
            candidate = args.candidate,
            vote_granted,
            "pre-vote"
        );
        RequestVoteReply {
            term: self.term,
            vote_granted,
        }
        // STUB
        // todo!("2E: answer a pre-vote (and change nothing)")
        // END SOLUTION
    }

    /// 2E: `from` answered the pre-vote we asked with `args`.
    fn pre_vote_reply(
        &mut self,
        from: PeerId,
        args: RequestVoteArgs,
        reply: RequestVoteReply,
        out: &mut Effects,
    ) {
        // BEGIN SOLUTION
        // The reply's term is the voter's own, a real term: the usual bookkeeping for replies
        // (we sent the pre-vote in the term below the one it proposes).
        let sent = args.term.saturating_sub(1);
        if !self.is_current(sent, reply.term, out)
            || self.role != Role::PreCandidate
            || !reply.vote_granted
        {
            return;
        }
        if self.peers.contains(&from) {
            self.votes.insert(from);
        }
        if self.won_election() {
            self.become_candidate(out);
        }
        // STUB
        // todo!("2E: count pre-votes; with a majority, start the election")
        // END SOLUTION
    }

    /// 2E, CheckQuorum: `from` replied to our `request` (any RPC): note it if it is an answer to
    /// the leader of our current term.
    fn note_answer(&mut self, from: PeerId, request: &Request, reply: &Reply) {
        // BEGIN SOLUTION
        let (sent, answered) = match (request, reply) {
            (Request::AppendEntries(args), Reply::AppendEntries(reply)) => (args.term, reply.term),
            (Request::InstallSnapshot(args), Reply::InstallSnapshot(reply)) => {
                (args.term, reply.term)
            }
            _ => return,
        };
        // A reply with a newer term is a refusal, not an answer.
        let ours = sent == self.term && answered == self.term;
        // Once a majority answered, the check passes: more answers change nothing (and, kept out,
        // leave the model checker fewer states to tell apart).
        let majority = (self.answered.len() + 1) * 2 > self.peers.len();
        if self.role == Role::Leader && ours && !majority && self.peers.contains(&from) {
            self.answered.insert(from);
        }
        // STUB
        // todo!("2E: CheckQuorum: note which followers answered this term's leader")
        // END SOLUTION
    }
}

// BEGIN SOLUTION
impl Raft {
    /// The election timeout passed without a leader: ask for pre-votes for the next term. Our own
    /// term and vote stay as they are, so a server that cannot reach a majority never raises its
    /// term. The timeout also ends the lease of the leader we heard last.
    fn become_pre_candidate(&mut self, out: &mut Effects) {
        self.role = Role::PreCandidate;
        self.leader_heard = false;
        self.votes = BTreeSet::from([self.me]);
        self.answered.clear();
        out.set_timer(Timer::Election, ELECTION_TIMEOUT);
        debug!(term = self.term, role = ?self.role, "asking for pre-votes");
        let args = RequestVoteArgs {
            term: self.term + 1,
            candidate: self.me,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
        };
        for peer in self.others() {
            out.send(peer, Request::PreVote(args.clone()));
        }
        if self.won_election() {
            self.become_candidate(out); // a one-server cluster
        }
    }

    /// Whether a leader's lease holds: we lead, or we heard this term's leader since our election
    /// timer last fired.
    fn in_lease(&self) -> bool {
        match self.role {
            Role::Leader => true,
            Role::Follower => self.leader_heard,
            Role::Candidate | Role::PreCandidate => false,
        }
    }

    /// A leader steps down: no more quorum checks, and nothing of the last one kept.
    fn stop_check_quorum(&mut self, out: &mut Effects) {
        out.cancel_timer(Timer::CheckQuorum);
        self.answered.clear();
    }

    /// CheckQuorum: keep leading only if a majority (us included) answered since the last check.
    fn check_quorum(&mut self, out: &mut Effects) {
        let heard = self.answered.len() + 1;
        self.answered.clear();
        if heard * 2 > self.peers.len() {
            out.set_timer(Timer::CheckQuorum, CHECK_QUORUM_INTERVAL);
            return;
        }
        debug!(
            term = self.term,
            heard, "no majority answered: stepping down"
        );
        self.become_follower(self.term, out);
    }
}
// END SOLUTION
