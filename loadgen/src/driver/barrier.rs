//! Quiescence barriers (INVARIANTS.md): stop new connects, closes and sends;
//! wait until nothing is in flight and nothing has arrived for a quiet time;
//! check; ask every Confirmed connection for a fresh snapshot; check again;
//! resume. Also the end of a run: close everything, then look for ghosts.
//! The checks themselves are the checker's; this module only orders them.

use super::checks;
use super::conn::Cmd;
use super::history;
use super::shared::Shared;
use crate::checker::{check_history, check_losses, check_no_ghosts, HistoryCheck, UndecidedKind};
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
///
/// `resume`: in a run split over processes, the run-relative µs at which
/// every shard resumes, and the total pause offset from then on (fixed, so
/// that the shards' pauses coincide; a barrier that overruns resumes at
/// once, and its users catch up, their lag recorded).
pub async fn run(shared: &Shared, last: bool, delta_us: u64, resume: Option<(u64, u64)>) {
    let started = shared.now_us();
    shared.paused.send_replace(true);
    wait_until(SETTLE_LIMIT, || {
        shared.in_flight.load(Ordering::Acquire) <= 0
    })
    .await;
    wait_quiet(shared, shared.plan.checker.quiet).await;
    if last {
        wait_for_last_sends(shared, delta_us).await;
    }
    // Every Confirmed connection asks for a fresh snapshot.
    let confirmed = judged_connections(shared);
    for c in &confirmed {
        c.send(Cmd::BarrierSnapshot);
    }
    let unanswered = |c: &std::sync::Arc<super::conn::ConnSlot>| {
        c.is_open() && c.check.lock().snapshot_pending()
    };
    let answered = wait_until(SETTLE_LIMIT, || !confirmed.iter().any(unanswered)).await;
    if !answered {
        let n = confirmed.iter().filter(|c| unanswered(c)).count();
        leave_undecided(shared, UndecidedKind::SnapshotUnanswered, n as u64);
    }
    wait_quiet(shared, shared.plan.checker.quiet).await;
    judge(shared, delta_us, last).await;
    let swept: Vec<_> = {
        let mut conns = shared.conns.lock();
        let (closed, open): (Vec<_>, Vec<_>) = conns
            .drain(..)
            .partition(|c| c.life.lock().closed_at.is_some());
        *conns = open;
        closed
    };
    if let Some(ev) = shared.facts.lock().evidence.as_mut() {
        for c in &swept {
            ev.life(shared, c);
        }
    }
    if !last {
        match resume {
            Some((at, offset)) => {
                tokio::time::sleep_until(shared.instant_of(at).into()).await;
                shared.pause_offset_us.store(offset, Ordering::Release);
            }
            None => {
                let paused_for = shared.now_us() - started;
                shared
                    .pause_offset_us
                    .fetch_add(paused_for, Ordering::AcqRel);
            }
        }
        shared.paused.send_replace(false);
    }
}

