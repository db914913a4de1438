//! Lab 2B: log replication. `cargo test --release --test lab2b`

use std::time::Duration;

use harness::raft::{Applier, Net, RAFT_ELECTION_TIMEOUT, raft_test, show};
use harness::this_test;

fn random_string(cfg: &harness::raft::Cluster, len: usize) -> String {
    (0..len)
        .map(|_| char::from(b'a' + cfg.rand(0..26) as u8))
        .collect()
}

#[test]
fn basic_agree() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            for index in 1..=3u64 {
                let (nd, _) = cfg.n_committed(index);
                assert_eq!(
                    nd, 0,
                    "expected nothing committed at index {index} before start(); {nd} servers have it"
                );
                let xindex = cfg.one(index * 100, servers, false).await;
                assert_eq!(
                    xindex, index,
                    "expected the command at index {index}; it went to {xindex}"
                );
            }
        },
    );
}

#[test]
fn rpc_bytes() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(99u64, servers, false).await;
            let bytes0 = cfg.bytes_total();
            let mut sent = 0u64;
            for index in 2..12u64 {
                let cmd = random_string(&cfg, 5000);
                sent += cmd.len() as u64;
                let xindex = cfg.one(cmd, servers, false).await;
                assert_eq!(xindex, index, "expected index {index}, got {xindex}");
            }
            let got = cfg.bytes_total() - bytes0;
            let expected = servers as u64 * sent;
            assert!(
                got <= expected + 50_000,
                "expected at most {} RPC bytes for 10 commands of 5000 bytes; sent {got}",
                expected + 50_000
            );
        },
    );
}

#[test]
fn follower_failure() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(101u64, servers, false).await;

            // Cut one follower; the other two still agree.
            let leader1 = cfg.check_one_leader().await;
            cfg.disconnect((leader1 + 1) % servers);
            cfg.one(102u64, servers - 1, false).await;
            cfg.sleep(RAFT_ELECTION_TIMEOUT).await;
            cfg.one(103u64, servers - 1, false).await;

            // Cut the remaining follower: nothing commits.
            let leader2 = cfg.check_one_leader().await;
            cfg.disconnect((leader2 + 1) % servers);
            cfg.disconnect((leader2 + 2) % servers);
            let Some((index, _)) = cfg.start(leader2, 104u64) else {
                panic!("expected leader {leader2} to accept start(); it refused");
            };
            assert_eq!(index, 4, "expected start() to return index 4; got {index}");
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            let (n, _) = cfg.n_committed(index);
            assert_eq!(
                n, 0,
                "expected nothing committed without a majority; {n} servers applied index {index}"
            );
        },
    );
}

#[test]
fn leader_failure() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(101u64, servers, false).await;

            // Cut the leader: the other two elect a new one and agree.
            let leader1 = cfg.check_one_leader().await;
            cfg.disconnect(leader1);
            cfg.one(102u64, servers - 1, false).await;
            cfg.sleep(RAFT_ELECTION_TIMEOUT).await;
            cfg.one(103u64, servers - 1, false).await;

            // Cut the new leader too, and submit a command to everyone: no majority, no commit.
            let leader2 = cfg.check_one_leader().await;
            cfg.disconnect(leader2);
            for i in 0..servers {
                cfg.start(i, 104u64);
            }
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            let (n, _) = cfg.n_committed(4);
            assert_eq!(
                n, 0,
                "expected nothing committed without a majority; {n} servers applied index 4"
            );
        },
    );
}

#[test]
fn fail_agree() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(101u64, servers, false).await;

            // A follower is cut; the majority keeps agreeing.
            let leader = cfg.check_one_leader().await;
            cfg.disconnect((leader + 1) % servers);
            cfg.one(102u64, servers - 1, false).await;
            cfg.one(103u64, servers - 1, false).await;
            cfg.sleep(RAFT_ELECTION_TIMEOUT).await;
            cfg.one(104u64, servers - 1, false).await;
            cfg.one(105u64, servers - 1, false).await;

            // It comes back and catches up.
            cfg.connect((leader + 1) % servers);
            cfg.one(106u64, servers, true).await;
            cfg.sleep(RAFT_ELECTION_TIMEOUT).await;
            cfg.one(107u64, servers, true).await;
        },
    );
}

