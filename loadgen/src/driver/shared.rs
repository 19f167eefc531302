//! State shared by every task of one run: the clock, the users and their
//! tokens, the friend graph, the open-model pause clock, in-flight counts,
//! per-user transition times for presence and typing latency, the sharded
//! recorders, and the registry of connections for barriers.
//!
//! Nothing here is a global: a run owns one `Shared`, so runs in the same
//! process (tests) never see each other.

use crate::metrics::Recorder;
use crate::population::Population;
use crate::scenario::Plan;
use parking_lot::{Mutex, RwLock};
use server::protocol::UserId;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

use super::conn::ConnSlot;
use super::pacer::Pacer;

/// How many recorder shards a run uses on the current runtime.
///
/// Recorders are sharded so that no single lock is shared by every worker:
/// a connection records into shard `conn_id % shards`. Each holds lazily
/// allocated HdrHistograms (~190 KiB each at 3 digits over 1 µs–1 h), which
/// is why there is not one per connection. Every second each shard is
/// drained, which walks and zeroes its histograms' counts, so shards are
/// not free: a one-thread runtime (`--target`) can never contend and gets
/// one; a multi-thread runtime (embedded) gets 8 for its two workers.
pub fn recorder_shards(threads: usize) -> usize {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        // Thread-per-shard (`--threads N`): one recorder per runtime thread,
        // picked by the thread's own index (see [`worker`]), so no two
        // threads ever take the same recorder lock.
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => threads.max(1),
        _ => 8,
    }
}

thread_local! {
    /// The index of the runtime thread this code runs on (`--threads`), set
    /// by each thread before it runs anything of the run.
    static WORKER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// This runtime thread's HTTP client: a pooled connection is served by a
    /// task of the runtime that opened it, so each runtime keeps its own.
    static HTTP: std::cell::RefCell<Option<reqwest::Client>> = const { std::cell::RefCell::new(None) };
    /// This runtime thread's pacer (its timerfd is registered with this
    /// thread's runtime, whose epoll wakes it).
    static PACER: std::cell::RefCell<Option<Arc<Pacer>>> = const { std::cell::RefCell::new(None) };
}

/// Marks the current thread as runtime thread `index` with its own HTTP
/// client and pacer.
pub fn set_worker(index: usize, http: Option<reqwest::Client>, pacer: Option<Arc<Pacer>>) {
    WORKER.with(|w| w.set(Some(index)));
    HTTP.with(|h| *h.borrow_mut() = http);
    PACER.with(|p| *p.borrow_mut() = pacer);
}

/// Forgets what [`set_worker`] set on this thread.
pub fn clear_worker() {
    WORKER.with(|w| w.set(None));
    HTTP.with(|h| *h.borrow_mut() = None);
    PACER.with(|p| *p.borrow_mut() = None);
}

/// The runtime thread index set by [`set_worker`], if any.
pub fn worker() -> Option<usize> {
    WORKER.with(|w| w.get())
}

/// The run's pacers: the calling thread's, and each runtime thread's own
/// (see [`set_worker`]); a sleep uses the one of the thread it runs on.
pub struct Pacers {
    main: Pacer,
}

impl Pacers {
    /// The calling thread's pacer (registered with its runtime).
    pub fn new(main: Pacer) -> Pacers {
        Pacers { main }
    }

    /// Sleeps until `deadline` on this thread's pacer.
    pub async fn sleep_until(&self, deadline: std::time::Instant) {
        match PACER.with(|p| p.borrow().clone()) {
            Some(p) => p.sleep_until(deadline).await,
            None => self.main.sleep_until(deadline).await,
        }
    }

    /// Drives the calling thread's pacer (see [`Pacer::run`]).
    pub async fn run(&self) {
        self.main.run().await
    }
}

/// Which users this process drives: shard `index` of `count` drives the
/// users whose population index is `index` modulo `count` (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl ShardSpec {
    /// The whole population in one process.
    pub const WHOLE: ShardSpec = ShardSpec { index: 0, count: 1 };

    /// Whether population user `i` is driven by this shard.
    #[inline]
    pub fn owns(&self, i: u32) -> bool {
        i % self.count == self.index
    }

    /// Whether the run is split over several processes.
    pub fn is_split(&self) -> bool {
        self.count > 1
    }
}

/// A mutex that counts how often a thread found it held (the `Facts` lock,
/// shared by every runtime thread: `counts.facts_lock_waits` in the report
/// says how contended it was).
pub struct Counted<T> {
    inner: Mutex<T>,
    waits: AtomicU64,
}

impl<T: Default> Default for Counted<T> {
    fn default() -> Self {
        Counted {
            inner: Mutex::new(T::default()),
            waits: AtomicU64::new(0),
        }
    }
}

impl<T> Counted<T> {
    /// Locks, counting a wait when another thread holds the lock.
    #[inline]
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        if let Some(g) = self.inner.try_lock() {
            return g;
        }
        self.waits.fetch_add(1, Ordering::Relaxed);
        self.inner.lock()
    }

    /// The value, without locking (nobody else holds it yet).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// How many times a lock had to wait.
    pub fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }
}

/// A provisioned user.
#[derive(Debug, Clone)]
pub struct SimUser {
    pub id: UserId,
    pub token: String,
}

