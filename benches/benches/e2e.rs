//! End to end: an embedded server on 127.0.0.1:0 and 50 loopback
//! WebSocket connections (25 pairs of friends), all driven from one tokio
//! runtime built outside the measurement.
//!
//! - `e2e/messages_50_conns`: every connection sends one `send_message` to
//!   its friend, then each waits for its two frames (its own echo and the
//!   friend's message). Throughput is messages accepted per second.
//! - `e2e/round_trip`: one connection, `send_message` → its echo: the
//!   round-trip time of a message through the server.
//!
//! Users and friendships are provisioned straight into the server's store
//! (`state.users`), not over REST: only the WebSocket path is measured.

use benches::{rt, slow_elapsed};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use server::{Config, Embedded};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connections in the throughput bench.
const CONNS: usize = 50;
/// No single read may take longer (a stuck bench fails instead of hanging).
const READ_TIMEOUT: Duration = Duration::from_secs(10);

struct Client {
    ws: Ws,
    /// The `send_message` frame to the friend, prepared once.
    send: String,
}

async fn setup() -> (Embedded, Vec<Client>) {
    let server = Embedded::start(Config::default())
        .await
        .expect("the embedded server binds 127.0.0.1:0");
    let users = server
        .state
        .users
        .create_bulk(CONNS as u64, "bench")
        .expect("50 fresh users");
    let pairs: Vec<(u64, u64)> = users
        .chunks(2)
        .map(|p| (p[0].user_id, p[1].user_id))
        .collect();
    server
        .state
        .users
        .add_friendships(&pairs)
        .expect("known users");
    let mut clients = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let friend = &users[i ^ 1];
        let (mut ws, _) = // TCP_NODELAY on our side, as a real client would set.
            tokio_tungstenite::connect_async_with_config(server.ws_url(&u.api_token), None, true)
            .await
            .expect("the handshake completes");
        // A round trip proves the connection is registered.
        ws.send(Message::text(r#"{"type":"get_online_friends"}"#))
            .await
            .expect("send");
        read_until(&mut ws, "online_friends").await;
        let send = format!(
            r#"{{"type":"send_message","receiver_id":{},"content":"benchmark message of sixty-four bytes, give or take a few"}}"#,
            friend.user_id
        );
        clients.push(Client { ws, send });
    }
    // Drain the friends' "online" events.
    for c in clients.iter_mut() {
        c.ws.send(Message::text(r#"{"type":"get_online_friends"}"#))
            .await
            .expect("send");
        read_until(&mut c.ws, "online_friends").await;
    }
    (server, clients)
}

/// Reads frames until one whose text contains `"type":"{kind}"`.
async fn read_until(ws: &mut Ws, kind: &str) {
    let needle = format!(r#""type":"{kind}""#);
    loop {
        match tokio::time::timeout(READ_TIMEOUT, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().contains(&needle) => return,
            Ok(Some(Ok(_))) => continue,
            other => panic!("waiting for {kind}: {other:?}"),
        }
    }
}

/// Reads exactly `n` text frames.
async fn read_n(ws: &mut Ws, n: usize) {
    let mut got = 0;
    while got < n {
        match tokio::time::timeout(READ_TIMEOUT, ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => got += 1,
            Ok(Some(Ok(_))) => {}
            other => panic!("waiting for a frame: {other:?}"),
        }
    }
}

fn e2e(c: &mut Criterion) {
    let rt = rt();
    let (server, mut clients) = rt.block_on(setup());
    let mut g = c.benchmark_group("e2e");
    g.sample_size(20);

    g.throughput(Throughput::Elements(CONNS as u64));
    g.bench_function("messages_50_conns", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    futures_util::future::join_all(clients.iter_mut().map(|c| async move {
                        c.ws.send(Message::text(c.send.as_str()))
                            .await
                            .expect("send");
                        // Its own echo and the friend's message.
                        read_n(&mut c.ws, 2).await;
                    }))
                    .await;
                }
                slow_elapsed(start.elapsed())
            })
        })
    });

    g.throughput(Throughput::Elements(1));
    g.bench_function("round_trip", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (first, rest) = clients.split_at_mut(1);
                let (c, friend) = (&mut first[0], &mut rest[0]);
                let start = Instant::now();
                for _ in 0..iters {
                    c.ws.send(Message::text(c.send.as_str()))
                        .await
                        .expect("send");
                    read_n(&mut c.ws, 1).await;
                }
                let elapsed = slow_elapsed(start.elapsed());
                // The friend got every message too: drain (untimed).
                read_n(&mut friend.ws, iters as usize).await;
                elapsed
            })
        })
    });
    g.finish();
    drop(clients);
    rt.block_on(async move {
        let _ = server.stop().await;
    });
}

criterion_group!(benches, e2e);
criterion_main!(benches);
