//! §6 Messages over REST: `POST /conversation/send_message` (201, the REST
//! form of `new_message` to the receiver only), `POST
//! /conversation/delete_message` (author only, `delete_message` to the other
//! participant), and the history (`after_id`, `limit` default 100 and clamp
//! 500, ascending; G5).

use server::protocol::rest::{
    ConversationCreated, CreateConversation, DeleteMessage, History, MessageCreated,
    RestSendMessage,
};
use server::protocol::{ErrorCode, Id, ServerEvent};
use tests::{is_timestamp, Reply, Rest, TestServer, User};

async fn conversation(s: &TestServer, a: &User, b: &User) -> u64 {
    let reply = s
        .rest(a)
        .post(
            "/create_conversation",
            &CreateConversation {
                other_user_id: Id(b.id),
            },
        )
        .await;
    let created: ConversationCreated = if reply.status == 201 {
        reply.ok(201, "create")
    } else {
        reply.ok(200, "create (existing)")
    };
    created.conversation_id
}

async fn send(rest: &Rest, conversation_id: u64, content: &str, media_ids: Vec<u64>) -> Reply {
    rest.post(
        "/conversation/send_message",
        &RestSendMessage {
            conversation_id: Id(conversation_id),
            content: content.to_owned(),
            media_ids,
        },
    )
    .await
}

async fn delete(rest: &Rest, message_id: u64) -> Reply {
    rest.post(
        "/conversation/delete_message",
        &DeleteMessage {
            message_id: Id(message_id),
        },
    )
    .await
}

#[tokio::test]
async fn rest_send_is_201_and_pushes_the_rest_form_to_the_receiver_only() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c), (&b, &c)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    for ws in [&mut a1, &mut b1, &mut b2] {
        ws.round_trip_skipping().await;
    }
    let conv = conversation(&s, &a, &b).await;
    b1.round_trip_skipping().await; // the new_conversation
    b2.round_trip_skipping().await;

    let created: MessageCreated = send(&s.rest(&a), conv, "over rest", vec![4, 5])
        .await
        .ok(201, "send");
    assert!(created.message_id > 0);
    assert!(
        is_timestamp(&created.created_at),
        "created_at {:?} is not YYYY-MM-DDTHH:MM:SS.ffffff",
        created.created_at
    );
    for ws in [&mut b1, &mut b2] {
        let raw = ws.recv_value("the REST-form new_message").await;
        assert_eq!(raw["type"], "new_message", "{raw}");
        for field in [
            "conversation_id",
            "message_id",
            "sender_id",
            "content",
            "created_at",
            "media_ids",
        ] {
            assert!(
                raw.get(field).is_some(),
                "the REST form lacks {field}: {raw}"
            );
        }
        assert_eq!(raw["conversation_id"], conv);
        assert_eq!(raw["message_id"], created.message_id);
        assert_eq!(raw["sender_id"], a.id);
        assert_eq!(raw["content"], "over rest");
        assert_eq!(raw["created_at"], created.created_at.as_str());
        assert_eq!(raw["media_ids"], serde_json::json!([4, 5]));
    }
    // The history has the same message with the same created_at.
    let h: History = s
        .rest(&b)
        .history(conv, None, None)
        .await
        .ok(200, "history");
    assert_eq!(h.messages.len(), 1);
    assert_eq!(h.messages[0].message_id, created.message_id);
    assert_eq!(h.messages[0].created_at, created.created_at);
    assert_eq!(h.messages[0].media_ids, vec![4, 5]);
    // Not to the sender (the REST form goes to the receiver only), not to C.
    tests::silent_all(&mut [&mut a1, &mut c1]).await;
}

