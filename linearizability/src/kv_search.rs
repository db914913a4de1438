//! The sequential key/value store the histories are checked against.
//!
//! *Values as tree nodes.* Values are never copied while searching. Every value the search meets
//! is a node of a tree per key: the empty value is the root, and appending the text `t` to node
//! `v` gives the child `(v, t)` (a put of `t` is the child `(root, t)`). Children are shared, so a
//! state is just one node id per key, cheap to clone, compare and hash. Each node also carries its
//! length and a polynomial hash of its bytes (computed from its parent's in O(1)); a get compares
//! those first and only compares the actual bytes when both agree, remembering the answer.
//!
//! *Unobservable values.* A value that is not a prefix of anything any get of its key returned can
//! never be read, nor can anything appended to it: only a later put can make the key readable
//! again. All such values of a key are therefore one and the same state, `DEAD`. This merges the
//! many orders in which appends overwritten by a put (or never read at all) can be placed.
//! Finding out costs little: each node remembers one get output it is a prefix of (its witness),
//! a child usually continues its parent's witness, and otherwise a binary search among the key's
//! sorted outputs settles it.
//!
//! *Look-ahead.* Between two puts a value only grows. Take a get `g` not placed yet: if the last
//! put before `g` in some linearization is placed later than now, `g` read that put's text
//! followed by appends, so its output starts with that text and the put was called before `g`
//! returned. If no unplaced put fits that description, the key's current value must be a prefix
//! of what `g` read, or nothing placed from here on can ever make `g` right. Checking this for the
//! next few unplaced gets (by return time) rules out a wrong order of concurrent appends as soon
//! as it is made, instead of after every way to continue it was tried. The prefix test compares
//! the value's hash with the hash of that prefix of `g`'s output: unequal hashes prove the strings
//! differ, equal ones just mean no pruning, so the look-ahead never needs the bytes and is always
//! sound.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::rc::Rc;

use super::history::{OpKind, Operation};
use super::search::{Model, PassThrough, mix64};

type FastMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;
type TextIds<'h> = HashMap<&'h str, TextId, BuildHasherDefault<PassThrough>>;

/// Id of an interned text (an argument of a put/append, or the output of a get).
type TextId = u32;
/// Id of a value node. Nodes `0..keys` are the empty values of the keys, nodes `keys..2 * keys`
/// their `DEAD` values.
type NodeId = u32;
const NO_WITNESS: TextId = TextId::MAX;

/// The modulus of the byte-string hash, the Mersenne prime 2^61 - 1.
const MODULUS: u64 = (1 << 61) - 1;
/// The base of the byte-string hash.
const BASE: u64 = 0x0a3b_1c5d_2e7f_9011 % MODULUS;

fn mul_mod(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    let folded = (product as u64 & MODULUS) + (product >> 61) as u64;
    let folded = (folded & MODULUS) + (folded >> 61);
    if folded >= MODULUS {
        folded - MODULUS
    } else {
        folded
    }
}

fn add_mod(a: u64, b: u64) -> u64 {
    let sum = a + b;
    if sum >= MODULUS { sum - MODULUS } else { sum }
}

fn extend_hash(hash: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(hash, |h, &b| add_mod(mul_mod(h, BASE), u64::from(b) + 1))
}

/// How many of the next unplaced gets of a key the look-ahead compares the value with.
const LOOK_AHEAD: usize = 4;

/// Spacing of the stored prefix hashes of a get's output.
const CHECKPOINT: usize = 8;

struct Text<'h> {
    text: &'h str,
    hash: u64,
    /// `BASE` to the power of the length.
    shift: u64,
    /// Hashes of the prefixes of lengths 0, `CHECKPOINT`, 2 * `CHECKPOINT`, ..., computed the first
    /// time the look-ahead needs them.
    checkpoints: Option<Box<[u64]>>,
}

struct Node {
    parent: NodeId,
    /// The text appended to `parent`.
    text: TextId,
    key: usize,
    /// Length and hash of the value; `usize::MAX` and `u64::MAX` for `DEAD`, which match nothing.
    len: usize,
    hash: u64,
    /// A get output this value is a prefix of, if any.
    witness: TextId,
}

/// What a key/value operation does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KvOp {
    Get,
    Put,
    Append,
}

impl KvOp {
    /// Jepsen's read and write are a get and a put. (A cas never gets here: the KV model does not
    /// support it.)
    fn of(kind: OpKind) -> Self {
        match kind {
            OpKind::Get | OpKind::Read | OpKind::Cas => KvOp::Get,
            OpKind::Put | OpKind::Write => KvOp::Put,
            OpKind::Append => KvOp::Append,
        }
    }
}

