//! The driver: connections and behaviours against the embedded or an
//! external server, with quiescence barriers for the checker.
//!
//! - [`provision`]: the server and its users.
//! - [`shared`]: the state one run shares between its tasks.
//! - [`user`]: one task per simulated user, running its seeded schedule.
//! - [`conn`]: one task per connection, reading frames and writing commands.
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
    /// encoded, for the hdr log, the plots and capacity's steady state;
    /// empty unless [`run`] was asked to keep them.
    pub intervals: Vec<(Duration, CompactRecorder)>,
}

/// Runs the plan against the target.
///
/// `keep_intervals`: keep every one-second interval recorder in
/// [`RunOutput::intervals`] (for `--html`, `--hdr-log` and capacity steps).
/// They cost ~20 KiB per second of run (one encoded histogram per latency
/// kind and endpoint), so a long run that needs none keeps none and its
/// memory stays flat.
pub async fn run(config: &RunConfig, keep_intervals: bool) -> Result<RunOutput, LoadgenError> {
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
    });
    {
        let mut facts = shared.facts.lock();
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
        if keep_intervals {
            intervals.push((shared.start.elapsed(), CompactRecorder::new(&snapshot)));
        }
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
    barrier::run(&shared, true, delta_us(&plan, &total)).await;
    barrier::close_all(&shared).await;
    barrier::no_ghosts(&shared).await;
    progress.finish();
    let last = take_interval(&shared);
    total.merge(&last);
    if keep_intervals {
        intervals.push((shared.start.elapsed(), CompactRecorder::new(&last)));
    }
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
/// far), plus the generator's own p99 lag, since frames are timestamped
/// when the generator reads them (the checker's assumption A1).
fn delta_us(plan: &crate::scenario::Plan, merged: &Recorder) -> u64 {
    let p999 = merged
        .latency(crate::metrics::LatencyKind::MessageDelivery)
        .map_or(0, |h| h.value_at_quantile(0.999));
    let lag = merged.lag().map_or(0, |h| h.value_at_quantile(0.99));
    crate::metrics::micros(plan.checker.delta).max(20 * p999) + lag
}

/// Takes (and resets) what every recorder shard gathered since the last call.
fn take_interval(shared: &Shared) -> Recorder {
    let mut out = Recorder::new();
    for r in shared.recorders.iter() {
        r.lock().drain_into(&mut out);
    }
    out
}
