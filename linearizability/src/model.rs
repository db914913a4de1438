//! Sequential specifications that histories are checked against: the [`Model`] trait, and the
//! three built-in models ([`Kv`], [`Register`], [`VersionedKv`]).
//!
//! A model describes **one** object (one key's value, one register) and says which object an
//! operation touches ([`Model::partition_key`]); operations on different objects never constrain
//! each other, so the checker checks each object on its own (or, unpartitioned, keeps one state
//! per object). A lab adds a model by implementing the trait for its own input and output types
//! and calling [`check_operations`](super::check_operations).
//!
//! Outcomes follow Jepsen (as Knossos defines them):
//! - an operation that returned took effect exactly once, at some point between its call and its
//!   return, and returned what the model returns there;
//! - an operation whose outcome is unknown (`:info`, or no return at all) took effect at some
//!   point after its call, or never; [`Model::step`] is then given no output, and a read-only
//!   one is not checked at all;
//! - an operation that failed (`:fail`) did not take effect: it is not in the history's
//!   operations (see [`History::failed`](super::History::failed)). A cas that ran and found
//!   another value is different: it returned, with [`Status::Fail`](super::Status::Fail).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::hash::Hash;

use super::history::{Input, OpKind, Operation, Output, Status, register_value};

/// A sequential specification of one object.
pub trait Model {
    /// What a client asks for (the operation and its arguments).
    type Input: Clone + Eq + Hash + Debug;
    /// What a client is told.
    type Output: Clone + Debug;
    /// A state of one object. Equal states must behave the same in every future; the hash must
    /// agree with equality.
    type State: Clone + Eq + Hash + Debug;

    /// The model's name, for messages (`"register"`).
    fn name(&self) -> String;

    /// The state of an object before any operation.
    fn init(&self) -> Self::State;

