//! The retention bound (`--history-per-conversation N`, docs/server-hardening.md):
//! a conversation keeps its last N messages, evicted oldest first; history
//! returns exactly those; an evicted message is gone from every view (delete
//! by id says 404, unread counts drop it) and the gauges say so. Delivery is
//! untouched: every message is still pushed live.

use server::protocol::rest::{
    ConversationCreated, CreateConversation, DeleteMessage, History, MessageCreated,
    RestSendMessage,
};
use server::protocol::{ErrorCode, Id};
use tests::metrics::Scrape;
use tests::TestServer;

#[tokio::test]
async fn a_conversation_keeps_its_last_n_messages() {
    const N: u32 = 3;
    let s = TestServer::with_config(server::Config {
        history_per_conversation: N,
        ..server::Config::default()
    })
    .await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let (ra, rb) = (s.rest(&a), s.rest(&b));
    let created: ConversationCreated = ra
        .post(
            "/create_conversation",
            &CreateConversation {
                other_user_id: Id(b.id),
            },
        )
        .await
        .ok(201, "create");
    let conv = created.conversation_id;
    wb.round_trip_skipping().await; // the new_conversation
    let mut ids = Vec::new();
    for i in 0..7 {
        let m: MessageCreated = ra
            .post(
                "/conversation/send_message",
                &RestSendMessage {
                    conversation_id: Id(conv),
                    content: format!("m{i}"),
                    media_ids: vec![],
                },
            )
            .await
            .ok(201, "send");
        // Delivery is not bounded: every message is pushed.
        let pushed = wb.expect_new_message("the live push").await;
        assert_eq!(pushed.message_id, m.message_id);
        ids.push(m.message_id);
    }
    let page = |h: History| h.messages.iter().map(|m| m.message_id).collect::<Vec<_>>();
    let h: History = rb.history(conv, None, Some(500)).await.ok(200, "history");
    assert_eq!(page(h), ids[4..], "the last N, ascending");
    // after_id older than the window: the window, not an error.
    let h: History = rb.history(conv, Some(ids[0]), None).await.ok(200, "after");
    assert_eq!(page(h), ids[4..]);
    // Unread counts only what is kept.
    let list = rb.get("/conversations").await.value();
    assert_eq!(
        list["conversations"][0]["unread_count"],
        serde_json::json!(N),
        "{list}"
    );

    // An evicted message is gone: deleting it is 404, like an unknown id.
    ra.post(
        "/conversation/delete_message",
        &DeleteMessage {
            message_id: Id(ids[0]),
        },
    )
    .await
    .err_any(404, &[ErrorCode::NotFound], "delete an evicted message");
    // Deleting a kept one frees a slot: the next message evicts nothing.
    ra.post(
        "/conversation/delete_message",
        &DeleteMessage {
            message_id: Id(ids[5]),
        },
    )
    .await
    .status(200, "delete a kept message");
    let m: MessageCreated = ra
        .post(
            "/conversation/send_message",
            &RestSendMessage {
                conversation_id: Id(conv),
                content: "last".to_owned(),
                media_ids: vec![],
            },
        )
        .await
        .ok(201, "send");
    let h: History = rb.history(conv, None, None).await.ok(200, "history");
    assert_eq!(page(h), vec![ids[4], ids[6], m.message_id]);

    let metrics = s.rest_with_token(None).get("/metrics").await;
    let scrape = Scrape::parse(&metrics.body);
    assert_eq!(
        scrape.get("chat_messages_stored"),
        f64::from(N),
        "{}",
        metrics.body
    );
    assert_eq!(
        scrape.get("chat_messages_evicted_total"),
        4.0,
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn the_bound_is_per_conversation() {
    let s = TestServer::with_config(server::Config {
        history_per_conversation: 2,
        ..server::Config::default()
    })
    .await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let mut wa = s.connect_confirmed(&a).await;
    let (mut to_b, mut to_c) = (Vec::new(), Vec::new());
    for i in 0..4 {
        to_b.push(wa.say(b.id, &format!("b{i}")).await);
        if i < 2 {
            to_c.push(wa.say(c.id, &format!("c{i}")).await);
        }
    }
    let ids = |h: History| h.messages.iter().map(|m| m.message_id).collect::<Vec<_>>();
    let hb: History = s
        .rest(&b)
        .history(to_b[0].conversation_id, None, None)
        .await
        .ok(200, "b");
    assert_eq!(ids(hb), vec![to_b[2].message_id, to_b[3].message_id]);
    // A's messages to B evicted nothing of A's conversation with C.
    let hc: History = s
        .rest(&c)
        .history(to_c[0].conversation_id, None, None)
        .await
        .ok(200, "c");
    assert_eq!(ids(hc), vec![to_c[0].message_id, to_c[1].message_id]);
}
