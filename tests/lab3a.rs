//! Lab 3A: a fault-tolerant key/value service without snapshots. `cargo test --release --test lab3a`

use std::time::Duration;

use harness::kv::{
    ELECTION_TIMEOUT, Generic, append_value, check_appends, generic_test, kv_test, speed_test,
};
use harness::{Net, this_test};
use tokio::sync::oneshot;

#[test]
fn basic() {
    generic_test(this_test!(), Generic::new(1, 5));
}

#[test]
fn speed() {
    speed_test(this_test!(), None);
}

#[test]
fn concurrent() {
    generic_test(this_test!(), Generic::new(5, 5));
}

#[test]
fn unreliable() {
    generic_test(this_test!(), Generic::new(5, 5).unreliable());
}

/// Five clerks append to one key over an unreliable network: every append once, each clerk's in
/// order.
#[test]
fn unreliable_one_key() {
    const CLIENTS: u64 = 5;
    const UPTO: u64 = 10;
    kv_test(this_test!(), 3, Net::Unreliable, None, |cfg| async move {
        let ck = cfg.make_client(&cfg.all());
        cfg.put(&ck, "k", "", None).await;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|me| {
                let cfg = cfg.clone();
                cfg.sim().clone().spawn(async move {
                    let myck = cfg.make_client(&cfg.all());
                    for n in 0..UPTO {
                        cfg.append(&myck, "k", &append_value(me, n), None).await;
                    }
                })
            })
            .collect();
        for client in clients {
            let _ = client.await;
        }
        let value = cfg.get(&ck, "k", None).await;
        let counts: Vec<(u64, u64)> = (0..CLIENTS).map(|me| (me, UPTO)).collect();
        check_appends(&value, &counts);
    });
}

/// A request in a minority partition must not complete until the partition heals; the leader of
/// the whole cluster ends up in the minority.
#[test]
fn one_partition() {
    kv_test(this_test!(), 5, Net::Reliable, None, |cfg| async move {
        let ck = cfg.make_client(&cfg.all());
        cfg.put(&ck, "1", "13", None).await;

        // Progress in the majority.
        let (p1, p2) = cfg.make_partition();
        cfg.partition(&p1, &p2);
        let ckp1 = cfg.make_client(&p1);
        let ckp2a = cfg.make_client(&p2);
        let ckp2b = cfg.make_client(&p2);
        cfg.put(&ckp1, "1", "14", None).await;
        cfg.check(&ckp1, "1", "14").await;

        // No progress in the minority.
        let (put_done, mut put_waiting) = oneshot::channel();
        let (get_done, mut get_waiting) = oneshot::channel();
        {
            let (cfg, ck) = (cfg.clone(), ckp2a.clone());
            cfg.sim().clone().spawn(async move {
                cfg.put(&ck, "1", "15", None).await;
                let _ = put_done.send(());
            });
        }
        {
            let (cfg, ck) = (cfg.clone(), ckp2b.clone());
            cfg.sim().clone().spawn(async move {
                cfg.get(&ck, "1", None).await; // a different clerk in the minority
                let _ = get_done.send(());
            });
        }
        cfg.sleep(Duration::from_secs(1)).await;
        assert!(
            put_waiting.try_recv().is_err(),
            "expected a Put in the minority not to complete while partitioned; it completed"
        );
        assert!(
            get_waiting.try_recv().is_err(),
            "expected a Get in the minority not to complete while partitioned; it completed"
        );
        cfg.check(&ckp1, "1", "14").await;
        cfg.put(&ckp1, "1", "16", None).await;
        cfg.check(&ckp1, "1", "16").await;

        // Completion after heal.
        cfg.connect_all();
        cfg.connect_client(&ckp2a, &cfg.all());
        cfg.connect_client(&ckp2b, &cfg.all());
        cfg.sleep(ELECTION_TIMEOUT).await;
        let limit = Duration::from_secs(3);
        assert!(
            tokio::time::timeout(limit, put_waiting).await.is_ok(),
            "expected the minority's Put to complete within {limit:?} after the partition healed; it did not"
        );
        assert!(
            tokio::time::timeout(limit, get_waiting).await.is_ok(),
            "expected the minority's Get to complete within {limit:?} after the partition healed; it did not"
        );
        cfg.check(&ck, "1", "15").await;
    });
}

#[test]
fn many_partitions_one_client() {
    generic_test(this_test!(), Generic::new(1, 5).partitions());
}

#[test]
fn many_partitions_many_clients() {
    generic_test(this_test!(), Generic::new(5, 5).partitions());
}

#[test]
fn persist_one_client() {
    generic_test(this_test!(), Generic::new(1, 5).crash());
}

#[test]
fn persist_concurrent() {
    generic_test(this_test!(), Generic::new(5, 5).crash());
}

#[test]
fn persist_concurrent_unreliable() {
    generic_test(this_test!(), Generic::new(5, 5).unreliable().crash());
}

#[test]
fn persist_partition() {
    generic_test(this_test!(), Generic::new(5, 5).crash().partitions());
}

#[test]
fn persist_partition_unreliable() {
    generic_test(
        this_test!(),
        Generic::new(5, 5).unreliable().crash().partitions(),
    );
}

#[test]
fn persist_partition_unreliable_linearizable() {
    generic_test(
        this_test!(),
        Generic::new(15, 7)
            .unreliable()
            .crash()
            .partitions()
            .random_keys(),
    );
}
