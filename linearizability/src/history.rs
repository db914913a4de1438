//! The recorded history: what each client asked for, what it was told, and when.
//!
//! One operation type serves the three built-in models (see [`super::model`]): the lab's key/value
//! store (get/put/append), Jepsen's register (read/write/cas) and the versioned key/value store of
//! the current MIT labs (get returns a value and a version; put carries the version it expects).
//! Which fields an operation uses depends on its [`OpKind`]; a model rejects the kinds it does not
//! know. A custom model (a lab's own) brings its own input and output types and uses
//! [`Operation`] and [`History`] with them.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Return time of an operation whose outcome is unknown: the client gave up on it or crashed, so it
/// may or may not have taken effect, at any point after its call.
pub const UNKNOWN_RETURN: u64 = u64::MAX;

/// What an operation does. The key/value words (get, put, append) and Jepsen's register words
/// (read, write, cas) are kept apart so that a history says which model it was written for; the
/// models accept both words for a read and a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpKind {
    /// Read the current value of a key (`""` if the key was never written, in the KV model).
    #[serde(alias = "get")]
    Get,
    /// Replace the value of a key; with a version, the versioned store's conditional put.
    #[serde(alias = "put")]
    Put,
    /// Append to the value of a key (appending to an absent key appends to `""`).
    #[serde(alias = "append")]
    Append,
    /// Jepsen's register read (a get).
    #[serde(alias = "read")]
    Read,
    /// Jepsen's register write (a put).
    #[serde(alias = "write")]
    Write,
    /// Compare-and-set: set the value to `value` if it equals `expected`.
    #[serde(alias = "cas")]
    Cas,
}

impl OpKind {
    /// Lower-case name, as in `get("k")`.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Append => "append",
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Cas => "cas",
        }
    }

    /// Whether this is a read (get or read).
    pub fn is_read(self) -> bool {
        matches!(self, OpKind::Get | OpKind::Read)
    }

    /// Whether this is a plain write (put or write).
    pub fn is_write(self) -> bool {
        matches!(self, OpKind::Put | OpKind::Write)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name the key/value lab's code uses.
pub type KvOp = OpKind;

/// How an operation that returned turned out (beyond its value).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Status {
    /// It did what it was asked (a cas found the expected value; a versioned put was applied).
    #[default]
    #[serde(rename = "OK", alias = "Ok", alias = "ok")]
    Ok,
    /// A cas that found another value than the expected one and changed nothing: Jepsen's etcd
    /// tests record such a cas as `:fail` (see `FailedCas`).
    #[serde(alias = "fail", alias = "Failed")]
    Fail,
    /// A versioned put whose version did not match the key's: nothing changed.
    ErrVersion,
    /// A versioned get of an absent key, or a versioned put with a nonzero version to an absent
    /// key (nothing changed).
    ErrNoKey,
    /// A versioned put that the clerk retried and that then found another version: the first
    /// attempt may or may not have been applied, so it is accepted either way.
    ErrMaybe,
}

impl Status {
    /// Whether this is [`Status::Ok`] (JSON leaves it out).
    pub fn is_ok(&self) -> bool {
        *self == Status::Ok
    }

    /// The name as the labs spell it (`OK`, `ErrVersion`, ...) or `fail`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Fail => "fail",
            Status::ErrVersion => "ErrVersion",
            Status::ErrNoKey => "ErrNoKey",
            Status::ErrMaybe => "ErrMaybe",
        }
    }

    /// Reads a status as written in a history: `OK`, `ok`, `ErrVersion`, `err-version`,
    /// `:ErrNoKey` ... (case and dashes do not matter).
    pub fn parse(text: &str) -> Option<Self> {
        let normal: String = text
            .trim_start_matches(':')
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        Some(match normal.as_str() {
            "ok" => Status::Ok,
            "fail" | "failed" => Status::Fail,
            "errversion" => Status::ErrVersion,
            "errnokey" => Status::ErrNoKey,
            "errmaybe" => Status::ErrMaybe,
            _ => return None,
        })
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Input {
    pub op: OpKind,
    /// The key (`""` for Jepsen's single register; absent in JSON means `""`).
    #[serde(default)]
    pub key: String,
    /// The argument of a put, append or write, and the new value of a cas. `None` is `nil` (for
    /// a key/value store: `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value a cas expects (`None`: `nil`, the register's initial value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The version a versioned put expects the key to have (0: the key must be absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
}

/// The name the key/value lab's code uses.
pub type KvInput = Input;

/// What a client was told.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Output {
    /// The value a get or read returned: `None` is `nil` (an absent key; for the KV model, `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The version a versioned get returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// How it turned out: a cas that found another value, a versioned put's error.
    #[serde(default, skip_serializing_if = "Status::is_ok")]
    pub status: Status,
}

