//! The REST route table (§6). Handlers live one module per group:
//!
//! | module | routes |
//! | --- | --- |
//! | [`me`] | `GET /me` |
//! | [`friends`] | `GET /me/friends`, `POST /me/send_friend_request`, `POST /me/accept_friend_request` |
//! | [`conversations`] | `POST /create_conversation`, `POST /delete_conversation`, `GET /conversations` |
//! | [`messages`] | `POST /conversation/send_message`, `POST /conversation/delete_message`, `GET /conversation/{id}/messages` |
//! | [`admin`] | `POST /admin/users`, `POST /admin/users/bulk`, `POST /admin/friendships` |
//! | [`health`] | `GET /healthz`, `GET /metrics` |
//!
//! The WebSocket endpoint `GET /ws/{token}` shares the port ([`crate::ws`]).
//! [`extract`] has the bearer-token extractors, the JSON body extractor
//! (64 KiB limit → 413) and the error type.

pub mod admin;
pub mod conversations;
pub mod extract;
pub mod friends;
pub mod health;
pub mod me;
pub mod messages;

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Every route of the server.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/ws/{token}", get(crate::ws::upgrade))
        .route("/me", get(me::get_me))
        .route("/me/friends", get(friends::list))
        .route("/me/send_friend_request", post(friends::send_request))
        .route("/me/accept_friend_request", post(friends::accept_request))
        .route("/create_conversation", post(conversations::create))
        .route("/delete_conversation", post(conversations::delete))
        .route("/conversations", get(conversations::list))
        .route("/conversation/send_message", post(messages::send))
        .route("/conversation/delete_message", post(messages::delete))
        .route("/conversation/{id}/messages", get(messages::history))
        .route("/admin/users", post(admin::create_user))
        .route("/admin/users/bulk", post(admin::create_bulk))
        .route("/admin/friendships", post(admin::friendships))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .fallback(extract::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

/// Counts REST requests by route pattern and status (not the WebSocket
/// upgrades, which are counted as connections).
async fn count_requests(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    if route != "/ws/{token}" {
        state
            .metrics
            .rest_request(&route, response.status().as_u16());
    }
    response
}
