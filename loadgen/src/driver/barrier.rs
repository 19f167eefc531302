//! Quiescence barriers (INVARIANTS.md): stop new connects, closes and sends;
//! wait until nothing is in flight and nothing has arrived for a quiet time;
//! check; ask every Confirmed connection for a fresh snapshot; check again;
//! resume. Also the end of a run: close everything, then look for ghosts.

use super::conn::Cmd;
use super::history;
use super::shared::Shared;
use crate::checker::violation::InvariantId;
use serde_json::json;
use server::protocol::rest::History;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Longest a barrier waits for in-flight actions or replies.
const SETTLE_LIMIT: Duration = Duration::from_secs(10);
/// How often the barrier looks again while waiting (the orchestrator's own
/// polling; no test synchronizes on it).
const POLL: Duration = Duration::from_millis(5);

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
    true
}

/// Waits until no frame has arrived for `quiet`.
async fn wait_quiet(shared: &Shared, quiet: Duration) {
    let deadline = Instant::now() + SETTLE_LIMIT;
    let mut last = shared.frames_received.load(Ordering::Acquire);
    let mut since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        let now = shared.frames_received.load(Ordering::Acquire);
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// One barrier. `last` is the final one (nothing resumes after it).
pub async fn run(shared: &Shared, last: bool) {
    let started = shared.now_us();
    shared.paused.send_replace(true);
    wait_until(SETTLE_LIMIT, || {
        shared.in_flight.load(Ordering::Acquire) <= 0
    })
    .await;
    wait_quiet(shared, shared.plan.checker.quiet).await;
    let confirmed: Vec<_> = shared
        .conns
        .lock()
        .iter()
        .filter(|c| c.confirmed() && c.is_open())
        .cloned()
        .collect();
    // (I1 is judged here, before the fresh snapshots hide a missing event.)
    for c in &confirmed {
        c.send(Cmd::OnlineFriends);
    }
    wait_until(SETTLE_LIMIT, || {
        confirmed
            .iter()
            .all(|c| !c.is_open() || !c.check.lock().snapshot_pending())
    })
    .await;
    wait_quiet(shared, shared.plan.checker.quiet).await;
    verify_history(shared).await;
    shared
        .conns
        .lock()
        .retain(|c| c.life.lock().closed_at.is_none());
    if !last {
        let paused_for = shared.now_us() - started;
        shared
            .pause_offset_us
            .fetch_add(paused_for, Ordering::AcqRel);
        shared.paused.send_replace(false);
    }
}

/// I11: every message the server accepted in this epoch (and the
/// generator did not delete) is in the stored history exactly once.
async fn verify_history(shared: &Shared) {
    let cap = shared.plan.checker.history_cap as usize;
    let (todo, deleted) = history::take_epoch(shared, cap);
    for conv in todo {
        let token = &shared.users[conv.member as usize].token;
        let mut ids = Vec::new();
        let mut after = 0;
        let mut gone = false;
        loop {
            let url = format!(
                "{}/conversation/{}/messages?after_id={after}&limit=500",
                shared.base_url, conv.conversation
            );
            let Ok(resp) = shared.http.get(url).bearer_auth(token).send().await else {
                return;
            };
            if resp.status().as_u16() == 404 {
                gone = true;
                break;
            }
            let Ok(page) = resp.json::<History>().await else {
                return;
            };
            let n = page.messages.len();
            ids.extend(page.messages.iter().map(|m| m.message_id));
            match page.messages.last() {
                Some(m) if n == 500 => after = m.message_id,
                _ => break,
            }
        }
        if gone && history::is_deleted(shared, conv.conversation) {
            continue;
        }
        let counts = history::counts(&ids);
        let mut checks = shared.checks.lock();
        for id in conv.accepted.iter().filter(|id| !deleted.contains(id)) {
            checks.checked(InvariantId::I11, 1);
            let seen = counts.get(id).copied().unwrap_or(0);
            if seen != 1 {
                checks.violation(
                    InvariantId::I11,
                    shared.now_us(),
                    format!(
                        "message {id} of conversation {} was accepted but appears {seen} time(s) in its history",
                        conv.conversation
                    ),
                    json!({
                        "conversation_id": conv.conversation,
                        "message_id": id,
                        "expected": "exactly once in GET /conversation/{id}/messages",
                        "observed": format!("{seen} time(s) among {} stored", ids.len()),
                    }),
                );
            }
        }
    }
}

/// Closes every connection and waits for them to end.
pub async fn close_all(shared: &Shared) {
    let all: Vec<_> = shared.conns.lock().iter().cloned().collect();
    for c in &all {
        c.close_now();
    }
    wait_until(Duration::from_secs(15), || {
        shared.open_connections.load(Ordering::Acquire) <= 0
    })
    .await;
}

/// I12: after every connection closed, a probe sees no friend online and
/// the server's connection gauge (when it exposes one) is back to zero.
pub async fn no_ghosts(shared: &Shared) {
    let Some(probe_user) =
        (0..shared.users.len() as u32).max_by_key(|u| shared.population.friends_of(*u).len())
    else {
        return;
    };
    let url = format!("{}/me/friends", shared.base_url);
    let token = &shared.users[probe_user as usize].token;
    if let Ok(resp) = shared.http.get(url).bearer_auth(token).send().await {
        if let Ok(friends) = resp.json::<server::protocol::rest::Friends>().await {
            let online: Vec<u64> = friends
                .friends
                .iter()
                .filter(|f| f.online)
                .map(|f| f.user_id)
                .collect();
            let mut checks = shared.checks.lock();
            checks.checked(InvariantId::I12, 1);
            if !online.is_empty() {
                checks.violation(
                    InvariantId::I12,
                    shared.now_us(),
                    format!("{} friend(s) still online after every connection closed", online.len()),
                    json!({"users": online, "expected": "no friend online", "observed": "GET /me/friends shows some online"}),
                );
            }
        }
    }
    let gauge = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("chat_open_connections "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let Ok(resp) = shared
            .http
            .get(format!("{}/metrics", shared.base_url))
            .send()
            .await
        else {
            return;
        };
        let Ok(text) = resp.text().await else { return };
        last = gauge(&text);
        match last {
            None => return, // no such gauge: nothing to prove
            Some(0.0) => break,
            Some(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let mut checks = shared.checks.lock();
    checks.checked(InvariantId::I12, 1);
    if let Some(v) = last.filter(|v| *v != 0.0) {
        checks.violation(
            InvariantId::I12,
            shared.now_us(),
            format!("the server still counts {v} open connection(s) after every connection closed"),
            json!({"expected": "chat_open_connections 0", "observed": v}),
        );
    }
}