impl Output {
    /// The value read, with `nil` as `""` (how the key/value store reads an absent key).
    pub fn text(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// The name the key/value lab's code uses.
pub type KvOutput = Output;

/// One client operation with its real-time window `[call, ret]` (in virtual nanoseconds, or any
/// increasing clock: Jepsen files use line numbers).
///
/// `ret == UNKNOWN_RETURN` marks an operation whose outcome is unknown. Two operations are ordered in
/// real time only if one returned strictly before the other was called; equal times overlap.
///
/// The input and output types default to the built-in models' [`Input`] and [`Output`]; a custom
/// [`Model`](super::Model) brings its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operation<I = Input, O = Output> {
    /// Which client (clerk, Jepsen process) ran it; only used to draw the picture.
    pub client: u64,
    pub input: I,
    /// When the client called it.
    pub call: u64,
    /// What it returned; ignored when the outcome is unknown.
    pub output: O,
    /// When it returned to the client, or `UNKNOWN_RETURN`.
    pub ret: u64,
}

impl<I, O> Operation<I, O> {
    /// Whether the outcome of this operation is unknown (`ret == UNKNOWN_RETURN`).
    pub fn is_pending(&self) -> bool {
        self.ret == UNKNOWN_RETURN
    }

    /// The output, or `None` when the outcome is unknown.
    pub fn known_output(&self) -> Option<&O> {
        (!self.is_pending()).then_some(&self.output)
    }
}

fn text(value: &str) -> Option<String> {
    Some(value.to_owned())
}

impl Operation {
    fn with(client: u64, input: Input, output: Output, call: u64, ret: u64) -> Self {
        Self {
            client,
            input,
            call,
            output,
            ret,
        }
    }

    fn input(op: OpKind, key: &str, value: Option<String>) -> Input {
        Input {
            op,
            key: key.to_owned(),
            value,
            expected: None,
            version: None,
        }
    }

    /// A get of `key` that returned `value` (key/value store).
    pub fn get(client: u64, key: &str, call: u64, ret: u64, value: &str) -> Self {
        let output = Output {
            value: text(value),
            ..Output::default()
        };
        Self::with(
            client,
            Self::input(OpKind::Get, key, None),
            output,
            call,
            ret,
        )
    }

