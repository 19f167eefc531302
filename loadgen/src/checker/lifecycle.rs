//! Connection lifecycles as intervals, the way Jepsen judges operations.
//!
//! A generator connection is `Opening` from the moment the driver starts the
//! connect until its first reply after auth (the initial
//! `get_online_friends`), then `Confirmed`, then `Closing` from the moment
//! the driver starts closing, then `Closed` when the socket has ended.
//! The generator never knows the instant the *server* registers or removes a
//! connection; it only knows bounds, and that is what a [`Lifecycle`] keeps:
//!
//! - **certain interval** `[confirmed_at, closing_at]`: the server certainly
//!   held the connection throughout. It registered it before answering the
//!   initial request (so before `confirmed_at`) and reads frames in order,
//!   so it removes it only after reading our close frame, sent after
//!   `closing_at`. When the *server* closed the connection (slow consumer,
//!   an error) it may have removed it at any time after the last frame it
//!   pushed to it; the driver then passes `alive_until`: the send time of the
//!   latest request whose answer arrived on the connection (§8: a closed
//!   connection never gets another frame, so an answer proves the
//!   connection was still registered after its request was sent). Without
//!   it the certain interval shrinks to the instant `confirmed_at`.
//! - **possible interval** `[opened_at, closed_at]`: the server may have
//!   held it at some time in there and at no time outside, give or take δ
//!   (the checks widen windows by δ where the server may act late).
//!
//! A rule that needs "X connected" asks [`Lifecycles::confirmed_throughout`];
//! a rule that needs "X not connected" asks
//! [`Lifecycles::disconnected_throughout`]. Anything in between is a
//! transition, "uncertain", and never reported.
//!
//! Bad-token connections are kept (for reports and coverage) but are never
//! connections of their user in either sense.
//!
//! The driver must record `open` before starting a connect and `closing`
//! before sending a close frame: recording late would make a transition look
//! like certainty. `confirm` and `closed` may be recorded late (that only
//! widens the uncertain part).

use super::coverage::Coverage;
use super::violation::ConnSummary;
use serde::{Deserialize, Serialize};
use server::protocol::{close, UserId};
use std::collections::HashMap;
use std::fmt;

/// A generator connection: its global index (also written in message content).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnId(pub u32);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// "Within 1 ms" for the close/open race coverage counter.
pub const CLOSE_OPEN_RACE_US: u64 = 1_000;

/// Where a connection is at one instant, as the generator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Opening,
    Confirmed,
    Closing,
    Closed,
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// The driver called [`Lifecycles::closing`] and then sent a close frame,
    /// and the close that came back was the answer to it.
    Generator,
    /// Anything else: a server close code (4010, 4011, 1009, 4008...), a
    /// reset, a crossed close. `alive_until`: see the module doc.
    Server { alive_until: Option<u64> },
}

/// One connection's lifecycle times (µs since the start of the run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    pub user: UserId,
    pub opened_at: u64,
    pub confirmed_at: Option<u64>,
    pub closing_at: Option<u64>,
    pub closed_at: Option<u64>,
    pub close_code: Option<u16>,
    pub closed_by_server: bool,
    /// With `closed_by_server`: the latest instant the connection is known
    /// to have been registered.
    pub alive_until: Option<u64>,
    pub bad_token: bool,
}

impl Lifecycle {
    /// A connection being opened at `opened_at`.
    pub fn new(user: UserId, opened_at: u64, bad_token: bool) -> Lifecycle {
        Lifecycle {
            user,
            opened_at,
            confirmed_at: None,
            closing_at: None,
            closed_at: None,
            close_code: None,
            closed_by_server: false,
            alive_until: None,
            bad_token,
        }
    }

    /// The phase at `t`.
    pub fn phase_at(&self, t: u64) -> Phase {
        if self.closed_at.is_some_and(|c| t >= c) {
            Phase::Closed
        } else if self.closing_at.is_some_and(|c| t >= c) {
            Phase::Closing
        } else if self.confirmed_at.is_some_and(|c| t >= c) {
            Phase::Confirmed
        } else {
            Phase::Opening
        }
    }

    /// The inclusive interval throughout which the server certainly held
    /// this connection (see the module doc), if any.
    pub fn certain(&self) -> Option<(u64, u64)> {
        if self.bad_token {
            return None;
        }
        let start = self.confirmed_at?;
        let mut end = self.closing_at.unwrap_or(u64::MAX);
        if self.closed_by_server {
            end = end.min(self.alive_until.unwrap_or(start).max(start));
        }
        Some((start, end))
    }

