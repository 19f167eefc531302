//! [`WsClient`]: a WebSocket client for tests.
//!
//! Every read is bounded by [`TIMEOUT`](crate::TIMEOUT) and a failure names
//! what was awaited. The helpers come in two strengths: `expect_*` wants the
//! *next* frame to be the one described (the contract says exactly what a
//! connection gets, so anything else in between is a bug), while `wait_for`
//! skips other events (used where the contract leaves their interleaving
//! open, e.g. presence versus typing on a disconnect).

use futures_util::{SinkExt, StreamExt};
use server::protocol::{ClientMessage, ErrorCode, Id, NewMessage, ServerEvent};
use std::time::Duration;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

/// What a read produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text frame.
    Text(String),
    /// A binary frame (the server never sends one).
    Binary(Vec<u8>),
    /// A close frame: its code and reason (`None` for a close without a code).
    Close(Option<(u16, String)>),
    /// The stream ended or failed without a close frame.
    Ended(String),
}

/// One WebSocket connection.
pub struct WsClient {
    stream: WebSocketStream<TcpStream>,
    /// Names this connection in failure messages.
    pub label: String,
    /// Set once a close frame or the end of the stream was read.
    closed: bool,
}

impl WsClient {
    /// Connects to `url` and completes the handshake. `recv_buffer` sets the
    /// TCP receive buffer (a small one makes a slow reader fill up sooner).
    pub async fn connect(url: &str, label: &str, recv_buffer: Option<u32>) -> WsClient {
        let addr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{url} is a ws://IP:PORT/... URL"));
        let socket = TcpSocket::new_v4().expect("a TCP socket");
        if let Some(bytes) = recv_buffer {
            socket
                .set_recv_buffer_size(bytes)
                .expect("setting SO_RCVBUF");
        }
        let tcp = tokio::time::timeout(crate::TIMEOUT, socket.connect(addr))
            .await
            .unwrap_or_else(|_| panic!("{label}: TCP connect to {addr} timed out"))
            .unwrap_or_else(|e| panic!("{label}: TCP connect to {addr}: {e}"));
        tcp.set_nodelay(true).expect("TCP_NODELAY");
        // No limit on what we read: tests decide what is too big.
        let config = WebSocketConfig::default()
            .max_message_size(None)
            .max_frame_size(None);
        let (stream, response) = tokio::time::timeout(
            crate::TIMEOUT,
            tokio_tungstenite::client_async_with_config(url, tcp, Some(config)),
        )
        .await
        .unwrap_or_else(|_| panic!("{label}: WebSocket handshake with {url} timed out"))
        .unwrap_or_else(|e| panic!("{label}: WebSocket handshake with {url} failed: {e}"));
        assert_eq!(
            response.status().as_u16(),
            101,
            "{label}: handshake answered {}",
            response.status()
        );
        WsClient {
            stream,
            label: label.to_owned(),
            closed: false,
        }
    }

    async fn send_ws(&mut self, msg: Message) {
        let label = self.label.clone();
        tokio::time::timeout(crate::TIMEOUT, self.stream.send(msg))
            .await
            .unwrap_or_else(|_| panic!("{label}: sending a frame timed out"))
            .unwrap_or_else(|e| panic!("{label}: sending a frame failed: {e}"));
    }

    /// Sends a client message as a text frame.
    pub async fn send(&mut self, msg: &ClientMessage) {
        let text = serde_json::to_string(msg).expect("client messages serialize");
        self.send_raw(&text).await;
    }

    /// Sends `text` as one text frame, as is.
    pub async fn send_raw(&mut self, text: &str) {
        self.send_ws(Message::text(text)).await;
    }