    /// A put of `value` to `key` (key/value store).
    pub fn put(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Self {
        let input = Self::input(OpKind::Put, key, text(value));
        Self::with(client, input, Output::default(), call, ret)
    }

    /// An append of `value` to `key` (key/value store).
    pub fn append(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Self {
        let input = Self::input(OpKind::Append, key, text(value));
        Self::with(client, input, Output::default(), call, ret)
    }

    /// A register read of `key` (`""` for a single register) that returned `value` (`None`: nil).
    pub fn read(client: u64, key: &str, call: u64, ret: u64, value: Option<&str>) -> Self {
        let output = Output {
            value: value.map(str::to_owned),
            ..Output::default()
        };
        Self::with(
            client,
            Self::input(OpKind::Read, key, None),
            output,
            call,
            ret,
        )
    }

    /// A register write of `value`.
    pub fn write(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Self {
        let input = Self::input(OpKind::Write, key, text(value));
        Self::with(client, input, Output::default(), call, ret)
    }

    /// A compare-and-set from `expected` (`None`: nil) to `value`; `ok` says whether it found
    /// the expected value (and set the new one) or found another ([`Status::Fail`]).
    #[allow(clippy::too_many_arguments)]
    pub fn cas(
        client: u64,
        key: &str,
        expected: Option<&str>,
        value: &str,
        call: u64,
        ret: u64,
        ok: bool,
    ) -> Self {
        let mut input = Self::input(OpKind::Cas, key, text(value));
        input.expected = expected.map(str::to_owned);
        let output = Output {
            status: if ok { Status::Ok } else { Status::Fail },
            ..Output::default()
        };
        Self::with(client, input, output, call, ret)
    }

    /// A versioned get that returned `value` at `version`, or `ErrNoKey` for `None`.
    pub fn versioned_get(
        client: u64,
        key: &str,
        call: u64,
        ret: u64,
        found: Option<(&str, u64)>,
    ) -> Self {
        let output = match found {
            Some((value, version)) => Output {
                value: text(value),
                version: Some(version),
                status: Status::Ok,
            },
            None => Output {
                status: Status::ErrNoKey,
                ..Output::default()
            },
        };
        Self::with(
            client,
            Self::input(OpKind::Get, key, None),
            output,
            call,
            ret,
        )
    }

    /// A versioned put of `value` expecting `version`, which returned `status`.
    #[allow(clippy::too_many_arguments)]
    pub fn versioned_put(
        client: u64,
        key: &str,
        value: &str,
        version: u64,
        call: u64,
        ret: u64,
        status: Status,
    ) -> Self {
        let mut input = Self::input(OpKind::Put, key, text(value));
        input.version = Some(version);
        let output = Output {
            status,
            ..Output::default()
        };
        Self::with(client, input, output, call, ret)
    }

    /// Whether this operation belongs to the versioned key/value store: a put with a version, or
    /// a get that returned a version or `ErrNoKey`, or a versioned error.
    pub fn is_versioned(&self) -> bool {
        self.input.version.is_some()
            || self.output.version.is_some()
            || matches!(
                self.output.status,
                Status::ErrVersion | Status::ErrNoKey | Status::ErrMaybe
            )
    }

    /// A short human-readable description, e.g. `append("k", "x 1 0 y")`, `get("k") -> "v"`,
    /// `cas(4, 2) -> fail`, `put("k", "v", version 3) -> ErrVersion`.
    pub fn describe(&self) -> String {
        let pending = self.is_pending();
        let input = &self.input;
        let out = &self.output;
        let key = &input.key;
        let reg_key = if key.is_empty() {
            String::new()
        } else {
            format!("{key:?}")
        };
        let with_key = |rest: String| {
            if key.is_empty() {
                rest
            } else if rest.is_empty() {
                format!("{key:?}")
            } else {
                format!("{key:?}, {rest}")
            }
        };
        let result = |known: String| if pending { "?".to_owned() } else { known };
        match input.op {
            OpKind::Get if self.is_versioned() => {
                let got = match out.status {
                    Status::ErrNoKey => "ErrNoKey".to_owned(),
                    _ => format!(
                        "({:?}, version {})",
                        out.text(),
                        out.version.map_or("?".to_owned(), |v| v.to_string())
                    ),
                };
                format!("get({key:?}) -> {}", result(got))
            }
            OpKind::Get => format!("get({key:?}) -> {}", result(format!("{:?}", out.text()))),
            OpKind::Put if input.version.is_some() => format!(
                "put({key:?}, {:?}, version {}) -> {}",
                input.value.as_deref().unwrap_or(""),
                input.version.unwrap_or_default(),
                result(out.status.name().to_owned())
            ),
            OpKind::Put | OpKind::Append => format!(
                "{}({key:?}, {:?})",
                input.op,
                input.value.as_deref().unwrap_or("")
            ),
            OpKind::Read => format!(
                "read({reg_key}) -> {}",
                result(register_value(out.value.as_deref()))
            ),
            OpKind::Write => format!(
                "write({})",
                with_key(register_value(input.value.as_deref()))
            ),
            OpKind::Cas => {
                let outcome = match out.status {
                    Status::Ok => "ok",
                    _ => "fail",
                };
                format!(
                    "cas({}) -> {}",
                    with_key(format!(
                        "{}, {}",
                        register_value(input.expected.as_deref()),
                        register_value(input.value.as_deref())
                    )),
                    result(outcome.to_owned())
                )
            }
        }
    }
}

/// A register value as people write it: numbers bare, `nil` for none, other text quoted.
pub fn register_value(value: Option<&str>) -> String {
    match value {
        None => "nil".to_owned(),
        Some(v) if looks_numeric(v) => v.to_owned(),
        Some(v) => format!("{v:?}"),
    }
}

fn looks_numeric(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A whole recorded history. Its JSON form is `{"operations": [...]}`, one object per
/// [`Operation`], plus `"failed": [...]` when some operations are known not to have happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<I = Input, O = Output> {
    /// The operations to check: those that returned, and those whose outcome is unknown.
    pub operations: Vec<Operation<I, O>>,
    /// Operations that definitely did not take effect (Jepsen's `:fail`): they are not checked and
    /// constrain nothing; kept to be listed in reports and pictures.
    #[serde(default = "Vec::new", skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<Operation<I, O>>,
}

impl<I, O> Default for History<I, O> {
    fn default() -> Self {
        Self {
            operations: Vec::new(),
            failed: Vec::new(),
        }
    }
}

/// The file formats a history can be read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFormat {
    /// `{"operations": [...]}` as written by [`History::to_json`].
    Json,
    /// Jepsen-style EDN, one `{:process 0, :type :invoke, :f :cas, :value [1 2]}` map per line.
    Edn,
    /// Jepsen's log lines, as its etcd tests write them: `INFO  jepsen.util - 3 :invoke :cas [4 2]`
    /// (also Jepsen's `history.txt`: the same lines without the logger's prefix).
    Log,
}

impl HistoryFormat {
    /// The format implied by a file's extension: `.json`, or `.edn`/`.jepsen`; `None` for others
    /// (then the content decides, see [`HistoryFormat::detect`]).
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Self::Json),
            "edn" | "jepsen" => Some(Self::Edn),
            _ => None,
        }
    }

