//! The client side of the WebSocket opening handshake, keeping the
//! connection's read buffer small.
//!
//! `tokio_tungstenite::client_async` reads the server's reply into a 4 KiB
//! buffer and then hands that very allocation to the connection as its
//! read buffer, whatever `read_buffer_size` says: 4 KiB per connection for
//! the whole run. Here tungstenite still builds the request and derives the
//! accept key, `httparse` parses the reply, and the connection starts from
//! [`WebSocketStream::from_partially_read`] with only the bytes that followed
//! the reply, so its buffer is the configured size.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::generate_request;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// A reply's head larger than this is refused (a chat server's is ~130 bytes).
const MAX_REPLY_HEAD: usize = 8 * 1024;
/// Headers parsed in a reply; more is refused.
const MAX_HEADERS: usize = 32;

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("bad request: {0}")]
    Request(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("malformed reply: {0}")]
    Parse(#[from] httparse::Error),
    #[error("the server closed before replying in full")]
    Eof,
    #[error("reply head over {MAX_REPLY_HEAD} bytes")]
    TooLong,
    #[error("status {0}, not 101")]
    Status(u16),
    #[error("missing or wrong Sec-WebSocket-Accept")]
    Accept,
}

/// Performs the opening handshake for `url` over `tcp`.
pub async fn connect(
    mut tcp: TcpStream,
    url: &str,
    config: WebSocketConfig,
) -> Result<WebSocketStream<TcpStream>, HandshakeError> {
    let (request, key) = generate_request(url.into_client_request()?)?;
    tcp.write_all(&request).await?;
    let accept = derive_accept_key(key.as_bytes());
    let mut buf = Vec::with_capacity(512);
    let tail = loop {
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(HandshakeError::Eof);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut reply = httparse::Response::new(&mut headers);
        match reply.parse(&buf)? {
            httparse::Status::Complete(head) => {
                let code = reply.code.unwrap_or(0);
                if code != 101 {
                    return Err(HandshakeError::Status(code));
                }
                let accepted = reply.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("sec-websocket-accept")
                        && h.value == accept.as_bytes()
                });
                if !accepted {
                    return Err(HandshakeError::Accept);
                }
                // Frames the server sent right after its reply (presence
                // events may follow at once): an exact-size copy.
                break buf[head..].to_vec();
            }
            httparse::Status::Partial if buf.len() > MAX_REPLY_HEAD => {
                return Err(HandshakeError::TooLong)
            }
            httparse::Status::Partial => {}
        }
    };
    Ok(WebSocketStream::from_partially_read(tcp, tail, Role::Client, Some(config)).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::net::TcpListener;
    use tokio_tungstenite::tungstenite::Message;

    async fn pair(
        reply: impl FnOnce(TcpStream) -> tokio::task::JoinHandle<()>,
    ) -> (
        Result<WebSocketStream<TcpStream>, HandshakeError>,
        tokio::task::JoinHandle<()>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.unwrap().0 });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let server = reply(accept.await.unwrap());
        let out = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            connect(
                tcp,
                &format!("ws://{addr}/ws/t"),
                WebSocketConfig::default(),
            ),
        )
        .await
        .expect("the handshake finishes");
        (out, server)
    }

    #[tokio::test]
    async fn talks_to_a_tungstenite_server_including_frames_sent_at_once() {
        let (ws, _server) = pair(|tcp| {
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
                // Sent before the client says anything: it may arrive in
                // the same segment as the reply.
                ws.send(Message::text("first")).await.unwrap();
                while let Some(Ok(m)) = ws.next().await {
                    if ws.send(m).await.is_err() {
                        break;
                    }
                }
            })
        })
        .await;
        let mut ws = ws.expect("handshake");
        let first = ws.next().await.unwrap().unwrap();
        assert_eq!(first, Message::text("first"));
        ws.send(Message::text("echo")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("echo"));
    }

    #[tokio::test]
    async fn refuses_a_non_101_reply_and_a_wrong_accept_key() {
        let (refused, _) = pair(|mut tcp| {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await;
                let _ = tcp.read(&mut buf).await;
            })
        })
        .await;
        assert!(matches!(refused, Err(HandshakeError::Status(404))));
        let (wrong, _) = pair(|mut tcp| {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = tcp.read(&mut buf).await;
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                          Connection: Upgrade\r\nSec-WebSocket-Accept: nope\r\n\r\n",
                    )
                    .await;
                let _ = tcp.read(&mut buf).await;
            })
        })
        .await;
        assert!(matches!(wrong, Err(HandshakeError::Accept)));
        let (closed, _) = pair(|tcp| tokio::spawn(async move { drop(tcp) })).await;
        // Depending on timing, the write or the read sees the close.
        assert!(matches!(
            closed,
            Err(HandshakeError::Eof | HandshakeError::Io(_))
        ));
    }
}
