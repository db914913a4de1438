//! The KV server: a key/value map replicated with Raft. **Student code.**
//!
//! Each server owns a [`Raft`] and forwards Raft's events to it. A clerk's request becomes a
//! command in Raft's log; when Raft applies the command (every server applies the same commands in
//! the same order) the server executes it on its map and, if the clerk's request waits here,
//! answers it. Retries must not apply a write twice, so the replicated state remembers, per clerk,
//! the last write it applied. When Raft's persisted state grows past `maxraftstate` the server
//! snapshots its state and lets Raft drop the log it covers.

use raft::Raft;
use raft::contract::{PeerId, Persisted};

use crate::contract::{KvEffects, KvError, KvRequest, KvServerContract, RequestId};
// BEGIN SOLUTION
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tracing::{debug, trace};

use crate::common::{GetReply, PutAppendOp, PutAppendReply, Status};
use crate::contract::{ClientId, KvReply, Op};
use raft::contract::{ApplyMsg, RaftContract};
// END SOLUTION

/// One KV server.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvServer {
    // BEGIN SOLUTION
    me: PeerId,
    raft: Raft,
    /// Snapshot when Raft's persisted state reaches this many bytes (`None`: never).
    maxraftstate: Option<usize>,
    /// The replicated state: the same on every server after the same applies.
    state: State,
    /// Clerks' requests whose operation is in Raft's log but not applied yet, by log index.
    pending: BTreeMap<u64, Pending>,
    /// The size of the Raft state last persisted: what `maxraftstate` is compared with.
    raft_state_size: usize,
    // STUB
    // // Your state here.
    // END SOLUTION
}

// BEGIN SOLUTION
/// What the commands build, and exactly what a snapshot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct State {
    /// The last log index applied.
    index: u64,
    map: BTreeMap<String, String>,
    /// Per clerk, the sequence number of the last Put or Append applied. A clerk runs one operation
    /// at a time with increasing numbers, so a write numbered up to this one is a retry of a write
    /// that was applied already. It must be replicated (and snapshotted) with the map: whichever
    /// server leads next must recognise the same retries.
    last_write: BTreeMap<ClientId, u64>,
}

/// A clerk operation as it travels through Raft's log.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Command {
    client: ClientId,
    seq: u64,
    op: Op,
}

/// A request waiting for the command Raft placed at its index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pending {
    request: RequestId,
    /// The term the command was started in: if we stop leading it, the command may be lost.
    term: u64,
    client: ClientId,
    seq: u64,
    is_get: bool,
}

impl State {
    fn is_applied_write(&self, client: ClientId, seq: u64) -> bool {
        self.last_write
            .get(&client)
            .is_some_and(|&last| seq <= last)
    }

    /// Execute `op` (once: a retried write is skipped) and return the reply's status and value.
    fn execute(&mut self, client: ClientId, seq: u64, op: Op) -> (Status, String) {
        if let Op::Get { key } = &op {
            return match self.map.get(key) {
                Some(value) => (Status::Ok, value.clone()),
                None => (Status::NoKey, String::new()),
            };
        }
        if !self.is_applied_write(client, seq) {
            match op {
                Op::Put { key, value } => {
                    self.map.insert(key, value);
                }
                Op::Append { key, value } => self.map.entry(key).or_default().push_str(&value),
                Op::Get { .. } => {}
            }
            self.last_write.insert(client, seq);
        }
        (Status::Ok, String::new())
    }
}

fn reply(is_get: bool, status: Status, value: String) -> KvReply {
    if is_get {
        KvReply::Get(GetReply { status, value })
    } else {
        KvReply::PutAppend(PutAppendReply { status })
    }
}