/// The final barrier, with the load stopped: waits until the youngest send
/// still to be judged is δ old, so that none is left as "maybe late", for
/// at most `checker.final_wait`. Without it every run would leave its last
/// δ of sends unjudged, and a saturated run (whose δ grows with its own
/// p99.9) most of them.
async fn wait_for_last_sends(shared: &Shared, delta_us: u64) {
    let limit = shared.now_us() + crate::metrics::micros(shared.plan.checker.final_wait);
    let (youngest, delta_us) = {
        let facts = shared.facts.lock();
        (facts.sent.youngest(), facts.delta_us.max(delta_us))
    };
    if let Some(sent_at) = youngest {
        let ripe = sent_at.saturating_add(delta_us).min(limit);
        let now = shared.now_us();
        if ripe > now {
            tokio::time::sleep(Duration::from_micros(ripe - now)).await;
        }
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
async fn judge(shared: &Shared, delta_us: u64, last: bool) {
    let at = shared.now_us();
    let open = judged_connections(shared);
    let accepted = {
        let mut facts = shared.facts.lock();
        // Never shrinks within a run (the per-second update may be ahead).
        facts.delta_us = facts.delta_us.max(delta_us);
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
        if last {
            // Still younger than δ after the final wait: nobody can tell
            // late from lost, so these sends are undecided, not clean.
            facts
                .findings
                .tally
                .undecided
                .add(UndecidedKind::SendsTooRecent, sent.len() as u64);
        }
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
        let mut failed = false;
        for _ in 0..20 {
            let url = format!(
                "{}/conversation/{conv}/messages?after_id={cursor}&limit=500",
                shared.base_url
            );
            let Ok(resp) = shared.http.get(url).bearer_auth(&token).send().await else {
                failed = true;
                break;
            };
            if !resp.status().is_success() {
                // Deleted meanwhile, or not readable: nothing provable.
                truncated = true;
                break;
            }
            let Ok(page) = resp.json::<History>().await else {
                failed = true;
                break;
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
        if failed {
            leave_undecided(shared, UndecidedKind::HistoryUnread, 1);
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

/// Counts `n` checks left undecided for `kind`.
fn leave_undecided(shared: &Shared, kind: UndecidedKind, n: u64) {
    shared.facts.lock().findings.tally.undecided.add(kind, n);
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

/// The server's connection gauge (`chat_open_connections` on `/metrics`),
/// if it exposes one.
pub async fn read_gauge(shared: &Shared) -> Option<u64> {
    let resp = shared
        .http
        .get(format!("{}/metrics", shared.base_url))
        .send()
        .await
        .ok()?;
    let text = resp.text().await.ok()?;
    text.lines()
        .find(|l| l.starts_with("chat_open_connections "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| v as u64)
}

/// I12: after every connection closed, the user with the most friends
/// sees none of them online (`GET /me/friends`), and the server's
/// connection gauge is back to `baseline`, its reading before this run
/// opened its first connection (the gauge counts every client's
/// connections, not only this run's).
///
/// In a run split over processes (`--shard`), the other shards' users may
/// still be connected when this one ends: the probe is a user of this shard
/// and only its friends in this shard are judged; the gauge is not judged.
/// Both are counted as undecided ([`EndUndecided`]).
pub async fn no_ghosts(shared: &Shared, baseline: Option<u64>) -> EndUndecided {
    let mut undecided = EndUndecided::default();
    let Some(probe) = (0..shared.users.len() as u32)
        .filter(|u| shared.shard.owns(*u))
        .max_by_key(|u| shared.population.friends_of(*u).len())
    else {
        return undecided;
    };
    let probe_user = shared.users[probe as usize].id;
    let url = format!("{}/me/friends", shared.base_url);
    let token = &shared.users[probe as usize].token;
    let probed = async {
        let resp = shared.http.get(url).bearer_auth(token).send().await.ok()?;
        resp.json::<server::protocol::rest::Friends>().await.ok()
    };
    let Some(friends) = probed.await else {
        leave_undecided(shared, UndecidedKind::GhostProbeFailed, 1);
        return undecided;
    };
    let local = |id: u64| shared.index(id).is_some_and(|i| shared.shard.owns(i));
    let online: Vec<u64> = friends
        .friends
        .iter()
        .filter(|f| f.online && local(f.user_id))
        .map(|f| f.user_id)
        .collect();
    undecided.probe_friends = friends
        .friends
        .iter()
        .filter(|f| f.online && !local(f.user_id))
        .count() as u64;
    let mut last = None;
    if shared.shard.is_split() {
        undecided.gauge = 1;
    } else if let Some(base) = baseline {
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            last = read_gauge(shared).await;
            match last {
                Some(v) if v > base => tokio::time::sleep(POLL * 10).await,
                _ => break,
            }
        }
    }
    let at = shared.now_us();
    check_no_ghosts(
        at,
        probe_user,
        &online,
        last,
        baseline.unwrap_or(0),
        &mut shared.facts.lock().findings,
    );
    undecided
}

/// What the end of a split run could not judge.
#[derive(Debug, Default, Clone, Copy)]
pub struct EndUndecided {
    /// The gauge (another shard's connections may be open).
    pub gauge: u64,
    /// The probe's friends seen online that live in another shard.
    pub probe_friends: u64,
}
