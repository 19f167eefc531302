//! One connection's online state: what it has seen, in O(friends + peers)
//! memory, never a history.
//!
//! A [`ConnView`] keeps
//!
//! - its view of each friend (online or not, typing since when), built from
//!   its last applied `online_friends` and the later `friend_status_change`
//!   events in arrival order (I1, I3);
//! - the send times of its outstanding `get_online_friends` requests (FIFO:
//!   replies come in order), to bound each reply's window (I4);
//! - during a barrier, the barrier's fresh reply kept *aside* (plus the
//!   events after it), so that I1 judges the event-built view first;
//! - per (sending connection, peer): the last sequence number and the set of
//!   sequence numbers received since the last barrier, as sorted runs (I5,
//!   I6; see [`super::messages`]);
//! - per conversation: the last `message_id` (I5 duplicates, I6 order);
//! - the suspicions that can only be judged once every lifecycle is known
//!   ([`super::deferred`]);
//! - the ring of its last 32 frames, for reports.
//!
//! [`ConnView::on_event`] runs the "always" checks of every frame and tells
//! the driver what it learned ([`Noted`]).

use super::content::{self, ContentHeader};
use super::ctx::{involve_conn, CheckCtx};
use super::deferred::Deferred;
use super::frames::FrameRing;
use super::lifecycle::ConnId;
use super::messages::PeerStream;
use super::violation::{ConnFrames, Findings, InvariantId, Violation};
use server::protocol::{ConversationId, MessageId, ServerEvent, Status, UserId};
use std::collections::{HashMap, VecDeque};

/// Outstanding `get_online_friends` requests remembered per connection; a
/// driver never has that many in flight, and past it replies are no longer
/// matched to requests (their windows become unknown, so only their
/// structure is judged).
const MAX_PENDING_REQUESTS: usize = 256;

/// The view of one friend.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FriendView {
    pub(super) online: bool,
    /// Set by `is_typing:true` (the arrival time), cleared by `false`, a
    /// message from that friend, or its going offline.
    pub(super) typing_since: Option<u64>,
}

/// A barrier's fresh reply, kept apart until the barrier's checks run.
#[derive(Debug, Clone)]
pub(super) struct BarrierSnap {
    pub(super) sent_at: u64,
    /// Online friends per the reply, then per the events after it; ascending.
    pub(super) online: Vec<UserId>,
}

impl BarrierSnap {
    pub(super) fn apply(&mut self, user: UserId, status: Status) {
        match (self.online.binary_search(&user), status) {
            (Err(i), Status::Online) => self.online.insert(i, user),
            (Ok(i), Status::Offline) => {
                self.online.remove(i);
            }
            _ => {}
        }
    }
}

/// An outstanding `get_online_friends`.
#[derive(Debug, Clone, Copy)]
pub(super) struct PendingRequest {
    pub(super) sent_at: u64,
    pub(super) barrier: bool,
}

/// What a frame told the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Noted {
    /// Nothing the driver needs to act on.
    Nothing,
    /// The first `online_friends`: record `Lifecycles::confirm` at this frame's time.
    Confirmed,
    /// The reply to the barrier's `get_online_friends` (kept aside).
    BarrierReply,
    /// A `new_message` (delivery latency, echo, accepted id).
    Message(Delivery),
}

/// A received `new_message`, as the driver needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub sender_id: UserId,
    /// The participant that is not the sender.
    pub peer: UserId,
    /// The generator's header, if the generator wrote the content.
    pub header: Option<ContentHeader>,
    /// This connection sent it (its echo).
    pub own_echo: bool,
    /// The REST form (sent through `POST /conversation/send_message`).
    pub rest_form: bool,
}

/// One connection's online state and "always" checks.
#[derive(Debug)]
pub struct ConnView {
    pub(super) conn: ConnId,
    pub(super) user: UserId,
    pub(super) bad_token: bool,
    pub(super) confirmed: bool,
    /// Send time of the request of the snapshot the view is built on.
    pub(super) snapshot_sent_at: Option<u64>,
    pub(super) friends: HashMap<UserId, FriendView>,
    pub(super) pending: VecDeque<PendingRequest>,
    /// Requests overflowed: replies can no longer be matched.
    pub(super) desync: bool,
    pub(super) barrier: Option<BarrierSnap>,
    pub(super) streams: HashMap<(ConnId, UserId), PeerStream>,
    pub(super) conv_last: HashMap<ConversationId, MessageId>,
    pub(super) ring: FrameRing,
    pub(super) deferred: Deferred,
    pub(super) alive_proof: Option<u64>,
    pub(super) frames_seen: usize,
}

impl ConnView {
    /// The view of a connection authenticating as `user`.
    pub fn new(conn: ConnId, user: UserId) -> ConnView {
        ConnView {
            conn,
            user,
            bad_token: false,
            confirmed: false,
            snapshot_sent_at: None,
            friends: HashMap::new(),
            pending: VecDeque::new(),
            desync: false,
            barrier: None,
            streams: HashMap::new(),
            conv_last: HashMap::new(),
            ring: FrameRing::default(),
            deferred: Deferred::default(),
            alive_proof: None,
            frames_seen: 0,
        }
    }

