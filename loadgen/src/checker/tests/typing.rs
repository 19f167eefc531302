//! Typing scenarios: I7/I8 routing, I8 stuck indicators.
//!
//! User 2 (connections 20, 21) types to user 1 (connection 10).

use super::{status, typing, Harness, MS};
use crate::checker::{ConnId, ConnView, InvariantId};

const S: u64 = 1_000 * MS;

fn setup(h: &mut Harness) -> (ConnView, ConnView, ConnView) {
    let mut x1 = h.connect(20, 2, 0, MS, &[]);
    let mut x2 = h.connect(21, 2, 0, MS, &[]);
    let u = h.connect(10, 1, 2 * MS, 3 * MS, &[2]);
    h.feed(&mut x1, 3 * MS, status(1, true));
    h.feed(&mut x2, 3 * MS, status(1, true));
    (u, x1, x2)
}

fn barrier(h: &mut Harness, u: &mut ConnView, at: u64) {
    h.barrier(&mut [u], &[&[2]], at);
}

#[test]
fn i7_i8_typing_leaked_to_a_non_friend_is_reported() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    h.feed(&mut u, S, typing(9, true));
    assert_eq!(h.count(InvariantId::I7), 1);
    assert_eq!(h.count(InvariantId::I8), 1);
    assert_eq!(h.found.tally.violations.total(), 2);
}

#[test]
fn i8_typing_of_a_friend_who_typed_to_someone_else_is_reported() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    // User 3 typed to user 2, never to user 1.
    h.facts.typing.on_start(3, 2, ConnId(30), S);
    h.feed(&mut u, S + MS, typing(3, true));
    h.assert_only(InvariantId::I8, 1);
    h.facts.typing.on_start(2, 1, ConnId(20), 2 * S);
    h.feed(&mut u, 2 * S + MS, typing(2, true));
    h.assert_only(InvariantId::I8, 1);
    assert!(u.is_typing(2));
}

#[test]
fn i8_an_indicator_left_on_after_stop_typing_is_reported() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    h.facts.typing.on_start(2, 1, ConnId(20), S);
    h.feed(&mut u, S + MS, typing(2, true));
    h.facts.typing.on_stop(2, 1, ConnId(20), 2 * S);
    // The server drops the `false`.
    barrier(&mut h, &mut u, 5 * S);
    h.assert_only(InvariantId::I8, 1);
}

#[test]
fn cleared_indicators_are_clean() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    // Cleared by `false`.
    h.facts.typing.on_start(2, 1, ConnId(20), S);
    h.feed(&mut u, S + MS, typing(2, true));
    h.facts.typing.on_stop(2, 1, ConnId(20), S + 100 * MS);
    h.feed(&mut u, S + 101 * MS, typing(2, false));
    // Cleared by a message.
    h.facts.typing.on_start(2, 1, ConnId(21), 2 * S);
    h.feed(&mut u, 2 * S + MS, typing(2, true));
    h.facts
        .typing
        .on_message(2, 1, Some(ConnId(21)), 2 * S + 500 * MS);
    let m = h.send(21, 2, 1, 1, 2 * S + 500 * MS, 5, 100);
    h.feed(&mut u, 2 * S + 501 * MS, m);
    assert!(!u.is_typing(2));
    barrier(&mut h, &mut u, 6 * S);
    assert_eq!(h.count(InvariantId::I8), 0, "{:#?}", h.found.violations);
}

#[test]
fn an_indicator_whose_clear_may_still_be_in_flight_is_not_reported() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    // The stop was sent less than δ before the barrier.
    h.facts.typing.on_start(2, 1, ConnId(20), 4 * S);
    h.feed(&mut u, 4 * S + MS, typing(2, true));
    h.facts.typing.on_stop(2, 1, ConnId(20), 4 * S + 500 * MS);
    barrier(&mut h, &mut u, 5 * S);
    h.assert_clean();
}

#[test]
fn a_stop_from_another_device_racing_the_start_is_not_reported() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    // Device 20 types, device 21 stops 100 ms later: the server may have
    // processed them in either order.
    h.facts.typing.on_start(2, 1, ConnId(20), S);
    h.facts.typing.on_stop(2, 1, ConnId(21), S + 100 * MS);
    h.feed(&mut u, S + 150 * MS, typing(2, false));
    h.feed(&mut u, S + 151 * MS, typing(2, true));
    barrier(&mut h, &mut u, 6 * S);
    h.assert_clean();
    assert!(u.is_typing(2));
}

#[test]
fn the_typer_going_offline_is_cleared_by_the_servers_false() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    h.facts.typing.on_start(2, 1, ConnId(20), S);
    h.feed(&mut u, S + MS, typing(2, true));
    h.close(20, 2 * S, 2 * S + MS);
    h.close(21, 2 * S, 2 * S + MS);
    h.feed(&mut u, 2 * S + 2 * MS, status(2, false));
    h.feed(&mut u, 2 * S + 2 * MS, typing(2, false));
    assert!(!u.is_typing(2));
    h.barrier(&mut [&mut u], &[&[]], 6 * S);
    h.assert_clean();
}

/// PROTOCOL.md §1, stricter than INVARIANTS.md's I8 wording: an "offline"
/// alone does not end a typing indicator; the server owes `false`.
#[test]
fn a_typer_going_offline_without_false_is_i8() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    h.facts.typing.on_start(2, 1, ConnId(20), S);
    h.feed(&mut u, S + MS, typing(2, true));
    h.close(20, 2 * S, 2 * S + MS);
    h.close(21, 2 * S, 2 * S + MS);
    h.feed(&mut u, 2 * S + 2 * MS, status(2, false));
    assert!(u.is_typing(2));
    h.barrier(&mut [&mut u], &[&[]], 6 * S);
    h.assert_only(InvariantId::I8, 1);
}

/// Within δ of the typer's last close, `false` may still be on its way.
#[test]
fn a_typer_gone_less_than_delta_ago_is_not_judged() {
    let mut h = Harness::new();
    let (mut u, _x1, _x2) = setup(&mut h);
    h.facts.typing.on_start(2, 1, ConnId(20), S);
    h.feed(&mut u, S + MS, typing(2, true));
    h.close(20, 5 * S, 5 * S + MS);
    h.close(21, 5 * S, 5 * S + MS);
    h.barrier(&mut [&mut u], &[&[]], 6 * S);
    h.assert_clean();
}
