//! Limits: §1 one connection too many (4011), §8 a message over 64 KiB
//! (1009), §5 a slow consumer (4010) — each closes one socket and leaves the
//! others working.

use server::protocol::rest::History;
use server::protocol::{close, ClientMessage, Id, ServerEvent, Status};
use server::Config;
use std::time::Duration;
use tests::{TestServer, User};

#[tokio::test]
async fn the_17th_connection_of_a_user_is_closed_4011() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let mut open = Vec::new();
    for _ in 0..16 {
        open.push(s.connect_confirmed(&a).await);
    }
    wb.expect(&ServerEvent::FriendStatusChange {
        user_id: a.id,
        status: Status::Online,
    })
    .await;
    let mut extra = s.connect(&a).await;
    let reason = extra.expect_close(close::TOO_MANY_CONNECTIONS).await;
    assert_eq!(reason, "too many connections");
    // The 16 still work, and B heard nothing (no offline, no second online).
    for ws in &mut open {
        ws.round_trip().await;
    }
    wb.silent().await;
    // Closing one frees a slot.
    open.pop().expect("16 open").close().await;
    let mut again = s.connect_confirmed(&a).await;
    again.round_trip().await;
    wb.silent().await;
}

#[tokio::test]
async fn the_connection_cap_is_configurable() {
    let s = TestServer::with_config(Config {
        max_connections_per_user: 2,
        ..Config::default()
    })
    .await;
    let [a, b] = s.users_n().await;
    let _a1 = s.connect_confirmed(&a).await;
    let _a2 = s.connect_confirmed(&a).await;
    s.connect(&a)
        .await
        .expect_close(close::TOO_MANY_CONNECTIONS)
        .await;
    // Per user: B is not affected.
    s.connect_confirmed(&b).await;
}

/// A text message of exactly `len` bytes that is a valid
/// `get_online_friends` (padded with an unknown field).
fn padded_request(len: usize) -> String {
    let head = r#"{"type":"get_online_friends","pad":""#;
    let tail = r#""}"#;
    let pad = len - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad))
}

#[tokio::test]
async fn a_message_of_exactly_64_kib_is_accepted() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut ws = s.connect_confirmed(&a).await;
    ws.send_raw(&padded_request(65536)).await;
    ws.expect_event("the online_friends reply to a 64 KiB frame", |e| {
        matches!(e, ServerEvent::OnlineFriends { .. }).then_some(())
    })
    .await;
}

/// Opens two connections for a user with a friend watching; returns
/// (victim, sibling, friend-watching).
async fn victim_setup(s: &TestServer) -> (User, tests::WsClient, tests::WsClient, tests::WsClient) {
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let victim = s.connect_confirmed(&a).await;
    let sibling = s.connect_confirmed(&a).await;
    wb.expect(&ServerEvent::FriendStatusChange {
        user_id: a.id,
        status: Status::Online,
    })
    .await;
    (a, victim, sibling, wb)
}

#[tokio::test]
async fn a_text_message_over_64_kib_closes_1009() {
    let s = TestServer::start().await;
    let (_a, mut victim, mut sibling, mut wb) = victim_setup(&s).await;
    victim.send_raw(&padded_request(65537)).await;
    victim.expect_close(close::MESSAGE_TOO_BIG).await;
    // The user's other connection and the friend are unaffected.
    sibling.round_trip().await;
    wb.silent().await;
}

#[tokio::test]
async fn a_fragmented_message_over_64_kib_closes_1009() {
    let s = TestServer::start().await;
    let (_a, mut victim, mut sibling, _wb) = victim_setup(&s).await;
    // Three frames of 30 000 bytes: each is small, the message is not.
    let text = padded_request(90_000);
    victim.send_fragmented(text.as_bytes(), 30_000).await;
    victim.expect_close(close::MESSAGE_TOO_BIG).await;
    sibling.round_trip().await;
}

