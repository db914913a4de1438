//! `checker check` on a mutant of the catalog instead of raft/src/raft.rs: the same command line,
//! report and step-through page (`page: PATH`), without editing the Raft.
//!
//! ```sh
//! cargo run --release -p raft-mutants --example check -- vote-not-persisted --crashes 1
//! ```

use std::process::ExitCode;

use checker::model::cli::{CheckArgs, check_command};
use clap::Parser;

#[derive(Parser)]
#[command(about = "checker check on a mutant of the catalog")]
struct Cli {
    /// vote-not-persisted, vote-twice, no-up-to-date-check or log-not-persisted-on-append.
    mutant: String,
    #[command(flatten)]
    args: CheckArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let name = format!("the {} mutant", cli.mutant);
    let out = &mut std::io::stdout().lock();
    let code = match cli.mutant.as_str() {
        "vote-not-persisted" => {
            check_command::<raft_mutants::vote_not_persisted::Raft>(&cli.args, &name, out, false)
        }
        "vote-twice" => {
            check_command::<raft_mutants::vote_twice::Raft>(&cli.args, &name, out, false)
        }
        "no-up-to-date-check" => {
            check_command::<raft_mutants::no_up_to_date_check::Raft>(&cli.args, &name, out, false)
        }
        "log-not-persisted-on-append" => check_command::<
            raft_mutants::log_not_persisted_on_append::Raft,
        >(&cli.args, &name, out, false),
        other => {
            eprintln!("unknown mutant {other}");
            2
        }
    };
    ExitCode::from(code)
}
