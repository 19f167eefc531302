//! Message scenarios: I5 (duplicates, losses), I6, I7 for messages, I9, I10.
//!
//! User 1 (connection 10) and user 2 (connections 20 and 21) talk in
//! conversation 100; user 3 is a friend of both but outside it.

use super::{message, status, Harness, MS};
use crate::checker::{
    check_bad_token_close, ConnId, ConnView, InvariantId, Noted, SentRecord, Via,
};
use server::protocol::{ErrorCode, NewMessage, ServerEvent};

const S: u64 = 1_000 * MS;

/// Connections 10 (user 1), 20 and 21 (user 2), all Confirmed by 3 ms.
fn setup(h: &mut Harness) -> (ConnView, ConnView, ConnView) {
    let mut b1 = h.connect(20, 2, 0, MS, &[]);
    let mut b2 = h.connect(21, 2, 0, MS, &[]);
    let a = h.connect(10, 1, 2 * MS, 3 * MS, &[2]);
    h.feed(&mut b1, 3 * MS, status(1, true));
    h.feed(&mut b2, 3 * MS, status(1, true));
    h.facts.convs.learn(100, 1, 2);
    (a, b1, b2)
}

fn barrier(h: &mut Harness, views: &mut [&mut ConnView], at: u64) {
    let replies: Vec<&[u64]> = views
        .iter()
        .map(|v| if v.user() == 1 { &[2][..] } else { &[1][..] })
        .collect();
    h.barrier(views, &replies, at);
}

#[test]
fn i5_a_duplicate_delivery_is_reported() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m = h.send(10, 1, 2, 1, S, 5, 100);
    for v in [&mut a, &mut b1, &mut b2] {
        h.feed(v, S + MS, m.clone());
    }
    h.feed(&mut b1, S + 2 * MS, m.clone());
    h.assert_only(InvariantId::I5, 1);
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_only(InvariantId::I5, 1);
    // Once more after the barrier pruned what it judged.
    h.feed(&mut b2, 6 * S, m);
    h.assert_only(InvariantId::I5, 2);
}

#[test]
fn i6_a_reordered_pair_is_reported() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m1 = h.send(10, 1, 2, 1, S, 5, 100);
    let m2 = h.send(10, 1, 2, 2, S + 10 * MS, 6, 100);
    for v in [&mut a, &mut b2] {
        h.feed(v, S + 20 * MS, m1.clone());
        h.feed(v, S + 21 * MS, m2.clone());
    }
    h.feed(&mut b1, S + 20 * MS, m2);
    h.feed(&mut b1, S + 21 * MS, m1);
    h.assert_only(InvariantId::I6, 1);
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_only(InvariantId::I6, 1);
}

#[test]
fn interleaved_senders_in_order_are_clean() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m1 = h.send(10, 1, 2, 1, S, 5, 100);
    let m2 = h.send(20, 2, 1, 1, S + MS, 6, 100);
    let m3 = h.send(10, 1, 2, 2, S + 2 * MS, 7, 100);
    for v in [&mut a, &mut b1, &mut b2] {
        for (i, m) in [&m1, &m2, &m3].into_iter().enumerate() {
            let noted = h.feed(v, S + 10 * MS + i as u64, m.clone());
            let Noted::Message(d) = noted else {
                panic!("a message is noted")
            };
            assert_eq!(d.own_echo, d.header.is_some_and(|hd| hd.conn == v.conn()));
        }
    }
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_clean();
    assert_eq!(h.found.tally.checked.get(InvariantId::I5), 9 + 9);
}

#[test]
fn i5_a_lost_delivery_is_reported_at_the_barrier() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    for seq in 1..=3 {
        let m = h.send(10, 1, 2, seq, S + seq, 4 + seq, 100);
        h.feed(&mut a, S + MS + seq, m.clone());
        h.feed(&mut b1, S + MS + seq, m.clone());
        if seq != 2 {
            h.feed(&mut b2, S + MS + seq, m);
        }
    }
    h.assert_clean();
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_only(InvariantId::I5, 1);
    let v = &h.found.violations[0];
    assert!(
        v.message.contains("c21") && v.message.contains("seq 2"),
        "{}",
        v.message
    );
}

#[test]
fn i5_a_missing_echo_is_reported() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m = h.send(10, 1, 2, 1, S, 5, 100);
    h.feed(&mut b1, S + MS, m.clone());
    h.feed(&mut b2, S + MS, m);
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_only(InvariantId::I5, 1);
    assert!(h.found.violations[0].message.contains("c10"));
}

#[test]
fn a_connection_opened_after_the_send_is_not_owed_the_message() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m = h.send(10, 1, 2, 1, S, 5, 100);
    for v in [&mut a, &mut b1, &mut b2] {
        h.feed(v, S + MS, m.clone());
    }
    let mut b3 = h.connect(22, 2, S + 500 * MS, S + 501 * MS, &[1]);
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2, &mut b3], 5 * S);
    h.assert_clean();
}

#[test]
fn a_late_delivery_within_the_barrier_wait_is_not_a_loss() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m1 = h.send(10, 1, 2, 1, S, 5, 100);
    for v in [&mut a, &mut b1, &mut b2] {
        h.feed(v, S + MS, m1.clone());
    }
    // Sent half a δ before the barrier; user 2's second device gets it after.
    let m2 = h.send(10, 1, 2, 2, 4 * S + 500 * MS, 6, 100);
    h.feed(&mut a, 4 * S + 501 * MS, m2.clone());
    h.feed(&mut b1, 4 * S + 501 * MS, m2.clone());
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_clean();
    assert_eq!(h.sent.len(), 1, "the young send is carried over");
    h.feed(&mut b2, 5 * S + 200 * MS, m2);
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 9 * S);
    h.assert_clean();
    assert!(h.sent.is_empty());
}

