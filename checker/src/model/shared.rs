//! [`Shared`]: an immutable value that many model states share, hashed once and interned.
//!
//! stateright clones a whole system state for every transition it tries and hashes every state it
//! generates. Most of a state does not change in one step: two of three servers, the persisted
//! bytes, the ghost history, the messages in flight. Wrapping those parts in `Shared` makes a clone
//! a pointer copy and a hash one `u64` write, instead of copying and rehashing logs, byte vectors
//! and maps every time.
//!
//! A `Shared` value is interned: each thread keeps a table of the values it made, and making a
//! value equal to one in its table gives that one back. Values are never freed. That is what makes
//! them cheap: a state's parts take only a few thousand distinct values (a server, a set of
//! messages in flight) while the search makes hundreds of millions of states out of them, so
//! reference counts would cost far more (an atomic increment and decrement per part per state, on
//! counters both search threads touch) than keeping every distinct value does.
//!
//! Equality is by value (with a pointer shortcut: within a thread, equal values are one value) and
//! the cached hash is the value's own hash, so a state's fingerprint depends only on its contents:
//! two equal states built along different paths, or on different threads, have equal fingerprints.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use nohash_hasher::IntMap;

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

/// An immutable, interned value with its hash computed once, when it was first made.
pub struct Shared<T: 'static>(&'static Interned<T>);

struct Interned<T> {
    hash: u64,
    value: T,
    /// See [`Shared::derived`].
    derived: OnceLock<Box<dyn Any + Send + Sync>>,
}

impl<T: Hash + Eq + Sync> Shared<T> {
    /// The interned `value`: this thread's earlier value equal to it, or `value` itself, kept for
    /// good (see the module's documentation).
    pub fn new(value: T) -> Self {
        let hash = hash_of(&value);
        let earlier =
            with_table(|table: &mut IntMap<u64, &'static Interned<T>>| table.get(&hash).copied());
        // Compared outside the table's borrow: comparing may look at other `Shared` values.
        if let Some(earlier) = earlier
            && earlier.value == value
        {
            return Shared(earlier);
        }
        let interned: &'static Interned<T> = Box::leak(Box::new(Interned {
            hash,
            value,
            derived: OnceLock::new(),
        }));
        // A different value with the same hash keeps the table's place (it is merely not
        // shared); `earlier` is `None` otherwise.
        if earlier.is_none() {
            with_table(|table| table.insert(hash, interned));
        }
        Shared(interned)
    }

    /// Change the value; `f` returns whether it changed anything (if not, the value is kept as it
    /// was, so `f` must not change anything then). Changes a copy, which is interned: build a
    /// value whole and make it `Shared` once where intermediate values would be many.
    pub fn update(&mut self, f: impl FnOnce(&mut T) -> bool) -> bool
    where
        T: Clone,
    {
        let mut value = self.0.value.clone();
        let changed = f(&mut value);
        if changed {
            *self = Shared::new(value);
        }
        changed
    }
}

thread_local! {
    /// This thread's interned values, one table per type (a list: there are a handful of types).
    static TABLES: RefCell<Vec<(TypeId, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// Call `f` with this thread's table of interned `T`s, by hash.
fn with_table<T: 'static, U>(f: impl FnOnce(&mut IntMap<u64, &'static Interned<T>>) -> U) -> U {
    TABLES.with(|tables| {
        let mut tables = tables.borrow_mut();
        let id = TypeId::of::<T>();
        let at = match tables.iter().position(|(t, _)| *t == id) {
            Some(at) => at,
            None => {
                let table: IntMap<u64, &'static Interned<T>> = IntMap::default();
                tables.push((id, Box::new(table)));
                tables.len() - 1
            }
        };
        f(tables[at]
            .1
            .downcast_mut()
            .expect("the tables are keyed by type"))
    })
}

impl<T> Shared<T> {
    /// Whether `a` and `b` are the same value (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        std::ptr::eq(a.0, b.0)
    }

    /// Data derived from the value by `make`, made the first time it is asked for and kept with
    /// the value (which never changes), so that asking again costs no lookup. A value type has
    /// one kind of derived data: asking for another kind is a bug, and panics.
    pub fn derived<D: Any + Send + Sync>(&self, make: impl FnOnce(&T) -> D) -> &'static D {
        let inner: &'static Interned<T> = self.0;
        inner
            .derived
            .get_or_init(|| Box::new(make(&inner.value)))
            .downcast_ref()
            .expect("a value type has one kind of derived data")
    }
}