    /// Whether the server certainly held it throughout `[from, to]`.
    pub fn certain_covers(&self, from: u64, to: u64) -> bool {
        self.certain().is_some_and(|(s, e)| s <= from && to <= e)
    }

    /// Whether the server certainly held it at `t`.
    pub fn certain_at(&self, t: u64) -> bool {
        self.certain_covers(t, t)
    }

    /// Whether the server may have held it at some instant of `[from, to]`.
    pub fn possibly_during(&self, from: u64, to: u64) -> bool {
        !self.bad_token && self.opened_at <= to && self.closed_at.is_none_or(|c| c >= from)
    }

    /// Whether it is a bad-token socket that was open at some instant of `[from, to]`.
    pub fn bad_token_during(&self, from: u64, to: u64) -> bool {
        self.bad_token && self.opened_at <= to && self.closed_at.is_none_or(|c| c >= from)
    }

    /// The report form.
    pub fn summary(&self, conn: ConnId) -> ConnSummary {
        ConnSummary {
            conn,
            user: self.user,
            opened_at_us: self.opened_at,
            confirmed_at_us: self.confirmed_at,
            closing_at_us: self.closing_at,
            closed_at_us: self.closed_at,
            close_code: self.close_code,
            closed_by_server: self.closed_by_server,
            bad_token: self.bad_token,
        }
    }
}

/// A lifecycle call that does not fit the connection's history.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    #[error("connection {0} is not known")]
    UnknownConn(ConnId),
    #[error("connection {0} was already opened")]
    AlreadyOpen(ConnId),
    #[error("connection {conn}: {op} in phase {phase:?}")]
    WrongPhase {
        conn: ConnId,
        op: &'static str,
        phase: Phase,
    },
}

/// Every generator connection's lifecycle, by connection and by user.
#[derive(Debug, Default, Clone)]
pub struct Lifecycles {
    conns: HashMap<ConnId, Lifecycle>,
    by_user: HashMap<UserId, Vec<ConnId>>,
    coverage: Coverage,
    /// The latest cut of [`Lifecycles::forget_closed_before`].
    forgotten_before: u64,
}

impl Lifecycles {
    /// An empty table.
    pub fn new() -> Lifecycles {
        Lifecycles::default()
    }

    /// Records a connect starting at `at` (call *before* connecting).
    pub fn open(&mut self, conn: ConnId, user: UserId, at: u64) -> Result<(), LifecycleError> {
        self.insert(conn, Lifecycle::new(user, at, false))?;
        let raced = self.others(conn, user).any(|(_, l)| {
            let close = if l.closed_by_server {
                l.closed_at
            } else {
                l.closing_at
            };
            close.is_some_and(|c| c.abs_diff(at) <= CLOSE_OPEN_RACE_US)
        });
        if raced {
            self.coverage.close_open_within_1ms += 1;
        }
        Ok(())
    }

    /// Records a connect with a bad token, meant to look like `user`'s.
    pub fn open_bad_token(
        &mut self,
        conn: ConnId,
        user: UserId,
        at: u64,
    ) -> Result<(), LifecycleError> {
        self.insert(conn, Lifecycle::new(user, at, true))?;
        self.coverage.bad_tokens += 1;
        Ok(())
    }

    /// Records the arrival of the first reply after auth.
    pub fn confirm(&mut self, conn: ConnId, at: u64) -> Result<(), LifecycleError> {
        let l = self.get_mut(conn)?;
        if l.confirmed_at.is_some() || l.closed_at.is_some() || l.bad_token {
            return Err(wrong(conn, "confirm", l, at));
        }
        l.confirmed_at = Some(at);
        Ok(())
    }

    /// Records that the driver starts closing (call *before* sending the close).
    pub fn closing(&mut self, conn: ConnId, at: u64) -> Result<(), LifecycleError> {
        let l = self.get_mut(conn)?;
        if l.closing_at.is_some() || l.closed_at.is_some() {
            return Err(wrong(conn, "closing", l, at));
        }
        l.closing_at = Some(at);
        let user = l.user;
        let bad = l.bad_token;
        if !bad {
            self.count_close_races(conn, user, at);
        }
        Ok(())
    }

