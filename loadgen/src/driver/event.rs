//! Decoding the server's frames, fast.
//!
//! `ServerEvent` is an internally tagged enum (`"type"` names the variant),
//! and serde decodes those by first copying the whole object into an
//! intermediate tree, then decoding the variant from it: two passes and an
//! allocation per field. Every frame the generator receives goes through
//! here, so [`decode`] reads the object once into [`Flat`], a struct of every
//! field any event has, borrowing the strings it can, then builds the event.
//! Anything [`Flat`] cannot take (a field of another event with a different
//! type, say) falls back to serde's own decoding, so the result is always
//! exactly what `serde_json::from_str::<ServerEvent>` gives — the property
//! test `fast_decode_agrees_with_serde` checks it.

use serde::Deserialize;
use server::protocol::{ErrorCode, NewMessage, ServerEvent, Status};
use std::borrow::Cow;

/// Every field of every server event, each optional.
#[derive(Deserialize)]
struct Flat<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    user_id: Option<u64>,
    status: Option<Status>,
    is_typing: Option<bool>,
    friends: Option<Vec<u64>>,
    message_id: Option<u64>,
    sender_id: Option<u64>,
    conversation_id: Option<u64>,
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    receiver_id: Option<u64>,
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    created_at: Option<Cow<'a, str>>,
    media_ids: Option<Vec<u64>>,
    other_user_id: Option<u64>,
    #[serde(borrow)]
    sender_username: Option<Cow<'a, str>>,
    friend_id: Option<u64>,
    #[serde(borrow)]
    friend_username: Option<Cow<'a, str>>,
    code: Option<ErrorCode>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

/// Decodes one text frame from the server.
pub fn decode(text: &str) -> Result<ServerEvent, serde_json::Error> {
    match serde_json::from_str::<Flat>(text).ok().and_then(build) {
        Some(event) => Ok(event),
        None => serde_json::from_str(text),
    }
}

/// The event `f` describes, if it has the fields its type needs.
fn build(f: Flat<'_>) -> Option<ServerEvent> {
    let owned = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
    Some(match &*f.kind {
        "friend_status_change" => ServerEvent::FriendStatusChange {
            user_id: f.user_id?,
            status: f.status?,
        },
        "user_typing" => ServerEvent::UserTyping {
            user_id: f.user_id?,
            is_typing: f.is_typing?,
        },
        "online_friends" => ServerEvent::OnlineFriends {
            friends: f.friends?,
        },
        "new_message" => ServerEvent::NewMessage(NewMessage {
            message_id: f.message_id?,
            sender_id: f.sender_id?,
            conversation_id: f.conversation_id?,
            content: owned(f.content)?,
            receiver_id: f.receiver_id,
            timestamp: owned(f.timestamp),
            created_at: owned(f.created_at),
            media_ids: f.media_ids,
        }),
        "delete_message" => ServerEvent::DeleteMessage {
            message_id: f.message_id?,
        },
        "messages_read" => ServerEvent::MessagesRead {
            conversation_id: f.conversation_id?,
            user_id: f.user_id?,
        },
        "new_conversation" => ServerEvent::NewConversation {
            conversation_id: f.conversation_id?,
            other_user_id: f.other_user_id?,
        },
        "conversation_deleted" => ServerEvent::ConversationDeleted {
            conversation_id: f.conversation_id?,
        },
        "new_friend_request" => ServerEvent::NewFriendRequest {
            sender_id: f.sender_id?,
            sender_username: owned(f.sender_username)?,
        },
        "friend_request_accepted" => ServerEvent::FriendRequestAccepted {
            friend_id: f.friend_id?,
            friend_username: owned(f.friend_username)?,
        },
        "error" => ServerEvent::Error {
            code: f.code?,
            message: owned(f.message)?,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_serde_including_what_only_serde_takes() {
        let frames = [
            r#"{"type":"friend_status_change","user_id":5,"status":"online"}"#,
            r#"{"type":"user_typing","user_id":5,"is_typing":false,"extra":[1,{"a":2}]}"#,
            r#"{"type":"online_friends","friends":[1,2,3]}"#,
            r#"{"type":"new_message","message_id":9,"sender_id":5,"receiver_id":7,"conversation_id":3,"content":"h\u00e9\"llo","timestamp":"2024-01-01T12:00:00.000000"}"#,
            r#"{"type":"new_message","conversation_id":3,"message_id":9,"sender_id":5,"content":"x","created_at":"2024-01-01T12:00:00.000000","media_ids":[1]}"#,
            r#"{"type":"error","code":"not_friends","message":"no"}"#,
            // An unknown field of a type another event uses: only serde's
            // own path ignores it.
            r#"{"type":"delete_message","message_id":4,"status":17}"#,
            // Not events: both refuse.
            r#"{"type":"user_typing","user_id":5}"#,
            r#"{"type":"nope"}"#,
            r#"{"type":"friend_status_change","user_id":5,"status":"online","user_id":6}"#,
            "[]",
            "",
        ];
        for frame in frames {
            let slow = serde_json::from_str::<ServerEvent>(frame).ok();
            assert_eq!(decode(frame).ok(), slow, "{frame}");
        }
        assert!(decode(frames[6]).is_ok());
    }
}
