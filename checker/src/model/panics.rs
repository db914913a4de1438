//! A panic in the Raft under check is a finding, never a crashed search.
//!
//! Every call the model makes into the Raft (boot and restart, the handlers, `start`, `snapshot`,
//! and the `state`/`observe` reads of the properties and the printer) runs under [`catch`]. A
//! panic there is caught and becomes a violation of "the Raft does not panic" (see
//! `properties::NO_PANIC`), with the panic's message and where it happened: a panic hook,
//! installed once, records that in a thread-local while a call is being caught, instead of
//! printing it (a search meets the same panic in thousands of states). Panics anywhere else go to
//! the hook that was installed before, as usual.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

/// A caught panic: its message, and where it happened (`file:line`), if the hook saw it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Panic {
    pub message: String,
    pub location: Option<String>,
}

impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(location) => write!(f, "{} at {location}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

thread_local! {
    /// Whether this thread is inside [`catch`] (the hook then records instead of printing).
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// The panic the hook recorded last on this thread.
    static CAUGHT: RefCell<Option<Panic>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.try_with(Cell::get).unwrap_or(false) {
                let caught = Panic {
                    message: message(info.payload()),
                    location: info
                        .location()
                        .map(|l| format!("{}:{}", l.file(), l.line())),
                };
                let _ = CAUGHT.try_with(|c| *c.borrow_mut() = Some(caught));
            } else {
                previous(info);
            }
        }));
    });
}

/// A panic payload's message (`panic!` with a literal or with formatting; anything else is
/// described as such).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Run `f`, catching a panic: `Err` with its message and location if it panicked. Quiet: the
/// panic is not printed.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Panic> {
    install_hook();
    let outer = CATCHING.replace(true);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.set(outer);
    result.map_err(|payload| {
        CAUGHT.take().unwrap_or_else(|| Panic {
            message: message(&*payload),
            location: None,
        })
    })
}

/// How a violation of "the Raft does not panic" reads: `the Raft panicked: MESSAGE at FILE:LINE
/// (server N, WHILE)`.
pub fn describe(panic: &Panic, server: usize, doing: &str) -> String {
    format!("the Raft panicked: {panic} (server {server}, {doing})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_with_its_message_and_location() {
        let line = line!() + 1;
        let caught = catch(|| -> u8 { panic!("index {} out of bounds", 7) }).unwrap_err();
        assert_eq!(caught.message, "index 7 out of bounds");
        assert_eq!(
            caught.location.as_deref(),
            Some(format!("{}:{line}", file!()).as_str())
        );
        assert_eq!(catch(|| 5), Ok(5));
        // Nested: the inner panic is the inner catch's; the outer call goes on.
        let outer = catch(|| catch(|| -> u8 { panic!("inner") }).unwrap_err().message);
        assert_eq!(outer.as_deref(), Ok("inner"));
    }

    #[test]
    fn an_out_of_bounds_index_reads_as_rust_says_it() {
        let v: Vec<u8> = Vec::new();
        let at = std::hint::black_box(3);
        let caught = catch(|| v[at]).unwrap_err();
        assert!(caught.message.contains("index out of bounds"), "{caught:?}");
        assert!(
            caught
                .to_string()
                .contains(" at checker/src/model/panics.rs:")
        );
    }
}
