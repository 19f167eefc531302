//! The ConnectionManager (PROTOCOL.md §7) alone, without sockets: each
//! connection is a `ConnHandle` over a tokio mpsc queue that the bench
//! drains itself.
//!
//! - `manager_churn/{1,2,8}`: T threads at once, each looping connect →
//!   `send_personal_message` to a friend → disconnect on its own users,
//!   whose friends live on the other threads' shards (so presence events
//!   cross shards and the threads contend). Time per operation triple,
//!   across all threads (wall time / total triples), so perfect scaling
//!   would show the same time at every T on enough cores; this machine has
//!   two.
//! - `fanout/{10,100,1000}`: one event to N online users with
//!   `send_to_multiple` (the event serialized once, bytes shared). Draining
//!   the queues is outside the timed part.

use benches::{slow_elapsed, timed};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use server::fault::Faults;
use server::manager::{ConnControl, ConnHandle, ConnectionManager, Frame};
use server::metrics::Metrics;
use server::protocol::{EventKind, ServerEvent, Status};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Users per thread in the churn bench.
const USERS_PER_THREAD: u64 = 64;
/// Shards, as the server picks for 2 cores (smallest power of two ≥ 4 × cores).
const SHARDS: usize = 8;

fn manager() -> ConnectionManager {
    ConnectionManager::new(
        SHARDS,
        16,
        Arc::new(Metrics::new()),
        Arc::new(Faults::new(&[])),
    )
}

fn handle(m: &ConnectionManager, queue: usize) -> (ConnHandle, mpsc::Receiver<Frame>) {
    let (tx, rx) = mpsc::channel(queue);
    (
        ConnHandle::new(m.next_conn_id(), tx, Arc::new(ConnControl::default())),
        rx,
    )
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("manager_churn");
    g.throughput(Throughput::Elements(1));
    for threads in [1u64, 2, 8] {
        g.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                let m = manager();
                // A permanent online friend per thread-user pair, on another
                // thread's range, so each connect/disconnect has someone to tell.
                let total = threads * USERS_PER_THREAD;
                let mut keep = Vec::new();
                for u in 1..=total {
                    let (h, rx) = handle(&m, 1 << 16);
                    m.connect(1_000_000 + u, &[], h).expect("under the cap");
                    keep.push(rx);
                }
                let frame = Frame::from(
                    ServerEvent::FriendStatusChange {
                        user_id: 1,
                        status: Status::Online,
                    }
                    .to_json(),
                );
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for t in 0..threads {
                            let (m, frame) = (&m, &frame);
                            s.spawn(move || {
                                for i in 0..per_thread {
                                    let user = t * USERS_PER_THREAD + (i % USERS_PER_THREAD) + 1;
                                    // The friend lives on the next thread's range.
                                    let friend =
                                        1_000_000 + ((user + USERS_PER_THREAD) % total) + 1;
                                    let friends = [friend];
                                    let (h, mut rx) = handle(m, 8);
                                    let id = h.id;
                                    m.connect(user, &friends, h).expect("under the cap");
                                    m.send_personal_message(
                                        user,
                                        frame,
                                        EventKind::FriendStatusChange,
                                    );
                                    m.disconnect(user, id, &friends);
                                    while rx.try_recv().is_ok() {}
                                }
                            });
                        }
                    });
                    let elapsed = start.elapsed();
                    // Presence events pile up at the permanent friends: empty them.
                    for rx in keep.iter_mut() {
                        while rx.try_recv().is_ok() {}
                    }
                    slow_elapsed(elapsed).mul_f64(iters as f64 / (per_thread * threads) as f64)
                })
            },
        );
    }
    g.finish();
}

fn fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("fanout");
    for n in [10u64, 100, 1000] {
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            let m = manager();
            let mut queues = Vec::new();
            let users: Vec<u64> = (1..=n).collect();
            for &u in &users {
                let (h, rx) = handle(&m, 1024);
                m.connect(u, &[], h).expect("under the cap");
                queues.push(rx);
            }
            let frame = Frame::from(
                ServerEvent::UserTyping {
                    user_id: 0,
                    is_typing: true,
                }
                .to_json(),
            );
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    timed(|| m.send_to_multiple(&users, &frame, None, EventKind::UserTyping));
                    total += start.elapsed();
                    for rx in queues.iter_mut() {
                        while rx.try_recv().is_ok() {}
                    }
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, churn, fanout);
criterion_main!(benches);
