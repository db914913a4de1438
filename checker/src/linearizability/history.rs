//! The recorded history: what each client asked for, what it was told, and when.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Return time of an operation whose outcome is unknown: the client gave up on it or crashed, so it
/// may or may not have taken effect, at any point after its call.
pub const UNKNOWN_RETURN: u64 = u64::MAX;

/// The three operations of the lab's key/value service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KvOp {
    /// Read the current value of a key (`""` if the key was never written).
    #[serde(alias = "get")]
    Get,
    /// Replace the value of a key.
    #[serde(alias = "put")]
    Put,
    /// Append to the value of a key (appending to an absent key appends to `""`).
    #[serde(alias = "append")]
    Append,
}

impl KvOp {
    /// Lower-case name, as in `get("k")`.
    pub fn name(self) -> &'static str {
        match self {
            KvOp::Get => "get",
            KvOp::Put => "put",
            KvOp::Append => "append",
        }
    }
}

impl fmt::Display for KvOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a client asked for. `value` is the argument of a put or an append and is ignored for a get.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvInput {
    pub op: KvOp,
    pub key: String,
    /// The put or append argument (absent in JSON means `""`).
    #[serde(default)]
    pub value: String,
}

/// What a client was told. For a get: the value it read (`""` for an absent key); ignored for a put
/// or an append.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvOutput {
    /// The value a get read (absent in JSON means `""`).
    #[serde(default)]
    pub value: String,
}

/// One client operation with its real-time window `[call, ret]` in virtual nanoseconds.
///
/// `ret == UNKNOWN_RETURN` marks an operation whose outcome is unknown. Two operations are ordered in
/// real time only if one returned strictly before the other was called; equal times overlap.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operation {
    /// Which client (clerk) ran it; only used to draw the picture.
    pub client: u64,
    pub input: KvInput,
    /// When the client called it.
    pub call: u64,
    pub output: KvOutput,
    /// When it returned to the client, or `UNKNOWN_RETURN`.
    pub ret: u64,
}

impl Operation {
    /// A get of `key` that returned `value`.
    pub fn get(client: u64, key: &str, call: u64, ret: u64, value: &str) -> Self {
        Self::new(client, KvOp::Get, key, "", value, call, ret)
    }

    /// A put of `value` to `key`.
    pub fn put(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Self {
        Self::new(client, KvOp::Put, key, value, "", call, ret)
    }

    /// An append of `value` to `key`.
    pub fn append(client: u64, key: &str, value: &str, call: u64, ret: u64) -> Self {
        Self::new(client, KvOp::Append, key, value, "", call, ret)
    }

    fn new(
        client: u64,
        op: KvOp,
        key: &str,
        value: &str,
        output: &str,
        call: u64,
        ret: u64,
    ) -> Self {
        Self {
            client,
            input: KvInput {
                op,
                key: key.to_owned(),
                value: value.to_owned(),
            },
            call,
            output: KvOutput {
                value: output.to_owned(),
            },
            ret,
        }
    }

    /// Whether the outcome of this operation is unknown (`ret == UNKNOWN_RETURN`).
    pub fn is_pending(&self) -> bool {
        self.ret == UNKNOWN_RETURN
    }

    /// A short human-readable description, e.g. `append("k", "x 1 0 y")` or `get("k") -> "v"`.
    pub fn describe(&self) -> String {
        let key = &self.input.key;
        match self.input.op {
            KvOp::Get if self.is_pending() => format!("get({key:?}) -> ?"),
            KvOp::Get => format!("get({key:?}) -> {:?}", self.output.value),
            op => format!("{op}({key:?}, {:?})", self.input.value),
        }
    }
}

/// A whole recorded history. Its JSON form is `{"operations": [...]}`, one object per [`Operation`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub operations: Vec<Operation>,
}

/// The file formats a history can be read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryFormat {
    /// `{"operations": [...]}` as written by [`History::to_json`].
    Json,
    /// Jepsen-style EDN, one `{:process 0, :type :invoke, :f :append, ...}` map per line.
    Edn,
}

impl HistoryFormat {
    /// The format implied by a file's extension: `.json`, or `.edn`/`.jepsen`.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Self::Json),
            "edn" | "jepsen" => Some(Self::Edn),
            _ => None,
        }
    }
}

impl fmt::Display for HistoryFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Edn => "edn",
        })
    }
}

/// Everything that can be wrong with a history or its file.
#[derive(Debug, Error)]
pub enum HistoryError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON history: {0}")]
    Json(#[from] serde_json::Error),
    #[error("line {line}: {reason}")]
    Edn { line: usize, reason: String },
    #[error("operation {index}: {reason}")]
    InvalidOperation { index: usize, reason: String },
    #[error(
        "cannot tell the format of {} from its extension (expected .json, .edn or .jepsen)",
        .0.display()
    )]
    UnknownFormat(PathBuf),
}

impl History {
    /// A history of these operations.
    pub fn new(operations: Vec<Operation>) -> Self {
        Self { operations }
    }

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

    /// Parses a Jepsen-style EDN history (see [`super::edn`]).
    pub fn from_edn(text: &str) -> Result<Self, HistoryError> {
        super::edn::parse(text)
    }

    /// Reads a history file; the format comes from `format` or else from the file's extension.
    pub fn read_file(path: &Path, format: Option<HistoryFormat>) -> Result<Self, HistoryError> {
        let format = format
            .or_else(|| HistoryFormat::from_path(path))
            .ok_or_else(|| HistoryError::UnknownFormat(path.to_owned()))?;
        let text = fs::read_to_string(path).map_err(|source| HistoryError::Read {
            path: path.to_owned(),
            source,
        })?;
        match format {
            HistoryFormat::Json => Self::from_json(&text),
            HistoryFormat::Edn => Self::from_edn(&text),
        }
    }

    /// Writes the JSON form to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), HistoryError> {
        fs::write(path, self.to_json()).map_err(|source| HistoryError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Checks what the checker relies on: every operation is called no later than it returns.
    pub fn validate(&self) -> Result<(), HistoryError> {
        for (index, op) in self.operations.iter().enumerate() {
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
}
