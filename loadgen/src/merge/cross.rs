//! Checks decided at merge time, across shards, from what each shard kept
//! ([`crate::driver::evidence`]).
//!
//! Times come from different processes. Every shard counts µs from the same
//! wall-clock start (`--start-at`), each on its own clock; two shards' times
//! of one instant differ by at most ε (`--clock-uncertainty`: on one
//! machine, one clock, and ε covers the two clock reads at the start; on
//! several machines, their wall-clock offset). Soundness as in the checker
//! (report only what is proven): every window that must hold for a
//! violation is widened by ε on each side, so no offset within ε can make a
//! correct server look wrong.
//!
//! - **I5, losses across shards.** A message from a user of shard S to a
//!   user P of shard R, whose `message_id` S saw (so the server accepted
//!   it), sent (S's clock) at `s`: every connection of P that was Confirmed
//!   by `s − ε` and not Closing before `s + δ + ε` (R's clock) must have
//!   received it. Missing: a violation.
//! - **I2, offline while connected, across shards.** An `offline(X)` that a
//!   connection of R received at `t`, X a user of S: a violation if a
//!   connection of X was Confirmed by `t − δ − ε` and not Closing before
//!   `t + ε`.
//!
//! What stays undecided (counted by the shards): I1, I4 and `online(X)` of
//! I2 for friends in other shards, I8 typing of typers in other shards,
//! I12's gauge.

use crate::checker::{ConnId, ConnSummary, InvariantId, Violation};
use crate::driver::evidence::{Evidence, LifeRecord};
use server::protocol::UserId;
use std::collections::{HashMap, HashSet};

/// What the cross-shard checks found.
#[derive(Debug, Default)]
pub struct Cross {
    /// Checks made, per invariant id.
    pub checked: HashMap<&'static str, u64>,
    pub violations: Vec<serde_json::Value>,
}

fn summary(l: &LifeRecord) -> ConnSummary {
    ConnSummary {
        conn: ConnId(l.conn),
        user: l.user,
        opened_at_us: l.opened_at,
        confirmed_at_us: l.confirmed_at,
        closing_at_us: l.closing_at,
        closed_at_us: l.closed_at,
        close_code: None,
        closed_by_server: false,
        bad_token: false,
    }
}

/// Whether `l` was certainly Confirmed throughout `[from, to]` of its own
/// clock. A connection never seen closing was open until its shard's end
/// (`end`).
///
/// A connection the server closed (the generator saw the close before
/// deciding to close: Closing and Closed at one time) proves nothing: the
/// server may have dropped it before the generator read the close.
fn confirmed_throughout(l: &LifeRecord, from: u64, to: u64, end: u64) -> bool {
    let Some(c) = l.confirmed_at else {
        return false;
    };
    if l.closing_at.is_some() && l.closing_at == l.closed_at {
        return false;
    }
    let closing = l.closing_at.or(l.closed_at).unwrap_or(end);
    c <= from && closing >= to
}

