//! The ring of a connection's last 32 frames, for reports.
//!
//! Frames are kept as their ids in a fixed-size [`Compact`] record (56 bytes
//! with the arrival time), never as JSON or as text: a message can carry
//! 4 KiB of padding, and the generator holds one ring per connection. The
//! short rendering (`friend_status_change 5 offline`,
//! `new_message id=9 conv=3 5->7 c12 s4`) is made only when a report asks
//! for it. Slots are reused, so after the first 32 frames a connection
//! allocates nothing here.

use super::content::ContentHeader;
use super::lifecycle::ConnId;
use super::violation::{ConnFrames, FrameRecord};
use server::protocol::{ErrorCode, ServerEvent, Status};
use std::fmt::{self, Write as _};

/// Frames kept per connection.
pub const RING_LEN: usize = 32;

/// The most ids of an `online_friends` reply a ring keeps.
const IDS_KEPT: usize = 4;

/// What the ring keeps of one frame: its kind and ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compact {
    Status {
        user: u64,
        online: bool,
    },
    Typing {
        user: u64,
        typing: bool,
    },
    OnlineFriends {
        count: u32,
        first: [u64; IDS_KEPT],
    },
    Message {
        id: u64,
        conv: u64,
        sender: u64,
        /// 0 for the REST form (it has no receiver).
        receiver: u64,
        /// The generator's header (sending connection, sequence), or the
        /// content length when there is none.
        origin: Origin,
    },
    Delete {
        message: u64,
    },
    Read {
        conv: u64,
        by: u64,
    },
    NewConversation {
        conv: u64,
        other: u64,
    },
    ConversationDeleted {
        conv: u64,
    },
    FriendRequest {
        from: u64,
    },
    FriendAccepted {
        by: u64,
    },
    Error {
        code: ErrorCode,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Header { conn: u32, seq: u32 },
    Bytes(u32),
}

impl Compact {
    /// `header` is the generator's header of a `new_message`'s content, as
    /// the checker already decoded it.
    fn of(event: &ServerEvent, header: Option<ContentHeader>) -> Compact {
        match event {
            ServerEvent::FriendStatusChange { user_id, status } => Compact::Status {
                user: *user_id,
                online: *status == Status::Online,
            },
            ServerEvent::UserTyping { user_id, is_typing } => Compact::Typing {
                user: *user_id,
                typing: *is_typing,
            },
            ServerEvent::OnlineFriends { friends } => {
                let mut first = [0; IDS_KEPT];
                for (slot, f) in first.iter_mut().zip(friends) {
                    *slot = *f;
                }
                Compact::OnlineFriends {
                    count: u32::try_from(friends.len()).unwrap_or(u32::MAX),
                    first,
                }
            }
            ServerEvent::NewMessage(m) => Compact::Message {
                id: m.message_id,
                conv: m.conversation_id,
                sender: m.sender_id,
                receiver: m.receiver_id.unwrap_or(0),
                origin: match header {
                    Some(h) => Origin::Header {
                        conn: h.conn.0,
                        // Sequences past 2^32 per peer do not happen in a
                        // run; shown truncated if they ever did.
                        seq: h.seq as u32,
                    },
                    None => Origin::Bytes(u32::try_from(m.content.len()).unwrap_or(u32::MAX)),
                },
            },
            ServerEvent::DeleteMessage { message_id } => Compact::Delete {
                message: *message_id,
            },
            ServerEvent::MessagesRead {
                conversation_id,
                user_id,
            } => Compact::Read {
                conv: *conversation_id,
                by: *user_id,
            },
            ServerEvent::NewConversation {
                conversation_id,
                other_user_id,
            } => Compact::NewConversation {
                conv: *conversation_id,
                other: *other_user_id,
            },
            ServerEvent::ConversationDeleted { conversation_id } => Compact::ConversationDeleted {
                conv: *conversation_id,
            },
            ServerEvent::NewFriendRequest { sender_id, .. } => {
                Compact::FriendRequest { from: *sender_id }
            }
            ServerEvent::FriendRequestAccepted { friend_id, .. } => {
                Compact::FriendAccepted { by: *friend_id }
            }
            ServerEvent::Error { code, .. } => Compact::Error { code: *code },
        }
    }
}

impl fmt::Display for Compact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Compact::Status { user, online } => {
                let s = if online { "online" } else { "offline" };
                write!(f, "friend_status_change {user} {s}")
            }
            Compact::Typing { user, typing } => write!(f, "user_typing {user} {typing}"),
            Compact::OnlineFriends { count, first } => {
                f.write_str("online_friends [")?;
                let shown = (count as usize).min(IDS_KEPT);
                for (i, id) in first[..shown].iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{id}")?;
                }
                if count as usize > IDS_KEPT {
                    write!(f, ",…+{}", count as usize - IDS_KEPT)?;
                }
                f.write_char(']')
            }
            Compact::Message {
                id,
                conv,
                sender,
                receiver,
                origin,
            } => {
                write!(f, "new_message id={id} conv={conv} {sender}->")?;
                match receiver {
                    0 => f.write_str("(rest)")?,
                    r => write!(f, "{r}")?,
                }
                match origin {
                    Origin::Header { conn, seq } => write!(f, " {} s{seq}", ConnId(conn)),
                    Origin::Bytes(n) => write!(f, " {n}B"),
                }
            }
            Compact::Delete { message } => write!(f, "delete_message {message}"),
            Compact::Read { conv, by } => write!(f, "messages_read conv={conv} by={by}"),
            Compact::NewConversation { conv, other } => {
                write!(f, "new_conversation conv={conv} other={other}")
            }
            Compact::ConversationDeleted { conv } => {
                write!(f, "conversation_deleted conv={conv}")
            }
            Compact::FriendRequest { from } => write!(f, "new_friend_request from={from}"),
            Compact::FriendAccepted { by } => write!(f, "friend_request_accepted by={by}"),
            Compact::Error { code } => write!(f, "error {}", code.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    at_us: u64,
    frame: Compact,
}

