//! Reader for Jepsen-style histories: one EDN map per line, e.g.
//!
//! ```text
//! {:process 0, :type :invoke, :f :cas, :value [1 2]}
//! {:process 1, :type :invoke, :f :read, :value nil}
//! {:process 0, :type :fail, :f :cas, :value [1 2]}
//! {:process 1, :type :ok, :f :read, :value 3}
//! {:process 2, :type :invoke, :f :append, :key "1", :value "x"}
//! {:process 2, :type :info, :f :append, :key "1", :value "x"}
//! ```
//!
//! An `:invoke` opens an operation of its `:process`; the next `:ok`, `:fail` or `:info` of the same
//! process closes it. `:ok` means it happened (a read's `:ok` carries the value read, `nil` for
//! none), `:info` means nobody knows (the operation is kept with an unknown return), and `:fail`
//! means it did not happen: the operation goes to [`History::failed`], except a failed cas read as
//! a cas that found another value ([`FailedCas::Mismatch`]). An invoke that is never closed is
//! unknown too. After an `:info` the process may invoke again (Jepsen gives the worker a new
//! process id; a history that reuses the id is read the same way).
//!
//! Operations: `:read`/`:get`, `:write`/`:put`, `:append` and `:cas` (`:value [expected new]`).
//! `:key` is optional (one register); values may be strings, numbers, keywords or `nil`. The
//! versioned store uses `:version` (on a put's invoke: the version it expects; on a get's `:ok`:
//! the version read) and `:err` or `:status` on the completion (`:OK`, `:ErrVersion`,
//! `:ErrNoKey`, `:ErrMaybe`; Jepsen's free-form `:error` is ignored).
//!
//! Time is the line number. Commas are whitespace, extra keys (`:time`, `:index`, ...) are ignored,
//! and so are blank lines, `;` comments, a `[` or `]` around the whole history, and lines of
//! non-numeric processes such as `:nemesis`.

use std::collections::BTreeMap;

use super::history::{
    FailedCas, History, HistoryError, Input, OpKind, Operation, Output, Status, UNKNOWN_RETURN,
};

/// Parses a whole EDN history.
pub fn parse(text: &str, failed_cas: FailedCas) -> Result<History, HistoryError> {
    let mut builder = Builder::new(failed_cas);
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        edn_line(&mut builder, line_no, line).map_err(|reason| HistoryError::Edn {
            line: line_no,
            reason,
        })?;
    }
    Ok(builder.finish())
}

/// Reads one line of an EDN history into the builder.
fn edn_line(builder: &mut Builder, line: usize, text: &str) -> Result<(), String> {
    let mut text = text.trim();
    if text == "[" || text == "]" {
        return Ok(());
    }
    if text.starts_with('[') && text[1..].trim_start().starts_with('{') {
        text = text[1..].trim_start();
    }
    if text.ends_with(']') && text[..text.len() - 1].trim_end().ends_with('}') {
        text = text[..text.len() - 1].trim_end();
    }
    let mut parser = Parser::new(text);
    if parser.at_end() {
        return Ok(());
    }
    let Value::Map(pairs) = parser.value(0)? else {
        return Err("expected a map {...}".into());
    };
    if !parser.at_end() {
        return Err("unexpected text after the map".into());
    }
    match event(pairs)? {
        Some(event) => builder.event(line, event),
        None => Ok(()),
    }
}

/// Parses one EDN value at the start of `text`; returns it and the text after it.
pub(crate) fn value_prefix(text: &str) -> Result<(Value, &str), String> {
    let mut parser = Parser::new(text);
    let value = parser.value(0)?;
    let rest = parser.chars.peek().map_or("", |&(at, _)| &text[at..]);
    Ok((value, rest))
}

