//! §2 `send_message` → `new_message` (WS form) to every connection of both
//! participants, the sending one included; G3 ordering; implicit
//! conversations (§8); privacy (G4).

use server::protocol::rest::{ConversationCreated, CreateConversation, History};
use server::protocol::{ClientMessage, Id, ServerEvent};
use tests::{is_timestamp, TestServer};

#[tokio::test]
async fn new_message_ws_form_goes_to_every_connection_of_both_participants() {
    new_message_ws_form_goes_to_every_connection_of_both_participants_with(
        server::Config::default(),
    )
    .await;
}

/// [`new_message_ws_form_goes_to_every_connection_of_both_participants`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn new_message_ws_form_goes_to_every_connection_of_both_participants_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c), (&b, &c)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    // C is a friend of both but not in the conversation.
    let mut c1 = s.connect_confirmed(&c).await;
    // Drain the presence events the later connections caused.
    a1.round_trip_skipping().await;
    a2.round_trip_skipping().await;
    b1.round_trip_skipping().await;
    b2.round_trip_skipping().await;

    a1.send(&ClientMessage::SendMessage {
        receiver_id: Id(b.id),
        content: "héllo".to_owned(),
    })
    .await;
    let mut seen = Vec::new();
    for ws in [&mut a1, &mut a2, &mut b1, &mut b2] {
        let raw = ws.recv_value("the new_message").await;
        assert_eq!(raw["type"], "new_message", "{}: {raw}", ws.label);
        for field in [
            "message_id",
            "sender_id",
            "receiver_id",
            "content",
            "timestamp",
            "conversation_id",
        ] {
            assert!(
                raw.get(field).is_some(),
                "{}: the WS form lacks {field}: {raw}",
                ws.label
            );
        }
        assert_eq!(raw["sender_id"], a.id);
        assert_eq!(raw["receiver_id"], b.id);
        assert_eq!(raw["content"], "héllo");
        let ts = raw["timestamp"].as_str().expect("timestamp is a string");
        assert!(
            is_timestamp(ts),
            "timestamp {ts:?} is not YYYY-MM-DDTHH:MM:SS.ffffff"
        );
        assert!(raw["message_id"].as_u64().is_some_and(|id| id > 0));
        assert!(raw["conversation_id"].as_u64().is_some_and(|id| id > 0));
        seen.push(raw);
    }
    // Every connection got the same message.
    assert!(seen.windows(2).all(|w| w[0] == w[1]), "{seen:#?}");
    // G4: not to a third party, and nothing else anywhere.
    tests::silent_all(&mut [&mut c1, &mut a1]).await;
}

#[tokio::test]
async fn message_ids_increase_per_conversation_and_arrive_in_order() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    wa.round_trip_skipping().await;

    let mut ids = Vec::new();
    let mut conv = None;
    for i in 0..20 {
        // Alternate senders in one conversation.
        let m = if i % 2 == 0 {
            let m = wa.say(b.id, &format!("m{i}")).await;
            assert_eq!(wb.expect_new_message("A's message").await, m);
            m
        } else {
            let m = wb.say(a.id, &format!("m{i}")).await;
            assert_eq!(wa.expect_new_message("B's message").await, m);
            m
        };
        assert_eq!(
            *conv.get_or_insert(m.conversation_id),
            m.conversation_id,
            "one conversation"
        );
        ids.push(m.message_id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {ids:?}");
}

#[tokio::test]
async fn pipelined_messages_arrive_in_order_without_gaps_or_duplicates() {
    pipelined_messages_arrive_in_order_without_gaps_or_duplicates_with(server::Config::default())
        .await;
}

/// [`pipelined_messages_arrive_in_order_without_gaps_or_duplicates`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn pipelined_messages_arrive_in_order_without_gaps_or_duplicates_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    wa.round_trip_skipping().await;
    const N: usize = 200;
    for i in 0..N {
        wa.send(&ClientMessage::SendMessage {
            receiver_id: Id(b.id),
            content: format!("p{i}"),
        })
        .await;
    }
    for ws in [&mut wa, &mut wb] {
        let mut last = 0;
        for i in 0..N {
            let m = ws.expect_new_message("a pipelined message").await;
            assert_eq!(m.content, format!("p{i}"), "{}: G3 order", ws.label);
            assert!(m.message_id > last, "{}: G3 increasing ids", ws.label);
            last = m.message_id;
        }
    }
    // None twice.
    tests::silent_all(&mut [&mut wa, &mut wb]).await;
}

