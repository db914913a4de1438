//! Handler-level lab tests: a few Raft servers driven by hand, one event at a time, with the test
//! carrying each message from the server that sent it to the one it names. Some rules of Figure 2
//! (when the election timer is re-armed, say) only change how long an election takes, which no
//! randomized run can pin down; here the test looks at the effects each event asks for.
//!
//! Messages and replies are the servers' own (their fields are yours to choose): the test only
//! carries them, and reads the servers through `state()` and `observe()`.

use raft::Raft;
use raft::contract::{
    Effects, Options, PeerId, Persisted, RaftContract, Reply, Request, Timer, TimerOp,
};

use crate::TestId;
use labkit::lab::{TestSpec, run_test};

/// Run a handler-level test (it makes no network and no cluster) and print its summary line.
pub fn handler_test(id: TestId, body: fn()) {
    run_test(TestSpec::new(id.lab, id.test), move |_sim| async move {
        body();
        Vec::new()
    });
}

/// `n` Raft servers (ids `0..n`), booted with nothing persisted.
pub struct Bench {
    pub rafts: Vec<Raft>,
}

impl Bench {
    pub fn new(n: usize) -> Bench {
        let peers: Vec<PeerId> = (0..n).collect();
        let rafts = (0..n)
            .map(|i| {
                let mut out = Effects::default();
                Raft::new(
                    i,
                    &peers,
                    &Persisted::default(),
                    Options::default(),
                    &mut out,
                )
                .unwrap_or_else(|e| panic!("server {i} could not boot: {e}"))
            })
            .collect();
        Bench { rafts }
    }

    /// Fire server `i`'s `timer`.
    pub fn fire(&mut self, i: PeerId, timer: Timer) -> Effects {
        let mut out = Effects::default();
        self.rafts[i].on_timer(timer, &mut out);
        out
    }

    /// Deliver `request` from `from` to `to`: its reply and `to`'s effects.
    pub fn request(&mut self, to: PeerId, from: PeerId, request: Request) -> (Reply, Effects) {
        let mut out = Effects::default();
        let reply = self.rafts[to].on_request(from, request, &mut out);
        (reply, out)
    }

    /// Deliver to `to` the `reply` that `from` sent to `to`'s `request`.
    pub fn reply(&mut self, to: PeerId, from: PeerId, request: Request, reply: Reply) -> Effects {
        let mut out = Effects::default();
        self.rafts[to].on_reply(from, request, reply, &mut out);
        out
    }

    /// `(term, is_leader)` of server `i`.
    pub fn state(&self, i: PeerId) -> (u64, bool) {
        self.rafts[i].state()
    }

    pub fn voted_for(&self, i: PeerId) -> Option<PeerId> {
        self.rafts[i].observe().voted_for
    }

    pub fn role(&self, i: PeerId) -> raft::contract::Role {
        self.rafts[i].observe().role
    }
}

/// Whether `out` arms (or re-arms) `timer`.
pub fn sets_timer(out: &Effects, timer: Timer) -> bool {
    (out.timers.iter()).any(|op| matches!(op, TimerOp::Set { .. }) && op.timer() == timer)
}

/// The request of kind `kind` (`"RequestVote"`, `"AppendEntries"`, ...) that `out` sends to `to`.
pub fn sent_to(out: &Effects, to: PeerId, kind: &str) -> Option<Request> {
    out.sends
        .iter()
        .find(|(peer, request)| *peer == to && request.kind() == kind)
        .map(|(_, request)| request.clone())
}