    /// Records the end of the socket at `at`, with the close code received.
    pub fn closed(
        &mut self,
        conn: ConnId,
        at: u64,
        code: Option<u16>,
        by: Closer,
    ) -> Result<(), LifecycleError> {
        let l = self.get_mut(conn)?;
        if l.closed_at.is_some() {
            return Err(wrong(conn, "closed", l, at));
        }
        l.closed_at = Some(at);
        l.close_code = code;
        let by = match (by, l.closing_at) {
            // A "generator" close without a recorded `closing` is treated as
            // the server's: nothing proves when the server let go of it.
            (Closer::Generator, None) => Closer::Server { alive_until: None },
            (by, _) => by,
        };
        if let Closer::Server { alive_until } = by {
            l.closed_by_server = true;
            l.alive_until = alive_until;
            let (user, bad) = (l.user, l.bad_token);
            if code == Some(close::SLOW_CONSUMER) {
                self.coverage.slow_consumer_closes += 1;
            }
            if !bad && self.lifecycle(conn).is_some_and(|l| l.closing_at.is_none()) {
                self.count_close_races(conn, user, at);
            }
        }
        Ok(())
    }

    /// One connection's lifecycle.
    pub fn lifecycle(&self, conn: ConnId) -> Option<&Lifecycle> {
        self.conns.get(&conn)
    }

    /// Every remembered connection of `user`, bad-token ones included.
    pub fn conns_of(&self, user: UserId) -> impl Iterator<Item = (ConnId, &Lifecycle)> + '_ {
        self.by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|c| self.conns.get(c).map(|l| (*c, l)))
    }

    /// Whether some connection of `user` was Confirmed throughout `[from, to]`.
    pub fn confirmed_throughout(&self, user: UserId, from: u64, to: u64) -> bool {
        self.conns_of(user).any(|(_, l)| l.certain_covers(from, to))
    }

    /// Whether some connection of `user` was not Closed (Opening and Closing
    /// count) at some instant of `[from, to]`.
    pub fn possibly_connected(&self, user: UserId, from: u64, to: u64) -> bool {
        self.conns_of(user)
            .any(|(_, l)| l.possibly_during(from, to))
    }

    /// Whether no connection of `user` could have been registered during `[from, to]`.
    pub fn disconnected_throughout(&self, user: UserId, from: u64, to: u64) -> bool {
        !self.possibly_connected(user, from, to)
    }

    /// The coverage counters this table maintains (close/open races,
    /// closes together, slow-consumer closes, bad tokens).
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// One connection's report summary.
    pub fn summary(&self, conn: ConnId) -> Option<ConnSummary> {
        self.conns.get(&conn).map(|l| l.summary(conn))
    }

    /// Forgets connections closed before `t`, to bound memory over a long
    /// run. Call at a barrier with `t` older than any window still to be
    /// judged (the barrier's time minus 2δ is safe).
    pub fn forget_closed_before(&mut self, t: u64) {
        self.forgotten_before = self.forgotten_before.max(t);
        self.conns.retain(|_, l| l.closed_at.is_none_or(|c| c >= t));
        let conns = &self.conns;
        self.by_user.retain(|_, list| {
            list.retain(|c| conns.contains_key(c));
            !list.is_empty()
        });
    }

    /// Connections closed before this instant may have been forgotten: a
    /// question about an instant earlier than it has no sure answer.
    pub fn known_since(&self) -> u64 {
        self.forgotten_before
    }

    /// How many connections are remembered.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is remembered.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    fn insert(&mut self, conn: ConnId, l: Lifecycle) -> Result<(), LifecycleError> {
        if self.conns.contains_key(&conn) {
            return Err(LifecycleError::AlreadyOpen(conn));
        }
        self.by_user.entry(l.user).or_default().push(conn);
        self.conns.insert(conn, l);
        Ok(())
    }

    fn get_mut(&mut self, conn: ConnId) -> Result<&mut Lifecycle, LifecycleError> {
        self.conns
            .get_mut(&conn)
            .ok_or(LifecycleError::UnknownConn(conn))
    }

    fn others(&self, conn: ConnId, user: UserId) -> impl Iterator<Item = (ConnId, &Lifecycle)> {
        self.conns_of(user)
            .filter(move |(c, l)| *c != conn && !l.bad_token)
    }

    /// Coverage when one of `user`'s connections starts closing at `at`.
    fn count_close_races(&mut self, conn: ConnId, user: UserId, at: u64) {
        let mut open_near = false;
        let mut closing_too = false;
        for (_, l) in self.others(conn, user) {
            open_near |= l.opened_at.abs_diff(at) <= CLOSE_OPEN_RACE_US;
            // Another device is Closing right now: started closing and not yet closed.
            closing_too |=
                l.closing_at.is_some_and(|c| c <= at) && l.closed_at.is_none_or(|c| c >= at);
        }
        if open_near {
            self.coverage.close_open_within_1ms += 1;
        }
        if closing_too {
            self.coverage.two_devices_closing_together += 1;
        }
    }
}

