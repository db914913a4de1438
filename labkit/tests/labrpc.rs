//! The simulated network, tested at least as hard as the course tests its labrpc: typed calls,
//! disconnects, counts and bytes, loss rates, long delays, reordering, deleted and stuck servers,
//! many concurrent clients. Every test runs in virtual time with a fixed seed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use labkit::labrpc::{Network, RELIABLE_LATENCY, Rpc, RpcError, Server, Service};
use labkit::sim::{RunConfig, Sim, run};
use serde::{Deserialize, Serialize};

/// Run `body` in a fresh run with `seed`; panics if the run fails.
fn sim<T>(seed: u64, body: impl AsyncFnOnce(Sim) -> T) -> T {
    run(RunConfig::new(seed), |s| body(s))
        .expect("run failed")
        .0
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Double(i64);
impl Rpc for Double {
    type Reply = i64;
    const METHOD: &'static str = "Junk.Double";
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Greet(String);
impl Rpc for Greet {
    type Reply = String;
    const METHOD: &'static str = "Junk.Greet";
}

/// A request to a method nobody registered.
#[derive(Serialize, Deserialize)]
struct Nope;
impl Rpc for Nope {
    type Reply = ();
    const METHOD: &'static str = "Junk.Nope";
}

/// Same method name as `Double`, different request type.
#[derive(Serialize, Deserialize)]
struct NotDouble(String);
impl Rpc for NotDouble {
    type Reply = String;
    const METHOD: &'static str = "Junk.Double";
}

/// A service nobody registered.
#[derive(Serialize, Deserialize)]
struct Elsewhere;
impl Rpc for Elsewhere {
    type Reply = ();
    const METHOD: &'static str = "Other.Thing";
}

/// Waits the given number of milliseconds before replying.
#[derive(Serialize, Deserialize)]
struct Slow(u64);
impl Rpc for Slow {
    type Reply = u64;
    const METHOD: &'static str = "Junk.Slow";
}

/// Never replies.
#[derive(Serialize, Deserialize)]
struct Never;
impl Rpc for Never {
    type Reply = ();
    const METHOD: &'static str = "Junk.Never";
}

fn junk_server() -> Server {
    let server = Server::new();
    server.add_service(
        Service::new("Junk")
            .handle(|Double(x)| x * 2)
            .handle(|Greet(name)| format!("hello {name}"))
            .handle_async(|Slow(ms)| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                ms
            })
            .handle_async(|Never| std::future::pending::<()>()),
    );
    server
}

/// A network with one junk server "s" and an enabled end "e" connected to it.
fn one_server(sim: &Sim) -> (Network, labkit::labrpc::ClientEnd) {
    let net = Network::new(sim);
    net.add_server("s", junk_server());
    let end = net.make_end("e");
    net.connect("e", "s");
    net.enable("e", true);
    (net, end)
}

#[test]
fn typed_calls_return_their_replies() {
    sim(1, async |sim| {
        let (_net, end) = one_server(&sim);
        assert_eq!(end.call(&Double(21)).await, Ok(42));
        assert_eq!(
            end.call(&Greet("raft".into())).await,
            Ok("hello raft".into())
        );
    });
}

#[test]
fn reliable_calls_take_a_small_nonzero_virtual_latency() {
    sim(1, async |sim| {
        let (_net, end) = one_server(&sim);
        let before = sim.now();
        end.call(&Double(1)).await.unwrap();
        assert_eq!(sim.now() - before, RELIABLE_LATENCY);
    });
}

#[test]
fn unknown_methods_and_mismatched_types_are_errors_not_panics() {
    sim(1, async |sim| {
        let (net, end) = one_server(&sim);
        assert_eq!(
            end.call(&Nope).await,
            Err(RpcError::UnknownMethod {
                method: "Junk.Nope".into()
            })
        );
        assert!(matches!(
            end.call(&Elsewhere).await,
            Err(RpcError::UnknownService { service, .. }) if service == "Other"
        ));
        assert!(matches!(
            end.call(&NotDouble("x".into())).await,
            Err(RpcError::TypeMismatch { method, .. }) if method == "Junk.Double"
        ));
        // Bytes that are not a valid request: a decode error.
        assert!(matches!(
            end.call_raw("Junk.Greet", vec![200]).await,
            Err(RpcError::Decode {
                what: "request",
                ..
            })
        ));
        // Trailing garbage after a valid request is a decode error too.
        let mut args = postcard::to_allocvec(&Double(3)).unwrap();
        args.push(7);
        assert!(matches!(
            end.call_raw("Junk.Double", args).await,
            Err(RpcError::Decode { .. })
        ));
        // The server is still fine afterwards.
        assert_eq!(end.call(&Double(2)).await, Ok(4));
        assert_eq!(net.count("s"), 6);
    });
}

#[test]
fn disabled_end_fails_after_a_short_delay_then_works_when_enabled() {
    sim(1, async |sim| {
        let (net, end) = one_server(&sim);
        net.enable("e", false);
        let mut waited = Vec::new();
        for _ in 0..50 {
            let t = sim.now();
            assert_eq!(end.call(&Double(1)).await, Err(RpcError::Unreachable));
            waited.push(sim.now() - t);
        }
        assert!(waited.iter().all(|d| *d < Duration::from_millis(100)));
        assert!(
            waited.iter().any(|d| *d > Duration::from_millis(50)),
            "delays are spread over 0-100 ms: {waited:?}"
        );
        assert_eq!(net.count("s"), 0, "nothing reached the server");
        net.enable("e", true);
        assert_eq!(end.call(&Double(5)).await, Ok(10));
        assert_eq!(net.count("s"), 1);
    });
}

#[test]
fn long_delays_apply_to_cut_calls_only() {
    sim(2, async |sim| {
        let (net, end) = one_server(&sim);
        net.set_long_delays(true);
        let t = sim.now();
        end.call(&Double(1)).await.unwrap();
        assert_eq!(
            sim.now() - t,
            RELIABLE_LATENCY,
            "connected calls are not delayed"
        );
        net.enable("e", false);
        let mut longest = Duration::ZERO;
        for _ in 0..20 {
            let t = sim.now();
            assert_eq!(end.call(&Double(1)).await, Err(RpcError::Unreachable));
            let waited = sim.now() - t;
            assert!(waited < Duration::from_millis(7000));
            longest = longest.max(waited);
        }
        assert!(
            longest > Duration::from_millis(1000),
            "long delays: {longest:?}"
        );
        // An end connected to a server that does not exist also fails after a delay.
        net.set_long_delays(false);
        let lost = net.make_end("lost");
        net.connect("lost", "nobody");
        net.enable("lost", true);
        let t = sim.now();
        assert_eq!(lost.call(&Double(1)).await, Err(RpcError::Unreachable));
        assert!(sim.now() - t < Duration::from_millis(100));
    });
}

#[test]
fn counts_are_exact_per_server_and_in_total() {
    sim(1, async |sim| {
        let net = Network::new(&sim);
        net.add_server("a", junk_server());
        net.add_server("b", junk_server());
        let ea = net.make_end("ea");
        let eb = net.make_end("eb");
        let cut = net.make_end("cut");
        net.connect("ea", "a");
        net.connect("eb", "b");
        net.connect("cut", "a");
        net.enable("ea", true);
        net.enable("eb", true);
        for i in 0..17 {
            ea.call(&Double(i)).await.unwrap();
        }
        for i in 0..5 {
            eb.call(&Double(i)).await.unwrap();
        }
        for i in 0..3 {
            let _ = cut.call(&Double(i)).await;
        }
        assert_eq!(net.count("a"), 17);
        assert_eq!(net.count("b"), 5);
        assert_eq!(net.count("nobody"), 0);
        assert_eq!(
            net.total_count(),
            25,
            "calls through disabled ends count too"
        );
        // A new server under an old name starts from zero.
        net.add_server("a", junk_server());
        assert_eq!(net.count("a"), 0);
    });
}

#[test]
fn bytes_are_the_serialized_sizes_of_requests_and_delivered_replies() {
    sim(1, async |sim| {
        let (net, end) = one_server(&sim);
        let request = Greet("x".repeat(1000));
        let request_bytes = postcard::to_allocvec(&request).unwrap().len() as u64;
        let reply = end.call(&request).await.unwrap();
        let reply_bytes = postcard::to_allocvec(&reply).unwrap().len() as u64;
        assert_eq!(request_bytes, 1002, "a 2-byte length prefix and the string");
        assert_eq!(net.total_bytes(), request_bytes + reply_bytes);

        // A cut call counts its request but has no reply.
        net.enable("e", false);
        let _ = end.call(&Greet("y".into())).await;
        assert_eq!(net.total_bytes(), request_bytes + reply_bytes + 2);
    });
}

#[test]
fn many_concurrent_clients_all_get_their_own_replies() {
    sim(3, async |sim| {
        let net = Network::new(&sim);
        net.add_server("s", junk_server());
        let done = Rc::new(Cell::new(0));
        let mut tasks = Vec::new();
        for client in 0..20i64 {
            let end = net.make_end(format!("c{client}"));
            net.connect(&format!("c{client}"), "s");
            net.enable(&format!("c{client}"), true);
            let done = done.clone();
            tasks.push(sim.spawn(async move {
                for i in 0..10 {
                    let x = client * 1000 + i;
                    assert_eq!(end.call(&Double(x)).await, Ok(2 * x));
                    done.set(done.get() + 1);
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(done.get(), 200);
        assert_eq!(net.count("s"), 200);
        assert_eq!(net.total_count(), 200);
        // The calls ran concurrently: 10 rounds of latency, not 200.
        assert_eq!(sim.now(), RELIABLE_LATENCY * 10);
    });
}

#[test]
fn unreliable_loss_rates_are_within_statistical_bounds() {
    sim(4, async |sim| {
        let (net, end) = one_server(&sim);
        net.set_reliable(false);
        const CALLS: u32 = 2000;
        let (mut ok, mut request_lost, mut reply_lost) = (0u32, 0u32, 0u32);
        let mut max_latency = Duration::ZERO;
        for i in 0..CALLS {
            let t = sim.now();
            match end.call(&Double(i.into())).await {
                Ok(r) => {
                    assert_eq!(r, 2 * i64::from(i));
                    ok += 1;
                    max_latency = max_latency.max(sim.now() - t);
                }
                Err(RpcError::RequestLost) => request_lost += 1,
                Err(RpcError::ReplyLost) => reply_lost += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        // Expected: 10% of requests lost (200), 10% of the rest's replies lost (180), 81% ok.
        // Bounds are about 4 standard deviations wide.
        assert!(
            (140..=260).contains(&request_lost),
            "requests lost: {request_lost}"
        );
        assert!(
            (125..=235).contains(&reply_lost),
            "replies lost: {reply_lost}"
        );
        assert!((1520..=1720).contains(&ok), "ok: {ok}");
        assert!(max_latency <= RELIABLE_LATENCY + Duration::from_millis(26));
        assert!(
            max_latency >= Duration::from_millis(20),
            "delays reach ~26 ms"
        );
        // Every request reached the server except the lost ones.
        assert_eq!(net.count("s"), u64::from(CALLS - request_lost));
    });
}

#[test]
fn long_reordering_really_reorders_replies() {
    sim(5, async |sim| {
        let (net, end) = one_server(&sim);
        net.set_long_reordering(true);
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..100i64 {
            let end = end.clone();
            let order = order.clone();
            let sim2 = sim.clone();
            tasks.push(sim.spawn(async move {
                // Issue in order, 1 ms apart.
                sim2.sleep(Duration::from_millis(i as u64)).await;
                let t = sim2.now();
                end.call(&Double(i)).await.unwrap();
                order.borrow_mut().push((i, sim2.now() - t));
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.borrow();
        let completed: Vec<i64> = order.iter().map(|(i, _)| *i).collect();
        let inversions = completed
            .iter()
            .enumerate()
            .map(|(k, a)| completed[k + 1..].iter().filter(|b| *b < a).count())
            .sum::<usize>();
        assert!(
            inversions > 1000,
            "replies come back out of order: {inversions} inversions"
        );
        let held = order
            .iter()
            .filter(|(_, d)| *d >= Duration::from_millis(200))
            .count();
        // About 2/3 are held back at least 200 ms.
        assert!((50..=83).contains(&held), "held back: {held}");
        assert!(order.iter().all(|(_, d)| *d <= Duration::from_millis(2201)));
    });
}

#[test]
fn a_deleted_servers_in_flight_and_late_replies_are_never_delivered() {
    sim(6, async |sim| {
        let (net, end) = one_server(&sim);
        // A handler still running when its server is deleted: the call fails at once.
        let slow = {
            let end = end.clone();
            sim.spawn(async move {
                assert_eq!(end.call(&Slow(1000)).await, Err(RpcError::Unreachable));
            })
        };
        sim.sleep(Duration::from_millis(10)).await;
        let t = sim.now();
        net.delete_server("s");
        slow.await.unwrap();
        assert_eq!(sim.now(), t, "the caller learns immediately");

        // Replies held back by long reordering when the server is deleted: none is delivered.
        net.add_server("s", junk_server());
        net.set_long_reordering(true);
        let delivered = Rc::new(Cell::new(0));
        let mut tasks = Vec::new();
        for i in 0..60 {
            let end = end.clone();
            let delivered = delivered.clone();
            tasks.push(sim.spawn(async move {
                if end.call(&Double(i)).await.is_ok() {
                    delivered.set(delivered.get() + 1);
                }
            }));
        }
        sim.sleep(Duration::from_millis(100)).await;
        let (count, bytes, early) = (net.count("s"), net.total_bytes(), delivered.get());
        assert_eq!(count, 60, "every request was handled");
        assert!(early < 40, "most replies are held back ({early} arrived)");
        net.delete_server("s");
        // A server under the same name is a different server: the old replies still do not arrive.
        net.add_server("s", junk_server());
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            delivered.get(),
            early,
            "no late reply of a deleted server arrived"
        );
        assert_eq!(
            net.total_bytes(),
            bytes,
            "undelivered replies are not counted"
        );
    });
}

#[test]
fn disabling_an_end_while_its_handler_runs_fails_the_call() {
    sim(7, async |sim| {
        let (net, end) = one_server(&sim);
        let call = sim.spawn(async move {
            assert_eq!(end.call(&Slow(500)).await, Err(RpcError::Unreachable));
        });
        sim.sleep(Duration::from_millis(100)).await;
        net.enable("e", false);
        call.await.unwrap();
        assert_eq!(sim.now(), Duration::from_millis(100));
    });
}

#[test]
fn a_server_that_never_answers_does_not_hang_its_caller() {
    sim(8, async |sim| {
        let (net, end) = one_server(&sim);
        assert_eq!(
            end.call(&Never).await,
            Err(RpcError::Timeout(labkit::labrpc::DEFAULT_CALL_TIMEOUT))
        );
        assert_eq!(
            sim.now(),
            RELIABLE_LATENCY + labkit::labrpc::DEFAULT_CALL_TIMEOUT
        );
        net.set_call_timeout(Some(Duration::from_secs(2)));
        assert_eq!(
            end.call(&Never).await,
            Err(RpcError::Timeout(Duration::from_secs(2)))
        );
        // A handler that finishes within the timeout still answers.
        assert_eq!(end.call(&Slow(1500)).await, Ok(1500));
    });
}

#[test]
fn connecting_an_end_to_another_server_reroutes_it() {
    sim(9, async |sim| {
        let net = Network::new(&sim);
        net.add_server("a", junk_server());
        net.add_server("b", junk_server());
        let end = net.make_end("e");
        net.enable("e", true);
        assert_eq!(
            end.call(&Double(1)).await,
            Err(RpcError::Unreachable),
            "not connected"
        );
        net.connect("e", "a");
        end.call(&Double(1)).await.unwrap();
        net.connect("e", "b");
        end.call(&Double(1)).await.unwrap();
        assert_eq!((net.count("a"), net.count("b")), (1, 1));
        assert_eq!(end.name(), "e");
    });
}

/// A small workload touching every random choice of the network; returns the run's trace.
fn workload_trace(seed: u64) -> u64 {
    let (_, stats) = run(RunConfig::new(seed), async |sim| {
        let net = Network::new(&sim);
        net.add_server("s", junk_server());
        net.set_reliable(false);
        net.set_long_reordering(true);
        let mut tasks = Vec::new();
        for c in 0..5i64 {
            let name = format!("c{c}");
            let end = net.make_end(name.clone());
            net.connect(&name, "s");
            net.enable(&name, c != 4);
            tasks.push(sim.spawn(async move {
                for i in 0..20 {
                    let _ = end.call(&Double(c * 100 + i)).await;
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    })
    .unwrap();
    stats.trace
}

#[test]
fn the_same_seed_gives_the_same_trace_and_different_seeds_differ() {
    let a = workload_trace(11);
    assert_eq!(a, workload_trace(11));
    let others: Vec<u64> = (12..20).map(workload_trace).collect();
    assert!(others.iter().all(|t| *t != a), "{a:x} vs {others:x?}");
}
