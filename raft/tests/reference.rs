//! Tests of the reference Raft on a tiny deterministic in-memory cluster: a FIFO queue of requests
//! and replies, timers fired by hand, disconnections, lost messages, crashes and restarts from the
//! last persisted bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use raft::Raft;
use raft::contract::{
    ApplyMsg, Command, CorruptState, Effects, Options, PeerId, Persisted, RaftContract, Reply,
    Request, Role, Timer, TimerOp,
};
use raft::messages::{
    AppendEntriesArgs, AppendEntriesReply, Entry, InstallSnapshotArgs, InstallSnapshotReply,
    RequestVoteArgs, RequestVoteReply,
};

/// The ids of a cluster of `n` servers.
fn ids(n: usize) -> Vec<PeerId> {
    (0..n).collect()
}

#[derive(Clone)]
enum Msg {
    Request {
        from: PeerId,
        to: PeerId,
        request: Request,
    },
    /// `to` sent `request`; `from` answers it.
    Reply {
        from: PeerId,
        to: PeerId,
        request: Request,
        reply: Reply,
    },
}

/// A cluster whose every step is chosen by the test.
struct Cluster {
    servers: Vec<Option<Raft>>,
    disk: Vec<Persisted>,
    connected: Vec<bool>,
    armed: Vec<BTreeSet<Timer>>,
    queue: VecDeque<Msg>,
    /// What each server applied since it last booted.
    applied: Vec<Vec<ApplyMsg>>,
    last_applied: Vec<u64>,
    /// Every command applied anywhere, by index: servers must agree.
    committed: BTreeMap<u64, Command>,
    /// Requests delivered so far: (from, to, method).
    delivered: Vec<(PeerId, PeerId, &'static str)>,
}

impl Cluster {
    fn new(n: usize) -> Cluster {
        let mut cluster = Cluster {
            servers: (0..n).map(|_| None).collect(),
            disk: vec![Persisted::default(); n],
            connected: vec![true; n],
            armed: vec![BTreeSet::new(); n],
            queue: VecDeque::new(),
            applied: vec![Vec::new(); n],
            last_applied: vec![0; n],
            committed: BTreeMap::new(),
            delivered: Vec::new(),
        };
        for i in 0..n {
            cluster.restart(i);
        }
        cluster
    }

    fn raft(&self, i: PeerId) -> &Raft {
        self.servers[i].as_ref().expect("server is up")
    }

    fn raft_mut(&mut self, i: PeerId) -> &mut Raft {
        self.servers[i].as_mut().expect("server is up")
    }

    /// Carry out the effects of one handler of server `i`, checking the applies as the tester does.
    fn absorb(&mut self, i: PeerId, out: Effects) {
        if let Some(op) = out.persist {
            self.disk[i].state = op.state;
            if let Some(snapshot) = op.snapshot {
                self.disk[i].snapshot = snapshot;
            }
        }
        for (to, request) in out.sends {
            assert_ne!(to, i, "server {i} sent to itself");
            self.queue.push_back(Msg::Request {
                from: i,
                to,
                request,
            });
        }
        for op in out.timers {
            match op {
                TimerOp::Set { timer, range } => {
                    assert!(!range.is_empty());
                    self.armed[i].insert(timer);
                }
                TimerOp::Cancel { timer } => {
                    self.armed[i].remove(&timer);
                }
            }
        }
        for msg in out.applies {
            match &msg {
                ApplyMsg::Command { index, command } => {
                    assert_eq!(
                        *index,
                        self.last_applied[i] + 1,
                        "server {i} applied out of order"
                    );
                    let first = self
                        .committed
                        .entry(*index)
                        .or_insert_with(|| command.clone());
                    assert_eq!(
                        first, command,
                        "servers applied different commands at {index}"
                    );
                    self.last_applied[i] = *index;
                }
                ApplyMsg::Snapshot { index, .. } => {
                    assert!(*index > self.last_applied[i], "snapshot goes backwards");
                    self.last_applied[i] = *index;
                }
            }
            self.applied[i].push(msg);
        }
    }

    fn up(&self, i: PeerId) -> bool {
        self.connected[i] && self.servers[i].is_some()
    }

