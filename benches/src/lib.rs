//! Shared helpers for the criterion benches (`benches/benches/*.rs`).
//!
//! - [`timed`] / [`spin_for`]: the gate's artificial slowdown. With
//!   `BENCH_SLOWDOWN_PCT=N` set, every measured routine is followed by a busy
//!   loop lasting N % of its own run time, so each bench gets N % slower
//!   whatever its scale. It exists only to show that `scripts/bench-gate`
//!   fails on a regression; unset (the normal case) it costs one relaxed
//!   load.
//! - [`rt`]: the multi-threaded tokio runtime the async benches share,
//!   built once, outside every `b.iter`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The slowdown in percent, read once from `BENCH_SLOWDOWN_PCT`.
pub fn slowdown_pct() -> u32 {
    static PCT: OnceLock<u32> = OnceLock::new();
    *PCT.get_or_init(|| {
        std::env::var("BENCH_SLOWDOWN_PCT")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

/// Runs `f`; with a slowdown set, then spins for that share of its time.
#[inline]
pub fn timed<R>(f: impl FnOnce() -> R) -> R {
    let pct = slowdown_pct();
    if pct == 0 {
        return f();
    }
    let start = Instant::now();
    let r = f();
    spin_for(start.elapsed() * pct / 100);
    r
}

/// Busy-waits for `d` (the slowdown's unit of work; never a sleep, so the
/// time is spent on the CPU like a real regression).
pub fn spin_for(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Spins for the slowdown's share of `elapsed` (for `iter_custom` benches
/// that time themselves); returns the slowed-down elapsed time.
pub fn slow_elapsed(elapsed: Duration) -> Duration {
    let pct = slowdown_pct();
    if pct == 0 {
        return elapsed;
    }
    let extra = elapsed * pct / 100;
    spin_for(extra);
    elapsed + extra
}

/// A two-worker tokio runtime (the machine has two cores).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
