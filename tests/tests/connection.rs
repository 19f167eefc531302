//! §1 Connection: the token in the path, the handshake, pings.

use server::protocol::close;
use tests::TestServer;

#[tokio::test]
async fn valid_token_connects_and_gets_nothing_unasked() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut ws = s.connect(&a).await;
    assert_eq!(ws.round_trip().await, Vec::<u64>::new(), "no friend online");
    // Connecting sends nothing to the connecting user itself.
    ws.silent().await;
}

#[tokio::test]
async fn unknown_token_completes_the_handshake_then_closes_4008() {
    unknown_token_completes_the_handshake_then_closes_4008_with(server::Config::default()).await;
}

/// [`unknown_token_completes_the_handshake_then_closes_4008`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn unknown_token_completes_the_handshake_then_closes_4008_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
    let mut ws = s.connect_token("not-a-token").await;
    // Nothing else is sent on that socket: the close is the first frame.
    let reason = ws.expect_close(close::INVALID_TOKEN).await;
    assert_eq!(reason, "invalid token");
}

#[tokio::test]
async fn unknown_token_that_looks_like_a_real_one_closes_4008() {
    let s = TestServer::start().await;
    let a = s.user().await;
    // Same length and alphabet as a real token, one character changed.
    let mut forged = a.token.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).expect("tokens are URL-safe ASCII");
    let mut ws = s.connect_token(&forged).await;
    ws.expect_close(close::INVALID_TOKEN).await;
    // The real token still works.
    let mut ok = s.connect(&a).await;
    ok.round_trip().await;
}

#[tokio::test]
async fn unknown_token_sends_no_presence() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut bad = s.connect_token(&format!("{}x", b.token)).await;
    bad.expect_close(close::INVALID_TOKEN).await;
    // A's friend B never came online; nothing is sent to A.
    wa.silent().await;
    assert_eq!(wa.round_trip().await, Vec::<u64>::new());
}

#[tokio::test]
async fn pings_are_answered_with_pongs() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut ws = s.connect_confirmed(&a).await;
    ws.ping_pong(b"hello").await;
    ws.ping_pong(b"").await;
    ws.round_trip().await;
}

#[tokio::test]
async fn a_connection_survives_many_round_trips() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut ws = s.connect_confirmed(&a).await;
    for _ in 0..50 {
        ws.round_trip().await;
    }
}
