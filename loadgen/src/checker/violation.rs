//! What a broken guarantee looks like in the report.
//!
//! A [`Violation`] holds what INVARIANTS.md ("What a violation report
//! holds") and CLI.md ask for: the invariant id (serialized `"I1"`..`"I12"`),
//! a one-line `message`, the time, the users and connections involved with
//! their lifecycle times, the offending frame, expected vs observed, the last
//! frames of each involved connection, and the run facts the driver fills
//! in (latency, generator lag, seed, replay command).
//!
//! [`Findings`] is where every check writes: the violations it can list (up
//! to [`Findings::MAX_LISTED`]) and the [`Tally`] of what was checked. One
//! per task; merged at the end like the metrics recorders.

use super::coverage::Tally;
use super::lifecycle::ConnId;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use server::protocol::UserId;
use std::fmt;
use std::str::FromStr;

/// One of the twelve invariants of INVARIANTS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvariantId {
    I1,
    I2,
    I3,
    I4,
    I5,
    I6,
    I7,
    I8,
    I9,
    I10,
    I11,
    I12,
}

impl InvariantId {
    /// Every invariant, in order.
    pub const ALL: [InvariantId; 12] = [
        InvariantId::I1,
        InvariantId::I2,
        InvariantId::I3,
        InvariantId::I4,
        InvariantId::I5,
        InvariantId::I6,
        InvariantId::I7,
        InvariantId::I8,
        InvariantId::I9,
        InvariantId::I10,
        InvariantId::I11,
        InvariantId::I12,
    ];

    /// The id as INVARIANTS.md writes it (`"I5"`).
    pub fn as_str(self) -> &'static str {
        match self {
            InvariantId::I1 => "I1",
            InvariantId::I2 => "I2",
            InvariantId::I3 => "I3",
            InvariantId::I4 => "I4",
            InvariantId::I5 => "I5",
            InvariantId::I6 => "I6",
            InvariantId::I7 => "I7",
            InvariantId::I8 => "I8",
            InvariantId::I9 => "I9",
            InvariantId::I10 => "I10",
            InvariantId::I11 => "I11",
            InvariantId::I12 => "I12",
        }
    }

    /// The short name of INVARIANTS.md's table.
    pub fn title(self) -> &'static str {
        match self {
            InvariantId::I1 => "presence convergence",
            InvariantId::I2 => "never offline while connected",
            InvariantId::I3 => "alternation",
            InvariantId::I4 => "snapshot correctness",
            InvariantId::I5 => "exactly once",
            InvariantId::I6 => "order",
            InvariantId::I7 => "privacy",
            InvariantId::I8 => "typing pairing",
            InvariantId::I9 => "read receipts",
            InvariantId::I10 => "bad token",
            InvariantId::I11 => "nothing accepted is lost",
            InvariantId::I12 => "no ghosts",
        }
    }

    /// A dense index, `0..12`.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for InvariantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no invariant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown invariant {0:?} (expected I1..I12)")]
pub struct UnknownInvariant(pub String);

impl FromStr for InvariantId {
    type Err = UnknownInvariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InvariantId::ALL
            .into_iter()
            .find(|id| id.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownInvariant(s.to_owned()))
    }
}

impl Serialize for InvariantId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for InvariantId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A connection involved in a violation, with its lifecycle times (µs since
/// the start of the run, generator clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnSummary {
    pub conn: ConnId,
    pub user: UserId,
    pub opened_at_us: u64,
    pub confirmed_at_us: Option<u64>,
    pub closing_at_us: Option<u64>,
    pub closed_at_us: Option<u64>,
    pub close_code: Option<u16>,
    /// The server closed it (slow consumer, too many connections, ...).
    pub closed_by_server: bool,
    pub bad_token: bool,
}

/// One received frame, rendered short (see [`super::frames`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameRecord {
    pub at_us: u64,
    pub frame: String,
}

/// The last frames of one connection, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnFrames {
    pub conn: ConnId,
    pub frames: Vec<FrameRecord>,
}

/// One broken guarantee, as the JSON report lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: InvariantId,
    /// One line.
    pub message: String,
    /// When it was observed (µs since the start of the run).
    pub at_us: u64,
    pub users: Vec<UserId>,
    pub connections: Vec<ConnSummary>,
    /// The offending frame, rendered short, when there is one.
    pub frame: Option<String>,
    pub expected: String,
    pub observed: String,
    /// The last frames of each involved connection whose view was at hand.
    pub recent_frames: Vec<ConnFrames>,
    /// Filled by the driver ([`Violation::fill_run_info`]).
    pub p999_delivery_us: Option<u64>,
    /// Filled by the driver: the generator's own p99 lag, to tell a server
    /// bug from too small a δ.
    pub generator_lag_p99_us: Option<u64>,
    /// Filled by the driver.
    pub seed: Option<u64>,
    /// Filled by the driver: the command that replays the run.
    pub replay: String,
}

