//! Conversations, their messages and read state.
//!
//! Lock order (see `manager`): pair map → conversation map → one
//! conversation → manager shards. The message index is taken alone or under
//! a conversation lock, never the other way round.
//!
//! A conversation is one `Arc<Mutex<Conversation>>`: callers look it up (the
//! map lock is released at once), then lock that conversation alone to
//! append, read or delete. Message ids come from one counter incremented
//! under the conversation's lock, so within a conversation they increase in
//! the order the messages are stored and delivered (G3).

use super::Sharded;
use crate::protocol::{ConversationId, MessageId, UserId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One stored message.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub id: MessageId,
    pub sender: UserId,
    pub content: Box<str>,
    /// `2024-01-01T12:00:00.000000`, formatted once when stored.
    pub created_at: Box<str>,
    pub media_ids: Box<[u64]>,
}

/// One conversation between two users.
#[derive(Debug)]
pub struct Conversation {
    pub id: ConversationId,
    /// The two participants, ascending.
    pub users: [UserId; 2],
    /// Ascending by id (appends only; deletions remove in place).
    pub messages: Vec<StoredMessage>,
    /// Per participant (same index as `users`): the last message id that
    /// was stored when that participant last marked the conversation read.
    pub read_upto: [MessageId; 2],
    /// Set under the lock when the conversation is deleted; a sender that
    /// raced the deletion sees it and retries on a fresh conversation.
    pub deleted: bool,
    /// Only with the reorder fault: a delivery held back to go after the next.
    pub held: Option<crate::manager::Frame>,
}

impl Conversation {
    /// Whether `user` takes part.
    pub fn has(&self, user: UserId) -> bool {
        self.users.contains(&user)
    }

    /// The other participant.
    pub fn other(&self, user: UserId) -> UserId {
        if self.users[0] == user {
            self.users[1]
        } else {
            self.users[0]
        }
    }

    fn slot(&self, user: UserId) -> usize {
        usize::from(self.users[1] == user)
    }

    /// Stores a message with id `id` (from [`Conversations::next_message_id`],
    /// taken under this conversation's lock).
    pub fn append(&mut self, message: StoredMessage) -> &StoredMessage {
        self.messages.push(message);
        // The vector is non-empty: we just pushed.
        self.messages.last().expect("just pushed")
    }

    /// Marks the other participant's messages read for `reader`.
    pub fn mark_read(&mut self, reader: UserId) {
        let last = self.messages.last().map_or(0, |m| m.id);
        let slot = self.slot(reader);
        self.read_upto[slot] = self.read_upto[slot].max(last);
    }

    /// Whether `message` has been read by its receiver.
    pub fn is_read(&self, message: &StoredMessage) -> bool {
        let receiver = self.other(message.sender);
        message.id <= self.read_upto[self.slot(receiver)]
    }

    /// The other participant's messages that `user` has not read.
    pub fn unread_count(&self, user: UserId) -> u64 {
        let upto = self.read_upto[self.slot(user)];
        let start = self.messages.partition_point(|m| m.id <= upto);
        self.messages[start..]
            .iter()
            .filter(|m| m.sender != user)
            .count() as u64
    }

    /// Messages with id > `after`, at most `limit`, ascending.
    pub fn page(&self, after: MessageId, limit: usize) -> &[StoredMessage] {
        let start = self.messages.partition_point(|m| m.id <= after);
        let end = (start + limit).min(self.messages.len());
        &self.messages[start..end]
    }

    /// Removes a message; returns it.
    pub fn remove(&mut self, id: MessageId) -> Option<StoredMessage> {
        let pos = self.messages.binary_search_by_key(&id, |m| m.id).ok()?;
        Some(self.messages.remove(pos))
    }

    /// The message with this id.
    pub fn get(&self, id: MessageId) -> Option<&StoredMessage> {
        let pos = self.messages.binary_search_by_key(&id, |m| m.id).ok()?;
        self.messages.get(pos)
    }
}

/// A shared, individually locked conversation.
pub type ConversationRef = Arc<Mutex<Conversation>>;