    /// The state after the operation, if it can return `output` in `state`; `None` if it cannot.
    /// `output` is `None` when the outcome is unknown: then the state after it took effect.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// Whether the operation never changes the state. Read-only operations with an unknown outcome
    /// are not checked, and a read-only operation is never delayed once it fits.
    fn is_read_only(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> bool {
        false
    }

    /// Which object the operation touches (e.g. its key); every operation on one object goes to
    /// the same partition. Default: there is one object.
    fn partition_key(&self, _input: &Self::Input) -> String {
        String::new()
    }

    /// `Err(why)` if this model does not know the operation (a cas in a key/value history).
    fn supports(&self, _input: &Self::Input, _output: Option<&Self::Output>) -> Result<(), String> {
        Ok(())
    }

    /// The operation for people, e.g. `cas(4, 2) -> fail`; `output` is `None` when unknown.
    fn describe_operation(&self, input: &Self::Input, output: Option<&Self::Output>) -> String;

    /// A shorter form for the picture's bars (default: [`Model::describe_operation`]).
    fn label(&self, input: &Self::Input, output: Option<&Self::Output>) -> String {
        self.describe_operation(input, output)
    }

    /// A state for people, e.g. `3` or `("v", version 2)`.
    fn describe_state(&self, state: &Self::State) -> String;

    /// Why the operation cannot return `output` in `state` (called only when [`Model::step`]
    /// said no).
    fn explain(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> String {
        format!(
            "{} cannot happen when the state is {}",
            self.describe_operation(input, Some(output)),
            self.describe_state(state)
        )
    }
}

/// The built-in models, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// [`Kv`]: get / put / append on string keys (the labs' key/value store).
    Kv,
    /// [`Register`]: read / write / cas, one register per key (Jepsen's register).
    Register,
    /// [`VersionedKv`]: get returns a value and a version; put takes the version it expects.
    VersionedKv,
}

impl ModelKind {
    /// `kv`, `register` or `versioned-kv`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Kv => "kv",
            ModelKind::Register => "register",
            ModelKind::VersionedKv => "versioned-kv",
        }
    }

    /// The model that fits the operations: versioned-kv if any operation carries a version or a
    /// versioned error; else register if any is a cas, or if they use read/write and no append;
    /// else kv.
    pub fn infer(operations: &[Operation]) -> Self {
        let any = |f: &dyn Fn(&Operation) -> bool| operations.iter().any(f);
        if any(&|op| op.is_versioned()) {
            ModelKind::VersionedKv
        } else if any(&|op| op.input.op == OpKind::Cas)
            || (any(&|op| matches!(op.input.op, OpKind::Read | OpKind::Write))
                && !any(&|op| op.input.op == OpKind::Append))
        {
            ModelKind::Register
        } else {
            ModelKind::Kv
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

fn argument(input: &Input) -> &str {
    input.value.as_deref().unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Key/value store.

/// The labs' key/value store: `get` returns the value (`""` for an absent key), `put` replaces
/// it, `append` appends to it. Jepsen's `read` and `write` are a get and a put; values are text
/// (`nil` is `""`). The checker searches KV histories with a faster equivalent of this model
/// (see `kv_search.rs`); this one explains the verdicts.
#[derive(Clone, Copy, Debug, Default)]
pub struct Kv;

impl Model for Kv {
    type Input = Input;
    type Output = Output;
    type State = String;

    fn name(&self) -> String {
        "kv".to_owned()
    }

    fn init(&self) -> String {
        String::new()
    }

    fn step(&self, state: &String, input: &Input, output: Option<&Output>) -> Option<String> {
        match input.op {
            OpKind::Get | OpKind::Read => match output {
                Some(out) if out.text() != state => None,
                _ => Some(state.clone()),
            },
            OpKind::Put | OpKind::Write => Some(argument(input).to_owned()),
            OpKind::Append => Some(format!("{state}{}", argument(input))),
            OpKind::Cas => None,
        }
    }

    fn is_read_only(&self, input: &Input, _output: Option<&Output>) -> bool {
        input.op.is_read()
    }

    fn partition_key(&self, input: &Input) -> String {
        input.key.clone()
    }

    fn supports(&self, input: &Input, output: Option<&Output>) -> Result<(), String> {
        if input.op == OpKind::Cas {
            return Err("a cas needs the register model".to_owned());
        }
        let versioned = input.version.is_some()
            || output.is_some_and(|o| o.version.is_some() || !o.status.is_ok());
        if versioned {
            return Err("versions and errors need the versioned-kv model".to_owned());
        }
        Ok(())
    }

    fn describe_operation(&self, input: &Input, output: Option<&Output>) -> String {
        describe(input, output)
    }

    fn label(&self, input: &Input, output: Option<&Output>) -> String {
        match (input.op, output) {
            (OpKind::Get | OpKind::Read, None) => format!("{} ?", input.op),
            (OpKind::Get | OpKind::Read, Some(out)) => format!("{} → {:?}", input.op, out.text()),
            _ => format!("{} {:?}", input.op, argument(input)),
        }
    }

    fn describe_state(&self, state: &String) -> String {
        format!("{state:?}")
    }

    fn explain(&self, state: &String, input: &Input, output: &Output) -> String {
        format!(
            "{}({:?}) returned {:?} but the value at this point is {:?}",
            input.op,
            input.key,
            output.text(),
            state
        )
    }
}

/// Describes a built-in operation (see [`Operation::describe`]).
pub(crate) fn describe(input: &Input, output: Option<&Output>) -> String {
    let op = Operation {
        client: 0,
        input: input.clone(),
        call: 0,
        output: output.cloned().unwrap_or_default(),
        ret: if output.is_some() { 0 } else { u64::MAX },
    };
    op.describe()
}

// ---------------------------------------------------------------------------------------------
// Values as small numbers.

/// Interns the values a model meets, so that states are small numbers: id 0 is `nil` (or an
/// absent key), ids from 1 name texts.
#[derive(Debug, Default)]
struct Values {
    ids: HashMap<Box<str>, u32>,
    texts: Vec<Box<str>>,
}

impl Values {
    /// The id of a value, interning it if new.
    fn id(&mut self, value: Option<&str>) -> u32 {
        let Some(text) = value else { return 0 };
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        self.texts.push(text.into());
        let id = self.texts.len() as u32;
        self.ids.insert(text.into(), id);
        id
    }

    /// The id of a value if it was ever interned (`None`: no state can hold it).
    fn known(&self, value: Option<&str>) -> Option<u32> {
        match value {
            None => Some(0),
            Some(text) => self.ids.get(text).copied(),
        }
    }

    fn text(&self, id: u32) -> Option<&str> {
        id.checked_sub(1)
            .and_then(|i| self.texts.get(i as usize))
            .map(|t| &**t)
    }
}

// ---------------------------------------------------------------------------------------------
// Register.

/// Jepsen's compare-and-set register (Knossos's `cas-register`), one per key: `read` returns the
/// value (`nil` before any write), `write` sets it, `cas [expected new]` sets it to `new` if it
/// equals `expected` and otherwise changes nothing. A cas that returned
/// [`Status::Ok`](super::Status::Ok) found the expected value; one that returned
/// [`Status::Fail`](super::Status::Fail) found another; one with an unknown outcome did whichever the
/// value at that point allows. `get` and `put` are accepted as `read` and `write`. Unlike Knossos,
/// a read that returned `nil` says the register was `nil` (Knossos lets a `nil` read match
/// anything, because its `:info` reads carry `nil`; here unknown reads are simply not checked).
#[derive(Debug, Default)]
pub struct Register {
    values: RefCell<Values>,
}

/// A register's value, as an interned id (see [`Model::describe_state`] for the value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegisterState(u32);

impl Register {
    fn value(&self, state: RegisterState) -> String {
        register_value(self.values.borrow().text(state.0))
    }
}

impl Model for Register {
    type Input = Input;
    type Output = Output;
    type State = RegisterState;

    fn name(&self) -> String {
        "register".to_owned()
    }

    fn init(&self) -> RegisterState {
        RegisterState(0)
    }

    fn step(
        &self,
        state: &RegisterState,
        input: &Input,
        output: Option<&Output>,
    ) -> Option<RegisterState> {
        match input.op {
            OpKind::Read | OpKind::Get => match output {
                Some(out) => (self.values.borrow().known(out.value.as_deref()) == Some(state.0))
                    .then_some(*state),
                None => Some(*state),
            },
            OpKind::Write | OpKind::Put => Some(RegisterState(
                self.values.borrow_mut().id(input.value.as_deref()),
            )),
            OpKind::Cas => {
                let found = self.values.borrow().known(input.expected.as_deref()) == Some(state.0);
                let after = || RegisterState(self.values.borrow_mut().id(input.value.as_deref()));
                match output.map(|o| o.status) {
                    None => Some(if found { after() } else { *state }),
                    Some(Status::Ok) => found.then(after),
                    Some(Status::Fail) => (!found).then_some(*state),
                    Some(_) => None,
                }
            }
            OpKind::Append => None,
        }
    }

    fn is_read_only(&self, input: &Input, output: Option<&Output>) -> bool {
        input.op.is_read()
            || (input.op == OpKind::Cas && output.is_some_and(|o| o.status == Status::Fail))
    }

    fn partition_key(&self, input: &Input) -> String {
        input.key.clone()
    }

    fn supports(&self, input: &Input, output: Option<&Output>) -> Result<(), String> {
        if input.op == OpKind::Append {
            return Err("an append needs the kv model".to_owned());
        }
        if input.version.is_some() || output.is_some_and(|o| o.version.is_some()) {
            return Err("versions need the versioned-kv model".to_owned());
        }
        let status = output.map_or(Status::Ok, |o| o.status);
        let fine = match input.op {
            OpKind::Cas => matches!(status, Status::Ok | Status::Fail),
            _ => status == Status::Ok,
        };
        if !fine {
            return Err(format!("a register {} does not return {status}", input.op));
        }
        Ok(())
    }

    fn describe_operation(&self, input: &Input, output: Option<&Output>) -> String {
        describe(input, output)
    }

    fn label(&self, input: &Input, output: Option<&Output>) -> String {
        let v = |value: Option<&String>| register_value(value.map(String::as_str));
        match input.op {
            OpKind::Read | OpKind::Get => match output {
                Some(out) => format!("read → {}", v(out.value.as_ref())),
                None => "read ?".to_owned(),
            },
            OpKind::Write | OpKind::Put => format!("write {}", v(input.value.as_ref())),
            OpKind::Cas => format!(
                "cas {}→{} {}",
                v(input.expected.as_ref()),
                v(input.value.as_ref()),
                match output.map(|o| o.status) {
                    None => "?",
                    Some(Status::Ok) => "ok",
                    Some(_) => "fail",
                }
            ),
            OpKind::Append => describe(input, output),
        }
    }

    fn describe_state(&self, state: &RegisterState) -> String {
        self.value(*state)
    }

    fn explain(&self, state: &RegisterState, input: &Input, output: &Output) -> String {
        let holds = self.value(*state);
        match input.op {
            OpKind::Cas if output.status == Status::Fail => format!(
                "{} found another value than {}, but the register holds {holds}",
                describe(input, Some(output)),
                register_value(input.expected.as_deref())
            ),
            OpKind::Cas => format!(
                "{} found {}, but the register holds {holds}",
                describe(input, Some(output)),
                register_value(input.expected.as_deref())
            ),
            _ => format!(
                "{} but the register holds {holds}",
                describe(input, Some(output))
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Versioned key/value store.

/// The versioned key/value store of MIT 6.5840 (2025 and later), one key at a time. A key is
/// absent, or holds a value and a version (1 after its first put, +1 per applied put).
/// - `Get(key)` returns the value and version (`OK`), or `ErrNoKey` if the key is absent. If the
///   history did not record the version a get returned, only the value is compared.
/// - `Put(key, value, version)` is applied if `version` is the key's version (0 for an absent
///   key, which creates it) and returns `OK`; otherwise it changes nothing and returns
///   `ErrVersion` (the key exists) or `ErrNoKey` (it does not). A clerk returns `ErrMaybe` for a
///   put it retried that then found another version: its first attempt may have been applied, so
///   `ErrMaybe` is accepted either way, like an unknown outcome. (The course's own checker model
///   also accepts `ErrMaybe` either way; it does not compare a get's version, and expects
///   `ErrVersion` rather than `ErrNoKey` for an absent key.)
#[derive(Debug, Default)]
pub struct VersionedKv {
    values: RefCell<Values>,
}

/// A key's value (interned id, 0: absent) and version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionedState {
    value: u32,
    version: u64,
}

impl VersionedKv {
    fn describe(&self, state: VersionedState) -> String {
        match self.values.borrow().text(state.value) {
            None => "absent".to_owned(),
            Some(text) => format!("({text:?}, version {})", state.version),
        }
    }
}

impl Model for VersionedKv {
    type Input = Input;
    type Output = Output;
    type State = VersionedState;

    fn name(&self) -> String {
        "versioned-kv".to_owned()
    }

    fn init(&self) -> VersionedState {
        VersionedState {
            value: 0,
            version: 0,
        }
    }

    fn step(
        &self,
        state: &VersionedState,
        input: &Input,
        output: Option<&Output>,
    ) -> Option<VersionedState> {
        let present = state.value != 0;
        match input.op {
            OpKind::Get | OpKind::Read => {
                let Some(out) = output else {
                    return Some(*state);
                };
                let fits = match out.status {
                    Status::Ok => {
                        present
                            && self.values.borrow().known(Some(out.text())) == Some(state.value)
                            && out.version.is_none_or(|v| v == state.version)
                    }
                    Status::ErrNoKey => !present,
                    _ => false,
                };
                fits.then_some(*state)
            }
            OpKind::Put | OpKind::Write => {
                let version = input.version?;
                let applies = state.version == version;
                let after = || VersionedState {
                    value: self.values.borrow_mut().id(Some(argument(input))),
                    version: version + 1,
                };
                match output.map(|o| o.status) {
                    None | Some(Status::ErrMaybe) => Some(if applies { after() } else { *state }),
                    Some(Status::Ok) => applies.then(after),
                    Some(Status::ErrVersion) => (!applies && present).then_some(*state),
                    Some(Status::ErrNoKey) => (!applies && !present).then_some(*state),
                    Some(Status::Fail) => None,
                }
            }
            OpKind::Append | OpKind::Cas => None,
        }
    }

    fn is_read_only(&self, input: &Input, output: Option<&Output>) -> bool {
        input.op.is_read()
            || output.is_some_and(|o| matches!(o.status, Status::ErrVersion | Status::ErrNoKey))
    }

    fn partition_key(&self, input: &Input) -> String {
        input.key.clone()
    }

    fn supports(&self, input: &Input, output: Option<&Output>) -> Result<(), String> {
        let status = output.map_or(Status::Ok, |o| o.status);
        match input.op {
            OpKind::Append | OpKind::Cas => {
                Err(format!("an {} needs another model", input.op).replace("an cas", "a cas"))
            }
            OpKind::Put | OpKind::Write if input.version.is_none() => {
                Err("a versioned put needs the version it expects".to_owned())
            }
            OpKind::Get | OpKind::Read if !matches!(status, Status::Ok | Status::ErrNoKey) => {
                Err(format!("a get does not return {status}"))
            }
            OpKind::Put | OpKind::Write if status == Status::Fail => {
                Err("a put does not return fail".to_owned())
            }
            _ => Ok(()),
        }
    }

    fn describe_operation(&self, input: &Input, output: Option<&Output>) -> String {
        let mut input = input.clone();
        if input.op.is_write() && input.version.is_none() {
            input.version = Some(0);
        }
        let mut output = output.cloned();
        if let Some(out) = &mut output
            && input.op.is_read()
            && out.version.is_none()
            && out.status == Status::Ok
        {
            // A get whose version was not recorded.
            return format!("get({:?}) -> {:?}", input.key, out.text());
        }
        describe(&input, output.as_ref())
    }

    fn label(&self, input: &Input, output: Option<&Output>) -> String {
        match input.op {
            OpKind::Get | OpKind::Read => match output {
                None => "get ?".to_owned(),
                Some(out) if out.status == Status::ErrNoKey => "get → ErrNoKey".to_owned(),
                Some(out) => match out.version {
                    Some(v) => format!("get → {:?} v{v}", out.text()),
                    None => format!("get → {:?}", out.text()),
                },
            },
            _ => format!(
                "put {:?} v{} {}",
                argument(input),
                input.version.unwrap_or_default(),
                output.map_or("?", |o| o.status.name())
            ),
        }
    }

    fn describe_state(&self, state: &VersionedState) -> String {
        self.describe(*state)
    }

    fn explain(&self, state: &VersionedState, input: &Input, output: &Output) -> String {
        let holds = self.describe(*state);
        let what = self.describe_operation(input, Some(output));
        match input.op {
            OpKind::Put | OpKind::Write => {
                let version = input.version.unwrap_or_default();
                let would = if state.version == version {
                    "it would be applied"
                } else {
                    "it would not be applied"
                };
                format!("{what}, but the key is {holds}: {would}")
            }
            _ => format!("{what}, but the key is {holds}"),
        }
    }
}
