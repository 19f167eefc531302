//! §6 REST basics: bearer authentication (401), `GET /me`, `GET /me/friends`,
//! `GET /healthz`, 413 on big bodies, REST on the WebSocket port.

use server::protocol::rest::{Friends, Me};
use server::protocol::ErrorCode;
use tests::TestServer;

#[tokio::test]
async fn me_answers_the_callers_identity() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    let me: Me = s.rest(&a).get("/me").await.ok(200, "GET /me");
    assert_eq!((me.user_id, me.username), (a.id, a.username.clone()));
    let me: Me = s.rest(&b).get("/me").await.ok(200, "GET /me");
    assert_eq!(me.user_id, b.id);
}

#[tokio::test]
async fn every_user_endpoint_wants_a_valid_bearer_token() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let gets = [
        "/me",
        "/me/friends",
        "/conversations",
        "/conversation/1/messages",
    ];
    let posts = [
        ("/me/send_friend_request", r#"{"receiver_id":1}"#),
        ("/me/accept_friend_request", r#"{"sender_id":1}"#),
        ("/create_conversation", r#"{"other_user_id":1}"#),
        ("/delete_conversation", r#"{"conversation_id":1}"#),
        (
            "/conversation/send_message",
            r#"{"conversation_id":1,"content":"x"}"#,
        ),
        ("/conversation/delete_message", r#"{"message_id":1}"#),
    ];
    let wrong = format!("{}x", a.token);
    for token in [None, Some("nope"), Some(wrong.as_str()), Some("")] {
        let rest = s.rest_with_token(token);
        for path in gets {
            rest.get(path).await.err(
                401,
                ErrorCode::Unauthorized,
                &format!("GET {path} with {token:?}"),
            );
        }
        for (path, body) in posts {
            rest.post_raw(path, body).await.err(
                401,
                ErrorCode::Unauthorized,
                &format!("POST {path} with {token:?}"),
            );
        }
    }
}

#[tokio::test]
async fn the_admin_token_is_not_a_user_token() {
    let s = TestServer::start().await;
    s.admin()
        .get("/me")
        .await
        .err(401, ErrorCode::Unauthorized, "GET /me with the admin token");
}

#[tokio::test]
async fn friends_lists_every_friend_with_name_and_presence() {
    let s = TestServer::start().await;
    let [a, b, c, d] = s.users_n().await;
    s.befriend(&[(&a, &b), (&c, &a)]).await;
    let _wc = s.connect_confirmed(&c).await;
    let friends: Friends = s.rest(&a).get("/me/friends").await.ok(200, "friends");
    let mut rows: Vec<_> = friends
        .friends
        .into_iter()
        .map(|f| (f.user_id, f.username, f.online))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![(b.id, b.username, false), (c.id, c.username, true)]
    );
    let none: Friends = s.rest(&d).get("/me/friends").await.ok(200, "friends");
    assert!(none.friends.is_empty());
}

#[tokio::test]
async fn healthz_answers_ok_without_auth() {
    let s = TestServer::start().await;
    let reply = s.rest_with_token(None).get("/healthz").await;
    reply.status(200, "healthz");
    assert_eq!(reply.body.trim(), "ok");
}

#[tokio::test]
async fn bodies_over_64_kib_get_413() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let rest = s.rest(&a);
    let big = format!(
        r#"{{"conversation_id":1,"content":"x","pad":"{}"}}"#,
        "y".repeat(70_000)
    );
    for path in [
        "/conversation/send_message",
        "/create_conversation",
        "/me/send_friend_request",
    ] {
        rest.post_raw(path, big.clone())
            .await
            .err(413, ErrorCode::PayloadTooLarge, path);
    }
    s.admin().post_raw("/admin/users/bulk", big).await.err(
        413,
        ErrorCode::PayloadTooLarge,
        "admin bulk",
    );
    // One megabyte.
    rest.post_raw("/create_conversation", vec![b'{'; 1 << 20])
        .await
        .err(413, ErrorCode::PayloadTooLarge, "1 MB body");
    // The server still answers.
    rest.get("/me").await.status(200, "after big bodies");
}

#[tokio::test]
async fn a_body_of_exactly_64_kib_is_not_too_large() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let head = format!(r#"{{"other_user_id":{},"pad":""#, b.id);
    let body = format!("{head}{}\"}}", "p".repeat(65536 - head.len() - 2));
    assert_eq!(body.len(), 65536);
    s.rest(&a)
        .post_raw("/create_conversation", body)
        .await
        .status(201, "a 64 KiB body");
}

#[tokio::test]
async fn bad_bodies_get_400_invalid_body() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let rest = s.rest(&a);
    for body in [
        "",
        "nope",
        "[]",
        "{}",
        r#"{"other_user_id":"2"}"#,
        r#"{"other_user_id":0}"#,
        r#"{"other_user_id":-1}"#,
        r#"{"other_user_id":9223372036854775808}"#,
    ] {
        rest.post_raw("/create_conversation", body).await.err_any(
            400,
            &[
                ErrorCode::InvalidBody,
                ErrorCode::InvalidField,
                ErrorCode::InvalidJson,
            ],
            &format!("create_conversation with {body:?}"),
        );
    }
}