/// One operation, ready to step.
#[derive(Clone, Copy)]
struct Step {
    op: KvOp,
    /// Index of the key among the keys of this model.
    key: usize,
    /// The put/append argument, or the get's output.
    text: TextId,
}

/// The gets of one key by return time, and the look-ahead's progress through them.
#[derive(Default)]
struct KeyGets {
    gets: Vec<usize>,
    /// `gets[..first]` are all placed, `gets[first]` is not.
    first: usize,
}

/// The values of all keys of a model: a node per key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Values {
    One(NodeId),
    Many(Rc<[NodeId]>),
}

/// A state of the store, with its fingerprint kept up to date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KvState {
    fingerprint: u64,
    values: Values,
}

impl KvState {
    fn get(&self, key: usize) -> NodeId {
        match &self.values {
            Values::One(node) => *node,
            Values::Many(nodes) => nodes[key],
        }
    }

    fn set(&self, key: usize, node: NodeId) -> Self {
        let old = self.get(key);
        if old == node {
            return self.clone();
        }
        let fingerprint = self
            .fingerprint
            .wrapping_sub(mix64(u64::from(old)))
            .wrapping_add(mix64(u64::from(node)));
        let values = match &self.values {
            Values::One(_) => Values::One(node),
            Values::Many(nodes) => {
                let mut nodes = nodes.to_vec();
                nodes[key] = node;
                Values::Many(nodes.into())
            }
        };
        Self {
            fingerprint,
            values,
        }
    }
}

/// The key/value store over the operations of one partition, numbered `0..ops.len()`.
pub(crate) struct KvModel<'h> {
    steps: Vec<Step>,
    /// Call and return time of each operation.
    windows: Vec<(u64, u64)>,
    /// How many distinct keys the operations touch.
    keys: usize,
    texts: Vec<Text<'h>>,
    /// Per key: the distinct outputs of its gets, sorted.
    outputs: Vec<Vec<TextId>>,
    nodes: Vec<Node>,
    /// `(node, text)` -> the node of that value with the text appended.
    children: FastMap<NodeId>,
    /// `(node, text)` -> whether the node's value is exactly that text.
    compared: FastMap<bool>,
    /// Per key, for the look-ahead.
    gets: Vec<KeyGets>,
    /// Per get: the puts of its key called before it returned whose text its output starts with
    /// (as far as hashes tell: a superset), i.e. the puts it may have read after.
    may_follow: Vec<Vec<usize>>,
    /// Which operations are placed, and each get's position in its `KeyGets` list.
    is_placed: Vec<bool>,
    position: Vec<usize>,
}

fn pair(a: u32, b: u32) -> u64 {
    mix64((u64::from(a) << 32) | u64::from(b))
}

