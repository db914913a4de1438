//! Logs for lab runs: `tracing` events filtered by `RUST_LOG` (for example `RUST_LOG=raft=debug`),
//! stamped with the run's **virtual** time, captured per test by the test harness.

use std::fmt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// Formats timestamps as the virtual time of the current run (`  12.345s`).
struct VirtualTime;

impl FormatTime for VirtualTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match crate::sim::current_virtual_time() {
            Some(t) => write!(w, "{:>9.3}s", t.as_secs_f64()),
            None => write!(w, "{:>10}", "-"),
        }
    }
}

/// Install the subscriber once per process; later calls do nothing. Without `RUST_LOG` only
/// warnings and errors are shown. Colours only on a terminal (and never with `NO_COLOR` set), so a
/// log piped into a file or `grep` stays plain text.
pub fn init() {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_timer(VirtualTime)
        .with_target(true)
        .with_test_writer()
        .try_init();
}
