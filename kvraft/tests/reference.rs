//! Tests of the reference KV server and clerk, driven by hand: a tiny in-memory cluster where the
//! test delivers every Raft message and fires every timer, so each step is visible.

use std::collections::VecDeque;

use kvraft::common::{GetArgs, GetReply, PutAppendArgs, PutAppendOp, PutAppendReply, Status};
use kvraft::contract::{
    ClerkContract, ClerkStep, KvEffects, KvError, KvReply, KvRequest, KvServerContract, Op,
    RequestId,
};
use kvraft::{Clerk, KvServer};
use raft::contract::{PeerId, Persisted, RaftContract, Request, Timer};

/// Servers whose Raft messages wait in one FIFO queue until the test delivers them.
struct Cluster {
    servers: Vec<KvServer>,
    disk: Vec<Persisted>,
    queue: VecDeque<(PeerId, PeerId, Request)>,
    /// Every answer to a client request, in order.
    replies: Vec<(PeerId, RequestId, KvReply)>,
    maxraftstate: Option<usize>,
}

impl Cluster {
    fn new(n: usize, maxraftstate: Option<usize>) -> Cluster {
        let mut cluster = Cluster {
            servers: Vec::new(),
            disk: vec![Persisted::default(); n],
            queue: VecDeque::new(),
            replies: Vec::new(),
            maxraftstate,
        };
        for i in 0..n {
            let mut out = KvEffects::default();
            let peers: Vec<PeerId> = (0..n).collect();
            let server = KvServer::new(i, &peers, &Persisted::default(), maxraftstate, &mut out)
                .expect("first boot");
            cluster.servers.push(server);
            cluster.absorb(i, out);
        }
        cluster
    }

    /// Carry out `out`: persist, queue the sends, record the replies (timers are fired by hand).
    fn absorb(&mut self, i: PeerId, out: KvEffects) {
        if let Some(p) = out.raft.persist {
            self.disk[i].state = p.state;
            if let Some(snapshot) = p.snapshot {
                self.disk[i].snapshot = snapshot;
            }
        }
        for (to, request) in out.raft.sends {
            self.queue.push_back((i, to, request));
        }
        for (id, reply) in out.replies {
            self.replies.push((i, id, reply));
        }
    }

    fn fire(&mut self, i: PeerId, timer: Timer) {
        let mut out = KvEffects::default();
        self.servers[i].on_timer(timer, &mut out).unwrap();
        self.absorb(i, out);
    }

    /// Deliver every queued message and its reply until the network is quiet.
    fn deliver_all(&mut self) {
        while let Some((from, to, request)) = self.queue.pop_front() {
            let mut out = KvEffects::default();
            let reply = self.servers[to]
                .on_request(from, request.clone(), &mut out)
                .unwrap();
            self.absorb(to, out);
            let mut out = KvEffects::default();
            self.servers[from]
                .on_reply(to, request, reply, &mut out)
                .unwrap();
            self.absorb(from, out);
        }
    }

    fn request(&mut self, i: PeerId, id: RequestId, request: KvRequest) {
        let mut out = KvEffects::default();
        self.servers[i]
            .on_client_request(id, request, &mut out)
            .unwrap();
        self.servers[i].after_raft(&mut out).unwrap();
        self.absorb(i, out);
    }

    /// The answers to request `id` so far.
    fn answers(&self, id: RequestId) -> Vec<&KvReply> {
        self.replies
            .iter()
            .filter(|(_, r, _)| *r == id)
            .map(|(_, _, reply)| reply)
            .collect()
    }

    /// Crash server `i` and boot it again from its disk.
    fn restart(&mut self, i: PeerId) {
        let mut out = KvEffects::default();
        let peers: Vec<PeerId> = (0..self.servers.len()).collect();
        self.servers[i] = KvServer::new(i, &peers, &self.disk[i], self.maxraftstate, &mut out)
            .expect("restart from what it persisted");
        self.absorb(i, out);
    }

    fn elect(&mut self, i: PeerId) {
        self.fire(i, Timer::Election);
        self.deliver_all();
        assert!(self.servers[i].raft().state().1, "server {i} leads");
    }
}

fn get(key: &str, client: u64, seq: u64) -> KvRequest {
    KvRequest::Get(GetArgs {
        key: key.into(),
        client,
        seq,
    })
}

fn append(key: &str, value: &str, client: u64, seq: u64) -> KvRequest {
    KvRequest::PutAppend(PutAppendArgs {
        key: key.into(),
        value: value.into(),
        op: PutAppendOp::Append,
        client,
        seq,
    })
}

fn got(status: Status, value: &str) -> KvReply {
    KvReply::Get(GetReply {
        status,
        value: value.into(),
    })
}

fn ok() -> KvReply {
    KvReply::PutAppend(PutAppendReply { status: Status::Ok })
}

#[test]
fn an_operation_is_answered_once_it_commits() {
    let mut c = Cluster::new(3, None);
    c.elect(0);
    c.request(1, 1, append("k", "a", 7, 1));
    assert_eq!(
        c.answers(1),
        [&KvReply::PutAppend(PutAppendReply {
            status: Status::WrongLeader
        })],
        "a follower refuses at once"
    );
    c.request(0, 2, append("k", "a", 7, 1));
    assert!(c.answers(2).is_empty(), "not committed yet: no answer");
    c.deliver_all();
    assert_eq!(c.answers(2), [&ok()]);
    c.request(0, 3, get("k", 7, 2));
    c.request(0, 4, get("missing", 7, 3));
    c.deliver_all();
    assert_eq!(c.answers(3), [&got(Status::Ok, "a")]);
    assert_eq!(c.answers(4), [&got(Status::NoKey, "")]);
}

