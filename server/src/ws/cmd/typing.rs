//! `typing` / `stop_typing {receiver_id}`: `user_typing` to the receiver.

use super::CmdResult;
use crate::fault::Fault;
use crate::manager::Frame;
use crate::messaging;
use crate::protocol::{ServerEvent, UserId};
use crate::ws::connection::Conn;

pub fn run(conn: &Conn<'_>, receiver: UserId, is_typing: bool) -> CmdResult {
    messaging::check_target(conn.state, conn.user, receiver)?;
    let frame = Frame::from(
        ServerEvent::UserTyping {
            user_id: conn.user,
            is_typing,
        }
        .to_json(),
    );
    let leak = conn
        .state
        .faults
        .on(Fault::TypingLeak)
        .then(|| conn.state.users.some_stranger(conn.user, receiver))
        .flatten();
    conn.state
        .manager
        .typing(conn.user, receiver, is_typing, &frame, leak);
    Ok(())
}