#[tokio::test]
async fn a_fragmented_message_under_64_kib_is_reassembled() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut ws = s.connect_confirmed(&a).await;
    let text = padded_request(60_000);
    ws.send_fragmented(text.as_bytes(), 7_000).await;
    ws.expect_event("the reply to a fragmented request", |e| {
        matches!(e, ServerEvent::OnlineFriends { .. }).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_binary_message_over_64_kib_closes_1009() {
    let s = TestServer::start().await;
    let (_a, mut victim, mut sibling, _wb) = victim_setup(&s).await;
    victim.send_binary(vec![7; 70_000]).await;
    victim.expect_close(close::MESSAGE_TOO_BIG).await;
    sibling.round_trip().await;
}

#[tokio::test]
async fn closing_the_last_connection_with_1009_sends_offline() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let mut wa = s.connect_confirmed(&a).await;
    wb.expect(&ServerEvent::FriendStatusChange {
        user_id: a.id,
        status: Status::Online,
    })
    .await;
    wa.send_raw(&padded_request(100_000)).await;
    wa.expect_close(close::MESSAGE_TOO_BIG).await;
    wb.expect(&ServerEvent::FriendStatusChange {
        user_id: a.id,
        status: Status::Offline,
    })
    .await;
}

async fn scrape(s: &TestServer) -> tests::metrics::Scrape {
    let reply = s.rest_with_token(None).get("/metrics").await;
    reply.status(200, "GET /metrics");
    tests::metrics::Scrape::parse(&reply.body)
}

/// Reads the whole history of a conversation, page by page.
async fn full_history(s: &TestServer, user: &User, conversation_id: u64) -> Vec<u64> {
    let rest = s.rest(user);
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page: History = rest
            .history(conversation_id, after, Some(500))
            .await
            .ok(200, "history page");
        let Some(last) = page.messages.last() else {
            return ids;
        };
        after = Some(last.message_id);
        ids.extend(page.messages.iter().map(|m| m.message_id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_4010_and_its_friends_see_it_go_offline() {
    let s = TestServer::with_config(Config {
        outbound_queue: 8,
        ..Config::default()
    })
    .await;
    let [slow, flooder, watcher] = s.users_n().await;
    s.befriend(&[(&slow, &flooder), (&slow, &watcher)]).await;
    let mut ww = s.connect_confirmed(&watcher).await;
    // A tiny TCP receive buffer so the server's writes block soon.
    let mut wslow = s.connect_small_buffer(&slow, 4096).await;
    wslow.round_trip().await;
    ww.expect(&ServerEvent::FriendStatusChange {
        user_id: slow.id,
        status: Status::Online,
    })
    .await;
    let mut wf = s.connect_confirmed(&flooder).await;
    let metrics_before = scrape(&s).await;

    // The slow connection reads nothing from here on. The flooder sends in
    // lockstep (each send waits for its own echo), so its own queue never
    // holds more than a frame or two, until it hears that `slow` went
    // offline.
    let content = "z".repeat(4000);
    let mut accepted = Vec::new();
    let mut conversation = 0;
    for _ in 0..200_000 {
        wf.send(&ClientMessage::SendMessage {
            receiver_id: Id(slow.id),
            content: content.clone(),
        })
        .await;
        match wf
            .recv_event_for("the echo, or the slow friend's offline")
            .await
        {
            ServerEvent::NewMessage(m) => {
                conversation = m.conversation_id;
                accepted.push(m.message_id);
            }
            ServerEvent::FriendStatusChange {
                user_id,
                status: Status::Offline,
            } if user_id == slow.id => break,
            other => panic!("flooder: unexpected {other:?}"),
        }
    }
    assert!(
        !accepted.is_empty(),
        "the flood ended before any message was accepted"
    );
    // The watcher sees the slow user go offline too.
    ww.expect(&ServerEvent::FriendStatusChange {
        user_id: slow.id,
        status: Status::Offline,
    })
    .await;
    // The slow socket: whatever was already on the wire, then 4010. §8:
    // events still queued are dropped, the socket never continues with a
    // gap, so its messages are a prefix of the accepted ones (G3).
    let frames = wslow
        .collect_until_close(close::SLOW_CONSUMER, Duration::from_secs(30))
        .await;
    let got: Vec<u64> = frames
        .iter()
        .filter_map(|t| match serde_json::from_str::<ServerEvent>(t) {
            Ok(ServerEvent::NewMessage(m)) => Some(m.message_id),
            _ => None,
        })
        .collect();
    assert!(
        got.len() <= accepted.len() && got[..] == accepted[..got.len()],
        "the slow socket's messages are not a gap-free prefix of the accepted ones: got {} ids, {} accepted; first difference at {:?}",
        got.len(),
        accepted.len(),
        got.iter().zip(&accepted).position(|(a, b)| a != b)
    );
    let metrics_after = scrape(&s).await;
    assert!(
        !metrics_before
            .moved_by(&metrics_after, &["slow"], 1.0)
            .is_empty(),
        "no slow-consumer counter moved by 1 in /metrics: {:?}",
        metrics_after.series
    );
    // G5: every accepted message is in the history, whatever happened to
    // the connection it was pushed to.
    let history = full_history(&s, &flooder, conversation).await;
    for id in &accepted {
        assert!(
            history.contains(id),
            "G5: accepted message {id} is missing from the history"
        );
    }
    // The slow user can come back.
    s.connect_confirmed(&slow).await;
    ww.expect(&ServerEvent::FriendStatusChange {
        user_id: slow.id,
        status: Status::Online,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_device_is_closed_alone_and_its_user_stays_online() {
    let s = TestServer::with_config(Config {
        outbound_queue: 8,
        ..Config::default()
    })
    .await;
    let [slow, flooder] = s.users_n().await;
    s.befriend(&[(&slow, &flooder)]).await;
    let mut wslow = s.connect_small_buffer(&slow, 4096).await;
    wslow.round_trip().await;
    let mut fast = s.connect_confirmed(&slow).await;
    let mut wf = s.connect_confirmed(&flooder).await;
    fast.round_trip_skipping().await; // the flooder's online
    let before = scrape(&s).await;

    // Flood in lockstep; the fast device reads everything; every 32
    // messages, look whether the slow-consumer counter moved.
    let content = "z".repeat(4000);
    let mut closed = false;
    for i in 1..=200_000u32 {
        wf.say(slow.id, &content).await;
        fast.expect_new_message("the flood, on the fast device")
            .await;
        if i % 32 == 0
            && !before
                .moved_by(&scrape(&s).await, &["slow"], 1.0)
                .is_empty()
        {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow device was never closed");
    wslow
        .expect_close_after_frames(close::SLOW_CONSUMER, Duration::from_secs(30))
        .await;
    // The user still has a device: no offline for the flooder, and the
    // fast device works.
    let (friends, skipped) = wf.round_trip_skipping().await;
    assert_eq!(friends, vec![slow.id], "the slow user is still online");
    assert!(
        skipped
            .iter()
            .all(|e| matches!(e, ServerEvent::NewMessage(_))),
        "the flooder got {skipped:?}"
    );
    fast.round_trip_skipping().await;
    wf.silent().await;
}
