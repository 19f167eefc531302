//! The wire contract (PROTOCOL.md §2–§3): one serde enum per direction.
//!
//! The load generator and the tests import these types; nothing else in the
//! product re-declares them. Unknown fields are ignored on decode (no
//! `deny_unknown_fields`), as the contract asks of both sides.
//!
//! - [`ClientMessage`]: what a client sends over the WebSocket.
//! - [`ServerEvent`]: everything the server pushes.
//! - [`ErrorCode`]: the error codes of WS error frames and REST error bodies.
//! - [`decode`](decode::decode_client): typed decode, classifying only on failure.
//! - [`rest`]: REST request and response bodies.

pub mod decode;
pub mod rest;

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

pub use decode::{decode_client, DecodeError};

/// A user id.
pub type UserId = u64;
/// A conversation id.
pub type ConversationId = u64;
/// A message id.
pub type MessageId = u64;

/// The largest id the contract accepts (§8: above 2^63−1 is `invalid_field`).
pub const MAX_ID: u64 = i64::MAX as u64;
/// The largest `content` in bytes (§2).
pub const MAX_CONTENT_BYTES: usize = 4096;
/// The most `media_ids` on a REST message (§6).
pub const MAX_MEDIA_IDS: usize = 10;

/// An id as a client sends it: a JSON integer in `1..=2^63−1`.
///
/// Deserializing anything else (0, negative, too large, a float, a string)
/// fails, which the decoder classifies as `invalid_field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Id(pub u64);

impl Id {
    /// The id if it is in the accepted range.
    pub fn new(v: u64) -> Option<Id> {
        (1..=MAX_ID).contains(&v).then_some(Id(v))
    }
    /// The raw value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        Id::new(v).ok_or_else(|| {
            serde::de::Error::custom(format_args!("id {v} is out of range 1..=2^63-1"))
        })
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Client → server messages (§2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Store a message in the pair's conversation and push it to both participants.
    SendMessage { receiver_id: Id, content: String },
    /// Tell the receiver that the sender is typing.
    Typing { receiver_id: Id },
    /// Tell the receiver that the sender stopped typing.
    StopTyping { receiver_id: Id },
    /// Mark the other participant's messages in a conversation as read.
    MarkRead { conversation_id: Id },
    /// Ask for the sender's online friends (a struct variant so that extra
    /// fields are ignored like on every other message).
    GetOnlineFriends {},
}

impl ClientMessage {
    /// The `type` tag of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::SendMessage { .. } => "send_message",
            ClientMessage::Typing { .. } => "typing",
            ClientMessage::StopTyping { .. } => "stop_typing",
            ClientMessage::MarkRead { .. } => "mark_read",
            ClientMessage::GetOnlineFriends {} => "get_online_friends",
        }
    }
}

/// A friend's presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Online,
    Offline,
}

/// `new_message` in both of its forms (§3): the WS form carries
/// `receiver_id` and `timestamp`; the REST form carries `created_at` and
/// `media_ids`. One struct with optional fields decodes either.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMessage {
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub conversation_id: ConversationId,
    pub content: String,
    /// WS form only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_id: Option<UserId>,
    /// WS form only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// REST form only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// REST form only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_ids: Option<Vec<u64>>,
}

/// Server → client messages (§3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// A friend's first connection opened or last one closed.
    FriendStatusChange { user_id: UserId, status: Status },
    /// A friend started or stopped typing to this user.
    UserTyping { user_id: UserId, is_typing: bool },
    /// Reply to `get_online_friends`, ascending.
    OnlineFriends { friends: Vec<UserId> },
    /// A message in one of this user's conversations.
    NewMessage(NewMessage),
    /// The other participant deleted a message.
    DeleteMessage { message_id: MessageId },
    /// The other participant read this user's messages.
    MessagesRead {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    /// Someone opened a conversation with this user.
    NewConversation {
        conversation_id: ConversationId,
        other_user_id: UserId,
    },
    /// The other participant deleted a conversation.
    ConversationDeleted { conversation_id: ConversationId },
    /// Someone asked to be this user's friend.
    NewFriendRequest {
        sender_id: UserId,
        sender_username: String,
    },
    /// Someone accepted this user's friend request.
    FriendRequestAccepted {
        friend_id: UserId,
        friend_username: String,
    },
    /// A client frame broke a rule; the connection stays open.
    Error { code: ErrorCode, message: String },
}

impl ServerEvent {
    /// The `type` tag of this event (also the metrics label).
    pub fn kind(&self) -> EventKind {
        match self {
            ServerEvent::FriendStatusChange { .. } => EventKind::FriendStatusChange,
            ServerEvent::UserTyping { .. } => EventKind::UserTyping,
            ServerEvent::OnlineFriends { .. } => EventKind::OnlineFriends,
            ServerEvent::NewMessage(_) => EventKind::NewMessage,
            ServerEvent::DeleteMessage { .. } => EventKind::DeleteMessage,
            ServerEvent::MessagesRead { .. } => EventKind::MessagesRead,
            ServerEvent::NewConversation { .. } => EventKind::NewConversation,
            ServerEvent::ConversationDeleted { .. } => EventKind::ConversationDeleted,
            ServerEvent::NewFriendRequest { .. } => EventKind::NewFriendRequest,
            ServerEvent::FriendRequestAccepted { .. } => EventKind::FriendRequestAccepted,
            ServerEvent::Error { .. } => EventKind::Error,
        }
    }

