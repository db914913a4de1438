//! `checker check` and `checker explore`: command-line front ends of the Raft model.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use stateright::{Checker, Model};

use super::trace::{Exploration, Strategy, check, render_report};
use super::{Bounds, NetworkSemantics, model, symmetry};

/// The model's bounds, shared by `check` and `explore`.
#[derive(Args, Clone, Debug)]
pub struct BoundsArgs {
    /// Number of Raft servers.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=7))]
    pub servers: u64,
    /// Do not explore states where a term exceeds this.
    #[arg(long, default_value_t = 2)]
    pub max_term: u64,
    /// Client commands proposed (each to every server).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=9))]
    pub commands: u64,
    /// Crashes allowed (each may be followed by a restart from persisted state).
    #[arg(long, default_value_t = 0)]
    pub crashes: usize,
    /// Network semantics.
    #[arg(long, value_enum, default_value_t = NetworkSemantics::Unordered)]
    pub network: NetworkSemantics,
    /// The network may also lose messages (an unordered one loses them only when a step leaves
    /// more than --max-in-flight in flight, in that step).
    #[arg(long)]
    pub lossy: bool,
    /// Servers take snapshots of what they applied (exercises 2D code).
    #[arg(long)]
    pub snapshots: bool,
    /// With ordered/unordered networks: prune states with more messages in flight than this.
    #[arg(long, default_value_t = 6)]
    pub max_in_flight: usize,
    /// With --lossy: at most this many messages are lost in all.
    #[arg(long)]
    pub max_losses: Option<usize>,
}

impl BoundsArgs {
    pub fn bounds(&self) -> Bounds {
        Bounds {
            servers: self.servers as usize,
            max_term: self.max_term,
            commands: self.commands as usize,
            crashes: self.crashes,
            network: self.network,
            lossy: self.lossy,
            snapshots: self.snapshots,
            max_in_flight: self.max_in_flight,
            max_losses: self.max_losses,
        }
    }
}

/// `checker check`.
#[derive(Args, Clone, Debug)]
pub struct CheckArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// Search strategy.
    #[arg(long, value_enum, default_value_t = Strategy::Dfs)]
    pub strategy: Strategy,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Do not explore beyond this depth.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Stop after this many seconds (verdicts then cover only the explored part).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// Seed for the simulation strategy.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Explore one state of each set of states that differ only in the servers' names (symmetry
    /// reduction; DFS or simulation; needs the Raft's optional `relabel` functions).
    #[arg(long)]
    pub symmetry: bool,
    /// Address printed in Explorer links (where `checker explore` serves).
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub explorer: String,
}

/// `checker explore`.
#[derive(Args, Clone, Debug)]
pub struct ExploreArgs {
    #[command(flatten)]
    pub bounds: BoundsArgs,
    /// Address to serve the Explorer on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub address: String,
}

/// Run `checker check`: print the bounds, the statistics and every verdict; exit 0 only if every
/// safety property holds and every reachability property was reached.
pub fn run_check(args: &CheckArgs) -> ExitCode {
    let bounds = args.bounds.bounds();
    let exploration = Exploration {
        strategy: args.strategy,
        threads: args.threads,
        max_depth: args.depth,
        timeout: args.timeout.map(Duration::from_secs),
        seed: args.seed,
        symmetry: args.symmetry,
    };
    if args.symmetry
        && let Some(problem) = symmetry::problem::<raft::Raft>(&bounds, args.strategy)
    {
        eprintln!("checker: --symmetry: {problem}");
        return ExitCode::from(2);
    }
    println!("checking the Raft in raft/src/raft.rs");
    let report = check::<raft::Raft>(&bounds, &exploration);
    print!("{}", render_report(&report, &args.explorer));
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Run `checker explore`: serve stateright's Explorer for the model. Blocks until killed.
pub fn run_explore(args: &ExploreArgs) -> ExitCode {
    // stateright serves its UI from ./ui when the working directory has one (its own
    // development setup); make sure the built-in UI is what users get.
    if std::path::Path::new("ui").is_dir() {
        let dir = std::env::temp_dir();
        if let Err(e) = std::env::set_current_dir(&dir) {
            eprintln!("checker: ./ui exists and changing directory failed: {e}");
            return ExitCode::from(3);
        }
        eprintln!(
            "note: ./ui exists here; serving the built-in Explorer from {}",
            dir.display()
        );
    }
    let bounds = args.bounds.bounds();
    println!("bounds: {bounds}");
    println!("Explorer: http://{}/", args.address);
    let checker = model::<raft::Raft>(&bounds)
        .checker()
        .serve(args.address.as_str());
    // serve() returns once the server stops; report what was explored.
    println!("explored {} states", checker.unique_state_count());
    ExitCode::SUCCESS
}
