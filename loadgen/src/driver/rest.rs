//! The generator's REST client: provisioning through `/admin`, and the REST
//! behaviours, each timed per endpoint (from the intended and the actual
//! start) into the recorders.

use super::shared::Shared;
use crate::metrics::{LatencyKind, RestEndpoint};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What a REST call returned.
pub struct Reply {
    pub status: StatusCode,
    pub body: bytes_or_text::Body,
}

pub mod bytes_or_text {
    /// A reply body kept as text (small JSON).
    pub type Body = String;
}

impl Reply {
    /// The body as `T`, if it parses.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.body).ok()
    }
}

/// One timed REST call with a bearer token, to `endpoint`'s route. Transport errors are counted
/// under `errors.rest_transport` and returned as `None`.
pub async fn call<B: Serialize + ?Sized>(
    shared: &Shared,
    conn_shard: u32,
    endpoint: RestEndpoint,
    token: &str,
    body: Option<&B>,
    intended_us: u64,
) -> Option<Reply> {
    let actual = shared.now_us();
    // Every body-carrying endpoint is a POST; the others are GETs.
    let method = if body.is_some() {
        Method::POST
    } else {
        Method::GET
    };
    let route = endpoint.route();
    let path = route.split_once(' ').map_or(route, |(_, p)| p);
    let mut req = shared
        .http()
        .request(method, format!("{}{}", shared.base_url, path))
        .bearer_auth(token);
    if let Some(body) = body {
        req = req.json(body);
    }
    let result = async {
        let resp = req.send().await?;
        let status = resp.status();
        let body = resp.text().await?;
        Ok::<_, reqwest::Error>(Reply { status, body })
    }
    .await;
    let done = shared.now_us();
    shared.with_recorder(conn_shard, |r| match &result {
        Ok(reply) => {
            r.record_rest(endpoint, done.saturating_sub(intended_us), done - actual);
            r.record(
                LatencyKind::Rest,
                done.saturating_sub(intended_us),
                done - actual,
            );
            if !reply.status.is_success() {
                r.count_error(&format!(
                    "rest_{}_{}",
                    endpoint.as_str(),
                    reply.status.as_u16()
                ));
            }
        }
        Err(_) => r.count_error("rest_transport"),
    });
    result.ok()
}