    /// Deliver the oldest message in flight (dropping it if an end is down). False if none.
    fn deliver_one(&mut self) -> bool {
        let Some(msg) = self.queue.pop_front() else {
            return false;
        };
        match msg {
            Msg::Request { from, to, request } if self.up(from) && self.up(to) => {
                self.delivered.push((from, to, request.method()));
                let mut out = Effects::default();
                let reply = self
                    .raft_mut(to)
                    .on_request(from, request.clone(), &mut out);
                self.absorb(to, out);
                self.queue.push_back(Msg::Reply {
                    from: to,
                    to: from,
                    request,
                    reply,
                });
            }
            Msg::Reply {
                from,
                to,
                request,
                reply,
            } if self.up(from) && self.up(to) => {
                let mut out = Effects::default();
                self.raft_mut(to).on_reply(from, request, reply, &mut out);
                self.absorb(to, out);
            }
            _ => {}
        }
        true
    }

    /// Deliver the `k`th message in flight instead of the oldest (reordering).
    fn deliver_nth(&mut self, k: usize) {
        if let Some(msg) = self.queue.remove(k) {
            self.queue.push_front(msg);
            self.deliver_one();
        }
    }

    /// Deliver messages until none is in flight.
    fn run(&mut self) {
        for _ in 0..10_000 {
            if !self.deliver_one() {
                return;
            }
        }
        panic!("messages still in flight after 10000 deliveries");
    }

    /// Fire `timer` of server `i` if it is armed; true if it was.
    fn fire_if_armed(&mut self, i: PeerId, timer: Timer) -> bool {
        if !self.armed[i].remove(&timer) {
            return false;
        }
        let mut out = Effects::default();
        self.raft_mut(i).on_timer(timer, &mut out);
        self.absorb(i, out);
        true
    }

    /// Fire an armed timer of server `i` and deliver everything that follows.
    fn fire(&mut self, i: PeerId, timer: Timer) {
        assert!(
            self.fire_if_armed(i, timer),
            "server {i}: {timer:?} is not armed"
        );
        self.run();
    }

    fn elect(&mut self, i: PeerId) {
        self.fire(i, Timer::Election);
        assert!(self.raft(i).state().1, "server {i} did not become leader");
        assert_eq!(self.leaders(), vec![i]);
    }

    fn heartbeat(&mut self, leader: PeerId) {
        self.fire(leader, Timer::Heartbeat);
    }

    fn start(&mut self, i: PeerId, command: Command) -> Option<(u64, u64)> {
        let mut out = Effects::default();
        let result = self.raft_mut(i).start(command, &mut out);
        self.absorb(i, out);
        result
    }

    fn snapshot(&mut self, i: PeerId, index: u64) {
        let mut out = Effects::default();
        self.raft_mut(i)
            .snapshot(index, snapshot_of(index), &mut out);
        self.absorb(i, out);
    }

    /// The leaders among the connected, running servers (of their own latest terms).
    fn leaders(&self) -> Vec<PeerId> {
        (0..self.servers.len())
            .filter(|&i| self.up(i) && self.raft(i).state().1)
            .collect()
    }

    fn crash(&mut self, i: PeerId) {
        self.servers[i] = None;
        self.armed[i].clear();
        self.queue.retain(|msg| match msg {
            Msg::Request { from, to, .. } | Msg::Reply { from, to, .. } => *from != i && *to != i,
        });
    }

    fn restart(&mut self, i: PeerId) {
        let mut out = Effects::default();
        let n = self.servers.len();
        let rf = Raft::new(i, &ids(n), &self.disk[i], Options::default(), &mut out)
            .expect("persisted state decodes");
        let arms_election = |op: &TimerOp| {
            matches!(
                op,
                TimerOp::Set {
                    timer: Timer::Election,
                    ..
                }
            )
        };
        assert!(
            out.timers.iter().any(arms_election),
            "a booting server arms its election timer"
        );
        assert!(out.applies.is_empty(), "no applies on boot");
        self.last_applied[i] = rf.observe().snapshot_index;
        self.applied[i].clear();
        self.servers[i] = Some(rf);
        self.absorb(i, out);
    }

    /// The commands server `i` applied since it booted.
    fn commands(&self, i: PeerId) -> Vec<(u64, Command)> {
        (self.applied[i].iter())
            .filter_map(|msg| match msg {
                ApplyMsg::Command { index, command } => Some((*index, command.clone())),
                ApplyMsg::Snapshot { .. } => None,
            })
            .collect()
    }

