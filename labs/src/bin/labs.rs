//! `labs`: the lab framework's command line.
//!
//! - `labs run [--lab 2a ...] [--seeds N] [--jobs J]`: build and run every lab suite that exists
//!   (`tests/lab2a.rs` ... `tests/lab3b.rs`) against the code in this tree, with a progress display
//!   and a summary table; exits non-zero if any run failed.
//! - `labs handout --out DIR`: write the student repository (solutions replaced by stubs,
//!   instructor-only files left out).
//! - `labs mutants [--only NAME] [--lab LAB] [--seeds N]`: run the suites against every mutant in
//!   `labs/mutants/` and print which tests catch each; exits non-zero if one is not caught.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use labs::suites::{
    build_suites, existing_suites, list_tests, progress_bar, render_table, run_suite, select_labs,
    workspace_root,
};

#[derive(Parser)]
#[command(name = "labs", about = "raftlab: run the lab suites", version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// Which suites to run and how, shared by `run` and `mutants`.
#[derive(clap::Args)]
struct SuiteArgs {
    /// Which labs: 2a 2b 2c 2d 3a 3b, or all (default: all that exist; for `mutants`, 2a-2d).
    #[arg(long = "lab", value_name = "LAB")]
    labs: Vec<String>,
    /// Seeds per test (LAB_SEEDS).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Tests run in parallel within a suite (default: number of CPUs).
    #[arg(long)]
    jobs: Option<usize>,
}

impl SuiteArgs {
    fn jobs(&self) -> usize {
        self.jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

#[derive(Subcommand)]
enum Commands {
    /// Run the lab suites against the code in this tree and print a summary table.
    Run(SuiteArgs),
    /// Run the lab suites against every mutant of the catalog and show what catches each.
    Mutants {
        /// Only these mutants (by name; repeatable).
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        #[command(flatten)]
        suites: SuiteArgs,
    },
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
        Commands::Mutants { only, suites } => verdict(mutants(&only, &suites)),
        Commands::Run(suites) => verdict(run(&suites)),
    }
}

/// Exit 0 if everything passed, 1 if something failed, 2 if the command itself could not run.
fn verdict(result: Result<bool, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("labs: {e}");
            ExitCode::from(2)
        }
    }
}

fn mutants(only: &[String], suites: &SuiteArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let (labs, seeds, jobs) = (&suites.labs, suites.seeds, suites.jobs());
    use labs::mutants::{MutantRun, catalog, prepare_scratch, render_table, run_mutant};
    let root = workspace_root()?;
    let wanted = if labs.is_empty() {
        select_labs(&["2a".into(), "2b".into(), "2c".into(), "2d".into()])?
    } else {
        select_labs(labs)?
    };
    let present = existing_suites(&root, &wanted);
    let mut mutants = catalog(&root)?;
    if !only.is_empty() {
        mutants.retain(|m| only.contains(&m.name));
    }
    let work = root.join("target/mutants");
    let scratch = work.join("tree");
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("copying the repository to {} ...", scratch.display());
    prepare_scratch(&root, &scratch)?;
    let target_dir = work.join("target");
    let run = MutantRun {
        root: &root,
        scratch: &scratch,
        target_dir: &target_dir,
        labs: &present,
        seeds,
        jobs,
    };
    // The unpatched copy must build (and the build warms the shared target directory): otherwise
    // every mutant would "fail to build" for reasons of its own.
    eprintln!("building the unpatched copy ...");
    labs::suites::build_suites_with(&scratch, &present, Some(&target_dir))?;
    let progress = progress_bar(mutants.len() as u64);
    let mut results = Vec::new();
    for mutant in &mutants {
        progress.set_message(format!("{}: building and running the suites", mutant.name));
        results.push(run_mutant(&run, mutant)?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    print!("{}", render_table(&results));
    Ok(results.iter().all(|r| r.caught()))
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

fn run(suites: &SuiteArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let (seeds, jobs) = (suites.seeds, suites.jobs());
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
        planned.push((lab, exe, tests.len() as u64));
    }
    let total = planned.iter().map(|(_, _, n)| n * seeds).sum();
    let progress = progress_bar(total);
    let mut results = Vec::new();
    for (lab, exe, _) in &planned {
        results.push(run_suite(lab, exe, seeds, jobs, &progress)?);
    }
    progress.finish_and_clear();
    print!("{}", render_table(&results));
    Ok(results.iter().all(|r| r.ok()))
}
