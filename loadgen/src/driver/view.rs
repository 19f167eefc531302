//! What one connection knows while it runs: when it asked for a snapshot,
//! and how to turn each incoming event into a latency sample. The invariant
//! bookkeeping of the checker hangs off the same struct.

use super::shared::Shared;
use crate::metrics::LatencyKind;
use server::protocol::{ServerEvent, Status};

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
    /// When the pending `get_online_friends` was sent.
    snapshot_sent_at: Option<u64>,
}

/// The header the generator writes at the start of every message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub conn: u32,
    pub seq: u64,
    pub intended_us: u64,
    pub actual_us: u64,
}

/// Writes `header` then pads with `.` to `len` bytes (at most 4096).
pub fn make_content(header: Header, len: usize) -> String {
    crate::checker::content::encode(
        &crate::checker::content::ContentHeader {
            conn: crate::checker::lifecycle::ConnId(header.conn),
            seq: header.seq,
            intended_us: header.intended_us,
            actual_us: header.actual_us,
        },
        len,
    )
}

/// Reads the header back; `None` for content the generator did not write.
pub fn read_header(content: &str) -> Option<Header> {
    crate::checker::content::decode(content).map(|h| Header {
        conn: h.conn.0,
        seq: h.seq,
        intended_us: h.intended_us,
        actual_us: h.actual_us,
    })
}

impl ConnCheck {
    /// Fresh state for connection `id` of user `user`.
    pub fn new(_shared: &Shared, id: u32, user: u32) -> ConnCheck {
        ConnCheck {
            id,
            user,
            snapshot_sent_at: None,
        }
    }

    /// Whether a `get_online_friends` is awaiting its reply.
    pub fn snapshot_pending(&self) -> bool {
        self.snapshot_sent_at.is_some()
    }

    /// The connection sent `get_online_friends` at `at`.
    pub fn snapshot_requested(&mut self, at: u64) {
        self.snapshot_sent_at.get_or_insert(at);
    }

    /// Handles one event arriving at `now`; returns its latency sample.
    pub fn on_event(
        &mut self,
        shared: &Shared,
        now: u64,
        event: &ServerEvent,
        _raw: &str,
    ) -> Option<Sample> {
        match event {
            ServerEvent::NewMessage(m) => {
                let h = read_header(&m.content)?;
                if h.conn == self.id {
                    // Our own echo: the server accepted the message (I11).
                    super::history::accepted(shared, m.conversation_id, m.message_id);
                    super::history::member(shared, m.conversation_id, self.user);
                }
                let kind = if h.conn == self.id {
                    LatencyKind::MessageEcho
                } else {
                    LatencyKind::MessageDelivery
                };
                Some(Sample {
                    kind,
                    from_intended: now.saturating_sub(h.intended_us),
                    from_actual: now.saturating_sub(h.actual_us),
                })
            }
            ServerEvent::FriendStatusChange { user_id, status } => {
                let friend = shared.index(*user_id)?;
                let since = shared.presence_since(friend, *status == Status::Online)?;
                let d = now.saturating_sub(since);
                Some(Sample {
                    kind: LatencyKind::Presence,
                    from_intended: d,
                    from_actual: d,
                })
            }
            ServerEvent::UserTyping { user_id, is_typing } => {
                // Timed only when it answers the typer's last typing action
                // (not the implicit "false" of a typer going offline).
                let friend = shared.index(*user_id)?;
                let v =
                    shared.typing_at[friend as usize].load(std::sync::atomic::Ordering::Acquire);
                let at = v >> 1;
                (v != 0 && (v & 1 == 1) == *is_typing).then(|| Sample {
                    kind: LatencyKind::Typing,
                    from_intended: now.saturating_sub(at),
                    from_actual: now.saturating_sub(at),
                })
            }
            ServerEvent::OnlineFriends { .. } => {
                let sent = self.snapshot_sent_at.take()?;
                let d = now.saturating_sub(sent);
                Some(Sample {
                    kind: LatencyKind::OnlineFriends,
                    from_intended: d,
                    from_actual: d,
                })
            }
            _ => None,
        }
    }
}
