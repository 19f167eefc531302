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
//!
//! # Retention
//!
//! Each conversation keeps its last `history_per_conversation` messages
//! ([`Conversations::store`]); storing one more evicts the oldest. So the
//! store's memory is bounded by conversations × that bound, and a long run
//! stays flat instead of ending in an out-of-memory kill. PROTOCOL.md's G5
//! ("a message with an id is in the history") holds *within the retention
//! bound*: a history read returns every accepted, undeleted message that
//! still has fewer than `history_per_conversation` stored-or-deleted
//! messages after it in its conversation, and none older.

use super::Sharded;
use crate::protocol::{ConversationId, MessageId, UserId};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
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
    /// Ascending by id: appended at the back, evicted from the front
    /// ([`Conversations::store`]); deletions remove in place.
    pub messages: VecDeque<StoredMessage>,
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

    /// Marks the other participant's messages read for `reader`.
    pub fn mark_read(&mut self, reader: UserId) {
        let last = self.messages.back().map_or(0, |m| m.id);
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
        self.messages
            .range(start..)
            .filter(|m| m.sender != user)
            .count() as u64
    }

    /// Messages with id > `after`, at most `limit`, ascending.
    pub fn page(&self, after: MessageId, limit: usize) -> impl Iterator<Item = &StoredMessage> {
        let start = self.messages.partition_point(|m| m.id <= after);
        let end = start.saturating_add(limit).min(self.messages.len());
        self.messages.range(start..end)
    }

    /// Removes a message; returns it.
    pub fn remove(&mut self, id: MessageId) -> Option<StoredMessage> {
        let pos = self.messages.binary_search_by_key(&id, |m| m.id).ok()?;
        self.messages.remove(pos)
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
    /// Messages kept per conversation (`--history-per-conversation`, ≥ 1).
    retention: usize,
}

impl Conversations {
    /// An empty store with `shards` shards that keeps the last `retention`
    /// messages of each conversation (at least 1).
    pub fn new(shards: usize, retention: usize) -> Self {
        Conversations {
            retention: retention.max(1),
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
            messages: VecDeque::new(),
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

    /// Messages kept per conversation.
    pub fn retention(&self) -> usize {
        self.retention
    }

    /// Stores `message` (its id from [`Conversations::next_message_id`],
    /// taken under `conv`'s lock, which the caller holds) at the end of
    /// `conv`, indexes it, and evicts the oldest messages beyond the
    /// retention bound. Returns how many were evicted (0 or 1).
    ///
    /// G5 within the retention bound: the message is stored before anyone
    /// can see its id, and stays until it is deleted or until
    /// `retention` newer messages have been stored after it (oldest first;
    /// see the module doc). Eviction also forgets the id in the message
    /// index, so nothing about an evicted message stays in memory.
    pub fn store(&self, conv: &mut Conversation, message: StoredMessage) -> usize {
        self.index_message(message.id, conv.id);
        conv.messages.push_back(message);
        let mut evicted = 0;
        while conv.messages.len() > self.retention {
            if let Some(old) = conv.messages.pop_front() {
                self.unindex_message(old.id);
                evicted += 1;
            }
        }
        evicted
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
    pub fn forget<'a>(
        &self,
        id: ConversationId,
        users: [UserId; 2],
        messages: impl IntoIterator<Item = &'a StoredMessage>,
    ) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(id: MessageId, sender: UserId) -> StoredMessage {
        StoredMessage {
            id,
            sender,
            content: "x".into(),
            created_at: "t".into(),
            media_ids: Box::new([]),
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Store a message from participant 0 or 1.
        Store(bool),
        /// Delete the i-th kept message (modulo how many are kept).
        Delete(usize),
    }

    proptest! {
        /// Against a model: the kept messages are always the newest
        /// `retention` of those stored and not deleted at the time each
        /// newer one came, ascending, and the id index knows exactly them.
        #[test]
        fn retention_keeps_the_newest_and_forgets_the_rest(
            retention in 1usize..6,
            ops in proptest::collection::vec(
                prop_oneof![3 => any::<bool>().prop_map(Op::Store), 1 => any::<usize>().prop_map(Op::Delete)],
                0..80,
            ),
        ) {
            let store = Conversations::new(4, retention);
            let (conv, _) = store.get_or_create(1, 2);
            let mut conv = conv.lock();
            let mut model: VecDeque<MessageId> = VecDeque::new();
            let mut gone: Vec<MessageId> = Vec::new();
            let mut evicted_total = 0;
            for op in ops {
                match op {
                    Op::Store(second) => {
                        let id = store.next_message_id();
                        let evicted = store.store(&mut conv, message(id, if second { 2 } else { 1 }));
                        model.push_back(id);
                        let mut n = 0;
                        while model.len() > retention {
                            gone.extend(model.pop_front());
                            n += 1;
                        }
                        prop_assert_eq!(evicted, n);
                        evicted_total += n;
                    }
                    Op::Delete(i) if !model.is_empty() => {
                        let id = model.remove(i % model.len()).expect("in range");
                        prop_assert!(conv.remove(id).is_some());
                        store.unindex_message(id);
                        gone.push(id);
                    }
                    Op::Delete(_) => {}
                }
                let kept: Vec<MessageId> = conv.messages.iter().map(|m| m.id).collect();
                prop_assert_eq!(&kept, &model.iter().copied().collect::<Vec<_>>());
                prop_assert!(kept.len() <= retention);
                let page: Vec<MessageId> = conv.page(0, 500).map(|m| m.id).collect();
                prop_assert_eq!(&page, &kept);
                for id in &kept {
                    prop_assert_eq!(store.conversation_of(*id), Some(conv.id));
                }
                for id in &gone {
                    prop_assert_eq!(store.conversation_of(*id), None);
                }
            }
            prop_assert!(evicted_total <= gone.len());
        }
    }
}
