//! What the generator measures: latency kinds, REST endpoints, the
//! per-task [`Recorder`], and the process's own CPU time.
//!
//! Latency is in microseconds and recorded twice: from the *intended* send
//! time (the open-model schedule; this counts the time a late generator
//! made a request wait, i.e. corrects for coordinated omission) and from the
//! *actual* send time. Generator lag (actual − intended) has its own
//! histogram; its p99 decides whether the run was saturated.
//!
//! Each task owns a [`Recorder`] and nothing is shared: recorders are
//! merged (or their interval snapshots sent over a channel and merged by a
//! collector), never updated behind a lock.

pub mod buckets;
mod compact;
mod recorder;

pub use compact::CompactRecorder;
pub use recorder::{Recorder, FRAME_TYPES, HISTOGRAM_MAX_US, SIGNIFICANT_DIGITS};

use std::time::Duration;

/// A kind of latency the report shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LatencyKind {
    /// send_message → the `new_message` echo on the sending connection.
    MessageEcho,
    /// send_message → `new_message` on another connection (the receiver's, or
    /// the sender's other devices).
    MessageDelivery,
    /// A user's first connect / last close → `friend_status_change` at a friend.
    Presence,
    /// `typing` / `stop_typing` → `user_typing` at the receiver.
    Typing,
    /// `get_online_friends` → its `online_friends` reply.
    OnlineFriends,
    /// WebSocket connect → handshake complete.
    Handshake,
    /// Any REST request → its response (per-endpoint detail in [`RestEndpoint`]).
    Rest,
}

/// Number of [`LatencyKind`]s.
pub const KINDS: usize = 7;

impl LatencyKind {
    /// Every kind, in report order.
    pub const ALL: [LatencyKind; KINDS] = [
        LatencyKind::MessageEcho,
        LatencyKind::MessageDelivery,
        LatencyKind::Presence,
        LatencyKind::Typing,
        LatencyKind::OnlineFriends,
        LatencyKind::Handshake,
        LatencyKind::Rest,
    ];

    /// The stable name used in the JSON report, the summary and the hdr log.
    pub const fn as_str(self) -> &'static str {
        match self {
            LatencyKind::MessageEcho => "message_echo",
            LatencyKind::MessageDelivery => "message_delivery",
            LatencyKind::Presence => "presence",
            LatencyKind::Typing => "typing",
            LatencyKind::OnlineFriends => "online_friends",
            LatencyKind::Handshake => "handshake",
            LatencyKind::Rest => "rest",
        }
    }

    /// Position in [`LatencyKind::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A REST endpoint, for per-endpoint latency detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RestEndpoint {
    /// `POST /me/send_friend_request`.
    SendFriendRequest,
    /// `POST /me/accept_friend_request`.
    AcceptFriendRequest,
    /// `POST /create_conversation`.
    CreateConversation,
    /// `POST /delete_conversation`.
    DeleteConversation,
    /// `POST /conversation/send_message`.
    SendMessage,
    /// `POST /conversation/delete_message`.
    DeleteMessage,
    /// `GET /me`.
    Me,
    /// `GET /me/friends`.
    Friends,
    /// `GET /conversations`.
    Conversations,
    /// `GET /conversation/{id}/messages`.
    History,
    /// `POST /admin/users`.
    AdminUsers,
    /// `POST /admin/users/bulk`.
    AdminUsersBulk,
    /// `POST /admin/friendships`.
    AdminFriendships,
    /// `GET /healthz`.
    Healthz,
    /// `GET /metrics`.
    Metrics,
}

/// Number of [`RestEndpoint`]s.
pub const ENDPOINTS: usize = 15;

impl RestEndpoint {
    /// Every endpoint, in report order.
    pub const ALL: [RestEndpoint; ENDPOINTS] = [
        RestEndpoint::SendFriendRequest,
        RestEndpoint::AcceptFriendRequest,
        RestEndpoint::CreateConversation,
        RestEndpoint::DeleteConversation,
        RestEndpoint::SendMessage,
        RestEndpoint::DeleteMessage,
        RestEndpoint::Me,
        RestEndpoint::Friends,
        RestEndpoint::Conversations,
        RestEndpoint::History,
        RestEndpoint::AdminUsers,
        RestEndpoint::AdminUsersBulk,
        RestEndpoint::AdminFriendships,
        RestEndpoint::Healthz,
        RestEndpoint::Metrics,
    ];

    /// Stable name in reports (snake_case).
    pub const fn as_str(self) -> &'static str {
        match self {
            RestEndpoint::SendFriendRequest => "send_friend_request",
            RestEndpoint::AcceptFriendRequest => "accept_friend_request",
            RestEndpoint::CreateConversation => "create_conversation",
            RestEndpoint::DeleteConversation => "delete_conversation",
            RestEndpoint::SendMessage => "send_message",
            RestEndpoint::DeleteMessage => "delete_message",
            RestEndpoint::Me => "me",
            RestEndpoint::Friends => "friends",
            RestEndpoint::Conversations => "conversations",
            RestEndpoint::History => "history",
            RestEndpoint::AdminUsers => "admin_users",
            RestEndpoint::AdminUsersBulk => "admin_users_bulk",
            RestEndpoint::AdminFriendships => "admin_friendships",
            RestEndpoint::Healthz => "healthz",
            RestEndpoint::Metrics => "metrics",
        }
    }

    /// Method and path as PROTOCOL.md §6 writes them.
    pub const fn route(self) -> &'static str {
        match self {
            RestEndpoint::SendFriendRequest => "POST /me/send_friend_request",
            RestEndpoint::AcceptFriendRequest => "POST /me/accept_friend_request",
            RestEndpoint::CreateConversation => "POST /create_conversation",
            RestEndpoint::DeleteConversation => "POST /delete_conversation",
            RestEndpoint::SendMessage => "POST /conversation/send_message",
            RestEndpoint::DeleteMessage => "POST /conversation/delete_message",
            RestEndpoint::Me => "GET /me",
            RestEndpoint::Friends => "GET /me/friends",
            RestEndpoint::Conversations => "GET /conversations",
            RestEndpoint::History => "GET /conversation/{id}/messages",
            RestEndpoint::AdminUsers => "POST /admin/users",
            RestEndpoint::AdminUsersBulk => "POST /admin/users/bulk",
            RestEndpoint::AdminFriendships => "POST /admin/friendships",
            RestEndpoint::Healthz => "GET /healthz",
            RestEndpoint::Metrics => "GET /metrics",
        }
    }

    /// Position in [`RestEndpoint::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// A duration in whole microseconds, saturating (for recording).
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// User + system CPU time of this process so far, in seconds (all threads).
pub fn process_cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer it is given; the
    // pointer is to a properly sized, aligned, zeroed value we own.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0.0;
    }
    // SAFETY: getrusage returned 0, so it filled the struct (and a zeroed
    // rusage is a valid value anyway: plain integers).
    let usage = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_indexes_match() {
        let names: Vec<_> = LatencyKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_echo",
                "message_delivery",
                "presence",
                "typing",
                "online_friends",
                "handshake",
                "rest"
            ]
        );
        for (i, k) in LatencyKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
        for (i, e) in RestEndpoint::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
            assert!(e.route().contains('/'));
        }
    }

    #[test]
    fn cpu_time_is_measured() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() >= before);
        assert!(before >= 0.0);
    }
}