#[tokio::test]
async fn a_conversation_is_per_pair_and_both_directions_share_it() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    let mut wc = s.connect_confirmed(&c).await;
    wa.round_trip_skipping().await;
    let ab = wa.say(b.id, "to b").await;
    wb.expect_new_message("A's message").await;
    let ac = wa.say(c.id, "to c").await;
    wc.expect_new_message("A's message").await;
    assert_ne!(ab.conversation_id, ac.conversation_id);
    let ba = wb.say(a.id, "back").await;
    wa.expect_new_message("B's reply").await;
    assert_eq!(ba.conversation_id, ab.conversation_id);
    // B never sees the A–C conversation.
    wb.silent().await;
}

#[tokio::test]
async fn an_implicit_conversation_sends_no_new_conversation_and_is_the_pairs() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    wa.round_trip_skipping().await;
    let m = wa.say(b.id, "first").await;
    wb.expect_new_message("the first message").await;
    // §8: no new_conversation for an implicit conversation.
    tests::silent_all(&mut [&mut wb, &mut wa]).await;
    // The REST endpoint finds the same conversation (200, not 201).
    let created: ConversationCreated = s
        .rest(&b)
        .post(
            "/create_conversation",
            &CreateConversation {
                other_user_id: Id(a.id),
            },
        )
        .await
        .ok(200, "existing conversation");
    assert_eq!(created.conversation_id, m.conversation_id);
}

#[tokio::test]
async fn a_message_to_an_offline_friend_is_stored() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let m = wa.say(b.id, "while you were away").await;
    let history: History = s
        .rest(&b)
        .history(m.conversation_id, None, None)
        .await
        .ok(200, "history");
    assert_eq!(history.messages.len(), 1);
    assert_eq!(history.messages[0].message_id, m.message_id);
    assert_eq!(history.messages[0].sender_id, a.id);
    assert_eq!(history.messages[0].content, "while you were away");
}

#[tokio::test]
async fn content_of_exactly_4096_bytes_is_accepted() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    wa.say(b.id, &"x".repeat(4096)).await;
    // Multi-byte: 2048 × "é" is 4096 bytes.
    wa.say(b.id, &"é".repeat(2048)).await;
}

#[tokio::test]
async fn unknown_fields_in_client_messages_are_ignored() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    wa.send_raw(&format!(
        r#"{{"type":"send_message","receiver_id":{},"content":"x","extra":{{"deep":[1,2]}},"media_ids":[3]}}"#,
        b.id
    ))
    .await;
    let m = wa.expect_new_message("the echo").await;
    assert_eq!(m.content, "x");
    wa.send_raw(r#"{"type":"get_online_friends","foo":"bar"}"#)
        .await;
    wa.expect_event("online_friends", |e| {
        matches!(e, ServerEvent::OnlineFriends { .. }).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_see_one_order_per_conversation() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    let b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    a1.round_trip_skipping().await;
    a2.round_trip_skipping().await;
    const N: usize = 100;
    // A and B pipeline N messages each to the other at the same time.
    let sender = |mut ws: tests::WsClient, to: u64, tag: &'static str| async move {
        for i in 0..N {
            ws.send(&ClientMessage::SendMessage {
                receiver_id: Id(to),
                content: format!("{tag}{i}"),
            })
            .await;
        }
        ws
    };
    let (ra, rb) = tokio::join!(
        tokio::spawn(sender(a1, b.id, "a")),
        tokio::spawn(sender(b1, a.id, "b"))
    );
    let mut a1 = ra.expect("A's sender");
    let mut b1 = rb.expect("B's sender");
    let mut orders = Vec::new();
    for ws in [&mut a1, &mut a2, &mut b1, &mut b2] {
        let mut ids = Vec::new();
        for _ in 0..2 * N {
            ids.push(ws.expect_new_message("one of the 2N messages").await);
        }
        // G3: increasing ids, so none twice; each sender's own order kept.
        assert!(
            ids.windows(2).all(|w| w[0].message_id < w[1].message_id),
            "{}: G3 order",
            ws.label
        );
        for tag in ["a", "b"] {
            let mine: Vec<&str> = ids
                .iter()
                .filter(|m| m.content.starts_with(tag))
                .map(|m| m.content.as_str())
                .collect();
            let expected: Vec<String> = (0..N).map(|i| format!("{tag}{i}")).collect();
            assert_eq!(mine, expected, "{}: {tag}'s messages", ws.label);
        }
        orders.push(ids.iter().map(|m| m.message_id).collect::<Vec<_>>());
    }
    // Every connection saw the same sequence.
    assert!(orders.windows(2).all(|w| w[0] == w[1]));
    tests::silent_all(&mut [&mut a1, &mut a2, &mut b1, &mut b2]).await;
}
