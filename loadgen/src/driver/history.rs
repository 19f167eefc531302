//! What the generator deleted (I11 must not expect those messages back) and
//! the REST-created conversations it may delete.

use super::shared::Shared;
use server::protocol::{ConversationId, MessageId};
use std::collections::{HashMap, HashSet};

/// Deleted ids and delete candidates.
#[derive(Default)]
pub struct Book {
    /// Messages deleted (or being deleted) through REST.
    deleted_messages: HashSet<MessageId>,
    /// Conversations deleted (or being deleted) through REST.
    deleted_conversations: HashSet<ConversationId>,
    /// Conversations created through REST, by creator.
    created_by: HashMap<u32, Vec<ConversationId>>,
}

/// A REST-created conversation of `user` to delete, if any.
pub fn pick_deletable(shared: &Shared, user: u32) -> Option<ConversationId> {
    shared.book.lock().created_by.get_mut(&user)?.pop()
}

/// `user` created `conversation` through REST.
pub fn created(shared: &Shared, user: u32, conversation: ConversationId) {
    shared
        .book
        .lock()
        .created_by
        .entry(user)
        .or_default()
        .push(conversation);
}

/// The generator is deleting `message` (recorded before the request).
pub fn deleting_message(shared: &Shared, message: MessageId) {
    shared.book.lock().deleted_messages.insert(message);
}

/// The generator is deleting `conversation` (recorded before the request).
pub fn deleting_conversation(shared: &Shared, conversation: ConversationId) {
    shared
        .book
        .lock()
        .deleted_conversations
        .insert(conversation);
}

/// Whether the generator deleted (or is deleting) a conversation.
pub fn is_deleted(shared: &Shared, conversation: ConversationId) -> bool {
    shared
        .book
        .lock()
        .deleted_conversations
        .contains(&conversation)
}

/// Every message the generator deleted.
pub fn deleted_messages(shared: &Shared) -> Vec<MessageId> {
    shared
        .book
        .lock()
        .deleted_messages
        .iter()
        .copied()
        .collect()
}
