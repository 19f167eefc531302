//! §2 Errors and §8 precedence: every WS error code, each on the offending
//! connection only, after which the connection still works and nothing else
//! happened.

use server::protocol::rest::History;
use server::protocol::{ClientMessage, ErrorCode, Id};
use tests::{TestServer, User, WsClient};

const MAX_ID: u64 = i64::MAX as u64;

/// A is friends with B; B is friends with C; A and C are strangers. A has
/// two connections, B and C one each; A–B and B–C have a conversation.
struct World {
    s: TestServer,
    a: User,
    b: User,
    c: User,
    a1: WsClient,
    a2: WsClient,
    b1: WsClient,
    c1: WsClient,
    ab: u64,
    bc: u64,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&b, &c)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    // Drain the presence events of the later connections.
    for ws in [&mut a1, &mut a2, &mut b1, &mut c1] {
        ws.round_trip_skipping().await;
    }
    let ab = a1.say(b.id, "ab").await.conversation_id;
    a2.expect_new_message("A's message").await;
    b1.expect_new_message("A's message").await;
    let bc = b1.say(c.id, "bc").await.conversation_id;
    c1.expect_new_message("B's message").await;
    World {
        s,
        a,
        b,
        c,
        a1,
        a2,
        b1,
        c1,
        ab,
        bc,
    }
}

/// Sends each frame on A's first connection and expects exactly the error
/// code, then a working round trip; at the end, no one else got anything and
/// no message was stored.
async fn check(w: &mut World, cases: &[(String, ErrorCode)]) {
    for (frame, code) in cases {
        w.a1.send_raw(frame).await;
        w.a1.expect_error(*code).await;
        w.a1.round_trip().await;
    }
    tests::silent_all(&mut [&mut w.a2, &mut w.b1, &mut w.c1]).await;
    let history: History =
        w.s.rest(&w.a)
            .history(w.ab, None, None)
            .await
            .ok(200, "history");
    assert_eq!(history.messages.len(), 1, "no rejected message was stored");
}

fn cases(list: &[(&str, ErrorCode)]) -> Vec<(String, ErrorCode)> {
    list.iter().map(|(f, c)| ((*f).to_owned(), *c)).collect()
}

