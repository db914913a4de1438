//! Reader for Jepsen-style histories: one EDN map per line, e.g.
//!
//! ```text
//! {:process 0, :type :invoke, :f :append, :key "1", :value "x"}
//! {:process 1, :type :invoke, :f :get, :key "1", :value nil}
//! {:process 0, :type :ok, :f :append, :key "1", :value "x"}
//! {:process 1, :type :ok, :f :get, :key "1", :value "x"}
//! ```
//!
//! An `:invoke` opens an operation of its `:process`; the next `:ok`, `:fail` or `:info` of the same
//! process closes it. `:ok` means it happened (a get's `:ok` carries the value read, `nil` meaning
//! `""`), `:fail` means it did not happen (the operation is dropped), `:info` means nobody knows
//! (the operation is kept with an unknown return). An invoke that is never closed is unknown too.
//! Time is the line number. Commas are whitespace, extra keys (`:time`, `:index`, ...) are ignored,
//! and so are blank lines, `;` comments and lines of non-numeric processes such as `:nemesis`.

use std::collections::BTreeMap;

use super::history::{History, HistoryError, KvInput, KvOp, KvOutput, Operation, UNKNOWN_RETURN};

/// Parses a whole EDN history.
pub fn parse(text: &str) -> Result<History, HistoryError> {
    let mut builder = Builder::default();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        builder
            .line(line_no, line)
            .map_err(|reason| HistoryError::Edn {
                line: line_no,
                reason,
            })?;
    }
    Ok(builder.finish())
}

/// An EDN value, as much of it as a history line needs.
#[derive(Clone, Debug, PartialEq)]
enum Value {
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

    /// A key or a value of the KV service: strings as they are, numbers and keywords as text.
    fn as_text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Number(n) => Some(n.clone()),
            Value::Keyword(k) => Some(k.clone()),
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

/// What a line says, once its map has been read.
struct Event {
    process: u64,
    kind: EventKind,
    f: KvOp,
    key: Option<String>,
    value: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventKind {
    fn name(self) -> &'static str {
        match self {
            EventKind::Invoke => ":invoke",
            EventKind::Ok => ":ok",
            EventKind::Fail => ":fail",
            EventKind::Info => ":info",
        }
    }
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
        Some(Value::Keyword(k)) => match k.as_str() {
            "invoke" => EventKind::Invoke,
            "ok" => EventKind::Ok,
            "fail" => EventKind::Fail,
            "info" => EventKind::Info,
            other => return Err(format!("unknown :type :{other}")),
        },
        Some(other) => return Err(format!(":type is {}", other.describe())),
        None => return Err("no :type".into()),
    };
    let f = match fields.remove("f") {
        Some(Value::Keyword(f)) | Some(Value::Str(f)) => match f.as_str() {
            "get" | "read" => KvOp::Get,
            "put" | "write" => KvOp::Put,
            "append" => KvOp::Append,
            other => return Err(format!("unsupported operation :f :{other}")),
        },
        Some(other) => return Err(format!(":f is {}", other.describe())),
        None => return Err("no :f".into()),
    };
    let text = |field: &str, value: Option<Value>| -> Result<Option<String>, String> {
        match value {
            None | Some(Value::Nil) => Ok(None),
            Some(v) => v
                .as_text()
                .map(Some)
                .ok_or_else(|| format!(":{field} is {}, expected a string", v.describe())),
        }
    };
    let key = text("key", fields.remove("key"))?;
    let value = text("value", fields.remove("value"))?;
    Ok(Some(Event {
        process,
        kind,
        f,
        key,
        value,
    }))
}

/// An invoke waiting for its completion.
struct Open {
    line: usize,
    /// Index of the operation in `Builder::ops`.
    slot: usize,
}

#[derive(Default)]
struct Builder {
    /// Operations in invoke order; `None` once a `:fail` drops one.
    ops: Vec<Option<Operation>>,
    open: BTreeMap<u64, Open>,
}

impl Builder {
    fn line(&mut self, line: usize, text: &str) -> Result<(), String> {
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
        let Some(event) = event(pairs)? else {
            return Ok(());
        };
        let time = line as u64;
        if event.kind == EventKind::Invoke {
            if let Some(open) = self.open.get(&event.process) {
                return Err(format!(
                    "process {} invokes again while its invoke on line {} is still open",
                    event.process, open.line
                ));
            }
            let key = event.key.ok_or("an :invoke without :key")?;
            let value = match event.f {
                KvOp::Get => String::new(),
                _ => event
                    .value
                    .ok_or("a put or append :invoke without :value")?,
            };
            self.open.insert(
                event.process,
                Open {
                    line,
                    slot: self.ops.len(),
                },
            );
            self.ops.push(Some(Operation {
                client: event.process,
                input: KvInput {
                    op: event.f,
                    key,
                    value,
                },
                call: time,
                output: KvOutput::default(),
                ret: UNKNOWN_RETURN,
            }));
            return Ok(());
        }
        let Some(open) = self.open.remove(&event.process) else {
            return Err(format!(
                "{} of process {} without a matching :invoke",
                event.kind.name(),
                event.process
            ));
        };
        let slot = &mut self.ops[open.slot];
        let Some(op) = slot.as_mut() else {
            return Err("internal: completion of a dropped operation".into());
        };
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
                if op.input.op == KvOp::Get {
                    op.output.value = event.value.unwrap_or_default();
                }
            }
            EventKind::Fail => *slot = None,
            EventKind::Info | EventKind::Invoke => {}
        }
        Ok(())
    }

    fn finish(self) -> History {
        History::new(self.ops.into_iter().flatten().collect())
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
