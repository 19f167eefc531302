//! Connections with unknown tokens, spread over the run (I10): each must be
//! closed with 4008 and receive no application frame.

use super::shared::Shared;
use crate::population::{schedule_rng, stream, POPULATION};
use futures_util::StreamExt;
use rand::Rng;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Opens `plan.bad_tokens` bad-token connections at seeded times.
pub async fn run(shared: Arc<Shared>) {
    let plan = shared.plan.clone();
    let mut rng = schedule_rng(plan.seed, POPULATION, stream::BAD_TOKENS);
    let span = (plan.ramp_up + plan.duration).as_micros() as u64;
    let mut times: Vec<u64> = (0..plan.bad_tokens)
        .map(|_| rng.gen_range(0..span.max(1)))
        .collect();
    times.sort_unstable();
    for t in times {
        if shared.stopping.load(Ordering::Acquire) {
            return;
        }
        let wall = shared.wall_of(t);
        tokio::time::sleep_until(shared.instant_of(wall).into()).await;
        let token: String = (0..32)
            .map(|_| rng.sample(rand::distributions::Alphanumeric) as char)
            .collect();
        let shared = shared.clone();
        tokio::spawn(async move {
            let _busy = shared.begin();
            let url = format!("ws://{}/ws/bad{}", shared.addr, token);
            let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
                shared.with_recorder(0, |r| r.count_error("ws_connect_bad_token"));
                return;
            };
            let mut frames = 0usize;
            let mut code = None;
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Close(f) => {
                            code = f.map(|f| u16::from(f.code));
                            break;
                        }
                        Message::Text(_) | Message::Binary(_) => frames += 1,
                        _ => {}
                    }
                }
            })
            .await;
            shared
                .checks
                .lock()
                .bad_token(shared.now_us(), code, frames);
        });
    }
}
