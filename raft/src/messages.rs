//! The RPC arguments and replies of Raft, and the log entry. **Student code**: you may add fields
//! (they travel through the simulated network serialized, and their bytes are counted), but keep the
//! type names, which the framework's [`Request`](crate::contract::Request) and
//! [`Reply`](crate::contract::Reply) enums use, and keep the derives: the model checker stores,
//! orders and fingerprints messages.

use serde::{Deserialize, Serialize};

use crate::contract::{Command, PeerId};

/// One log entry. Its index is implicit: its position in the log.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub command: Command,
}

/// RequestVote RPC arguments (Figure 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestVoteArgs {
    // BEGIN SOLUTION
    pub term: u64,
    pub candidate: PeerId,
    pub last_log_index: u64,
    pub last_log_term: u64,
    // STUB
    // // Your fields here (Figure 2).
    // END SOLUTION
}

/// RequestVote RPC reply (Figure 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestVoteReply {
    // BEGIN SOLUTION
    pub term: u64,
    pub vote_granted: bool,
    // STUB
    // // Your fields here (Figure 2).
    // END SOLUTION
}

/// AppendEntries RPC arguments (Figure 2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppendEntriesArgs {
    // BEGIN SOLUTION
    pub term: u64,
    pub leader: PeerId,
    pub prev_log_index: u64,
    pub prev_log_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
    // STUB
    // // Your fields here (Figure 2).
    // END SOLUTION
}

/// AppendEntries RPC reply (Figure 2), plus the hints for fast nextIndex backup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AppendEntriesReply {
    // BEGIN SOLUTION
    pub term: u64,
    pub success: bool,
    /// On failure: the first index of the conflicting term in the follower's log, or the follower's
    /// log length + 1 when its log is too short (`conflict_term` is then `None`).
    pub conflict_index: u64,
    pub conflict_term: Option<u64>,
    // STUB
    // // Your fields here (Figure 2).
    // END SOLUTION
}

/// InstallSnapshot RPC arguments (Figure 13, sent whole: no `offset`/`done` chunking).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstallSnapshotArgs {
    // BEGIN SOLUTION
    pub term: u64,
    pub leader: PeerId,
    pub last_included_index: u64,
    pub last_included_term: u64,
    pub data: Vec<u8>,
    // STUB
    // // Your fields here (Figure 2).
    // END SOLUTION
}

/// InstallSnapshot RPC reply (Figure 13).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstallSnapshotReply {
    // BEGIN SOLUTION
    pub term: u64,
    // STUB
    // // Your fields here (Figure 2).
    // END SOLUTION
}
