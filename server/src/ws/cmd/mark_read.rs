//! `mark_read {conversation_id}`: mark the other participant's messages read
//! and send `messages_read` to every connection of the other participant
//! (always, even if nothing was unread).

use super::CmdResult;
use crate::manager::Frame;
use crate::protocol::{ConversationId, ErrorCode, EventKind, ServerEvent};
use crate::ws::connection::Conn;

pub fn run(conn: &Conn<'_>, conversation_id: ConversationId) -> CmdResult {
    let state = conn.state;
    let conv = state
        .conversations
        .get(conversation_id)
        .ok_or(ErrorCode::UnknownConversation)?;
    let frame = Frame::from(
        ServerEvent::MessagesRead {
            conversation_id,
            user_id: conn.user,
        }
        .to_json(),
    );
    let mut conv = conv.lock();
    if conv.deleted {
        return Err(ErrorCode::UnknownConversation);
    }
    if !conv.has(conn.user) {
        return Err(ErrorCode::NotParticipant);
    }
    conv.mark_read(conn.user);
    // Under the conversation's lock, so the receipt is ordered with the
    // conversation's messages on the other participant's connections.
    state
        .manager
        .send_personal_message(conv.other(conn.user), &frame, EventKind::MessagesRead);
    Ok(())
}
