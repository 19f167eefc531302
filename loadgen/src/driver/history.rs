//! The history book: which message ids the server accepted, per
//! conversation, and which the generator deleted — what I11 (nothing
//! accepted is lost) is judged against at each barrier.
//!
//! Memory grows with the messages of one epoch: [`take_epoch`] hands the
//! epoch's conversations to the barrier and starts a fresh one.

use super::shared::Shared;
use server::protocol::{ConversationId, MessageId};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Accepted and deleted ids.
#[derive(Default)]
pub struct Book {
    /// This epoch's accepted ids, per conversation.
    accepted: HashMap<ConversationId, Vec<MessageId>>,
    /// A participant (population index) of each conversation seen.
    member: HashMap<ConversationId, u32>,
    /// Messages deleted through REST (whole run).
    deleted_messages: HashSet<MessageId>,
    /// Conversations deleted through REST (whole run).
    deleted_conversations: HashSet<ConversationId>,
    /// Conversations created through REST, by creator (delete candidates).
    created_by: HashMap<u32, Vec<ConversationId>>,
}

/// One conversation to verify at a barrier.
pub struct ToVerify {
    pub conversation: ConversationId,
    pub member: u32,
    pub accepted: Vec<MessageId>,
}

/// The server accepted `message` in `conversation` (echo or REST reply).
pub fn accepted(shared: &Shared, conversation: ConversationId, message: MessageId) {
    shared
        .book
        .lock()
        .accepted
        .entry(conversation)
        .or_default()
        .push(message);
}

/// `user` takes part in `conversation`.
pub fn member(shared: &Shared, conversation: ConversationId, user: u32) {
    shared
        .book
        .lock()
        .member
        .entry(conversation)
        .or_insert(user);
}

/// A REST-created conversation of `user` to delete later, if any.
pub fn pick_deletable(shared: &Shared, user: u32) -> Option<ConversationId> {
    let mut book = shared.book.lock();
    let list = book.created_by.get_mut(&user)?;
    list.pop()
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

/// The generator deleted `message`.
pub fn deleted_message(shared: &Shared, message: MessageId) {
    shared.book.lock().deleted_messages.insert(message);
}

/// The generator deleted `conversation`.
pub fn deleted_conversation(shared: &Shared, conversation: ConversationId) {
    shared
        .book
        .lock()
        .deleted_conversations
        .insert(conversation);
}

/// Hands over this epoch's conversations (at most `cap`, the ones with the
/// most messages first) and starts a new epoch.
pub fn take_epoch(shared: &Shared, cap: usize) -> (Vec<ToVerify>, HashSet<MessageId>) {
    let mut book = shared.book.lock();
    let accepted = std::mem::take(&mut book.accepted);
    let mut out: Vec<ToVerify> = accepted
        .into_iter()
        .filter(|(c, _)| !book.deleted_conversations.contains(c))
        .filter_map(|(c, ids)| {
            Some(ToVerify {
                conversation: c,
                member: *book.member.get(&c)?,
                accepted: ids,
            })
        })
        .collect();
    out.sort_by(|a, b| {
        b.accepted
            .len()
            .cmp(&a.accepted.len())
            .then(a.conversation.cmp(&b.conversation))
    });
    out.truncate(cap);
    (out, book.deleted_messages.clone())
}

/// Whether a conversation was deleted by the generator.
pub fn is_deleted(shared: &Shared, conversation: ConversationId) -> bool {
    shared
        .book
        .lock()
        .deleted_conversations
        .contains(&conversation)
}

/// Ids in `history` counted, for duplicate detection.
pub fn counts(history: &[MessageId]) -> BTreeMap<MessageId, u32> {
    let mut m = BTreeMap::new();
    for id in history {
        *m.entry(*id).or_insert(0) += 1;
    }
    m
}
