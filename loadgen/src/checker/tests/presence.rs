//! Presence scenarios: I1, I2, I3, I4, and I7/I10 for presence.
//!
//! User 1 watches (connection 10); user 2 is the friend who comes and goes
//! (connections 20, 21...); user 3 is another friend; 9 is nobody's friend.

use super::{snapshot, status, Harness, DELTA, MS};
use crate::checker::{Closer, ConnId, InvariantId, Noted};
use server::protocol::Status;

const S: u64 = 1_000 * MS;

#[test]
fn i2_offline_while_another_device_stays_is_reported() {
    let mut h = Harness::new();
    let _x1 = h.connect(20, 2, 0, MS, &[]);
    let _x2 = h.connect(21, 2, 2 * MS, 3 * MS, &[]);
    let mut u = h.connect(10, 1, 4 * MS, 5 * MS, &[2]);
    // Device 21 closes; a faulty server announces "offline" although 20 stays.
    h.close(21, 5 * S, 5 * S + MS);
    h.feed(&mut u, 5 * S + 2 * MS, status(2, false));
    assert!(h.found.is_clean(), "judged only once lifecycles are known");
    assert_eq!(u.deferred.count(InvariantId::I2), 1);
    h.barrier(&mut [&mut u], &[&[2]], 8 * S);
    // The view built from events says offline: I1 as well.
    assert_eq!(h.count(InvariantId::I2), 1);
    assert_eq!(h.count(InvariantId::I1), 1);
    assert_eq!(h.found.tally.violations.total(), 2);
    let v = h
        .found
        .violations
        .iter()
        .find(|v| v.invariant == InvariantId::I2)
        .expect("reported");
    assert!(v.connections.iter().any(|c| c.conn == ConnId(20)));
    assert_eq!(v.frame.as_deref(), Some("friend_status_change 2 offline"));
    assert!(!v.recent_frames.is_empty());
}

#[test]
fn a_close_racing_an_open_inside_delta_is_not_reported() {
    let mut h = Harness::new();
    let _x1 = h.connect(20, 2, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[2]);
    // Device 20 closes while device 21 is still Opening.
    h.close(20, 3 * S, 3 * S + MS);
    let mut x2 = h.open(21, 2, 3 * S + MS / 2);
    h.feed(&mut u, 3 * S + 2 * MS, status(2, false));
    h.confirm(&mut x2, 3 * S + 10 * MS, &[1]);
    h.feed(&mut u, 3 * S + 11 * MS, status(2, true));
    h.barrier(&mut [&mut u, &mut x2], &[&[2], &[1]], 6 * S);
    h.assert_clean();
    assert_eq!(h.found.tally.redundant, 0);
    assert_eq!(h.facts.lc.coverage().close_open_within_1ms, 1);
    assert_eq!(u.status_of(2), Some(Status::Online));
}

#[test]
fn offline_after_a_server_side_close_not_yet_read_is_not_reported() {
    let mut h = Harness::new();
    let x = h.connect(20, 2, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[2]);
    // The server drops connection 20 as a slow consumer at ~4 s; user 1
    // hears "offline" before 20's own task has read its close.
    h.feed(&mut u, 4 * S + MS, status(2, false));
    assert_eq!(u.deferred.count(InvariantId::I2), 1);
    h.facts
        .lc
        .closed(
            ConnId(20),
            4 * S + 500 * MS,
            Some(4010),
            Closer::Server {
                alive_until: x.alive_proof(),
            },
        )
        .expect("open");
    h.barrier(&mut [&mut u], &[&[]], 8 * S);
    h.assert_clean();
    assert_eq!(h.facts.lc.coverage().slow_consumer_closes, 1);
}

#[test]
fn i2_online_without_any_connection_is_reported() {
    let mut h = Harness::new();
    let mut u = h.connect(10, 1, 0, MS, &[]);
    h.feed(&mut u, 5 * S, status(3, true));
    h.assert_only(InvariantId::I2, 1);
}

#[test]
fn i10_online_through_a_bad_token_socket_is_reported() {
    let mut h = Harness::new();
    let mut u = h.connect(10, 1, 0, MS, &[]);
    h.facts
        .lc
        .open_bad_token(ConnId(22), 2, 6 * S)
        .expect("fresh");
    h.feed(&mut u, 6 * S + 100 * MS, status(2, true));
    h.assert_only(InvariantId::I10, 1);
}

#[test]
fn i10_a_snapshot_listing_a_bad_token_user_is_reported() {
    let mut h = Harness::new();
    let mut u = h.connect(10, 1, 0, MS, &[]);
    h.facts
        .lc
        .open_bad_token(ConnId(22), 2, 6 * S)
        .expect("fresh");
    u.requested_online_friends(6 * S + MS, false);
    h.feed(&mut u, 6 * S + 2 * MS, snapshot(&[2]));
    h.assert_only(InvariantId::I10, 1);
}

#[test]
fn online_while_opening_or_shortly_after_a_close_is_not_reported() {
    let mut h = Harness::new();
    let mut u = h.connect(10, 1, 0, MS, &[]);
    let _opening = h.open(20, 2, S);
    h.feed(&mut u, S + MS / 2, status(2, true));
    let _y = h.connect(30, 3, 0, MS, &[]);
    h.close(30, 2 * S, 2 * S + MS);
    // A late "online" from before the close, still within δ of it.
    h.feed(&mut u, 3 * S, status(3, true));
    h.assert_clean();
}