#[test]
fn fail_no_agree() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(10u64, servers, false).await;

            // Three of five followers are cut: the leader accepts a command it cannot commit.
            let leader = cfg.check_one_leader().await;
            for k in 1..=3 {
                cfg.disconnect((leader + k) % servers);
            }
            let Some((index, _)) = cfg.start(leader, 20u64) else {
                panic!("expected leader {leader} to accept start(); it refused");
            };
            assert_eq!(index, 2, "expected start() to return index 2; got {index}");
            cfg.sleep(2 * RAFT_ELECTION_TIMEOUT).await;
            let (n, _) = cfg.n_committed(index);
            assert_eq!(
                n, 0,
                "expected nothing committed without a majority; {n} servers applied index {index}"
            );

            // Repair: a leader (old or new) accepts commands again.
            for k in 1..=3 {
                cfg.connect((leader + k) % servers);
            }
            let leader2 = cfg.check_one_leader().await;
            let Some((index2, _)) = cfg.start(leader2, 30u64) else {
                panic!("expected leader {leader2} to accept start(); it refused");
            };
            assert!(
                (2..=3).contains(&index2),
                "expected start() after the repair to return index 2 or 3; got {index2}"
            );
            cfg.one(1000u64, servers, true).await;
        },
    );
}

#[test]
fn concurrent_starts() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            'attempt: for attempt in 0..5 {
                if attempt > 0 {
                    // Give the cluster time to settle.
                    cfg.sleep(Duration::from_secs(3)).await;
                }
                let leader = cfg.check_one_leader().await;
                let Some((_, term)) = cfg.start(leader, 1u64) else {
                    continue;
                };
                // Five commands submitted back to back, before any of them commits.
                let mut indices = Vec::new();
                for i in 0..5u64 {
                    match cfg.start(leader, 100 + i) {
                        Some((index, t)) if t == term => indices.push(index),
                        _ => break,
                    }
                }
                for j in 0..servers {
                    if cfg.state(j).is_some_and(|(t, _)| t != term) {
                        continue 'attempt; // the term changed: try again
                    }
                }
                let mut cmds = Vec::new();
                for index in indices {
                    match cfg.wait(index, servers, Some(term)).await {
                        Some(cmd) => cmds.push(cmd),
                        None => continue 'attempt, // peers moved on to a later term
                    }
                }
                for i in 0..5u64 {
                    let want = (100 + i).to_le_bytes().to_vec();
                    assert!(
                        cmds.contains(&want),
                        "expected command {} to be committed; committed: {:?}",
                        100 + i,
                        cmds.iter().map(|c| show(c)).collect::<Vec<_>>()
                    );
                }
                return;
            }
            panic!(
                "expected a stable term in at least one of 5 attempts; the term changed too often"
            );
        },
    );
}

#[test]
fn rejoin() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            cfg.one(101u64, servers, true).await;

            // The leader is cut off and accepts entries that never commit.
            let leader1 = cfg.check_one_leader().await;
            cfg.disconnect(leader1);
            for cmd in [102u64, 103, 104] {
                cfg.start(leader1, cmd);
            }

            // A new leader commits, also at index 2.
            cfg.one(103u64, 2, true).await;

            // The new leader is cut; the old one returns and must give up its entries.
            let leader2 = cfg.check_one_leader().await;
            cfg.disconnect(leader2);
            cfg.connect(leader1);
            cfg.one(104u64, 2, true).await;

            // Everyone back.
            cfg.connect(leader2);
            cfg.one(105u64, servers, true).await;
        },
    );
}