    /// How many requests of `method` went to server `to` since `since` deliveries.
    fn sent_to(&self, to: PeerId, method: &str, since: usize) -> usize {
        (self.delivered[since..].iter())
            .filter(|(_, t, m)| *t == to && *m == method)
            .count()
    }
}

fn cmd(x: u32) -> Command {
    format!("cmd{x}").into_bytes()
}

fn snapshot_of(index: u64) -> Vec<u8> {
    format!("state up to {index}").into_bytes()
}

fn indexed(range: std::ops::RangeInclusive<u32>) -> Vec<(u64, Command)> {
    range.map(|x| (u64::from(x), cmd(x))).collect()
}

fn terms(rf: &Raft) -> Vec<u64> {
    rf.observe().entries.iter().map(|e| e.term).collect()
}

#[test]
fn elects_one_leader() {
    let mut c = Cluster::new(3);
    c.elect(0);
    for i in 0..3 {
        let o = c.raft(i).observe();
        assert_eq!(o.term, 1);
        assert_eq!(o.voted_for, Some(0));
        assert_eq!(o.role, if i == 0 { Role::Leader } else { Role::Follower });
    }
    // A leader runs on heartbeats, not on an election timer; followers keep theirs.
    assert!(!c.armed[0].contains(&Timer::Election));
    assert!(c.armed[0].contains(&Timer::Heartbeat));
    assert!(c.armed[1].contains(&Timer::Election));
    // Heartbeats keep the term stable.
    for _ in 0..5 {
        c.heartbeat(0);
    }
    assert_eq!(c.leaders(), vec![0]);
    assert!((0..3).all(|i| c.raft(i).state().0 == 1));
}

#[test]
fn split_vote_then_new_election() {
    let mut c = Cluster::new(3);
    // Servers 0 and 1 both stand in term 1 before any vote is counted: 2 votes for server 2 to give.
    let mut out0 = Effects::default();
    c.raft_mut(0).on_timer(Timer::Election, &mut out0);
    let mut out1 = Effects::default();
    c.raft_mut(1).on_timer(Timer::Election, &mut out1);
    c.absorb(0, out0);
    c.absorb(1, out1);
    c.run();
    // Server 2 voted for 0 (its request came first), so 0 leads and 1 steps down.
    assert_eq!(c.leaders(), vec![0]);
    c.heartbeat(0);
    assert_eq!(c.raft(1).observe().role, Role::Follower);
    // Cut the leader: one of the others wins term 2.
    c.connected[0] = false;
    c.fire(2, Timer::Election);
    assert_eq!(c.leaders(), vec![2]);
    assert_eq!(c.raft(2).state(), (2, true));
    // No leader without a majority.
    c.connected[1] = false;
    c.connected[2] = false;
    c.fire(1, Timer::Election);
    assert_eq!(
        c.raft(1).observe().role,
        Role::Candidate,
        "no leader with 2 of 3 cut"
    );
    // A leader again when a majority is back (server 0 still thinks it leads term 1).
    c.connected[0] = true;
    c.connected[1] = true;
    c.fire(1, Timer::Election);
    assert_eq!(c.leaders(), vec![1]);
    assert_eq!(c.raft(1).state(), (4, true));
}

#[test]
fn commands_commit_and_apply_in_order() {
    let mut c = Cluster::new(3);
    c.elect(0);
    assert_eq!(c.start(1, cmd(9)), None, "followers refuse commands");
    for x in 1..=3 {
        assert_eq!(c.start(0, cmd(x)), Some((u64::from(x), 1)));
    }
    c.run();
    assert_eq!(c.raft(0).observe().commit_index, 3);
    assert_eq!(c.commands(0), indexed(1..=3));
    // Followers learn the commit index with the next AppendEntries.
    c.heartbeat(0);
    for i in 0..3 {
        assert_eq!(c.commands(i), indexed(1..=3), "server {i}");
        assert_eq!(c.raft(i).observe().entries.len(), 3);
    }
}

#[test]
fn lost_messages_are_retransmitted() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.start(0, cmd(1));
    c.queue.clear(); // every AppendEntries is lost
    assert_eq!(c.raft(0).observe().commit_index, 0);
    c.heartbeat(0);
    assert_eq!(c.commands(0), indexed(1..=1));
    c.heartbeat(0);
    assert!((0..3).all(|i| c.commands(i) == indexed(1..=1)));
}

#[test]
fn one_server_cluster_commits_alone() {
    let mut c = Cluster::new(1);
    c.elect(0);
    assert_eq!(c.start(0, cmd(1)), Some((1, 1)));
    assert_eq!(c.commands(0), indexed(1..=1));
}

