//! `GET /healthz` and `GET /metrics`.

use crate::metrics::Format;
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use std::sync::Arc;

/// `GET /healthz` → 200 `ok`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics` → OpenMetrics when `Accept` asks for it, the Prometheus
/// text format 0.0.4 otherwise ([`Format::negotiate`]).
pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> impl IntoResponse {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let format = Format::negotiate((!accept.is_empty()).then_some(accept.as_str()));
    (
        [(header::CONTENT_TYPE, format.content_type())],
        state.metrics.render_as(format),
    )
}
