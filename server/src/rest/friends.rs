//! `GET /me/friends`, `POST /me/send_friend_request`,
//! `POST /me/accept_friend_request`.
//!
//! Becoming friends sends no presence event (§8); the new friends learn each
//! other's status with `get_online_friends`.

use super::extract::{ApiError, ApiResult, AuthUser, Body};
use crate::manager::Frame;
use crate::protocol::rest::{AcceptFriendRequest, Friend, Friends, SendFriendRequest};
use crate::protocol::{ErrorCode, EventKind, ServerEvent};
use crate::state::AppState;
use crate::store::UsersError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::sync::Arc;

fn users_error(e: UsersError) -> ApiError {
    match e {
        UsersError::UnknownUser => ErrorCode::UnknownUser.into(),
        UsersError::SelfTarget => ErrorCode::SelfTarget.into(),
        UsersError::Conflict => {
            ApiError::with(StatusCode::CONFLICT, ErrorCode::Conflict, e.to_string())
        }
        UsersError::NoSuchRequest => {
            ApiError::with(StatusCode::NOT_FOUND, ErrorCode::NotFound, e.to_string())
        }
        other => ApiError::with(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            other.to_string(),
        ),
    }
}

/// `GET /me/friends` → `{"friends":[{"user_id","username","online"}]}`, ascending.
pub async fn list(State(state): State<Arc<AppState>>, AuthUser(me): AuthUser) -> Json<Friends> {
    let ids = state.users.friends_of(me);
    let online = state.manager.online_among(&ids);
    let friends = ids
        .iter()
        .zip(online)
        .map(|(id, online)| Friend {
            user_id: *id,
            username: state
                .users
                .username(*id)
                .map(|n| n.to_string())
                .unwrap_or_default(),
            online,
        })
        .collect();
    Json(Friends { friends })
}

/// `POST /me/send_friend_request {"receiver_id"}` → 201; `new_friend_request`
/// to the receiver; 409 if already friends or pending either way.
pub async fn send_request(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Body(body): Body<SendFriendRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let receiver = body.receiver_id.get();
    let sender_username = state
        .users
        .send_request(me, receiver)
        .map_err(users_error)?;
    let frame = Frame::from(
        ServerEvent::NewFriendRequest {
            sender_id: me,
            sender_username: sender_username.to_string(),
        }
        .to_json(),
    );
    state
        .manager
        .send_personal_message(receiver, &frame, EventKind::NewFriendRequest);
    Ok((StatusCode::CREATED, Json(json!({}))))
}

/// `POST /me/accept_friend_request {"sender_id"}` → 200;
/// `friend_request_accepted` to the requester; 404 without such a request.
pub async fn accept_request(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
    Body(body): Body<AcceptFriendRequest>,
) -> ApiResult<Json<Value>> {
    let requester = body.sender_id.get();
    let my_name = state
        .users
        .accept_request(me, requester)
        .map_err(users_error)?;
    let frame = Frame::from(
        ServerEvent::FriendRequestAccepted {
            friend_id: me,
            friend_username: my_name.to_string(),
        }
        .to_json(),
    );
    state
        .manager
        .send_personal_message(requester, &frame, EventKind::FriendRequestAccepted);
    Ok(Json(json!({})))
}
