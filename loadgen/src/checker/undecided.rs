//! Checks the run could not decide, counted by cause.
//!
//! A check that is skipped because its event fell inside an uncertainty
//! window (a connection Opening or Closing, a friendship being accepted) is
//! not undecided: the contract allows either outcome there, so there is
//! nothing to decide. What is counted here is a check that *should* have
//! been judged but could not be, because the generator ran out of time or
//! data: sends still younger than δ when the run ended, a history read
//! that failed, a ghost probe that got no answer, suspicions dropped
//! unjudged, a barrier snapshot whose reply never came. Such a run is not
//! clean (CLI.md: "An undecided check is not a pass"): the report lists
//! each cause with its count and the run exits 3.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a check could not be decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UndecidedKind {
    /// I5: sends still younger than δ at the final barrier, even after it
    /// waited up to `checker.final_wait`: late or lost, nobody can tell.
    SendsTooRecent,
    /// I1/I4: a barrier's fresh `get_online_friends` got no reply within
    /// the settle limit, so that connection's view was not judged exactly.
    SnapshotUnanswered,
    /// I11: a conversation's history could not be read back.
    HistoryUnread,
    /// I12: the ghost probe (`GET /me/friends`, `/metrics`) got no answer.
    GhostProbeFailed,
    /// I2: suspicions dropped unjudged (a connection's deferred list was full).
    SuspicionsDropped,
}

impl UndecidedKind {
    /// Every kind, in report order.
    pub const ALL: [UndecidedKind; 5] = [
        UndecidedKind::SendsTooRecent,
        UndecidedKind::SnapshotUnanswered,
        UndecidedKind::HistoryUnread,
        UndecidedKind::GhostProbeFailed,
        UndecidedKind::SuspicionsDropped,
    ];

    /// The report key.
    pub fn as_str(self) -> &'static str {
        match self {
            UndecidedKind::SendsTooRecent => "sends_too_recent",
            UndecidedKind::SnapshotUnanswered => "snapshot_unanswered",
            UndecidedKind::HistoryUnread => "history_unread",
            UndecidedKind::GhostProbeFailed => "ghost_probe_failed",
            UndecidedKind::SuspicionsDropped => "suspicions_dropped",
        }
    }

    /// The invariants it leaves undecided.
    pub fn invariants(self) -> &'static str {
        match self {
            UndecidedKind::SendsTooRecent => "I5",
            UndecidedKind::SnapshotUnanswered => "I1, I4",
            UndecidedKind::HistoryUnread => "I11",
            UndecidedKind::GhostProbeFailed => "I12",
            UndecidedKind::SuspicionsDropped => "I2",
        }
    }

    /// One line for the report: what was not decided, and why.
    pub fn why(self) -> &'static str {
        match self {
            UndecidedKind::SendsTooRecent => {
                "sends younger than δ when the run ended (late or lost cannot be told apart); a longer checker.final_wait decides them"
            }
            UndecidedKind::SnapshotUnanswered => {
                "barrier snapshots not answered within the settle limit (10 s)"
            }
            UndecidedKind::HistoryUnread => "conversation histories that could not be read back",
            UndecidedKind::GhostProbeFailed => "the end-of-run probe got no answer",
            UndecidedKind::SuspicionsDropped => {
                "presence suspicions dropped unjudged (a connection's deferred list was full)"
            }
        }
    }
}

/// Undecided checks per cause.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Undecided(BTreeMap<UndecidedKind, u64>);

impl Undecided {
    /// Counts `n` checks left undecided for `kind`.
    pub fn add(&mut self, kind: UndecidedKind, n: u64) {
        if n > 0 {
            *self.0.entry(kind).or_default() += n;
        }
    }

    /// How many were left undecided for `kind`.
    pub fn get(&self, kind: UndecidedKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }

    /// Whether every check was decided.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds another count.
    pub fn merge(&mut self, o: &Undecided) {
        for (k, n) in &o.0 {
            self.add(*k, *n);
        }
    }

    /// `(kind, count)` for the kinds with a count, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (UndecidedKind, u64)> + '_ {
        self.0.iter().map(|(k, n)| (*k, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_zero_is_nothing() {
        let mut a = Undecided::default();
        a.add(UndecidedKind::HistoryUnread, 0);
        assert!(a.is_empty());
        a.add(UndecidedKind::SendsTooRecent, 3);
        let mut b = Undecided::default();
        b.add(UndecidedKind::SendsTooRecent, 2);
        b.add(UndecidedKind::GhostProbeFailed, 1);
        a.merge(&b);
        assert_eq!(a.get(UndecidedKind::SendsTooRecent), 5);
        assert_eq!(a.iter().count(), 2);
        let json = serde_json::to_value(&a).expect("serializes");
        assert_eq!(json["sends_too_recent"], 5);
        let back: Undecided = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, a);
    }
}
