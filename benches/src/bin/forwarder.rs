//! The raw limit that `chat-server`'s cost per message is compared with: a
//! bare tokio-tungstenite forwarder (issue 15).
//!
//! It accepts `GET /ws/{token}` like `chat-server`, with the same socket
//! settings (TCP_NODELAY, a 1 KiB WebSocket read buffer, 16 KiB write
//! buffer, 64 KiB message limit) and the same runtime (tokio's multi-thread
//! runtime with one worker per core). The token is the user id in decimal:
//! there is no store, no authentication, no friendship check.
//!
//! For each text frame it pulls `"receiver_id":N` out of the bytes (no JSON
//! parsing) and pushes the *same frame* to every connection of the sender
//! (the echo) and of the receiver (the delivery): one frame in, two out, the
//! wire work of `send_message`. Each connection has what `chat-server`'s has:
//! a reader loop, a bounded queue (1024 frames; a full one drops the frame)
//! and a writer task that feeds what is queued and flushes once per burst.
//! Nothing else: no ids, no history, no presence, no metrics.
//!
//! ```text
//! forwarder --bind 127.0.0.1:9000 [--worker-threads N]
//! ```
//! It prints `listening on ADDR` and serves until killed.

use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Shards of the connection registry (chat-server: 4 × cores, rounded up).
const SHARDS: usize = 16;
/// Frames queued per connection (chat-server's `--outbound-queue` default).
const QUEUE: usize = 1024;
/// Most frames written before one flush (chat-server's writer).
const MAX_BATCH: usize = 64;

type Queue = mpsc::Sender<Utf8Bytes>;
/// One shard: user id → (connection id, queue) of each open connection.
type Shard = Mutex<HashMap<u64, Vec<(u64, Queue)>>>;

/// User id → that user's open connections (id, queue), sharded by user id.
struct Registry {
    shards: Vec<Shard>,
    next: AtomicU64,
}

impl Registry {
    fn shard(&self, user: u64) -> &Shard {
        &self.shards[(user as usize) % SHARDS]
    }

    fn add(&self, user: u64, tx: Queue) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.shard(user)
            .lock()
            .entry(user)
            .or_default()
            .push((id, tx));
        id
    }

    fn remove(&self, user: u64, id: u64) {
        let mut shard = self.shard(user).lock();
        if let Some(conns) = shard.get_mut(&user) {
            conns.retain(|(c, _)| *c != id);
            if conns.is_empty() {
                shard.remove(&user);
            }
        }
    }

    fn push(&self, user: u64, frame: &Utf8Bytes) {
        if let Some(conns) = self.shard(user).lock().get(&user) {
            for (_, tx) in conns {
                let _ = tx.try_send(frame.clone());
            }
        }
    }
}

/// `"receiver_id":N` anywhere in the frame (the client writes it without
/// spaces).
fn receiver_of(frame: &str) -> Option<u64> {
    const KEY: &str = "\"receiver_id\":";
    let at = frame.find(KEY)? + KEY.len();
    let digits = frame[at..].trim_start();
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(Some(65536))
        .max_frame_size(Some(65536))
}

#[allow(clippy::result_large_err)] // tungstenite's callback signature
async fn serve(registry: Arc<Registry>, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let mut user = None;
    let callback = |req: &Request, resp: Response| {
        user = req
            .uri()
            .path()
            .strip_prefix("/ws/")
            .and_then(|t| t.parse::<u64>().ok());
        Ok(resp)
    };
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(ws_config())).await
    else {
        return;
    };
    let Some(user) = user else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(QUEUE);
    let id = registry.add(user, tx);
    let writer = tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(Message::Text(first)).await.is_err() {
                return;
            }
            for _ in 1..MAX_BATCH {
                match rx.try_recv() {
                    Ok(frame) => {
                        if sink.feed(Message::Text(frame)).await.is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        match msg {
            Message::Text(text) => {
                if let Some(to) = receiver_of(text.as_str()) {
                    registry.push(user, &text);
                    if to != user {
                        registry.push(to, &text);
                    }
                }
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    registry.remove(user, id);
    writer.abort();
}

fn main() -> anyhow::Result<()> {
    let mut bind = "127.0.0.1:9000".to_owned();
    let mut workers = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => bind = args.next().unwrap_or(bind),
            "--worker-threads" => workers = args.next().and_then(|v| v.parse::<usize>().ok()),
            _ => anyhow::bail!("usage: forwarder [--bind ADDR] [--worker-threads N]"),
        }
    }
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // `Runtime::new()` in chat-server: multi-thread, one worker per core.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = workers {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(&bind).await?;
        println!("listening on {}", listener.local_addr()?);
        let registry = Arc::new(Registry {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            next: AtomicU64::new(1),
        });
        loop {
            let (tcp, _) = listener.accept().await?;
            tokio::spawn(serve(registry.clone(), tcp));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::receiver_of;

    #[test]
    fn finds_the_receiver() {
        let f = r#"{"type":"send_message","receiver_id":42,"content":"x"}"#;
        assert_eq!(receiver_of(f), Some(42));
        assert_eq!(receiver_of(r#"{"receiver_id": 7}"#), Some(7));
        assert_eq!(receiver_of(r#"{"type":"typing"}"#), None);
    }
}