/// Decides the cross-shard checks. `shards`: (index, evidence, end µs).
pub fn check(shards: &[(u32, &Evidence, u64)], delta_us: u64, epsilon_us: u64) -> Cross {
    let mut out = Cross::default();
    // Lifecycles by user, with their shard's end.
    let mut lives: HashMap<UserId, Vec<(&LifeRecord, u64)>> = HashMap::new();
    for (_, ev, end) in shards {
        for l in &ev.lives {
            lives.entry(l.user).or_default().push((l, *end));
        }
    }
    let received: HashMap<u32, HashSet<u64>> = shards
        .iter()
        .flat_map(|(_, ev, _)| ev.received.iter())
        .map(|(c, ids)| (*c, ids.iter().copied().collect()))
        .collect();
    for (shard, ev, _) in shards {
        for s in &ev.sends {
            let from = s.sent_at.saturating_sub(epsilon_us);
            let to = s.sent_at + delta_us + epsilon_us;
            for (l, end) in lives.get(&s.peer).into_iter().flatten() {
                if !confirmed_throughout(l, from, to, *end) {
                    continue;
                }
                *out.checked.entry("I5").or_insert(0) += 1;
                let got = received
                    .get(&l.conn)
                    .is_some_and(|r| r.contains(&s.message_id));
                if !got {
                    let mut v = Violation::new(
                        InvariantId::I5,
                        to,
                        format!(
                            "message {} from user {} (shard {shard}) never reached connection {} of user {} (another shard), Confirmed throughout [send − ε, send + δ + ε]",
                            s.message_id, s.sender, l.conn, s.peer
                        ),
                    )
                    .expected(format!("message {} once on connection {}", s.message_id, l.conn))
                    .observed(format!(
                        "not received; sent at {} µs, δ = {delta_us} µs, ε = {epsilon_us} µs",
                        s.sent_at
                    ));
                    v.add_user(s.sender);
                    v.add_user(s.peer);
                    v.add_conn(summary(l));
                    out.violations
                        .push(serde_json::to_value(&v).unwrap_or_default());
                }
            }
        }
        for o in &ev.offline_seen {
            *out.checked.entry("I2").or_insert(0) += 1;
            let from = o.at.saturating_sub(delta_us + epsilon_us);
            let to = o.at + epsilon_us;
            let proof = lives
                .get(&o.about)
                .into_iter()
                .flatten()
                .find(|(l, end)| confirmed_throughout(l, from, to, *end));
            if let Some((l, _)) = proof {
                let mut v = Violation::new(
                    InvariantId::I2,
                    o.at,
                    format!(
                        "user {} announced offline to connection {} (shard {shard}) while connection {} of theirs (another shard) was Confirmed throughout the last δ + ε",
                        o.about, o.conn, l.conn
                    ),
                )
                .expected(format!("no offline({}) while connection {} is Confirmed", o.about, l.conn))
                .observed(format!(
                    "offline({}) at {} µs; δ = {delta_us} µs, ε = {epsilon_us} µs",
                    o.about, o.at
                ));
                v.add_user(o.about);
                v.add_conn(summary(l));
                out.violations
                    .push(serde_json::to_value(&v).unwrap_or_default());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::evidence::{OfflineRecord, SendRecord};

    fn life(conn: u32, user: UserId, confirmed: u64, closing: Option<u64>) -> LifeRecord {
        LifeRecord {
            conn,
            user,
            opened_at: confirmed.saturating_sub(10),
            confirmed_at: Some(confirmed),
            closing_at: closing,
            closed_at: closing.map(|c| c + 5),
        }
    }

    #[test]
    fn a_lost_message_is_reported_and_a_received_one_is_not() {
        let mut a = Evidence::default();
        a.sends.push(SendRecord {
            message_id: 7,
            sender: 1,
            peer: 2,
            sent_at: 1_000,
        });
        a.sends.push(SendRecord {
            message_id: 8,
            sender: 1,
            peer: 2,
            sent_at: 1_000,
        });
        let mut b = Evidence::default();
        b.lives.push(life(11, 2, 0, Some(100_000)));
        b.received.insert(11, vec![7]);
        let r = check(&[(0, &a, 200_000), (1, &b, 200_000)], 10_000, 1_000);
        assert_eq!(r.checked["I5"], 2);
        assert_eq!(r.violations.len(), 1);
        assert!(r.violations[0]["message"]
            .as_str()
            .unwrap()
            .contains("message 8"));
    }

    #[test]
    fn windows_are_widened_by_epsilon() {
        let mut a = Evidence::default();
        a.sends.push(SendRecord {
            message_id: 7,
            sender: 1,
            peer: 2,
            sent_at: 1_000,
        });
        let mut b = Evidence::default();
        // Confirmed 500 µs before the send: within ε = 1 ms, so not proven.
        b.lives.push(life(11, 2, 500, None));
        let r = check(&[(0, &a, 200_000), (1, &b, 200_000)], 10_000, 1_000);
        assert!(r.violations.is_empty());
        // Closing just after send + δ: within ε, not proven either.
        let mut c = Evidence::default();
        c.lives.push(life(12, 2, 0, Some(11_500)));
        let r = check(&[(0, &a, 200_000), (1, &c, 200_000)], 10_000, 1_000);
        assert!(r.violations.is_empty());
        let r = check(&[(0, &a, 200_000), (1, &c, 200_000)], 10_000, 0);
        assert_eq!(r.violations.len(), 1);
    }

    #[test]
    fn offline_while_confirmed_elsewhere() {
        let mut a = Evidence::default();
        a.offline_seen.push(OfflineRecord {
            conn: 3,
            about: 9,
            at: 50_000,
        });
        let mut b = Evidence::default();
        b.lives.push(life(20, 9, 1_000, Some(40_000)));
        // Closed before: offline is right.
        let r = check(&[(0, &a, 90_000), (1, &b, 90_000)], 10_000, 1_000);
        assert!(r.violations.is_empty());
        assert_eq!(r.checked["I2"], 1);
        // Another device open throughout: wrong.
        b.lives.push(life(21, 9, 1_000, None));
        let r = check(&[(0, &a, 90_000), (1, &b, 90_000)], 10_000, 1_000);
        assert_eq!(r.violations.len(), 1);
        assert_eq!(r.violations[0]["invariant"], "I2");
    }
}
