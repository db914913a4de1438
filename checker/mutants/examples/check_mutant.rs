//! `checker check` on one mutant of the catalog (or of `checker/mutants/extra/`,
//! `labs/mutants/checker-only/`), with `checker check`'s own flags, e.g. a preset:
//!
//! ```sh
//! cargo run --release -p raft-mutants --example check_mutant -- vote-twice --preset election
//! ```
//!
//! Exits with `checker check`'s code (BENCHMARKS.md has the presets' figures on the mutants).

use std::process::ExitCode;

use checker::model::cli::CheckArgs;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    /// The mutant's name (its patch's file name without `.patch`).
    mutant: String,
    #[command(flatten)]
    args: CheckArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match raft_mutants::check_mutant(&cli.mutant, &cli.args, &mut std::io::stdout().lock()) {
        Some(code) => ExitCode::from(code),
        None => {
            eprintln!("no Raft mutant named {}", cli.mutant);
            ExitCode::from(2)
        }
    }
}
