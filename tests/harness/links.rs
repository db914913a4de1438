//! Arbitrary connectivity for the Raft harness: which server can reach which, as a set of one-way
//! links (lab 2E's partial and one-way partitions). `Cluster::set_connectivity` applies one.

use std::collections::BTreeSet;
use std::fmt;

use ::raft::contract::PeerId;

/// A set of one-way links. The link `from → to` is server `from`'s end to server `to`: it carries
/// `from`'s requests to `to` and `to`'s replies to them, as a labrpc end does. So with only
/// `a → b` up, `a` can call `b` (and hear the answers) while `b`'s calls to `a` are lost.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Links {
    up: BTreeSet<(PeerId, PeerId)>,
}

impl Links {
    /// No link at all.
    pub fn none() -> Links {
        Links::default()
    }

    /// Every server of `servers` linked both ways to every other.
    pub fn full(servers: impl IntoIterator<Item = PeerId>) -> Links {
        let servers: Vec<PeerId> = servers.into_iter().collect();
        let mut links = Links::none();
        for &a in &servers {
            for &b in &servers {
                if a != b {
                    links.up.insert((a, b));
                }
            }
        }
        links
    }

    /// From rows of a matrix: `rows[i]` has one character per server, `'1'` at position `j` when
    /// `i → j` is up (anything else, `'0'` or `'.'`, when it is down; the diagonal is ignored).
    pub fn from_rows(rows: &[&str]) -> Links {
        let mut links = Links::none();
        for (i, row) in rows.iter().enumerate() {
            for (j, c) in row.chars().enumerate() {
                if c == '1' && i != j {
                    links.up.insert((i, j));
                }
            }
        }
        links
    }

    /// Also the one-way link `from → to`.
    pub fn with(mut self, from: PeerId, to: PeerId) -> Links {
        if from != to {
            self.up.insert((from, to));
        }
        self
    }

    /// Also `a → b` and `b → a`.
    pub fn with_both(self, a: PeerId, b: PeerId) -> Links {
        self.with(a, b).with(b, a)
    }

    /// Without the one-way link `from → to`.
    pub fn without(mut self, from: PeerId, to: PeerId) -> Links {
        self.up.remove(&(from, to));
        self
    }

    /// Without any link to or from `server`.
    pub fn isolate(mut self, server: PeerId) -> Links {
        self.up.retain(|&(a, b)| a != server && b != server);
        self
    }

    /// Whether `from → to` is up.
    pub fn connects(&self, from: PeerId, to: PeerId) -> bool {
        self.up.contains(&(from, to))
    }

    /// Whether `server` has any link up, in either direction.
    pub fn touches(&self, server: PeerId) -> bool {
        self.up.iter().any(|&(a, b)| a == server || b == server)
    }
}

/// `0→1 0→2 1→0 ...`: the links that are up, in order.
impl fmt::Debug for Links {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let links: Vec<String> = self.up.iter().map(|(a, b)| format!("{a}→{b}")).collect();
        write!(f, "[{}]", links.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_one_way_and_the_matrix_reads_by_rows() {
        let links = Links::from_rows(&["011", "100", "000"]);
        assert!(links.connects(0, 1) && links.connects(0, 2) && links.connects(1, 0));
        assert!(!links.connects(2, 0) && !links.connects(1, 2) && !links.connects(0, 0));
        assert_eq!(links, Links::none().with_both(0, 1).with(0, 2));
        assert_eq!(
            Links::full(0..3).without(2, 0).without(2, 1).without(1, 2),
            links
        );
        assert_eq!(Links::full(0..3).isolate(2), Links::none().with_both(0, 1));
        assert!(links.touches(2) && !Links::full(0..3).isolate(2).touches(2));
        assert_eq!(format!("{links:?}"), "[0→1 0→2 1→0]");
    }
}
