//! One WebSocket connection from upgrade to close.
//!
//! The reader loop (this task) decodes frames and runs commands; a writer
//! task drains the connection's bounded queue. Both watch the connection's
//! [`ConnControl`]; whoever decides to close (the reader on a bad frame or
//! the peer's close, the manager on a full queue, the server on shutdown)
//! records the close code there, and the writer sends it. At the end the
//! halves are reunited and the close handshake is finished with a short
//! timeout, so the peer sees our close frame rather than a reset.
//!
//! The connection is unregistered from the ConnectionManager before any
//! close frame leaves, ours or tungstenite's automatic reply to the peer's
//! ([`Guarded`]): a client that saw its close handshake complete and
//! reconnects never overlaps its old connection.

use super::guarded::{self, Guarded};
use super::{cmd, writer};
use crate::fault::Fault;
use crate::manager::{ConnControl, ConnHandle, ConnId, Frame};
use crate::protocol::{close, decode_client, ErrorCode, EventKind, ServerEvent, UserId};
use crate::state::AppState;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long we wait for the peer's half of a close handshake.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);

/// What a command handler needs to know about the connection it runs on.
pub struct Conn<'a> {
    pub state: &'a AppState,
    pub user: UserId,
    pub id: ConnId,
}

impl Conn<'_> {
    /// Sends an error frame on this connection only; the connection stays open.
    pub fn error(&self, code: ErrorCode, detail: Option<String>) {
        self.state.metrics.error_frame(code);
        let frame = Frame::from(
            ServerEvent::Error {
                code,
                message: detail.unwrap_or_else(|| code.describe().to_owned()),
            }
            .to_json(),
        );
        self.state
            .manager
            .send_to_connection(self.user, self.id, &frame, EventKind::Error);
    }
}

/// Serves one upgraded socket.
pub async fn serve(state: Arc<AppState>, socket: WebSocket, user: Option<UserId>) {
    let Some(user) = user else {
        state.metrics.rejected_connections.inc();
        let code = if state.faults.on(Fault::BadTokenClose1000) {
            1000
        } else {
            close::INVALID_TOKEN
        };
        close_and_drain(socket, code, "invalid token").await;
        return;
    };
    let id = state.manager.next_conn_id();
    let control = Arc::new(ConnControl::default());
    let (tx, rx) = mpsc::channel::<Frame>(state.config.outbound_queue as usize);
    let friends = state.users.friends_of(user);
    let handle = ConnHandle::new(id, tx, control.clone());
    if state.manager.connect(user, &friends, handle).is_err() {
        state.metrics.rejected_connections.inc();
        close_and_drain(socket, close::TOO_MANY_CONNECTIONS, "too many connections").await;
        return;
    }
    drop(friends);
    if state.shutdown.is_cancelled() {
        control.close(close::GOING_AWAY);
    }
    let registration = guarded::Registration {
        state: state.clone(),
        user,
        id,
    };
    let (sink, mut stream) = Guarded::new(socket, registration).split();
    let writer = tokio::spawn(writer::run(sink, rx, control.clone()));
    let conn = Conn {
        state: &state,
        user,
        id,
    };
    // Created once, not per frame: each fresh one would join and leave a
    // waiter list (the shutdown token's is shared by every connection).
    let (closed, shutdown) = (control.closed(), state.shutdown.cancelled());
    tokio::pin!(closed, shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut closed => break,
            _ = &mut shutdown => {
                control.close(close::GOING_AWAY);
                break;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match decode_client(text.as_str()) {
                    Ok(msg) => cmd::dispatch(&conn, msg),
                    Err(err) => conn.error(err.code, Some(err.detail)),
                },
                Some(Ok(Message::Binary(_))) => conn.error(ErrorCode::BinaryUnsupported, None),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => {
                    control.close(0);
                    break;
                }
                Some(Err(err)) => {
                    control.close(close_code_for(&err));
                    break;
                }
            },
        }
    }
    // Unregister before the writer sends our close frame (and in every
    // other ending). `Guarded` has already done it if the peer closed first
    // or a close frame went out: unregistering again is a no-op.
    guarded::unregister(&state, user, id);
    if let Ok(sink) = writer.await {
        if let Ok(mut ws) = stream.reunite(sink) {
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
        }
    }
}

/// The close code a read error deserves: 1009 for a message over the
/// limit, 1007 for a text frame that is not UTF-8, none for a dead socket.
/// (axum wraps tungstenite's error without re-exporting its type, so the
/// error chain's text is what we can look at.)
fn close_code_for(err: &axum::Error) -> u16 {
    use std::error::Error;
    let mut source: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("Space limit exceeded")
            || text.contains("too long")
            || text.contains("too big")
        {
            return close::MESSAGE_TOO_BIG;
        }
        if text.contains("UTF-8") || text.contains("utf-8") || text.contains("Utf8") {
            return close::INVALID_PAYLOAD;
        }
        source = e.source();
    }
    0
}

/// Sends a close frame with `code`, then waits briefly for the peer's.
async fn close_and_drain(mut socket: WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_ok() {
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            while let Some(Ok(_)) = socket.next().await {}
        })
        .await;
    }
}