/// An EDN value, as much of it as a history line needs.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Nil,
    Bool(bool),
    /// A number, kept as written (`42`, `-1`, `1.5`, `7N`).
    Number(String),
    Str(String),
    /// A keyword without its colon.
    Keyword(String),
    Symbol(String),
    Char(String),
    /// Vector, list or set.
    Seq(Vec<Value>),
    Map(Vec<(Value, Value)>),
    Tagged(String, Box<Value>),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Nil => "nil".into(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.clone(),
            Value::Str(s) => format!("{s:?}"),
            Value::Keyword(k) => format!(":{k}"),
            Value::Symbol(s) => s.clone(),
            Value::Char(c) => format!("\\{c}"),
            Value::Seq(_) => "a collection".into(),
            Value::Map(_) => "a map".into(),
            Value::Tagged(tag, _) => format!("#{tag} value"),
        }
    }

    /// A key or a value: strings as they are, numbers, keywords, symbols, characters and
    /// booleans as text.
    fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Number(n) | Value::Symbol(n) | Value::Char(n) => Some(n.clone()),
            Value::Keyword(k) => Some(k.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// Nesting deeper than this is rejected rather than risking the stack.
const MAX_DEPTH: usize = 64;

/// A recursive-descent parser over one line.
struct Parser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.char_indices().peekable(),
            text,
        }
    }

    fn skip_space(&mut self) {
        while let Some(&(_, c)) = self.chars.peek() {
            if c.is_whitespace() || c == ',' {
                self.chars.next();
            } else if c == ';' {
                // A comment runs to the end of the line.
                while self.chars.next().is_some() {}
            } else {
                break;
            }
        }
    }

    /// Skips whitespace and `#_ form` (a discarded form).
    fn skip_space_and_discards(&mut self, depth: usize) -> Result<(), String> {
        loop {
            self.skip_space();
            let mut ahead = self.chars.clone();
            if !matches!(ahead.next(), Some((_, '#'))) || !matches!(ahead.next(), Some((_, '_'))) {
                return Ok(());
            }
            self.chars = ahead;
            self.value(depth + 1)?;
        }
    }

    fn at_end(&mut self) -> bool {
        self.skip_space();
        self.chars.peek().is_none()
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        self.skip_space_and_discards(depth)?;
        let Some(&(start, c)) = self.chars.peek() else {
            return Err("unexpected end of line".into());
        };
        match c {
            '{' => {
                self.chars.next();
                let items = self.sequence('}', depth)?;
                if items.len() % 2 != 0 {
                    return Err("a map with an odd number of forms".into());
                }
                let mut items = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    pairs.push((k, v));
                }
                Ok(Value::Map(pairs))
            }
            '[' => {
                self.chars.next();
                Ok(Value::Seq(self.sequence(']', depth)?))
            }
            '(' => {
                self.chars.next();
                Ok(Value::Seq(self.sequence(')', depth)?))
            }
            '"' => {
                self.chars.next();
                self.string().map(Value::Str)
            }
            ':' => {
                self.chars.next();
                let name = self.token();
                if name.is_empty() {
                    return Err(format!("empty keyword at column {}", start + 1));
                }
                Ok(Value::Keyword(name))
            }
            '\\' => {
                self.chars.next();
                let name = self.token();
                match name.is_empty() {
                    true => self.chars.next().map(|(_, c)| Value::Char(c.to_string())),
                    false => Some(Value::Char(name)),
                }
                .ok_or_else(|| "unexpected end of line after '\\'".into())
            }
            '#' => {
                self.chars.next();
                match self.chars.peek().map(|&(_, c)| c) {
                    Some('{') => {
                        self.chars.next();
                        Ok(Value::Seq(self.sequence('}', depth)?))
                    }
                    _ => {
                        let tag = self.token();
                        if tag.is_empty() {
                            return Err(format!("unexpected '#' at column {}", start + 1));
                        }
                        Ok(Value::Tagged(tag, Box::new(self.value(depth + 1)?)))
                    }
                }
            }
            '}' | ']' | ')' => Err(format!("unexpected '{c}' at column {}", start + 1)),
            _ => {
                let token = self.token();
                if token.is_empty() {
                    return Err(format!("unexpected {c:?} at column {}", start + 1));
                }
                Ok(classify(token))
            }
        }
    }

    /// The forms up to the closing delimiter (already past the opening one).
    fn sequence(&mut self, close: char, depth: usize) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_space_and_discards(depth)?;
            match self.chars.peek() {
                None => return Err(format!("missing '{close}' before the end of the line")),
                Some(&(_, c)) if c == close => {
                    self.chars.next();
                    return Ok(items);
                }
                Some(_) => items.push(self.value(depth + 1)?),
            }
        }
    }

    /// A string body (already past the opening quote).
    fn string(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            let Some((_, c)) = self.chars.next() else {
                return Err("unterminated string".into());
            };
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some((at, escape)) = self.chars.next() else {
                        return Err("unterminated string".into());
                    };
                    out.push(match escape {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        '"' | '\\' | '/' => escape,
                        'u' => self.unicode_escape(at)?,
                        other => return Err(format!("unknown string escape '\\{other}'")),
                    });
                }
                c => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self, at: usize) -> Result<char, String> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .chars
                .next()
                .and_then(|(_, c)| c.to_digit(16))
                .ok_or_else(|| format!("bad \\u escape at column {}", at + 1))?;
            code = code * 16 + digit;
        }
        char::from_u32(code).ok_or_else(|| format!("\\u{code:04x} is not a character"))
    }

    /// A run of symbol characters: up to whitespace, a comma or a delimiter.
    fn token(&mut self) -> String {
        let start = self.chars.peek().map_or(self.text.len(), |&(i, _)| i);
        let mut end = start;
        while let Some(&(i, c)) = self.chars.peek() {
            if c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']' | '(' | ')' | '"' | ';')
            {
                break;
            }
            end = i + c.len_utf8();
            self.chars.next();
        }
        self.text[start..end].to_owned()
    }
}

