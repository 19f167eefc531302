//! Provisioning: `POST /admin/users`, `POST /admin/users/bulk`,
//! `POST /admin/friendships`, all behind the admin bearer token.

use super::extract::{Admin, ApiError, ApiResult, Body};
use crate::protocol::rest::{
    BulkUsers, BulkUsersCreated, CreateUser, Friendships, FriendshipsCreated, ProvisionedUser,
};
use crate::protocol::ErrorCode;
use crate::state::AppState;
use crate::store::UsersError;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use std::sync::Arc;

fn provisioning_error(e: UsersError) -> ApiError {
    let (status, code) = match e {
        UsersError::UsernameTaken => (StatusCode::CONFLICT, ErrorCode::Conflict),
        UsersError::UnknownUser => (StatusCode::NOT_FOUND, ErrorCode::UnknownUser),
        UsersError::SelfTarget => (StatusCode::BAD_REQUEST, ErrorCode::SelfTarget),
        _ => (StatusCode::BAD_REQUEST, ErrorCode::InvalidField),
    };
    ApiError::with(status, code, e.to_string())
}

/// `POST /admin/users {"username"}` → 201 `{"user_id","username","api_token"}`.
pub async fn create_user(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Body(body): Body<CreateUser>,
) -> ApiResult<(StatusCode, Json<ProvisionedUser>)> {
    let user = state
        .users
        .create(&body.username)
        .map_err(provisioning_error)?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// `POST /admin/users/bulk {"count","username_prefix"}` → 201 `{"users":[...]}`.
pub async fn create_bulk(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Body(body): Body<BulkUsers>,
) -> ApiResult<(StatusCode, Json<BulkUsersCreated>)> {
    let users = state
        .users
        .create_bulk(body.count, &body.username_prefix)
        .map_err(provisioning_error)?;
    Ok((StatusCode::CREATED, Json(BulkUsersCreated { users })))
}

/// `POST /admin/friendships {"pairs":[[a,b],...]}` → 200 `{"created"}`; all
/// or nothing; no WS events.
pub async fn friendships(
    State(state): State<Arc<AppState>>,
    _: Admin,
    Body(body): Body<Friendships>,
) -> ApiResult<Json<FriendshipsCreated>> {
    let created = state
        .users
        .add_friendships(&body.pairs)
        .map_err(provisioning_error)?;
    Ok(Json(FriendshipsCreated { created }))
}
