//! Reliable round trips through the simulated network, in virtual time.
//!
//! `cargo bench -p labkit --bench labrpc`. Each iteration is one run (fresh runtime, network and
//! server) in which `clients` tasks each make `calls` sequential reliable calls; criterion reports
//! calls per second of (single-threaded, so CPU) time.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use labkit::labrpc::{Network, Rpc, Server, Service};
use labkit::sim::{RunConfig, run};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Echo(u64);
impl Rpc for Echo {
    type Reply = u64;
    const METHOD: &'static str = "Bench.Echo";
}

fn round_trips(clients: u64, calls: u64) {
    run(RunConfig::new(1), |sim| async move {
        let net = Network::new(&sim);
        let server = Server::new();
        server.add_service(Service::new("Bench").handle(|Echo(x)| x + 1));
        net.add_server("server", server);
        let mut tasks = Vec::new();
        for c in 0..clients {
            let name = format!("client{c}");
            let end = net.make_end(name.clone());
            net.connect(&name, "server");
            net.enable(&name, true);
            tasks.push(sim.spawn(async move {
                for i in 0..calls {
                    let reply = end.call(&Echo(i)).await.expect("reliable call");
                    assert_eq!(reply, i + 1);
                }
            }));
        }
        for task in tasks {
            task.await.expect("client task");
        }
        assert_eq!(net.total_count(), clients * calls);
    })
    .expect("run");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("labrpc_reliable_round_trips");
    for (clients, calls) in [(1u64, 10_000u64), (10, 1_000), (100, 100)] {
        group.throughput(Throughput::Elements(clients * calls));
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{clients}x{calls}")),
            &(clients, calls),
            |b, &(clients, calls)| b.iter(|| round_trips(clients, calls)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
