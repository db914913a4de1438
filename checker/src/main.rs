//! The `checker` command line.
//!
//! `checker linearizability FILE` checks a recorded history: `.json` as the KV labs write it,
//! Jepsen-style EDN, or Jepsen's log lines (the format is detected from the content when the
//! extension does not say), against the key/value, register or versioned key/value model.
//! Exit codes: 0 linearizable, 1 not linearizable, 2 unknown (timed out or out of memory), 3 bad
//! input or usage.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use checker::linearizability::{
    CheckOptions, CheckReport, DEFAULT_MEMORY_LIMIT, FailedCas, History, HistoryFormat, ModelKind,
    OpKind, PartitionStatus, ReadOptions, Status, Verdict, check_history, write_html,
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
    /// Check that a recorded history is linearizable (key/value store, register with cas,
    /// versioned key/value store).
    ///
    /// Exit code 0: linearizable; 1: not linearizable (an HTML picture is written);
    /// 2: unknown (timed out or over the memory limit); 3: bad input.
    Linearizability(LinearizabilityArgs),
    /// Model-check the Raft in raft/src/raft.rs with stateright.
    ///
    /// Exit code 0: every safety property holds and every reachability property was reached;
    /// 1: a property was violated (a panic of the Raft is one), or never reached although the
    /// bound allows it; 2: a usage problem, or a bound too small to elect a leader or commit a
    /// command, or a search that stopped before it could tell.
    Check(checker::model::cli::CheckArgs),
    /// List the named presets (`check --preset NAME`): fixed bounds with time limits, one or more
    /// per Raft lab, as the grader runs them.
    Presets,
    /// Serve stateright's Explorer web UI for the Raft model.
    ///
    /// Exit code 2 if it cannot serve on the address.
    Explore(checker::model::cli::ExploreArgs),
}

#[derive(Args)]
struct LinearizabilityArgs {
    /// The history: .json (as the KV labs record it), Jepsen EDN (.edn), or Jepsen log lines
    /// (as its etcd tests write them); other extensions are recognised by their content.
    file: PathBuf,
    /// Read the file in this format instead of guessing.
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// The model to check against [default: versioned-kv if operations carry versions, register
    /// if there is a cas (or reads and writes without appends), else kv].
    #[arg(long, value_enum)]
    model: Option<ModelArg>,
    /// How to read a Jepsen :fail of a cas: ignore it like any :fail (Knossos), or as a cas that
    /// found another value (what Jepsen's etcd tests mean) [default: mismatch for log lines,
    /// ignore for EDN].
    #[arg(long, value_enum)]
    failed_cas: Option<FailedCasArg>,
    /// Give up after this many seconds and answer "unknown".
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Give up (answer "unknown") when the search's memo tables hold more than this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_MEMORY_LIMIT >> 20)]
    memory_limit: usize,
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
    /// Jepsen's log lines (`INFO  jepsen.util - 3 :invoke :cas [4 2]`).
    Log,
}

impl From<FormatArg> for HistoryFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Json => HistoryFormat::Json,
            FormatArg::Edn => HistoryFormat::Edn,
            FormatArg::Log => HistoryFormat::Log,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelArg {
    /// get / put / append on string keys.
    Kv,
    /// read / write / cas, one register per key (Jepsen's etcd tests).
    Register,
    /// get returns a value and a version; put carries the version it expects.
    VersionedKv,
}

