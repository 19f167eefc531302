//! Delivery bookkeeping for I5 losses, and the accepted ids for I11.
//!
//! # Memory: one epoch of sends
//!
//! The driver records every send in a [`SentLog`] (before sending) and, when
//! it learns it, the `message_id` (from any delivery of the message, or the
//! REST reply). At a barrier [`check_losses`] judges the sends of the epoch
//! and forgets them; each connection's received set is pruned at the same
//! cut ([`ConnView::end_epoch`]). A send too recent to judge (sent less than
//! δ before the barrier: it may still be in flight — "late", not "lost")
//! is carried over to the next epoch, and so are the received marks above
//! its stream's cut. So memory is one epoch of sends plus O(streams) per
//! connection, whatever the length of the run.
//!
//! # The rule
//!
//! Each message must reach, exactly once, each connection of both
//! participants (of the receiver only, for a REST send) that was Confirmed
//! throughout `[send, barrier]`, the sender's own connection included.
//! Judged only for sends that were certainly accepted: the `message_id` is
//! known, or the sending connection was certainly held by the server at the
//! send (it reads frames in order, so a frame sent before our close is
//! processed) and the pair was certainly friends then. A connection
//! Confirmed before the send and still open at the barrier was registered
//! when the server processed the send, so G3 says it got the message.
//! Messages to connections opened after the send are not expected (but are
//! still checked for duplicates).

use super::ctx::{involve_conn, CheckCtx};
use super::lifecycle::ConnId;
use super::view::ConnView;
use super::violation::{Findings, InvariantId, Violation};
use server::protocol::{ConversationId, MessageId, UserId};
use std::collections::{HashMap, VecDeque};

/// One stream: (sending connection, peer user).
pub type StreamKey = (ConnId, UserId);

/// How a message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `send_message` on the sender's WebSocket: to both participants.
    Ws,
    /// `POST /conversation/send_message`: to the receiver only. Its `sender`
    /// is a connection id the driver reserves for that REST client.
    Rest,
}

/// One message the generator sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentRecord {
    pub sender: ConnId,
    pub sender_user: UserId,
    pub peer: UserId,
    /// From the content header: per (sender, peer), increasing.
    pub seq: u64,
    /// The actual send time (µs since the start).
    pub sent_at: u64,
    pub via: Via,
    pub message_id: Option<MessageId>,
}

/// A send that does not fit its stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SentLogError {
    #[error("seq {seq} from connection {sender} to user {peer} does not follow seq {last}")]
    SeqNotIncreasing {
        sender: ConnId,
        peer: UserId,
        seq: u64,
        last: u64,
    },
}

#[derive(Debug, Clone, Default)]
struct Stream {
    records: VecDeque<SentRecord>,
}

/// The sends of the current epoch (and those carried over).
#[derive(Debug, Default, Clone)]
pub struct SentLog {
    streams: HashMap<StreamKey, Stream>,
    /// For each user, the streams it takes part in (as sender or peer).
    by_user: HashMap<UserId, Vec<StreamKey>>,
    /// Ids seen accepted this epoch, per conversation (for I11).
    accepted: HashMap<ConversationId, Vec<MessageId>>,
}

/// Where each stream was cut at a barrier: sequence numbers up to `upto`
/// were judged (or skipped); streams absent had nothing pending.
#[derive(Debug, Clone, Default)]
pub struct EpochCut {
    pub at: u64,
    upto: HashMap<StreamKey, u64>,
}

impl EpochCut {
    /// The cut of one stream, if it had records.
    pub fn upto(&self, key: StreamKey) -> Option<u64> {
        self.upto.get(&key).copied()
    }
}

impl SentLog {
    /// An empty log.
    pub fn new() -> SentLog {
        SentLog::default()
    }

    /// Records a send (call *before* sending).
    pub fn record_send(&mut self, rec: SentRecord) -> Result<(), SentLogError> {
        let key = (rec.sender, rec.peer);
        let stream = self.streams.entry(key).or_default();
        if let Some(last) = stream.records.back() {
            if rec.seq <= last.seq {
                return Err(SentLogError::SeqNotIncreasing {
                    sender: rec.sender,
                    peer: rec.peer,
                    seq: rec.seq,
                    last: last.seq,
                });
            }
        }
        if stream.records.is_empty() {
            for user in [rec.sender_user, rec.peer] {
                let list = self.by_user.entry(user).or_default();
                if !list.contains(&key) {
                    list.push(key);
                }
            }
        }
        stream.records.push_back(rec);
        Ok(())
    }

    /// The server accepted `(sender, peer, seq)` as `message_id` in `conv`
    /// (learned from any delivery's header, or a REST reply). Idempotent.
    /// Returns an I5 violation if the same send got two different ids (it
    /// was stored twice).
    pub fn record_accepted(
        &mut self,
        sender: ConnId,
        peer: UserId,
        seq: u64,
        message_id: MessageId,
        conv: ConversationId,
        at: u64,
    ) -> Option<Violation> {
        let stream = self.streams.get_mut(&(sender, peer))?;
        let i = stream.records.binary_search_by_key(&seq, |r| r.seq).ok()?;
        let rec = &mut stream.records[i];
        match rec.message_id {
            None => {
                rec.message_id = Some(message_id);
                self.accepted.entry(conv).or_default().push(message_id);
                None
            }
            Some(id) if id == message_id => None,
            Some(id) => Some(
                Violation::new(
                    InvariantId::I5,
                    at,
                    format!("send {sender} seq {seq} to user {peer} was stored twice, as messages {id} and {message_id}"),
                )
                .expected("one message per send")
                .observed(format!("ids {id} and {message_id}")),
            ),
        }
    }

