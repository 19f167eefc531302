//! Malformed input through real sockets (§2, §8): whatever a client sends,
//! the server never panics, never affects another connection, and answers
//! with the error code the precedence rules give.
//!
//! Proptest drives the inputs; each case gets a fresh embedded server (a
//! few milliseconds), so a failing case shrinks cleanly. The runner is used
//! by hand because the cases are async: one runtime per test, `block_on`
//! per case.

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use serde_json::Value;
use server::protocol::{ErrorCode, ServerEvent};
use tests::model::{frame, Expect, Targets};
use tests::ws::Incoming;
use tests::{TestServer, User, WsClient};

/// A (the fuzzed connection) is friends with B; C is B's friend and a
/// stranger to A. A–B and B–C each have a conversation.
struct World {
    s: TestServer,
    a: User,
    b: User,
    c: User,
    wa: WsClient,
    wb: WsClient,
    ab: u64,
    bc: u64,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&b, &c)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    wa.round_trip_skipping().await;
    let ab = wa.say(b.id, "ab").await.conversation_id;
    wb.expect_new_message("A's message").await;
    let bc = wb.say(c.id, "bc").await.conversation_id;
    World {
        s,
        a,
        b,
        c,
        wa,
        wb,
        ab,
        bc,
    }
}

impl World {
    fn targets(&self) -> Targets {
        Targets {
            me: self.a.id,
            friend: self.b.id,
            stranger: self.c.id,
            own_conversation: self.ab,
            others_conversation: self.bc,
        }
    }

    /// After a case: the other connection still answers, and only got
    /// events A may legitimately cause (G4: nothing about strangers).
    async fn others_fine(&mut self) {
        self.others_fine_with(false).await;
    }

