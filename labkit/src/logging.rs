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

/// The target of every server's `server{id=N}` span. It starts with `raft` so that directives such
/// as `raft[server{id=2}]=debug` select one server, and [`init`] always enables it, so that the
/// service's logs (`RUST_LOG=kvraft=debug` alone) carry the server's id too.
pub const SERVER_SPAN_TARGET: &str = "raft::server";

/// The filter for a `RUST_LOG` value (only warnings and errors without one, or with one that does
/// not parse), with the server spans always on.
fn filter(rust_log: Option<&str>) -> EnvFilter {
    rust_log
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("warn"))
        .add_directive(
            format!("{SERVER_SPAN_TARGET}=error")
                .parse()
                .expect("a constant, valid directive"),
        )
}

/// Install the subscriber once per process; later calls do nothing. Without `RUST_LOG` only
/// warnings and errors are shown. Colours only on a terminal (and never with `NO_COLOR` set), so a
/// log piped into a file or `grep` stays plain text.
pub fn init() {
    use std::io::IsTerminal;
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_timer(VirtualTime)
        .with_target(true)
        .with_test_writer()
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer, to read what the subscriber printed.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .expect("not poisoned")
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What one service event and one Raft event inside server 2's span print under `rust_log`.
    fn logged(rust_log: &str) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some(rust_log)))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span =
                tracing::span!(target: SERVER_SPAN_TARGET, tracing::Level::ERROR, "server", id = 2);
            let _entered = span.enter();
            tracing::debug!(target: "kvraft::server", "service event");
            tracing::debug!(target: "raft::raft", "raft event");
        });
        let bytes = buffer.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("UTF-8 logs")
    }

    #[test]
    fn service_logs_carry_the_server_id_without_raft_in_the_filter() {
        let out = logged("kvraft=debug");
        assert!(
            out.contains("server{id=2}: kvraft::server: service event"),
            "{out}"
        );
        assert!(!out.contains("raft event"), "{out}");
    }

    #[test]
    fn one_server_can_be_selected_by_its_span() {
        assert!(
            logged("raft[server{id=2}]=debug").contains("server{id=2}: raft::raft: raft event")
        );
        assert!(!logged("raft[server{id=1}]=debug").contains("raft event"));
    }

    #[test]
    fn without_a_usable_filter_only_warnings_show() {
        assert!(!logged("not a [valid filter").contains("event"));
    }
}
