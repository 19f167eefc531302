//! §1 On connect / on disconnect: `friend_status_change` to every connection
//! of every online friend, only on the first open and the last close; typing
//! cleared when a typer goes offline; `online_friends` (G1, G2, G4).

use server::protocol::{ClientMessage, Id, ServerEvent, Status};
use tests::TestServer;

fn status(user_id: u64, status: Status) -> ServerEvent {
    ServerEvent::FriendStatusChange { user_id, status }
}

#[tokio::test]
async fn first_connection_sends_online_to_every_connection_of_every_online_friend() {
    let s = TestServer::start().await;
    let [a, b, c, stranger] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    let mut x = s.connect_confirmed(&stranger).await;

    let _a1 = s.connect_confirmed(&a).await;
    let online = status(a.id, Status::Online);
    b1.expect(&online).await;
    b2.expect(&online).await;
    c1.expect(&online).await;
    // G4: a non-friend gets no presence.
    x.silent().await;
}

#[tokio::test]
async fn offline_friends_get_nothing_and_see_the_state_on_connect() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let _a1 = s.connect_confirmed(&a).await;
    // B connects after A: no event about A (status is state), but the
    // snapshot has A.
    let mut b1 = s.connect(&b).await;
    assert_eq!(b1.round_trip().await, vec![a.id]);
    b1.silent().await;
}

#[tokio::test]
async fn second_device_sends_nothing_and_only_the_last_close_sends_offline() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;

    let a1 = s.connect_confirmed(&a).await;
    wb.expect(&status(a.id, Status::Online)).await;

    // A second device: nothing new.
    let a2 = s.connect_confirmed(&a).await;
    wb.silent().await;

    // The first device closes: A is still online, no "offline" (G1).
    a1.close().await;
    wb.silent().await;
    assert_eq!(wb.round_trip().await, vec![a.id], "A is still online");

    // The last device closes: offline.
    a2.close().await;
    wb.expect(&status(a.id, Status::Offline)).await;
    assert_eq!(wb.round_trip().await, Vec::<u64>::new());
}

#[tokio::test]
async fn a_dropped_socket_counts_as_a_disconnect() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let a1 = s.connect_confirmed(&a).await;
    wb.expect(&status(a.id, Status::Online)).await;
    // No close handshake: the TCP connection just goes away.
    drop(a1);
    wb.expect(&status(a.id, Status::Offline)).await;
}

#[tokio::test]
async fn offline_goes_to_every_connection_of_every_online_friend_and_no_one_else() {
    let s = TestServer::start().await;
    let [a, b, c, stranger] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c), (&b, &stranger)]).await;
    let a1 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;
    let mut x = s.connect_confirmed(&stranger).await;
    // Everyone connected after A was online: no event about A so far; B's
    // connections heard the stranger (B's friend) come online.
    for ws in [&mut b1, &mut b2] {
        ws.expect(&status(stranger.id, Status::Online)).await;
    }

    a1.close().await;
    let offline = status(a.id, Status::Offline);
    b1.expect(&offline).await;
    b2.expect(&offline).await;
    c1.expect(&offline).await;
    x.silent().await;
}

#[tokio::test]
async fn reconnecting_sends_online_again_in_order() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    for _ in 0..5 {
        let a1 = s.connect_confirmed(&a).await;
        a1.close().await;
    }
    // G1: transitions arrive in order, each exactly once.
    for _ in 0..5 {
        wb.expect(&status(a.id, Status::Online)).await;
        wb.expect(&status(a.id, Status::Offline)).await;
    }
    assert_eq!(wb.round_trip().await, Vec::<u64>::new());
}