#[tokio::test]
async fn rest_send_rules() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&b, &c)]).await;
    let conv = conversation(&s, &a, &b).await;
    let ra = s.rest(&a);
    let mut b1 = s.connect_confirmed(&b).await;
    send(&ra, conv, "", vec![])
        .await
        .err(400, ErrorCode::EmptyContent, "empty content");
    send(&ra, conv, &"x".repeat(4097), vec![]).await.err(
        400,
        ErrorCode::ContentTooLong,
        "content too long",
    );
    send(&ra, conv, "ok", (1..=11).collect()).await.err_any(
        400,
        &[ErrorCode::InvalidField, ErrorCode::InvalidBody],
        "11 media ids",
    );
    send(&s.rest(&c), conv, "intruder", vec![]).await.err_any(
        403,
        &[ErrorCode::NotParticipant, ErrorCode::Forbidden],
        "send by a non-participant",
    );
    send(&ra, i64::MAX as u64, "lost", vec![]).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownConversation],
        "send to an unknown conversation",
    );
    for body in [
        format!(r#"{{"conversation_id":{conv}}}"#),
        format!(r#"{{"conversation_id":{conv},"content":5}}"#),
        r#"{"conversation_id":0,"content":"x"}"#.to_owned(),
        format!(r#"{{"conversation_id":{conv},"content":"x","media_ids":"1"}}"#),
    ] {
        ra.post_raw("/conversation/send_message", body.clone())
            .await
            .err_any(
                400,
                &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
                &body,
            );
    }
    // Nothing was pushed or stored.
    b1.silent().await;
    let h: History = ra.history(conv, None, None).await.ok(200, "history");
    assert!(h.messages.is_empty(), "{h:?}");
    // Boundaries that pass: 4096 bytes, 10 media ids, no media_ids field.
    send(&ra, conv, &"x".repeat(4096), (1..=10).collect())
        .await
        .status(201, "4096 bytes and 10 media ids");
    ra.post_raw(
        "/conversation/send_message",
        format!(r#"{{"conversation_id":{conv},"content":"no media"}}"#),
    )
    .await
    .status(201, "media_ids is optional");
    let h: History = ra.history(conv, None, None).await.ok(200, "history");
    assert_eq!(h.messages.len(), 2);
    assert_eq!(h.messages[0].media_ids, (1..=10).collect::<Vec<u64>>());
    assert!(h.messages[1].media_ids.is_empty());
}

#[tokio::test]
async fn delete_message_is_for_the_author_and_tells_the_other_participant() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&b, &c)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    a1.round_trip_skipping().await;
    b1.round_trip_skipping().await;
    let m1 = a1.say(b.id, "keep").await;
    let m2 = a1.say(b.id, "delete me").await;
    b1.expect_new_message("m1").await;
    b1.expect_new_message("m2").await;

    delete(&s.rest(&b), m2.message_id).await.err(
        403,
        ErrorCode::Forbidden,
        "delete by the other participant",
    );
    delete(&s.rest(&c), m2.message_id).await.err_any(
        403,
        &[ErrorCode::Forbidden, ErrorCode::NotParticipant],
        "delete by a stranger",
    );
    delete(&s.rest(&a), i64::MAX as u64).await.err(
        404,
        ErrorCode::NotFound,
        "delete an unknown message",
    );
    tests::silent_all(&mut [&mut a1, &mut b1]).await;

    delete(&s.rest(&a), m2.message_id)
        .await
        .status(200, "delete");
    b1.expect(&ServerEvent::DeleteMessage {
        message_id: m2.message_id,
    })
    .await;
    tests::silent_all(&mut [&mut a1, &mut c1]).await;
    let h: History = s
        .rest(&b)
        .history(m1.conversation_id, None, None)
        .await
        .ok(200, "history");
    let ids: Vec<u64> = h.messages.iter().map(|m| m.message_id).collect();
    assert_eq!(ids, vec![m1.message_id]);
    delete(&s.rest(&a), m2.message_id)
        .await
        .err(404, ErrorCode::NotFound, "delete twice");
    // A deleted message no longer counts as unread.
    let convs: server::protocol::rest::Conversations = s
        .rest(&b)
        .get("/conversations")
        .await
        .ok(200, "conversations");
    let unread: Vec<u64> = convs.conversations.iter().map(|c| c.unread_count).collect();
    assert_eq!(
        unread,
        vec![1],
        "B's unread count after A deleted one of two"
    );
}

#[tokio::test]
async fn history_pages_with_after_id_and_limit() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let conv = conversation(&s, &a, &b).await;
    let ra = s.rest(&a);
    let mut ids = Vec::new();
    for i in 0..120 {
        let m: MessageCreated = send(&ra, conv, &format!("h{i}"), vec![])
            .await
            .ok(201, "send");
        ids.push(m.message_id);
    }
    let page = |h: History| h.messages.iter().map(|m| m.message_id).collect::<Vec<_>>();

    // Default limit 100, ascending from the start.
    let h: History = ra.history(conv, None, None).await.ok(200, "default");
    assert_eq!(page(h), ids[..100]);
    let h: History = ra.history(conv, None, Some(5)).await.ok(200, "limit 5");
    assert_eq!(page(h), ids[..5]);
    let h: History = ra
        .history(conv, Some(ids[9]), Some(3))
        .await
        .ok(200, "after");
    assert_eq!(page(h), ids[10..13]);
    let h: History = ra.history(conv, Some(ids[99]), None).await.ok(200, "rest");
    assert_eq!(page(h), ids[100..]);
    let h: History = ra.history(conv, Some(ids[119]), None).await.ok(200, "end");
    assert!(h.messages.is_empty());
    let h: History = ra.history(conv, Some(0), Some(1000)).await.ok(200, "all");
    assert_eq!(page(h), ids);
    let h: History = s.rest(&b).history(conv, None, Some(500)).await.ok(200, "b");
    let contents: Vec<String> = h.messages.iter().map(|m| m.content.clone()).collect();
    let expected: Vec<String> = (0..120).map(|i| format!("h{i}")).collect();
    assert_eq!(contents, expected);
    assert!(h.messages.iter().all(|m| m.sender_id == a.id && !m.read));
    assert!(h.messages.iter().all(|m| is_timestamp(&m.created_at)));

    // Rules.
    s.rest(&c).history(conv, None, None).await.err_any(
        403,
        &[ErrorCode::NotParticipant, ErrorCode::Forbidden],
        "history of a stranger",
    );
    ra.history(i64::MAX as u64, None, None).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownConversation],
        "history of an unknown conversation",
    );
    ra.get(&format!("/conversation/{conv}/messages?limit=abc"))
        .await
        .err_any(
            400,
            &[ErrorCode::InvalidBody, ErrorCode::InvalidField],
            "a bad limit",
        );
}

