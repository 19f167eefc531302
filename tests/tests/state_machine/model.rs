//! The reference model: the protocol's state (friends, requests, open
//! devices, typing marks, conversations, messages) as plain data, and
//! [`Model::apply`], which says for one [`Step`] every allowed outcome:
//! exactly which frames each open connection gets, what REST answers, and
//! the state after. A deterministic step has one outcome; a racy composite
//! step has one per order the contract allows.
//!
//! Users are indexes `0..USERS`; the real ids and names come from
//! provisioning ([`Model::new`]). Conversation and message ids are predicted
//! too: the server hands them out from per-server counters starting at 1,
//! and every case runs against a fresh server. That is an implementation
//! detail the contract does not promise; it keeps the comparison exact.

use server::protocol::{ErrorCode, NewMessage, ServerEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Users in a case.
pub const USERS: usize = 4;
/// Devices (connection slots) per user.
pub const DEVICES: usize = 2;
/// Friendships at the start: a path 0–1–2–3, so some pairs are strangers
/// until a friend request is accepted.
pub const INITIAL_FRIENDS: [(usize, usize); 3] = [(0, 1), (1, 2), (2, 3)];
/// An id no user or conversation has.
pub const UNKNOWN_ID: u64 = i64::MAX as u64;
/// A conversation id that no live conversation has.
pub const NO_CONVERSATION: u64 = 1_000_000;

/// One device of one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slot {
    pub user: usize,
    pub device: usize,
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}.d{}", self.user, self.device)
    }
}

/// What a `send_message` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Text(String),
    Empty,
    TooLong,
}

impl Content {
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Empty => String::new(),
            Content::TooLong => "x".repeat(4097),
        }
    }
}

/// A malformed client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadFrame {
    NotJson,
    UnknownType,
    MissingField,
    Binary,
}

impl BadFrame {
    pub fn code(self) -> ErrorCode {
        match self {
            BadFrame::NotJson => ErrorCode::InvalidJson,
            BadFrame::UnknownType => ErrorCode::UnknownType,
            BadFrame::MissingField => ErrorCode::InvalidField,
            BadFrame::Binary => ErrorCode::BinaryUnsupported,
        }
    }
}

/// One transition. Every step is meaningful in every state (a step whose
/// device is not open, say, does nothing), so any subsequence of a
/// sequence is a sequence: shrinking just drops and simplifies steps.
/// WebSocket actions name their device by `pick`, an index into the devices
/// open at that moment, so that they stay live while shrinking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Open(Slot),
    Close(Slot),
    /// `send_message` to user `to` (`USERS` = an unknown id).
    Send {
        pick: usize,
        to: usize,
        content: Content,
    },
    /// `typing` (`on`) or `stop_typing` to `to`.
    Typing {
        pick: usize,
        to: usize,
        on: bool,
    },
    /// `mark_read` of the conversation of `pair`.
    MarkRead {
        pick: usize,
        pair: (usize, usize),
    },
    GetOnlineFriends {
        pick: usize,
    },
    BadFrame {
        pick: usize,
        frame: BadFrame,
    },
    /// `POST /create_conversation`.
    CreateConversation {
        user: usize,
        other: usize,
    },
    /// `POST /conversation/send_message` in the conversation of `pair`.
    RestSend {
        user: usize,
        pair: (usize, usize),
    },
    /// `POST /conversation/delete_message` of the `pick`-th live message.
    DeleteMessage {
        user: usize,
        pick: usize,
    },
    /// `POST /delete_conversation` of the conversation of `pair`.
    DeleteConversation {
        user: usize,
        pair: (usize, usize),
    },
    /// `GET /conversation/{id}/messages` of the conversation of `pair`.
    History {
        user: usize,
        pair: (usize, usize),
    },
    FriendRequest {
        from: usize,
        to: usize,
    },
    Accept {
        user: usize,
        requester: usize,
    },
    /// A WebSocket with an unknown token: closed with 4008.
    BadToken,
    /// Racy: every open device of the user closes at once.
    CloseAll(usize),
    /// Racy: the device closes and reopens back to back (the reopen may
    /// register before the close is unregistered).
    CloseReopen(Slot),
    /// Racy: `observer` asks `get_online_friends` while `mover` opens (if
    /// closed) or closes (if open).
    SnapshotDuring {
        observer: usize,
        mover: Slot,
    },
}

