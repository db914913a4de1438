//! The instructor's subcommands, `grade` and `mutants` (left out of the student handout).

use std::path::{Path, PathBuf};
use std::time::Duration;

use labs::grade::isolation::default_scratch;
use labs::grade::report::points;
use labs::grade::{
    GradeError, GradeOptions, Grader, Rubric, batch_submissions, write_csv, write_results,
};
use labs::mutants::{catalog_in, grade_mutant, render_table};
use labs::suites::{progress_bar, select_labs, workspace_root};

use crate::SuiteArgs;

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["submission", "batch"])))]
pub struct GradeArgs {
    /// The submission: a student's repository, that repository inside one folder, or the bare
    /// student files (raft.rs, messages.rs, common.rs, server.rs, client.rs).
    #[arg(long, value_name = "DIR")]
    pub submission: Option<PathBuf>,
    /// Grade every sub-folder of DIR as a submission, and write grades.csv.
    #[arg(long, value_name = "DIR")]
    pub batch: Option<PathBuf>,
    #[command(flatten)]
    pub suites: SuiteArgs,
    /// Real-time limit of one test run (one test, one seed), in seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..))]
    pub time_limit: u64,
    /// Where to write results (default: target/grade/results).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Points per test (default: labs/rubric.toml).
    #[arg(long, value_name = "FILE")]
    pub rubric: Option<PathBuf>,
    /// Scratch folder for the pristine copy, the work tree and their cargo target directory; it
    /// must not be inside a checkout with solutions (default: /var/cache/raftlab/grade as root,
    /// else ~/.cache/raftlab/grade).
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    /// Memory cap of one test run, in MiB (a run over it fails with "exceeded the memory limit").
    #[arg(long, value_name = "MIB", default_value_t = labs::grade::DEFAULT_MEMORY_LIMIT_MIB, value_parser = clap::value_parser!(u64).range(16..))]
    pub memory_limit: u64,
}

#[derive(clap::Args)]
pub struct MutantsArgs {
    /// Only these mutants (by name; repeatable).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// The folder of mutant patches [default: labs/mutants].
    #[arg(long, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// Where the pristine copy, the work tree and its target directory live [default:
    /// ~/.cache/raftlab/mutants, or /var/cache/raftlab/mutants as root].
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<PathBuf>,
    #[command(flatten)]
    pub suites: SuiteArgs,
}

/// A grader for `args`' labs, seeds and jobs, writing its pristine copy under `scratch`.
fn grader(
    root: &Path,
    scratch: &Path,
    rubric: &Path,
    suites: &SuiteArgs,
    time_limit: Duration,
    memory_limit_mib: u64,
) -> Result<Grader, Box<dyn std::error::Error>> {
    let rubric = Rubric::load(rubric)?;
    let options = GradeOptions {
        labs: select_labs(&suites.labs)?,
        seeds: suites.seeds,
        jobs: suites.jobs(),
        time_limit,
        memory_limit_mib: Some(memory_limit_mib),
        ..GradeOptions::default()
    };
    eprintln!("writing the pristine copy under {} ...", scratch.display());
    Ok(Grader::new(root, scratch, rubric, options)?)
}

pub fn grade(args: &GradeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let root = workspace_root()?;
    let scratch = args
        .scratch
        .clone()
        .unwrap_or_else(|| default_scratch("grade"));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| root.join("target/grade/results"));
    let rubric = args
        .rubric
        .clone()
        .unwrap_or_else(|| root.join("labs/rubric.toml"));
    let grader = grader(
        &root,
        &scratch,
        &rubric,
        &args.suites,
        Duration::from_secs(args.time_limit),
        args.memory_limit,
    )?;
    let submissions = match (&args.submission, &args.batch) {
        (Some(dir), _) => vec![(submission_name(dir), dir.clone(), out.clone())],
        (None, Some(folder)) => batch_submissions(folder)?
            .into_iter()
            .map(|(name, dir)| (name.clone(), dir, out.join(name)))
            .collect(),
        (None, None) => unreachable!("clap requires --submission or --batch"),
    };
    let progress = progress_bar(submissions.len() as u64);
    let mut grades = Vec::new();
    // A build the machine failed (full disk, killed compiler) grades nothing: that submission
    // gets no results at all (never a zero it did not earn), the batch goes on, and the
    // command fails at the end naming it.
    let mut not_graded = Vec::new();
    for (name, dir, out) in &submissions {
        let grade = match grader.grade(dir, name, &progress) {
            Ok(grade) => grade,
            Err(e @ GradeError::BuildEnvironment(_)) => {
                progress.suspend(|| eprintln!("{name}: NOT GRADED: {e}"));
                not_graded.push(name.clone());
                progress.inc(1);
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        write_results(&grade, out)?;
        progress.suspend(|| {
            println!(
                "{name}: {} / {} points  ({})",
                points(grade.score()),
                points(grade.max_score()),
                out.join("report.md").display()
            )
        });
        progress.inc(1);
        grades.push(grade);
    }
    progress.finish_and_clear();
    if args.batch.is_some() {
        let csv = out.join("grades.csv");
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        write_csv(&grades, &grader.options().labs, &csv)?;
        println!("{} submissions graded: {}", grades.len(), csv.display());
    }
    if !not_graded.is_empty() {
        return Err(format!(
            "{} submission(s) not graded because their build failed for reasons outside their \
             code: {} (grade them again once the machine is fixed)",
            not_graded.len(),
            not_graded.join(", ")
        )
        .into());
    }
    Ok(())
}

/// A submission's name: its folder's name (of the current directory for `.`).
fn submission_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "submission".to_string())
}

pub fn mutants(args: &MutantsArgs) -> Result<bool, Box<dyn std::error::Error>> {
    let (only, suites) = (&args.only, &args.suites);
    let root = workspace_root()?;
    let dir = args
        .catalog
        .clone()
        .unwrap_or_else(|| root.join("labs/mutants"));
    let mut mutants = catalog_in(&dir)?;
    if !only.is_empty() {
        if let Some(unknown) = only.iter().find(|n| !mutants.iter().any(|m| &m.name == *n)) {
            return Err(format!("no mutant named {unknown:?} in {}", dir.display()).into());
        }
        mutants.retain(|m| only.contains(&m.name));
    }
    let work = args
        .scratch
        .clone()
        .unwrap_or_else(|| default_scratch("mutants"));
    let grader = grader(
        &root,
        &work,
        &root.join("labs/rubric.toml"),
        suites,
        Duration::from_secs(120),
        labs::grade::DEFAULT_MEMORY_LIMIT_MIB,
    )?;
    let submissions = work.join("submissions");
    let progress = progress_bar(mutants.len() as u64);
    let mut results = Vec::new();
    for mutant in &mutants {
        progress.set_message(format!("{}: building and grading", mutant.name));
        results.push(grade_mutant(&grader, &root, mutant, &submissions)?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    print!("{}", render_table(&results));
    Ok(results.iter().all(|r| r.caught()))
}

/// `labs autograder --out DIR`.
pub fn autograder(out: &Path) -> Result<bool, Box<dyn std::error::Error>> {
    let root = workspace_root()?;
    let report = labs::handout::generate_autograder(&root, out)?;
    println!(
        "wrote the autograder source ({} files; {} with solutions replaced by stubs; {} left out) to {}",
        report.files,
        report.stubbed.len(),
        report.left_out.len(),
        out.display()
    );
    Ok(true)
}