#[tokio::test]
async fn history_limit_is_clamped_to_500() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    // 510 messages, pipelined over one WebSocket, then their echoes.
    const N: usize = 510;
    for i in 0..N {
        wa.send(&server::protocol::ClientMessage::SendMessage {
            receiver_id: Id(b.id),
            content: format!("c{i}"),
        })
        .await;
    }
    let mut conv = 0;
    for _ in 0..N {
        conv = wa.expect_new_message("an echo").await.conversation_id;
    }
    let h: History = s
        .rest(&a)
        .history(conv, None, Some(100_000))
        .await
        .ok(200, "limit 100000");
    assert_eq!(h.messages.len(), 500);
    let h: History = s
        .rest(&a)
        .history(conv, None, Some(501))
        .await
        .ok(200, "501");
    assert_eq!(h.messages.len(), 500);
}

#[tokio::test]
async fn history_holds_every_accepted_message_from_both_paths() {
    history_holds_every_accepted_message_from_both_paths_with(server::Config::default()).await;
}

/// [`history_holds_every_accepted_message_from_both_paths`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn history_holds_every_accepted_message_from_both_paths_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    wa.round_trip_skipping().await;
    let conv = conversation(&s, &a, &b).await;
    wb.round_trip_skipping().await; // the new_conversation
    let rb = s.rest(&b);
    let mut expected = Vec::new();
    for i in 0..60 {
        match i % 3 {
            0 => {
                let m = wa.say(b.id, &format!("ws-a{i}")).await;
                wb.expect_new_message("A's WS message").await;
                expected.push((m.message_id, a.id, m.content));
            }
            1 => {
                let m = wb.say(a.id, &format!("ws-b{i}")).await;
                wa.expect_new_message("B's WS message").await;
                expected.push((m.message_id, b.id, m.content));
            }
            _ => {
                let content = format!("rest-b{i}");
                let m: MessageCreated = send(&rb, conv, &content, vec![]).await.ok(201, "send");
                let pushed = wa.expect_new_message("B's REST message").await;
                assert_eq!(pushed.message_id, m.message_id);
                expected.push((m.message_id, b.id, content));
            }
        }
    }
    let h: History = s
        .rest(&a)
        .history(conv, None, Some(500))
        .await
        .ok(200, "history");
    let got: Vec<(u64, u64, String)> = h
        .messages
        .into_iter()
        .map(|m| (m.message_id, m.sender_id, m.content))
        .collect();
    assert_eq!(
        got, expected,
        "G5: the history is every accepted message, in order"
    );
    // Ids increase with the order of acceptance (G3).
    assert!(got.windows(2).all(|w| w[0].0 < w[1].0));
}
