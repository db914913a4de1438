//! `labs`: the lab framework's command line.
//!
//! - `labs run [--lab 2a ...] [--seeds N] [--jobs J] [--time-limit SECS]`: build and run every lab
//!   suite that exists (`tests/lab2a.rs` ... `tests/lab3b.rs`) against the code in this tree, with a
//!   progress display and a summary table; exits non-zero if any run failed or did not finish.
//! - `labs handout --out DIR`: write the student repository (solutions replaced by stubs,
//!   instructor-only files left out).
// BEGIN INSTRUCTOR ONLY
//! - `labs grade --submission DIR | --batch DIR [--lab LAB] [--seeds N] [--jobs J] [--out DIR]`:
//!   grade a submission (or every sub-folder of a folder) against the pristine tests; writes
//!   `results.json` (Gradescope) and `report.md`, and for a batch `grades.csv`.
//! - `labs mutants [--only NAME] [--lab LAB] [--seeds N]`: grade every mutant in `labs/mutants/`
//!   like a submission and print which tests catch each; exits non-zero if one loses no points.
//! - `labs autograder --out DIR`: write the Gradescope autograder's source (the handout plus the
//!   grader, no solutions; `labs/gradescope/package.sh` zips it).
// END INSTRUCTOR ONLY

// BEGIN INSTRUCTOR ONLY
mod instructor;
// END INSTRUCTOR ONLY

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use labs::suites::{
    SuiteRun, build_suites, existing_suites, list_tests, progress_bar, render_table, run_suite,
    select_labs, workspace_root,
};

#[derive(Parser)]
#[command(name = "labs", about = "raftlab: run the lab suites", version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// Which suites to run and how, shared by `run`, `grade` and `mutants`.
#[derive(clap::Args)]
pub struct SuiteArgs {
    /// Which labs: 2a 2b 2c 2d 2e 3a 3b, or all (default: all).
    #[arg(long = "lab", value_name = "LAB")]
    pub labs: Vec<String>,
    /// Seeds per test (LAB_SEEDS).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=labs::lab::MAX_SEEDS))]
    pub seeds: u64,
    /// Tests run in parallel (default: number of CPUs).
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: Option<usize>,
}

impl SuiteArgs {
    pub fn jobs(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

/// `labs run`.
#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    suites: SuiteArgs,
    /// Stop a suite when none of its runs has finished for this many seconds of real time (its
    /// unfinished runs then count as failed, by name).
    #[arg(long, value_name = "SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    time_limit: u64,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the lab suites against the code in this tree and print a summary table.
    Run(RunArgs),
    // BEGIN INSTRUCTOR ONLY
    /// Grade a submission (or a folder of submissions) and write results.json and report.md.
    Grade(instructor::GradeArgs),
    /// Grade every mutant of the catalog like a submission and show what catches each.
    Mutants(instructor::MutantsArgs),
    /// Write the Gradescope autograder's source: the handout plus the grader, no solutions.
    Autograder {
        /// Where to write it (must not exist, or be empty).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    // END INSTRUCTOR ONLY
    /// Write the student handout: this repository without solutions or instructor-only files.
    Handout {
        /// Where to write it (must not exist, or be empty).
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::Handout { out } => handout(&out),
        // BEGIN INSTRUCTOR ONLY
        Commands::Grade(args) => match instructor::grade(&args) {
            // A grade is a result whatever the score: only the grader's own failure is an error.
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("labs grade: {e}");
                ExitCode::from(2)
            }
        },
        Commands::Mutants(args) => verdict(instructor::mutants(&args)),
        Commands::Autograder { out } => verdict(instructor::autograder(&out)),
        // END INSTRUCTOR ONLY
        Commands::Run(args) => verdict(run(&args)),
    }
}

/// Exit 0 if everything passed, 1 if something failed, 2 if the command itself could not run.
pub fn verdict(result: Result<bool, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("labs: {e}");
            ExitCode::from(2)
        }
    }
}

fn handout(out: &std::path::Path) -> ExitCode {
    let result = workspace_root()
        .map_err(|e| e.to_string())
        .and_then(|root| labs::handout::generate(&root, out).map_err(|e| e.to_string()));
    match result {
        Ok(report) => {
            println!(
                "wrote {} files to {} ({} with solutions replaced by stubs: {}); left out: {}",
                report.files,
                out.display(),
                report.stubbed.len(),
                report.stubbed.join(", "),
                report.left_out.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("labs: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &RunArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let suites = &args.suites;
    let settings = SuiteRun {
        seeds: suites.seeds,
        jobs: suites.jobs(),
        time_limit: std::time::Duration::from_secs(args.time_limit),
    };
    let wanted = select_labs(&suites.labs)?;
    let root = workspace_root()?;
    let present = existing_suites(&root, &wanted);
    if present.is_empty() {
        println!(
            "no lab suites found under {}/tests (looked for {wanted:?})",
            root.display()
        );
        return Ok(true);
    }
    eprintln!("building {} ...", present.join(", "));
    let executables = build_suites(&root, &present)?;
    let mut planned = Vec::new();
    for (lab, exe) in executables {
        let tests = list_tests(&exe)?;
        planned.push((lab, exe, tests));
    }
    let total = planned
        .iter()
        .map(|(_, _, tests)| tests.len() as u64 * settings.seeds)
        .sum();
    let progress = progress_bar(total);
    let mut results = Vec::new();
    for (lab, exe, tests) in &planned {
        results.push(run_suite(lab, exe, tests, &settings, &progress)?);
    }
    progress.finish_and_clear();
    print!("{}", render_table(&results));
    Ok(results.iter().all(|r| r.ok()))
}
