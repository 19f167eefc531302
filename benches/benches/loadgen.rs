//! The load generator's own costs, which bound how much load one generator
//! process can check: recording latencies into a `Recorder` and merging
//! recorders (one per task, merged at the end and at every interval), and
//! the checker's per-frame cost (`ConnView::on_event` over a small world).

use benches::timed;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use loadgen::checker::{
    encode, ConnId, ConnView, ContentHeader, Findings, FriendGraph, Lifecycles, World,
};
use loadgen::metrics::{LatencyKind, Recorder};
use server::protocol::{NewMessage, ServerEvent, Status};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// A recorder holding `n` latencies spread over 100 µs..100 ms.
fn filled(n: u64, seed: u64) -> Recorder {
    let mut r = Recorder::new();
    let mut x = seed | 1;
    for _ in 0..n {
        // xorshift: cheap, deterministic spread.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = 100 + x % 100_000;
        r.record(LatencyKind::ALL[(x % 5) as usize], v, v / 2);
    }
    r.add_count("sent", n);
    r
}

fn recorder(c: &mut Criterion) {
    let mut g = c.benchmark_group("recorder");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("record_1000", |b| {
        let mut r = filled(10_000, 7);
        let values: Vec<u64> = (0..1000u64).map(|i| 100 + i * 97 % 100_000).collect();
        b.iter(|| {
            timed(|| {
                for v in &values {
                    r.record(LatencyKind::MessageDelivery, *v, *v / 2);
                }
            })
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("merge", |b| {
        let other = filled(50_000, 11);
        b.iter_batched_ref(
            || filled(50_000, 3),
            |into| timed(|| into.merge(black_box(&other))),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The `i`-th frame of a clean stream.
fn frame(i: u64) -> ServerEvent {
    match i % 8 {
        6 => ServerEvent::UserTyping {
            user_id: 2,
            is_typing: true,
        },
        7 => ServerEvent::FriendStatusChange {
            user_id: 2,
            status: Status::Online,
        },
        _ => ServerEvent::NewMessage(NewMessage {
            message_id: i + 1,
            sender_id: 2,
            conversation_id: 1,
            content: encode(
                &ContentHeader {
                    conn: ConnId(2),
                    seq: i + 1,
                    intended_us: 1_000 + i * 100,
                    actual_us: 1_000 + i * 100,
                    sender: 2,
                    peer: 1,
                },
                128,
            ),
            receiver_id: Some(1),
            timestamp: Some("2024-01-01T12:00:00.000000".to_owned()),
            created_at: None,
            media_ids: None,
        }),
    }
}

/// Per frame: a stream of messages from a friend (generator-made content,
/// so the header is parsed and the sequence tracked), presence flips and
/// typing, as a connection sees them.
fn checker(c: &mut Criterion) {
    let mut g = c.benchmark_group("checker");
    g.throughput(Throughput::Elements(1));
    let mut lifecycles = Lifecycles::new();
    lifecycles.open(ConnId(1), 1, 0).expect("fresh");
    lifecycles.confirm(ConnId(1), 10).expect("open");
    lifecycles.open(ConnId(2), 2, 0).expect("fresh");
    lifecycles.confirm(ConnId(2), 10).expect("open");
    let mut friends = FriendGraph::new();
    friends.add_initial(1, 2);
    let world = World {
        delta_us: 2_000_000,
        lifecycles: &lifecycles,
        friends: &friends,
        conversations: None,
        typing: None,
        clock: None,
    };
    g.bench_function("on_event", |b| {
        b.iter_custom(|iters| {
            let mut v = ConnView::new(ConnId(1), 1);
            v.requested_online_friends(10, false);
            let mut found = Findings::new();
            v.on_event(
                &world,
                20,
                &ServerEvent::OnlineFriends { friends: vec![2] },
                &mut found,
            );
            let mut total = Duration::ZERO;
            let mut next = 0u64;
            while next < iters {
                // Frames are made in chunks outside the timed part.
                let chunk: Vec<ServerEvent> = (next..iters.min(next + 1024)).map(frame).collect();
                let start = Instant::now();
                timed(|| {
                    for (k, f) in chunk.iter().enumerate() {
                        let at = 2_000 + (next + k as u64) * 100;
                        black_box(v.on_event(&world, at, f, &mut found));
                    }
                });
                total += start.elapsed();
                next += chunk.len() as u64;
            }
            assert!(
                found.violations.is_empty(),
                "a clean stream: {:?}",
                found.violations.first()
            );
            total
        })
    });
    g.finish();
}

criterion_group!(benches, recorder, checker);
criterion_main!(benches);
