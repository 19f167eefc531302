//! Connections with unknown tokens, spread over the run (I10): each must be
//! closed with 4008, receive no application frame, and never make its user
//! look online to a friend. The token is a real user's with its secret part
//! changed, so "its user" is well defined.

use super::checks;
use super::shared::Shared;
use crate::checker::{ConnId, ConnView};
use crate::population::{schedule_rng, stream, POPULATION};
use futures_util::StreamExt;
use rand::Rng;
use server::protocol::ServerEvent;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Opens `plan.bad_tokens` bad-token connections at seeded times.
pub async fn run(shared: Arc<Shared>) {
    let plan = shared.plan.clone();
    let mut rng = schedule_rng(plan.seed, POPULATION, stream::BAD_TOKENS);
    let span = (plan.ramp_up + plan.duration).as_micros() as u64;
    let n = shared.users.len() as u32;
    if n == 0 {
        return;
    }
    let mut times: Vec<(u64, u32)> = (0..plan.bad_tokens)
        .map(|_| (rng.gen_range(0..span.max(1)), rng.gen_range(0..n)))
        .collect();
    times.sort_unstable();
    for (t, user) in times {
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        if !shared.shard.owns(user) {
            continue; // another shard's (the same draws, split by user)
        }
        let wall = shared.wall_of(t);
        tokio::time::sleep_until(shared.instant_of(wall).into()).await;
        if shared.paused_now() {
            continue;
        }
        tokio::spawn(one(shared.clone(), user));
    }
}

async fn one(shared: Arc<Shared>, user: u32) {
    let _busy = shared.begin();
    let real = &shared.users[user as usize];
    // Same selector, different secret: the server must not accept it.
    let mut token: Vec<char> = real.token.chars().collect();
    if let Some(last) = token.last_mut() {
        *last = if *last == 'A' { 'B' } else { 'A' };
    }
    let token: String = token.into_iter().collect();
    let conn = ConnId(shared.new_conn_id());
    let _ = shared
        .facts
        .lock()
        .lifecycles
        .open_bad_token(conn, real.id, shared.now_us());
    let mut view = ConnView::new_bad_token(conn, real.id);
    let url = format!("ws://{}/ws/{}", shared.addr, token);
    let mut code = None;
    if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(msg)) = ws.next().await {
                match msg {
                    Message::Close(f) => {
                        code = f.map(|f| u16::from(f.code));
                        break;
                    }
                    Message::Text(t) => {
                        let now = shared.now_us();
                        let event =
                            super::event::decode(t.as_str()).unwrap_or(ServerEvent::Error {
                                code: server::protocol::ErrorCode::InvalidJson,
                                message: "undecodable frame".into(),
                            });
                        let mut facts = shared.facts.lock();
                        let (world, findings) = checks::split(&mut facts);
                        view.on_event(&world, now, &event, findings);
                    }
                    _ => {}
                }
            }
        })
        .await;
    } else {
        shared.with_recorder(conn.0, |r| r.count_error("ws_connect_bad_token"));
    }
    let now = shared.now_us();
    let mut facts = shared.facts.lock();
    let _ = facts.lifecycles.closing(conn, now);
    let _ = facts.lifecycles.closed(
        conn,
        now,
        code,
        crate::checker::Closer::Server { alive_until: None },
    );
    let (world, findings) = checks::split(&mut facts);
    view.check_bad_token_close(&world, now, code, findings);
}