impl Violation {
    /// A violation with only its id, time and message; the builders add the rest.
    pub fn new(invariant: InvariantId, at_us: u64, message: impl Into<String>) -> Violation {
        Violation {
            invariant,
            message: one_line(message.into()),
            at_us,
            users: Vec::new(),
            connections: Vec::new(),
            frame: None,
            expected: String::new(),
            observed: String::new(),
            recent_frames: Vec::new(),
            p999_delivery_us: None,
            generator_lag_p99_us: None,
            seed: None,
            replay: String::new(),
        }
    }

    /// Sets `expected`.
    pub fn expected(mut self, text: impl Into<String>) -> Violation {
        self.expected = one_line(text.into());
        self
    }

    /// Sets `observed`.
    pub fn observed(mut self, text: impl Into<String>) -> Violation {
        self.observed = one_line(text.into());
        self
    }

    /// Adds a user once.
    pub fn add_user(&mut self, user: UserId) {
        if !self.users.contains(&user) {
            self.users.push(user);
        }
    }

    /// Adds (or refreshes) one connection's summary.
    pub fn add_conn(&mut self, summary: ConnSummary) {
        match self.connections.iter_mut().find(|c| c.conn == summary.conn) {
            Some(old) => *old = summary,
            None => self.connections.push(summary),
        }
    }

    /// Adds the last frames of one more connection (see
    /// [`ConnView::recent_frames`](super::view::ConnView::recent_frames)).
    pub fn attach_frames(&mut self, frames: ConnFrames) {
        match self
            .recent_frames
            .iter_mut()
            .find(|c| c.conn == frames.conn)
        {
            Some(old) => *old = frames,
            None => self.recent_frames.push(frames),
        }
    }

    /// The run facts only the driver knows.
    pub fn fill_run_info(
        &mut self,
        seed: u64,
        p999_delivery_us: u64,
        generator_lag_p99_us: u64,
        replay: &str,
    ) {
        self.seed = Some(seed);
        self.p999_delivery_us = Some(p999_delivery_us);
        self.generator_lag_p99_us = Some(generator_lag_p99_us);
        self.replay = replay.to_owned();
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) at {} µs: {}",
            self.invariant,
            self.invariant.title(),
            self.at_us,
            self.message
        )
    }
}

/// Report texts are one line each (CLI.md).
fn one_line(text: String) -> String {
    if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], " ")
    } else {
        text
    }
}

/// What the checks found: the violations (listed up to a cap) and the tally.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Findings {
    pub violations: Vec<Violation>,
    pub tally: Tally,
}

impl Findings {
    /// Violations kept in full per `Findings`; more are only counted (in
    /// `tally.violations` and `tally.not_listed`), so a badly broken server
    /// cannot make the generator's memory grow with the run.
    pub const MAX_LISTED: usize = 1000;

    /// An empty set.
    pub fn new() -> Findings {
        Findings::default()
    }

    /// Records one violation.
    pub fn push(&mut self, violation: Violation) {
        self.tally.violations.add(violation.invariant);
        if self.violations.len() < Findings::MAX_LISTED {
            self.violations.push(violation);
        } else {
            self.tally.not_listed += 1;
        }
    }

    /// Adds another task's findings.
    pub fn merge(&mut self, other: Findings) {
        self.tally.merge(&other.tally);
        for v in other.violations {
            // Already counted in `other.tally.violations`, merged above.
            if self.violations.len() < Findings::MAX_LISTED {
                self.violations.push(v);
            } else {
                self.tally.not_listed += 1;
            }
        }
    }

    /// True when no violation was found.
    pub fn is_clean(&self) -> bool {
        self.tally.violations.total() == 0
    }

    /// How many violations of `id` were found (listed or not).
    pub fn count(&self, id: InvariantId) -> u64 {
        self.tally.violations.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_their_names() {
        for id in InvariantId::ALL {
            let json = serde_json::to_string(&id).expect("a string serializes");
            assert_eq!(json, format!("\"{}\"", id.as_str()));
            let back: InvariantId = serde_json::from_str(&json).expect("round trip");
            assert_eq!(back, id);
        }
        assert!("I13".parse::<InvariantId>().is_err());
    }

    #[test]
    fn violation_json_has_the_cli_fields() {
        let v = Violation::new(InvariantId::I5, 7, "two\nlines").expected("once");
        let json = serde_json::to_value(&v).expect("serializes");
        assert_eq!(json["invariant"], "I5");
        assert_eq!(json["message"], "two lines");
        assert_eq!(json["expected"], "once");
    }

    #[test]
    fn findings_cap_the_list_but_count_everything() {
        let mut f = Findings::new();
        for i in 0..(Findings::MAX_LISTED as u64 + 5) {
            f.push(Violation::new(InvariantId::I6, i, "x"));
        }
        assert_eq!(f.violations.len(), Findings::MAX_LISTED);
        assert_eq!(f.count(InvariantId::I6), Findings::MAX_LISTED as u64 + 5);
        assert_eq!(f.tally.not_listed, 5);
        let mut g = Findings::new();
        g.merge(f);
        assert_eq!(g.count(InvariantId::I6), Findings::MAX_LISTED as u64 + 5);
        assert!(!g.is_clean());
    }
}