impl Slot {
    fn record(&self) -> FrameRecord {
        FrameRecord {
            at_us: self.at_us,
            frame: self.frame.to_string(),
        }
    }
}

/// The last [`RING_LEN`] frames of one connection.
#[derive(Debug, Clone, Default)]
pub struct FrameRing {
    slots: Vec<Slot>,
    /// Where the next frame goes once the ring is full.
    next: usize,
}

impl FrameRing {
    /// Records `event`, received at `at` (with its content header, if a
    /// `new_message` carries one).
    pub fn push(&mut self, at: u64, event: &ServerEvent, header: Option<ContentHeader>) {
        let slot = Slot {
            at_us: at,
            frame: Compact::of(event, header),
        };
        if self.slots.len() < RING_LEN {
            if self.slots.capacity() == 0 {
                // One allocation for the connection's lifetime.
                self.slots.reserve_exact(RING_LEN);
            }
            self.slots.push(slot);
        } else {
            self.slots[self.next] = slot;
            self.next = (self.next + 1) % RING_LEN;
        }
    }

    /// The latest frame, rendered.
    pub fn last(&self) -> Option<FrameRecord> {
        let last = if self.slots.len() < RING_LEN {
            self.slots.last()
        } else {
            self.slots.get((self.next + RING_LEN - 1) % RING_LEN)
        };
        last.map(Slot::record)
    }

    /// The oldest frame kept, rendered.
    pub fn first(&self) -> Option<FrameRecord> {
        self.iter().next().map(Slot::record)
    }

    /// The frames, oldest first.
    fn iter(&self) -> impl Iterator<Item = &Slot> {
        let (newer, older) = if self.slots.len() < RING_LEN {
            (&self.slots[..], &self.slots[..0])
        } else {
            self.slots.split_at(self.next)
        };
        older.iter().chain(newer)
    }

    /// The frames rendered for a report, oldest first.
    pub fn to_conn_frames(&self, conn: ConnId) -> ConnFrames {
        ConnFrames {
            conn,
            frames: self.iter().map(Slot::record).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::checker::content;

    fn render(event: &ServerEvent, out: &mut String) {
        let header = match event {
            ServerEvent::NewMessage(m) => content::decode(&m.content),
            _ => None,
        };
        let _ = write!(out, "{}", Compact::of(event, header));
    }

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
            ring.push(i, &status(i), None);
        }
        let ats: Vec<u64> = ring.iter().map(|f| f.at_us).collect();
        assert_eq!(ats, (8..40).collect::<Vec<_>>());
        assert_eq!(
            ring.last().map(|f| f.frame),
            Some("friend_status_change 39 online".to_string())
        );
        assert_eq!(ring.first().map(|f| f.at_us), Some(8));
        let few = {
            let mut r = FrameRing::default();
            r.push(1, &status(1), None);
            r.push(2, &status(2), None);
            r
        };
        assert_eq!(few.iter().count(), 2);
        assert_eq!(few.last().map(|f| f.at_us), Some(2));
        assert_eq!(few.first().map(|f| f.at_us), Some(1));
    }

    #[test]
    fn a_slot_stays_small() {
        // 32 of these per connection: the generator's memory target is
        // 16 KiB per connection in all.
        assert!(std::mem::size_of::<Slot>() <= 56);
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
        assert_eq!(out, "online_friends [1,2,3,4,…+16]");
        out.clear();
        render(
            &ServerEvent::OnlineFriends {
                friends: vec![7, 9],
            },
            &mut out,
        );
        assert_eq!(out, "online_friends [7,9]");
    }

    #[test]
    fn messages_show_their_origin() {
        let header = content::encode(
            &content::ContentHeader {
                conn: ConnId(12),
                seq: 4,
                intended_us: 1,
                actual_us: 2,
                sender: 5,
                peer: 7,
            },
            80,
        );
        let message = |content: String, receiver| {
            ServerEvent::NewMessage(server::protocol::NewMessage {
                message_id: 9,
                sender_id: 5,
                conversation_id: 3,
                content,
                receiver_id: receiver,
                timestamp: None,
                created_at: None,
                media_ids: None,
            })
        };
        let mut out = String::new();
        render(&message(header, Some(7)), &mut out);
        assert_eq!(out, "new_message id=9 conv=3 5->7 c12 s4");
        out.clear();
        render(&message("hello".into(), None), &mut out);
        assert_eq!(out, "new_message id=9 conv=3 5->(rest) 5B");
    }
}
