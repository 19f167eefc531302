//! Extractors and the REST error type.
//!
//! - [`AuthUser`]: `Authorization: Bearer <api_token>` → the user (401 otherwise).
//! - [`Admin`]: the admin bearer token (a user token answers 401).
//! - [`Body`]: a JSON body of at most `max_message_bytes` (413 beyond),
//!   whose syntax or shape errors answer 400 `invalid_body`.
//! - [`ApiError`]: `{"error":{"code","message"}}` with the status of §6.

use crate::protocol::rest::{ErrorBody, ErrorDetail};
use crate::protocol::ErrorCode;
use crate::protocol::UserId;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A REST error: a status and a contract error code.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error with the code's default message.
    pub fn new(status: StatusCode, code: ErrorCode) -> ApiError {
        ApiError {
            status,
            code,
            message: code.describe().to_owned(),
        }
    }

    /// An error with its own message.
    pub fn with(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl From<ErrorCode> for ApiError {
    /// The status §6/§8 give each rule's code.
    fn from(code: ErrorCode) -> ApiError {
        let status = match code {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden | ErrorCode::NotFriends | ErrorCode::NotParticipant => {
                StatusCode::FORBIDDEN
            }
            ErrorCode::NotFound | ErrorCode::UnknownUser | ErrorCode::UnknownConversation => {
                StatusCode::NOT_FOUND
            }
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// Unknown routes answer 404 `not_found` in the contract's error shape.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound)
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    (!token.is_empty()).then_some(token.trim())
}

/// The user authenticated by a bearer API token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser(pub UserId);

impl<S> FromRequestParts<S> for AuthUser
where
    Arc<AppState>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = Arc::<AppState>::from_ref(state);
        bearer(parts)
            .and_then(|t| state.users.authenticate(t))
            .map(AuthUser)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized))
    }
}

/// Proof that the request carried the admin token (compared in constant time).
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl<S> FromRequestParts<S> for Admin
where
    Arc<AppState>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let state = Arc::<AppState>::from_ref(state);
        match bearer(parts) {
            Some(t) if bool::from(t.as_bytes().ct_eq(state.admin_token.as_bytes())) => Ok(Admin),
            _ => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
            )),
        }
    }
}

/// A JSON body: 413 `payload_too_large` past the size limit, 400
/// `invalid_body` when it is not the expected JSON. The content type is not
/// checked (clients that forget it are served).
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    Arc<AppState>: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let state = Arc::<AppState>::from_ref(state);
        let limit = state.config.max_message_bytes as usize;
        let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge);
        if let Some(len) = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if len > limit as u64 {
                return Err(too_large());
            }
        }
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| too_large())?;
        serde_json::from_slice(&bytes).map(Body).map_err(|e| {
            ApiError::with(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidBody,
                e.to_string(),
            )
        })
    }
}
