//! What the model needs from a Raft implementation: exactly the handlers of the contract
//! (`raft/src/contract.rs`). The model is generic over it so that it can check the reference, a
//! student's Raft (the same crate, rebuilt), and the broken variants the tests use.

use std::fmt::Debug;
use std::hash::Hash;

use raft::contract::{
    Command, CorruptState, Effects, Observation, PeerId, Persisted, Reply, Request, Timer,
};

/// A Raft state machine as the contract describes it.
pub trait RaftNode: Clone + Debug + Eq + Hash + Send + Sync + 'static {
    fn boot(
        me: PeerId,
        peers: usize,
        persisted: &Persisted,
        out: &mut Effects,
    ) -> Result<Self, CorruptState>;
    fn state(&self) -> (u64, bool);
    fn observe(&self) -> Observation<'_>;
    fn on_timer(&mut self, timer: Timer, out: &mut Effects);
    fn on_request(&mut self, from: PeerId, request: Request, out: &mut Effects) -> Reply;
    fn on_reply(&mut self, from: PeerId, request: Request, reply: Reply, out: &mut Effects);
    fn start(&mut self, command: Command, out: &mut Effects) -> Option<(u64, u64)>;
    fn snapshot(&mut self, index: u64, snapshot: Vec<u8>, out: &mut Effects);

    // Optional renaming of servers, for symmetry reduction (see `raft::Raft::relabel`): each
    // renames server `p` to `to[p]`; `None` means the implementation does not support it.

    /// This server's state with its server ids renamed.
    fn relabel(&self, to: &[PeerId]) -> Option<Self> {
        let _ = to;
        None
    }
    /// Persisted bytes with their server ids renamed.
    fn relabel_persisted(state: &[u8], to: &[PeerId]) -> Option<Vec<u8>> {
        let _ = (state, to);
        None
    }
    /// A request with its server ids renamed.
    fn relabel_request(request: &Request, to: &[PeerId]) -> Option<Request> {
        let _ = (request, to);
        None
    }
    /// A reply with its server ids renamed.
    fn relabel_reply(reply: &Reply, to: &[PeerId]) -> Option<Reply> {
        let _ = (reply, to);
        None
    }
}

/// Implement [`RaftNode`] for a type with the contract's inherent methods (the student's `Raft`,
/// or a copy of it).
#[macro_export]
macro_rules! impl_raft_node {
    ($raft:ty) => {
        impl $crate::model::node::RaftNode for $raft {
            fn boot(
                me: ::raft::contract::PeerId,
                peers: usize,
                persisted: &::raft::contract::Persisted,
                out: &mut ::raft::contract::Effects,
            ) -> Result<Self, ::raft::contract::CorruptState> {
                <$raft>::new(me, peers, persisted, out)
            }
            fn state(&self) -> (u64, bool) {
                <$raft>::state(self)
            }
            fn observe(&self) -> ::raft::contract::Observation<'_> {
                <$raft>::observe(self)
            }
            fn on_timer(
                &mut self,
                timer: ::raft::contract::Timer,
                out: &mut ::raft::contract::Effects,
            ) {
                <$raft>::on_timer(self, timer, out)
            }
            fn on_request(
                &mut self,
                from: ::raft::contract::PeerId,
                request: ::raft::contract::Request,
                out: &mut ::raft::contract::Effects,
            ) -> ::raft::contract::Reply {
                <$raft>::on_request(self, from, request, out)
            }
            fn on_reply(
                &mut self,
                from: ::raft::contract::PeerId,
                request: ::raft::contract::Request,
                reply: ::raft::contract::Reply,
                out: &mut ::raft::contract::Effects,
            ) {
                <$raft>::on_reply(self, from, request, reply, out)
            }
            fn start(
                &mut self,
                command: ::raft::contract::Command,
                out: &mut ::raft::contract::Effects,
            ) -> Option<(u64, u64)> {
                <$raft>::start(self, command, out)
            }
            fn snapshot(
                &mut self,
                index: u64,
                snapshot: Vec<u8>,
                out: &mut ::raft::contract::Effects,
            ) {
                <$raft>::snapshot(self, index, snapshot, out)
            }
            fn relabel(&self, to: &[::raft::contract::PeerId]) -> Option<Self> {
                <$raft>::relabel(self, to)
            }
            fn relabel_persisted(state: &[u8], to: &[::raft::contract::PeerId]) -> Option<Vec<u8>> {
                <$raft>::relabel_persisted(state, to)
            }
            fn relabel_request(
                request: &::raft::contract::Request,
                to: &[::raft::contract::PeerId],
            ) -> Option<::raft::contract::Request> {
                <$raft>::relabel_request(request, to)
            }
            fn relabel_reply(
                reply: &::raft::contract::Reply,
                to: &[::raft::contract::PeerId],
            ) -> Option<::raft::contract::Reply> {
                <$raft>::relabel_reply(reply, to)
            }
        }
    };
}

crate::impl_raft_node!(raft::Raft);
