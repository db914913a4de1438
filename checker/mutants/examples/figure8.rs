//! `checker check` on the Figure 8 mutant (`commit-old-term-by-counting`) within the bound its
//! test uses (the sequential network, at most four lost messages, terms up to 4, two commands):
//! how long each strategy takes and how long a path it prints (BENCHMARKS.md).
//!
//! ```sh
//! cargo run --release -p raft-mutants --example figure8 -- bfs 2   # strategy, threads
//! ```

use std::time::{Duration, Instant};

use checker::model::bounds::{Exploration, Strategy};
use checker::model::check::check;
use checker::model::report::render_report;
use checker::model::{Bounds, NetworkSemantics};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let strategy = match args.get(1).map(String::as_str) {
        Some("bfs") => Strategy::Bfs,
        Some("simulation") => Strategy::Simulation,
        _ => Strategy::Dfs,
    };
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let bounds = Bounds {
        max_term: 4,
        commands: 2,
        network: NetworkSemantics::Sequential,
        lossy: true,
        max_losses: Some(4),
        ..Bounds::default()
    };
    let started = Instant::now();
    let report = check::<raft_mutants::commit_old_term_by_counting::Raft>(
        &bounds,
        &Exploration {
            strategy,
            threads,
            timeout: Some(Duration::from_secs(600)),
            ..Exploration::default()
        },
    );
    print!("{}", render_report(&report, "127.0.0.1:3000"));
    println!("total {:.1}s", started.elapsed().as_secs_f64());
}