#[tokio::test]
async fn going_offline_while_typing_sends_typing_false() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let mut wc = s.connect_confirmed(&c).await;
    let mut wa = s.connect_confirmed(&a).await;
    wb.expect(&status(a.id, Status::Online)).await;
    wc.expect(&status(a.id, Status::Online)).await;

    wa.send(&ClientMessage::Typing {
        receiver_id: Id(b.id),
    })
    .await;
    wb.expect(&ServerEvent::UserTyping {
        user_id: a.id,
        is_typing: true,
    })
    .await;
    wa.close().await;

    // B gets both the offline and the typing=false, in either order.
    let mut got = vec![wb.recv_event().await, wb.recv_event().await];
    got.sort_by_key(|e| matches!(e, ServerEvent::UserTyping { .. }));
    assert_eq!(
        got,
        vec![
            status(a.id, Status::Offline),
            ServerEvent::UserTyping {
                user_id: a.id,
                is_typing: false
            }
        ]
    );
    wb.silent().await;
    // C was not typed to: only the offline.
    wc.expect(&status(a.id, Status::Offline)).await;
    wc.silent().await;
}

#[tokio::test]
async fn going_offline_after_stop_typing_sends_no_extra_typing() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    s.befriend(&[(&a, &b)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let mut wa = s.connect_confirmed(&a).await;
    wb.expect(&status(a.id, Status::Online)).await;
    wa.send(&ClientMessage::Typing {
        receiver_id: Id(b.id),
    })
    .await;
    wa.send(&ClientMessage::StopTyping {
        receiver_id: Id(b.id),
    })
    .await;
    wb.expect(&ServerEvent::UserTyping {
        user_id: a.id,
        is_typing: true,
    })
    .await;
    wb.expect(&ServerEvent::UserTyping {
        user_id: a.id,
        is_typing: false,
    })
    .await;
    wa.close().await;
    wb.expect(&status(a.id, Status::Offline)).await;
    wb.silent().await;
}

#[tokio::test]
async fn online_friends_is_ascending_and_holds_only_online_friends() {
    let s = TestServer::start().await;
    let users = s.users(7).await;
    let (me, others) = users.split_first().expect("7 users");
    // Friends: the first five others; the sixth is a stranger.
    let friends = &others[..5];
    let pairs: Vec<_> = friends.iter().map(|f| (me, f)).collect();
    s.befriend(&pairs).await;
    // Connect friends in descending id order, skipping one (stays offline),
    // and the stranger too.
    let mut open = Vec::new();
    for f in friends.iter().rev().filter(|f| f.id != friends[2].id) {
        open.push(s.connect_confirmed(f).await);
    }
    open.push(s.connect_confirmed(&others[5]).await);
    let mut wm = s.connect(me).await;
    let mut expected: Vec<u64> = friends
        .iter()
        .map(|f| f.id)
        .filter(|id| *id != friends[2].id)
        .collect();
    expected.sort_unstable();
    assert_eq!(wm.round_trip().await, expected);
}

#[tokio::test]
async fn online_friends_goes_to_the_asking_connection_only() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    a1.round_trip().await;
    a2.silent().await;
}

#[tokio::test]
async fn becoming_friends_sends_no_presence_but_the_snapshot_has_it() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    let mut wa = s.connect_confirmed(&a).await;
    let mut wb = s.connect_confirmed(&b).await;
    s.befriend(&[(&a, &b)]).await;
    // §8: becoming friends sends no presence event.
    tests::silent_all(&mut [&mut wa, &mut wb]).await;
    assert_eq!(wa.round_trip().await, vec![b.id]);
    assert_eq!(wb.round_trip().await, vec![a.id]);
    // From now on, presence flows.
    wb.close().await;
    wa.expect(&status(b.id, Status::Offline)).await;
}

#[tokio::test]
async fn rest_friends_list_reflects_presence() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c)]).await;
    let _wb = s.connect_confirmed(&b).await;
    let friends: server::protocol::rest::Friends =
        s.rest(&a).get("/me/friends").await.ok(200, "friends");
    let mut rows: Vec<_> = friends
        .friends
        .iter()
        .map(|f| (f.user_id, f.username.clone(), f.online))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![
            (b.id, b.username.clone(), true),
            (c.id, c.username.clone(), false)
        ]
    );
}
