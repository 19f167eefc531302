//! `POST /create_conversation`, `POST /delete_conversation`, `GET /conversations`.

use super::extract::{ApiResult, AuthUser, Body};
use crate::manager::Frame;
use crate::protocol::rest::{
    ConversationCreated, ConversationSummary, Conversations, CreateConversation, DeleteConversation,
};
use crate::protocol::{ErrorCode, EventKind, ServerEvent};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// `POST /create_conversation {"other_user_id"}` → 201 with a new id
/// (and `new_conversation` to the other user), or 200 with the existing one.
pub async fn create(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Body(body): Body<CreateConversation>,
) -> ApiResult<(StatusCode, Json<ConversationCreated>)> {
    let other = body.other_user_id.get();
    crate::messaging::check_target(&state, me, other)?;
    let (conv, created) = state.conversations.get_or_create(me, other);
    let id = conv.lock().id;
    if !created {
        return Ok((
            StatusCode::OK,
            Json(ConversationCreated {
                conversation_id: id,
            }),
        ));
    }
    let frame = Frame::from(
        ServerEvent::NewConversation {
            conversation_id: id,
            other_user_id: me,
        }
        .to_json(),
    );
    state
        .manager
        .send_personal_message(other, &frame, EventKind::NewConversation);
    Ok((
        StatusCode::CREATED,
        Json(ConversationCreated {
            conversation_id: id,
        }),
    ))
}

/// `POST /delete_conversation {"conversation_id"}` → 200;
/// `conversation_deleted` to the other participant.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Body(body): Body<DeleteConversation>,
) -> ApiResult<Json<Value>> {
    let id = body.conversation_id.get();
    let conv = state
        .conversations
        .get(id)
        .ok_or(ErrorCode::UnknownConversation)?;
    let frame = Frame::from(
        ServerEvent::ConversationDeleted {
            conversation_id: id,
        }
        .to_json(),
    );
    let (users, messages) = {
        let mut conv = conv.lock();
        if conv.deleted {
            return Err(ErrorCode::UnknownConversation.into());
        }
        if !conv.has(me) {
            return Err(ErrorCode::NotParticipant.into());
        }
        conv.deleted = true;
        // Under the conversation's lock: ordered after its last message.
        state
            .manager
            .send_personal_message(conv.other(me), &frame, EventKind::ConversationDeleted);
        (conv.users, std::mem::take(&mut conv.messages))
    };
    state.metrics.messages_stored.dec_by(messages.len() as i64);
    state.conversations.forget(id, users, &messages);
    Ok(Json(json!({})))
}

/// `GET /conversations` → each with `unread_count`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
) -> Json<Conversations> {
    let mut conversations: Vec<ConversationSummary> = state
        .conversations
        .of_user(me)
        .into_iter()
        .filter_map(|id| state.conversations.get(id))
        .filter_map(|conv| {
            let conv = conv.lock();
            (!conv.deleted).then(|| ConversationSummary {
                conversation_id: conv.id,
                other_user_id: conv.other(me),
                unread_count: conv.unread_count(me),
            })
        })
        .collect();
    conversations.sort_by_key(|c| c.conversation_id);
    Json(Conversations { conversations })
}
