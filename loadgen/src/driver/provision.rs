//! Getting a server and users to drive: start the embedded server, or use
//! `--target` and provision through `/admin`, or read `--population`.

use super::shared::SimUser;
use crate::cli::Target;
use crate::error::LoadgenError;
use crate::population::Population;
use crate::scenario::Plan;
use server::protocol::rest::{BulkUsers, BulkUsersCreated, Friendships};
use std::net::SocketAddr;

/// Pairs per `POST /admin/friendships` (keeps each body under 64 KiB).
const PAIRS_PER_CALL: usize = 3000;

/// The server under test, with what is needed to reach it.
pub struct Server {
    pub addr: SocketAddr,
    pub base_url: String,
    /// Kept alive for the run when embedded.
    pub embedded: Option<server::Embedded>,
    pub admin_token: Option<String>,
}

fn unreachable(url: &str, message: impl Into<String>) -> LoadgenError {
    LoadgenError::Unreachable {
        url: url.to_owned(),
        message: message.into(),
    }
}

/// Starts or resolves the target.
pub async fn server(plan: &Plan, target: &Target) -> Result<Server, LoadgenError> {
    match target {
        Target::Embedded => {
            let mut config = server::Config {
                faults: plan.faults.clone(),
                history_per_conversation: plan.history_retention(),
                ..server::Config::default()
            };
            if let Some(q) = plan.embedded_server.outbound_queue {
                config.outbound_queue = q;
            }
            if let Some(b) = plan.embedded_server.send_buffer {
                config.ws_send_buffer = b;
            }
            let embedded = server::Embedded::start(config)
                .await
                .map_err(|e| LoadgenError::Internal(format!("embedded server: {e}")))?;
            Ok(Server {
                addr: embedded.addr,
                base_url: embedded.http_url(),
                admin_token: Some(embedded.admin_token.clone()),
                embedded: Some(embedded),
            })
        }
        Target::External {
            url, admin_token, ..
        } => {
            let hostport = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned();
            let addr = tokio::net::lookup_host(&hostport)
                .await
                .map_err(|e| unreachable(url, e.to_string()))?
                .next()
                .ok_or_else(|| unreachable(url, "no address"))?;
            Ok(Server {
                addr,
                base_url: format!("http://{hostport}"),
                admin_token: admin_token.clone(),
                embedded: None,
            })
        }
    }
}

/// Users (ids and tokens) for the population: read from `--population`, or
/// created through `/admin` with the population's friendships.
pub async fn users(
    http: &reqwest::Client,
    server: &Server,
    target: &Target,
    population: &Population,
) -> Result<Vec<SimUser>, LoadgenError> {
    if let Target::External {
        population: Some(ext),
        ..
    } = target
    {
        return Ok(ext
            .users
            .iter()
            .map(|u| SimUser {
                id: u.user_id,
                token: u.token.clone(),
            })
            .collect());
    }
    let url = &server.base_url;
    let admin = server.admin_token.as_deref().ok_or_else(|| {
        LoadgenError::Usage("--target needs --admin-token or --population".into())
    })?;
    let body = BulkUsers {
        count: population.len() as u64,
        username_prefix: population.username_prefix(),
    };
    let resp = admin_post(http, url, admin, "/admin/users/bulk", &body).await?;
    let created: BulkUsersCreated = resp
        .json()
        .await
        .map_err(|e| unreachable(url, format!("bad bulk reply: {e}")))?;
    if created.users.len() != population.len() {
        return Err(unreachable(url, "bulk reply has the wrong number of users"));
    }
    let users: Vec<SimUser> = created
        .users
        .into_iter()
        .map(|u| SimUser {
            id: u.user_id,
            token: u.api_token,
        })
        .collect();
    let pairs: Vec<(u64, u64)> = population
        .pairs()
        .map(|(a, b)| (users[a as usize].id, users[b as usize].id))
        .collect();
    for chunk in pairs.chunks(PAIRS_PER_CALL) {
        let pairs = Friendships {
            pairs: chunk.to_vec(),
        };
        admin_post(http, url, admin, "/admin/friendships", &pairs).await?;
    }
    Ok(users)
}

/// `POST {url}{path}` with the admin token; a transport error or a non-2xx
/// status is an unreachable target naming the endpoint.
async fn admin_post(
    http: &reqwest::Client,
    url: &str,
    admin: &str,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<reqwest::Response, LoadgenError> {
    let resp = http
        .post(format!("{url}{path}"))
        .bearer_auth(admin)
        .json(body)
        .send()
        .await
        .map_err(|e| unreachable(url, e.to_string()))?;
    if !resp.status().is_success() {
        return Err(unreachable(
            url,
            format!("{} on POST {path}", resp.status()),
        ));
    }
    Ok(resp)
}

/// The server's clock against the generator's, from its HTTP `Date` header
/// (whole seconds) on `GET /healthz`: the timestamps of messages are then
/// judged against the send and arrival times (I5 "intact"). `None` when
/// the server sends no `Date` (timestamps are then only checked for form).
/// `start_wall` is the wall time of the run's start (µs 0).
pub async fn server_clock(
    http: &reqwest::Client,
    base_url: &str,
    start_wall: std::time::SystemTime,
) -> Option<crate::checker::ClockBound> {
    let wall_us = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64)
    };
    let asked = std::time::SystemTime::now();
    let resp = http.get(format!("{base_url}/healthz")).send().await.ok()?;
    let answered = std::time::SystemTime::now();
    let date = resp.headers().get(reqwest::header::DATE)?.to_str().ok()?;
    let date = chrono::DateTime::parse_from_rfc2822(date).ok()?;
    Some(crate::checker::ClockBound::from_date(
        wall_us(start_wall),
        date.timestamp_micros(),
        wall_us(asked),
        wall_us(answered),
    ))
}