/// A live message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub pair: (usize, usize),
    pub sender: usize,
    pub content: String,
}

/// The whole state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub ids: Vec<u64>,
    pub names: Vec<String>,
    pub(super) friends: BTreeSet<(usize, usize)>,
    /// Pending requests, (from, to).
    pub(super) requests: BTreeSet<(usize, usize)>,
    pub open: BTreeSet<Slot>,
    pub(super) typing_to: Vec<BTreeSet<usize>>,
    /// Live conversation of each pair (ascending pair).
    pub(super) convs: BTreeMap<(usize, usize), u64>,
    /// Live messages by id.
    pub(super) messages: BTreeMap<u64, Msg>,
    pub(super) next_conv: u64,
    pub(super) next_msg: u64,
}

pub use super::outcome::{Outcome, RestExpect};

pub(super) fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

impl Model {
    /// The start of every case: initial friendships, device 0 of every
    /// user open.
    pub fn new(ids: Vec<u64>, names: Vec<String>) -> Model {
        Model {
            ids,
            names,
            friends: INITIAL_FRIENDS.iter().map(|&(a, b)| pair(a, b)).collect(),
            requests: BTreeSet::new(),
            open: (0..USERS).map(|user| Slot { user, device: 0 }).collect(),
            typing_to: vec![BTreeSet::new(); USERS],
            convs: BTreeMap::new(),
            messages: BTreeMap::new(),
            next_conv: 1,
            next_msg: 1,
        }
    }

    pub fn are_friends(&self, a: usize, b: usize) -> bool {
        self.friends.contains(&pair(a, b))
    }

    pub fn online(&self, user: usize) -> bool {
        self.open.iter().any(|s| s.user == user)
    }

    /// The devices open now, in order (what `pick` indexes).
    pub fn open_slots(&self) -> Vec<Slot> {
        self.open.iter().copied().collect()
    }

    /// The `pick`-th open device, if any is open.
    pub fn pick(&self, pick: usize) -> Option<Slot> {
        let open = self.open_slots();
        (!open.is_empty()).then(|| open[pick % open.len()])
    }

    /// The id of the live conversation of `p`, or one no conversation has.
    pub fn conversation_id(&self, p: (usize, usize)) -> u64 {
        self.convs
            .get(&pair(p.0, p.1))
            .copied()
            .unwrap_or(NO_CONVERSATION)
    }

    /// The pairs that have a live conversation.
    pub fn conversation_pairs(&self) -> Vec<(usize, usize)> {
        self.convs.keys().copied().collect()
    }

    /// The live messages, ascending.
    pub fn message_ids(&self) -> Vec<u64> {
        self.messages.keys().copied().collect()
    }

    /// The online friends of `user`, by real id, ascending (an
    /// `online_friends` reply).
    pub fn online_friends(&self, user: usize) -> ServerEvent {
        let mut friends: Vec<u64> = (0..USERS)
            .filter(|f| *f != user && self.are_friends(user, *f) && self.online(*f))
            .map(|f| self.ids[f])
            .collect();
        friends.sort_unstable();
        ServerEvent::OnlineFriends { friends }
    }

    /// An outcome with no frames yet, from this state.
    pub(super) fn outcome(&self) -> Outcome {
        Outcome {
            frames: self.open.iter().map(|s| (*s, Vec::new())).collect(),
            rest: None,
            next: self.clone(),
        }
    }