    /// The view of a bad-token socket (meant to look like `user`'s): it only
    /// counts and keeps frames; [`ConnView::check_bad_token_close`] judges them.
    pub fn new_bad_token(conn: ConnId, user: UserId) -> ConnView {
        ConnView {
            bad_token: true,
            ..ConnView::new(conn, user)
        }
    }

    /// The connection.
    pub fn conn(&self) -> ConnId {
        self.conn
    }

    /// Its user.
    pub fn user(&self) -> UserId {
        self.user
    }

    /// Whether its first `online_friends` arrived.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Frames received so far.
    pub fn frames_seen(&self) -> usize {
        self.frames_seen
    }

    /// The latest instant the server is proven to have held this connection
    /// (the send time of the latest request answered on it, or of its latest
    /// echoed message): pass it as `Closer::Server { alive_until }`.
    pub fn alive_proof(&self) -> Option<u64> {
        self.alive_proof
    }

    /// This connection's view of `friend` (None: never mentioned).
    pub fn status_of(&self, friend: UserId) -> Option<Status> {
        self.friends.get(&friend).map(|f| {
            if f.online {
                Status::Online
            } else {
                Status::Offline
            }
        })
    }

    /// Whether the view shows `friend` typing.
    pub fn is_typing(&self, friend: UserId) -> bool {
        self.friends
            .get(&friend)
            .is_some_and(|f| f.typing_since.is_some())
    }

    /// The last frames, for a report ([`Violation::attach_frames`]).
    pub fn recent_frames(&self) -> ConnFrames {
        self.ring.to_conn_frames(self.conn)
    }

    /// Hands over the suspicions still to be judged (when the connection
    /// closes before the next barrier): settle them at the barrier.
    pub fn take_deferred(&mut self) -> Deferred {
        std::mem::take(&mut self.deferred)
    }

    /// Call just *before* sending `get_online_friends` at `at` (`barrier`:
    /// the barrier's fresh request, whose reply is kept aside).
    pub fn requested_online_friends(&mut self, at: u64, barrier: bool) {
        if self.pending.len() >= MAX_PENDING_REQUESTS {
            self.desync = true;
            return;
        }
        self.pending.push_back(PendingRequest {
            sent_at: at,
            barrier,
        });
    }

    /// Runs the "always" checks on one received frame (arrived at `at`) and
    /// updates the view.
    pub fn on_event(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        event: &ServerEvent,
        found: &mut Findings,
    ) -> Noted {
        self.frames_seen += 1;
        // The generator's header of a message, decoded once for the ring
        // and the checks.
        let header = match event {
            ServerEvent::NewMessage(m) => content::decode(&m.content),
            _ => None,
        };
        self.ring.push(at, event, header);
        if self.bad_token {
            return Noted::Nothing;
        }
        match event {
            ServerEvent::FriendStatusChange { user_id, status } => {
                self.on_status(ctx, at, *user_id, *status, found);
                Noted::Nothing
            }
            ServerEvent::UserTyping { user_id, is_typing } => {
                self.on_typing(ctx, at, *user_id, *is_typing, found);
                Noted::Nothing
            }
            ServerEvent::OnlineFriends { friends } => self.on_snapshot(ctx, at, friends, found),
            ServerEvent::NewMessage(m) => match self.on_message(ctx, at, m, header, found) {
                Some(d) => Noted::Message(d),
                None => Noted::Nothing,
            },
            ServerEvent::DeleteMessage { message_id } => {
                self.on_delete(ctx, at, *message_id, found);
                Noted::Nothing
            }
            ServerEvent::MessagesRead {
                conversation_id,
                user_id,
            } => {
                self.on_read(ctx, at, *conversation_id, *user_id, found);
                Noted::Nothing
            }
            ServerEvent::NewConversation {
                conversation_id, ..
            }
            | ServerEvent::ConversationDeleted { conversation_id } => {
                self.on_conversation_event(ctx, at, *conversation_id, found);
                Noted::Nothing
            }
            ServerEvent::NewFriendRequest { .. }
            | ServerEvent::FriendRequestAccepted { .. }
            | ServerEvent::Error { .. } => Noted::Nothing,
        }
    }

    /// A violation observed on this connection at `at`, with its summary,
    /// the offending (latest) frame and the recent frames.
    pub(super) fn violation(
        &self,
        ctx: &dyn CheckCtx,
        invariant: InvariantId,
        at: u64,
        message: String,
    ) -> Violation {
        let mut v = Violation::new(invariant, at, message);
        v.add_user(self.user);
        involve_conn(ctx, &mut v, self.conn);
        v.frame = self.ring.last().map(|f| f.frame);
        v.attach_frames(self.recent_frames());
        v
    }

    /// Notes that the server provably held this connection at `t`.
    pub(super) fn prove_alive(&mut self, t: u64) {
        self.alive_proof = Some(self.alive_proof.map_or(t, |a| a.max(t)));
    }
}
