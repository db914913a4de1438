//! The `checker` command line.
//!
//! `checker linearizability FILE` checks a recorded key/value history (`.json` as the KV labs write
//! it, or a Jepsen-style `.edn`/`.jepsen` file). Exit codes: 0 linearizable, 1 not linearizable,
//! 2 unknown (timed out), 3 bad input or usage.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use checker::linearizability::{
    CheckOptions, CheckReport, History, HistoryFormat, PartitionStatus, Verdict, check_history,
    write_html,
};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Model checking allocates and frees small blocks at a high rate (states, messages, logs), which
/// mimalloc does several times faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad input or usage.
const BAD_INPUT: u8 = 3;

#[derive(Parser)]
#[command(name = "checker", version, about = "raftlab's checkers", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check that a recorded key/value history is linearizable.
    ///
    /// Exit code 0: linearizable; 1: not linearizable (an HTML picture is written);
    /// 2: unknown (timed out); 3: bad input.
    Linearizability(LinearizabilityArgs),
    /// Model-check the Raft in raft/src/raft.rs with stateright.
    ///
    /// Exit code 0: every safety property holds and every reachability property was reached;
    /// 1: a property was violated (a panic of the Raft is one), or never reached although the
    /// bound allows it; 2: a usage problem, or a bound too small to elect a leader or commit a
    /// command, or a search that stopped before it could tell.
    Check(checker::model::cli::CheckArgs),
    /// Serve stateright's Explorer web UI for the Raft model.
    ///
    /// Exit code 2 if it cannot serve on the address.
    Explore(checker::model::cli::ExploreArgs),
}

#[derive(Args)]
struct LinearizabilityArgs {
    /// The history: .json (as the KV labs record it), or Jepsen-style .edn/.jepsen.
    file: PathBuf,
    /// Read the file in this format instead of guessing from its extension.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Give up after this many seconds and answer "unknown".
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Check the whole history as one search instead of key by key (much slower).
    #[arg(long)]
    no_partition: bool,
    /// Where to write the picture of a non-linearizable history [default: FILE with .html].
    #[arg(long, value_name = "OUT.html")]
    html: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Edn,
}

impl From<FormatArg> for HistoryFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Json => HistoryFormat::Json,
            FormatArg::Edn => HistoryFormat::Edn,
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            if !err.use_stderr() {
                return ExitCode::SUCCESS; // --help, --version
            }
            // `check` and `explore` say 2 for usage problems (1 is a bug of the Raft there).
            let model_command = std::env::args_os()
                .nth(1)
                .is_some_and(|c| c == "check" || c == "explore");
            return ExitCode::from(if model_command { 2 } else { BAD_INPUT });
        }
    };
    match cli.command {
        Command::Linearizability(args) => linearizability(&args),
        Command::Check(args) => checker::model::cli::run_check(&args),
        Command::Explore(args) => checker::model::cli::run_explore(&args),
    }
}

fn linearizability(args: &LinearizabilityArgs) -> ExitCode {
    match run_linearizability(args) {
        Ok(verdict) => ExitCode::from(match verdict {
            Verdict::Ok => 0,
            Verdict::Illegal => 1,
            Verdict::Unknown => 2,
        }),
        Err(message) => {
            eprintln!("checker: {message}");
            ExitCode::from(BAD_INPUT)
        }
    }
}

fn run_linearizability(args: &LinearizabilityArgs) -> Result<Verdict, String> {
    let mut options = CheckOptions::default().partition_by_key(!args.no_partition);
    if let Some(secs) = args.timeout {
        let timeout = Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("--timeout {secs}: expected a non-negative number of seconds"))?;
        options = options.timeout(timeout);
    }
    let format = args.format.map(HistoryFormat::from);
    let history = History::read_file(&args.file, format).map_err(|e| e.to_string())?;
    let report = check_history(&history, &options).map_err(|e| e.to_string())?;
    let mut text = render_report(&args.file, &history, &report, &options);
    if report.verdict == Verdict::Illegal {
        let out = args
            .html
            .clone()
            .unwrap_or_else(|| args.file.with_extension("html"));
        write_html(&history, &report.info, &out).map_err(|e| e.to_string())?;
        text.push_str(&format!("picture: {}\n", out.display()));
    }
    // A reader that went away (`checker ... | head`) ends the command quietly, with its verdict.
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write the report: {e}"))
        }
        _ => Ok(report.verdict),
    }
}

/// The report, as printed.
fn render_report(
    file: &Path,
    history: &History,
    report: &CheckReport,
    options: &CheckOptions,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let info = &report.info;
    let pending = history
        .operations
        .iter()
        .filter(|op| op.is_pending())
        .count();
    let _ = writeln!(out, "{}: {}", file.display(), report.verdict);
    let _ = writeln!(
        out,
        "  operations: {} ({} with unknown outcome, {} ignored gets)",
        history.operations.len(),
        pending,
        info.ignored.len()
    );
    let count = |status| {
        info.partitions
            .iter()
            .filter(|p| p.status == status)
            .count()
    };
    let _ = writeln!(
        out,
        "  partitions: {} {} ({} linearizable, {} not, {} timed out, {} not checked)",
        info.partitions.len(),
        if options.partition_by_key {
            "(by key)"
        } else {
            "(not split by key)"
        },
        count(PartitionStatus::Linearizable),
        count(PartitionStatus::Illegal),
        count(PartitionStatus::TimedOut),
        count(PartitionStatus::NotChecked),
    );
    let _ = writeln!(out, "  time: {:.3} s", report.elapsed.as_secs_f64());
    for partition in info
        .partitions
        .iter()
        .filter(|p| p.status == PartitionStatus::Illegal)
    {
        let name = match &partition.key {
            Some(key) => format!("key {key:?}"),
            None => "the history".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {name}: at most {} of {} operations linearize; then none of these can come next:",
            partition.linearization.len(),
            partition.operations.len()
        );
        for stuck in &partition.stuck {
            let _ = writeln!(
                out,
                "    client {}: {}",
                history.operations[stuck.op].client, stuck.reason
            );
        }
    }
    out
}
