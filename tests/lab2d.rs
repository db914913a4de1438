//! Lab 2D: log compaction (snapshots). `cargo test --release --test lab2d`

use std::rc::Rc;

use harness::raft::{Applier, Cluster, MAX_LOG_SIZE, Net, SNAPSHOT_INTERVAL, raft_test};
use harness::this_test;

/// The common story of the snapshot tests: 30 rounds in which a victim is cut off or crashed while
/// enough commands commit to force a snapshot, then comes back and must catch up.
async fn snapshot_common(cfg: Rc<Cluster>, disconnect: bool, crash: bool) {
    let servers = cfg.servers();
    let rand_cmd = || cfg.rand(0..u64::MAX);
    cfg.one(rand_cmd(), servers, true).await;
    let mut leader1 = cfg.check_one_leader().await;

    for i in 0..30 {
        let (mut victim, mut sender) = ((leader1 + 1) % servers, leader1);
        if i % 3 == 1 {
            sender = (leader1 + 1) % servers;
            victim = leader1;
        }
        if disconnect {
            cfg.disconnect(victim);
            cfg.one(rand_cmd(), servers - 1, true).await;
        }
        if crash {
            cfg.crash1(victim);
            cfg.one(rand_cmd(), servers - 1, true).await;
        }

        // Perhaps enough commands for a snapshot.
        let nn = SNAPSHOT_INTERVAL / 2 + cfg.rand(0..SNAPSHOT_INTERVAL);
        for _ in 0..nn {
            cfg.start(sender, rand_cmd());
        }

        // Let the appliers catch up with the starts.
        if !disconnect && !crash {
            // Everyone must have caught up, so no InstallSnapshot is needed in snapshot_basic.
            cfg.one(rand_cmd(), servers, true).await;
        } else {
            cfg.one(rand_cmd(), servers - 1, true).await;
        }

        let size = cfg.log_size();
        assert!(
            size < MAX_LOG_SIZE,
            "expected persisted Raft state under {MAX_LOG_SIZE} bytes with snapshots; it is {size}"
        );

        if disconnect {
            // The follower may be behind and need a snapshot to catch up.
            cfg.connect(victim);
            cfg.one(rand_cmd(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
        if crash {
            cfg.start1(victim);
            cfg.connect(victim);
            cfg.one(rand_cmd(), servers, true).await;
            leader1 = cfg.check_one_leader().await;
        }
    }
}

#[test]
fn snapshot_basic() {
    raft_test(this_test!(), 3, Net::Reliable, Applier::Snapshot, |cfg| {
        snapshot_common(cfg, false, false)
    });
}

#[test]
fn snapshot_install() {
    raft_test(this_test!(), 3, Net::Reliable, Applier::Snapshot, |cfg| {
        snapshot_common(cfg, true, false)
    });
}

#[test]
fn snapshot_install_unreliable() {
    raft_test(this_test!(), 3, Net::Unreliable, Applier::Snapshot, |cfg| {
        snapshot_common(cfg, true, false)
    });
}

#[test]
fn snapshot_install_crash() {
    raft_test(this_test!(), 3, Net::Reliable, Applier::Snapshot, |cfg| {
        snapshot_common(cfg, false, true)
    });
}

#[test]
fn snapshot_install_uncrash() {
    raft_test(this_test!(), 3, Net::Unreliable, Applier::Snapshot, |cfg| {
        snapshot_common(cfg, false, true)
    });
}

/// Crash and restart every server, repeatedly; the commit index must never go back.
#[test]
fn snapshot_all_crash() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Snapshot,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
            for _ in 0..5 {
                // Perhaps enough for a snapshot.
                let nn = SNAPSHOT_INTERVAL / 2 + cfg.rand(0..SNAPSHOT_INTERVAL);
                for _ in 0..nn {
                    cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
                }
                let index1 = cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
                for i in 0..servers {
                    cfg.crash1(i);
                }
                for i in 0..servers {
                    cfg.start1(i);
                    cfg.connect(i);
                }
                let index2 = cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
                assert!(
                    index2 > index1,
                    "expected the next index after a restart of all servers to exceed {index1}; got {index2}"
                );
            }
        },
    );
}

/// Restart from a snapshot, persist something, restart again: the snapshot must survive.
#[test]
fn snapshot_init() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Snapshot,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
            // Enough commands for a snapshot.
            for _ in 0..=SNAPSHOT_INTERVAL {
                cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
            }
            for round in 0..2 {
                for i in 0..servers {
                    cfg.crash1(i);
                }
                for i in 0..servers {
                    cfg.start1(i);
                    cfg.connect(i);
                }
                // One command so that something is written back to persistent storage (first round),
                // then one more that trips over a lost snapshot (second round).
                let _ = round;
                cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
            }
        },
    );
}

/// A snapshot a follower installs from the leader must be persisted with the state that refers
/// to it, at once (Figure 13: save the snapshot, discard the log it covers). Scripted twice: a
/// follower F is cut off while the others commit enough for the leader to snapshot past F's log;
/// F comes back, installs the leader's snapshot, catches up a few entries (not enough for a
/// snapshot of its own), and crashes. Restarted, F must resume from that snapshot. In the
/// course's tests a follower nearly always takes a snapshot of its own, which persists
/// everything, before its next crash. (An extra test beyond the course's.)
#[test]
fn snapshot_install_then_crash_scripted() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Snapshot,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
            for _ in 0..2 {
                let l = cfg.check_one_leader().await;
                let f = (l + 1) % servers;
                cfg.disconnect(f);
                // Past the next two snapshot points of the others; the last few entries stay
                // short of the one after.
                let first = cfg.max_index() + 1;
                let stop = (first / SNAPSHOT_INTERVAL + 3) * SNAPSHOT_INTERVAL - 5;
                for _ in first..stop {
                    cfg.one(cfg.rand(0..u64::MAX), servers - 1, true).await;
                }
                cfg.connect(f);
                let index = cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
                cfg.crash1(f);
                cfg.start1(f);
                cfg.connect(f);
                let next = cfg.one(cfg.rand(0..u64::MAX), servers, true).await;
                assert!(
                    next > index,
                    "expected the next index after server {f}'s restart to exceed {index}; got {next}"
                );
            }
        },
    );
}
