//! The model checker's Raft model: the **same** [`raft::Raft`] the labs run (or any type with the
//! contract's handlers, see [`RaftNode`]), wrapped as a `stateright` actor.
//!
//! stateright explores every order in which timers fire, messages are delivered (and, depending on
//! the network semantics, lost, duplicated or reordered), and servers crash and restart from their
//! persisted bytes. The model client's `commands` proposals are offered to every server at any time
//! (as timers that may fire whenever): a server that leads and lacks the command starts it, as
//! `[k, its term]`, so that no two proposals are the same bytes.
//!
//! Besides the servers, the model keeps **ghost** state for the properties (who led which term,
//! what was applied, violations seen along the way): Raft never sees it and crashes do not erase
//! it. A crashed server keeps nothing but what it persisted, so states that differ only in what a
//! crashed server had in memory are one state.

//!
//! Where things are:
//! - [`bounds`]: what to check (the model's bounds) and how to explore it (strategy, threads);
//! - [`node`]: what the model needs of a Raft (the contract);
//! - [`actor`]: one server as a stateright actor (messages, timers, storage, handlers' effects);
//! - [`ghost`]: the ghost state the properties read;
//! - [`properties`]: the properties;
//! - [`state`], [`step`], [`action`], [`raft_model`]: the model's state, its steps (remembered per
//!   machine), its actions, and the model itself;
//! - [`search`], [`check`], [`shorten`], [`symmetry`]: searching the model, short
//!   counterexamples, and symmetry reduction;
//! - [`report`], [`trace`], [`page`], [`cli`]: what a check found, a path in words, a path as a
//!   step-through page, the command line;
//! - [`panics`], [`shared`]: catching the Raft's panics, and interned values.
//!
//! The items most users need are re-exported here; the modules import each other directly.

pub mod action;
pub mod actor;
pub mod bounds;
pub mod check;
pub mod cli;
pub mod clock;
pub mod ghost;
pub mod node;
pub mod page;
pub mod panics;
pub mod properties;
pub mod raft_model;
pub mod report;
pub mod search;
pub mod shared;
pub mod shorten;
pub mod state;
mod step;
pub mod symmetry;
pub mod trace;

pub use action::{RaftAction, RaftPath};
pub use actor::{ActorStep, ModelTimer, Msg, RaftActor, Server, ServiceSnapshot, Stored};
pub use bounds::{Bounds, NetworkSemantics};
pub use ghost::{Ghost, GhostEvent, Violation};
pub use node::RaftNode;
pub use raft_model::{RaftModel, model};
pub use shared::{Counted, Shared};
pub use state::{Flight, History, Machine, RaftState};
#[doc(hidden)]
pub use stateright;
