//! Quiescence checks: what is judged at a barrier and at the end of the run.
//!
//! At a barrier the driver has stopped connects, closes and sends, every
//! Confirmed connection has answered a fresh `get_online_friends` (kept
//! aside by its view), nothing has arrived for the quiet time, and every
//! close has been recorded. Then, per connection, [`ConnView::check_barrier`]
//! runs, in the order INVARIANTS.md gives:
//!
//! 1. I1 on the event-built view, *before* the fresh reply, which would hide
//!    a missing event;
//! 2. the suspicions kept since the last barrier (I2, I4: see
//!    [`super::deferred`]), the fresh reply's included — with every
//!    lifecycle known, this makes I4 exact;
//! 3. the view is reset to the fresh reply (plus the events after it);
//! 4. I8 stuck typing.
//!
//! Then [`check_losses`](super::sent::check_losses) (I5), and for each
//! conversation with messages in the epoch, [`check_history`] (I11) on a
//! fresh REST read. At the end of the run, after every connection closed,
//! [`check_no_ghosts`] (I12). [`check_bad_token_close`] judges each
//! bad-token socket when it ends (I10).

use super::ctx::{involve_conn, CheckCtx};
use super::lifecycle::ConnId;
use super::view::ConnView;
use super::violation::{Findings, InvariantId, Violation};
use server::protocol::{close, ConversationId, MessageId, UserId};

/// Ids listed in one report line at most.
const MAX_IDS_LISTED: usize = 10;

impl ConnView {
    /// The barrier checks of this connection at `at` (see the module doc).
    pub fn check_barrier(&mut self, ctx: &dyn CheckCtx, at: u64, found: &mut Findings) {
        self.check_convergence(ctx, at, found);
        self.deferred.settle(ctx, found);
        self.apply_barrier_snapshot();
        self.check_stuck_typing(ctx, at, found);
    }

    /// I10 when this bad-token socket ended at `at` with close `code`.
    pub fn check_bad_token_close(
        &self,
        ctx: &dyn CheckCtx,
        at: u64,
        code: Option<u16>,
        found: &mut Findings,
    ) {
        let before = found.violations.len();
        check_bad_token_close(ctx, self.conn, at, code, self.frames_seen, found);
        for v in &mut found.violations[before..] {
            v.frame = self.ring.first().map(|f| f.frame);
            v.attach_frames(self.recent_frames());
        }
    }
}

/// I10: a bad-token socket (`conn`) ended at `at` with close `code` (None:
/// no close frame) after `frames_seen` application frames.
pub fn check_bad_token_close(
    ctx: &dyn CheckCtx,
    conn: ConnId,
    at: u64,
    code: Option<u16>,
    frames_seen: usize,
    found: &mut Findings,
) {
    found.tally.check(InvariantId::I10);
    if frames_seen > 0 {
        let mut v = Violation::new(
            InvariantId::I10,
            at,
            format!("bad-token socket {conn} received {frames_seen} application frame(s)"),
        )
        .expected("nothing but the close 4008")
        .observed(format!("{frames_seen} frame(s)"));
        involve_conn(ctx, &mut v, conn);
        found.push(v);
    }
    found.tally.check(InvariantId::I10);
    if code != Some(close::INVALID_TOKEN) {
        let observed = code.map_or_else(
            || "no close frame".to_owned(),
            |c| format!("close code {c}"),
        );
        let mut v = Violation::new(
            InvariantId::I10,
            at,
            format!("bad-token socket {conn} ended with {observed}, not 4008"),
        )
        .expected("close code 4008")
        .observed(observed);
        involve_conn(ctx, &mut v, conn);
        found.push(v);
    }
}

/// One conversation's history, read through REST at a barrier (I11).
#[derive(Debug, Clone, Copy)]
pub struct HistoryCheck<'a> {
    pub conversation_id: ConversationId,
    /// Ids the generator saw accepted (echoes, deliveries, REST replies);
    /// any order, repeats allowed.
    pub accepted: &'a [MessageId],
    /// Ids the generator deleted or is deleting.
    pub deleted: &'a [MessageId],
    /// `after_id` of the read: ids up to it are not judged.
    pub after_id: MessageId,
    /// The ids the read returned, as returned.
    pub history: &'a [MessageId],
    /// The read returned a full page (its `limit`): ids above its last are
    /// not judged.
    pub truncated: bool,
}