/// All conversations.
pub struct Conversations {
    pairs: Sharded<HashMap<(UserId, UserId), ConversationId>>,
    by_id: Sharded<HashMap<ConversationId, ConversationRef>>,
    by_message: Sharded<HashMap<MessageId, ConversationId>>,
    by_user: Sharded<HashMap<UserId, Vec<ConversationId>>>,
    next_conversation: AtomicU64,
    next_message: AtomicU64,
}

impl Conversations {
    /// An empty store with `shards` shards.
    pub fn new(shards: usize) -> Self {
        Conversations {
            pairs: Sharded::new(shards),
            by_id: Sharded::new(shards),
            by_message: Sharded::new(shards),
            by_user: Sharded::new(shards),
            next_conversation: AtomicU64::new(1),
            next_message: AtomicU64::new(1),
        }
    }

    /// The next message id. Call it under the conversation's lock: that is
    /// what makes ids increase in storage and delivery order (G3).
    pub fn next_message_id(&self) -> MessageId {
        self.next_message.fetch_add(1, Ordering::Relaxed)
    }

    /// The conversation of the pair, created if absent or deleted. Returns it
    /// and whether it was created.
    pub fn get_or_create(&self, a: UserId, b: UserId) -> (ConversationRef, bool) {
        let key = (a.min(b), a.max(b));
        let mut pairs = self.pairs.lock(key.0 ^ key.1.rotate_left(17));
        if let Some(id) = pairs.get(&key) {
            if let Some(conv) = self.get(*id) {
                // Lock order: pair map → conversation map → conversation.
                if !conv.lock().deleted {
                    return (conv, false);
                }
            }
        }
        let id = self.next_conversation.fetch_add(1, Ordering::Relaxed);
        let conv = Arc::new(Mutex::new(Conversation {
            id,
            users: [key.0, key.1],
            messages: Vec::new(),
            read_upto: [0, 0],
            deleted: false,
            held: None,
        }));
        self.by_id.lock(id).insert(id, conv.clone());
        pairs.insert(key, id);
        drop(pairs);
        for user in [key.0, key.1] {
            self.by_user.lock(user).entry(user).or_default().push(id);
        }
        (conv, true)
    }

    /// The conversation with this id, if it exists.
    pub fn get(&self, id: ConversationId) -> Option<ConversationRef> {
        self.by_id.lock(id).get(&id).cloned()
    }

    /// Records which conversation a message is in (for delete by id).
    pub fn index_message(&self, message: MessageId, conversation: ConversationId) {
        self.by_message.lock(message).insert(message, conversation);
    }

    /// The conversation a message is in.
    pub fn conversation_of(&self, message: MessageId) -> Option<ConversationId> {
        self.by_message.lock(message).get(&message).copied()
    }

    /// Forgets a deleted message.
    pub fn unindex_message(&self, message: MessageId) {
        self.by_message.lock(message).remove(&message);
    }

    /// The ids of `user`'s conversations (deleted ones are filtered by the caller).
    pub fn of_user(&self, user: UserId) -> Vec<ConversationId> {
        self.by_user
            .lock(user)
            .get(&user)
            .cloned()
            .unwrap_or_default()
    }

    /// Removes a conversation already marked deleted under its lock: the
    /// pair entry (if it still points here), the id, the message index and
    /// the per-user lists. Call without holding the conversation's lock
    /// (the pair map comes before it in the lock order).
    pub fn forget(&self, id: ConversationId, users: [UserId; 2], messages: &[StoredMessage]) {
        let key = (users[0], users[1]);
        {
            let mut pairs = self.pairs.lock(key.0 ^ key.1.rotate_left(17));
            if pairs.get(&key) == Some(&id) {
                pairs.remove(&key);
            }
        }
        self.by_id.lock(id).remove(&id);
        for m in messages {
            self.unindex_message(m.id);
        }
        for user in users {
            if let Some(list) = self.by_user.lock(user).get_mut(&user) {
                list.retain(|c| *c != id);
            }
        }
    }
}