#[test]
fn backup() {
    raft_test(
        this_test!(),
        5,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            let rand_cmd = || cfg.rand(0..u64::MAX);
            cfg.one(rand_cmd(), servers, true).await;

            // The leader and one follower are left alone in a minority.
            let leader1 = cfg.check_one_leader().await;
            for k in 2..=4 {
                cfg.disconnect((leader1 + k) % servers);
            }
            // Lots of commands that will not commit.
            for _ in 0..50 {
                cfg.start(leader1, rand_cmd());
            }
            cfg.sleep(RAFT_ELECTION_TIMEOUT / 2).await;
            cfg.disconnect(leader1);
            cfg.disconnect((leader1 + 1) % servers);

            // The other partition recovers and commits lots of commands.
            for k in 2..=4 {
                cfg.connect((leader1 + k) % servers);
            }
            for _ in 0..50 {
                cfg.one(rand_cmd(), 3, true).await;
            }

            // Now another partitioned leader and one follower.
            let leader2 = cfg.check_one_leader().await;
            let mut other = (leader1 + 2) % servers;
            if leader2 == other {
                other = (leader2 + 1) % servers;
            }
            cfg.disconnect(other);
            // Lots more commands that will not commit.
            for _ in 0..50 {
                cfg.start(leader2, rand_cmd());
            }
            cfg.sleep(RAFT_ELECTION_TIMEOUT / 2).await;

            // Bring the original leader back to life: its log is far behind and divergent.
            for i in 0..servers {
                cfg.disconnect(i);
            }
            cfg.connect(leader1);
            cfg.connect((leader1 + 1) % servers);
            cfg.connect(other);

            // Lots of successful commands in the new group.
            for _ in 0..50 {
                cfg.one(rand_cmd(), 3, true).await;
            }

            // Everyone.
            for i in 0..servers {
                cfg.connect(i);
            }
            cfg.one(rand_cmd(), servers, true).await;
        },
    );
}

#[test]
fn count() {
    raft_test(
        this_test!(),
        3,
        Net::Reliable,
        Applier::Plain,
        |cfg| async move {
            let servers = cfg.servers();
            let rpcs = || (0..servers).map(|j| cfg.rpc_count(j)).sum::<u64>();

            let _ = cfg.check_one_leader().await;
            let total1 = rpcs();
            assert!(
                (1..=30).contains(&total1),
                "expected 1 to 30 RPCs to elect the first leader; used {total1}"
            );

            let mut total2 = 0;
            let mut success = false;
            'attempt: for attempt in 0..5 {
                if attempt > 0 {
                    cfg.sleep(Duration::from_secs(3)).await;
                }
                let leader = cfg.check_one_leader().await;
                let total1 = rpcs();
                let iters = 10u64;
                let Some((starti, term)) = cfg.start(leader, 1u64) else {
                    continue;
                };
                let mut cmds = Vec::new();
                for i in 1..iters + 2 {
                    let x = cfg.rand(0..1 << 31);
                    cmds.push(x);
                    match cfg.start(leader, x) {
                        Some((index, t)) if t == term => assert_eq!(
                            index,
                            starti + i,
                            "expected start() to return index {}; got {index}",
                            starti + i
                        ),
                        _ => continue 'attempt,
                    }
                }
                for i in 1..iters + 1 {
                    match cfg.wait(starti + i, servers, Some(term)).await {
                        None => continue 'attempt,
                        Some(cmd) => assert_eq!(
                            cmd,
                            cmds[i as usize - 1].to_le_bytes().to_vec(),
                            "wrong value committed at index {}",
                            starti + i
                        ),
                    }
                }
                if (0..servers).any(|j| cfg.state(j).is_some_and(|(t, _)| t != term)) {
                    continue;
                }
                total2 = rpcs();
                assert!(
                    total2 - total1 <= (iters + 1 + 3) * 3,
                    "expected at most {} RPCs for {iters} entries; used {}",
                    (iters + 1 + 3) * 3,
                    total2 - total1
                );
                success = true;
                break;
            }
            assert!(
                success,
                "expected a stable term in one of 5 attempts; the term changed too often"
            );

            cfg.sleep(RAFT_ELECTION_TIMEOUT).await;
            let total3 = rpcs();
            assert!(
                total3 - total2 <= 3 * 20,
                "expected at most 60 RPCs for 1 second of idleness; used {}",
                total3 - total2
            );
        },
    );
}
