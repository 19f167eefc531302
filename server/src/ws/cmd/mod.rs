//! One file per client message type; [`dispatch`] routes a decoded message.
//!
//! Each command checks its rules in the order of PROTOCOL.md §8 and either
//! acts or answers one error frame on the calling connection (and nothing
//! else happens).

mod mark_read;
mod online_friends;
mod send_message;
mod typing;

use super::connection::Conn;
use crate::protocol::{ClientMessage, ErrorCode};

/// Runs one decoded client message.
pub fn dispatch(conn: &Conn<'_>, msg: ClientMessage) {
    let result = match msg {
        ClientMessage::SendMessage {
            receiver_id,
            content,
        } => send_message::run(conn, receiver_id.get(), &content),
        ClientMessage::Typing { receiver_id } => typing::run(conn, receiver_id.get(), true),
        ClientMessage::StopTyping { receiver_id } => typing::run(conn, receiver_id.get(), false),
        ClientMessage::MarkRead { conversation_id } => mark_read::run(conn, conversation_id.get()),
        ClientMessage::GetOnlineFriends {} => online_friends::run(conn),
    };
    if let Err(code) = result {
        conn.error(code, None);
    }
}

/// What a command returns: done, or the one error frame to send.
pub type CmdResult = Result<(), ErrorCode>;
