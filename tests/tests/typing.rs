//! §2 `typing` / `stop_typing` → `user_typing` to every connection of the
//! receiver, and to no one else.

use server::protocol::{ClientMessage, Id, ServerEvent};
use tests::TestServer;

#[tokio::test]
async fn typing_and_stop_typing_reach_every_connection_of_the_receiver_only() {
    typing_and_stop_typing_reach_every_connection_of_the_receiver_only_with(
        server::Config::default(),
    )
    .await;
}

/// [`typing_and_stop_typing_reach_every_connection_of_the_receiver_only`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn typing_and_stop_typing_reach_every_connection_of_the_receiver_only_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
    let [a, b, c, stranger] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let mut x = s.connect_confirmed(&stranger).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    for ws in [&mut b1, &mut b2, &mut c1] {
        ws.round_trip_skipping().await;
    }

    for (msg, is_typing) in [
        (
            ClientMessage::Typing {
                receiver_id: Id(b.id),
            },
            true,
        ),
        (
            ClientMessage::StopTyping {
                receiver_id: Id(b.id),
            },
            false,
        ),
    ] {
        a1.send(&msg).await;
        let expected = ServerEvent::UserTyping {
            user_id: a.id,
            is_typing,
        };
        b1.expect(&expected).await;
        b2.expect(&expected).await;
    }
    // Not to the typer's connections, not to another friend.
    a1.round_trip().await;
    // G4: nothing to a non-friend either.
    tests::silent_all(&mut [&mut a2, &mut c1, &mut x]).await;
}

#[tokio::test]
async fn typing_to_an_offline_friend_is_fine_and_sends_nothing() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut a1 = s.connect_confirmed(&a).await;
    a1.send(&ClientMessage::Typing {
        receiver_id: Id(b.id),
    })
    .await;
    // No error: the next frame is the round-trip reply.
    a1.round_trip().await;
    // B connecting later hears nothing of it.
    let mut b1 = s.connect_confirmed(&b).await;
    b1.silent().await;
}

#[tokio::test]
async fn repeated_typing_is_forwarded_each_time() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut a1 = s.connect_confirmed(&a).await;
    b1.round_trip_skipping().await;
    for _ in 0..3 {
        a1.send(&ClientMessage::Typing {
            receiver_id: Id(b.id),
        })
        .await;
    }
    for _ in 0..3 {
        b1.expect(&ServerEvent::UserTyping {
            user_id: a.id,
            is_typing: true,
        })
        .await;
    }
}
