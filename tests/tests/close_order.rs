//! Close before unregister, never after: by the time a client sees its
//! close handshake complete (the server's close frame, whichever side
//! began), the server has already removed the connection. So a client that
//! reconnects at once never overlaps its old connection: with one
//! connection allowed per user it is never refused with 4011, friends see
//! "offline" before the new "online", and the connection gauge read right
//! after the close no longer counts it (docs/server-hardening.md).

use server::protocol::{close, ServerEvent, Status};
use tests::metrics::Scrape;
use tests::TestServer;

async fn open_connections(s: &TestServer) -> f64 {
    let reply = s.rest_with_token(None).get("/metrics").await;
    Scrape::parse(&reply.body).get("chat_open_connections")
}

#[tokio::test]
async fn a_client_closing_and_reconnecting_never_overlaps_itself() {
    let s = TestServer::with_config(server::Config {
        max_connections_per_user: 1,
        ..server::Config::default()
    })
    .await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    for _ in 0..50 {
        // Refused with 4011 if the previous connection were still registered.
        let wa = s.connect_confirmed(&a).await;
        wb.expect(&ServerEvent::FriendStatusChange {
            user_id: a.id,
            status: Status::Online,
        })
        .await;
        // Returns once the server's reply to our close frame arrived.
        wa.close().await;
        assert_eq!(
            open_connections(&s).await,
            1.0,
            "A counted after its close handshake"
        );
        wb.expect(&ServerEvent::FriendStatusChange {
            user_id: a.id,
            status: Status::Offline,
        })
        .await;
    }
}

#[tokio::test]
async fn a_server_close_unregisters_before_its_close_frame() {
    let s = TestServer::with_config(server::Config {
        max_connections_per_user: 1,
        max_message_bytes: 1024,
        ..server::Config::default()
    })
    .await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    for _ in 0..20 {
        let mut wa = s.connect_confirmed(&a).await;
        wb.expect(&ServerEvent::FriendStatusChange {
            user_id: a.id,
            status: Status::Online,
        })
        .await;
        // Too big: the server closes with 1009.
        wa.send_raw(&"x".repeat(2048)).await;
        wa.expect_close(close::MESSAGE_TOO_BIG).await;
        assert_eq!(open_connections(&s).await, 1.0, "A counted after its 1009");
        wb.expect(&ServerEvent::FriendStatusChange {
            user_id: a.id,
            status: Status::Offline,
        })
        .await;
    }
}
