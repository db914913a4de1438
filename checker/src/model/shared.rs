//! [`Shared`]: an immutable value that many model states share, hashed once.
//!
//! stateright clones a whole system state for every transition it tries and hashes every state it
//! generates. Most of a state does not change in one step: two of three servers, the persisted
//! bytes, the ghost history, the messages in flight. Wrapping those parts in `Shared` makes a clone
//! a reference-count increment and a hash one `u64` write, instead of copying and rehashing logs,
//! byte vectors and maps every time.
//!
//! Equality is by value (with a pointer shortcut) and the cached hash is the value's own hash, so
//! a state's fingerprint still depends only on its contents: two equal states built along
//! different paths have equal fingerprints, exactly as without `Shared`.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::sync::Arc;

/// A hash of `value` for the model's own uses (cached hashes, cache keys, symmetry's sort keys):
/// aHash with fixed keys, so the same on every run of one build on one machine, as stateright's
/// fingerprints, which use it the same way. It is several times faster than std's SipHash on the
/// small values hashed here, where SipHash took a tenth of a search's time.
pub fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    HASHER.hash_one(value)
}

/// A hasher that hashes as [`hash_of`] does, for values hashed piece by piece.
pub fn hasher() -> impl std::hash::Hasher {
    HASHER.build_hasher()
}

/// [`hash_of`]'s hasher (the keys are arbitrary; they only have to stay fixed).
const HASHER: ahash::RandomState = ahash::RandomState::with_seeds(
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
);

/// An immutable, reference-counted value with its hash computed once, when it is made.
pub struct Shared<T>(Arc<Inner<T>>);

struct Inner<T> {
    hash: u64,
    value: T,
}

impl<T: Hash> Shared<T> {
    /// Wrap `value`, hashing it (see [`hash_of`]).
    pub fn new(value: T) -> Self {
        Shared(Arc::new(Inner {
            hash: hash_of(&value),
            value,
        }))
    }

    /// Change the value; `f` returns whether it changed anything (if not, the value is kept as it
    /// was, so `f` must not change anything then). A value no one else holds is changed in place
    /// (a state that was just made, such as a step's result); otherwise through a copy.
    pub fn update(&mut self, f: impl FnOnce(&mut T) -> bool) -> bool
    where
        T: Clone,
    {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            let changed = f(&mut inner.value);
            if changed {
                inner.hash = hash_of(&inner.value);
            }
            return changed;
        }
        let mut value = self.0.value.clone();
        let changed = f(&mut value);
        if changed {
            *self = Shared::new(value);
        }
        changed
    }
}

impl<T> Shared<T> {
    /// Whether `a` and `b` are the same value (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0.value
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T: Hash> Hash for Shared<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.hash);
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.hash == other.0.hash && self.0.value == other.0.value)
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T: Ord> PartialOrd for Shared<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Shared<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        if Arc::ptr_eq(&self.0, &other.0) {
            Ordering::Equal
        } else {
            self.0.value.cmp(&other.0.value)
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.value.fmt(f)
    }
}

impl<T: Default + Hash> Default for Shared<T> {
    fn default() -> Self {
        Shared::new(T::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_built_apart_are_equal_and_hash_alike() {
        let a = Shared::new(vec![1u8, 2, 3]);
        let b = Shared::new(vec![1u8, 2, 3]);
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_ne!(a, Shared::new(vec![1u8, 2]));
        assert_ne!(hash_of(&a), hash_of(&Shared::new(vec![1u8, 2])));
    }

    #[test]
    fn update_rehashes_only_on_change() {
        let mut a = Shared::new(vec![1u8]);
        let before = a.clone();
        assert!(!a.update(|_| false));
        assert!(Arc::ptr_eq(&a.0, &before.0));
        assert!(a.update(|v| {
            v.push(2);
            true
        }));
        assert_eq!(a, Shared::new(vec![1u8, 2]));
        assert_eq!(hash_of(&a), hash_of(&Shared::new(vec![1u8, 2])));
        assert_eq!(*before, vec![1u8]);
    }

    #[test]
    fn a_value_no_one_else_holds_changes_in_place_and_is_rehashed() {
        let mut a = Shared::new(vec![1u8]);
        let at = Arc::as_ptr(&a.0);
        assert!(a.update(|v| {
            v.push(2);
            true
        }));
        assert_eq!(Arc::as_ptr(&a.0), at);
        assert_eq!(a, Shared::new(vec![1u8, 2]));
        assert_eq!(hash_of(&a), hash_of(&Shared::new(vec![1u8, 2])));
    }
}