fn decode_snapshot(bytes: &[u8]) -> Result<State, KvError> {
    match postcard::take_from_bytes::<State>(bytes) {
        Ok((state, [])) => Ok(state),
        Ok((_, rest)) => Err(KvError::CorruptSnapshot(format!(
            "{} trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(KvError::CorruptSnapshot(e.to_string())),
    }
}
// END SOLUTION

impl KvServerContract for KvServer {
    /// Boot server `me` of `peers`, or restart it from what it persisted last (empty on first
    /// boot). Snapshot when Raft's persisted state reaches `maxraftstate` bytes (`None`: never).
    fn new(
        me: PeerId,
        peers: &[PeerId],
        persisted: &Persisted,
        maxraftstate: Option<usize>,
        out: &mut KvEffects,
    ) -> Result<KvServer, KvError> {
        // BEGIN SOLUTION
        let options = raft::contract::Options::default(); // the KV labs run without 2E
        let raft = Raft::new(me, peers, persisted, options, &mut out.raft)?;
        let state = if persisted.snapshot.is_empty() {
            State::default()
        } else {
            decode_snapshot(&persisted.snapshot)?
        };
        // Raft resumes applying after its snapshot's index: ours must end there too.
        let raft_index = raft.observe().snapshot_index;
        if state.index != raft_index {
            return Err(KvError::CorruptSnapshot(format!(
                "it ends at index {}, but Raft's snapshot ends at {raft_index}",
                state.index
            )));
        }
        debug!(
            me,
            index = state.index,
            keys = state.map.len(),
            "KV server booted"
        );
        Ok(KvServer {
            me,
            raft,
            maxraftstate,
            state,
            pending: BTreeMap::new(),
            raft_state_size: persisted.state.len(),
        })
        // STUB
        // todo!("3A: boot the Raft and the service; 3B: restore the snapshot")
        // END SOLUTION
    }

    /// The Raft inside, for the tester (who leads, log sizes).
    fn raft(&self) -> &Raft {
        // BEGIN SOLUTION
        &self.raft
        // STUB
        // todo!("3A: return the Raft")
        // END SOLUTION
    }

    /// The Raft inside, for the framework to hand it Raft's own events.
    fn raft_mut(&mut self) -> &mut Raft {
        // BEGIN SOLUTION
        &mut self.raft
        // STUB
        // todo!("3A: return the Raft")
        // END SOLUTION
    }

    /// A clerk's request `id` arrived. Answer it with `out.reply(id, ..)`, now or once its
    /// operation is applied (or is known to be lost).
    fn on_client_request(
        &mut self,
        id: RequestId,
        request: KvRequest,
        out: &mut KvEffects,
    ) -> Result<(), KvError> {
        // BEGIN SOLUTION
        let (command, is_get) = match request {
            KvRequest::Get(args) => {
                let op = Op::Get { key: args.key };
                let command = Command {
                    client: args.client,
                    seq: args.seq,
                    op,
                };
                (command, true)
            }
            KvRequest::PutAppend(args) => {
                let (key, value) = (args.key, args.value);
                let op = match args.op {
                    PutAppendOp::Put => Op::Put { key, value },
                    PutAppendOp::Append => Op::Append { key, value },
                };
                let command = Command {
                    client: args.client,
                    seq: args.seq,
                    op,
                };
                (command, false)
            }
        };
        let (client, seq) = (command.client, command.seq);
        // A retry of a write this server has applied: it is done (and must not run again).
        if !is_get && self.state.is_applied_write(client, seq) {
            out.reply(id, reply(false, Status::Ok, String::new()));
            return Ok(());
        }
        let bytes = postcard::to_allocvec(&command).expect("encoding to memory cannot fail");
        match self.raft.start(bytes, &mut out.raft) {
            None => out.reply(id, reply(is_get, Status::WrongLeader, String::new())),
            Some((index, term)) => {
                trace!(me = self.me, index, term, client, seq, "started");
                let waiting = Pending {
                    request: id,
                    term,
                    client,
                    seq,
                    is_get,
                };
                if let Some(old) = self.pending.insert(index, waiting) {
                    // Raft reused an index we were waiting on: that command is gone.
                    out.reply(
                        old.request,
                        reply(old.is_get, Status::WrongLeader, String::new()),
                    );
                }
            }
        }
        Ok(())
        // STUB
        // todo!("3A: start the operation in Raft and remember who waits for which index")
        // END SOLUTION
    }

    /// Raft handled an event: apply what it delivered, snapshot if the log grew too big, and give
    /// up on the requests that can no longer commit here.
    fn after_raft(&mut self, out: &mut KvEffects) -> Result<(), KvError> {
        // BEGIN SOLUTION
        for msg in std::mem::take(&mut out.raft.applies) {
            match msg {
                ApplyMsg::Command { index, command } => self.apply(index, &command, out)?,
                ApplyMsg::Snapshot { index, data, .. } => self.install(index, &data, out)?,
            }
        }
        self.note_persisted(out);
        self.maybe_snapshot(out);
        self.note_persisted(out);
        self.drop_lost_requests(out);
        Ok(())
        // STUB
        // todo!("3A: apply what Raft committed and answer the waiting clerks; 3B: snapshot")
        // END SOLUTION
    }
}

// BEGIN SOLUTION
impl KvServer {
    fn apply(&mut self, index: u64, bytes: &[u8], out: &mut KvEffects) -> Result<(), KvError> {
        if index <= self.state.index {
            return Ok(()); // covered by our snapshot already
        }
        if index != self.state.index + 1 {
            // Applying past a gap would silently diverge from the other servers.
            return Err(KvError::OutOfOrder {
                expected: self.state.index + 1,
                got: index,
            });
        }
        let corrupt = |reason: String| KvError::CorruptCommand { index, reason };
        let command: Command = match postcard::take_from_bytes(bytes) {
            Ok((command, [])) => command,
            Ok((_, rest)) => return Err(corrupt(format!("{} trailing bytes", rest.len()))),
            Err(e) => return Err(corrupt(e.to_string())),
        };
        self.state.index = index;
        let (client, seq) = (command.client, command.seq);
        let (status, value) = self.state.execute(client, seq, command.op);
        if let Some(p) = self.pending.remove(&index) {
            // Another command at the request's index means the request's command was lost.
            let answer = if (p.client, p.seq) == (client, seq) {
                reply(p.is_get, status, value)
            } else {
                reply(p.is_get, Status::WrongLeader, String::new())
            };
            out.reply(p.request, answer);
        }
        Ok(())
    }

    /// Raft installed the leader's snapshot: it replaces our state.
    fn install(&mut self, index: u64, data: &[u8], out: &mut KvEffects) -> Result<(), KvError> {
        if index <= self.state.index {
            return Ok(());
        }
        let state = decode_snapshot(data)?;
        if state.index != index {
            return Err(KvError::CorruptSnapshot(format!(
                "Raft delivered it for index {index}, but it ends at {}",
                state.index
            )));
        }
        debug!(me = self.me, index, "installed a snapshot");
        self.state = state;
        // We cannot tell the outcome of the requests whose index the snapshot covers.
        let after = self.pending.split_off(&(index + 1));
        for p in std::mem::replace(&mut self.pending, after).into_values() {
            out.reply(
                p.request,
                reply(p.is_get, Status::WrongLeader, String::new()),
            );
        }
        Ok(())
    }

    fn note_persisted(&mut self, out: &KvEffects) {
        if let Some(p) = &out.raft.persist {
            self.raft_state_size = p.state.len();
        }
    }

    fn maybe_snapshot(&mut self, out: &mut KvEffects) {
        let Some(max) = self.maxraftstate else { return };
        // Only applied entries can go: without new ones a snapshot would not shrink the log.
        if self.raft_state_size >= max && self.state.index > self.raft.observe().snapshot_index {
            let data = postcard::to_allocvec(&self.state).expect("encoding to memory cannot fail");
            debug!(
                me = self.me,
                index = self.state.index,
                bytes = data.len(),
                "snapshot"
            );
            self.raft.snapshot(self.state.index, data, &mut out.raft);
        }
    }

    /// A request whose command was started in a term we no longer lead may never commit (or
    /// commit without us noticing): answer it, so that its clerk tries elsewhere. The clerk's
    /// retry is safe: a write that did commit is recognised and not applied twice.
    fn drop_lost_requests(&mut self, out: &mut KvEffects) {
        if self.pending.is_empty() {
            return;
        }
        let (term, leader) = self.raft.state();
        self.pending.retain(|_, p| {
            let alive = leader && p.term == term;
            if !alive {
                out.reply(
                    p.request,
                    reply(p.is_get, Status::WrongLeader, String::new()),
                );
            }
            alive
        });
    }
}
// END SOLUTION
