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

/// How many recorder shards a run uses on the current runtime.
///
/// Recorders are sharded so that no single lock is shared by every worker:
/// a connection records into shard `conn_id % shards`. Each holds lazily
/// allocated HdrHistograms (~190 KiB each at 3 digits over 1 µs–1 h), which
/// is why there is not one per connection. Every second each shard is
/// drained, which walks and zeroes its histograms' counts, so shards are
/// not free: a one-thread runtime (`--target`) can never contend and gets
/// one; a multi-thread runtime (embedded) gets 8 for its two workers.
pub fn recorder_shards() -> usize {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::CurrentThread) => 1,
        _ => 8,
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
    pub facts: Mutex<super::checks::Facts>,
    /// High-resolution sleeps for the actions' intended times.
    pub pacer: super::pacer::Pacer,
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
        f(&mut self.recorders[conn as usize % self.recorders.len()].lock())
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