#[test]
fn a_carried_over_send_that_never_arrives_is_reported_next_time() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    let m = h.send(10, 1, 2, 1, 4 * S + 500 * MS, 5, 100);
    h.feed(&mut a, 4 * S + 501 * MS, m.clone());
    h.feed(&mut b1, 4 * S + 501 * MS, m);
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_clean();
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 9 * S);
    h.assert_only(InvariantId::I5, 1);
}

fn rest_form(id: u64, from: u64, conn: u32, seq: u64, at: u64) -> ServerEvent {
    let ServerEvent::NewMessage(ws) = message(conn, from, 2, seq, at, id, 100) else {
        unreachable!("message() builds a new_message")
    };
    ServerEvent::NewMessage(NewMessage {
        receiver_id: None,
        timestamp: None,
        created_at: Some("2024-01-01T12:00:00.000000".into()),
        media_ids: Some(Vec::new()),
        ..ws
    })
}

#[test]
fn a_rest_send_is_owed_to_the_receiver_only() {
    let mut h = Harness::new();
    let (mut a, mut b1, mut b2) = setup(&mut h);
    for seq in 1..=2 {
        h.sent
            .record_send(SentRecord {
                sender: ConnId(1_000),
                sender_user: 1,
                peer: 2,
                seq,
                sent_at: S + seq,
                via: Via::Rest,
                message_id: Some(4 + seq),
            })
            .expect("increasing");
    }
    h.feed(&mut b1, S + MS, rest_form(5, 1, 1_000, 1, S + 1));
    h.feed(&mut b1, S + MS, rest_form(6, 1, 1_000, 2, S + 2));
    h.feed(&mut b2, S + MS, rest_form(6, 1, 1_000, 2, S + 2));
    barrier(&mut h, &mut [&mut a, &mut b1, &mut b2], 5 * S);
    h.assert_only(InvariantId::I5, 1);
    assert!(h.found.violations[0].message.contains("c21"));
}

#[test]
fn i5_one_send_stored_twice_is_reported() {
    let mut h = Harness::new();
    let _ = h.send(10, 1, 2, 1, S, 5, 100);
    assert!(h
        .sent
        .record_accepted(ConnId(10), 2, 1, 5, 100, S + MS)
        .is_none());
    assert!(h
        .sent
        .record_accepted(ConnId(10), 2, 1, 5, 100, S + MS)
        .is_none());
    let v = h
        .sent
        .record_accepted(ConnId(10), 2, 1, 6, 100, S + MS)
        .expect("two ids for one send");
    assert_eq!(v.invariant, InvariantId::I5);
    assert_eq!(h.sent.take_accepted().get(&100), Some(&vec![5]));
}

#[test]
fn i7_a_message_of_someone_else_s_conversation_is_reported() {
    let mut h = Harness::new();
    let (mut a, _b1, _b2) = setup(&mut h);
    h.feed(&mut a, S, message(20, 2, 3, 1, S, 9, 200));
    h.assert_only(InvariantId::I7, 1);
}

#[test]
fn i9_read_receipts_go_to_the_other_participant_only() {
    let mut h = Harness::new();
    let (mut a, mut b1, _b2) = setup(&mut h);
    let mut c = h.connect(30, 3, 0, MS, &[]);
    let read = |by| ServerEvent::MessagesRead {
        conversation_id: 100,
        user_id: by,
    };
    h.feed(&mut b1, S, read(1));
    h.assert_clean();
    h.feed(&mut a, S, read(1));
    h.assert_only(InvariantId::I9, 1);
    h.feed(&mut c, S, read(1));
    assert_eq!(h.count(InvariantId::I7), 1);
    // An unknown conversation is not judged beyond the reader.
    h.feed(
        &mut a,
        S,
        ServerEvent::MessagesRead {
            conversation_id: 555,
            user_id: 2,
        },
    );
    assert_eq!(h.found.tally.violations.total(), 2);
}

#[test]
fn i7_a_deletion_outside_the_conversation_is_reported() {
    let mut h = Harness::new();
    let (_a, mut b1, _b2) = setup(&mut h);
    let mut c = h.connect(30, 3, 0, MS, &[]);
    h.facts.convs.learn_message(42, 100);
    let del = ServerEvent::DeleteMessage { message_id: 42 };
    h.feed(&mut b1, S, del.clone());
    h.assert_clean();
    h.feed(&mut c, S, del);
    h.assert_only(InvariantId::I7, 1);
}

#[test]
fn i10_bad_token_sockets() {
    let mut h = Harness::new();
    for (conn, code) in [
        (50, Some(4008)),
        (51, Some(4008)),
        (52, Some(1000)),
        (53, None),
    ] {
        h.facts
            .lc
            .open_bad_token(ConnId(conn), 2, 0)
            .expect("fresh");
        let mut v = ConnView::new_bad_token(ConnId(conn), 2);
        if conn == 51 {
            let frame = ServerEvent::Error {
                code: ErrorCode::InvalidJson,
                message: "x".into(),
            };
            assert_eq!(h.feed(&mut v, MS, frame), Noted::Nothing);
        }
        if conn == 50 {
            h.assert_clean();
        }
        v.check_bad_token_close(&h.facts.world(), 2 * MS, code, &mut h.found);
    }
    h.assert_only(InvariantId::I10, 3);
    assert_eq!(
        h.found.violations[0].frame.as_deref(),
        Some("error invalid_json")
    );
    let mut f = crate::checker::Findings::new();
    check_bad_token_close(&h.facts.world(), ConnId(50), 3 * MS, Some(4008), 0, &mut f);
    assert!(f.is_clean());
    assert_eq!(h.facts.lc.coverage().bad_tokens, 4);
}