    /// Sends `bytes` as one binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.send_ws(Message::Binary(Bytes::from(bytes))).await;
    }

    /// Sends `bytes` as one *text* frame without checking that it is UTF-8.
    pub async fn send_text_bytes(&mut self, bytes: Vec<u8>) {
        self.send_frame(Frame::message(bytes, OpCode::Data(Data::Text), true))
            .await;
    }

    /// Sends `text` as one text message split over frames of `chunk` bytes
    /// (continuation frames), to test the size limit after reassembly.
    pub async fn send_fragmented(&mut self, text: &[u8], chunk: usize) {
        let chunks: Vec<&[u8]> = text.chunks(chunk).collect();
        let last = chunks.len() - 1;
        for (i, c) in chunks.into_iter().enumerate() {
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            let frame = Frame::message(c.to_vec(), OpCode::Data(opcode), i == last);
            self.send_frame(frame).await;
        }
    }

    /// Sends a raw frame.
    pub async fn send_frame(&mut self, frame: Frame) {
        self.send_ws(Message::Frame(frame)).await;
    }

    /// Sends a ping.
    pub async fn ping(&mut self, payload: &[u8]) {
        self.send_ws(Message::Ping(Bytes::copy_from_slice(payload)))
            .await;
    }

    /// Sends a ping and expects the matching pong as the next frame.
    pub async fn ping_pong(&mut self, payload: &[u8]) {
        self.ping(payload).await;
        let label = self.label.clone();
        let next = tokio::time::timeout(crate::TIMEOUT, self.stream.next())
            .await
            .unwrap_or_else(|_| panic!("{label}: timed out waiting for a pong"));
        match next {
            Some(Ok(Message::Pong(p))) => assert_eq!(&p[..], payload, "{label}: pong payload"),
            other => panic!("{label}: expected a pong, got {other:?}"),
        }
    }

    /// Reads the next frame other than ping/pong, within `timeout`; `None`
    /// if nothing came.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<Incoming> {
        if self.closed {
            return Some(Incoming::Ended("already closed".to_owned()));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Err(_) => return None,
                Ok(next) => next,
            };
            let incoming = match next {
                None => Incoming::Ended("stream ended".to_owned()),
                Some(Err(e)) => Incoming::Ended(format!("read error: {e}")),
                Some(Ok(Message::Text(t))) => Incoming::Text(t.as_str().to_owned()),
                Some(Ok(Message::Binary(b))) => Incoming::Binary(b.to_vec()),
                Some(Ok(Message::Close(frame))) => Incoming::Close(
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                ),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            };
            if matches!(incoming, Incoming::Close(_) | Incoming::Ended(_)) {
                self.closed = true;
            }
            return Some(incoming);
        }
    }

    /// Reads the next frame; fails the test if none comes within the timeout.
    pub async fn next_frame(&mut self, what: &str) -> Incoming {
        match self.next_within(crate::TIMEOUT).await {
            Some(incoming) => incoming,
            None => panic!(
                "{}: timed out after {:?} waiting for {what}",
                self.label,
                crate::TIMEOUT
            ),
        }
    }

    /// The next text frame, raw.
    pub async fn recv_text(&mut self, what: &str) -> String {
        match self.next_frame(what).await {
            Incoming::Text(t) => t,
            other => panic!("{}: waiting for {what}, got {other:?}", self.label),
        }
    }

    /// The next text frame as a raw JSON value (to check which fields it has).
    pub async fn recv_value(&mut self, what: &str) -> serde_json::Value {
        let text = self.recv_text(what).await;
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {what}: frame is not JSON ({e}): {text}", self.label))
    }

    /// The next event.
    pub async fn recv_event(&mut self) -> ServerEvent {
        self.recv_event_for("an event").await
    }

    /// The next event, naming what the test waits for.
    pub async fn recv_event_for(&mut self, what: &str) -> ServerEvent {
        let text = self.recv_text(what).await;
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{}: {what}: frame is not a known server event ({e}): {text}",
                self.label
            )
        })
    }

    /// The next event must satisfy `pred`; returns what `pred` extracted.
    pub async fn expect_event<T>(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ServerEvent) -> Option<T>,
    ) -> T {
        let event = self.recv_event_for(what).await;
        match pred(&event) {
            Some(t) => t,
            None => panic!("{}: expected {what}, got {event:?}", self.label),
        }
    }

    /// The next event must equal `expected`.
    pub async fn expect(&mut self, expected: &ServerEvent) {
        let event = self.recv_event_for(&format!("{expected:?}")).await;
        assert_eq!(&event, expected, "{}: unexpected event", self.label);
    }

    /// Skips events until one satisfies `pred`; returns what it extracted and
    /// the events skipped on the way.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ServerEvent) -> Option<T>,
    ) -> (T, Vec<ServerEvent>) {
        let mut skipped = Vec::new();
        loop {
            let event = self.recv_event_for(what).await;
            match pred(&event) {
                Some(t) => return (t, skipped),
                None => skipped.push(event),
            }
        }
    }

    /// The next event must be an error frame with `code`.
    pub async fn expect_error(&mut self, code: ErrorCode) {
        let what = format!("an error frame with code {code}");
        let text = self.recv_text(&what).await;
        let value: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {what}: not JSON ({e}): {text}", self.label));
        assert_eq!(
            value["type"], "error",
            "{}: expected {what}, got {text}",
            self.label
        );
        assert_eq!(
            value["code"],
            code.as_str(),
            "{}: expected {what}, got {text}",
            self.label
        );
        assert!(
            value["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}: the error frame has no message: {text}",
            self.label
        );
    }

    /// Sends `get_online_friends` and expects `online_friends` as the very
    /// next event; returns the list. This is the synchronization point of the
    /// tests: frames of one connection are handled in order, so whatever an
    /// earlier frame caused on this connection has been sent before it.
    pub async fn round_trip(&mut self) -> Vec<u64> {
        self.send(&ClientMessage::GetOnlineFriends {}).await;
        self.expect_event("the online_friends reply", |e| match e {
            ServerEvent::OnlineFriends { friends } => Some(friends.clone()),
            _ => None,
        })
        .await
    }

    /// Like [`round_trip`](Self::round_trip) but skips other events first
    /// (for a connection that also receives pushes).
    pub async fn round_trip_skipping(&mut self) -> (Vec<u64>, Vec<ServerEvent>) {
        self.send(&ClientMessage::GetOnlineFriends {}).await;
        self.wait_for("the online_friends reply", |e| match e {
            ServerEvent::OnlineFriends { friends } => Some(friends.clone()),
            _ => None,
        })
        .await
    }

    /// The next event must be a `new_message`; returns it.
    pub async fn expect_new_message(&mut self, what: &str) -> NewMessage {
        self.expect_event(what, |e| match e {
            ServerEvent::NewMessage(m) => Some(m.clone()),
            _ => None,
        })
        .await
    }

    /// Sends `send_message` to `receiver` and expects its echo (the WS form
    /// of `new_message`) as the next event on this connection.
    pub async fn say(&mut self, receiver: u64, content: &str) -> NewMessage {
        self.send(&ClientMessage::SendMessage {
            receiver_id: Id(receiver),
            content: content.to_owned(),
        })
        .await;
        let m = self
            .expect_new_message(&format!("the echo of a message to user {receiver}"))
            .await;
        assert_eq!(
            m.receiver_id,
            Some(receiver),
            "{}: echo receiver",
            self.label
        );
        assert_eq!(m.content, content, "{}: echo content", self.label);
        m
    }

    /// Fails the test if any frame arrives within `window`. Only for places
    /// where the contract says nothing is sent.
    pub async fn expect_silence(&mut self, window: Duration) {
        if let Some(incoming) = self.next_within(window).await {
            panic!(
                "{}: expected nothing for {window:?}, got {incoming:?}",
                self.label
            );
        }
    }

    /// [`expect_silence`](Self::expect_silence) for [`SILENCE`](crate::SILENCE).
    pub async fn silent(&mut self) {
        self.expect_silence(crate::SILENCE).await;
    }

    /// The next frame must be a close frame with `code`; returns its reason.
    pub async fn expect_close(&mut self, code: u16) -> String {
        let what = format!("a close frame with code {code}");
        match self.next_frame(&what).await {
            Incoming::Close(Some((c, reason))) if c == code => reason,
            other => panic!("{}: expected {what}, got {other:?}", self.label),
        }
    }

    /// Skips text frames until a close frame, which must have `code`; returns
    /// how many text frames came before it.
    pub async fn expect_close_after_frames(&mut self, code: u16, timeout: Duration) -> usize {
        self.collect_until_close(code, timeout).await.len()
    }

    /// Reads text frames until a close frame, which must have `code`; returns
    /// the text frames that came before it.
    pub async fn collect_until_close(&mut self, code: u16, timeout: Duration) -> Vec<String> {
        let what = format!("a close frame with code {code}");
        let deadline = tokio::time::Instant::now() + timeout;
        let mut texts = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                None => panic!(
                    "{}: timed out after {timeout:?} waiting for {what} ({} text frames read)",
                    self.label,
                    texts.len()
                ),
                Some(Incoming::Text(t)) => texts.push(t),
                Some(Incoming::Close(Some((c, _)))) if c == code => return texts,
                Some(other) => panic!(
                    "{}: expected {what} after {} text frames, got {other:?}",
                    self.label,
                    texts.len()
                ),
            }
        }
    }

    /// Closes from the client side (code 1000) and waits until the server
    /// answered the close or dropped the socket.
    pub async fn close(mut self) {
        let label = self.label.clone();
        let _ = tokio::time::timeout(crate::TIMEOUT, self.stream.close(None)).await;
        loop {
            match self.next_within(crate::TIMEOUT).await {
                None => panic!("{label}: the server did not finish the close handshake"),
                Some(Incoming::Close(_) | Incoming::Ended(_)) => return,
                Some(_) => continue,
            }
        }
    }
}

/// [`WsClient::silent`] on several connections during one shared window
/// (the contract's "nothing is sent" checked everywhere at once, so the
/// windows do not add up).
pub async fn silent_all(clients: &mut [&mut WsClient]) {
    futures_util::future::join_all(clients.iter_mut().map(|c| c.silent())).await;
}
