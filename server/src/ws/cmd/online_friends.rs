//! `get_online_friends`: `online_friends` on this connection only (G2 is
//! kept in `ConnectionManager::online_friends`).

use super::CmdResult;
use crate::ws::connection::Conn;

pub fn run(conn: &Conn<'_>) -> CmdResult {
    let friends = conn.state.users.friends_of(conn.user);
    conn.state
        .manager
        .online_friends(conn.user, conn.id, &friends);
    Ok(())
}
