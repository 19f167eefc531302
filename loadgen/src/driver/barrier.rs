//! Quiescence barriers (INVARIANTS.md): stop new connects, closes and sends;
//! wait until nothing is in flight and nothing has arrived for a quiet time;
//! check; ask every Confirmed connection for a fresh snapshot; check again;
//! resume. Also the end of a run: close everything, then look for ghosts.
//! The checks themselves are the checker's; this module only orders them.

use super::checks;
use super::conn::Cmd;
use super::history;
use super::shared::Shared;
use crate::checker::{check_history, check_losses, check_no_ghosts, HistoryCheck};
use server::protocol::rest::History;
use std::collections::HashMap;
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

/// One barrier at which δ is `delta_us`. `last` is the final one (nothing
/// resumes after it).
pub async fn run(shared: &Shared, last: bool, delta_us: u64) {
    let started = shared.now_us();
    shared.paused.send_replace(true);
    wait_until(SETTLE_LIMIT, || {
        shared.in_flight.load(Ordering::Acquire) <= 0
    })
    .await;
    wait_quiet(shared, shared.plan.checker.quiet).await;
    // Every Confirmed connection asks for a fresh snapshot.
    let confirmed = judged_connections(shared);
    for c in &confirmed {
        c.send(Cmd::BarrierSnapshot);
    }
    wait_until(SETTLE_LIMIT, || {
        confirmed
            .iter()
            .all(|c| !c.is_open() || !c.check.lock().snapshot_pending())
    })
    .await;
    wait_quiet(shared, shared.plan.checker.quiet).await;
    judge(shared, delta_us).await;
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

/// The connections a barrier asks and judges: Confirmed and not closing. A
/// slow consumer that stopped reading is Closing: its view is stale by
/// design and proves nothing.
fn judged_connections(shared: &Shared) -> Vec<std::sync::Arc<super::conn::ConnSlot>> {
    shared
        .conns
        .lock()
        .iter()
        .filter(|c| c.confirmed() && c.is_open())
        .cloned()
        .collect()
}

/// The barrier's checks, in the order the checker asks for: each open
/// view (I1, I4 exact, I8 stuck typing), the closed connections'
/// suspicions, I5 losses, then I11 on fresh history reads.
async fn judge(shared: &Shared, delta_us: u64) {
    let at = shared.now_us();
    let open = judged_connections(shared);
    let accepted = {
        let mut facts = shared.facts.lock();
        facts.delta_us = delta_us;
        let mut guards: Vec<_> = open.iter().map(|c| c.check.lock()).collect();
        let mut pending = std::mem::take(&mut facts.pending);
        let mut sent = std::mem::take(&mut facts.sent);
        {
            let (world, findings) = checks::split(&mut facts);
            for g in guards.iter_mut() {
                g.view.check_barrier(&world, at, findings);
            }
            pending.settle(&world, findings);
            check_losses(
                &world,
                &mut sent,
                at,
                guards.iter_mut().map(|g| &mut g.view),
                findings,
            );
        }
        let accepted = sent.take_accepted();
        facts.sent = sent;
        facts
            .lifecycles
            .forget_closed_before(at.saturating_sub(2 * delta_us));
        accepted
    };
    verify_history(shared, at, accepted).await;
}

/// I11: reads back the history of each conversation that had messages this
/// epoch (at most `history_cap` of them, the busiest first).
async fn verify_history(shared: &Shared, at: u64, accepted: HashMap<u64, Vec<u64>>) {
    let cap = shared.plan.checker.history_cap as usize;
    let mut convs: Vec<(u64, Vec<u64>)> = accepted
        .into_iter()
        .filter(|(c, _)| !history::is_deleted(shared, *c))
        .collect();
    convs.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    convs.truncate(cap);
    let deleted = history::deleted_messages(shared);
    for (conv, ids) in convs {
        let member = shared.facts.lock().conversations.members(conv);
        let Some(token) = member
            .and_then(|m| m.iter().find_map(|u| shared.index(*u)))
            .map(|i| shared.users[i as usize].token.clone())
        else {
            continue;
        };
        let after_id = ids.iter().min().map_or(0, |m| m.saturating_sub(1));
        let mut history = Vec::new();
        let mut cursor = after_id;
        let mut truncated = false;
        for _ in 0..20 {
            let url = format!(
                "{}/conversation/{conv}/messages?after_id={cursor}&limit=500",
                shared.base_url
            );
            let Ok(resp) = shared.http.get(url).bearer_auth(&token).send().await else {
                return;
            };
            if !resp.status().is_success() {
                // Deleted meanwhile, or not readable: nothing provable.
                truncated = true;
                break;
            }
            let Ok(page) = resp.json::<History>().await else {
                return;
            };
            history.extend(page.messages.iter().map(|m| m.message_id));
            match page.messages.last() {
                Some(m) if page.messages.len() == 500 => {
                    cursor = m.message_id;
                    truncated = true;
                }
                _ => {
                    truncated = false;
                    break;
                }
            }
        }
        if history::is_deleted(shared, conv) {
            continue;
        }
        let check = HistoryCheck {
            conversation_id: conv,
            accepted: &ids,
            deleted: &deleted,
            after_id,
            history: &history,
            truncated,
            retention: Some(u64::from(shared.plan.history_retention())),
        };
        check_history(at, &check, &mut shared.facts.lock().findings);
    }
}

/// Closes every connection and waits for them to end.
pub async fn close_all(shared: &Shared) {
    let all: Vec<_> = shared.conns.lock().iter().cloned().collect();
    // Every user goes offline now: time the presence events from here, and
    // do not time the implicit `is_typing:false` the server sends for
    // typing marks still standing (they answer no typing action).
    let now = shared.now_us();
    for user in 0..shared.users.len() as u32 {
        shared.presence_transition(user, false, now);
        shared.typing_at[user as usize].store(0, Ordering::Release);
    }
    for c in &all {
        c.close_now();
    }
    wait_until(Duration::from_secs(15), || {
        shared.open_connections.load(Ordering::Acquire) <= 0
    })
    .await;
}

/// I12: after every connection closed, the user with the most friends
/// sees none online (`GET /me/friends`), and the server's connection gauge
/// (when it exposes one) is back to zero.
pub async fn no_ghosts(shared: &Shared) {
    let Some(probe) =
        (0..shared.users.len() as u32).max_by_key(|u| shared.population.friends_of(*u).len())
    else {
        return;
    };
    let probe_user = shared.users[probe as usize].id;
    let url = format!("{}/me/friends", shared.base_url);
    let token = &shared.users[probe as usize].token;
    let Ok(resp) = shared.http.get(url).bearer_auth(token).send().await else {
        return;
    };
    let Ok(friends) = resp.json::<server::protocol::rest::Friends>().await else {
        return;
    };
    let online: Vec<u64> = friends
        .friends
        .iter()
        .filter(|f| f.online)
        .map(|f| f.user_id)
        .collect();
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
            break;
        };
        let Ok(text) = resp.text().await else { break };
        last = gauge(&text);
        match last {
            Some(v) if v > 0.0 => tokio::time::sleep(POLL * 10).await,
            _ => break,
        }
    }
    let at = shared.now_us();
    check_no_ghosts(
        at,
        probe_user,
        &online,
        last.map(|v| v as u64),
        0,
        &mut shared.facts.lock().findings,
    );
}