    /// Every allowed outcome of `step` from this state.
    pub fn apply(&self, step: &Step) -> Vec<Outcome> {
        let mut o = self.outcome();
        match step {
            Step::Open(slot) => {
                if !self.open.contains(slot) {
                    o.open(*slot);
                    o.push(*slot, o.next.online_friends(slot.user));
                }
            }
            Step::Close(slot) => {
                if self.open.contains(slot) {
                    o.close(*slot);
                }
            }
            Step::CloseAll(user) => {
                for slot in self.open.iter().filter(|s| s.user == *user) {
                    o.close(*slot);
                }
            }
            Step::Send { pick, to, content } => {
                if let Some(from) = self.pick(*pick) {
                    o.send(from, *to, content);
                }
            }
            Step::Typing { pick, to, on } => {
                if let Some(from) = self.pick(*pick) {
                    match self.target_error(from.user, *to) {
                        Some(code) => o.error(from, code),
                        None => {
                            let typing = &mut o.next.typing_to[from.user];
                            if *on {
                                typing.insert(*to);
                            } else {
                                typing.remove(to);
                            }
                            let e = ServerEvent::UserTyping {
                                user_id: self.ids[from.user],
                                is_typing: *on,
                            };
                            o.deliver_to(*to, &e);
                        }
                    }
                }
            }
            Step::MarkRead { pick, pair: p } => {
                if let Some(from) = self.pick(*pick) {
                    let p = pair(p.0, p.1);
                    match self.convs.get(&p) {
                        None => o.error(from, ErrorCode::UnknownConversation),
                        Some(_) if from.user != p.0 && from.user != p.1 => {
                            o.error(from, ErrorCode::NotParticipant)
                        }
                        Some(&id) => {
                            let other = if p.0 == from.user { p.1 } else { p.0 };
                            let e = ServerEvent::MessagesRead {
                                conversation_id: id,
                                user_id: self.ids[from.user],
                            };
                            o.deliver_to(other, &e);
                        }
                    }
                }
            }
            Step::GetOnlineFriends { pick } => {
                if let Some(from) = self.pick(*pick) {
                    o.push(from, self.online_friends(from.user));
                }
            }
            Step::BadFrame { pick, frame } => {
                if let Some(from) = self.pick(*pick) {
                    o.error(from, frame.code());
                }
            }
            Step::CreateConversation { user, other } => {
                let (user, other) = (*user, *other);
                o.rest = Some(if user == other {
                    RestExpect::Status(400)
                } else if !self.are_friends(user, other) {
                    RestExpect::Status(403)
                } else if let Some(&id) = self.convs.get(&pair(user, other)) {
                    RestExpect::Conversation(200, id)
                } else {
                    let id = o.next.new_conversation(user, other);
                    let e = ServerEvent::NewConversation {
                        conversation_id: id,
                        other_user_id: self.ids[user],
                    };
                    o.deliver_to(other, &e);
                    RestExpect::Conversation(201, id)
                });
            }
            Step::RestSend { user, pair: p } => {
                let p = pair(p.0, p.1);
                o.rest = Some(match self.convs.get(&p) {
                    None => RestExpect::Status(404),
                    Some(_) if *user != p.0 && *user != p.1 => RestExpect::Status(403),
                    Some(&conv) => {
                        let other = if p.0 == *user { p.1 } else { p.0 };
                        let id = o.next.store(p, *user);
                        let e = ServerEvent::NewMessage(NewMessage {
                            message_id: id,
                            sender_id: self.ids[*user],
                            conversation_id: conv,
                            content: o.next.messages[&id].content.clone(),
                            receiver_id: None,
                            timestamp: None,
                            created_at: None,
                            media_ids: Some(Vec::new()),
                        });
                        o.deliver_to(other, &e);
                        RestExpect::Message(id)
                    }
                });
            }
            Step::DeleteMessage { user, pick } => {
                let ids = self.message_ids();
                if !ids.is_empty() {
                    let id = ids[pick % ids.len()];
                    let m = &self.messages[&id];
                    // 403 either way: not a participant, or not the author.
                    o.rest = Some(if m.sender != *user {
                        RestExpect::Status(403)
                    } else {
                        let other = if m.pair.0 == *user {
                            m.pair.1
                        } else {
                            m.pair.0
                        };
                        o.next.messages.remove(&id);
                        o.deliver_to(other, &ServerEvent::DeleteMessage { message_id: id });
                        RestExpect::Status(200)
                    });
                }
            }
            Step::DeleteConversation { user, pair: p } => {
                let p = pair(p.0, p.1);
                o.rest = Some(match self.convs.get(&p) {
                    None => RestExpect::Status(404),
                    Some(_) if *user != p.0 && *user != p.1 => RestExpect::Status(403),
                    Some(&id) => {
                        let other = if p.0 == *user { p.1 } else { p.0 };
                        o.next.convs.remove(&p);
                        o.next.messages.retain(|_, m| m.pair != p);
                        o.deliver_to(
                            other,
                            &ServerEvent::ConversationDeleted {
                                conversation_id: id,
                            },
                        );
                        RestExpect::Status(200)
                    }
                });
            }
            Step::History { user, pair: p } => {
                let p = pair(p.0, p.1);
                o.rest = Some(match self.convs.get(&p) {
                    None => RestExpect::Status(404),
                    Some(_) if *user != p.0 && *user != p.1 => RestExpect::Status(403),
                    Some(_) => RestExpect::History(
                        self.messages
                            .iter()
                            .filter(|(_, m)| m.pair == p)
                            .map(|(id, m)| (*id, self.ids[m.sender], m.content.clone()))
                            .collect(),
                    ),
                });
            }
            Step::FriendRequest { from, to } => {
                let (from, to) = (*from, *to);
                o.rest = Some(if from == to {
                    RestExpect::Status(400)
                } else if self.are_friends(from, to)
                    || self.requests.contains(&(from, to))
                    || self.requests.contains(&(to, from))
                {
                    RestExpect::Status(409)
                } else {
                    o.next.requests.insert((from, to));
                    let e = ServerEvent::NewFriendRequest {
                        sender_id: self.ids[from],
                        sender_username: self.names[from].clone(),
                    };
                    o.deliver_to(to, &e);
                    RestExpect::Status(201)
                });
            }
            Step::Accept { user, requester } => {
                let (user, requester) = (*user, *requester);
                o.rest = Some(if !self.requests.contains(&(requester, user)) {
                    RestExpect::Status(404)
                } else {
                    // Becoming friends sends no presence event (§8).
                    o.next.requests.remove(&(requester, user));
                    o.next.friends.insert(pair(user, requester));
                    let e = ServerEvent::FriendRequestAccepted {
                        friend_id: self.ids[user],
                        friend_username: self.names[user].clone(),
                    };
                    o.deliver_to(requester, &e);
                    RestExpect::Status(200)
                });
            }
            Step::BadToken => {}
            Step::CloseReopen(slot) => {
                if !self.open.contains(slot) {
                    return vec![o];
                }
                let others = self.open.iter().any(|s| s.user == slot.user && s != slot);
                // Whichever registers first, the new device is open after.
                o.push_after_reopen(*slot);
                if others {
                    return vec![o];
                }
                // The reopen registered first: nobody hears anything.
                let quiet = o.clone();
                // The close was unregistered first: offline (and typing
                // cleared), then online.
                o.close(*slot);
                o.open(*slot);
                o.frames
                    .insert(*slot, vec![o.next.online_friends(slot.user)]);
                return vec![quiet, o];
            }
            Step::SnapshotDuring { observer, mover } => {
                let Some(obs) = self.pick(*observer) else {
                    return vec![o];
                };
                if obs == *mover {
                    return vec![o];
                }
                let before = self.online_friends(obs.user);
                if self.open.contains(mover) {
                    o.close(*mover);
                } else {
                    o.open(*mover);
                    o.push(*mover, o.next.online_friends(mover.user));
                }
                let after = o.next.online_friends(obs.user);
                let events = o.frames.get(&obs).cloned().unwrap_or_default();
                if events.is_empty() {
                    o.frames.insert(obs, vec![before]);
                    return vec![o];
                }
                // G2: the reply comes before the transition's events (and
                // does not show it) or after them (and does).
                let mut first = o.clone();
                first
                    .frames
                    .insert(obs, [vec![before], events.clone()].concat());
                o.frames.insert(obs, [events, vec![after]].concat());
                return vec![first, o];
            }
        }
        vec![o]
    }

    pub(super) fn target_error(&self, from: usize, to: usize) -> Option<ErrorCode> {
        if to >= USERS {
            Some(ErrorCode::UnknownUser)
        } else if to == from {
            Some(ErrorCode::SelfTarget)
        } else if !self.are_friends(from, to) {
            Some(ErrorCode::NotFriends)
        } else {
            None
        }
    }

    pub(super) fn new_conversation(&mut self, a: usize, b: usize) -> u64 {
        let id = self.next_conv;
        self.next_conv += 1;
        self.convs.insert(pair(a, b), id);
        id
    }

    /// Stores a message (content derived from its id) and returns its id.
    pub(super) fn store(&mut self, p: (usize, usize), sender: usize) -> u64 {
        let id = self.next_msg;
        self.next_msg += 1;
        self.messages.insert(
            id,
            Msg {
                pair: p,
                sender,
                content: format!("rest {id}"),
            },
        );
        id
    }
}