#[test]
fn follower_with_short_log_catches_up() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.connected[2] = false;
    for x in 1..=5 {
        c.start(0, cmd(x));
    }
    c.run();
    assert_eq!(
        c.raft(0).observe().commit_index,
        5,
        "0 and 1 are a majority"
    );
    assert!(c.raft(2).observe().entries.is_empty());
    c.heartbeat(0); // server 1 learns that 5 is committed
    // A new leader starts with next_index 6 for everyone.
    c.elect(1);
    c.connected[2] = true;
    let since = c.delivered.len();
    c.heartbeat(1);
    // One failure ("log too short": resume at index 1), then one AppendEntries with everything.
    assert_eq!(c.sent_to(2, "Raft.AppendEntries", since), 2);
    assert_eq!(c.commands(2), indexed(1..=5));
}

#[test]
fn fast_backup_over_divergent_uncommitted_log() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.start(0, cmd(1));
    c.start(0, cmd(2));
    c.run();
    c.heartbeat(0);
    assert!((0..3).all(|i| c.commands(i) == indexed(1..=2)));

    // The leader is cut off and accepts 20 commands it can never commit.
    c.connected[0] = false;
    for x in 100..120 {
        c.start(0, cmd(x));
    }
    assert_eq!(c.raft(0).observe().entries.len(), 22);
    // The majority elects server 1 in term 2 and commits three commands there.
    c.elect(1);
    for x in 3..=5 {
        c.start(1, cmd(x));
    }
    c.run();
    c.heartbeat(1);
    assert_eq!(c.commands(2), indexed(1..=5));
    // Server 2 takes over in term 3, with next_index 6 for everyone.
    c.elect(2);

    // The old leader returns: it steps down and drops its 20 uncommitted entries. The first
    // AppendEntries (prev_log_index 5) fails with conflict term 1; the leader has term 1 up to
    // index 2, so it resends from index 3: two AppendEntries in all, not one per divergent entry.
    c.connected[0] = true;
    let since = c.delivered.len();
    c.heartbeat(2);
    assert_eq!(c.sent_to(0, "Raft.AppendEntries", since), 2);
    assert_eq!(c.raft(0).observe().role, Role::Follower);
    assert_eq!(c.raft(0).observe().term, 3);
    assert_eq!(terms(c.raft(0)), vec![1, 1, 2, 2, 2]);
    assert_eq!(c.raft(0).observe().entries, c.raft(2).observe().entries);
    assert_eq!(c.commands(0), indexed(1..=5));
}

#[test]
fn old_term_entries_commit_only_with_a_current_term_entry() {
    // Figure 8: a leader must not commit an older term's entry by counting replicas.
    let mut c = Cluster::new(3);
    c.elect(0);
    c.connected[1] = false;
    c.connected[2] = false;
    c.start(0, cmd(1)); // index 1, term 1: on server 0 only
    c.crash(0);
    c.restart(0);
    c.connected[1] = true;
    c.connected[2] = true;
    c.elect(0); // term 2: its log (term 1 at index 1) is the most up to date
    c.heartbeat(0);
    assert!(
        (0..3).all(|i| c.raft(i).observe().entries.len() == 1),
        "replicated"
    );
    assert_eq!(c.raft(0).observe().commit_index, 0, "but not committed");
    assert!(c.committed.is_empty());
    c.start(0, cmd(2));
    c.run();
    assert_eq!(c.raft(0).observe().commit_index, 2);
    assert_eq!(c.commands(0), indexed(1..=2));
}

#[test]
fn stale_append_entries_does_not_shorten_the_log() {
    let mut out = Effects::default();
    let mut rf = Raft::new(
        1,
        &ids(3),
        &Persisted::default(),
        Options::default(),
        &mut out,
    )
    .unwrap();
    let entry = |x| Entry {
        term: 1,
        command: cmd(x),
    };
    let append = |entries: Vec<Entry>| {
        Request::AppendEntries(AppendEntriesArgs {
            term: 1,
            leader: 0,
            prev_log_index: 0,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
        })
    };
    let full = append(vec![entry(1), entry(2), entry(3)]);
    let late = append(vec![entry(1)]);
    let mut out = Effects::default();
    rf.on_request(0, full, &mut out);
    assert!(out.persist.is_some());
    let mut out = Effects::default();
    let reply = rf.on_request(0, late, &mut out);
    assert!(matches!(
        reply,
        Reply::AppendEntries(AppendEntriesReply { success: true, .. })
    ));
    assert_eq!(rf.observe().entries.len(), 3);
    assert!(out.persist.is_none(), "nothing changed, nothing to persist");
}