fn wrong(conn: ConnId, op: &'static str, l: &Lifecycle, at: u64) -> LifecycleError {
    LifecycleError::WrongPhase {
        conn,
        op,
        phase: l.phase_at(at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: UserId = 7;

    #[test]
    fn phases_follow_the_records() {
        let mut t = Lifecycles::new();
        t.open(ConnId(1), U, 10).expect("fresh");
        t.confirm(ConnId(1), 20).expect("opening");
        t.closing(ConnId(1), 30).expect("confirmed");
        t.closed(ConnId(1), 40, Some(1000), Closer::Generator)
            .expect("closing");
        let l = t.lifecycle(ConnId(1)).expect("recorded");
        assert_eq!(l.phase_at(15), Phase::Opening);
        assert_eq!(l.phase_at(25), Phase::Confirmed);
        assert_eq!(l.phase_at(35), Phase::Closing);
        assert_eq!(l.phase_at(45), Phase::Closed);
        assert!(t.confirmed_throughout(U, 20, 30));
        assert!(!t.confirmed_throughout(U, 19, 30));
        assert!(!t.confirmed_throughout(U, 20, 31));
        assert!(t.possibly_connected(U, 0, 10));
        assert!(t.possibly_connected(U, 40, 50));
        assert!(t.disconnected_throughout(U, 41, 50));
        assert!(t.disconnected_throughout(U, 0, 9));
        assert_eq!(t.confirm(ConnId(1), 50).map_err(|_| ()), Err(()));
        assert_eq!(
            t.open(ConnId(1), U, 50),
            Err(LifecycleError::AlreadyOpen(ConnId(1)))
        );
        assert_eq!(
            t.confirm(ConnId(9), 50),
            Err(LifecycleError::UnknownConn(ConnId(9)))
        );
    }

    #[test]
    fn a_server_close_keeps_only_what_is_proven() {
        let mut t = Lifecycles::new();
        t.open(ConnId(1), U, 0).expect("fresh");
        t.confirm(ConnId(1), 10).expect("opening");
        t.closed(
            ConnId(1),
            100,
            Some(4010),
            Closer::Server {
                alive_until: Some(50),
            },
        )
        .expect("open");
        assert!(t.confirmed_throughout(U, 10, 50));
        assert!(!t.confirmed_throughout(U, 10, 51));
        assert_eq!(t.coverage().slow_consumer_closes, 1);
        t.open(ConnId(2), U, 200).expect("fresh");
        t.confirm(ConnId(2), 210).expect("opening");
        t.closed(ConnId(2), 300, None, Closer::Generator)
            .expect("open");
        let l = t.lifecycle(ConnId(2)).expect("recorded");
        assert!(
            l.closed_by_server,
            "a close never announced is the server's"
        );
        assert!(!t.confirmed_throughout(U, 210, 211));
    }

    #[test]
    fn bad_tokens_are_nobody_s_connection() {
        let mut t = Lifecycles::new();
        t.open_bad_token(ConnId(3), U, 0).expect("fresh");
        assert!(!t.possibly_connected(U, 0, 100));
        assert!(t
            .lifecycle(ConnId(3))
            .is_some_and(|l| l.bad_token_during(0, 100)));
        assert_eq!(t.coverage().bad_tokens, 1);
    }

    #[test]
    fn races_are_counted() {
        let mut t = Lifecycles::new();
        t.open(ConnId(1), U, 0).expect("fresh");
        t.open(ConnId(2), U, 0).expect("fresh");
        t.confirm(ConnId(1), 5).expect("opening");
        t.confirm(ConnId(2), 5).expect("opening");
        t.closing(ConnId(1), 10_000).expect("confirmed");
        t.closing(ConnId(2), 10_100).expect("confirmed");
        assert_eq!(t.coverage().two_devices_closing_together, 1);
        t.open(ConnId(3), U, 10_500).expect("fresh");
        assert_eq!(t.coverage().close_open_within_1ms, 1);
        t.closed(ConnId(1), 11_000, Some(1000), Closer::Generator)
            .expect("closing");
        t.forget_closed_before(12_000);
        assert!(t.lifecycle(ConnId(1)).is_none());
        assert_eq!(t.conns_of(U).count(), 2);
    }
}
