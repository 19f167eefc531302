//! The tests bite: each fault the server can inject on purpose
//! (`server::Fault`) makes at least one contract test of this suite fail.
//! Each case runs the real test body against a faulty server in a task and
//! expects it to panic.

use server::{Config, Fault};
use std::future::Future;

fn with(fault: Fault) -> Config {
    Config {
        faults: vec![fault],
        ..Config::default()
    }
}

async fn must_fail(fault: Fault, test: impl Future<Output = ()> + Send + 'static) {
    let outcome = tokio::spawn(test).await;
    assert!(
        outcome.as_ref().is_err_and(|e| e.is_panic()),
        "the contract test passed despite fault {fault:?}"
    );
}

#[tokio::test]
async fn offline_on_every_disconnect_is_caught() {
    let f = Fault::OfflineOnEveryDisconnect;
    must_fail(
        f,
        crate::presence::second_device_sends_nothing_and_only_the_last_close_sends_offline_with(
            with(f),
        ),
    )
    .await;
}

#[tokio::test]
async fn no_echo_is_caught() {
    let f = Fault::NoEcho;
    must_fail(
        f,
        crate::messages::new_message_ws_form_goes_to_every_connection_of_both_participants_with(
            with(f),
        ),
    )
    .await;
}

#[tokio::test]
async fn duplicate_drop_and_reorder_are_caught() {
    for f in [
        Fault::DuplicateMessage,
        Fault::DropDelivery,
        Fault::ReorderMessages,
    ] {
        must_fail(
            f,
            crate::messages::pipelined_messages_arrive_in_order_without_gaps_or_duplicates_with(
                with(f),
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn typing_leak_is_caught() {
    let f = Fault::TypingLeak;
    must_fail(
        f,
        crate::typing::typing_and_stop_typing_reach_every_connection_of_the_receiver_only_with(
            with(f),
        ),
    )
    .await;
}

#[tokio::test]
async fn stale_online_friends_is_caught() {
    let f = Fault::StaleOnlineFriends;
    must_fail(
        f,
        crate::presence::becoming_friends_sends_no_presence_but_the_snapshot_has_it_with(with(f)),
    )
    .await;
}

#[tokio::test]
async fn bad_token_close_1000_is_caught() {
    let f = Fault::BadTokenClose1000;
    must_fail(
        f,
        crate::connection::unknown_token_completes_the_handshake_then_closes_4008_with(with(f)),
    )
    .await;
}

#[tokio::test]
async fn history_missing_is_caught() {
    let f = Fault::HistoryMissing;
    must_fail(
        f,
        crate::rest_messages::history_holds_every_accepted_message_from_both_paths_with(with(f)),
    )
    .await;
}