impl<'h> KvModel<'h> {
    pub(crate) fn new(ops: &[&'h Operation]) -> Self {
        let mut key_ids = BTreeMap::new();
        for op in ops {
            key_ids.insert(op.input.key.as_str(), 0);
        }
        let keys = key_ids.len();
        for (i, id) in key_ids.values_mut().enumerate() {
            *id = i;
        }
        let mut model = Self {
            steps: Vec::with_capacity(ops.len()),
            windows: ops.iter().map(|op| (op.call, op.ret)).collect(),
            keys,
            texts: Vec::new(),
            outputs: vec![Vec::new(); keys],
            nodes: Vec::new(),
            children: FastMap::default(),
            compared: FastMap::default(),
            gets: (0..keys).map(|_| KeyGets::default()).collect(),
            may_follow: vec![Vec::new(); ops.len()],
            is_placed: vec![false; ops.len()],
            position: vec![0; ops.len()],
        };
        let mut text_ids = TextIds::default();
        model.intern("", &mut text_ids);
        for op in ops {
            let kind = KvOp::of(op.input.op);
            let text = match kind {
                KvOp::Get => op.output.text(),
                KvOp::Put | KvOp::Append => op.input.value.as_deref().unwrap_or(""),
            };
            let step = Step {
                op: kind,
                key: key_ids[op.input.key.as_str()],
                text: model.intern(text, &mut text_ids),
            };
            if step.op == KvOp::Get {
                model.outputs[step.key].push(step.text);
            }
            model.steps.push(step);
        }
        let texts = &model.texts;
        for outputs in &mut model.outputs {
            outputs.sort_by_key(|&t| texts[t as usize].text);
            outputs.dedup();
        }
        // The empty values, then the dead ones.
        for key in 0..keys {
            let witness = model.outputs[key].first().copied().unwrap_or(NO_WITNESS);
            model.nodes.push(Node {
                parent: key as NodeId,
                text: 0,
                key,
                len: 0,
                hash: 0,
                witness,
            });
        }
        for key in 0..keys {
            model.nodes.push(Node {
                parent: (keys + key) as NodeId,
                text: 0,
                key,
                len: usize::MAX,
                hash: u64::MAX,
                witness: NO_WITNESS,
            });
        }
        model.prepare_look_ahead();
        model
    }

    fn intern(&mut self, text: &'h str, ids: &mut TextIds<'h>) -> TextId {
        *ids.entry(text).or_insert_with(|| {
            let (hash, shift) = text.bytes().fold((0, 1), |(hash, shift), byte| {
                (
                    add_mod(mul_mod(hash, BASE), u64::from(byte) + 1),
                    mul_mod(shift, BASE),
                )
            });
            self.texts.push(Text {
                text,
                hash,
                shift,
                checkpoints: None,
            });
            (self.texts.len() - 1) as TextId
        })
    }

    /// Sorts each key's gets by return time and finds the puts each get may have read after.
    fn prepare_look_ahead(&mut self) {
        let mut puts_by_text: FastMap<Vec<usize>> = FastMap::default();
        let mut put_lengths = BTreeSet::new();
        for (i, step) in self.steps.iter().enumerate() {
            match step.op {
                KvOp::Get => self.gets[step.key].gets.push(i),
                KvOp::Put => {
                    let text = &self.texts[step.text as usize];
                    put_lengths.insert(text.text.len());
                    puts_by_text
                        .entry(mix64(text.hash ^ text.text.len() as u64))
                        .or_default()
                        .push(i);
                }
                KvOp::Append => {}
            }
        }
        let windows = &self.windows;
        for key in &mut self.gets {
            key.gets.sort_by_key(|&i| (windows[i].1, i));
            for (pos, &i) in key.gets.iter().enumerate() {
                self.position[i] = pos;
            }
        }
        if puts_by_text.is_empty() {
            return;
        }
        for get in 0..self.steps.len() {
            let Step { op, key, text } = self.steps[get];
            if op != KvOp::Get {
                continue;
            }
            let output = self.texts[text as usize].text.as_bytes();
            let mut prefix_hash = 0;
            let mut hashed = 0;
            for &len in put_lengths.range(..=output.len()) {
                prefix_hash = extend_hash(prefix_hash, &output[hashed..len]);
                hashed = len;
                let Some(puts) = puts_by_text.get(&mix64(prefix_hash ^ len as u64)) else {
                    continue;
                };
                let follows = puts.iter().copied().filter(|&p| {
                    self.steps[p].key == key && self.windows[p].0 <= self.windows[get].1
                });
                self.may_follow[get].extend(follows);
            }
        }
    }

    fn empty(&self, key: usize) -> NodeId {
        key as NodeId
    }

    fn dead(&self, key: usize) -> NodeId {
        (self.keys + key) as NodeId
    }

    fn is_root(&self, node: NodeId) -> bool {
        (node as usize) < 2 * self.keys
    }

    /// The node for `node`'s value followed by `text`.
    fn append(&mut self, node: NodeId, text: TextId) -> NodeId {
        let parent = &self.nodes[node as usize];
        let appended = &self.texts[text as usize];
        if appended.text.is_empty() {
            return node;
        }
        if parent.witness == NO_WITNESS {
            // Unobservable, and appending keeps it so.
            return self.dead(parent.key);
        }
        if let Some(&child) = self.children.get(&pair(node, text)) {
            return child;
        }
        let (key, len) = (parent.key, parent.len + appended.text.len());
        let hash = add_mod(mul_mod(parent.hash, appended.shift), appended.hash);
        let child = match self.find_witness(node, text) {
            Some(witness) => {
                self.nodes.push(Node {
                    parent: node,
                    text,
                    key,
                    len,
                    hash,
                    witness,
                });
                (self.nodes.len() - 1) as NodeId
            }
            None => self.dead(key),
        };
        self.children.insert(pair(node, text), child);
        child
    }

    /// A get output of the key that `node`'s value followed by `text` is a prefix of, if any
    /// (`node` has a witness).
    fn find_witness(&self, node: NodeId, text: TextId) -> Option<TextId> {
        let parent = &self.nodes[node as usize];
        let appended = self.texts[text as usize].text;
        let witness = self.texts[parent.witness as usize].text;
        let continues = witness
            .as_bytes()
            .get(parent.len..)
            .is_some_and(|rest| rest.starts_with(appended.as_bytes()));
        if continues {
            return Some(parent.witness);
        }
        let mut value = self.value(node);
        value.push_str(appended);
        let outputs = &self.outputs[parent.key];
        let first_not_below = outputs.partition_point(|&t| self.texts[t as usize].text < &*value);
        outputs
            .get(first_not_below)
            .copied()
            .filter(|&t| self.texts[t as usize].text.starts_with(&value))
    }

    /// Whether the value of `node` is exactly `text`.
    fn equals(&mut self, node: NodeId, text: TextId) -> bool {
        let (value, expected) = (&self.nodes[node as usize], &self.texts[text as usize]);
        if value.len != expected.text.len() || value.hash != expected.hash {
            return false;
        }
        if let Some(&known) = self.compared.get(&pair(node, text)) {
            return known;
        }
        let equal = self.ends_with(node, expected.text.as_bytes());
        self.compared.insert(pair(node, text), equal);
        equal
    }

    /// Whether `bytes` is exactly the value of `node` (not `DEAD`), compared from the end, one
    /// appended text at a time.
    fn ends_with(&self, mut node: NodeId, mut bytes: &[u8]) -> bool {
        while !self.is_root(node) {
            let Node { parent, text, .. } = self.nodes[node as usize];
            let piece = self.texts[text as usize].text.as_bytes();
            match bytes.strip_suffix(piece) {
                Some(rest) => bytes = rest,
                None => return false,
            }
            node = parent;
        }
        bytes.is_empty()
    }

    /// Whether the value of `node` may be a prefix of `text` (false only if it certainly is not).
    fn may_be_prefix(&mut self, node: NodeId, text: TextId) -> bool {
        let value = &self.nodes[node as usize];
        let (len, hash) = (value.len, value.hash);
        let target = &mut self.texts[text as usize];
        let bytes = target.text.as_bytes();
        if len > bytes.len() {
            return false;
        }
        let checkpoints = target.checkpoints.get_or_insert_with(|| {
            let mut hashes = vec![0];
            let mut h = 0;
            for chunk in bytes.chunks(CHECKPOINT) {
                h = extend_hash(h, chunk);
                hashes.push(h);
            }
            hashes.into()
        });
        let whole = len / CHECKPOINT;
        extend_hash(checkpoints[whole], &bytes[whole * CHECKPOINT..len]) == hash
    }

    /// The value of `node` (not `DEAD`) as a string.
    fn value(&self, mut node: NodeId) -> String {
        let mut pieces = Vec::new();
        while !self.is_root(node) {
            let Node { parent, text, .. } = self.nodes[node as usize];
            pieces.push(self.texts[text as usize].text);
            node = parent;
        }
        pieces.reverse();
        pieces.concat()
    }
}

impl Model for KvModel<'_> {
    type State = KvState;

