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
pub mod clock;
pub mod conn;
pub mod event;
pub mod evidence;
pub mod friends;
mod handshake;
pub mod history;
mod outbox;
pub mod pacer;
pub mod provision;
pub mod rest;
pub mod shared;
pub mod threads;
pub mod user;
pub mod view;

use crate::cli::RunConfig;
use crate::error::LoadgenError;
use crate::metrics::{CompactRecorder, Recorder};
use crate::population::Population;
use crate::report::Invariants;
use shared::{recorder_shards, Shared};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
    /// Wall-clock time of the run's start (`--start-at` when given).
    pub start_wall: SystemTime,
    /// What `loadgen merge` decides cross-shard checks from (split runs).
    pub evidence: Option<evidence::Evidence>,
    /// δ in force at the end (µs).
    pub delta_us: u64,
    /// `--metrics-addr` / `--events`, still open: the caller finishes them
    /// once the report is built.
    pub live: crate::live::Live,
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
    let mut live = crate::live::Live::start(&config.live)?;
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
    let shard = config.shard;
    let local: Vec<u32> = (0..n as u32).filter(|i| shard.owns(*i)).collect();
    // Thread-per-shard: thread t drives every threads-th local user. More
    // threads than users would only idle.
    let threads = config.threads.clamp(1, local.len().max(1));
    // Runtimes are built here so that a failure is an error, not a panic
    // in a thread.
    let runtimes = (1..threads)
        .map(|_| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| LoadgenError::Internal(format!("runtime thread: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (paused, _) = tokio::sync::watch::channel(false);
    let mut shared = Shared {
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
        recorders: (0..recorder_shards(threads))
            .map(|_| Default::default())
            .collect(),
        stopping: AtomicBool::new(false),
        http,
        book: Default::default(),
        facts: Default::default(),
        pacer: shared::Pacers::new(
            pacer::Pacer::new()
                .map_err(|e| LoadgenError::Internal(format!("pacing timer: {e}")))?,
        ),
        shard,
    };
    {
        let facts = shared.facts.get_mut();
        facts.delta_us = crate::metrics::micros(plan.checker.delta);
        for (a, b) in shared.population.pairs() {
            let (a, b) = (shared.users[a as usize].id, shared.users[b as usize].id);
            facts.friends.add_initial(a, b);
        }
        if shard.is_split() {
            facts.evidence = Some(Default::default());
            facts.local = Some(local.iter().map(|i| shared.users[*i as usize].id).collect());
        }
    }
    // The gauge before this run's first connection (I12 judges its change).
    let gauge_baseline = if config.target == crate::cli::Target::Embedded {
        Some(0)
    } else {
        barrier::read_gauge(&shared).await
    };
    // One start for every shard (`--start-at`), else now.
    let start_wall = match config.start_at {
        Some(at) => {
            let (instant, wall) = clock::wait_for_start(at).await;
            shared.start = instant;
            wall
        }
        None => {
            shared.start = Instant::now();
            SystemTime::now()
        }
    };
    let clock = provision::server_clock(&shared.http, &shared.base_url, start_wall).await;
    shared.facts.get_mut().clock = clock;
    let shared = Arc::new(shared);
    let pacing = {
        let shared = shared.clone();
        tokio::spawn(async move { shared.pacer.run().await })
    };
    let mut tasks = tokio::task::JoinSet::new();
    let mut workers = threads::Workers::new(&shared);
    let mut slices: Vec<Vec<u32>> = vec![Vec::new(); threads];
    for (k, i) in local.iter().enumerate() {
        slices[k % threads].push(*i);
    }
    for (t, (rt, slice)) in runtimes.into_iter().zip(slices.drain(1..)).enumerate() {
        workers.spawn(t + 1, rt, slice)?;
    }
    if threads > 1 {
        shared::set_worker(0, None, None);
    }
    for i in slices.pop().unwrap_or_default() {
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
    // Split over processes, every shard pauses for the same fixed time at
    // the same schedule times: with one start time, their pauses coincide,
    // and no shard waits for quiet while another still sends.
    let hold = shard.is_split().then(|| barrier_hold(&plan));
    let mut barriers_done: u32 = 0;
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
        let mut nap = tick.min(load_end - wall_sched);
        if let (Some(_), Some(b)) = (hold, next_barrier) {
            nap = nap.min(b.saturating_sub(wall_sched));
        }
        tokio::time::sleep(nap).await;
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
        live.interval(&shared, &snapshot, &total);
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
                barriers_done += 1;
                let resume = hold.map(|h| {
                    let offset = h * barriers_done;
                    (
                        crate::metrics::micros(b + offset),
                        crate::metrics::micros(offset),
                    )
                });
                barrier::run(&shared, false, delta_us(&plan, &total), resume).await;
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
    workers.wait_users().await;
    pacing.abort();
    barrier::run(&shared, true, delta_us(&plan, &total), None).await;
    barrier::close_all(&shared).await;
    let end = barrier::no_ghosts(&shared, gauge_baseline).await;
    workers.finish();
    shared::clear_worker();
    progress.finish();
    let last = take_interval(&shared);
    total.merge(&last);
    live.interval(&shared, &last, &total);
    if keep_intervals {
        intervals.push((shared.start.elapsed(), CompactRecorder::new(&last)));
    }
    let elapsed = shared.start.elapsed();
    let mut recorder = total;
    let waits = shared.facts.waits();
    if waits > 0 {
        recorder.add_count("facts_lock_waits", waits);
    }
    let p999 = recorder
        .latency(crate::metrics::LatencyKind::MessageDelivery)
        .map_or(0, |h| h.value_at_quantile(0.999));
    let lag = recorder.lag().map_or(0, |h| h.value_at_quantile(0.99));
    let (invariants, evidence, delta) = {
        let mut facts = shared.facts.lock();
        if let Some(ev) = facts.evidence.as_mut() {
            for c in shared.conns.lock().iter() {
                ev.life(&shared, c);
            }
        }
        let remote = remote_questions(&facts, &shared, end);
        let evidence = facts.evidence.take();
        let mut invariants = facts.report(&plan, p999, lag);
        invariants.undecided.extend(remote);
        (invariants, evidence, facts.delta_us)
    };
    let connections = u64::from(shared.next_conn.load(Ordering::Acquire));
    if let Some(embedded) = server.embedded {
        let _ = embedded.stop().await;
    }
    Ok(RunOutput {
        recorder,
        invariants,
        users: local.len() as u64,
        connections,
        elapsed,
        intervals,
        start_wall,
        evidence,
        delta_us: delta,
        live,
    })
}

/// The fixed pause of a barrier in a run split over processes: room for
/// the two quiet waits, the snapshots' round trip and the checks.
pub fn barrier_hold(plan: &crate::scenario::Plan) -> Duration {
    (plan.checker.quiet * 4 + Duration::from_secs(1)).max(Duration::from_millis(1500))
}

/// What this shard could not decide because the other side lives in
/// another shard, as undecided causes of the report (none when unsplit).
fn remote_questions(
    facts: &checks::Facts,
    shared: &Shared,
    end: barrier::EndUndecided,
) -> BTreeMap<String, crate::report::UndecidedEntry> {
    let mut out = BTreeMap::new();
    if !shared.shard.is_split() {
        return out;
    }
    // `offline(X)` about another shard's X is decided by `loadgen merge`
    // (it asked one lifecycle question here); I5 losses across shards too.
    let offline = facts
        .evidence
        .as_ref()
        .map_or(0, |e| e.offline_seen.len() as u64);
    let causes = [
        (
            "other_shard_presence",
            "I1, I4, I2",
            facts.remote.presence.get().saturating_sub(offline),
            "presence of friends driven by another shard (I1 views, I4 snapshots, online announcements): that shard holds their lifecycles",
        ),
        (
            "other_shard_typing",
            "I8",
            facts.remote.typing.get(),
            "typing from users driven by another shard: that shard holds what they typed",
        ),
        (
            "other_shard_gauge",
            "I12",
            end.gauge,
            "the server's connection gauge, while other shards may still hold connections",
        ),
        (
            "other_shard_ghost_probe",
            "I12",
            end.probe_friends,
            "the probe's friends driven by another shard, still online when this shard ended",
        ),
    ];
    for (key, ids, count, why) in causes {
        if count > 0 {
            out.insert(
                key.to_owned(),
                crate::report::UndecidedEntry {
                    invariants: ids.to_owned(),
                    count,
                    why: why.to_owned(),
                },
            );
        }
    }
    out
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
