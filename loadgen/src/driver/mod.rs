//! The driver: connections and behaviours against the embedded or an
//! external server, with quiescence barriers for the checker.
//!
//! - [`provision`]: the server and its users.
//! - [`shared`]: the state one run shares between its tasks.
//! - [`user`]: one task per simulated user, running its seeded schedule.
//! - [`conn`]: one task per connection, reading frames and writing commands.
//! - [`outbox`]: the commands queued for one connection (nothing behind a close).
//! - [`view`]: per-connection bookkeeping: latency samples and checker state.
//! - [`friends`]: the friend-request behaviour.
//! - [`history`]: accepted and deleted message ids, for I11.
//! - [`barrier`]: pause, wait for quiet, check, resume.
//! - [`badtoken`]: connections with unknown tokens (I10).

pub mod badtoken;
pub mod barrier;
pub mod checks;
pub mod conn;
pub mod event;
pub mod friends;
mod handshake;
pub mod history;
mod outbox;
pub mod pacer;
pub mod provision;
pub mod rest;
pub mod shared;
pub mod user;
pub mod view;

use crate::cli::RunConfig;
use crate::error::LoadgenError;
use crate::metrics::{CompactRecorder, Recorder};
use crate::population::Population;
use crate::report::Invariants;
use shared::{recorder_shards, Shared};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a run produced.
pub struct RunOutput {
    pub recorder: Recorder,
    pub invariants: Invariants,
    pub users: u64,
    pub connections: u64,
    pub elapsed: Duration,
    /// One merged recorder per second of the run (end time since the start),
    /// encoded, for the hdr log, the plots and capacity's steady state.
    pub intervals: Vec<(Duration, CompactRecorder)>,
}

