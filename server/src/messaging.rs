//! Storing a message and pushing it, shared by WS `send_message` and
//! `POST /conversation/send_message`.
//!
//! G3 and G5 are kept here: the message id is taken, the message stored and
//! its `new_message` enqueued to the participants' connections all under the
//! conversation's lock, so every connection receives a conversation's
//! messages in id order, and a message has an id only once it is stored.

use crate::fault::{Fault, CORRUPT_EVERY, HISTORY_MISSING_EVERY};
use crate::manager::Frame;
use crate::protocol::{
    format_timestamp, rest::MessageCreated, ConversationId, ErrorCode, EventKind, NewMessage,
    ServerEvent, UserId, MAX_CONTENT_BYTES,
};
use crate::state::AppState;
use crate::store::{Conversation, StoredMessage};

/// Which `new_message` form to push, and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// WS form, to every connection of both participants.
    WebSocket,
    /// REST form, to the receiver only.
    Rest,
}

/// Checks `content` against §2 (after the user rules, per §8's order).
pub fn check_content(content: &str) -> Result<(), ErrorCode> {
    if content.is_empty() {
        Err(ErrorCode::EmptyContent)
    } else if content.len() > MAX_CONTENT_BYTES {
        Err(ErrorCode::ContentTooLong)
    } else {
        Ok(())
    }
}

/// Checks the rules of a message or typing target (§8 order: unknown_user,
/// self_target, not_friends).
pub fn check_target(state: &AppState, sender: UserId, receiver: UserId) -> Result<(), ErrorCode> {
    if !state.users.exists(receiver) {
        Err(ErrorCode::UnknownUser)
    } else if receiver == sender {
        Err(ErrorCode::SelfTarget)
    } else if !state.users.are_friends(sender, receiver) {
        Err(ErrorCode::NotFriends)
    } else {
        Ok(())
    }
}

/// WS `send_message`, rules already checked: stores the message in the
/// pair's conversation (created if absent, without `new_conversation`, §8)
/// and pushes the WS form to both participants.
pub fn send_ws(state: &AppState, sender: UserId, receiver: UserId, content: &str) {
    loop {
        let (conv, _created) = state.conversations.get_or_create(sender, receiver);
        let mut conv = conv.lock();
        if conv.deleted {
            // Deleted between the lookup and the lock: take a fresh one.
            continue;
        }
        store_and_push(state, &mut conv, sender, content, &[], Form::WebSocket);
        return;
    }
}

/// `POST /conversation/send_message`, rules already checked except
/// membership: stores and pushes the REST form to the receiver.
pub fn send_rest(
    state: &AppState,
    sender: UserId,
    conversation: ConversationId,
    content: &str,
    media_ids: &[u64],
) -> Result<MessageCreated, ErrorCode> {
    let conv = state
        .conversations
        .get(conversation)
        .ok_or(ErrorCode::UnknownConversation)?;
    let mut conv = conv.lock();
    if conv.deleted {
        return Err(ErrorCode::UnknownConversation);
    }
    if !conv.has(sender) {
        return Err(ErrorCode::NotParticipant);
    }
    let stored = store_and_push(state, &mut conv, sender, content, media_ids, Form::Rest);
    Ok(MessageCreated {
        message_id: stored.0,
        created_at: stored.1,
    })
}

/// Appends and pushes under the conversation's lock (held by the caller).
/// Returns the id and `created_at`.
fn store_and_push(
    state: &AppState,
    conv: &mut Conversation,
    sender: UserId,
    content: &str,
    media_ids: &[u64],
    form: Form,
) -> (u64, String) {
    let receiver = conv.other(sender);
    // G3: the id is taken under the conversation's lock, so ids increase in
    // the order messages are stored and enqueued below.
    let id = state.conversations.next_message_id();
    let mut now = chrono::Utc::now();
    if state.faults.on(Fault::SkewedTimestamp) {
        now += chrono::Duration::hours(1);
    }
    let created_at = format_timestamp(now);
    let corrupted;
    let content = if state.faults.on(Fault::CorruptContent) && id % CORRUPT_EVERY == 0 {
        // The last byte, replaced by another ASCII one (stays valid UTF-8
        // when the last byte was ASCII; otherwise appended to).
        let mut c = content.to_owned();
        match c.pop() {
            Some(last) if last.is_ascii() => c.push(if last == '#' { '%' } else { '#' }),
            Some(last) => {
                c.push(last);
                c.push('#');
            }
            None => c.push('#'),
        }
        corrupted = c;
        corrupted.as_str()
    } else {
        content
    };
    let shown_receiver = if state.faults.on(Fault::WrongReceiverId) {
        sender
    } else {
        receiver
    };
    let event = NewMessage {
        message_id: id,
        sender_id: sender,
        conversation_id: conv.id,
        content: content.to_owned(),
        receiver_id: (form == Form::WebSocket).then_some(shown_receiver),
        timestamp: (form == Form::WebSocket).then(|| created_at.clone()),
        created_at: (form == Form::Rest).then(|| created_at.clone()),
        media_ids: (form == Form::Rest).then(|| media_ids.to_vec()),
    };
    // G5 (within the retention bound, see `store::conversations`): the
    // message is stored before anyone can see its id.
    if !(state.faults.on(Fault::HistoryMissing) && id % HISTORY_MISSING_EVERY == 0) {
        let message = StoredMessage {
            id,
            sender,
            content: content.into(),
            created_at: created_at.clone().into(),
            media_ids: media_ids.into(),
        };
        let evicted = state.conversations.store(conv, message);
        state.metrics.message_stored(evicted);
    }
    // Serialized once; every recipient connection shares the bytes.
    let frame = Frame::from(ServerEvent::NewMessage(event).to_json());
    if state.faults.on(Fault::ReorderMessages) {
        // Hold every other message back and send it after the next one.
        match conv.held.take() {
            None => {
                conv.held = Some(frame);
                return (id, created_at);
            }
            Some(held) => {
                push(state, &frame, sender, receiver, form);
                push(state, &held, sender, receiver, form);
                return (id, created_at);
            }
        }
    }
    // G3: enqueued while the conversation's lock is still held.
    push(state, &frame, sender, receiver, form);
    (id, created_at)
}

fn push(state: &AppState, frame: &Frame, sender: UserId, receiver: UserId, form: Form) {
    match form {
        Form::WebSocket => {
            state.manager.deliver_message(frame, sender, receiver);
        }
        Form::Rest => {
            state
                .manager
                .send_personal_message(receiver, frame, EventKind::NewMessage);
        }
    }
}