fn classify(token: String) -> Value {
    let unsigned = token.strip_prefix(['-', '+']).unwrap_or(&token);
    match token.as_str() {
        "nil" => Value::Nil,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ if unsigned.starts_with(|c: char| c.is_ascii_digit()) => Value::Number(token),
        _ => Value::Symbol(token),
    }
}

/// What a line says.
pub(crate) struct Event {
    pub(crate) process: u64,
    pub(crate) kind: EventKind,
    pub(crate) f: OpKind,
    pub(crate) key: Option<String>,
    /// `:value` as written (`None` if the field is absent).
    pub(crate) value: Option<Value>,
    pub(crate) version: Option<u64>,
    pub(crate) status: Option<Status>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "invoke" => EventKind::Invoke,
            "ok" => EventKind::Ok,
            "fail" => EventKind::Fail,
            "info" => EventKind::Info,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            EventKind::Invoke => ":invoke",
            EventKind::Ok => ":ok",
            EventKind::Fail => ":fail",
            EventKind::Info => ":info",
        }
    }
}

/// The operation of a Jepsen `:f`.
pub(crate) fn op_kind(name: &str) -> Result<OpKind, String> {
    Ok(match name {
        "read" => OpKind::Read,
        "get" => OpKind::Get,
        "write" => OpKind::Write,
        "put" => OpKind::Put,
        "append" => OpKind::Append,
        "cas" | "compare-and-set" => OpKind::Cas,
        other => {
            return Err(format!(
                "unsupported operation :f :{other} (expected :read, :write, :cas, :get, :put \
                 or :append)"
            ));
        }
    })
}

/// Reads the fields of a line's map; `Ok(None)` for lines to skip (non-numeric processes).
fn event(pairs: Vec<(Value, Value)>) -> Result<Option<Event>, String> {
    let mut fields = BTreeMap::new();
    for (key, value) in pairs {
        if let Value::Keyword(name) = key {
            fields.insert(name, value);
        }
    }
    let process = match fields.remove("process") {
        Some(Value::Number(n)) => n
            .parse::<u64>()
            .map_err(|_| format!(":process {n} is not a non-negative integer"))?,
        Some(Value::Keyword(_)) => return Ok(None),
        Some(other) => return Err(format!(":process is {}", other.describe())),
        None => return Err("no :process".into()),
    };
    let kind = match fields.remove("type") {
        Some(Value::Keyword(k)) => {
            EventKind::parse(&k).ok_or_else(|| format!("unknown :type :{k}"))?
        }
        Some(other) => return Err(format!(":type is {}", other.describe())),
        None => return Err("no :type".into()),
    };
    let f = match fields.remove("f") {
        Some(Value::Keyword(f)) | Some(Value::Str(f)) => op_kind(&f)?,
        Some(other) => return Err(format!(":f is {}", other.describe())),
        None => return Err("no :f".into()),
    };
    let key = match fields.remove("key") {
        None | Some(Value::Nil) => None,
        Some(v) => Some(
            v.as_text()
                .ok_or_else(|| format!(":key is {}, expected a string", v.describe()))?,
        ),
    };
    let version = match fields.remove("version") {
        None | Some(Value::Nil) => None,
        Some(Value::Number(n)) => Some(
            n.parse::<u64>()
                .map_err(|_| format!(":version {n} is not a non-negative integer"))?,
        ),
        Some(other) => return Err(format!(":version is {}", other.describe())),
    };
    let status = match fields.remove("err").or_else(|| fields.remove("status")) {
        None | Some(Value::Nil) => None,
        Some(v) => {
            let text = v.as_text().unwrap_or_default();
            Some(Status::parse(&text).ok_or_else(|| {
                format!(
                    "unknown status {} (expected OK, ErrVersion, ErrNoKey or ErrMaybe)",
                    v.describe()
                )
            })?)
        }
    };
    Ok(Some(Event {
        process,
        kind,
        f,
        key,
        value: fields.remove("value"),
        version,
        status,
    }))
}

/// A scalar value as text; `nil` is `None`.
fn scalar(field: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Nil => Ok(None),
        v => v
            .as_text()
            .map(Some)
            .ok_or_else(|| format!("{field} is {}, expected a single value", v.describe())),
    }
}

/// An invoke waiting for its completion.
struct Open {
    line: usize,
    /// Index of the operation in `Builder::ops`.
    slot: usize,
}

