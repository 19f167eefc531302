//! What the HTML report draws over time, from the per-second intervals: the
//! latency p50 and p99 of each main kind per second, and the moments
//! violations were found (to mark on those plots).

use super::plots::{Mark, Series};
use super::Report;
use crate::metrics::{CompactRecorder, LatencyKind};
use std::time::Duration;

/// The kinds the report draws over time: the ones people judge a chat
/// server by (handshake, REST and snapshots have their percentile plots).
pub const MAIN_KINDS: [LatencyKind; 4] = [
    LatencyKind::MessageEcho,
    LatencyKind::MessageDelivery,
    LatencyKind::Presence,
    LatencyKind::Typing,
];

/// Per main kind, `p50` and `p99` per interval in ms (from the intended
/// send time), only at intervals with samples; kinds never sampled are
/// left out.
pub fn latency_per_second(
    intervals: &[(Duration, CompactRecorder)],
) -> Vec<(LatencyKind, Vec<Series>)> {
    let mut p50: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MAIN_KINDS.len()];
    let mut p99: Vec<Vec<(f64, f64)>> = vec![Vec::new(); MAIN_KINDS.len()];
    for (at, rec) in intervals {
        let rec = rec.expand();
        let t = at.as_secs_f64();
        for (i, k) in MAIN_KINDS.iter().enumerate() {
            if let Some(h) = rec.latency(*k).filter(|h| !h.is_empty()) {
                p50[i].push((t, h.value_at_quantile(0.50) as f64 / 1e3));
                p99[i].push((t, h.value_at_quantile(0.99) as f64 / 1e3));
            }
        }
    }
    MAIN_KINDS
        .iter()
        .zip(p50.into_iter().zip(p99))
        .filter(|(_, (a, _))| !a.is_empty())
        .map(|(k, (a, b))| (*k, vec![("p50".to_owned(), a), ("p99".to_owned(), b)]))
        .collect()
}

/// When each listed violation was found (seconds since the start) and its
/// invariant, from the report's `invariants.violations[].at_us`.
pub fn violation_marks(report: &Report) -> Vec<Mark> {
    report
        .invariants
        .violations
        .iter()
        .filter_map(|v| {
            let at = v.get("at_us")?.as_u64()?;
            let id = v.get("invariant")?.as_str()?;
            Some((at as f64 / 1e6, id.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Recorder;

    #[test]
    fn p50_and_p99_per_second_of_the_sampled_kinds() {
        let mut intervals = Vec::new();
        for s in 1..=3u64 {
            let mut r = Recorder::new();
            for v in 1..=100u64 {
                r.record(LatencyKind::MessageDelivery, v * 100 * s, v * 100 * s);
            }
            intervals.push((Duration::from_secs(s), CompactRecorder::new(&r)));
        }
        let out = latency_per_second(&intervals);
        assert_eq!(out.len(), 1, "only delivery was sampled");
        let (kind, series) = &out[0];
        assert_eq!(*kind, LatencyKind::MessageDelivery);
        let p99 = &series[1].1;
        assert_eq!(p99.len(), 3);
        // Second 2: values 0.2..20 ms; p99 = 19.8 ms (to 3 digits).
        assert_eq!(p99[1].0, 2.0);
        assert!((p99[1].1 - 19.8).abs() < 0.05, "{p99:?}");
        assert!(series[0].1[1].1 < p99[1].1, "p50 below p99");
    }
}
