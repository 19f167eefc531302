//! `POST /conversation/send_message`, `POST /conversation/delete_message`,
//! `GET /conversation/{id}/messages`.

use super::extract::{ApiError, ApiResult, AuthUser, Body};
use crate::manager::Frame;
use crate::protocol::rest::{
    DeleteMessage, History, HistoryMessage, HistoryQuery, MessageCreated, RestSendMessage,
};
use crate::protocol::{ErrorCode, EventKind, ServerEvent, MAX_MEDIA_IDS};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

/// History page size when `limit` is absent (§8).
const DEFAULT_LIMIT: u64 = 100;
/// Larger `limit`s are clamped to this (§8).
const MAX_LIMIT: u64 = 500;

/// `POST /conversation/send_message` → 201 `{"message_id","created_at"}`;
/// `new_message` (REST form) to the receiver.
pub async fn send(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Body(body): Body<RestSendMessage>,
) -> ApiResult<(StatusCode, Json<MessageCreated>)> {
    if body.media_ids.len() > MAX_MEDIA_IDS {
        return Err(ApiError::with(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "at most 10 media_ids",
        ));
    }
    crate::messaging::check_content(&body.content)?;
    let created = crate::messaging::send_rest(
        &state,
        me,
        body.conversation_id.get(),
        &body.content,
        &body.media_ids,
    )?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `POST /conversation/delete_message {"message_id"}` → 200; author only
/// (403 otherwise); `delete_message` to the other participant.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Body(body): Body<DeleteMessage>,
) -> ApiResult<Json<Value>> {
    let id = body.message_id.get();
    let not_found = || {
        ApiError::with(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such message",
        )
    };
    let conv_id = state
        .conversations
        .conversation_of(id)
        .ok_or_else(not_found)?;
    let conv = state.conversations.get(conv_id).ok_or_else(not_found)?;
    let frame = Frame::from(ServerEvent::DeleteMessage { message_id: id }.to_json());
    {
        let mut conv = conv.lock();
        if conv.deleted {
            return Err(not_found());
        }
        if !conv.has(me) {
            return Err(ErrorCode::NotParticipant.into());
        }
        let message = conv.get(id).ok_or_else(not_found)?;
        if message.sender != me {
            return Err(ApiError::with(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "only the author may delete a message",
            ));
        }
        conv.remove(id);
        // Under the conversation's lock: ordered with its messages.
        state
            .manager
            .send_personal_message(conv.other(me), &frame, EventKind::DeleteMessage);
    }
    state.conversations.unindex_message(id);
    state.metrics.messages_stored.dec();
    Ok(Json(json!({})))
}

/// `GET /conversation/{id}/messages?after_id=&limit=` → ascending.
pub async fn history(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<History>> {
    let Query(query) = query.map_err(|e| {
        ApiError::with(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            e.body_text(),
        )
    })?;
    let id: u64 = id
        .parse()
        .ok()
        .filter(|v| crate::protocol::Id::new(*v).is_some())
        .ok_or_else(|| {
            ApiError::with(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidField,
                "bad conversation id",
            )
        })?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT) as usize;
    let conv = state
        .conversations
        .get(id)
        .ok_or(ErrorCode::UnknownConversation)?;
    let conv = conv.lock();
    if conv.deleted {
        return Err(ErrorCode::UnknownConversation.into());
    }
    if !conv.has(me) {
        return Err(ErrorCode::NotParticipant.into());
    }
    let messages = conv
        .page(query.after_id.unwrap_or(0), limit)
        .map(|m| HistoryMessage {
            message_id: m.id,
            sender_id: m.sender,
            content: m.content.to_string(),
            created_at: m.created_at.to_string(),
            read: conv.is_read(m),
            media_ids: m.media_ids.to_vec(),
        })
        .collect();
    Ok(Json(History { messages }))
}
