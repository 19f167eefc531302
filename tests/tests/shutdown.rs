//! Graceful shutdown: stopping the server closes every WebSocket with 1001;
//! the `chat-server` binary does the same on SIGTERM and exits 0. Also the
//! binary's admin token sources (§6: flag, `CHAT_ADMIN_TOKEN`, or generated
//! and printed once).

use server::protocol::close;
use server::protocol::rest::{BulkUsers, BulkUsersCreated, Friendships};
use std::time::Duration;
use tests::binary::Running;
use tests::{Rest, TestServer, WsClient};

#[tokio::test]
async fn stopping_the_embedded_server_closes_every_socket_with_1001() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut sockets = vec![
        s.connect_confirmed(&a).await,
        s.connect_confirmed(&a).await,
        s.connect_confirmed(&b).await,
    ];
    for ws in &mut sockets {
        ws.round_trip_skipping().await;
    }
    let addr = s.addr();
    let stopping = tokio::spawn(s.stop());
    for ws in &mut sockets {
        // Presence events of the shutdown itself may come first.
        ws.expect_close_after_frames(close::GOING_AWAY, tests::TIMEOUT)
            .await;
    }
    tokio::time::timeout(tests::TIMEOUT * 2, stopping)
        .await
        .expect("stop returns")
        .expect("the stop task does not panic");
    // Nothing listens any more.
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after stop"
    );
}

#[tokio::test]
async fn dropping_the_embedded_server_stops_it() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut ws = s.connect_confirmed(&a).await;
    drop(s);
    ws.expect_close_after_frames(close::GOING_AWAY, tests::TIMEOUT)
        .await;
}

fn reqwest() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a plain HTTP client builds")
}

async fn provision(admin: &Rest, n: u64) -> Vec<(u64, String)> {
    let created: BulkUsersCreated = admin
        .post(
            "/admin/users/bulk",
            &BulkUsers {
                count: n,
                username_prefix: "p".into(),
            },
        )
        .await
        .ok(201, "bulk");
    created
        .users
        .into_iter()
        .map(|u| (u.user_id, u.api_token))
        .collect()
}

async fn sigterm_closes_sockets_and_exits_0(signal: &str) {
    let mut server = Running::start(
        &["--bind", "127.0.0.1:0", "--admin-token", "bin-admin-token"],
        &[],
    )
    .await;
    let admin = Rest::new(reqwest(), server.http_url(), Some("bin-admin-token".into()));
    let users = provision(&admin, 2).await;
    admin
        .post(
            "/admin/friendships",
            &Friendships {
                pairs: vec![(users[0].0, users[1].0)],
            },
        )
        .await
        .status(200, "friendships");
    let mut sockets = Vec::new();
    for (_, token) in users.iter().chain(users.iter()) {
        let mut ws = WsClient::connect(&server.ws_url(token), "bin-client", None).await;
        ws.round_trip_skipping().await;
        sockets.push(ws);
    }
    let health = Rest::new(reqwest(), server.http_url(), None)
        .get("/healthz")
        .await;
    health.status(200, "healthz of the binary");

    server.signal(signal);
    for ws in &mut sockets {
        ws.expect_close_after_frames(close::GOING_AWAY, tests::TIMEOUT)
            .await;
    }
    let code = server.wait_exit(Duration::from_secs(10)).await;
    assert_eq!(code, Some(0), "chat-server exit code after SIG{signal}");
}

#[tokio::test]
async fn the_binary_closes_sockets_with_1001_and_exits_0_on_sigterm() {
    sigterm_closes_sockets_and_exits_0("TERM").await;
}

#[tokio::test]
async fn the_binary_closes_sockets_with_1001_and_exits_0_on_sigint() {
    sigterm_closes_sockets_and_exits_0("INT").await;
}

#[tokio::test]
async fn the_binary_takes_the_admin_token_from_the_environment() {
    let mut server = Running::start(
        &["--bind", "127.0.0.1:0"],
        &[("CHAT_ADMIN_TOKEN", "from-the-env")],
    )
    .await;
    let admin = Rest::new(reqwest(), server.http_url(), Some("from-the-env".into()));
    provision(&admin, 1).await;
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
}

#[tokio::test]
async fn the_binary_prints_a_generated_admin_token() {
    let mut server = Running::start(&["--bind", "127.0.0.1:0"], &[]).await;
    let http = reqwest();
    let mut lines = server.seen.clone();
    let deadline = tokio::time::Instant::now() + tests::TIMEOUT;
    loop {
        // Try every token-looking word printed so far.
        for line in &lines {
            for word in line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .filter(|w| w.len() >= 22)
            {
                let admin = Rest::new(http.clone(), server.http_url(), Some(word.to_owned()));
                let reply = admin
                    .post_raw("/admin/users/bulk", r#"{"count":1,"username_prefix":"g"}"#)
                    .await;
                if reply.status == 201 {
                    server.signal("TERM");
                    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
                    return;
                }
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, server.lines.recv()).await {
            Ok(Some(line)) => lines = vec![line],
            _ => panic!(
                "no printed word of 22+ URL-safe characters works as the admin token; output: {:#?}",
                server.seen
            ),
        }
    }
}

#[tokio::test]
async fn the_binary_honours_the_limit_flags_and_their_environment_variables() {
    let mut server = Running::start(
        &[
            "--bind",
            "127.0.0.1:0",
            "--admin-token",
            "flags-admin",
            "--max-message-bytes",
            "2048",
        ],
        &[("CHAT_MAX_CONNECTIONS_PER_USER", "1")],
    )
    .await;
    let admin = Rest::new(reqwest(), server.http_url(), Some("flags-admin".into()));
    let users = provision(&admin, 1).await;
    let token = &users[0].1;
    let mut first = WsClient::connect(&server.ws_url(token), "first", None).await;
    first.round_trip().await;
    // CHAT_MAX_CONNECTIONS_PER_USER=1: a second connection is one too many.
    let mut second = WsClient::connect(&server.ws_url(token), "second", None).await;
    second.expect_close(close::TOO_MANY_CONNECTIONS).await;
    // --max-message-bytes 2048: a 3000-byte frame closes with 1009 and a
    // 3000-byte body gets 413.
    let user = Rest::new(reqwest(), server.http_url(), Some(token.clone()));
    user.post_raw(
        "/create_conversation",
        format!(r#"{{"other_user_id":1,"pad":"{}"}}"#, "x".repeat(3000)),
    )
    .await
    .err(
        413,
        server::protocol::ErrorCode::PayloadTooLarge,
        "a 3000-byte body",
    );
    first
        .send_raw(&format!(
            r#"{{"type":"get_online_friends","pad":"{}"}}"#,
            "x".repeat(3000)
        ))
        .await;
    first.expect_close(close::MESSAGE_TOO_BIG).await;
    server.signal("TERM");
    assert_eq!(server.wait_exit(Duration::from_secs(10)).await, Some(0));
}