    /// Serializes the event once; the bytes are then shared by every recipient.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs into a String cannot fail: no map
        // has non-string keys and no Serialize impl returns an error.
        serde_json::to_string(self).expect("server events always serialize")
    }
}

/// The kinds of [`ServerEvent`], as a dense index for metrics arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    FriendStatusChange,
    UserTyping,
    OnlineFriends,
    NewMessage,
    DeleteMessage,
    MessagesRead,
    NewConversation,
    ConversationDeleted,
    NewFriendRequest,
    FriendRequestAccepted,
    Error,
}

impl EventKind {
    /// Every kind, in index order.
    pub const ALL: [EventKind; 11] = [
        EventKind::FriendStatusChange,
        EventKind::UserTyping,
        EventKind::OnlineFriends,
        EventKind::NewMessage,
        EventKind::DeleteMessage,
        EventKind::MessagesRead,
        EventKind::NewConversation,
        EventKind::ConversationDeleted,
        EventKind::NewFriendRequest,
        EventKind::FriendRequestAccepted,
        EventKind::Error,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::FriendStatusChange => "friend_status_change",
            EventKind::UserTyping => "user_typing",
            EventKind::OnlineFriends => "online_friends",
            EventKind::NewMessage => "new_message",
            EventKind::DeleteMessage => "delete_message",
            EventKind::MessagesRead => "messages_read",
            EventKind::NewConversation => "new_conversation",
            EventKind::ConversationDeleted => "conversation_deleted",
            EventKind::NewFriendRequest => "new_friend_request",
            EventKind::FriendRequestAccepted => "friend_request_accepted",
            EventKind::Error => "error",
        }
    }
}

/// Error codes of WS error frames and REST error bodies (§2, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidJson,
    UnknownType,
    InvalidField,
    UnknownUser,
    SelfTarget,
    NotFriends,
    UnknownConversation,
    NotParticipant,
    EmptyContent,
    ContentTooLong,
    BinaryUnsupported,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    InvalidBody,
}

impl ErrorCode {
    /// Every code, in index order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::InvalidJson,
        ErrorCode::UnknownType,
        ErrorCode::InvalidField,
        ErrorCode::UnknownUser,
        ErrorCode::SelfTarget,
        ErrorCode::NotFriends,
        ErrorCode::UnknownConversation,
        ErrorCode::NotParticipant,
        ErrorCode::EmptyContent,
        ErrorCode::ContentTooLong,
        ErrorCode::BinaryUnsupported,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::InvalidBody,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::InvalidField => "invalid_field",
            ErrorCode::UnknownUser => "unknown_user",
            ErrorCode::SelfTarget => "self_target",
            ErrorCode::NotFriends => "not_friends",
            ErrorCode::UnknownConversation => "unknown_conversation",
            ErrorCode::NotParticipant => "not_participant",
            ErrorCode::EmptyContent => "empty_content",
            ErrorCode::ContentTooLong => "content_too_long",
            ErrorCode::BinaryUnsupported => "binary_unsupported",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::InvalidBody => "invalid_body",
        }
    }

    /// A one-line human explanation used as the default `message`.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "the frame is not a JSON object",
            ErrorCode::UnknownType => "missing, non-string or unknown \"type\"",
            ErrorCode::InvalidField => "a field is missing, of the wrong type, or out of range",
            ErrorCode::UnknownUser => "no such user",
            ErrorCode::SelfTarget => "you cannot target yourself",
            ErrorCode::NotFriends => "you are not friends with that user",
            ErrorCode::UnknownConversation => "no such conversation",
            ErrorCode::NotParticipant => "you are not a participant of that conversation",
            ErrorCode::EmptyContent => "content is empty",
            ErrorCode::ContentTooLong => "content is longer than 4096 bytes",
            ErrorCode::BinaryUnsupported => "binary frames are not supported",
            ErrorCode::Unauthorized => "missing or unknown token",
            ErrorCode::Forbidden => "not allowed",
            ErrorCode::NotFound => "not found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "body larger than 64 KiB",
            ErrorCode::InvalidBody => "the body is not valid for this endpoint",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the server uses (§1, §5, §8).
pub mod close {
    /// Going away: the server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A text frame that is not valid UTF-8.
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A message larger than the limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The token in the URL is unknown.
    pub const INVALID_TOKEN: u16 = 4008;
    /// The outbound queue was full.
    pub const SLOW_CONSUMER: u16 = 4010;
    /// The user already has the maximum number of connections.
    pub const TOO_MANY_CONNECTIONS: u16 = 4011;
}

/// Formats a timestamp as the contract wants: UTC, ISO 8601 without offset,
/// microsecond precision (`2024-01-01T12:00:00.000000`).
///
/// Written field by field into a 26-byte string: chrono's `format` parses
/// its format string on every call, which was a visible share of a
/// message's cost (issue 15). A leap second's extra nanoseconds fold into
/// the fraction, as they do in chrono's `%.6f`.
pub fn format_timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    use std::fmt::Write;
    let mut s = String::with_capacity(26);
    // Writing into a String cannot fail.
    let _ = write!(
        s,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() % 1_000_000_000 / 1_000
    );
    s
}