/// Runs the plan against the target.
pub async fn run(config: &RunConfig) -> Result<RunOutput, LoadgenError> {
    let plan = Arc::new(config.plan.clone());
    let server = provision::server(&plan, &config.target).await?;
    let population = match &config.target {
        crate::cli::Target::External {
            population: Some(ext),
            ..
        } => Population::from_external(ext, &plan),
        _ => Population::generate(&plan),
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| LoadgenError::Internal(e.to_string()))?;
    let users = provision::users(&http, &server, &config.target, &population).await?;
    let n = users.len();
    let index_of: HashMap<_, _> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id, i as u32))
        .collect();
    let (paused, _) = tokio::sync::watch::channel(false);
    let start_wall = std::time::SystemTime::now();
    let shared = Arc::new(Shared {
        plan: plan.clone(),
        start: Instant::now(),
        addr: server.addr,
        base_url: server.base_url.clone(),
        users,
        index_of,
        population,
        new_friends: Default::default(),
        presence_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
        typing_at: (0..n).map(|_| AtomicU64::new(0)).collect(),
        paused,
        pause_offset_us: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        frames_received: AtomicU64::new(0),
        open_connections: AtomicI64::new(0),
        next_conn: AtomicU32::new(0),
        conns: Default::default(),
        recorders: (0..recorder_shards()).map(|_| Default::default()).collect(),
        stopping: AtomicBool::new(false),
        http,
        book: Default::default(),
        facts: Default::default(),
        pacer: pacer::Pacer::new()
            .map_err(|e| LoadgenError::Internal(format!("pacing timer: {e}")))?,
    });
    let pacing = {
        let shared = shared.clone();
        tokio::spawn(async move { shared.pacer.run().await })
    };
    let clock = provision::server_clock(&shared.http, &shared.base_url, start_wall).await;
    {
        let mut facts = shared.facts.lock();
        facts.clock = clock;
        facts.delta_us = crate::metrics::micros(plan.checker.delta);
        for (a, b) in shared.population.pairs() {
            let (a, b) = (shared.users[a as usize].id, shared.users[b as usize].id);
            facts.friends.add_initial(a, b);
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n as u32 {
        tasks.spawn(user::run(shared.clone(), i));
    }
    tasks.spawn(badtoken::run(shared.clone()));
    if plan.starve > 0.0 {
        tasks.spawn(starve(shared.clone(), plan.starve));
    }
    let progress = crate::report::progress::Progress::new(config.progress, &plan);
    let mut intervals = Vec::new();
    // Everything so far, merged as each interval is taken (δ reads it).
    let mut total = Recorder::new();
    let load_end = plan.ramp_up + plan.duration;
    let mut next_barrier = plan.barrier_interval().map(|b| plan.ramp_up + b);
    let tick = Duration::from_secs(1);
    loop {
        let wall_sched = Duration::from_micros(
            shared
                .now_us()
                .saturating_sub(shared.pause_offset_us.load(Ordering::Acquire)),
        );
        if wall_sched >= load_end {
            break;
        }
        tokio::time::sleep(tick.min(load_end - wall_sched)).await;
        let snapshot = take_interval(&shared);
        progress.update(&shared, &snapshot);
        total.merge(&snapshot);
        // δ follows the run every second, not only at barriers: the checks
        // made as frames arrive use it too (A1), and a saturated generator's
        // lag can grow between barriers.
        {
            let delta = delta_us(&plan, &total);
            let mut facts = shared.facts.lock();
            facts.delta_us = facts.delta_us.max(delta);
        }
        intervals.push((shared.start.elapsed(), CompactRecorder::new(&snapshot)));
        let sched = Duration::from_micros(
            shared
                .now_us()
                .saturating_sub(shared.pause_offset_us.load(Ordering::Acquire)),
        );
        if let Some(b) = next_barrier {
            if sched >= b && sched < load_end {
                barrier::run(&shared, false, delta_us(&plan, &total)).await;
                next_barrier = plan.barrier_interval().map(|i| b + i);
            }
        }
    }
    // Load phase over: stop scheduling, let what is in flight finish.
    shared.stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    pacing.abort();
    barrier::run(&shared, true, delta_us(&plan, &total)).await;
    barrier::close_all(&shared).await;
    barrier::no_ghosts(&shared).await;
    progress.finish();
    let last = take_interval(&shared);
    total.merge(&last);
    intervals.push((shared.start.elapsed(), CompactRecorder::new(&last)));
    let elapsed = shared.start.elapsed();
    let recorder = total;
    let p999 = recorder
        .latency(crate::metrics::LatencyKind::MessageDelivery)
        .map_or(0, |h| h.value_at_quantile(0.999));
    let lag = recorder.lag().map_or(0, |h| h.value_at_quantile(0.99));
    let invariants = shared.facts.lock().report(&plan, p999, lag);
    let connections = u64::from(shared.next_conn.load(Ordering::Acquire));
    if let Some(embedded) = server.embedded {
        let _ = embedded.stop().await;
    }
    Ok(RunOutput {
        recorder,
        invariants,
        users: n as u64,
        connections,
        elapsed,
        intervals,
    })
}

/// δ (INVARIANTS.md): max(the plan's δ, 20 × p99.9 delivery latency so
/// far), plus the generator's own *largest* lag so far, since frames are
/// timestamped when the generator reads them (the checker's assumption
/// A1): a frame can wait in its socket as long as any task waited for the
/// runtime. The largest, not the p99: a saturated generator's tail is
/// exactly when a too-small δ would turn late into "lost". (Sends are
/// timestamped when written, so the send side needs no margin.)
fn delta_us(plan: &crate::scenario::Plan, merged: &Recorder) -> u64 {
    let p999 = merged
        .latency(crate::metrics::LatencyKind::MessageDelivery)
        .map_or(0, |h| h.value_at_quantile(0.999));
    let lag = merged.lag().map_or(0, |h| h.max());
    crate::metrics::micros(plan.checker.delta).max(20 * p999) + lag
}

/// Burns `fraction` of the generator's thread in a busy loop until the load
/// phase ends (`generator.starve`): 10 ms periods, `fraction` of each spent
/// spinning without yielding, so every other task of this runtime waits.
/// A saturated generator on demand, whatever the machine's speed.
async fn starve(shared: Arc<Shared>, fraction: f64) {
    const PERIOD: Duration = Duration::from_millis(10);
    let busy = PERIOD.mul_f64(fraction);
    while !shared.stopping.load(Ordering::Acquire) {
        let until = Instant::now() + busy;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
        tokio::time::sleep(PERIOD - busy).await;
    }
}

/// Takes (and resets) what every recorder shard gathered since the last call.
fn take_interval(shared: &Shared) -> Recorder {
    let mut out = Recorder::new();
    for r in shared.recorders.iter() {
        r.lock().drain_into(&mut out);
    }
    out
}
