//! §6 Friend requests: `POST /me/send_friend_request` (201,
//! `new_friend_request` to the receiver; 409 when already friends or pending
//! either way) and `POST /me/accept_friend_request` (200,
//! `friend_request_accepted` to the requester; 404 without a pending
//! request).

use server::protocol::rest::{AcceptFriendRequest, Friends, SendFriendRequest};
use server::protocol::{ErrorCode, Id, ServerEvent};
use tests::{Rest, TestServer};

async fn request(rest: &Rest, to: u64) -> tests::Reply {
    rest.post(
        "/me/send_friend_request",
        &SendFriendRequest {
            receiver_id: Id(to),
        },
    )
    .await
}

async fn accept(rest: &Rest, from: u64) -> tests::Reply {
    rest.post(
        "/me/accept_friend_request",
        &AcceptFriendRequest {
            sender_id: Id(from),
        },
    )
    .await
}

async fn friend_ids(rest: &Rest) -> Vec<u64> {
    let f: Friends = rest.get("/me/friends").await.ok(200, "friends");
    let mut ids: Vec<u64> = f.friends.iter().map(|f| f.user_id).collect();
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn request_then_accept_makes_friends_with_the_events_to_the_right_people() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    let mut a1 = s.connect_confirmed(&a).await;
    let mut a2 = s.connect_confirmed(&a).await;
    let mut b1 = s.connect_confirmed(&b).await;
    let mut b2 = s.connect_confirmed(&b).await;
    let mut c1 = s.connect_confirmed(&c).await;

    request(&s.rest(&a), b.id).await.status(201, "send request");
    let expected = ServerEvent::NewFriendRequest {
        sender_id: a.id,
        sender_username: a.username.clone(),
    };
    b1.expect(&expected).await;
    b2.expect(&expected).await;
    tests::silent_all(&mut [&mut a1, &mut a2, &mut c1]).await;
    // Pending is not friends.
    assert_eq!(friend_ids(&s.rest(&a)).await, Vec::<u64>::new());

    accept(&s.rest(&b), a.id).await.status(200, "accept");
    let expected = ServerEvent::FriendRequestAccepted {
        friend_id: b.id,
        friend_username: b.username.clone(),
    };
    a1.expect(&expected).await;
    a2.expect(&expected).await;
    // §8: becoming friends sends no presence event, nor anything to the
    // accepting side.
    tests::silent_all(&mut [&mut b1, &mut b2, &mut c1]).await;
    assert_eq!(friend_ids(&s.rest(&a)).await, vec![b.id]);
    assert_eq!(friend_ids(&s.rest(&b)).await, vec![a.id]);
    assert_eq!(a1.round_trip().await, vec![b.id]);
}

#[tokio::test]
async fn duplicate_reverse_and_existing_requests_conflict() {
    let s = TestServer::start().await;
    let [a, b, c] = s.users_n().await;
    s.befriend(&[(&a, &c)]).await;
    let ra = s.rest(&a);
    let rb = s.rest(&b);
    request(&ra, b.id).await.status(201, "first request");
    request(&ra, b.id)
        .await
        .err(409, ErrorCode::Conflict, "the same request again");
    request(&rb, a.id).await.err(
        409,
        ErrorCode::Conflict,
        "the reverse request while pending",
    );
    request(&ra, c.id)
        .await
        .err(409, ErrorCode::Conflict, "a request to a friend");
    request(&s.rest(&c), a.id)
        .await
        .err(409, ErrorCode::Conflict, "a request from a friend");
    accept(&rb, a.id).await.status(200, "accept");
    request(&rb, a.id)
        .await
        .err(409, ErrorCode::Conflict, "a request after accepting");
}

#[tokio::test]
async fn accepting_without_a_pending_request_is_404() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    let ra = s.rest(&a);
    let rb = s.rest(&b);
    accept(&rb, a.id)
        .await
        .err_any(404, &[ErrorCode::NotFound], "nothing pending");
    accept(&rb, i64::MAX as u64).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownUser],
        "an unknown user",
    );
    request(&ra, b.id).await.status(201, "request");
    // The requester cannot accept its own request.
    accept(&ra, b.id)
        .await
        .err_any(404, &[ErrorCode::NotFound], "accepting one's own request");
    accept(&rb, a.id).await.status(200, "accept");
    accept(&rb, a.id)
        .await
        .err_any(404, &[ErrorCode::NotFound], "accepting twice");
}

#[tokio::test]
async fn requests_to_oneself_or_unknown_users_are_refused() {
    let s = TestServer::start().await;
    let a = s.user().await;
    let ra = s.rest(&a);
    request(&ra, a.id)
        .await
        .err(400, ErrorCode::SelfTarget, "a request to oneself");
    request(&ra, i64::MAX as u64).await.err_any(
        404,
        &[ErrorCode::NotFound, ErrorCode::UnknownUser],
        "a request to an unknown user",
    );
    for body in [
        "{}",
        r#"{"receiver_id":0}"#,
        r#"{"receiver_id":"x"}"#,
        "nope",
    ] {
        ra.post_raw("/me/send_friend_request", body).await.err_any(
            400,
            &[
                ErrorCode::InvalidBody,
                ErrorCode::InvalidField,
                ErrorCode::InvalidJson,
            ],
            body,
        );
    }
}

#[tokio::test]
async fn the_new_friend_request_goes_to_the_receiver_only_while_online() {
    let s = TestServer::start().await;
    let [a, b] = s.users_n().await;
    // B is offline when asked: nothing is queued for later.
    request(&s.rest(&a), b.id).await.status(201, "request");
    let mut b1 = s.connect_confirmed(&b).await;
    b1.silent().await;
    // Still pending: B can accept.
    let mut a1 = s.connect_confirmed(&a).await;
    accept(&s.rest(&b), a.id).await.status(200, "accept");
    a1.expect(&ServerEvent::FriendRequestAccepted {
        friend_id: b.id,
        friend_username: b.username.clone(),
    })
    .await;
}
