//! The friend-request behaviour: user A asks a non-friend B, B accepts, and
//! both ask `get_online_friends` on every device (becoming friends sends no
//! presence event, §8).

use super::conn::Cmd;
use super::rest;
use super::shared::Shared;
use crate::metrics::RestEndpoint;
use crate::population::{schedule_rng, stream};
use rand::Rng;
use server::protocol::rest::{AcceptFriendRequest, SendFriendRequest};
use server::protocol::Id;

/// One request from user `a` to a random non-friend, then its acceptance.
pub async fn request(shared: &Shared, a: u32, intended: u64) {
    let n = shared.users.len() as u32;
    if n < 3 {
        return;
    }
    let mut rng = schedule_rng(shared.plan.seed ^ intended, a, stream::FRIEND_REQUEST);
    let Some(b) = (0..8)
        .map(|_| rng.gen_range(0..n))
        .find(|b| *b != a && !shared.are_friends(a, *b))
    else {
        return;
    };
    if !shared.shard.owns(b) {
        // B's connections, views and friendship facts are another shard's,
        // which would not know of the new friendship: not done when split.
        shared.with_recorder(a, |r| r.count("friend_requests_skipped_other_shard"));
        return;
    }
    let (ta, tb) = (
        &shared.users[a as usize].token,
        &shared.users[b as usize].token,
    );
    let ask = SendFriendRequest {
        receiver_id: Id(shared.users[b as usize].id),
    };
    let Some(r) = rest::call(
        shared,
        a,
        RestEndpoint::SendFriendRequest,
        ta,
        Some(&ask),
        intended,
    )
    .await
    else {
        return;
    };
    if r.status.as_u16() == 409 {
        // Another request between the same pair is pending (both sides
        // asked at once): the contract's answer, not an error.
        shared.with_recorder(a, |r| r.count("friend_request_conflicts"));
        return;
    }
    if !r.status.is_success() {
        return;
    }
    let (ida, idb) = (shared.users[a as usize].id, shared.users[b as usize].id);
    // A2: the accept is recorded before it is sent.
    shared
        .facts
        .lock()
        .friends
        .accept_sent(ida, idb, shared.now_us());
    let accept = AcceptFriendRequest {
        sender_id: Id(shared.users[a as usize].id),
    };
    let Some(r) = rest::call(
        shared,
        b,
        RestEndpoint::AcceptFriendRequest,
        tb,
        Some(&accept),
        shared.now_us(),
    )
    .await
    else {
        return;
    };
    if !r.status.is_success() {
        return;
    }
    shared
        .facts
        .lock()
        .friends
        .accept_confirmed(ida, idb, shared.now_us());
    shared.new_friends.write().insert((a.min(b), a.max(b)));
    shared.with_recorder(a, |r| r.count("friendships_made"));
    let conns: Vec<_> = shared
        .conns
        .lock()
        .iter()
        .filter(|c| (c.user == a || c.user == b) && c.is_open())
        .cloned()
        .collect();
    for c in conns {
        c.send(Cmd::OnlineFriends);
    }
}