#[test]
fn restart_keeps_term_vote_and_log() {
    let mut c = Cluster::new(3);
    c.elect(0);
    for x in 1..=3 {
        c.start(0, cmd(x));
    }
    c.run();
    c.heartbeat(0);
    let before = c.raft(1).observe().entries.to_vec();
    c.crash(1);
    c.restart(1);
    let o = c.raft(1).observe();
    assert_eq!((o.term, o.voted_for, o.role), (1, Some(0), Role::Follower));
    assert_eq!(o.entries, before);
    assert_eq!(o.commit_index, 0, "the commit index is volatile");
    // It learns the commit index again and re-applies from the start.
    c.heartbeat(0);
    assert_eq!(c.commands(1), indexed(1..=3));

    // Crash everyone: the state survives, a new leader is elected and continues the log.
    for i in 0..3 {
        c.crash(i);
    }
    for i in 0..3 {
        c.restart(i);
    }
    c.elect(2);
    assert_eq!(c.raft(2).state(), (2, true));
    assert_eq!(c.start(2, cmd(4)), Some((4, 2)));
    c.run();
    c.heartbeat(2);
    assert!((0..3).all(|i| c.commands(i) == indexed(1..=4)));
}

#[test]
fn vote_is_persisted_and_not_given_twice() {
    let mut out = Effects::default();
    let mut rf = Raft::new(
        2,
        &ids(3),
        &Persisted::default(),
        Options::default(),
        &mut out,
    )
    .unwrap();
    let ask = |candidate| {
        Request::RequestVote(RequestVoteArgs {
            term: 1,
            candidate,
            last_log_index: 0,
            last_log_term: 0,
        })
    };
    let mut out = Effects::default();
    let reply = rf.on_request(0, ask(0), &mut out);
    assert_eq!(
        reply,
        Reply::RequestVote(RequestVoteReply {
            term: 1,
            vote_granted: true
        })
    );
    let persisted = Persisted {
        state: out.persist.unwrap().state,
        snapshot: Vec::new(),
    };
    let mut rf = Raft::new(
        2,
        &ids(3),
        &persisted,
        Options::default(),
        &mut Effects::default(),
    )
    .unwrap();
    let reply = rf.on_request(1, ask(1), &mut Effects::default());
    assert_eq!(
        reply,
        Reply::RequestVote(RequestVoteReply {
            term: 1,
            vote_granted: false
        })
    );
}

#[test]
fn candidate_with_stale_log_loses() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.connected[2] = false;
    c.start(0, cmd(1));
    c.run();
    c.connected[2] = true;
    // Server 2 missed index 1: its log is behind, so no one grants it a vote, whatever its term.
    c.connected[0] = false;
    c.fire(2, Timer::Election);
    assert_eq!(c.raft(2).observe().role, Role::Candidate);
    assert_eq!(
        c.raft(1).observe().voted_for,
        None,
        "1 moved to term 2 without voting"
    );
    c.fire(1, Timer::Election);
    assert_eq!(c.leaders(), vec![1]);
    assert_eq!(c.raft(1).state().0, 3);
}

#[test]
fn snapshot_trims_log_and_lagging_follower_installs_it() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.connected[2] = false;
    for x in 1..=12 {
        c.start(0, cmd(x));
    }
    c.run();
    c.heartbeat(0);
    assert_eq!(c.raft(0).observe().commit_index, 12);

    // Ignored: beyond the commit index, and (later) not beyond the current snapshot.
    c.snapshot(0, 13);
    assert_eq!(c.raft(0).observe().snapshot_index, 0);
    for i in 0..2 {
        c.snapshot(i, 10);
        let o = c.raft(i).observe();
        assert_eq!(
            (o.snapshot_index, o.snapshot_term, o.entries.len()),
            (10, 1, 2)
        );
        assert_eq!(c.disk[i].snapshot, snapshot_of(10));
    }
    let state_before = c.disk[0].clone();
    c.snapshot(0, 5);
    assert_eq!(c.disk[0], state_before);
    assert_eq!(c.raft(0).observe().snapshot_index, 10);

    // Server 2 needs index 1, which is gone: the leader sends its snapshot, then the rest.
    c.connected[2] = true;
    let since = c.delivered.len();
    c.heartbeat(0);
    assert_eq!(c.sent_to(2, "Raft.InstallSnapshot", since), 1);
    c.heartbeat(0);
    assert_eq!(
        c.applied[2],
        vec![
            ApplyMsg::Snapshot {
                index: 10,
                term: 1,
                data: snapshot_of(10)
            },
            ApplyMsg::Command {
                index: 11,
                command: cmd(11)
            },
            ApplyMsg::Command {
                index: 12,
                command: cmd(12)
            },
        ]
    );
    let o = c.raft(2).observe();
    assert_eq!(
        (o.snapshot_index, o.commit_index, o.entries.len()),
        (10, 12, 2)
    );

    // A restart keeps the snapshot: no Snapshot apply, commit starts at the snapshot.
    c.crash(2);
    c.restart(2);
    let o = c.raft(2).observe();
    assert_eq!(
        (o.snapshot_index, o.commit_index, o.entries.len()),
        (10, 10, 2)
    );
    c.heartbeat(0);
    assert_eq!(c.commands(2), indexed(11..=12));

    // The restarted server can serve its snapshot as leader in turn, to a server that lost its disk.
    c.crash(0);
    c.elect(2);
    c.disk[0] = Persisted::default();
    c.restart(0);
    c.heartbeat(2);
    assert_eq!(c.raft(0).observe().snapshot_index, 10);
    assert_eq!(
        c.applied[0][0],
        ApplyMsg::Snapshot {
            index: 10,
            term: 1,
            data: snapshot_of(10)
        }
    );
}

