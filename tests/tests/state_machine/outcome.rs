//! What a step may lead to: the frames each open connection receives, the
//! REST answer, and the model after it.

use super::model::{pair, Content, Model, Msg, Slot, USERS};
use server::protocol::{ErrorCode, NewMessage, ServerEvent, Status};
use std::collections::BTreeMap;

/// What a REST call must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestExpect {
    /// A status only.
    Status(u16),
    /// 201/200 with this `conversation_id`.
    Conversation(u16, u64),
    /// 201 with this `message_id`.
    Message(u64),
    /// 200 with these (message_id, sender, content), ascending.
    History(Vec<(u64, u64, String)>),
}

/// One allowed outcome of a step.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Frames per open connection, before the judge's own round trip (whose
    /// reply is predicted from `next`).
    pub frames: BTreeMap<Slot, Vec<ServerEvent>>,
    pub rest: Option<RestExpect>,
    pub next: Model,
}

impl Outcome {
    pub(super) fn push(&mut self, slot: Slot, e: ServerEvent) {
        self.frames.entry(slot).or_default().push(e);
    }

    /// To every connection of `user` open before this step.
    pub(super) fn deliver_to(&mut self, user: usize, e: &ServerEvent) {
        for (slot, frames) in self.frames.iter_mut() {
            if slot.user == user && self.next.open.contains(slot) {
                frames.push(e.clone());
            }
        }
    }

    pub(super) fn error(&mut self, slot: Slot, code: ErrorCode) {
        self.push(
            slot,
            ServerEvent::Error {
                code,
                message: String::new(),
            },
        );
    }

    /// Opens a device: "online" to the online friends if it is the first.
    pub(super) fn open(&mut self, slot: Slot) {
        let first = !self.next.online(slot.user);
        self.next.open.insert(slot);
        self.frames.entry(slot).or_default();
        if first {
            let e = ServerEvent::FriendStatusChange {
                user_id: self.next.ids[slot.user],
                status: Status::Online,
            };
            for f in 0..USERS {
                if f != slot.user && self.next.are_friends(f, slot.user) {
                    self.deliver_to(f, &e);
                }
            }
        }
    }

    /// Closes a device: the last one sends "offline" to the online friends,
    /// then `is_typing:false` to everyone the user was typing to.
    pub(super) fn close(&mut self, slot: Slot) {
        self.next.open.remove(&slot);
        if self.next.online(slot.user) {
            return;
        }
        let user = slot.user;
        let offline = ServerEvent::FriendStatusChange {
            user_id: self.next.ids[user],
            status: Status::Offline,
        };
        for f in 0..USERS {
            if f != user && self.next.are_friends(f, user) {
                self.deliver_to(f, &offline);
            }
        }
        let not_typing = ServerEvent::UserTyping {
            user_id: self.next.ids[user],
            is_typing: false,
        };
        for t in std::mem::take(&mut self.next.typing_to[user]) {
            self.deliver_to(t, &not_typing);
        }
    }

    /// The reopened device's own reply (it stays open in every outcome).
    pub(super) fn push_after_reopen(&mut self, slot: Slot) {
        let reply = self.next.online_friends(slot.user);
        self.frames.insert(slot, vec![reply]);
    }

    pub(super) fn send(&mut self, from: Slot, to: usize, content: &Content) {
        let model = &self.next;
        if let Some(code) = model.target_error(from.user, to) {
            return self.error(from, code);
        }
        let text = content.text();
        if text.is_empty() {
            return self.error(from, ErrorCode::EmptyContent);
        }
        if text.len() > 4096 {
            return self.error(from, ErrorCode::ContentTooLong);
        }
        let p = pair(from.user, to);
        let conv = match model.convs.get(&p) {
            Some(&id) => id,
            // Implicit conversation: no new_conversation (§8).
            None => self.next.new_conversation(from.user, to),
        };
        let id = self.next.next_msg;
        self.next.next_msg += 1;
        self.next.messages.insert(
            id,
            Msg {
                pair: p,
                sender: from.user,
                content: text.clone(),
            },
        );
        let e = ServerEvent::NewMessage(NewMessage {
            message_id: id,
            sender_id: self.next.ids[from.user],
            conversation_id: conv,
            content: text,
            receiver_id: Some(self.next.ids[to]),
            timestamp: None,
            created_at: None,
            media_ids: None,
        });
        self.deliver_to(from.user, &e);
        self.deliver_to(to, &e);
    }
}