    fn init(&mut self) -> KvState {
        let values = match self.keys {
            0 | 1 => Values::One(self.empty(0)),
            keys => Values::Many((0..keys).map(|key| self.empty(key)).collect()),
        };
        KvState {
            fingerprint: (0..self.keys.max(1)).fold(0u64, |sum, key| {
                sum.wrapping_add(mix64(u64::from(self.empty(key))))
            }),
            values,
        }
    }

    fn step(&mut self, state: &KvState, op: usize) -> Option<KvState> {
        let Step { op, key, text } = self.steps[op];
        match op {
            KvOp::Get => self.equals(state.get(key), text).then(|| state.clone()),
            KvOp::Put => Some(state.set(key, self.append(self.empty(key), text))),
            KvOp::Append => Some(state.set(key, self.append(state.get(key), text))),
        }
    }

    fn fingerprint(&self, state: &KvState) -> u64 {
        state.fingerprint
    }

    fn is_read_only(&self, op: usize) -> bool {
        self.steps[op].op == KvOp::Get
    }

    fn insensitive(&self, op: usize) -> bool {
        self.steps[op].op != KvOp::Append
    }

    fn class(&self, op: usize) -> u64 {
        let Step { op, key, text } = self.steps[op];
        let kind = match op {
            KvOp::Get => 0,
            KvOp::Put => 1,
            KvOp::Append => 2,
        };
        ((key as u64) << 34) | (kind << 32) | u64::from(text)
    }

