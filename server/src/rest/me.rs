//! `GET /me`.

use super::extract::{ApiError, ApiResult, AuthUser};
use crate::protocol::{rest::Me, ErrorCode};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use std::sync::Arc;

/// `GET /me` → `{"user_id","username"}`.
pub async fn get_me(
    State(state): State<Arc<AppState>>,
    AuthUser(me): AuthUser,
) -> ApiResult<Json<Me>> {
    let username = state
        .users
        .username(me)
        .ok_or_else(|| ApiError::from(ErrorCode::Unauthorized))?;
    Ok(Json(Me {
        user_id: me,
        username: username.to_string(),
    }))
}