/// The traits `Shared` and `Counted` implement alike: through the value, with the pointer and
/// the cached hash as shortcuts.
macro_rules! by_value {
    ($wrapper:ident) => {
        impl<T> Deref for $wrapper<T> {
            type Target = T;
            fn deref(&self) -> &T {
                &self.0.value
            }
        }

        impl<T: Hash> Hash for $wrapper<T> {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                state.write_u64(self.0.hash);
            }
        }

        impl<T: PartialEq> PartialEq for $wrapper<T> {
            fn eq(&self, other: &Self) -> bool {
                $wrapper::ptr_eq(self, other)
                    || (self.0.hash == other.0.hash && self.0.value == other.0.value)
            }
        }

        impl<T: Eq> Eq for $wrapper<T> {}

        impl<T: Ord> PartialOrd for $wrapper<T> {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl<T: Ord> Ord for $wrapper<T> {
            fn cmp(&self, other: &Self) -> Ordering {
                if $wrapper::ptr_eq(self, other) {
                    Ordering::Equal
                } else {
                    self.0.value.cmp(&other.0.value)
                }
            }
        }

        impl<T: fmt::Debug> fmt::Debug for $wrapper<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.value.fmt(f)
            }
        }
    };
}

by_value!(Shared);
by_value!(Counted);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0)
    }
}

impl<T: Default + Hash + Eq + Sync> Default for Shared<T> {
    fn default() -> Self {
        Shared::new(T::default())
    }
}

/// An immutable, reference-counted value with its hash computed once, when it is made: for parts
/// of a state that take too many distinct values to keep them all, as [`Shared`] does (the
/// messages in flight: hundreds of thousands of distinct sets even in small bounds). A value is
/// freed when no state, cache or memo holds it any more.
pub struct Counted<T>(Arc<Counting<T>>);

struct Counting<T> {
    hash: u64,
    value: T,
}

impl<T: Hash> Counted<T> {
    /// Wrap `value`, hashing it (see [`hash_of`]).
    pub fn new(value: T) -> Self {
        Counted(Arc::new(Counting {
            hash: hash_of(&value),
            value,
        }))
    }

    /// Change the value; `f` returns whether it changed anything (if not, the value is kept as it
    /// was, so `f` must not change anything then). A value no one else holds is changed in place.
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
            *self = Counted::new(value);
        }
        changed
    }
}

impl<T> Counted<T> {
    /// Whether `a` and `b` are the same value (not merely equal ones).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl<T> Clone for Counted<T> {
    fn clone(&self) -> Self {
        Counted(Arc::clone(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_values_are_equal_by_value_and_change_in_place_when_no_one_else_holds_them() {
        let mut a = Counted::new(vec![1u8]);
        let b = Counted::new(vec![1u8]);
        assert!(!Counted::ptr_eq(&a, &b));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        let at = Arc::as_ptr(&a.0);
        assert!(a.update(|v| {
            v.push(2);
            true
        }));
        assert_eq!(Arc::as_ptr(&a.0), at);
        assert_eq!(a, Counted::new(vec![1u8, 2]));
        assert_eq!(hash_of(&a), hash_of(&Counted::new(vec![1u8, 2])));
        // Held twice: changed through a copy.
        let held = a.clone();
        assert!(a.update(|v| {
            v.push(3);
            true
        }));
        assert_eq!(*held, vec![1u8, 2]);
        assert_eq!(*a, vec![1u8, 2, 3]);
    }

    #[test]
    fn equal_values_built_apart_are_one_value() {
        let a = Shared::new(vec![1u8, 2, 3]);
        let b = Shared::new(vec![1u8, 2, 3]);
        assert!(Shared::ptr_eq(&a, &b));
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_ne!(a, Shared::new(vec![1u8, 2]));
        assert_ne!(hash_of(&a), hash_of(&Shared::new(vec![1u8, 2])));
    }

    #[test]
    fn equal_values_of_different_threads_are_equal_and_hash_alike() {
        let a = Shared::new(vec![7u8, 8]);
        let b = std::thread::spawn(|| Shared::new(vec![7u8, 8]))
            .join()
            .unwrap();
        assert!(!Shared::ptr_eq(&a, &b));
        assert_eq!(a, b);
        assert_eq!(a.cmp(&b), Ordering::Equal);
        assert_eq!(hash_of(&a), hash_of(&b));
    }

    #[test]
    fn update_rehashes_only_on_change_and_keeps_the_old_value() {
        let mut a = Shared::new(vec![1u8]);
        let before = a.clone();
        assert!(!a.update(|_| false));
        assert!(Shared::ptr_eq(&a, &before));
        assert!(a.update(|v| {
            v.push(2);
            true
        }));
        assert!(Shared::ptr_eq(&a, &Shared::new(vec![1u8, 2])));
        assert_eq!(hash_of(&a), hash_of(&Shared::new(vec![1u8, 2])));
        assert_eq!(*before, vec![1u8]);
    }

    /// Two values whose hashes collide: both are kept, and they stay different.
    #[derive(Debug, PartialEq, Eq)]
    struct Colliding(u8);

    impl Hash for Colliding {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            state.write_u8(0);
        }
    }

    #[test]
    fn values_with_colliding_hashes_stay_apart() {
        let a = Shared::new(Colliding(1));
        let b = Shared::new(Colliding(2));
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_ne!(a, b);
        assert_eq!(*b, Colliding(2));
        assert!(Shared::ptr_eq(&a, &Shared::new(Colliding(1))));
    }
}
