//! §2 `mark_read` → `messages_read` to every connection of the other
//! participant, always; `read` flags and `unread_count` in REST (§8).

use server::protocol::rest::{Conversations, History};
use server::protocol::{ClientMessage, Id, ServerEvent};
use tests::TestServer;

fn unread(convs: &Conversations, conversation_id: u64) -> u64 {
    convs
        .conversations
        .iter()
        .find(|c| c.conversation_id == conversation_id)
        .unwrap_or_else(|| panic!("conversation {conversation_id} listed: {convs:?}"))
        .unread_count
}

#[tokio::test]
async fn mark_read_sends_messages_read_to_every_connection_of_the_other_participant() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&b, &c)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    for ws in [&mut a1, &mut a2, &mut b1, &mut b2] {
        ws.round_trip_skipping().await;
    }
    let m = a1.say(b.id, "read me").await;
    a2.expect_new_message("the message").await;
    b1.expect_new_message("the message").await;
    b2.expect_new_message("the message").await;

    b1.send(&ClientMessage::MarkRead {
        conversation_id: Id(m.conversation_id),
    })
    .await;
    let read = ServerEvent::MessagesRead {
        conversation_id: m.conversation_id,
        user_id: b.id,
    };
    a1.expect(&read).await;
    a2.expect(&read).await;
    // Not to the reader, not to a third party.
    b1.round_trip().await;
    tests::silent_all(&mut [&mut b2, &mut c1]).await;
}

#[tokio::test]
async fn mark_read_is_sent_even_when_nothing_was_unread() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    a1.round_trip_skipping().await;
    // A marks its own conversation read: only A's messages are in it, so
    // nothing of B's was unread. B still gets messages_read, twice.
    let m = a1.say(b.id, "mine").await;
    b1.expect_new_message("the message").await;
    for _ in 0..2 {
        a1.send(&ClientMessage::MarkRead {
            conversation_id: Id(m.conversation_id),
        })
        .await;
        b1.expect(&ServerEvent::MessagesRead {
            conversation_id: m.conversation_id,
            user_id: a.id,
        })
        .await;
    }
}

#[tokio::test]
async fn read_flags_and_unread_counts_follow_mark_read() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    a1.round_trip_skipping().await;
    let m1 = a1.say(b.id, "one").await;
    let m2 = a1.say(b.id, "two").await;
    for _ in 0..2 {
        b1.expect_new_message("A's messages").await;
    }
    let r1 = b1.say(a.id, "reply").await;
    a1.expect_new_message("B's reply").await;
    let conv = m1.conversation_id;

    let rb = s.rest(&b);
    let ra = s.rest(&a);
    assert_eq!(
        unread(&rb.get("/conversations").await.ok(200, "b convs"), conv),
        2
    );
    assert_eq!(
        unread(&ra.get("/conversations").await.ok(200, "a convs"), conv),
        1
    );

    b1.send(&ClientMessage::MarkRead {
        conversation_id: Id(conv),
    })
    .await;
    a1.expect_event("messages_read", |e| {
        matches!(e, ServerEvent::MessagesRead { .. }).then_some(())
    })
    .await;
    // A message after the mark stays unread.
    let m3 = a1.say(b.id, "three").await;
    b1.expect_new_message("the third").await;

    assert_eq!(
        unread(&rb.get("/conversations").await.ok(200, "b convs"), conv),
        1
    );
    assert_eq!(
        unread(&ra.get("/conversations").await.ok(200, "a convs"), conv),
        1
    );
    let history: History = ra.history(conv, None, None).await.ok(200, "history");
    let flags: Vec<(u64, bool)> = history
        .messages
        .iter()
        .map(|m| (m.message_id, m.read))
        .collect();
    assert_eq!(
        flags,
        vec![
            (m1.message_id, true),
            (m2.message_id, true),
            // B's reply: A has not marked anything read.
            (r1.message_id, false),
            (m3.message_id, false),
        ]
    );
    // Both participants see the same flags.
    let hb: History = rb.history(conv, None, None).await.ok(200, "history");
    assert_eq!(hb, history);

    a1.send(&ClientMessage::MarkRead {
        conversation_id: Id(conv),
    })
    .await;
    b1.expect(&ServerEvent::MessagesRead {
        conversation_id: conv,
        user_id: a.id,
    })
    .await;
    assert_eq!(
        unread(&ra.get("/conversations").await.ok(200, "a convs"), conv),
        0
    );
    let history: History = ra.history(conv, None, None).await.ok(200, "history");
    assert!(history.messages[2].read, "B's reply is read now");
}

#[tokio::test]
async fn mark_read_with_the_other_participant_offline_still_marks() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let m = a1.say(b.id, "hi").await;
    a1.close().await;
    let mut b1 = s.connect_confirmed(&b).await;
    b1.send(&ClientMessage::MarkRead {
        conversation_id: Id(m.conversation_id),
    })
    .await;
    b1.round_trip().await;
    let convs: Conversations = s.rest(&b).get("/conversations").await.ok(200, "convs");
    assert_eq!(unread(&convs, m.conversation_id), 0);
}
