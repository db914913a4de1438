//! Checks on what every server says of its persistent state (term and vote), run with the
//! completeness check all through a Raft test. Each sees the symptom of a class of mistakes
//! directly, where the course's checks would need a rare interleaving to turn it into two leaders
//! or two different applies:
//! - a server's term never goes back, across restarts too (a term or a candidacy not persisted);
//! - a server's vote in a term never changes, across restarts too (a vote not persisted, or cleared
//!   while the term stays);
//! - every leader holds the votes of a majority of its term (votes counted from a reply of an
//!   earlier candidacy, or counted twice).

use std::collections::BTreeMap;

use raft::contract::{PeerId, RaftContract};

use super::Cluster;

/// What the checks remember between polls.
#[derive(Default)]
pub(super) struct VoteHistory {
    /// Per server: the largest term it has been seen in.
    max_term: BTreeMap<PeerId, u64>,
    /// Per server: the term and the vote it was last seen with, once it had voted in that term.
    vote: BTreeMap<PeerId, (u64, PeerId)>,
}

impl Cluster {
    /// Run the checks on every running server's current term and vote.
    pub(super) fn check_terms_and_votes(&self, history: &mut VoteHistory) -> Result<(), String> {
        let nodes = self.nodes.borrow();
        let ids = self.ids();
        // (term, vote) of every running server.
        let mut seen = BTreeMap::new();
        for node in nodes.iter().flatten() {
            let (term, vote) = node.inspect_raft(|rf| {
                let view = rf.observe();
                (view.term, view.voted_for)
            });
            seen.insert(node.id(), (term, vote));
        }
        for (&i, &(term, vote)) in &seen {
            let max = history.max_term.entry(i).or_insert(term);
            if term < *max {
                return Err(format!(
                    "server {i} is in term {term} after it was in term {max}: a term must never go \
                     back, not even across a crash (persist it whenever it changes)"
                ));
            }
            *max = term;
            match (history.vote.get(&i), vote) {
                (Some(&(t, v)), now) if t == term && now != Some(v) => {
                    return Err(format!(
                        "server {i} voted for server {v} in term {term}, and now its vote in that \
                         term is {now:?}: a vote, once given, must not change or be forgotten in \
                         its term (not even across a crash)"
                    ));
                }
                (_, Some(v)) => {
                    history.vote.insert(i, (term, v));
                }
                (_, None) => {}
            }
        }
        // A leader of term T was voted for by a majority in T. Each of those voters is still in
        // T with that vote, or has moved on to a later term (or is down, and we cannot tell).
        // This counts the servers the harness started with: a cluster whose membership changed
        // is not checked.
        if self.membership_changed.get() {
            return Ok(());
        }
        for (&leader, &(term, _)) in &seen {
            let leads = nodes[leader].as_ref().is_some_and(|n| n.state().1);
            if !leads {
                continue;
            }
            let support = (ids.iter())
                .filter(|j| match seen.get(j) {
                    None => true,
                    Some(&(t, v)) => t > term || (t == term && v == Some(leader)),
                })
                .count();
            if support * 2 <= ids.len() {
                let votes: Vec<String> = (seen.iter())
                    .map(|(j, (t, v))| format!("s{j}: term {t} vote {v:?}"))
                    .collect();
                return Err(format!(
                    "server {leader} leads term {term} without the votes of a majority in that \
                     term ({}): a candidate must count each server's vote once, and only votes \
                     granted in its current term",
                    votes.join("; ")
                ));
            }
        }
        Ok(())
    }
}
