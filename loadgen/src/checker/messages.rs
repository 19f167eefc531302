//! Messages on one connection: I5 duplicates, I6 order, I7 for messages,
//! read receipts, deletions and conversation events, and I9.
//!
//! # What is kept, and why it is enough
//!
//! - Per conversation, the last `message_id` seen on this connection. Ids of
//!   a conversation must arrive strictly increasing (G3), so a new id equal
//!   to the last one is a duplicate (I5) and a lower one is out of order
//!   (I6) — unless the lower one's generator sequence number was already
//!   received here, which makes it a duplicate (I5) too.
//! - Per (sending connection, peer user) — one sender's stream into one
//!   conversation — a [`PeerStream`]: the last sequence number (I6: a
//!   connection's sends are processed in order, so they must arrive in
//!   order; REST sends are not judged for sequence order, their requests may
//!   overlap), and the set of sequence numbers received since the last
//!   barrier, for I5 losses and duplicates.
//!
//! The set is a sorted list of inclusive runs `(first, last)`. On a correct
//! server each connection receives a contiguous range of each stream, so
//! there is one run per stream; every gap (a loss) adds one. At a barrier the
//! runs up to the last judged sequence number are dropped
//! ([`PeerStream::prune_upto`]), so memory is O(streams + losses of one
//! epoch), whatever the number of messages.
//!
//! # Proofs
//!
//! Duplicates and order need no timing: the server must never send a
//! message twice or out of order to one connection (G3). Privacy (I7): the
//! WS form names both participants; the REST form goes to the receiver only;
//! a `messages_read`, `delete_message` or conversation event is judged only
//! when the generator knows the conversation's participants. I9: a read
//! receipt goes to the *other* participant, so it must never reach the
//! reader's own connections.

use super::content::ContentHeader;
use super::ctx::{involve_user, CheckCtx};
use super::view::{ConnView, Delivery};
use super::violation::{Findings, InvariantId};
use server::protocol::{ConversationId, MessageId, NewMessage, UserId};

/// What one connection received from one stream (sending connection → peer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStream {
    /// The highest sequence number received (0: none yet).
    pub(super) last_seq: u64,
    /// Received sequence numbers not yet judged, as sorted disjoint runs.
    runs: Vec<(u64, u64)>,
}

impl PeerStream {
    /// Whether `seq` was received since the last prune.
    pub fn contains(&self, seq: u64) -> bool {
        let i = self.runs.partition_point(|&(a, _)| a <= seq);
        i > 0 && seq <= self.runs[i - 1].1
    }

    /// Adds `seq`; false if it was already there.
    pub fn insert(&mut self, seq: u64) -> bool {
        let i = self.runs.partition_point(|&(a, _)| a <= seq);
        if i > 0 && seq <= self.runs[i - 1].1 {
            return false;
        }
        // Here the run before (if any) ends below seq, so `+ 1` cannot overflow.
        let left = i > 0 && self.runs[i - 1].1 + 1 == seq;
        let right = i < self.runs.len() && seq.checked_add(1) == Some(self.runs[i].0);
        match (left, right) {
            (true, true) => {
                self.runs[i - 1].1 = self.runs[i].1;
                self.runs.remove(i);
            }
            (true, false) => self.runs[i - 1].1 = seq,
            (false, true) => self.runs[i].0 = seq,
            (false, false) => self.runs.insert(i, (seq, seq)),
        }
        self.last_seq = self.last_seq.max(seq);
        true
    }

    /// Forgets every sequence number up to `upto` (judged at a barrier).
    pub fn prune_upto(&mut self, upto: u64) {
        self.runs.retain_mut(|(a, b)| {
            if *b <= upto {
                return false;
            }
            *a = (*a).max(upto + 1);
            true
        });
    }

    /// Forgets every sequence number.
    pub fn prune_all(&mut self) {
        self.runs.clear();
    }

    /// Whether nothing is waiting to be judged.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// How many runs (1 per stream on a correct server).
    pub fn run_count(&self) -> usize {
        self.runs.len()
    }
}