#[test]
fn persisted_state_stays_small_with_snapshots() {
    let mut c = Cluster::new(3);
    c.elect(0);
    for x in 1..=200 {
        c.start(0, cmd(x));
        c.run();
        if x % 10 == 0 {
            c.heartbeat(0);
            for i in 0..3 {
                c.snapshot(i, u64::from(x));
            }
        }
    }
    for i in 0..3 {
        assert!(
            c.disk[i].state.len() < 2000,
            "server {i}: {} bytes",
            c.disk[i].state.len()
        );
        assert_eq!(c.raft(i).observe().snapshot_index, 200);
    }
}

#[test]
fn install_snapshot_keeps_a_matching_suffix() {
    let mut out = Effects::default();
    let mut rf = Raft::new(
        1,
        &ids(3),
        &Persisted::default(),
        Options::default(),
        &mut out,
    )
    .unwrap();
    let entries = (1..=5)
        .map(|x| Entry {
            term: 1,
            command: cmd(x),
        })
        .collect();
    let append = AppendEntriesArgs {
        term: 1,
        leader: 0,
        prev_log_index: 0,
        prev_log_term: 0,
        entries,
        leader_commit: 0,
    };
    rf.on_request(0, Request::AppendEntries(append), &mut Effects::default());
    let install = |index, term| {
        Request::InstallSnapshot(InstallSnapshotArgs {
            term: 1,
            leader: 0,
            last_included_index: index,
            last_included_term: term,
            data: snapshot_of(index),
        })
    };
    let mut out = Effects::default();
    rf.on_request(0, install(3, 1), &mut out);
    let o = rf.observe();
    assert_eq!(
        (o.snapshot_index, o.commit_index, o.entries.len()),
        (3, 3, 2)
    );
    assert_eq!(out.persist.unwrap().snapshot, Some(snapshot_of(3)));
    assert_eq!(
        out.applies,
        vec![ApplyMsg::Snapshot {
            index: 3,
            term: 1,
            data: snapshot_of(3)
        }]
    );
    // An older snapshot changes nothing.
    let mut out = Effects::default();
    let reply = rf.on_request(0, install(2, 1), &mut out);
    assert_eq!(
        reply,
        Reply::InstallSnapshot(InstallSnapshotReply { term: 1 })
    );
    assert!(out.applies.is_empty() && out.persist.is_none());
    // A snapshot that disagrees with our log at its last index replaces the whole log.
    rf.on_request(0, install(4, 7), &mut Effects::default());
    assert_eq!(
        (rf.observe().snapshot_index, rf.observe().entries.len()),
        (4, 0)
    );
}

#[test]
fn corrupt_state_is_an_error() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.start(0, cmd(1));
    c.run();
    let good = c.disk[0].clone();
    let boot = |state: Vec<u8>, snapshot: Vec<u8>| {
        Raft::new(
            0,
            &ids(3),
            &Persisted { state, snapshot },
            Options::default(),
            &mut Effects::default(),
        )
        .map(|_| ())
    };
    assert_eq!(boot(good.state.clone(), Vec::new()), Ok(()));
    let truncated = good.state[..good.state.len() - 1].to_vec();
    let mut trailing = good.state.clone();
    trailing.push(0);
    for bad in [vec![0xff; 12], truncated, trailing] {
        assert!(matches!(boot(bad, Vec::new()), Err(CorruptState(_))));
    }
    assert!(matches!(
        boot(Vec::new(), b"orphan".to_vec()),
        Err(CorruptState(_))
    ));
    // Decodes, but votes for server 9 of 3: corrupt too.
    let mut out = Effects::default();
    let mut rf = Raft::new(
        0,
        &ids(10),
        &Persisted::default(),
        Options::default(),
        &mut out,
    )
    .unwrap();
    let ask = RequestVoteArgs {
        term: 1,
        candidate: 9,
        last_log_index: 0,
        last_log_term: 0,
    };
    rf.on_request(9, Request::RequestVote(ask), &mut out);
    let ten = out.persist.unwrap().state;
    let on_disk = Persisted {
        state: ten.clone(),
        snapshot: Vec::new(),
    };
    assert!(
        Raft::new(
            0,
            &ids(10),
            &on_disk,
            Options::default(),
            &mut Effects::default()
        )
        .is_ok()
    );
    assert!(matches!(boot(ten, Vec::new()), Err(CorruptState(_))));
}