impl From<ModelArg> for ModelKind {
    fn from(model: ModelArg) -> Self {
        match model {
            ModelArg::Kv => ModelKind::Kv,
            ModelArg::Register => ModelKind::Register,
            ModelArg::VersionedKv => ModelKind::VersionedKv,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum FailedCasArg {
    /// Drop it: it did not take effect and constrains nothing.
    Ignore,
    /// Keep it as a cas that ran and found another value than the expected one.
    Mismatch,
}

impl From<FailedCasArg> for FailedCas {
    fn from(arg: FailedCasArg) -> Self {
        match arg {
            FailedCasArg::Ignore => FailedCas::Ignore,
            FailedCasArg::Mismatch => FailedCas::Mismatch,
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
        Command::Presets => {
            print!("{}", checker::model::cli::describe_presets());
            ExitCode::SUCCESS
        }
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
    let mut options = CheckOptions::default()
        .partition_by_key(!args.no_partition)
        .memory_limit(args.memory_limit.saturating_mul(1 << 20));
    if let Some(secs) = args.timeout {
        let timeout = Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("--timeout {secs}: expected a non-negative number of seconds"))?;
        options = options.timeout(timeout);
    }
    let inferred = args.model.is_none();
    if let Some(model) = args.model {
        options = options.model(model.into());
    }
    let read = ReadOptions {
        failed_cas: args.failed_cas.map(FailedCas::from),
    };
    let format = args.format.map(HistoryFormat::from);
    let (history, format) =
        History::read_file_detailed(&args.file, format, &read).map_err(|e| e.to_string())?;
    let report = check_history(&history, &options).map_err(|e| e.to_string())?;
    let mut text = render_report(
        &args.file, &history, &report, &options, format, inferred, &read,
    );
    if report.verdict == Verdict::Illegal {
        let out = args
            .html
            .clone()
            .unwrap_or_else(|| args.file.with_extension("html"));
        // The verdict stands even if its picture cannot be written.
        match write_html(&history, &report.info, &out) {
            Ok(()) => text.push_str(&format!("picture: {}\n", out.display())),
            Err(e) => eprintln!("checker: warning: no picture: {e}"),
        }
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
    format: Option<HistoryFormat>,
    inferred: bool,
    read: &ReadOptions,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let info = &report.info;
    let ops = &history.operations;
    let pending = ops.iter().filter(|op| op.is_pending()).count();
    let count = |status| {
        info.partitions
            .iter()
            .filter(|p| p.status == status)
            .count()
    };
    let verdict = match report.verdict {
        Verdict::Unknown if count(PartitionStatus::TimedOut) > 0 => "unknown (timed out)".into(),
        Verdict::Unknown => "unknown (memory limit reached; see --memory-limit)".into(),
        v => v.to_string(),
    };
    let _ = writeln!(out, "{}: {verdict}", file.display());
    if let Some(model) = info.model {
        let how = if inferred {
            "from the operations; --model to choose"
        } else {
            "--model"
        };
        let format = format.map_or(String::new(), |f| format!(", read as {f}"));
        let _ = writeln!(out, "  model: {model} ({how}){format}");
    }
    if ops.is_empty() {
        let _ = writeln!(
            out,
            "  operations: 0: the history is empty, there is nothing to check"
        );
    } else {
        let _ = writeln!(
            out,
            "  operations: {} ({} with unknown outcome, {} ignored reads)",
            ops.len(),
            pending,
            info.ignored.len()
        );
        if pending == ops.len() {
            let _ = writeln!(
                out,
                "  note: no completed operations: nothing constrains the order"
            );
        }
    }
    if !history.failed.is_empty() {
        let _ = writeln!(
            out,
            "  failed: {} more operations failed (:fail): they did not take effect and are not \
             checked",
            history.failed.len()
        );
    }
    let failed_cas = ops
        .iter()
        .filter(|op| op.input.op == OpKind::Cas && op.output.status == Status::Fail)
        .count();
    if failed_cas > 0 && format.is_some_and(|f| f != HistoryFormat::Json) {
        let why = match read.failed_cas {
            Some(_) => "--failed-cas mismatch",
            None => "how Jepsen's etcd tests record them; --failed-cas ignore drops them",
        };
        let _ = writeln!(
            out,
            "  failed cas: {failed_cas} read as a cas that found another value ({why})"
        );
    }
    if !ops.is_empty() {
        let _ = writeln!(
            out,
            "  partitions: {} {} ({} linearizable, {} not, {} timed out, {} over the memory limit, \
             {} not checked)",
            info.partitions.len(),
            if options.partition_by_key {
                "(by key)"
            } else {
                "(not split by key)"
            },
            count(PartitionStatus::Linearizable),
            count(PartitionStatus::Illegal),
            count(PartitionStatus::TimedOut),
            count(PartitionStatus::MemoryLimit),
            count(PartitionStatus::NotChecked),
        );
    }
    let _ = writeln!(out, "  time: {:.3} s", report.elapsed.as_secs_f64());
    for partition in info
        .partitions
        .iter()
        .filter(|p| p.status == PartitionStatus::Illegal)
    {
        let name = match &partition.key {
            Some(key) if key.is_empty() && info.model == Some(ModelKind::Register) => {
                "the register".to_owned()
            }
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
