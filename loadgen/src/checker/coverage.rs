//! Counting what was checked, and which hard cases the run actually met.
//!
//! A check that never met the hard cases proved little (INVARIANTS.md,
//! "Coverage gate"). [`Tally`] counts every evaluation of every invariant
//! (`checked`), the violations found (`violations`, listed or not), the
//! I3 "redundant" repeats (counted apart, never listed: CLI.md), the
//! suspicions that could not be judged (`unjudged`), and the [`Coverage`] of
//! the races the run produced. Everything merges, like the metrics.

use super::violation::InvariantId;
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// One counter per invariant; serialized as a map `{"I1": n, ...}`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PerInvariant([u64; 12]);

impl PerInvariant {
    /// Adds one to `id`.
    pub fn add(&mut self, id: InvariantId) {
        self.0[id.index()] += 1;
    }

    /// Adds `n` to `id`.
    pub fn add_n(&mut self, id: InvariantId, n: u64) {
        self.0[id.index()] += n;
    }

    /// The count of `id`.
    pub fn get(&self, id: InvariantId) -> u64 {
        self.0[id.index()]
    }

    /// The sum over all invariants.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counters.
    pub fn merge(&mut self, other: &PerInvariant) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// `(id, count)` for every invariant, in order.
    pub fn iter(&self) -> impl Iterator<Item = (InvariantId, u64)> + '_ {
        InvariantId::ALL.into_iter().map(|id| (id, self.get(id)))
    }
}

impl Serialize for PerInvariant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(12))?;
        for (id, n) in self.iter() {
            map.serialize_entry(id.as_str(), &n)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for PerInvariant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, u64>::deserialize(d)?;
        let mut out = PerInvariant::default();
        for (k, n) in map {
            let id: InvariantId = k.parse().map_err(D::Error::custom)?;
            out.add_n(id, n);
        }
        Ok(out)
    }
}

/// The hard cases the run produced (INVARIANTS.md, "Coverage gate").
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// One user's close and open within 1 ms of each other.
    pub close_open_within_1ms: u64,
    /// Two connections of one user closing at once (both in Closing).
    pub two_devices_closing_together: u64,
    /// A `get_online_friends` answered while a friend was in transition.
    pub online_friends_during_transition: u64,
    /// Connections the server closed with 4010.
    pub slow_consumer_closes: u64,
    /// Bad-token connections attempted.
    pub bad_tokens: u64,
}

/// The names of the [`Coverage`] counters, for scenario minimums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoverageKind {
    CloseOpenWithin1ms,
    TwoDevicesClosingTogether,
    OnlineFriendsDuringTransition,
    SlowConsumerCloses,
    BadTokens,
}

impl CoverageKind {
    /// Every kind, in report order.
    pub const ALL: [CoverageKind; 5] = [
        CoverageKind::CloseOpenWithin1ms,
        CoverageKind::TwoDevicesClosingTogether,
        CoverageKind::OnlineFriendsDuringTransition,
        CoverageKind::SlowConsumerCloses,
        CoverageKind::BadTokens,
    ];

    /// The field name in the report (and in scenario files).
    pub fn as_str(self) -> &'static str {
        match self {
            CoverageKind::CloseOpenWithin1ms => "close_open_within_1ms",
            CoverageKind::TwoDevicesClosingTogether => "two_devices_closing_together",
            CoverageKind::OnlineFriendsDuringTransition => "online_friends_during_transition",
            CoverageKind::SlowConsumerCloses => "slow_consumer_closes",
            CoverageKind::BadTokens => "bad_tokens",
        }
    }
}

impl fmt::Display for CoverageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no coverage counter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown coverage counter {0:?}")]
pub struct UnknownCoverageKind(pub String);

impl FromStr for CoverageKind {
    type Err = UnknownCoverageKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CoverageKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownCoverageKind(s.to_owned()))
    }
}

impl Coverage {
    /// The counter of one kind.
    pub fn get(&self, kind: CoverageKind) -> u64 {
        match kind {
            CoverageKind::CloseOpenWithin1ms => self.close_open_within_1ms,
            CoverageKind::TwoDevicesClosingTogether => self.two_devices_closing_together,
            CoverageKind::OnlineFriendsDuringTransition => self.online_friends_during_transition,
            CoverageKind::SlowConsumerCloses => self.slow_consumer_closes,
            CoverageKind::BadTokens => self.bad_tokens,
        }
    }

    /// Adds another set of counters.
    pub fn merge(&mut self, o: &Coverage) {
        self.close_open_within_1ms += o.close_open_within_1ms;
        self.two_devices_closing_together += o.two_devices_closing_together;
        self.online_friends_during_transition += o.online_friends_during_transition;
        self.slow_consumer_closes += o.slow_consumer_closes;
        self.bad_tokens += o.bad_tokens;
    }

    /// `(kind, count)` for every kind, in report order.
    pub fn iter(&self) -> impl Iterator<Item = (CoverageKind, u64)> + '_ {
        CoverageKind::ALL.into_iter().map(|k| (k, self.get(k)))
    }
}

/// Everything counted by the checks of one task; merged at the end.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Evaluations per invariant (one per check actually run).
    pub checked: PerInvariant,
    /// Violations found per invariant, listed or not.
    pub violations: PerInvariant,
    /// I3: a status event that repeated the view (counted, never listed).
    pub redundant: u64,
    /// Suspicions dropped unjudged (a connection's deferred list was full).
    pub unjudged: u64,
    /// Checks that should have been judged and could not be, by cause.
    #[serde(default)]
    pub undecided: super::undecided::Undecided,
    /// Violations counted but not listed ([`super::Findings::MAX_LISTED`]).
    pub not_listed: u64,
    pub coverage: Coverage,
}

impl Tally {
    /// Counts one evaluation of `id`.
    pub fn check(&mut self, id: InvariantId) {
        self.checked.add(id);
    }

    /// Adds another tally.
    pub fn merge(&mut self, o: &Tally) {
        self.checked.merge(&o.checked);
        self.violations.merge(&o.violations);
        self.redundant += o.redundant;
        self.unjudged += o.unjudged;
        self.undecided.merge(&o.undecided);
        self.not_listed += o.not_listed;
        self.coverage.merge(&o.coverage);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_merges_and_round_trips() {
        let mut a = Tally::default();
        a.check(InvariantId::I3);
        a.redundant = 2;
        a.coverage.bad_tokens = 1;
        let mut b = Tally::default();
        b.check(InvariantId::I3);
        b.check(InvariantId::I12);
        b.coverage.bad_tokens = 4;
        a.merge(&b);
        assert_eq!(a.checked.get(InvariantId::I3), 2);
        assert_eq!(a.checked.get(InvariantId::I12), 1);
        assert_eq!(a.coverage.get(CoverageKind::BadTokens), 5);
        let json = serde_json::to_value(&a).expect("serializes");
        assert_eq!(json["checked"]["I3"], 2);
        assert_eq!(json["coverage"]["bad_tokens"], 5);
        let back: Tally = serde_json::from_value(json).expect("round trip");
        assert_eq!(back, a);
    }

    #[test]
    fn coverage_kinds_parse_by_field_name() {
        for k in CoverageKind::ALL {
            assert_eq!(k.as_str().parse::<CoverageKind>(), Ok(k));
        }
        assert!("nope".parse::<CoverageKind>().is_err());
    }
}
