//! `send_message {receiver_id, content}`: store and push to both participants.

use super::CmdResult;
use crate::messaging;
use crate::protocol::UserId;
use crate::ws::connection::Conn;

pub fn run(conn: &Conn<'_>, receiver: UserId, content: &str) -> CmdResult {
    messaging::check_target(conn.state, conn.user, receiver)?;
    messaging::check_content(content)?;
    messaging::send_ws(conn.state, conn.user, receiver, content);
    Ok(())
}