    /// The format the text is written in, from its first lines that say anything: a JSON object,
    /// EDN maps, or Jepsen log lines. `None` if it looks like none of them. (An empty text has no
    /// format; it reads as an empty history in every format.)
    pub fn detect(text: &str) -> Option<Self> {
        let start = text.trim_start();
        if start.starts_with('{') && start[1..].trim_start().starts_with(['"', '}']) {
            return Some(Self::Json);
        }
        for line in text.lines().take(10_000) {
            let line = line.trim();
            if line.is_empty() || line.starts_with(';') {
                continue;
            }
            if super::log::is_op_line(line) {
                return Some(Self::Log);
            }
            let map = line.trim_start_matches('[').trim_start();
            if map.starts_with("{:") {
                return Some(Self::Edn);
            }
        }
        None
    }
}

impl fmt::Display for HistoryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Edn => "edn",
            Self::Log => "jepsen log",
        })
    }
}

/// How to read a Jepsen `:fail` of a cas.
///
/// Jepsen's `:fail` means the operation did not take effect. A cas that did not take effect may
/// still have run: Jepsen's etcd tests record a cas whose comparison failed (the register held
/// another value) as `:fail`. Knossos drops every `:fail`; porcupine's reading of the etcd logs
/// keeps a failed cas as a cas that found another value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailedCas {
    /// Drop it, like every other `:fail` (Knossos): it constrains nothing.
    Ignore,
    /// Keep it as a cas that ran and found another value than the expected one
    /// ([`Status::Fail`]): it changed nothing, and at some point between its call and its return the
    /// register did not hold the expected value.
    Mismatch,
}

/// Options for reading history files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// How to read a failed cas; `None`: [`FailedCas::Mismatch`] for Jepsen log lines (what the
    /// etcd tests that write them mean) and [`FailedCas::Ignore`] for EDN (Knossos's reading).
    pub failed_cas: Option<FailedCas>,
}

/// Everything that can be wrong with a history or its file.
#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("{}: no such file", path.display())]
    Missing { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid JSON history: {0}")]
    Json(#[from] serde_json::Error),
    #[error("line {line}: {reason}")]
    Edn { line: usize, reason: String },
    #[error("operation {index}: {reason}")]
    InvalidOperation { index: usize, reason: String },
    #[error(
        "cannot tell the format of {}: neither JSON, nor EDN maps, nor Jepsen log lines \
         (use --format)",
        .0.display()
    )]
    UnknownFormat(PathBuf),
    #[error("operation {index} ({operation}): the {model} model has no such operation ({reason})")]
    Unsupported {
        index: usize,
        operation: String,
        model: String,
        reason: String,
    },
}

