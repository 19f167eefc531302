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
    format_timestamp, rest::MessageCreated, ConversationId, ErrorCode, EventKind, UserId,
    MAX_CONTENT_BYTES,
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
    if state.config.bench_slowdown_us > 0 {
        // The bench gate's demonstration knob (off unless set): CPU spent,
        // never a sleep, outside every lock.
        let until = std::time::Instant::now()
            + std::time::Duration::from_micros(state.config.bench_slowdown_us.into());
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }
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
///
/// Cost per message (issue 15): the event is serialized once, straight from
/// borrowed fields ([`NewMessageOut`]), so the content is copied only into
/// the store and into the frame's bytes; the timestamp is formatted once and
/// moved into the store.
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
    let ws = form == Form::WebSocket;
    // Serialized once; every recipient connection shares the bytes. Nobody
    // can see the id until the frame is pushed, below, after the store.
    let frame = NewMessageOut {
        kind: "new_message",
        message_id: id,
        sender_id: sender,
        conversation_id: conv.id,
        content,
        receiver_id: ws.then_some(shown_receiver),
        timestamp: ws.then_some(created_at.as_str()),
        created_at: (!ws).then_some(created_at.as_str()),
        media_ids: (!ws).then_some(media_ids),
    }
    .to_frame();
    // The REST reply needs `created_at` after the store has taken it.
    let reply = if ws {
        String::new()
    } else {
        created_at.clone()
    };
    // G5 (within the retention bound, see `store::conversations`): the
    // message is stored before anyone can see its id.
    if !(state.faults.on(Fault::HistoryMissing) && id % HISTORY_MISSING_EVERY == 0) {
        let message = StoredMessage {
            id,
            sender,
            content: content.into(),
            created_at: created_at.into_boxed_str(),
            media_ids: media_ids.into(),
        };
        let evicted = state.conversations.store(conv, message);
        state.metrics.message_stored(evicted);
    }
    if state.faults.on(Fault::ReorderMessages) {
        // Hold every other message back and send it after the next one.
        match conv.held.take() {
            None => {
                conv.held = Some(frame);
                return (id, reply);
            }
            Some(held) => {
                push(state, &frame, sender, receiver, form);
                push(state, &held, sender, receiver, form);
                return (id, reply);
            }
        }
    }
    // G3: enqueued while the conversation's lock is still held.
    push(state, &frame, sender, receiver, form);
    (id, reply)
}

/// `new_message` as [`ServerEvent::NewMessage`] serializes it (the same
/// bytes, checked by a test below), over borrowed fields.
#[derive(serde::Serialize)]
struct NewMessageOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message_id: u64,
    sender_id: UserId,
    conversation_id: ConversationId,
    content: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    receiver_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    media_ids: Option<&'a [u64]>,
}

impl NewMessageOut<'_> {
    fn to_frame(&self) -> Frame {
        // Room for the fixed fields, so the buffer is allocated once.
        let mut buf = Vec::with_capacity(self.content.len() + 192);
        // Writing these plain fields into a Vec cannot fail, and serde_json
        // writes UTF-8; neither fallback is reachable.
        let _ = serde_json::to_writer(&mut buf, self);
        Frame::from(String::from_utf8(buf).unwrap_or_default())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{NewMessage, ServerEvent};

    fn both(content: &str, ws: bool, media: &[u64]) -> (String, String) {
        let ts = "2024-01-01T12:00:00.000001";
        let out = NewMessageOut {
            kind: "new_message",
            message_id: 9,
            sender_id: 3,
            conversation_id: 4,
            content,
            receiver_id: ws.then_some(5),
            timestamp: ws.then_some(ts),
            created_at: (!ws).then_some(ts),
            media_ids: (!ws).then_some(media),
        }
        .to_frame();
        let reference = ServerEvent::NewMessage(NewMessage {
            message_id: 9,
            sender_id: 3,
            conversation_id: 4,
            content: content.to_owned(),
            receiver_id: ws.then_some(5),
            timestamp: ws.then(|| ts.to_owned()),
            created_at: (!ws).then(|| ts.to_owned()),
            media_ids: (!ws).then(|| media.to_vec()),
        })
        .to_json();
        (out.as_str().to_owned(), reference)
    }

    #[test]
    fn borrowed_new_message_serializes_like_the_event() {
        for content in ["hi", "quote \" back\\slash \n é ☃ \u{1}", ""] {
            for (ws, media) in [(true, &[][..]), (false, &[][..]), (false, &[1, 2][..])] {
                let (out, reference) = both(content, ws, media);
                assert_eq!(out, reference);
            }
        }
    }

    #[test]
    fn timestamps_format_like_chrono() {
        use chrono::TimeZone;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let secs = (x >> 20) as i64 % 8_000_000_000; // years 1970..2223
            let nanos = (x % 1_000_000_000) as u32;
            let t = chrono::Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(
                format_timestamp(t),
                t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
            );
        }
    }
}
