//! §6 Conversations: `POST /create_conversation` (201 then 200 with the same
//! id, `new_conversation` only when created, friends only),
//! `POST /delete_conversation` (`conversation_deleted` to the other
//! participant) and `GET /conversations`.

use server::protocol::rest::{
    ConversationCreated, Conversations, CreateConversation, DeleteConversation, History,
};
use server::protocol::{ErrorCode, Id, ServerEvent};
use tests::{Reply, Rest, TestServer};

async fn create(rest: &Rest, other: u64) -> Reply {
    rest.post(
        "/create_conversation",
        &CreateConversation {
            other_user_id: Id(other),
        },
    )
    .await
}

async fn delete(rest: &Rest, conversation_id: u64) -> Reply {
    rest.post(
        "/delete_conversation",
        &DeleteConversation {
            conversation_id: Id(conversation_id),
        },
    )
    .await
}

#[tokio::test]
async fn create_is_201_then_200_with_the_same_id_and_one_event() {
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

    let created: ConversationCreated = create(&s.rest(&a), b.id).await.ok(201, "create");
    let expected = ServerEvent::NewConversation {
        conversation_id: created.conversation_id,
        other_user_id: a.id,
    };
    b1.expect(&expected).await;
    b2.expect(&expected).await;
    tests::silent_all(&mut [&mut a1, &mut c1]).await;

    // Again, from either side: 200, the same id, no event.
    let again: ConversationCreated = create(&s.rest(&a), b.id).await.ok(200, "create again");
    assert_eq!(again, created);
    let reverse: ConversationCreated = create(&s.rest(&b), a.id).await.ok(200, "create reversed");
    assert_eq!(reverse, created);
    tests::silent_all(&mut [&mut a1, &mut b1, &mut b2]).await;

    // Another pair gets another conversation.
    let other: ConversationCreated = create(&s.rest(&a), c.id).await.ok(201, "create A–C");
    assert_ne!(other.conversation_id, created.conversation_id);
    c1.expect(&ServerEvent::NewConversation {
        conversation_id: other.conversation_id,
        other_user_id: a.id,
    })
    .await;
}

#[tokio::test]
async fn create_is_for_friends_only_and_not_with_oneself() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    let mut b1 = s.connect_confirmed(&b).await;
    let ra = s.rest(&a);
    create(&ra, b.id)
        .await
        .err(403, ErrorCode::NotFriends, "create with a stranger");
    create(&ra, a.id)
        .await
        .err(400, ErrorCode::SelfTarget, "create with oneself");
    create(&ra, i64::MAX as u64).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownUser],
        "create with an unknown user",
    );
    b1.silent().await;
    let convs: Conversations = ra.get("/conversations").await.ok(200, "conversations");
    assert!(convs.conversations.is_empty(), "{convs:?}");
}

#[tokio::test]
async fn conversations_lists_each_with_the_other_user() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let ab: ConversationCreated = create(&s.rest(&a), b.id).await.ok(201, "A–B");
    let ac: ConversationCreated = create(&s.rest(&c), a.id).await.ok(201, "C–A");
    let convs: Conversations = s.rest(&a).get("/conversations").await.ok(200, "list");
    let mut rows: Vec<_> = convs
        .conversations
        .iter()
        .map(|c| (c.conversation_id, c.other_user_id, c.unread_count))
        .collect();
    rows.sort_unstable();
    let mut expected = vec![(ab.conversation_id, b.id, 0), (ac.conversation_id, c.id, 0)];
    expected.sort_unstable();
    assert_eq!(rows, expected);
    let convs: Conversations = s.rest(&b).get("/conversations").await.ok(200, "list");
    assert_eq!(convs.conversations.len(), 1);
    assert_eq!(convs.conversations[0].other_user_id, a.id);
}

#[tokio::test]
async fn delete_sends_conversation_deleted_to_the_other_participant() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&b, &c)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    for ws in [&mut a1, &mut b1, &mut b2] {
        ws.round_trip_skipping().await;
    }
    let m = a1.say(b.id, "soon gone").await;
    b1.expect_new_message("the message").await;
    b2.expect_new_message("the message").await;
    let conv = m.conversation_id;

    // A stranger to the conversation may not delete it.
    delete(&s.rest(&c), conv).await.err_any(
        403,
        &[ErrorCode::NotParticipant, ErrorCode::Forbidden],
        "delete by a non-participant",
    );
    delete(&s.rest(&a), i64::MAX as u64).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownConversation],
        "delete an unknown conversation",
    );
    b1.silent().await;

    delete(&s.rest(&a), conv).await.status(200, "delete");
    let expected = ServerEvent::ConversationDeleted {
        conversation_id: conv,
    };
    b1.expect(&expected).await;
    b2.expect(&expected).await;
    tests::silent_all(&mut [&mut a1, &mut c1]).await;

    // Gone for both.
    for user in [&a, &b] {
        let convs: Conversations = s.rest(user).get("/conversations").await.ok(200, "list");
        assert!(
            convs
                .conversations
                .iter()
                .all(|c| c.conversation_id != conv),
            "{convs:?}"
        );
        s.rest(user).history(conv, None, None).await.err_any(
            404,
            &[ErrorCode::NotFound, ErrorCode::UnknownConversation],
            "history of a deleted conversation",
        );
    }
    delete(&s.rest(&b), conv).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownConversation],
        "delete twice",
    );
    // Marking it read is now an unknown conversation.
    a1.send(&server::protocol::ClientMessage::MarkRead {
        conversation_id: Id(conv),
    })
    .await;
    a1.expect_error(ErrorCode::UnknownConversation).await;

    // A new message makes a new, empty-history conversation.
    let m2 = a1.say(b.id, "fresh").await;
    let h: History = s
        .rest(&b)
        .history(m2.conversation_id, None, None)
        .await
        .ok(200, "history");
    assert_eq!(h.messages.len(), 1);
    assert_eq!(h.messages[0].content, "fresh");
}
