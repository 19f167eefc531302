//! What one connection knows while it runs: the checker's [`ConnView`] of it,
//! when it asked for a snapshot, and how each incoming event becomes a
//! latency sample and a check.

use super::checks;
use super::shared::Shared;
use crate::checker::{content, ConnId, ConnView, ContentHeader, Noted};
use crate::metrics::LatencyKind;
use server::protocol::{ServerEvent, Status};
use std::sync::atomic::Ordering;

/// One latency sample from one event.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub kind: LatencyKind,
    pub from_intended: u64,
    pub from_actual: u64,
}

/// Per-connection state behind the connection's (uncontended) lock.
pub struct ConnCheck {
    pub id: u32,
    pub user: u32,
    /// The checker's view of this connection.
    pub view: ConnView,
    /// When the pending `get_online_friends` was sent (for its latency).
    snapshot_sent_at: Option<u64>,
    /// Replies still expected (the initial, churn, barrier ones).
    snapshots_pending: u32,
}

/// Writes the header of message `seq` from connection `conn` of `sender`
/// to `peer`, then its body up to `len` bytes.
pub fn make_content(
    conn: u32,
    seq: u64,
    (sender, peer): (server::protocol::UserId, server::protocol::UserId),
    (intended_us, actual_us): (u64, u64),
    len: usize,
) -> String {
    content::encode(
        &ContentHeader {
            conn: ConnId(conn),
            seq,
            intended_us,
            actual_us,
            sender,
            peer,
        },
        len,
    )
}

/// What [`ConnCheck::on_event`] tells the connection task.
pub struct Outcome {
    pub sample: Option<Sample>,
    /// A `new_message` for this user from someone else (mark_read candidate).
    pub received_conversation: Option<u64>,
    /// This frame confirmed the connection (its first reply after auth).
    pub confirmed: bool,
}

impl ConnCheck {
    /// Fresh state for connection `id` of user `user`.
    pub fn new(shared: &Shared, id: u32, user: u32) -> ConnCheck {
        ConnCheck {
            id,
            user,
            view: ConnView::new(ConnId(id), shared.users[user as usize].id),
            snapshot_sent_at: None,
            snapshots_pending: 0,
        }
    }

    /// Whether a `get_online_friends` is awaiting its reply.
    pub fn snapshot_pending(&self) -> bool {
        self.snapshots_pending > 0
    }

    /// The connection is about to send `get_online_friends` at `at`.
    pub fn snapshot_requested(&mut self, at: u64, barrier: bool) {
        self.view.requested_online_friends(at, barrier);
        self.snapshots_pending += 1;
        self.snapshot_sent_at.get_or_insert(at);
    }

    /// Handles one event arriving at `now`: the checks, then the sample.
    pub fn on_event(&mut self, shared: &Shared, now: u64, event: &ServerEvent) -> Outcome {
        let noted = {
            let mut facts = shared.facts.lock();
            let (world, findings) = checks::split(&mut facts);
            let noted = self.view.on_event(&world, now, event, findings);
            match &noted {
                Noted::Confirmed => {
                    let _ = facts.lifecycles.confirm(ConnId(self.id), now);
                }
                Noted::Message(d) => {
                    if let Some(h) = d.header {
                        if let Some(v) = facts.sent.record_accepted(
                            h.conn,
                            d.peer,
                            h.seq,
                            d.message_id,
                            d.conversation_id,
                            now,
                        ) {
                            facts.findings.push(v);
                        }
                    }
                    if d.own_echo {
                        facts
                            .conversations
                            .learn(d.conversation_id, d.sender_id, d.peer);
                    }
                }
                _ => {}
            }
            if let Some(ev) = facts.evidence.as_mut() {
                ev.observe(shared, self.id, now, event, &noted);
            }
            noted
        };
        let mut out = Outcome {
            sample: None,
            received_conversation: None,
            confirmed: matches!(noted, Noted::Confirmed),
        };
        match (event, noted) {
            (ServerEvent::NewMessage(m), Noted::Message(d)) => {
                if m.sender_id != shared.users[self.user as usize].id {
                    out.received_conversation = Some(m.conversation_id);
                }
                if let Some(h) = d.header {
                    out.sample = Some(Sample {
                        kind: if d.own_echo {
                            LatencyKind::MessageEcho
                        } else {
                            LatencyKind::MessageDelivery
                        },
                        from_intended: now.saturating_sub(h.intended_us),
                        from_actual: now.saturating_sub(h.actual_us),
                    });
                }
            }
            (ServerEvent::FriendStatusChange { user_id, status }, _) => {
                out.sample = shared.index(*user_id).and_then(|friend| {
                    let since = shared.presence_since(friend, *status == Status::Online)?;
                    let d = now.saturating_sub(since);
                    Some(Sample {
                        kind: LatencyKind::Presence,
                        from_intended: d,
                        from_actual: d,
                    })
                });
            }
            (ServerEvent::UserTyping { user_id, is_typing }, _) => {
                // Timed only when it answers the typer's last typing action
                // (not the implicit "false" of a typer going offline).
                out.sample = shared.index(*user_id).and_then(|friend| {
                    let v = shared.typing_at[friend as usize].load(Ordering::Acquire);
                    let at = v >> 1;
                    (v != 0 && (v & 1 == 1) == *is_typing).then(|| Sample {
                        kind: LatencyKind::Typing,
                        from_intended: now.saturating_sub(at),
                        from_actual: now.saturating_sub(at),
                    })
                });
            }
            (ServerEvent::OnlineFriends { .. }, _) => {
                self.snapshots_pending = self.snapshots_pending.saturating_sub(1);
                out.sample = self.snapshot_sent_at.take().map(|sent| {
                    let d = now.saturating_sub(sent);
                    Sample {
                        kind: LatencyKind::OnlineFriends,
                        from_intended: d,
                        from_actual: d,
                    }
                });
            }
            _ => {}
        }
        out
    }
}
