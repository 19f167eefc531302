//! `--threads N`: thread-per-shard inside one process.
//!
//! Each extra thread runs its own current-thread tokio runtime and owns a
//! slice of the users: their tasks, the connections they open (spawned on
//! the same runtime), their timers and their recorder (see
//! [`super::shared::worker`]). Nothing is stolen between threads, which
//! keeps the one-thread design's saving (a work-stealing runtime spent ~20%
//! of the generator's cycles parking and waking workers). The calling
//! thread is thread 0: it drives its own slice and runs the coordinator
//! (intervals, barriers, the end of the run).
//!
//! What crosses threads, and why it may: the pause flag is a `watch`
//! channel and each connection's wake-up a `Notify`, both
//! runtime-independent; timers are only created and polled by tasks of
//! their own runtime, and so is each thread's pacer (issue 12's timerfd,
//! one per runtime, registered with that runtime's epoll); the checker's tables are one `Facts` behind one lock
//! (its contention is counted in `counts.facts_lock_waits`).

use super::shared::{set_worker, Shared};
use super::user;
use crate::error::LoadgenError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};

/// The extra runtime threads of a run.
pub struct Workers {
    shared: Arc<Shared>,
    threads: Vec<std::thread::JoinHandle<()>>,
    users_done: Vec<oneshot::Receiver<()>>,
    exit: watch::Sender<bool>,
}

impl Workers {
    /// No thread yet.
    pub fn new(shared: &Arc<Shared>) -> Workers {
        Workers {
            shared: shared.clone(),
            threads: Vec::new(),
            users_done: Vec::new(),
            exit: watch::channel(false).0,
        }
    }

    /// Starts thread `index` on `rt`, driving the population users `slice`.
    pub fn spawn(
        &mut self,
        index: usize,
        rt: tokio::runtime::Runtime,
        slice: Vec<u32>,
    ) -> Result<(), LoadgenError> {
        let shared = self.shared.clone();
        let (done_tx, done_rx) = oneshot::channel();
        let mut exit = self.exit.subscribe();
        let handle = std::thread::Builder::new()
            .name(format!("loadgen-{index}"))
            .spawn(move || {
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(64)
                    .build()
                    .ok();
                rt.block_on(async move {
                    // Its own pacer, registered with this runtime's epoll
                    // (without one, sleeps fall back to the main thread's).
                    let pacer = super::pacer::Pacer::new().ok().map(std::sync::Arc::new);
                    let pacing = pacer
                        .clone()
                        .map(|p| tokio::spawn(async move { p.run().await }));
                    set_worker(index, http, pacer);
                    let mut tasks = tokio::task::JoinSet::new();
                    for i in slice {
                        tasks.spawn(user::run(shared.clone(), i));
                    }
                    // Until the load phase ends (the coordinator's stop).
                    let mut paused = shared.paused.subscribe();
                    while !shared.stopping.load(Ordering::Acquire) {
                        if paused.changed().await.is_err() {
                            break;
                        }
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(10), async {
                        while tasks.join_next().await.is_some() {}
                    })
                    .await;
                    tasks.abort_all();
                    if let Some(p) = pacing {
                        p.abort();
                    }
                    let _ = done_tx.send(());
                    // The connections live on this runtime: keep it running
                    // through the final barrier and the closes.
                    while !*exit.borrow_and_update() {
                        if exit.changed().await.is_err() {
                            break;
                        }
                    }
                });
            })
            .map_err(|e| LoadgenError::Internal(format!("runtime thread: {e}")))?;
        self.threads.push(handle);
        self.users_done.push(done_rx);
        Ok(())
    }

    /// Waits until every thread's user tasks have ended (after the stop).
    pub async fn wait_users(&mut self) {
        for rx in self.users_done.drain(..) {
            let _ = rx.await;
        }
    }

    /// Lets the threads end, and joins them.
    pub fn finish(mut self) {
        self.exit.send_replace(true);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // An early return of the run still ends its threads.
        self.exit.send_replace(true);
    }
}