/// Pairs invokes with completions into operations.
pub(crate) struct Builder {
    failed_cas: FailedCas,
    /// Operations in invoke order, and whether each failed (`:fail`, dropped).
    ops: Vec<(Operation, bool)>,
    open: BTreeMap<u64, Open>,
}

impl Builder {
    pub(crate) fn new(failed_cas: FailedCas) -> Self {
        Self {
            failed_cas,
            ops: Vec::new(),
            open: BTreeMap::new(),
        }
    }

    /// Reads one event, at time `line`.
    pub(crate) fn event(&mut self, line: usize, event: Event) -> Result<(), String> {
        let time = line as u64;
        if event.kind == EventKind::Invoke {
            return self.invoke(line, event);
        }
        let Some(open) = self.open.remove(&event.process) else {
            return Err(format!(
                "{} of process {} without a matching :invoke",
                event.kind.name(),
                event.process
            ));
        };
        let failed_cas = self.failed_cas;
        let (op, failed) = &mut self.ops[open.slot];
        if op.input.op != event.f {
            return Err(format!(
                "{} :{} of process {} completes its :invoke :{} on line {}",
                event.kind.name(),
                event.f,
                event.process,
                op.input.op,
                open.line
            ));
        }
        if let Some(key) = &event.key
            && *key != op.input.key
        {
            return Err(format!(
                "{} of process {} is for key {key:?} but its :invoke on line {} is for {:?}",
                event.kind.name(),
                event.process,
                open.line,
                op.input.key
            ));
        }
        match event.kind {
            EventKind::Ok => {
                op.ret = time;
                if op.input.op.is_read()
                    && let Some(value) = &event.value
                {
                    op.output.value = scalar(":value", value)?;
                }
                op.output.version = event.version;
                op.output.status = event.status.unwrap_or_default();
            }
            EventKind::Fail if op.input.op == OpKind::Cas && failed_cas == FailedCas::Mismatch => {
                op.ret = time;
                op.output.status = Status::Fail;
            }
            EventKind::Fail => {
                op.ret = time;
                *failed = true;
            }
            EventKind::Info | EventKind::Invoke => {}
        }
        Ok(())
    }

    fn invoke(&mut self, line: usize, event: Event) -> Result<(), String> {
        if let Some(open) = self.open.get(&event.process) {
            return Err(format!(
                "process {} invokes again while its invoke on line {} is still open",
                event.process, open.line
            ));
        }
        let mut input = Input {
            op: event.f,
            key: event.key.unwrap_or_default(),
            value: None,
            expected: None,
            version: event.version,
        };
        match event.f {
            OpKind::Get | OpKind::Read => {}
            OpKind::Put | OpKind::Write | OpKind::Append => {
                let value = event
                    .value
                    .ok_or_else(|| format!("a :{} :invoke without :value", event.f))?;
                input.value = scalar(":value", &value)?;
            }
            OpKind::Cas => match event.value {
                Some(Value::Seq(pair)) if pair.len() == 2 => {
                    input.expected = scalar("the expected value of a :cas", &pair[0])?;
                    input.value = scalar("the new value of a :cas", &pair[1])?;
                }
                other => {
                    return Err(format!(
                        "a :cas :invoke needs :value [expected new], not {}",
                        other.map_or("nothing".into(), |v| v.describe())
                    ));
                }
            },
        }
        self.open.insert(
            event.process,
            Open {
                line,
                slot: self.ops.len(),
            },
        );
        let op = Operation {
            client: event.process,
            input,
            call: line as u64,
            output: Output::default(),
            ret: UNKNOWN_RETURN,
        };
        self.ops.push((op, false));
        Ok(())
    }

    pub(crate) fn finish(self) -> History {
        let mut history = History::default();
        for (op, failed) in self.ops {
            if failed {
                history.failed.push(op);
            } else {
                history.operations.push(op);
            }
        }
        history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Value, String> {
        Parser::new(text).value(0)
    }

    #[test]
    fn reads_values() {
        assert_eq!(one("nil"), Ok(Value::Nil));
        assert_eq!(one(" :ok,"), Ok(Value::Keyword("ok".into())));
        assert_eq!(one(r#""a\"b\u0041""#), Ok(Value::Str("a\"bA".into())));
        assert_eq!(one("-12"), Ok(Value::Number("-12".into())));
        assert_eq!(
            one("[1 #{2} (3) #_ 4 #inst \"x\"]"),
            Ok(Value::Seq(vec![
                Value::Number("1".into()),
                Value::Seq(vec![Value::Number("2".into())]),
                Value::Seq(vec![Value::Number("3".into())]),
                Value::Tagged("inst".into(), Box::new(Value::Str("x".into()))),
            ]))
        );
        assert!(one("{:a}").is_err());
        assert!(one("[[[[").is_err());
        assert!(one(&"[".repeat(1000)).is_err());
    }
}
