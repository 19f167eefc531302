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
    /// Messages the server keeps per conversation (its retention bound,
    /// oldest evicted first); None: it keeps everything.
    pub retention: Option<u64>,
}

/// I11: every accepted, undeleted id in the judged range appears in the
/// history exactly once.
///
/// Under a retention bound N (the server keeps the last N messages of each
/// conversation, evicting the oldest), an id is judged only if the bound
/// must still keep it: fewer than N ids after it are in the history or
/// deleted by the generator. That is sound: when the server evicted the
/// newest evicted message e ≥ m, N messages after e were stored, and each is
/// now either still stored (so in a complete read) or deleted, so at least N
/// ids after m are seen. A read that is incomplete above its last id
/// (`truncated`) cannot bound what lies above, so under a bound it judges
/// nothing. Without a bound, everything in range is judged, as before.
pub fn check_history(at: u64, h: &HistoryCheck<'_>, found: &mut Findings) {
    if h.retention.is_some() && h.truncated {
        return;
    }
    let mut history = h.history.to_vec();
    history.sort_unstable();
    let mut deleted = h.deleted.to_vec();
    deleted.sort_unstable();
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
    // What a retention bound counts after an id: the ids read back, and the
    // ids of this conversation the generator deleted.
    let mut after: Vec<MessageId> = history.clone();
    if h.retention.is_some() {
        after.extend(
            accepted
                .iter()
                .filter(|id| deleted.binary_search(id).is_ok()),
        );
        after.sort_unstable();
        after.dedup();
    }
    let mut missing = Vec::new();
    for id in accepted {
        if id <= h.after_id || id > top || deleted.binary_search(&id).is_ok() {
            continue;
        }
        if let Some(n) = h.retention {
            let newer = after.len() - after.partition_point(|x| *x <= id);
            if newer as u64 >= n {
                // The bound may have evicted it: nothing provable.
                continue;
            }
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
        retained(accepted, deleted, got, truncated, None)
    }

    fn retained(
        accepted: &[u64],
        deleted: &[u64],
        got: &[u64],
        truncated: bool,
        retention: Option<u64>,
    ) -> Findings {
        let mut f = Findings::new();
        let h = HistoryCheck {
            conversation_id: 3,
            accepted,
            deleted,
            after_id: 0,
            history: got,
            truncated,
            retention,
        };
        check_history(1, &h, &mut f);
        f
    }

    #[test]
    fn i11_under_retention_judges_only_what_the_bound_keeps() {
        // Bound 3: 1..=5 sent, the server kept 3, 4, 5. 1 and 2 have three
        // newer ids in the history: not judged. 3, 4, 5 judged and present.
        let f = retained(&[1, 2, 3, 4, 5], &[], &[3, 4, 5], false, Some(3));
        assert!(f.is_clean(), "{:?}", f.violations);
        assert_eq!(f.tally.checked.get(InvariantId::I11), 3);
        // The same read without a bound: 1 and 2 are lost.
        let f = retained(&[1, 2, 3, 4, 5], &[], &[3, 4, 5], false, None);
        assert_eq!(f.count(InvariantId::I11), 1);
        assert!(f.violations[0].message.contains("[1,2]"));
        // Only two ids after 3 (and after 1 and 2): the bound had to keep all three.
        let f = retained(&[1, 2, 3, 4, 5], &[], &[4, 5], false, Some(3));
        assert_eq!(f.count(InvariantId::I11), 1);
        assert!(
            f.violations[0].message.contains("[1,2,3]"),
            "{:?}",
            f.violations
        );
        // 2 missing with three ids after it: not judged (a bound of 3 may
        // have evicted it), while 3, 4, 5 are judged and present.
        let f = retained(&[1, 2, 3, 4, 5], &[], &[1, 3, 4, 5], false, Some(3));
        assert!(f.is_clean(), "{:?}", f.violations);
        assert_eq!(f.tally.checked.get(InvariantId::I11), 3);
    }

    #[test]
    fn i11_under_retention_counts_deleted_messages_as_newer() {
        // Bound 2: 1, 2, 3 stored (1 evicted by 3), then 3 deleted: the
        // history holds 2 only, and 1 had two newer (2, and 3 deleted).
        let f = retained(&[1, 2, 3], &[3], &[2], false, Some(2));
        assert!(f.is_clean(), "{:?}", f.violations);
        assert_eq!(f.tally.checked.get(InvariantId::I11), 1);
        // A deletion in another conversation does not count.
        let f = retained(&[1, 2], &[9], &[2], false, Some(2));
        assert_eq!(f.count(InvariantId::I11), 1);
    }

    #[test]
    fn i11_under_retention_judges_nothing_on_an_incomplete_read() {
        let f = retained(&[1, 2, 3], &[], &[], true, Some(2));
        assert!(f.is_clean());
        assert_eq!(f.tally.checked.get(InvariantId::I11), 0);
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

    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Send,
        /// Delete the i-th kept message (modulo how many are kept).
        Delete(usize),
    }

    proptest! {
        /// Sound under any bound: a server that keeps the last N (oldest
        /// evicted first, deletions freeing slots) is never reported; and
        /// a kept message dropped from the read is reported whenever fewer
        /// than N ids after it were kept or deleted.
        #[test]
        fn i11_under_retention_is_sound_and_bites(
            n in 1u64..6,
            ops in proptest::collection::vec(
                prop_oneof![3 => Just(Op::Send), 1 => any::<usize>().prop_map(Op::Delete)],
                1..60,
            ),
            drop_pick in any::<usize>(),
        ) {
            let (mut kept, mut sent, mut deleted) = (Vec::new(), Vec::new(), Vec::new());
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Send => {
                        let id = i as u64 + 1;
                        sent.push(id);
                        kept.push(id);
                        if kept.len() as u64 > n {
                            kept.remove(0);
                        }
                    }
                    Op::Delete(k) if !kept.is_empty() => {
                        let k = k % kept.len();
                        deleted.push(kept.remove(k));
                    }
                    Op::Delete(_) => {}
                }
            }
            let f = retained(&sent, &deleted, &kept, false, Some(n));
            prop_assert!(f.is_clean(), "{:?}", f.violations);
            if !kept.is_empty() {
                let x = kept[drop_pick % kept.len()];
                let newer = kept.iter().chain(&deleted).filter(|id| **id > x).count() as u64;
                let read: Vec<u64> = kept.iter().copied().filter(|id| *id != x).collect();
                let f = retained(&sent, &deleted, &read, false, Some(n));
                if newer < n {
                    prop_assert_eq!(f.count(InvariantId::I11), 1);
                }
            }
        }
    }
}
