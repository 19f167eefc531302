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
use serde_json::{json, Value};
use server::protocol::{close, ErrorCode, ServerEvent};
use tests::ws::Incoming;
use tests::{TestServer, User, WsClient};

const MAX_ID: u64 = i64::MAX as u64;

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

// ---------------------------------------------------------------------------
// Structured frames and the model of §8.

/// What an id-valued field holds.
#[derive(Debug, Clone)]
enum IdVal {
    Missing,
    Friend,
    Me,
    Stranger,
    Unknown,
    Raw(Value),
    Nested(usize),
}

/// What `conversation_id` holds.
#[derive(Debug, Clone)]
enum ConvVal {
    Missing,
    Mine,
    Others,
    Unknown,
    Raw(Value),
}

#[derive(Debug, Clone)]
enum TypeVal {
    Missing,
    Known(&'static str),
    Other(Value),
}

#[derive(Debug, Clone)]
struct Frame {
    kind: TypeVal,
    receiver: IdVal,
    conversation: ConvVal,
    content: Option<Value>,
    /// An unknown field nested this deep (ignored by the contract).
    extra: Option<usize>,
}

fn bad_ids() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(i64::MIN)),
        Just(json!(9_223_372_036_854_775_808u64)),
        Just(json!(u64::MAX)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        Just(json!("1")),
        Just(Value::Null),
        Just(json!(true)),
        Just(json!([1])),
        Just(json!({"id": 1})),
    ]
}

fn id_val() -> impl Strategy<Value = IdVal> {
    prop_oneof![
        Just(IdVal::Missing),
        Just(IdVal::Friend),
        Just(IdVal::Me),
        Just(IdVal::Stranger),
        Just(IdVal::Unknown),
        bad_ids().prop_map(IdVal::Raw),
        (1usize..60).prop_map(IdVal::Nested),
    ]
}

fn conv_val() -> impl Strategy<Value = ConvVal> {
    prop_oneof![
        Just(ConvVal::Missing),
        Just(ConvVal::Mine),
        Just(ConvVal::Others),
        Just(ConvVal::Unknown),
        bad_ids().prop_map(ConvVal::Raw),
    ]
}

fn type_val() -> impl Strategy<Value = TypeVal> {
    prop_oneof![
        Just(TypeVal::Missing),
        prop::sample::select(vec![
            "send_message",
            "typing",
            "stop_typing",
            "mark_read",
            "get_online_friends"
        ])
        .prop_map(TypeVal::Known),
        prop_oneof![
            Just(json!("dance")),
            Just(json!("SEND_MESSAGE")),
            Just(json!("new_message")),
            Just(json!("")),
            Just(json!(3)),
            Just(Value::Null),
            Just(json!(["typing"])),
            Just(json!({"type": "typing"})),
        ]
        .prop_map(TypeVal::Other),
    ]
}

fn content_val() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!(""))),
        Just(Some(json!("x".repeat(4096)))),
        Just(Some(json!("x".repeat(4097)))),
        Just(Some(json!("é".repeat(2049)))),
        Just(Some(json!(7))),
        Just(Some(Value::Null)),
        Just(Some(json!(["hi"]))),
        "\\PC{1,40}".prop_map(|s| Some(json!(s))),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        type_val(),
        id_val(),
        conv_val(),
        content_val(),
        prop::option::of(0usize..60),
    )
        .prop_map(|(kind, receiver, conversation, content, extra)| Frame {
            kind,
            receiver,
            conversation,
            content,
            extra,
        })
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |v, _| json!({ "n": v }))
}

/// What the model says the fuzzed connection gets before the round trip's
/// reply.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Error(ErrorCode),
    /// `get_online_friends`: its own reply.
    Reply,
    /// `send_message`: the echo.
    Echo,
    /// `typing`, `stop_typing`, `mark_read`: nothing to the sender.
    Nothing,
}