    fn placed(&mut self, op: usize) {
        self.is_placed[op] = true;
        let Step { op: kind, key, .. } = self.steps[op];
        if kind == KvOp::Get {
            let key = &mut self.gets[key];
            while key.gets.get(key.first).is_some_and(|&g| self.is_placed[g]) {
                key.first += 1;
            }
        }
    }

    fn unplaced(&mut self, op: usize) {
        self.is_placed[op] = false;
        let Step { op: kind, key, .. } = self.steps[op];
        if kind == KvOp::Get {
            let key = &mut self.gets[key];
            key.first = key.first.min(self.position[op]);
        }
    }

    fn viable(&mut self, _before: &KvState, state: &KvState, op: usize) -> bool {
        let key = self.steps[op].key;
        let node = state.get(key);
        let mut targets = [0; LOOK_AHEAD];
        let mut count = 0;
        let next_gets = self.gets[key].gets[self.gets[key].first..]
            .iter()
            .filter(|&&g| !self.is_placed[g])
            .take(LOOK_AHEAD);
        for &get in next_gets {
            let after_unplaced_put = self.may_follow[get].iter().any(|&p| !self.is_placed[p]);
            if !after_unplaced_put {
                targets[count] = self.steps[get].text;
                count += 1;
            }
        }
        targets[..count]
            .iter()
            .all(|&text| self.may_be_prefix(node, text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(ops: &[Operation]) -> KvModel<'_> {
        let refs: Vec<&Operation> = ops.iter().collect();
        KvModel::new(&refs)
    }

    #[test]
    fn appends_share_nodes_and_gets_compare_bytes() {
        let ops = [
            Operation::append(0, "k", "ab", 0, 1),
            Operation::append(1, "k", "c", 0, 1),
            Operation::get(2, "k", 0, 1, "abc"),
            Operation::get(2, "k", 0, 1, "acb"),
            Operation::put(3, "k", "abc", 0, 1),
        ];
        let mut model = model(&ops);
        let s0 = model.init();
        assert!(model.step(&s0, 2).is_none());
        let s1 = model.step(&s0, 0).unwrap();
        let s2 = model.step(&s1, 1).unwrap();
        assert!(model.step(&s2, 2).is_some());
        assert!(model.step(&s2, 3).is_none());
        assert_eq!(model.value(s2.get(0)), "abc");
        // Same path, same node.
        assert_eq!(model.step(&s1, 1).unwrap(), s2);
        // Same bytes through a put: a different node, but gets still see the same value.
        let s3 = model.step(&s0, 4).unwrap();
        assert!(model.step(&s3, 2).is_some());
    }

    #[test]
    fn values_no_get_can_read_are_one_state() {
        let ops = [
            Operation::append(0, "k", "a", 0, 1),
            Operation::append(1, "k", "b", 0, 1),
            Operation::get(2, "k", 0, 1, "a"),
            Operation::put(3, "k", "p", 0, 1),
        ];
        let mut model = model(&ops);
        let s0 = model.init();
        let a = model.step(&s0, 0).unwrap();
        let ab = model.step(&a, 1).unwrap();
        let b = model.step(&s0, 1).unwrap();
        let ba = model.step(&b, 0).unwrap();
        assert_ne!(a, b, "\"a\" can be read, \"b\" cannot");
        assert_eq!(ab, ba, "neither \"ab\" nor \"ba\" can be read");
        assert_eq!(b, ba);
        assert!(model.step(&b, 2).is_none());
        // A put makes the key readable again ("p" is not, but "" is a prefix of "a").
        let p = model.step(&ab, 3).unwrap();
        assert_eq!(model.step(&ba, 3).unwrap(), p);
    }

    #[test]
    fn many_keys_keep_fingerprints_consistent() {
        let ops = [
            Operation::put(0, "a", "1", 0, 1),
            Operation::put(0, "b", "2", 0, 1),
            Operation::get(0, "a", 0, 1, "1"),
            Operation::get(0, "b", 0, 1, "2"),
        ];
        let mut model = model(&ops);
        let s0 = model.init();
        let a = model.step(&s0, 0).unwrap();
        let ab = model.step(&a, 1).unwrap();
        let b = model.step(&s0, 1).unwrap();
        let ba = model.step(&b, 0).unwrap();
        assert_eq!(ab, ba);
        assert_eq!(model.fingerprint(&ab), model.fingerprint(&ba));
        assert_ne!(model.fingerprint(&ab), model.fingerprint(&s0));
        assert!(model.step(&ab, 2).is_some() && model.step(&ab, 3).is_some());
    }
}