    /// The ids seen accepted since the last call, per conversation (for I11).
    pub fn take_accepted(&mut self) -> HashMap<ConversationId, Vec<MessageId>> {
        std::mem::take(&mut self.accepted)
    }

    /// Sends waiting to be judged.
    pub fn len(&self) -> usize {
        self.streams.values().map(|s| s.records.len()).sum()
    }

    /// The latest send time among the sends waiting to be judged.
    pub fn youngest(&self) -> Option<u64> {
        self.streams
            .values()
            .filter_map(|s| s.records.back().map(|r| r.sent_at))
            .max()
    }

    /// Whether no send is waiting.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    /// Where to cut each stream at a barrier at `at`: every send at least δ old.
    pub fn cut(&self, ctx: &dyn CheckCtx, at: u64) -> EpochCut {
        let delta = ctx.delta_us();
        let upto = self
            .streams
            .iter()
            .map(|(key, s)| {
                let judged = s
                    .records
                    .iter()
                    .take_while(|r| r.sent_at.saturating_add(delta) <= at)
                    .last()
                    .map_or(0, |r| r.seq);
                (*key, judged)
            })
            .collect();
        EpochCut { at, upto }
    }

    /// I5 losses for one connection's view at the barrier `cut`.
    pub fn check_view(
        &self,
        ctx: &dyn CheckCtx,
        cut: &EpochCut,
        view: &ConnView,
        found: &mut Findings,
    ) {
        if view.bad_token || !view.confirmed {
            return;
        }
        let Some(life) = ctx.lifecycle(view.conn) else {
            return;
        };
        let u = view.user;
        for key in self.by_user.get(&u).into_iter().flatten() {
            let (Some(stream), Some(upto)) = (self.streams.get(key), cut.upto(*key)) else {
                continue;
            };
            let received = view.streams.get(key);
            let mut expected = 0u64;
            let mut missing = 0u64;
            let mut first: Option<&SentRecord> = None;
            for rec in stream.records.iter().take_while(|r| r.seq <= upto) {
                let to_me = rec.via == Via::Ws || rec.peer == u;
                if !to_me
                    || !life.certain_covers(rec.sent_at, cut.at)
                    || !accepted_for_sure(ctx, rec)
                {
                    continue;
                }
                expected += 1;
                found.tally.check(InvariantId::I5);
                if !received.is_some_and(|s| s.contains(rec.seq)) {
                    missing += 1;
                    first.get_or_insert(rec);
                }
            }
            if let Some(rec) = first {
                let mut v = Violation::new(
                    InvariantId::I5,
                    cut.at,
                    format!(
                        "connection {} (user {u}) never got {missing} of {expected} messages from connection {} to user {}; first: seq {} sent at {} µs",
                        view.conn, rec.sender, rec.peer, rec.seq, rec.sent_at
                    ),
                )
                .expected(format!("every message sent while {} was Confirmed, exactly once", view.conn))
                .observed(format!("{missing} missing by the barrier at {} µs", cut.at));
                v.add_user(u);
                involve_conn(ctx, &mut v, view.conn);
                involve_conn(ctx, &mut v, rec.sender);
                v.add_user(rec.sender_user);
                v.attach_frames(view.recent_frames());
                found.push(v);
            }
        }
    }

    /// Forgets the sends judged at `cut`.
    pub fn end_epoch(&mut self, cut: &EpochCut) {
        self.streams.retain(|key, s| {
            let upto = cut.upto(*key).unwrap_or(0);
            while s.records.front().is_some_and(|r| r.seq <= upto) {
                s.records.pop_front();
            }
            !s.records.is_empty()
        });
        let streams = &self.streams;
        self.by_user.retain(|_, keys| {
            keys.retain(|k| streams.contains_key(k));
            !keys.is_empty()
        });
    }
}

/// Whether the server certainly accepted `rec` (see the module doc).
fn accepted_for_sure(ctx: &dyn CheckCtx, rec: &SentRecord) -> bool {
    rec.message_id.is_some()
        || (ctx
            .lifecycle(rec.sender)
            .is_some_and(|l| l.certain_at(rec.sent_at))
            && ctx
                .friendship(rec.sender_user, rec.peer)
                .is_some_and(|f| f.certain_at(rec.sent_at)))
}

impl ConnView {
    /// Prunes the received marks judged at `cut`, and forgets streams whose
    /// sender is gone and that have nothing pending.
    pub fn end_epoch(&mut self, ctx: &dyn CheckCtx, cut: &EpochCut) {
        self.streams.retain(|key, s| {
            match cut.upto(*key) {
                Some(upto) => s.prune_upto(upto),
                None => s.prune_all(),
            }
            let sender_gone = ctx.lifecycle(key.0).is_none_or(|l| l.closed_at.is_some());
            !(s.is_empty() && sender_gone && cut.upto(*key).is_none())
        });
    }
}

/// I5 losses at a barrier at `at`: cuts the log, judges every view, prunes
/// them, and forgets what was judged. `views`: every open connection's view.
pub fn check_losses<'v>(
    ctx: &dyn CheckCtx,
    log: &mut SentLog,
    at: u64,
    views: impl IntoIterator<Item = &'v mut ConnView>,
    found: &mut Findings,
) {
    let cut = log.cut(ctx, at);
    for view in views {
        log.check_view(ctx, &cut, view, found);
        view.end_epoch(ctx, &cut);
    }
    log.end_epoch(&cut);
}