#[tokio::test]
async fn invalid_json() {
    let mut w = world().await;
    let list = cases(&[
        ("nope", ErrorCode::InvalidJson),
        ("", ErrorCode::InvalidJson),
        ("[1,2]", ErrorCode::InvalidJson),
        ("\"get_online_friends\"", ErrorCode::InvalidJson),
        ("42", ErrorCode::InvalidJson),
        ("null", ErrorCode::InvalidJson),
        ("{", ErrorCode::InvalidJson),
        (r#"{"type":"get_online_friends""#, ErrorCode::InvalidJson),
        (
            r#"{"type":"get_online_friends"} trailing"#,
            ErrorCode::InvalidJson,
        ),
    ]);
    check(&mut w, &list).await;
}

#[tokio::test]
async fn unknown_type() {
    let mut w = world().await;
    let b = w.b.id;
    let list = vec![
        ("{}".to_owned(), ErrorCode::UnknownType),
        (r#"{"type":5}"#.to_owned(), ErrorCode::UnknownType),
        (r#"{"type":null}"#.to_owned(), ErrorCode::UnknownType),
        (r#"{"type":["typing"]}"#.to_owned(), ErrorCode::UnknownType),
        (r#"{"type":"dance"}"#.to_owned(), ErrorCode::UnknownType),
        (format!(r#"{{"receiver_id":{b}}}"#), ErrorCode::UnknownType),
        (
            format!(r#"{{"type":"Typing","receiver_id":{b}}}"#),
            ErrorCode::UnknownType,
        ),
        // A server event type is not a client message.
        (
            format!(r#"{{"type":"new_message","receiver_id":{b}}}"#),
            ErrorCode::UnknownType,
        ),
        // Precedence: an unknown type wins over a bad field.
        (
            r#"{"type":"dance","receiver_id":0}"#.to_owned(),
            ErrorCode::UnknownType,
        ),
    ];
    check(&mut w, &list).await;
}

#[tokio::test]
async fn invalid_field() {
    let mut w = world().await;
    let b = w.b.id;
    let mut list = Vec::new();
    for kind in ["typing", "stop_typing"] {
        for v in [
            "0",
            "-1",
            "9223372036854775808",
            "18446744073709551616",
            "1.5",
            "1e3",
            "\"2\"",
            "null",
            "[2]",
            "{}",
            "true",
        ] {
            list.push((
                format!(r#"{{"type":"{kind}","receiver_id":{v}}}"#),
                ErrorCode::InvalidField,
            ));
        }
        list.push((format!(r#"{{"type":"{kind}"}}"#), ErrorCode::InvalidField));
    }
    list.extend([
        (
            r#"{"type":"mark_read"}"#.to_owned(),
            ErrorCode::InvalidField,
        ),
        (
            r#"{"type":"mark_read","conversation_id":0}"#.to_owned(),
            ErrorCode::InvalidField,
        ),
        (
            r#"{"type":"mark_read","conversation_id":"1"}"#.to_owned(),
            ErrorCode::InvalidField,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{b}}}"#),
            ErrorCode::InvalidField,
        ),
        (
            r#"{"type":"send_message","content":"x"}"#.to_owned(),
            ErrorCode::InvalidField,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{b},"content":7}}"#),
            ErrorCode::InvalidField,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{b},"content":null}}"#),
            ErrorCode::InvalidField,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{b},"content":["x"]}}"#),
            ErrorCode::InvalidField,
        ),
        // Precedence: field checks come before the rules.
        (
            r#"{"type":"send_message","receiver_id":0,"content":""}"#.to_owned(),
            ErrorCode::InvalidField,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{MAX_ID},"content":5}}"#),
            ErrorCode::InvalidField,
        ),
    ]);
    check(&mut w, &list).await;
}

#[tokio::test]
async fn unknown_user() {
    let mut w = world().await;
    let list = vec![
        (
            format!(r#"{{"type":"typing","receiver_id":{MAX_ID}}}"#),
            ErrorCode::UnknownUser,
        ),
        (
            format!(r#"{{"type":"stop_typing","receiver_id":{MAX_ID}}}"#),
            ErrorCode::UnknownUser,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{MAX_ID},"content":"x"}}"#),
            ErrorCode::UnknownUser,
        ),
        (
            r#"{"type":"send_message","receiver_id":123456789,"content":"x"}"#.to_owned(),
            ErrorCode::UnknownUser,
        ),
        // Precedence: unknown_user before empty_content and content_too_long.
        (
            format!(r#"{{"type":"send_message","receiver_id":{MAX_ID},"content":""}}"#),
            ErrorCode::UnknownUser,
        ),
        (
            format!(
                r#"{{"type":"send_message","receiver_id":{MAX_ID},"content":"{}"}}"#,
                "x".repeat(5000)
            ),
            ErrorCode::UnknownUser,
        ),
    ];
    check(&mut w, &list).await;
}

#[tokio::test]
async fn self_target() {
    let mut w = world().await;
    let a = w.a.id;
    let list = vec![
        (
            format!(r#"{{"type":"typing","receiver_id":{a}}}"#),
            ErrorCode::SelfTarget,
        ),
        (
            format!(r#"{{"type":"stop_typing","receiver_id":{a}}}"#),
            ErrorCode::SelfTarget,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{a},"content":"me"}}"#),
            ErrorCode::SelfTarget,
        ),
        // Precedence: self_target before not_friends (one is never one's
        // own friend) and before the content rules.
        (
            format!(r#"{{"type":"send_message","receiver_id":{a},"content":""}}"#),
            ErrorCode::SelfTarget,
        ),
    ];
    check(&mut w, &list).await;
}

#[tokio::test]
async fn not_friends() {
    let mut w = world().await;
    let c = w.c.id;
    let list = vec![
        (
            format!(r#"{{"type":"typing","receiver_id":{c}}}"#),
            ErrorCode::NotFriends,
        ),
        (
            format!(r#"{{"type":"stop_typing","receiver_id":{c}}}"#),
            ErrorCode::NotFriends,
        ),
        (
            format!(r#"{{"type":"send_message","receiver_id":{c},"content":"hi"}}"#),
            ErrorCode::NotFriends,
        ),
        // Precedence: not_friends before the content rules.
        (
            format!(r#"{{"type":"send_message","receiver_id":{c},"content":""}}"#),
            ErrorCode::NotFriends,
        ),
        (
            format!(
                r#"{{"type":"send_message","receiver_id":{c},"content":"{}"}}"#,
                "x".repeat(5000)
            ),
            ErrorCode::NotFriends,
        ),
    ];
    check(&mut w, &list).await;
}

#[tokio::test]
async fn empty_content_and_content_too_long() {
    let mut w = world().await;
    let b = w.b.id;
    let list = vec![
        (
            format!(r#"{{"type":"send_message","receiver_id":{b},"content":""}}"#),
            ErrorCode::EmptyContent,
        ),
        (
            format!(
                r#"{{"type":"send_message","receiver_id":{b},"content":"{}"}}"#,
                "x".repeat(4097)
            ),
            ErrorCode::ContentTooLong,
        ),
        // Bytes, not characters: 2049 × "é" is 4098 bytes.
        (
            format!(
                r#"{{"type":"send_message","receiver_id":{b},"content":"{}"}}"#,
                "é".repeat(2049)
            ),
            ErrorCode::ContentTooLong,
        ),
    ];
    check(&mut w, &list).await;
}

#[tokio::test]
async fn mark_read_unknown_conversation_then_not_participant() {
    let mut w = world().await;
    let bc = w.bc;
    let ab = w.ab;
    assert_ne!(ab, bc);
    let list = vec![
        (
            format!(r#"{{"type":"mark_read","conversation_id":{MAX_ID}}}"#),
            ErrorCode::UnknownConversation,
        ),
        (
            format!(r#"{{"type":"mark_read","conversation_id":{bc}}}"#),
            ErrorCode::NotParticipant,
        ),
    ];
    check(&mut w, &list).await;
}

#[tokio::test]
async fn binary_frames_are_unsupported() {
    let mut w = world().await;
    let frame = serde_json::to_vec(&ClientMessage::GetOnlineFriends {}).expect("serializes");
    for bytes in [frame, vec![], vec![0, 159, 146, 150]] {
        w.a1.send_binary(bytes).await;
        w.a1.expect_error(ErrorCode::BinaryUnsupported).await;
        w.a1.round_trip().await;
    }
    tests::silent_all(&mut [&mut w.a2, &mut w.b1]).await;
}

#[tokio::test]
async fn a_rejected_frame_changes_nothing_for_the_receiver() {
    let mut w = world().await;
    w.a1.send(&ClientMessage::SendMessage {
        receiver_id: Id(w.b.id),
        content: String::new(),
    })
    .await;
    w.a1.expect_error(ErrorCode::EmptyContent).await;
    // The connection works for real messages afterwards.
    let m = w.a1.say(w.b.id, "after the error").await;
    w.b1.expect_new_message("the message after the error").await;
    assert_eq!(m.conversation_id, w.ab);
}
