//! Reader for Jepsen's log lines, as its etcd tests write them (the fields are separated by tabs):
//!
//! ```text
//! INFO  jepsen.util - 3 :invoke :cas [4 2]
//! INFO  jepsen.util - 3 :fail :cas [4 2]
//! INFO  jepsen.util - 7 :invoke :read nil
//! INFO  jepsen.util - 7 :ok :read 4
//! INFO  jepsen.util - 12 :info :write :timed-out
//! ```
//!
//! A line is an operation's event if, after `jepsen.util` and its separator (or at the start of
//! the line, as in Jepsen's `history.txt`), it has a process, a `:type` (`:invoke`, `:ok`,
//! `:fail`, `:info`), an `:f` and a value; whatever follows the value (an error) is ignored, and
//! so is every other line (the rest of the test's log) and the lines of non-numeric processes
//! such as `:nemesis`. Events pair up as in EDN (see `edn.rs`): a completion's value matters only
//! for a read's `:ok`. There is one register (no keys); time is the line number.
//!
//! In these tests a cas whose comparison failed is recorded as `:fail`, so by default a failed cas
//! is read as a cas that found another value ([`FailedCas::Mismatch`]).

use super::edn::{Builder, Event, EventKind, Value, op_kind, value_prefix};
use super::history::{FailedCas, History, HistoryError};

/// The fields of an event line: process, type, `:f` and the text from the value on.
struct Fields<'a> {
    process: &'a str,
    kind: EventKind,
    f: &'a str,
    rest: &'a str,
}

/// Splits off the first whitespace-separated token.
fn token(text: &str) -> Option<(&str, &str)> {
    let text = text.trim_start();
    if text.is_empty() {
        return None;
    }
    let end = text.find(char::is_whitespace).unwrap_or(text.len());
    Some((&text[..end], &text[end..]))
}

/// The event fields of a line, if it is an event line.
fn fields(line: &str) -> Option<Fields<'_>> {
    let body = match line.find("jepsen.util") {
        Some(at) => line[at + "jepsen.util".len()..]
            .trim_start_matches(|c: char| c.is_whitespace() || c == '-' || c == ':'),
        None => line,
    };
    let (process, rest) = token(body)?;
    let numeric = process.bytes().all(|b| b.is_ascii_digit());
    let keyword = process.len() > 1 && process.starts_with(':');
    if !numeric && !keyword {
        return None;
    }
    let (kind, rest) = token(rest)?;
    let kind = EventKind::parse(kind.strip_prefix(':')?)?;
    let (f, rest) = token(rest)?;
    let f = f.strip_prefix(':')?;
    if f.is_empty() {
        return None;
    }
    Some(Fields {
        process,
        kind,
        f,
        rest: rest.trim(),
    })
}

/// Whether the line is an operation's event (used to recognise the format).
pub(crate) fn is_op_line(line: &str) -> bool {
    fields(line).is_some_and(|f| !f.process.starts_with(':'))
}

/// Parses a whole log.
pub fn parse(text: &str, failed_cas: FailedCas) -> Result<History, HistoryError> {
    let mut builder = Builder::new(failed_cas);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let error = |reason: String| HistoryError::Edn {
            line: line_no,
            reason,
        };
        let Some(fields) = fields(line) else { continue };
        if fields.process.starts_with(':') {
            continue; // the nemesis
        }
        let process = fields
            .process
            .parse::<u64>()
            .map_err(|_| error(format!("process {} is too large", fields.process)))?;
        let f = op_kind(fields.f).map_err(error)?;
        let value = if fields.rest.is_empty() {
            None
        } else {
            Some(value_prefix(fields.rest).map_err(error)?.0)
        };
        let event = Event {
            process,
            kind: fields.kind,
            f,
            key: None,
            value: match (fields.kind, value) {
                // A completion's value other than a read's result (`:timed-out`) says nothing.
                (EventKind::Ok, v) | (EventKind::Invoke, v) => v,
                (_, _) => Some(Value::Nil),
            },
            version: None,
            status: None,
        };
        builder.event(line_no, event).map_err(error)?;
    }
    Ok(builder.finish())
}
