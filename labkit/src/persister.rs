//! The persister: the "disk" of one simulated server.
//!
//! It holds two byte strings, Raft's state and the service's snapshot, and saves them together
//! (atomically: nothing else can run between the two writes in the single-threaded simulation). On a
//! crash the tester gives the restarted server a [`Persister::copy`]: the crashed incarnation may still
//! hold its old handle, but nothing it writes after the crash reaches its successor.

use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Default, Debug, PartialEq, Eq)]
struct Saved {
    raft_state: Rc<[u8]>,
    snapshot: Rc<[u8]>,
}

/// A handle to one server's saved state. Clones share the same storage; use [`copy`](Self::copy)
/// for an independent one.
#[derive(Clone, Default, Debug)]
pub struct Persister(Rc<RefCell<Saved>>);

impl Persister {
    /// An empty persister (first boot).
    pub fn new() -> Persister {
        Persister::default()
    }

    /// An independent persister with the same contents.
    pub fn copy(&self) -> Persister {
        Persister(Rc::new(RefCell::new(self.0.borrow().clone())))
    }

    /// Save Raft's state and, if given, a new snapshot, in one step. `None` keeps the old snapshot.
    pub fn save(&self, raft_state: &[u8], snapshot: Option<&[u8]>) {
        let mut saved = self.0.borrow_mut();
        saved.raft_state = Rc::from(raft_state);
        if let Some(snapshot) = snapshot {
            saved.snapshot = Rc::from(snapshot);
        }
    }

    /// The last saved Raft state and snapshot, shared (not copied): for the run recorder.
    pub fn shared(&self) -> (Rc<[u8]>, Rc<[u8]>) {
        let saved = self.0.borrow();
        (saved.raft_state.clone(), saved.snapshot.clone())
    }

    /// The last saved Raft state (empty if none).
    pub fn read_raft_state(&self) -> Vec<u8> {
        self.0.borrow().raft_state.to_vec()
    }

    /// The last saved snapshot (empty if none).
    pub fn read_snapshot(&self) -> Vec<u8> {
        self.0.borrow().snapshot.to_vec()
    }

    /// Size in bytes of the saved Raft state.
    pub fn raft_state_size(&self) -> usize {
        self.0.borrow().raft_state.len()
    }

    /// Size in bytes of the saved snapshot.
    pub fn snapshot_size(&self) -> usize {
        self.0.borrow().snapshot.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_read_back() {
        let p = Persister::new();
        assert_eq!(p.raft_state_size(), 0);
        assert_eq!(p.read_snapshot(), Vec::<u8>::new());
        p.save(b"state1", Some(b"snap1"));
        p.save(b"state-two", None);
        assert_eq!(p.read_raft_state(), b"state-two");
        assert_eq!(p.read_snapshot(), b"snap1", "None keeps the snapshot");
        assert_eq!((p.raft_state_size(), p.snapshot_size()), (9, 5));
        p.save(b"s3", Some(b""));
        assert_eq!(
            p.snapshot_size(),
            0,
            "an empty snapshot replaces the old one"
        );
    }

    #[test]
    fn clones_share_and_copies_do_not() {
        let p = Persister::new();
        p.save(b"before crash", Some(b"snap"));
        let old_incarnation = p.clone();
        let successor = p.copy();
        // The crashed server's late write lands in its own storage only.
        old_incarnation.save(b"late write", Some(b"late snap"));
        assert_eq!(p.read_raft_state(), b"late write");
        assert_eq!(successor.read_raft_state(), b"before crash");
        assert_eq!(successor.read_snapshot(), b"snap");
        successor.save(b"new", None);
        assert_eq!(old_incarnation.read_raft_state(), b"late write");
    }
}