/// I11: every accepted, undeleted id in the judged range appears in the
/// history exactly once.
pub fn check_history(at: u64, h: &HistoryCheck<'_>, found: &mut Findings) {
    let mut history = h.history.to_vec();
    history.sort_unstable();
    let mut twice: Vec<MessageId> = history
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    twice.dedup();
    let top = if h.truncated {
        history.last().copied().unwrap_or(0)
    } else {
        MessageId::MAX
    };
    let mut accepted = h.accepted.to_vec();
    accepted.sort_unstable();
    accepted.dedup();
    let mut missing = Vec::new();
    for id in accepted {
        if id <= h.after_id || id > top || h.deleted.contains(&id) {
            continue;
        }
        found.tally.check(InvariantId::I11);
        if history.binary_search(&id).is_err() {
            missing.push(id);
        }
    }
    let conv = h.conversation_id;
    if !missing.is_empty() {
        let v = Violation::new(
            InvariantId::I11,
            at,
            format!(
                "{} accepted message(s) of conversation {conv} missing from its history: {}",
                missing.len(),
                list(&missing)
            ),
        )
        .expected("every message that got a message_id in the history")
        .observed(format!(
            "history of {} id(s) after {}",
            history.len(),
            h.after_id
        ));
        found.push(v);
    }
    if !twice.is_empty() {
        let v = Violation::new(
            InvariantId::I11,
            at,
            format!(
                "conversation {conv}'s history lists message(s) twice: {}",
                list(&twice)
            ),
        )
        .expected("each message once")
        .observed(list(&twice));
        found.push(v);
    }
}

/// I12 at the end of the run, after every generator connection closed: a
/// probe connection of `probe_user` got `online` as its `online_friends`,
/// and the server's connection gauge read `gauge` (None: not available)
/// while `probes_open` probe connections were open.
pub fn check_no_ghosts(
    at: u64,
    probe_user: UserId,
    online: &[UserId],
    gauge: Option<u64>,
    probes_open: u64,
    found: &mut Findings,
) {
    found.tally.check(InvariantId::I12);
    if !online.is_empty() {
        let mut v = Violation::new(
            InvariantId::I12,
            at,
            format!(
                "after every connection closed, a probe still sees {} friend(s) online: {}",
                online.len(),
                list(online)
            ),
        )
        .expected("no friend online")
        .observed(format!("online_friends {}", list(online)));
        v.add_user(probe_user);
        for &u in online.iter().take(MAX_IDS_LISTED) {
            v.add_user(u);
        }
        found.push(v);
    }
    if let Some(n) = gauge {
        found.tally.check(InvariantId::I12);
        if n > probes_open {
            let v = Violation::new(
                InvariantId::I12,
                at,
                format!("after every connection closed, the server's connection gauge reads {n}"),
            )
            .expected(format!("{probes_open} (the probes)"))
            .observed(n.to_string());
            found.push(v);
        }
    }
}

fn list(ids: &[u64]) -> String {
    let mut s = String::from("[");
    for (i, id) in ids.iter().take(MAX_IDS_LISTED).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    if ids.len() > MAX_IDS_LISTED {
        s.push_str(&format!(",…+{}", ids.len() - MAX_IDS_LISTED));
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(accepted: &[u64], deleted: &[u64], got: &[u64], truncated: bool) -> Findings {
        let mut f = Findings::new();
        let h = HistoryCheck {
            conversation_id: 3,
            accepted,
            deleted,
            after_id: 0,
            history: got,
            truncated,
        };
        check_history(1, &h, &mut f);
        f
    }

    #[test]
    fn i11_reports_a_missing_accepted_message() {
        let f = history(&[1, 2, 7, 3], &[], &[1, 2, 3], false);
        assert_eq!(f.count(InvariantId::I11), 1);
        assert!(f.violations[0].message.contains("[7]"));
    }

    #[test]
    fn i11_reports_a_message_listed_twice() {
        let f = history(&[1, 2], &[], &[1, 2, 2], false);
        assert_eq!(f.count(InvariantId::I11), 1);
    }

    #[test]
    fn i11_accepts_deleted_and_beyond_the_page() {
        let f = history(&[1, 2, 3, 9, 2], &[2], &[1, 3], true);
        assert!(f.is_clean(), "{:?}", f.violations);
        assert_eq!(f.tally.checked.get(InvariantId::I11), 2);
    }

    #[test]
    fn i12_ghosts_and_gauge() {
        let mut f = Findings::new();
        check_no_ghosts(9, 1, &[], Some(1), 1, &mut f);
        assert!(f.is_clean());
        check_no_ghosts(9, 1, &[4], Some(3), 1, &mut f);
        assert_eq!(f.count(InvariantId::I12), 2);
    }
}