#[test]
fn i3_a_repeated_online_for_a_second_device_is_counted_not_reported() {
    let mut h = Harness::new();
    let _x1 = h.connect(20, 2, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[2]);
    let _x2 = h.connect(21, 2, 3 * S, 3 * S + MS, &[1]);
    h.feed(&mut u, 3 * S + MS, status(2, true));
    h.barrier(&mut [&mut u], &[&[2]], 6 * S);
    h.assert_clean();
    assert_eq!(h.found.tally.redundant, 1);
    assert!(h.found.tally.checked.get(InvariantId::I3) >= 1);
}

#[test]
fn i4_a_stale_snapshot_is_reported() {
    let mut h = Harness::new();
    let _x = h.connect(20, 2, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 5 * MS, &[2]);
    h.close(20, S, S + MS);
    h.feed(&mut u, S + 2 * MS, status(2, false));
    let _y = h.connect(30, 3, S + 500 * MS, S + 501 * MS, &[1]);
    h.feed(&mut u, S + 502 * MS, status(3, true));
    // A later request answered from a stale copy: 2 listed, 3 missing.
    u.requested_online_friends(5 * S, false);
    assert_eq!(h.feed(&mut u, 5 * S + MS, snapshot(&[2])), Noted::Nothing);
    assert_eq!(h.count(InvariantId::I4), 1, "listed while gone: at once");
    h.barrier(&mut [&mut u], &[&[3]], 8 * S);
    assert_eq!(
        h.count(InvariantId::I4),
        2,
        "missing while Confirmed: at the barrier"
    );
    // The stale reply also corrupted the view for both friends.
    assert_eq!(h.count(InvariantId::I1), 2);
    assert_eq!(h.found.tally.violations.total(), 4);
}

#[test]
fn i4_structure_and_subset_are_checked() {
    let mut h = Harness::new();
    let _x = h.connect(20, 2, 0, MS, &[]);
    let _y = h.connect(30, 3, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[2, 3]);
    h.assert_clean();
    u.requested_online_friends(S, false);
    h.feed(&mut u, S + MS, snapshot(&[3, 2]));
    h.assert_only(InvariantId::I4, 1);
    u.requested_online_friends(2 * S, false);
    h.feed(&mut u, 2 * S + MS, snapshot(&[2, 3, 9]));
    h.assert_only(InvariantId::I4, 2);
}

#[test]
fn a_snapshot_taken_during_a_transition_is_not_reported() {
    let mut h = Harness::new();
    let _y = h.connect(30, 3, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[3]);
    let mut x = h.open(20, 2, S);
    u.requested_online_friends(S + 200, false);
    h.confirm(&mut x, S + 500, &[1, 3]);
    // 3 starts closing during the request too.
    h.facts.lc.closing(ConnId(30), S + 100).expect("open");
    h.feed(&mut u, S + 800, snapshot(&[3]));
    h.facts
        .lc
        .closed(ConnId(30), S + 900, Some(1000), Closer::Generator)
        .expect("closing");
    h.feed(&mut u, S + MS, status(2, true));
    h.feed(&mut u, S + 2 * MS, status(3, false));
    h.feed(&mut x, S + 2 * MS, status(3, false));
    h.barrier(&mut [&mut u, &mut x], &[&[2], &[1]], 5 * S);
    h.assert_clean();
    assert_eq!(h.found.tally.coverage.online_friends_during_transition, 1);
}

#[test]
fn i1_a_missing_online_event_is_reported_and_the_view_reset() {
    let mut h = Harness::new();
    let mut u = h.connect(10, 1, 0, MS, &[]);
    let _x = h.connect(20, 2, S, S + MS, &[1]);
    // The server never tells user 1 that 2 came online.
    h.barrier(&mut [&mut u], &[&[2]], 5 * S);
    h.assert_only(InvariantId::I1, 1);
    assert_eq!(
        u.status_of(2),
        Some(Status::Online),
        "reset to the fresh reply"
    );
    assert!(h.found.violations[0].frame.is_none());
}

#[test]
fn i1_a_transition_younger_than_delta_is_not_judged() {
    let mut h = Harness::new();
    let _x = h.connect(20, 2, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[2]);
    h.close(20, 5 * S - DELTA / 4, 5 * S - DELTA / 4 + MS);
    // Its "offline" has not arrived when the barrier's checks run.
    h.barrier(&mut [&mut u], &[&[]], 5 * S);
    h.assert_clean();
}

#[test]
fn a_friendship_newer_than_the_snapshot_is_not_judged_by_i1() {
    let mut h = Harness::new();
    let _w = h.connect(40, 4, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[]);
    h.facts.friends.accept_sent(1, 4, 3 * S);
    h.facts.friends.accept_confirmed(1, 4, 3 * S + 10 * MS);
    // No presence event comes with a new friendship; the barrier's fresh
    // request is the first to know.
    h.barrier(&mut [&mut u], &[&[4]], 6 * S);
    h.assert_clean();
    assert_eq!(u.status_of(4), Some(Status::Online));
}

#[test]
fn i7_presence_of_a_non_friend_is_reported() {
    let mut h = Harness::new();
    let _w = h.connect(40, 4, 0, MS, &[]);
    let mut u = h.connect(10, 1, 2 * MS, 3 * MS, &[]);
    h.feed(&mut u, S, status(9, true));
    h.assert_only(InvariantId::I7, 1);
    // Friendship 1–4 accepted at 3 s: before the accept was sent, a status
    // of 4 is a leak; after, it may be legitimate.
    h.facts.friends.accept_sent(1, 4, 3 * S);
    h.feed(&mut u, 2 * S, status(4, true));
    h.assert_only(InvariantId::I7, 2);
    h.feed(&mut u, 3 * S + MS, status(4, true));
    h.assert_only(InvariantId::I7, 2);
}