#[test]
fn a_retried_write_applies_once() {
    let mut c = Cluster::new(3, None);
    c.elect(0);
    // The same append twice before either commits (the clerk timed out and retried).
    c.request(0, 1, append("k", "x", 7, 1));
    c.request(0, 2, append("k", "x", 7, 1));
    c.deliver_all();
    assert_eq!((c.answers(1), c.answers(2)), (vec![&ok()], vec![&ok()]));
    // And once more after it was applied: answered at once.
    c.request(0, 3, append("k", "x", 7, 1));
    assert_eq!(c.answers(3), [&ok()]);
    c.request(0, 4, get("k", 7, 2));
    c.deliver_all();
    assert_eq!(c.answers(4), [&got(Status::Ok, "x")]);
}

#[test]
fn losing_leadership_answers_the_waiting_requests() {
    let mut c = Cluster::new(3, None);
    c.elect(0);
    c.request(0, 1, append("k", "lost?", 7, 1));
    // Server 0's AppendEntries are lost; server 1 wins an election in a later term.
    c.queue.clear();
    c.elect(1);
    assert!(!c.servers[0].raft().state().1, "server 0 stepped down");
    assert_eq!(
        c.answers(1),
        [&KvReply::PutAppend(PutAppendReply {
            status: Status::WrongLeader
        })],
        "the clerk must not wait forever"
    );
}

#[test]
fn snapshots_trim_the_log_and_survive_a_restart() {
    let mut c = Cluster::new(3, Some(200));
    c.elect(0);
    for seq in 1..=40 {
        c.request(0, seq, append("k", "ab", 7, seq));
        c.deliver_all();
    }
    for i in 0..3 {
        assert!(!c.disk[i].snapshot.is_empty(), "server {i} took a snapshot");
        assert!(
            c.disk[i].state.len() < 400,
            "server {i}'s Raft state was trimmed to {} bytes",
            c.disk[i].state.len()
        );
    }
    for i in 0..3 {
        c.restart(i);
    }
    c.elect(2);
    // Client 7's last write is remembered across the restart: its retry does not apply again.
    c.request(2, 100, append("k", "ab", 7, 40));
    c.request(2, 101, get("k", 7, 41));
    c.deliver_all();
    assert_eq!(c.answers(101), [&got(Status::Ok, &"ab".repeat(40))]);
}

#[test]
fn bytes_that_do_not_decode_are_errors() {
    let mut c = Cluster::new(1, Some(0));
    c.elect(0);
    c.request(0, 1, append("k", "v", 7, 1));
    assert_eq!(
        c.answers(1),
        [&ok()],
        "a one-server cluster commits at once"
    );
    assert!(!c.disk[0].snapshot.is_empty());

    let mut out = KvEffects::default();
    let garbage_snapshot = Persisted {
        state: c.disk[0].state.clone(),
        snapshot: vec![0xff; 3],
    };
    let err = KvServer::new(0, &[0], &garbage_snapshot, None, &mut out).unwrap_err();
    assert!(matches!(err, KvError::CorruptSnapshot(_)), "{err}");

    let garbage_state = Persisted {
        state: vec![0xff; 3],
        snapshot: Vec::new(),
    };
    let err = KvServer::new(0, &[0], &garbage_state, None, &mut out).unwrap_err();
    assert!(matches!(err, KvError::Raft(_)), "{err}");
}

#[test]
fn the_clerk_looks_for_the_leader_and_remembers_it() {
    let mut ck = Clerk::new(3, 7);
    let sent_to = |step: &ClerkStep| match step {
        ClerkStep::Send { server, .. } => *server,
        other => panic!("expected a send; got {other:?}"),
    };
    let wrong = || {
        KvReply::Get(GetReply {
            status: Status::WrongLeader,
            value: String::new(),
        })
    };
    let first = ck.begin(Op::Get { key: "k".into() });
    assert_eq!(sent_to(&first), 0);
    let second = ck.on_reply(wrong());
    assert_eq!(sent_to(&second), 1);
    assert_eq!(sent_to(&ck.on_failure()), 2);
    // Every server said no: pause (an election is probably under way), then start over.
    assert!(matches!(ck.on_reply(wrong()), ClerkStep::Wait(_)));
    let again = ck.on_wake();
    assert_eq!(sent_to(&again), 0);
    // Retries carry the same request: the servers must recognise them.
    let request = |step: ClerkStep| match step {
        ClerkStep::Send { request, .. } => request,
        other => panic!("expected a send; got {other:?}"),
    };
    assert_eq!(request(first), request(again));
    assert_eq!(sent_to(&ck.on_failure()), 1);
    assert_eq!(
        ck.on_reply(got(Status::Ok, "v")),
        ClerkStep::Done("v".into())
    );
    // The next operation goes straight to the server that answered.
    let next = ck.begin(Op::Append {
        key: "k".into(),
        value: "w".into(),
    });
    assert_eq!(sent_to(&next), 1);
    assert_eq!(ck.on_reply(ok()), ClerkStep::Done(String::new()));
}
