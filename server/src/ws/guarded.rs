//! [`Guarded`]: the connection's WebSocket ([`Socket`]), which unregisters the connection
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

/// The socket a connection's tasks use.
pub type Socket = Guarded<WebSocket, Registration>;

/// What is undone before a close: for the server, the connection's
/// registration in the ConnectionManager.
pub trait Unregister {
    /// Undoes the registration; called at most once.
    fn unregister(&mut self);
}

/// A message type that can be a close frame.
pub trait IsClose {
    /// Whether this is a close frame.
    fn is_close(&self) -> bool;
}

impl IsClose for Message {
    fn is_close(&self) -> bool {
        matches!(self, Message::Close(_))
    }
}

/// Connection `id` of `user`, registered in the ConnectionManager.
pub struct Registration {
    pub state: Arc<AppState>,
    pub user: UserId,
    pub id: ConnId,
}

impl Unregister for Registration {
    fn unregister(&mut self) {
        unregister(&self.state, self.user, self.id);
    }
}

/// Removes connection `id` of `user`; presence follows like on any close.
/// Idempotent: removing an unknown connection is a no-op.
pub fn unregister(state: &AppState, user: UserId, id: ConnId) {
    let friends = state.users.friends_of(user);
    state.manager.disconnect(user, id, &friends);
}

/// A socket that runs `U::unregister` (once) before a close frame can leave.
pub struct Guarded<S, U: Unregister> {
    inner: S,
    registration: Option<U>,
}

impl<S, U: Unregister> Guarded<S, U> {
    /// Wraps `inner`, registered as `registration`.
    pub fn new(inner: S, registration: U) -> Self {
        Guarded {
            inner,
            registration: Some(registration),
        }
    }

    fn unregister(&mut self) {
        if let Some(mut r) = self.registration.take() {
            r.unregister();
        }
    }
}

impl<S, U, M, E> Stream for Guarded<S, U>
where
    S: Stream<Item = Result<M, E>> + Unpin,
    U: Unregister + Unpin,
    M: IsClose,
{
    type Item = Result<M, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = ready!(Pin::new(&mut self.inner).poll_next(cx));
        // A close (tungstenite's reply is now queued) or the end:
        // unregistered before anything more can be written. Not on a read
        // error: the reader records the close code it deserves (1007,
        // 1009) and unregisters after that. Unregistering here drops the
        // writer's queue first, and a writer woken by that could end before
        // the code is recorded and drop the socket without a close frame
        // (seen as a reset by `tests/tests/malformed.rs`). The close frame
        // itself still unregisters before it leaves (`start_send`).
        let ends = match &item {
            None => true,
            Some(Ok(m)) => m.is_close(),
            Some(Err(_)) => false,
        };
        if ends {
            self.unregister();
        }
        Poll::Ready(item)
    }
}

impl<S, U, M> Sink<M> for Guarded<S, U>
where
    S: Sink<M> + Unpin,
    U: Unregister + Unpin,
    M: IsClose,
{
    type Error = S::Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: M) -> Result<(), Self::Error> {
        if item.is_close() {
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

#[cfg(test)]
mod tests {
    //! The ordering on an in-memory socket (tokio-tungstenite over
    //! `tokio::io::duplex`, the same tungstenite axum uses), against an
    //! adversarial writer half that flushes as often as it can, so
    //! tungstenite's automatic close reply leaves the moment it is queued.
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::{AtomicBool, Ordering};
    use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role};
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    use tokio_tungstenite::WebSocketStream;

    impl IsClose for WsMessage {
        fn is_close(&self) -> bool {
            matches!(self, WsMessage::Close(_))
        }
    }

    struct Flag(Arc<AtomicBool>);

    impl Unregister for Flag {
        fn unregister(&mut self) {
            assert!(!self.0.swap(true, Ordering::SeqCst), "unregistered twice");
        }
    }

    type Client = WebSocketStream<tokio::io::DuplexStream>;

    async fn pair() -> (
        Guarded<WebSocketStream<tokio::io::DuplexStream>, Flag>,
        Client,
        Arc<AtomicBool>,
    ) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let server = WebSocketStream::from_raw_socket(a, Role::Server, None).await;
        let client = WebSocketStream::from_raw_socket(b, Role::Client, None).await;
        let flag = Arc::new(AtomicBool::new(false));
        (Guarded::new(server, Flag(flag.clone())), client, flag)
    }

    /// Waits for the server's close frame; true if one came.
    async fn close_arrives(client: &mut Client) -> bool {
        while let Some(Ok(m)) = client.next().await {
            if m.is_close() {
                return true;
            }
        }
        false
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_close_is_answered_only_after_unregistering() {
        for _ in 0..200 {
            let (socket, mut client, flag) = pair().await;
            let (mut sink, mut stream) = socket.split();
            let done = Arc::new(AtomicBool::new(false));
            let writer = tokio::spawn({
                let done = done.clone();
                async move {
                    // (A flush after the close succeeds doing nothing.)
                    while !done.load(Ordering::SeqCst) && sink.flush().await.is_ok() {
                        tokio::task::yield_now().await;
                    }
                }
            });
            // The reader never unregisters by itself: only the guard does.
            let reader = tokio::spawn(async move {
                while let Some(Ok(m)) = stream.next().await {
                    if m.is_close() {
                        break;
                    }
                }
                stream
            });
            client
                .send(WsMessage::Close(None))
                .await
                .expect("client close");
            assert!(close_arrives(&mut client).await, "no close reply");
            assert!(
                flag.load(Ordering::SeqCst),
                "the close reply left before the connection was unregistered"
            );
            done.store(true, Ordering::SeqCst);
            drop(client);
            let _ = reader.await;
            let _ = writer.await;
        }
    }

    #[tokio::test]
    async fn our_close_frame_leaves_only_after_unregistering() {
        let (socket, mut client, flag) = pair().await;
        let (mut sink, _stream) = socket.split();
        sink.send(WsMessage::Text("before".into()))
            .await
            .expect("a frame");
        assert!(
            !flag.load(Ordering::SeqCst),
            "a data frame unregisters nothing"
        );
        let frame = CloseFrame {
            code: CloseCode::Away,
            reason: "bye".into(),
        };
        sink.send(WsMessage::Close(Some(frame)))
            .await
            .expect("our close");
        assert!(close_arrives(&mut client).await, "no close frame");
        assert!(flag.load(Ordering::SeqCst));
    }
}