impl ConnView {
    /// A `new_message` arrived at `at`; `header` is its content's
    /// generator header (decoded once by [`ConnView::on_event`]).
    pub(super) fn on_message(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        m: &NewMessage,
        header: Option<ContentHeader>,
        found: &mut Findings,
    ) -> Option<Delivery> {
        let u = self.user;
        let rest_form = m.receiver_id.is_none();
        // Our own header says who the message was for; the frame's
        // `receiver_id` is judged against it (`check_intact`). Without a
        // header: the REST form goes to the receiver only (this user).
        let peer = header.map_or(m.receiver_id.unwrap_or(u), |h| h.peer);
        let delivery = Delivery {
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            sender_id: m.sender_id,
            peer,
            header,
            own_echo: header.is_some_and(|h| h.conn == self.conn),
            rest_form,
        };
        found.tally.check(InvariantId::I7);
        let outsider = (!rest_form && u != m.sender_id && u != peer)
            || ctx
                .conversation(m.conversation_id)
                .is_some_and(|members| !members.contains(&u));
        if outsider {
            let mut v = self
                .violation(
                    ctx,
                    InvariantId::I7,
                    at,
                    format!(
                        "message {} of conversation {} ({} -> {peer}) reached user {u}, not a participant",
                        m.message_id, m.conversation_id, m.sender_id
                    ),
                )
                .expected("messages only to the conversation's participants")
                .observed(format!("new_message {} on connection {}", m.message_id, self.conn));
            involve_user(ctx, &mut v, m.sender_id, at, at);
            found.push(v);
            return Some(delivery);
        }
        if let Some(h) = header {
            self.check_intact(ctx, at, m, h, found);
        }
        if delivery.own_echo {
            if let Some(h) = header {
                // The server pushed our own message back: it held us after we sent it.
                self.prove_alive(h.actual_us);
            }
        }
        if m.sender_id != u {
            if let Some(f) = self.friends.get_mut(&m.sender_id) {
                f.typing_since = None;
            }
        }
        found.tally.check(InvariantId::I5);
        found.tally.check(InvariantId::I6);
        let last_id = self.conv_last.get(&m.conversation_id).copied();
        let mut duplicate = last_id == Some(m.message_id);
        let mut out_of_order = last_id.is_some_and(|l| m.message_id < l);
        let mut seq_note = String::new();
        if let Some(h) = header {
            let stream = self.streams.entry((h.conn, peer)).or_default();
            let last_seq = stream.last_seq;
            if !stream.insert(h.seq) {
                duplicate = true;
            } else if !rest_form && h.seq <= last_seq {
                out_of_order = true;
                seq_note = format!(" (seq {} after seq {last_seq} from {})", h.seq, h.conn);
            }
        }
        if duplicate {
            let v = self
                .violation(
                    ctx,
                    InvariantId::I5,
                    at,
                    format!(
                        "message {} of conversation {} delivered twice to connection {}",
                        m.message_id, m.conversation_id, self.conn
                    ),
                )
                .expected("each message at most once per connection")
                .observed(format!("message {} again", m.message_id));
            found.push(v);
        } else if out_of_order {
            let last = last_id.unwrap_or(0);
            let v = self
                .violation(
                    ctx,
                    InvariantId::I6,
                    at,
                    format!(
                        "message {} of conversation {} arrived after message {last} on connection {}{seq_note}",
                        m.message_id, m.conversation_id, self.conn
                    ),
                )
                .expected(format!("message ids of conversation {} increasing", m.conversation_id))
                .observed(format!("{} after {last}", m.message_id));
            found.push(v);
        }
        if last_id.is_none_or(|l| m.message_id > l) {
            self.conv_last.insert(m.conversation_id, m.message_id);
        }
        Some(delivery)
    }

    /// A `messages_read {conv, reader}` arrived at `at`.
    pub(super) fn on_read(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        conv: ConversationId,
        reader: UserId,
        found: &mut Findings,
    ) {
        let u = self.user;
        found.tally.check(InvariantId::I9);
        let members = ctx.conversation(conv);
        if members.is_some() {
            found.tally.check(InvariantId::I7);
        }
        let problem = if members.is_some_and(|m| !m.contains(&u)) {
            Some((
                InvariantId::I7,
                format!("read receipt of conversation {conv} reached user {u}, not a participant"),
            ))
        } else if reader == u {
            Some((
                InvariantId::I9,
                format!("read receipt of user {u} reached user {u}'s own connection"),
            ))
        } else if members.is_some_and(|m| !m.contains(&reader)) {
            Some((
                InvariantId::I9,
                format!(
                    "read receipt names user {reader}, not a participant of conversation {conv}"
                ),
            ))
        } else {
            None
        };
        if let Some((id, message)) = problem {
            let v = self
                .violation(ctx, id, at, message)
                .expected("messages_read only on the other participant's connections")
                .observed(format!(
                    "messages_read conv={conv} by={reader} on connection {}",
                    self.conn
                ));
            found.push(v);
        }
    }

    /// A `delete_message` arrived at `at`.
    pub(super) fn on_delete(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        message: MessageId,
        found: &mut Findings,
    ) {
        if let Some(conv) = ctx.message_conversation(message) {
            self.check_member(ctx, at, conv, "delete_message", found);
        }
    }

    /// A `new_conversation` or `conversation_deleted` arrived at `at`.
    pub(super) fn on_conversation_event(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        conv: ConversationId,
        found: &mut Findings,
    ) {
        self.check_member(ctx, at, conv, "conversation event", found);
    }

    /// I7: this user must take part in `conv`, when that is known.
    fn check_member(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        conv: ConversationId,
        what: &str,
        found: &mut Findings,
    ) {
        let Some(members) = ctx.conversation(conv) else {
            return;
        };
        found.tally.check(InvariantId::I7);
        if !members.contains(&self.user) {
            let v = self
                .violation(
                    ctx,
                    InvariantId::I7,
                    at,
                    format!(
                        "{what} of conversation {conv} reached user {}, not a participant",
                        self.user
                    ),
                )
                .expected(format!("only users {} and {}", members[0], members[1]))
                .observed(format!("{what} on connection {}", self.conn));
            found.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_merge_and_prune() {
        let mut s = PeerStream::default();
        for seq in [1, 2, 3, 5, 7, 6] {
            assert!(s.insert(seq));
        }
        assert!(!s.insert(2));
        assert_eq!(s.runs, vec![(1, 3), (5, 7)]);
        assert!(s.insert(4));
        assert_eq!(s.runs, vec![(1, 7)]);
        assert!(s.contains(7) && !s.contains(8) && !s.contains(0));
        s.prune_upto(4);
        assert_eq!(s.runs, vec![(5, 7)]);
        assert_eq!(s.last_seq, 7);
        s.prune_upto(7);
        assert!(s.is_empty());
        assert!(s.insert(u64::MAX));
        assert!(s.insert(u64::MAX - 1));
        assert_eq!(s.run_count(), 1);
    }
}
