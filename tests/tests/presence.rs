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
    second_device_sends_nothing_and_only_the_last_close_sends_offline_with(
        server::Config::default(),
    )
    .await;
}

/// [`second_device_sends_nothing_and_only_the_last_close_sends_offline`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn second_device_sends_nothing_and_only_the_last_close_sends_offline_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
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
    // G1: transitions arrive in order, each exactly once. (Each reconnect
    // waits for the offline: the server may answer a close before it
    // unregisters the connection, see presence_under_churn_keeps_g1_and_g2.)
    for _ in 0..5 {
        let a1 = s.connect_confirmed(&a).await;
        wb.expect(&status(a.id, Status::Online)).await;
        a1.close().await;
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
    becoming_friends_sends_no_presence_but_the_snapshot_has_it_with(server::Config::default())
        .await;
}

/// [`becoming_friends_sends_no_presence_but_the_snapshot_has_it`] against a server with `config` (used by `faults.rs`).
pub(crate) async fn becoming_friends_sends_no_presence_but_the_snapshot_has_it_with(
    config: server::Config,
) {
    let s = TestServer::with_config(config).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_under_churn_keeps_g1_and_g2() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let s = Arc::new(TestServer::start().await);
    let users = s.users(6).await;
    let (observer, friends) = users.split_first().expect("6 users");
    let pairs: Vec<_> = friends.iter().map(|f| (observer, f)).collect();
    s.befriend(&pairs).await;
    let mut wo = s.connect_confirmed(observer).await;

    // Each friend goes online and offline `cycles` times, sometimes with a
    // second device overlapping; friends with an odd index end online.
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, f) in friends.iter().cloned().enumerate() {
        let s = s.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let cycles = 3 + i;
            for c in 0..cycles {
                let d1 = s.connect_confirmed(&f).await;
                let d2 = if c % 2 == 0 {
                    Some(s.connect_confirmed(&f).await)
                } else {
                    None
                };
                d1.close().await;
                if let Some(d2) = d2 {
                    d2.close().await;
                }
            }
            let last = if i % 2 == 1 {
                Some(s.connect_confirmed(&f).await)
            } else {
                None
            };
            done.fetch_add(1, Ordering::SeqCst);
            (f.id, cycles, last)
        }));
    }

    // Meanwhile the observer keeps asking for snapshots; the log keeps
    // replies and events in arrival order.
    #[derive(Debug)]
    enum Seen {
        Snapshot(Vec<u64>),
        Change(u64, Status),
    }
    let mut log = Vec::new();
    while done.load(Ordering::SeqCst) < friends.len() {
        let (reply, events) = wo.round_trip_skipping().await;
        for e in events {
            match e {
                ServerEvent::FriendStatusChange { user_id, status } => {
                    log.push(Seen::Change(user_id, status))
                }
                other => panic!("observer: unexpected {other:?}"),
            }
        }
        log.push(Seen::Snapshot(reply));
    }
    let mut open = Vec::new();
    let mut expected_final = Vec::new();
    let mut cycles_of = std::collections::HashMap::new();
    for t in tasks {
        let (id, cycles, last) = t.await.expect("churn task");
        cycles_of.insert(id, cycles);
        if let Some(ws) = last {
            expected_final.push(id);
            open.push(ws);
        }
    }
    expected_final.sort_unstable();
    // Transitions have stopped: the last reply is the truth.
    let (truth, events) = wo.round_trip_skipping().await;
    for e in events {
        match e {
            ServerEvent::FriendStatusChange { user_id, status } => {
                log.push(Seen::Change(user_id, status))
            }
            other => panic!("observer: unexpected {other:?}"),
        }
    }
    assert_eq!(truth, expected_final, "the final snapshot is the truth");

    // G1: per friend, the events alternate online/offline starting from
    // offline and end in the true state. (Not one pair per cycle: the server
    // answers a client's close before it unregisters the connection, so a
    // reconnect right after a completed close handshake may overlap the old
    // connection, which is then no transition at all.)
    for f in friends {
        let seq: Vec<Status> = log
            .iter()
            .filter_map(|s| match s {
                Seen::Change(id, st) if *id == f.id => Some(*st),
                _ => None,
            })
            .collect();
        let ends_online = expected_final.contains(&f.id);
        let alternating = seq.iter().enumerate().all(|(i, st)| {
            *st == if i % 2 == 0 {
                Status::Online
            } else {
                Status::Offline
            }
        });
        assert!(
            alternating && !seq.is_empty() && (seq.len() % 2 == 1) == ends_online,
            "G1: the events about friend {} ({} cycles, ends online: {ends_online}): {seq:?}",
            f.id,
            cycles_of[&f.id]
        );
    }
    // G2: every snapshot plus the events after it gives the truth.
    for (k, entry) in log.iter().enumerate() {
        let Seen::Snapshot(snap) = entry else {
            continue;
        };
        let mut state: std::collections::BTreeSet<u64> = snap.iter().copied().collect();
        for later in &log[k + 1..] {
            if let Seen::Change(id, st) = later {
                match st {
                    Status::Online => state.insert(*id),
                    Status::Offline => state.remove(id),
                };
            }
        }
        let state: Vec<u64> = state.into_iter().collect();
        assert_eq!(
            state, truth,
            "G2: snapshot #{k} {snap:?} plus the later events is not the truth"
        );
    }
}

#[tokio::test]
async fn typing_is_cleared_only_when_the_typer_goes_offline_and_for_everyone_typed_to() {
    let s = TestServer::start().await;
    let [a, b, c, d] = s.users_n().await;
    s.befriend(&[(&a, &b), (&a, &c), (&a, &d)]).await;
    let mut wb = s.connect_confirmed(&b).await;
    let mut wc = s.connect_confirmed(&c).await;
    let mut wd = s.connect_confirmed(&d).await;
    let mut a1 = s.connect_confirmed(&a).await;
    let a2 = s.connect_confirmed(&a).await;
    for ws in [&mut wb, &mut wc, &mut wd] {
        ws.expect(&status(a.id, Status::Online)).await;
    }
    // A types to B and C from its first device; D is not typed to.
    for to in [&b, &c] {
        a1.send(&ClientMessage::Typing {
            receiver_id: Id(to.id),
        })
        .await;
    }
    let typing = |is_typing| ServerEvent::UserTyping {
        user_id: a.id,
        is_typing,
    };
    wb.expect(&typing(true)).await;
    wc.expect(&typing(true)).await;

    // The typing device closes but A stays online: nothing yet.
    a1.close().await;
    tests::silent_all(&mut [&mut wb, &mut wc, &mut wd]).await;

    // The last device closes: offline to all, typing=false to B and C.
    a2.close().await;
    for ws in [&mut wb, &mut wc] {
        let mut got = vec![ws.recv_event().await, ws.recv_event().await];
        got.sort_by_key(|e| matches!(e, ServerEvent::UserTyping { .. }));
        assert_eq!(
            got,
            vec![status(a.id, Status::Offline), typing(false)],
            "{}",
            ws.label
        );
    }
    wd.expect(&status(a.id, Status::Offline)).await;
    tests::silent_all(&mut [&mut wb, &mut wc, &mut wd]).await;
}
