//! REST request and response bodies (§6), shared by the server's handlers,
//! the load generator's REST client and the tests.

use super::{ConversationId, ErrorCode, Id, MessageId, UserId};
use serde::{Deserialize, Serialize};

/// `{"error":{"code","message"}}`, the body of every REST error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

/// `POST /me/send_friend_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendFriendRequest {
    pub receiver_id: Id,
}

/// `POST /me/accept_friend_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptFriendRequest {
    pub sender_id: Id,
}

/// `POST /create_conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateConversation {
    pub other_user_id: Id,
}

/// Reply of `POST /create_conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationCreated {
    pub conversation_id: ConversationId,
}

/// `POST /delete_conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteConversation {
    pub conversation_id: Id,
}

/// `POST /conversation/send_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestSendMessage {
    pub conversation_id: Id,
    pub content: String,
    #[serde(default)]
    pub media_ids: Vec<u64>,
}

/// Reply of `POST /conversation/send_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCreated {
    pub message_id: MessageId,
    pub created_at: String,
}

/// `POST /conversation/delete_message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteMessage {
    pub message_id: Id,
}

/// Reply of `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: UserId,
    pub username: String,
}

/// One row of `GET /me/friends`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friend {
    pub user_id: UserId,
    pub username: String,
    pub online: bool,
}

/// Reply of `GET /me/friends`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friends {
    pub friends: Vec<Friend>,
}

/// One row of `GET /conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    pub conversation_id: ConversationId,
    pub other_user_id: UserId,
    pub unread_count: u64,
}

/// Reply of `GET /conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversations {
    pub conversations: Vec<ConversationSummary>,
}

/// One message of `GET /conversation/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryMessage {
    pub message_id: MessageId,
    pub sender_id: UserId,
    pub content: String,
    pub created_at: String,
    pub read: bool,
    pub media_ids: Vec<u64>,
}

/// Reply of `GET /conversation/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    pub messages: Vec<HistoryMessage>,
}

/// Query of `GET /conversation/{id}/messages`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `POST /admin/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateUser {
    pub username: String,
}

/// A provisioned user (reply of `POST /admin/users`, rows of the bulk reply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedUser {
    pub user_id: UserId,
    pub username: String,
    pub api_token: String,
}

/// `POST /admin/users/bulk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkUsers {
    pub count: u64,
    pub username_prefix: String,
}

/// Reply of `POST /admin/users/bulk`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkUsersCreated {
    pub users: Vec<ProvisionedUser>,
}

/// `POST /admin/friendships`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friendships {
    pub pairs: Vec<(u64, u64)>,
}

/// Reply of `POST /admin/friendships`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendshipsCreated {
    pub created: u64,
}