/// Shared by every task of a run.
pub struct Shared {
    pub plan: Arc<Plan>,
    pub start: Instant,
    pub addr: SocketAddr,
    pub base_url: String,
    pub users: Vec<SimUser>,
    pub index_of: HashMap<UserId, u32>,
    pub population: Population,
    /// Friendships made during the run (friend request + accept), as
    /// (low index, high index).
    pub new_friends: RwLock<HashSet<(u32, u32)>>,
    /// Per user: µs of the last presence transition the generator started,
    /// shifted left one bit, low bit = 1 for "online".
    pub presence_at: Vec<AtomicU64>,
    /// Per user: µs of the last typing / stop_typing sent.
    pub typing_at: Vec<AtomicU64>,
    /// True while a barrier holds new actions back.
    pub paused: watch::Sender<bool>,
    /// Total µs spent paused: the schedule runs on wall time minus this.
    pub pause_offset_us: AtomicU64,
    /// Actions started and not finished (connects, closes, sends, REST).
    pub in_flight: AtomicI64,
    /// Frames received, all connections (a barrier waits for it to settle).
    pub frames_received: AtomicU64,
    /// Open connections right now.
    pub open_connections: AtomicI64,
    pub next_conn: AtomicU32,
    /// Every connection opened and not yet swept after closing.
    pub conns: Mutex<Vec<Arc<ConnSlot>>>,
    pub recorders: Box<[Mutex<Recorder>]>,
    /// Set when the run's load phase is over: user tasks stop.
    pub stopping: AtomicBool,
    pub http: reqwest::Client,
    /// Accepted and deleted message ids (I11).
    pub book: Mutex<super::history::Book>,
    /// The checker's shared tables and findings.
    pub facts: Counted<super::checks::Facts>,
    /// High-resolution sleeps for the actions' intended times, one pacer
    /// per runtime thread.
    pub pacer: Pacers,
    /// The users this process drives (`--shard I/N`).
    pub shard: ShardSpec,
}

impl Shared {
    /// µs since the run started.
    #[inline]
    pub fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// The wall-clock µs at which schedule time `t` falls (pauses excluded).
    pub fn wall_of(&self, schedule_us: u64) -> u64 {
        schedule_us + self.pause_offset_us.load(Ordering::Acquire)
    }

    /// The `Instant` of run-relative µs.
    pub fn instant_of(&self, us: u64) -> Instant {
        self.start + Duration::from_micros(us)
    }

    /// Whether population users `a` and `b` are friends (initial graph or
    /// befriended during the run).
    pub fn are_friends(&self, a: u32, b: u32) -> bool {
        self.population.are_friends(a, b) || self.new_friends.read().contains(&(a.min(b), a.max(b)))
    }

    /// Whether a barrier holds actions back right now.
    pub fn paused_now(&self) -> bool {
        *self.paused.borrow()
    }

    /// The population index of a server user id.
    pub fn index(&self, id: UserId) -> Option<u32> {
        self.index_of.get(&id).copied()
    }

    /// Records into the recorder shard of `conn`.
    pub fn with_recorder<R>(&self, conn: u32, f: impl FnOnce(&mut Recorder) -> R) -> R {
        let i = worker().unwrap_or(conn as usize);
        f(&mut self.recorders[i % self.recorders.len()].lock())
    }

    /// A new connection id, unique across the shards of a run: the shard's
    /// own counter interleaved with the other shards' (`n × count + index`),
    /// so a sender connection named in a message's content is one
    /// connection in every shard's checker.
    pub fn new_conn_id(&self) -> u32 {
        let n = self.next_conn.fetch_add(1, Ordering::Relaxed);
        n * self.shard.count + self.shard.index
    }

    /// This thread's HTTP client (see [`set_worker`]), or the run's.
    pub fn http(&self) -> reqwest::Client {
        HTTP.with(|h| h.borrow().clone())
            .unwrap_or_else(|| self.http.clone())
    }

    /// Marks the start of an action (a barrier waits for all to finish).
    pub fn begin(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// Like [`Shared::begin`], but waits while a barrier holds actions back,
    /// and gives up when the run is stopping. The guard is taken *before*
    /// looking at the pause flag, and a barrier raises the flag *before*
    /// waiting for in-flight actions, so no action slips into a barrier.
    pub async fn begin_active(&self) -> Option<InFlight<'_>> {
        let mut paused = self.paused.subscribe();
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return None;
            }
            let guard = self.begin();
            if !*paused.borrow_and_update() {
                return Some(guard);
            }
            drop(guard);
            let _ = paused.changed().await;
        }
    }

    /// Ends the load phase: user tasks asleep until their next action wake
    /// up and return.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.paused.send_replace(true);
    }

    /// Notes that user `i` starts a presence transition now.
    pub fn presence_transition(&self, i: u32, online: bool, at_us: u64) {
        self.presence_at[i as usize].store((at_us << 1) | u64::from(online), Ordering::Release);
    }

    /// The time of user `i`'s last transition if it was to `online`.
    pub fn presence_since(&self, i: u32, online: bool) -> Option<u64> {
        let v = self.presence_at[i as usize].load(Ordering::Acquire);
        (v != 0 && (v & 1 == 1) == online).then_some(v >> 1)
    }
}

/// Guard of one in-flight action.
pub struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