#[test]
fn stale_mismatched_and_bogus_replies_are_ignored() {
    let mut c = Cluster::new(3);
    c.elect(0);
    c.start(0, cmd(1));
    c.run();
    let rf = c.raft(0).clone();
    let vote_req = Request::RequestVote(RequestVoteArgs {
        term: 1,
        candidate: 0,
        last_log_index: 0,
        last_log_term: 0,
    });
    let append_req = |term, prev_log_index, entries: Vec<Entry>| {
        Request::AppendEntries(AppendEntriesArgs {
            term,
            leader: 0,
            prev_log_index,
            prev_log_term: 0,
            entries,
            leader_commit: 0,
        })
    };
    let append_reply = |term, success, conflict_index| {
        Reply::AppendEntries(AppendEntriesReply {
            term,
            success,
            conflict_index,
            conflict_term: None,
        })
    };
    let snap_req = Request::InstallSnapshot(InstallSnapshotArgs {
        term: 1,
        leader: 0,
        last_included_index: 50,
        last_included_term: 1,
        data: vec![],
    });
    let granted = Reply::RequestVote(RequestVoteReply {
        term: 1,
        vote_granted: true,
    });
    let entry = Entry {
        term: 1,
        command: cmd(7),
    };
    let cases = [
        // Mismatched request/reply variants.
        (1, vote_req.clone(), append_reply(1, true, 0)),
        (1, append_req(1, 0, vec![]), granted.clone()),
        (1, snap_req.clone(), granted.clone()),
        // A late vote for the leader.
        (2, vote_req, granted.clone()),
        // A success for a request of an older term.
        (
            1,
            append_req(0, 0, vec![entry.clone(); 3]),
            append_reply(0, true, 0),
        ),
        // From servers that do not exist, or from ourselves.
        (
            7,
            append_req(1, 1, vec![entry.clone()]),
            append_reply(1, true, 0),
        ),
        (
            0,
            append_req(1, 1, vec![entry.clone()]),
            append_reply(1, true, 0),
        ),
        (
            7,
            snap_req.clone(),
            Reply::InstallSnapshot(InstallSnapshotReply { term: 1 }),
        ),
    ];
    for (from, request, reply) in cases {
        let mut probe = rf.clone();
        let mut out = Effects::default();
        probe.on_reply(from, request, reply, &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(probe, rf);
    }
    // A failure with a nonsense hint: next_index stays in range, and the leader keeps working.
    let mut probe = rf.clone();
    let mut out = Effects::default();
    probe.on_reply(
        1,
        append_req(1, 1, vec![]),
        append_reply(1, false, u64::MAX),
        &mut out,
    );
    probe.on_reply(
        2,
        append_req(1, 1, vec![]),
        append_reply(1, false, 0),
        &mut out,
    );
    assert!(out.is_empty(), "next_index stays 2 for both");
    probe.on_timer(Timer::Heartbeat, &mut out);
    for (_, request) in &out.sends {
        let Request::AppendEntries(args) = request else {
            panic!("{request:?}")
        };
        assert_eq!((args.prev_log_index, args.entries.len()), (1, 0));
    }

    // A newer term in any reply makes the leader step down.
    let mut probe = rf.clone();
    let mut out = Effects::default();
    probe.on_reply(
        1,
        append_req(1, 1, vec![]),
        append_reply(5, false, 0),
        &mut out,
    );
    assert_eq!(probe.state(), (5, false));
    assert!(out.persist.is_some());
    assert!(out.timers.contains(&TimerOp::Cancel {
        timer: Timer::Heartbeat
    }));

    // Requests with odd indices get a refusal, not a panic.
    let mut follower = c.raft(1).clone();
    let mut out = Effects::default();
    let reply = follower.on_request(0, append_req(1, u64::MAX, vec![entry]), &mut out);
    assert_eq!(reply, append_reply(1, false, 2));
    let reply = follower.on_request(0, append_req(0, 0, vec![]), &mut out);
    assert_eq!(reply, append_reply(1, false, 0), "older term");
    let old_snapshot = InstallSnapshotArgs {
        term: 0,
        leader: 2,
        last_included_index: 1,
        last_included_term: 1,
        data: vec![],
    };
    let reply = follower.on_request(2, Request::InstallSnapshot(old_snapshot), &mut out);
    assert_eq!(
        reply,
        Reply::InstallSnapshot(InstallSnapshotReply { term: 1 })
    );
    assert_eq!(follower.observe().snapshot_index, 0);
}

#[test]
fn leader_ignores_its_own_stale_timers() {
    let mut c = Cluster::new(3);
    c.elect(0);
    let before = c.raft(0).clone();
    let mut out = Effects::default();
    c.raft_mut(0).on_timer(Timer::Election, &mut out);
    assert!(out.is_empty());
    assert_eq!(c.raft(0), &before);
    let mut out = Effects::default();
    c.raft_mut(1).on_timer(Timer::Heartbeat, &mut out);
    assert!(out.is_empty());
}

/// A small deterministic PRNG (xorshift64*), so the random test needs no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

#[test]
fn random_faults_keep_safety_and_heal() {
    for seed in 1..=200u64 {
        let n = 3 + 2 * (seed as usize % 2);
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut c = Cluster::new(n);
        let mut leader_of_term = BTreeMap::new();
        let mut next_cmd = 0;
        for _ in 0..4000 {
            let i = rng.below(n);
            match rng.below(100) {
                0..55 if !c.queue.is_empty() => c.deliver_nth(rng.below(c.queue.len())),
                55..58 if !c.queue.is_empty() => {
                    c.queue.remove(rng.below(c.queue.len()));
                }
                58..60 if !c.queue.is_empty() => {
                    let msg = c.queue[rng.below(c.queue.len())].clone();
                    c.queue.push_back(msg);
                }
                60..68 => {
                    c.fire_if_armed(i, Timer::Heartbeat);
                }
                68..70 => {
                    c.fire_if_armed(i, Timer::Election);
                }
                70..85 if c.servers[i].is_some() => {
                    next_cmd += 1;
                    c.start(i, cmd(next_cmd));
                }
                85..87 => c.connected[i] = !c.connected[i],
                87..89 if c.servers[i].is_some() => c.crash(i),
                87..89 => c.restart(i),
                // The service snapshots what it applied (ignored if that is not new).
                89..94 if c.servers[i].is_some() => c.snapshot(i, c.last_applied[i]),
                _ => {}
            }
            // Election safety: at most one leader per term, over the whole run.
            for (j, rf) in c.servers.iter().enumerate() {
                if let Some((term, true)) = rf.as_ref().map(Raft::state) {
                    let first = *leader_of_term.entry(term).or_insert(j);
                    assert_eq!(first, j, "seed {seed}: two leaders in term {term}");
                }
            }
        }

        // Heal everything: a leader emerges, holds every committed entry, and commits again.
        for i in 0..n {
            c.connected[i] = true;
            if c.servers[i].is_none() {
                c.restart(i);
            }
        }
        let max_term = |c: &Cluster| (0..n).map(|i| c.raft(i).state().0).max().unwrap();
        for attempt in 0..4 * n {
            c.run();
            if c.leaders()
                .iter()
                .any(|&l| c.raft(l).state().0 == max_term(&c))
            {
                break;
            }
            let i = attempt % n;
            if c.armed[i].contains(&Timer::Election) {
                c.fire(i, Timer::Election);
            }
        }
        let leader = (c.leaders().into_iter())
            .max_by_key(|&l| c.raft(l).state().0)
            .expect("a leader after healing");
        assert_eq!(c.raft(leader).state().0, max_term(&c), "seed {seed}");
        c.heartbeat(leader); // any stale leader steps down
        assert_eq!(c.leaders(), vec![leader], "seed {seed}");
        let o = c.raft(leader).observe();
        for (index, command) in c.committed.range(o.snapshot_index + 1..) {
            let entry = &o.entries[(index - o.snapshot_index - 1) as usize];
            assert_eq!(
                &entry.command, command,
                "seed {seed}: leader lacks committed {index}"
            );
        }
        let (index, _) = c.start(leader, b"final".to_vec()).unwrap();
        c.run();
        c.heartbeat(leader);
        for i in 0..n {
            assert_eq!(
                c.last_applied[i], index,
                "seed {seed}: server {i} did not catch up"
            );
        }
        assert_eq!(c.committed[&index], b"final".to_vec());
    }
}