impl Frame {
    fn render(&self, w: &World) -> (String, Expect) {
        let mut obj = serde_json::Map::new();
        match &self.kind {
            TypeVal::Missing => {}
            TypeVal::Known(t) => {
                obj.insert("type".into(), json!(t));
            }
            TypeVal::Other(v) => {
                obj.insert("type".into(), v.clone());
            }
        }
        let receiver = match &self.receiver {
            IdVal::Missing => None,
            IdVal::Friend => Some(json!(w.b.id)),
            IdVal::Me => Some(json!(w.a.id)),
            IdVal::Stranger => Some(json!(w.c.id)),
            IdVal::Unknown => Some(json!(MAX_ID)),
            IdVal::Raw(v) => Some(v.clone()),
            IdVal::Nested(d) => Some(nested(*d)),
        };
        if let Some(r) = receiver {
            obj.insert("receiver_id".into(), r);
        }
        let conversation = match &self.conversation {
            ConvVal::Missing => None,
            ConvVal::Mine => Some(json!(w.ab)),
            ConvVal::Others => Some(json!(w.bc)),
            ConvVal::Unknown => Some(json!(MAX_ID)),
            ConvVal::Raw(v) => Some(v.clone()),
        };
        if let Some(c) = conversation {
            obj.insert("conversation_id".into(), c);
        }
        if let Some(c) = &self.content {
            obj.insert("content".into(), c.clone());
        }
        if let Some(d) = self.extra {
            obj.insert("zz_extra".into(), nested(d));
        }
        (Value::Object(obj).to_string(), self.expect())
    }

    /// §8 precedence.
    fn expect(&self) -> Expect {
        use ErrorCode::*;
        let kind = match &self.kind {
            TypeVal::Known(t) => *t,
            _ => return Expect::Error(UnknownType),
        };
        let receiver_shape_ok = matches!(
            self.receiver,
            IdVal::Friend | IdVal::Me | IdVal::Stranger | IdVal::Unknown
        );
        let conversation_shape_ok = matches!(
            self.conversation,
            ConvVal::Mine | ConvVal::Others | ConvVal::Unknown
        );
        let content = match &self.content {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let receiver_rules = || match self.receiver {
            IdVal::Unknown => Some(UnknownUser),
            IdVal::Me => Some(SelfTarget),
            IdVal::Stranger => Some(NotFriends),
            _ => None,
        };
        match kind {
            "get_online_friends" => Expect::Reply,
            "typing" | "stop_typing" => {
                if !receiver_shape_ok {
                    Expect::Error(InvalidField)
                } else if let Some(code) = receiver_rules() {
                    Expect::Error(code)
                } else {
                    Expect::Nothing
                }
            }
            "send_message" => {
                let Some(content) = content.filter(|_| receiver_shape_ok) else {
                    return Expect::Error(InvalidField);
                };
                if let Some(code) = receiver_rules() {
                    Expect::Error(code)
                } else if content.is_empty() {
                    Expect::Error(EmptyContent)
                } else if content.len() > 4096 {
                    Expect::Error(ContentTooLong)
                } else {
                    Expect::Echo
                }
            }
            "mark_read" => {
                if !conversation_shape_ok {
                    Expect::Error(InvalidField)
                } else {
                    match self.conversation {
                        ConvVal::Unknown => Expect::Error(UnknownConversation),
                        ConvVal::Others => Expect::Error(NotParticipant),
                        _ => Expect::Nothing,
                    }
                }
            }
            other => unreachable!("known types only: {other}"),
        }
    }
}

#[test]
fn structured_frames_get_the_code_of_the_precedence_rules() {
    let rt = runtime();
    runner(96)
        .run(&frame(), |f| {
            rt.block_on(async {
                let mut w = world().await;
                let (text, expect) = f.render(&w);
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
    runner(64)
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
    runner(64)
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
    let _ = close::GOING_AWAY;
}
