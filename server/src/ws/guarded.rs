//! [`Guarded`]: the connection's WebSocket, which unregisters the connection
//! from the ConnectionManager before any close frame can leave or be
//! answered, so a client that saw its close handshake complete and
//! reconnects never overlaps its old connection.
//!
//! tungstenite answers a peer's close frame by itself: the reply is queued
//! while the close is read and goes out with the next read, write or flush
//! of either half of the split socket, which may be the writer task's very
//! next flush. Both halves reach the socket through one lock (the split's
//! `BiLock`), and `Guarded` runs inside it: when the read side yields a
//! close, an error or the end, or the write side is handed a close frame or
//! closed, the connection is unregistered right there, before the lock is
//! released, so before anything else can be written. Unregistering is
//! idempotent (the connection's loop unregisters again when it ends, a
//! no-op).

use crate::manager::ConnId;
use crate::protocol::UserId;
use crate::state::AppState;
use axum::extract::ws::{Message, WebSocket};
use futures_util::{Sink, Stream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A WebSocket that unregisters its connection before a close.
pub struct Guarded {
    inner: WebSocket,
    state: Arc<AppState>,
    user: UserId,
    id: ConnId,
    unregistered: bool,
}

impl Guarded {
    /// Wraps the socket of connection `id` of `user`.
    pub fn new(inner: WebSocket, state: Arc<AppState>, user: UserId, id: ConnId) -> Guarded {
        Guarded {
            inner,
            state,
            user,
            id,
            unregistered: false,
        }
    }

    /// Removes the connection from the ConnectionManager (once).
    fn unregister(&mut self) {
        if !self.unregistered {
            self.unregistered = true;
            unregister(&self.state, self.user, self.id);
        }
    }
}

/// Removes connection `id` of `user`; presence follows like on any close.
pub fn unregister(state: &AppState, user: UserId, id: ConnId) {
    let friends = state.users.friends_of(user);
    state.manager.disconnect(user, id, &friends);
}

impl Stream for Guarded {
    type Item = Result<Message, axum::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(Pin::new(&mut self.inner).poll_next(cx));
        // A close (its reply is now queued), an error or the end: gone
        // before anything more is written.
        if !matches!(
            item,
            Some(Ok(Message::Text(_)
                | Message::Binary(_)
                | Message::Ping(_)
                | Message::Pong(_)))
        ) {
            self.unregister();
        }
        Poll::Ready(item)
    }
}

impl Sink<Message> for Guarded {
    type Error = axum::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        if matches!(item, Message::Close(_)) {
            self.unregister();
        }
        Pin::new(&mut self.inner).start_send(item)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.unregister();
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
