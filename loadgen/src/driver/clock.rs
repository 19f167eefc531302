//! The shards' common clock: every shard of a run starts at the same
//! wall-clock instant (`--start-at`), and measures everything in µs since
//! then on its own monotonic clock.
//!
//! The start instant is mapped onto the monotonic clock by reading both
//! clocks back to back, not by when the sleep happened to end, so a shard
//! woken late still counts from the common instant (its users then start
//! late and their lag says so). On one machine every shard reads the same
//! wall clock, so shards' times agree to within the two reads (µs). On
//! several machines they agree to within the machines' wall-clock offset
//! (NTP's), which then adds to the delivery latency of messages between
//! shards (docs/scale-out.md).

use std::time::{Duration, Instant, SystemTime};

/// Sleeps until wall-clock `at` (returns at once if it is past), and
/// returns the monotonic `Instant` that corresponds to `at`, with `at`.
pub async fn wait_for_start(at: SystemTime) -> (Instant, SystemTime) {
    if let Ok(ahead) = at.duration_since(SystemTime::now()) {
        tokio::time::sleep(ahead).await;
    }
    (instant_of(at), at)
}

/// The monotonic instant of wall-clock `at`, from one pair of reads.
pub fn instant_of(at: SystemTime) -> Instant {
    let (mono, wall) = (Instant::now(), SystemTime::now());
    match wall.duration_since(at) {
        // `at` is `past` ago.
        Ok(past) => mono.checked_sub(past).unwrap_or(mono),
        // `at` is still ahead (a clock step backwards while sleeping).
        Err(e) => mono + e.duration(),
    }
}

/// How late a start at `at` is now (zero if not yet).
pub fn late_by(at: SystemTime) -> Duration {
    SystemTime::now().duration_since(at).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_and_future_map_onto_the_monotonic_clock() {
        let now = SystemTime::now();
        let past = instant_of(now - Duration::from_secs(2));
        let e = Instant::now().duration_since(past);
        assert!(
            e >= Duration::from_secs(2) && e < Duration::from_secs(3),
            "{e:?}"
        );
        let future = instant_of(now + Duration::from_secs(5));
        let d = future.duration_since(Instant::now());
        assert!(
            d > Duration::from_secs(4) && d <= Duration::from_secs(5),
            "{d:?}"
        );
    }
}
