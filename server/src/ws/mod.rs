//! The WebSocket side: `GET /ws/{token}`.
//!
//! - [`connection`]: one connection's life — authenticate, register with the
//!   ConnectionManager, read and dispatch frames, unregister, close.
//! - [`guarded`]: the socket wrapper that unregisters the connection before
//!   any close frame leaves or is answered.
//! - [`writer`]: the per-connection writer task that drains the bounded
//!   outbound queue in batches.
//! - [`cmd`]: one file per client message type.

pub mod cmd;
pub mod connection;
pub mod guarded;
pub mod writer;

use crate::state::AppState;
use axum::extract::{Path, State, WebSocketUpgrade};
use axum::response::Response;
use std::sync::Arc;

/// Upgrades every request: an unknown token still completes the handshake
/// and is then closed with 4008 (§1).
pub async fn upgrade(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    ws: WebSocketUpgrade,
) -> Response {
    let user = state.users.authenticate(&token);
    let max = state.config.max_message_bytes as usize;
    let tasks = state.tasks.clone();
    ws.read_buffer_size(state.config.ws_read_buffer as usize)
        // The writer flushes once per batch; frames are buffered until then
        // or until 16 KiB are pending. The buffer is allocated on first use,
        // so an idle connection pays nothing for it.
        .write_buffer_size(16 * 1024)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| tasks.track_future(connection::serve(state, socket, user)))
}