impl<I, O> History<I, O> {
    /// A history of these operations.
    pub fn new(operations: Vec<Operation<I, O>>) -> Self {
        Self {
            operations,
            failed: Vec::new(),
        }
    }

    /// Checks what the checker relies on: every operation is called no later than it returns.
    pub fn validate(&self) -> Result<(), HistoryError> {
        validate(&self.operations)
    }

    /// How many operations returned (their outcome is known).
    pub fn completed(&self) -> usize {
        self.operations.iter().filter(|op| !op.is_pending()).count()
    }
}

/// Checks that every operation is called no later than it returns.
pub(crate) fn validate<I, O>(operations: &[Operation<I, O>]) -> Result<(), HistoryError> {
    for (index, op) in operations.iter().enumerate() {
        if op.call > op.ret {
            return Err(HistoryError::InvalidOperation {
                index,
                reason: format!("returns at {} before it is called at {}", op.ret, op.call),
            });
        }
        if op.call == UNKNOWN_RETURN {
            return Err(HistoryError::InvalidOperation {
                index,
                reason: format!("call time {} is reserved for unknown returns", op.call),
            });
        }
    }
    Ok(())
}

impl History {
    /// Parses the JSON form and validates it.
    pub fn from_json(text: &str) -> Result<Self, HistoryError> {
        let history: Self = serde_json::from_str(text)?;
        history.validate()?;
        Ok(history)
    }

    /// The JSON form (pretty-printed, one field per line).
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and integers to a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a Jepsen-style EDN history (see `edn.rs`), reading a failed cas as Knossos does.
    pub fn from_edn(text: &str) -> Result<Self, HistoryError> {
        Self::parse(text, HistoryFormat::Edn, &ReadOptions::default())
    }

    /// Parses Jepsen log lines (see `log.rs`), reading a failed cas as the etcd tests mean it.
    pub fn from_log(text: &str) -> Result<Self, HistoryError> {
        Self::parse(text, HistoryFormat::Log, &ReadOptions::default())
    }

    /// Parses a history in the given format.
    pub fn parse(
        text: &str,
        format: HistoryFormat,
        options: &ReadOptions,
    ) -> Result<Self, HistoryError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        match format {
            HistoryFormat::Json => Self::from_json(text),
            HistoryFormat::Edn => {
                super::edn::parse(text, options.failed_cas.unwrap_or(FailedCas::Ignore))
            }
            HistoryFormat::Log => {
                super::log::parse(text, options.failed_cas.unwrap_or(FailedCas::Mismatch))
            }
        }
    }

    /// Reads a history file; the format comes from `format`, else from the file's extension, else
    /// from its content.
    pub fn read_file(path: &Path, format: Option<HistoryFormat>) -> Result<Self, HistoryError> {
        Self::read_file_with(path, format, &ReadOptions::default())
    }

    /// [`History::read_file`] with options; also returns the format it was read in (`None` for
    /// an empty file).
    pub fn read_file_with(
        path: &Path,
        format: Option<HistoryFormat>,
        options: &ReadOptions,
    ) -> Result<Self, HistoryError> {
        Self::read_file_detailed(path, format, options).map(|(history, _)| history)
    }

    /// [`History::read_file_with`], also returning the format used (`None` for an empty file).
    pub fn read_file_detailed(
        path: &Path,
        format: Option<HistoryFormat>,
        options: &ReadOptions,
    ) -> Result<(Self, Option<HistoryFormat>), HistoryError> {
        let text = fs::read_to_string(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => HistoryError::Missing {
                path: path.to_owned(),
            },
            _ => HistoryError::Read {
                path: path.to_owned(),
                source,
            },
        })?;
        if text.trim().is_empty() {
            return Ok((Self::default(), format));
        }
        let format = format
            .or_else(|| HistoryFormat::from_path(path))
            .or_else(|| HistoryFormat::detect(&text))
            .ok_or_else(|| HistoryError::UnknownFormat(path.to_owned()))?;
        Ok((Self::parse(&text, format, options)?, Some(format)))
    }

    /// Writes the JSON form to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), HistoryError> {
        fs::write(path, self.to_json()).map_err(|source| HistoryError::Write {
            path: path.to_owned(),
            source,
        })
    }
}