    /// [`others_fine`](Self::others_fine), also allowing A's presence
    /// changes (for cases where A's connection may be closed).
    async fn others_fine_with(&mut self, presence: bool) {
        let (_, skipped) = self.wb.round_trip_skipping().await;
        for e in skipped {
            let ok = match &e {
                ServerEvent::NewMessage(m) => m.sender_id == self.a.id,
                ServerEvent::UserTyping { user_id, .. } => *user_id == self.a.id,
                ServerEvent::MessagesRead { user_id, .. } => *user_id == self.a.id,
                ServerEvent::FriendStatusChange { user_id, .. } => {
                    presence && *user_id == self.a.id
                }
                _ => false,
            };
            assert!(ok, "B got an event it should not have: {e:?}");
        }
    }
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        // Every shrink step builds a fresh server: keep failures quick.
        max_shrink_iters: 64,
        ..RunnerConfig::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn structured_frames_get_the_code_of_the_precedence_rules() {
    let rt = runtime();
    runner(64)
        .run(&frame(), |f| {
            rt.block_on(async {
                let mut w = world().await;
                let (text, expect) = f.render(&w.targets());
                w.wa.send_raw(&text).await;
                match expect {
                    Expect::Error(code) => w.wa.expect_error(code).await,
                    Expect::Reply => {
                        w.wa.expect_event("online_friends", |e| {
                            matches!(e, ServerEvent::OnlineFriends { .. }).then_some(())
                        })
                        .await
                    }
                    Expect::Echo => {
                        w.wa.expect_new_message("the echo").await;
                    }
                    Expect::Nothing => {}
                }
                // The round trip proves nothing else was sent in between.
                w.wa.round_trip().await;
                w.others_fine().await;
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------
// Arbitrary bytes and strings.

#[test]
fn arbitrary_binary_frames_are_binary_unsupported() {
    let rt = runtime();
    runner(48)
        .run(&prop::collection::vec(any::<u8>(), 0..4096), |bytes| {
            rt.block_on(async {
                let mut w = world().await;
                w.wa.send_binary(bytes).await;
                w.wa.expect_error(ErrorCode::BinaryUnsupported).await;
                w.wa.round_trip().await;
                w.others_fine().await;
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Arbitrary text: unicode noise, and JSON-looking noise that sometimes is
/// JSON. Only the three decode codes (or a valid reply) may come back.
fn noisy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,0-9a-z_ .-]{0,200}",
        "\\{\"type\":\"[a-z_]{0,20}\"(,\"[a-z_]{1,15}\":[0-9\"\\-\\[\\]{}a-z.]{0,20}){0,3}\\}",
    ]
}

#[test]
fn arbitrary_text_frames_get_a_decode_error_or_a_valid_answer() {
    let rt = runtime();
    runner(48)
        .run(&noisy_text(), |text| {
            rt.block_on(async {
                let mut w = world().await;
                w.wa.send_raw(&text).await;
                w.wa.send(&server::protocol::ClientMessage::GetOnlineFriends {})
                    .await;
                // Everything up to the round trip's reply must be either
                // one error frame or what a valid message may produce.
                loop {
                    let raw = w.wa.recv_value("the answer to a noisy frame").await;
                    match raw["type"].as_str() {
                        Some("online_friends") => break,
                        Some("error") => {
                            let code: ErrorCode = serde_json::from_value(raw["code"].clone())
                                .unwrap_or_else(|e| panic!("unknown code in {raw} ({e})"));
                            assert_ne!(code, ErrorCode::BinaryUnsupported, "for {text:?}");
                        }
                        Some("new_message") => {}
                        _ => panic!("unexpected answer {raw} to {text:?}"),
                    }
                }
                // Our own round trip reply may have been preceded by a
                // valid get_online_friends reply: drain to be sure.
                w.wa.round_trip_skipping().await;
                w.others_fine().await;
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn invalid_utf8_in_a_text_frame_is_refused_without_harm() {
    let rt = runtime();
    let bytes = prop::collection::vec(any::<u8>(), 0..512).prop_map(|mut b| {
        // Make sure it is not UTF-8: a lone continuation byte.
        b.insert(b.len() / 2, 0x80);
        b
    });
    runner(32)
        .run(&bytes, |bytes| {
            rt.block_on(async {
                let mut w = world().await;
                w.wa.send_text_bytes(bytes).await;
                let answer = w.wa.next_frame("the answer to invalid UTF-8").await;
                // Whatever the answer, no one else is harmed and the user
                // can connect again.
                w.others_fine_with(true).await;
                w.s.connect_confirmed(&w.a).await;
                // The contract (§2): not a JSON text, so an invalid_json
                // frame on a live connection; the WebSocket rule for bad
                // UTF-8 (RFC 6455 §8.1) would be a close with 1007. A socket
                // dropped without a close frame is neither.
                match answer {
                    Incoming::Text(t) => {
                        let v: Value = serde_json::from_str(&t).expect("JSON");
                        assert_eq!(v["type"], "error", "{t}");
                        assert_eq!(v["code"], "invalid_json", "{t}");
                        w.wa.round_trip().await;
                    }
                    Incoming::Close(Some((1007, _))) => {}
                    other => panic!("expected invalid_json or close 1007, got {other:?}"),
                }
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

// ---------------------------------------------------------------------------
// Specific shapes.

#[tokio::test]
async fn deeply_nested_json_is_refused_without_harm() {
    let mut w = world().await;
    // Not JSON at all (never closed): invalid_json.
    w.wa.send_raw(&"[".repeat(60_000)).await;
    w.wa.expect_error(ErrorCode::InvalidJson).await;
    w.wa.send_raw(&"{\"a\":".repeat(10_000)).await;
    w.wa.expect_error(ErrorCode::InvalidJson).await;
    w.wa.round_trip().await;
    // Well-formed but 20 000 levels deep inside a field. The contract makes
    // this invalid_field (it is a JSON object with a bad receiver_id); a
    // parser depth limit may call it invalid_json. Either way: an error
    // frame and a live connection.
    let deep = format!(
        r#"{{"type":"typing","receiver_id":{}{}}}"#,
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    w.wa.send_raw(&deep).await;
    let raw = w.wa.recv_value("the answer to deep nesting").await;
    assert_eq!(raw["type"], "error", "{raw}");
    assert!(
        raw["code"] == "invalid_field" || raw["code"] == "invalid_json",
        "{raw}"
    );
    w.wa.round_trip().await;
    w.others_fine().await;
}

#[tokio::test]
async fn huge_and_negative_ids_are_invalid_fields() {
    let mut w = world().await;
    for id in [
        "-9223372036854775808",
        "-0",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999999999",
        "1e19",
        "-1e3",
        "0.0",
        "1.0",
    ] {
        for frame in [
            format!(r#"{{"type":"typing","receiver_id":{id}}}"#),
            format!(r#"{{"type":"send_message","receiver_id":{id},"content":"x"}}"#),
            format!(r#"{{"type":"mark_read","conversation_id":{id}}}"#),
        ] {
            w.wa.send_raw(&frame).await;
            w.wa.expect_error(ErrorCode::InvalidField).await;
        }
    }
    w.wa.round_trip().await;
    w.others_fine().await;
}

#[tokio::test]
async fn a_flood_of_bad_frames_leaves_the_connection_usable() {
    let mut w = world().await;
    for i in 0..300 {
        w.wa.send_raw(&format!("garbage {i}")).await;
    }
    for _ in 0..300 {
        w.wa.expect_error(ErrorCode::InvalidJson).await;
    }
    let m = w.wa.say(w.b.id, "still here").await;
    assert_eq!(m.conversation_id, w.ab);
    let (_, skipped) = w.wb.round_trip_skipping().await;
    assert_eq!(
        skipped.len(),
        1,
        "B got exactly the one message: {skipped:?}"
    );
}

#[tokio::test]
async fn a_socket_that_goes_away_mid_frame_harms_no_one() {
    let mut w = world().await;
    // Half a message (a non-final fragment), then the socket is dropped.
    let mut half = w.s.connect_confirmed(&w.a).await;
    half.send_frame(
        tokio_tungstenite::tungstenite::protocol::frame::Frame::message(
            b"{\"type\":\"typ".to_vec(),
            tokio_tungstenite::tungstenite::protocol::frame::coding::OpCode::Data(
                tokio_tungstenite::tungstenite::protocol::frame::coding::Data::Text,
            ),
            false,
        ),
    )
    .await;
    drop(half);
    w.wa.round_trip().await;
    w.others_fine().await;
    // A is still online (A's first connection is open): B heard nothing.
    w.wb.silent().await;
}

// ---------------------------------------------------------------------------
// REST.

fn rest_case() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (
        0usize..9,
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..2048),
            "[{}\\[\\]\":,0-9a-z_ -]{0,200}".prop_map(String::into_bytes),
        ],
    )
}

#[test]
fn arbitrary_rest_bodies_get_4xx_json_errors() {
    let rt = runtime();
    let w = rt.block_on(world());
    let paths = [
        "/me/send_friend_request",
        "/me/accept_friend_request",
        "/create_conversation",
        "/delete_conversation",
        "/conversation/send_message",
        "/conversation/delete_message",
        "/admin/users",
        "/admin/users/bulk",
        "/admin/friendships",
    ];
    runner(48)
        .run(&rest_case(), |(path, body)| {
            let path = paths[path];
            rt.block_on(async {
                let rest = if path.starts_with("/admin") {
                    w.s.admin()
                } else {
                    w.s.rest(&w.a)
                };
                let reply = rest.post_raw(path, body.clone()).await;
                assert!(
                    (200..500).contains(&reply.status),
                    "POST {path} with {:?} answered {}: {}",
                    String::from_utf8_lossy(&body),
                    reply.status,
                    reply.body
                );
                if reply.status >= 400 {
                    let _: server::protocol::rest::ErrorBody = reply.ok(reply.status, "error body");
                }
                // The server still serves.
                w.s.rest(&w.a).get("/me").await.status(200, "me");
            });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // And the WebSocket side is unaffected.
    rt.block_on(async move {
        let mut w = w;
        w.wa.round_trip_skipping().await;
        w.others_fine().await;
    });
}

#[tokio::test]
async fn one_megabyte_bodies_get_413_everywhere() {
    let w = world().await;
    let body = vec![b' '; 1 << 20];
    for path in [
        "/me/send_friend_request",
        "/create_conversation",
        "/conversation/send_message",
        "/admin/users/bulk",
    ] {
        let rest = if path.starts_with("/admin") {
            w.s.admin()
        } else {
            w.s.rest(&w.a)
        };
        rest.post_raw(path, body.clone())
            .await
            .err(413, ErrorCode::PayloadTooLarge, path);
    }
}
