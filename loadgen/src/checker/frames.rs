//! The ring of a connection's last 32 frames, for reports.
//!
//! Frames are kept as short renderings (`friend_status_change 5 offline`,
//! `new_message id=9 conv=3 5->7 c12 s4`), never as the full JSON: a message
//! can carry 4 KiB of padding, and 32 of them per connection would make the
//! ring the biggest thing the generator holds. Slots are reused, so after
//! the first 32 frames a connection allocates nothing here.

use super::content;
use super::lifecycle::ConnId;
use super::violation::{ConnFrames, FrameRecord};
use server::protocol::{ServerEvent, Status};
use std::fmt::Write as _;

/// Frames kept per connection.
pub const RING_LEN: usize = 32;

/// The most ids shown for an `online_friends` reply.
const MAX_IDS_SHOWN: usize = 16;

/// The last [`RING_LEN`] frames of one connection.
#[derive(Debug, Clone, Default)]
pub struct FrameRing {
    slots: Vec<FrameRecord>,
    /// Where the next frame goes once the ring is full.
    next: usize,
}

impl FrameRing {
    /// Records `event`, received at `at`.
    pub fn push(&mut self, at: u64, event: &ServerEvent) {
        if self.slots.len() < RING_LEN {
            let mut frame = String::new();
            render(event, &mut frame);
            self.slots.push(FrameRecord { at_us: at, frame });
        } else {
            let slot = &mut self.slots[self.next];
            slot.at_us = at;
            slot.frame.clear();
            render(event, &mut slot.frame);
            self.next = (self.next + 1) % RING_LEN;
        }
    }

    /// The latest frame.
    pub fn last(&self) -> Option<&FrameRecord> {
        if self.slots.len() < RING_LEN {
            self.slots.last()
        } else {
            self.slots.get((self.next + RING_LEN - 1) % RING_LEN)
        }
    }

    /// The frames, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &FrameRecord> {
        let (newer, older) = if self.slots.len() < RING_LEN {
            (&self.slots[..], &self.slots[..0])
        } else {
            self.slots.split_at(self.next)
        };
        older.iter().chain(newer)
    }

    /// A copy for a report.
    pub fn to_conn_frames(&self, conn: ConnId) -> ConnFrames {
        ConnFrames {
            conn,
            frames: self.iter().cloned().collect(),
        }
    }
}

/// Writes a short, one-line rendering of `event` into `out`.
pub fn render(event: &ServerEvent, out: &mut String) {
    // Writing to a String cannot fail: its fmt::Write never returns Err.
    let _ = render_inner(event, out);
}

fn render_inner(event: &ServerEvent, out: &mut String) -> std::fmt::Result {
    let kind = event.kind().as_str();
    match event {
        ServerEvent::FriendStatusChange { user_id, status } => {
            let s = match status {
                Status::Online => "online",
                Status::Offline => "offline",
            };
            write!(out, "{kind} {user_id} {s}")
        }
        ServerEvent::UserTyping { user_id, is_typing } => {
            write!(out, "{kind} {user_id} {is_typing}")
        }
        ServerEvent::OnlineFriends { friends } => {
            write!(out, "{kind} [")?;
            for (i, f) in friends.iter().take(MAX_IDS_SHOWN).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write!(out, "{f}")?;
            }
            if friends.len() > MAX_IDS_SHOWN {
                write!(out, ",…+{}", friends.len() - MAX_IDS_SHOWN)?;
            }
            out.push(']');
            Ok(())
        }
        ServerEvent::NewMessage(m) => {
            write!(
                out,
                "{kind} id={} conv={} {}->",
                m.message_id, m.conversation_id, m.sender_id
            )?;
            match m.receiver_id {
                Some(r) => write!(out, "{r}")?,
                None => out.push_str("(rest)"),
            }
            match content::decode(&m.content) {
                Some(h) => write!(out, " {} s{} a={}", h.conn, h.seq, h.actual_us),
                None => write!(out, " {}B", m.content.len()),
            }
        }
        ServerEvent::DeleteMessage { message_id } => write!(out, "{kind} {message_id}"),
        ServerEvent::MessagesRead {
            conversation_id,
            user_id,
        } => write!(out, "{kind} conv={conversation_id} by={user_id}"),
        ServerEvent::NewConversation {
            conversation_id,
            other_user_id,
        } => write!(out, "{kind} conv={conversation_id} other={other_user_id}"),
        ServerEvent::ConversationDeleted { conversation_id } => {
            write!(out, "{kind} conv={conversation_id}")
        }
        ServerEvent::NewFriendRequest { sender_id, .. } => write!(out, "{kind} from={sender_id}"),
        ServerEvent::FriendRequestAccepted { friend_id, .. } => {
            write!(out, "{kind} by={friend_id}")
        }
        ServerEvent::Error { code, .. } => write!(out, "{kind} {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(user: u64) -> ServerEvent {
        ServerEvent::FriendStatusChange {
            user_id: user,
            status: Status::Online,
        }
    }

    #[test]
    fn ring_keeps_the_last_frames_in_order() {
        let mut ring = FrameRing::default();
        for i in 0..40u64 {
            ring.push(i, &status(i));
        }
        let ats: Vec<u64> = ring.iter().map(|f| f.at_us).collect();
        assert_eq!(ats, (8..40).collect::<Vec<_>>());
        assert_eq!(
            ring.last().map(|f| f.frame.as_str()),
            Some("friend_status_change 39 online")
        );
        let few = {
            let mut r = FrameRing::default();
            r.push(1, &status(1));
            r.push(2, &status(2));
            r
        };
        assert_eq!(few.iter().count(), 2);
        assert_eq!(few.last().map(|f| f.at_us), Some(2));
    }

    #[test]
    fn long_replies_are_shortened() {
        let mut out = String::new();
        render(
            &ServerEvent::OnlineFriends {
                friends: (1..=20).collect(),
            },
            &mut out,
        );
        assert_eq!(
            out,
            "online_friends [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,…+4]"
        );
    }
}
