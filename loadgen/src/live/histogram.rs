//! A classic Prometheus histogram fed once per interval with the bucket
//! counts the recorders counted as samples came in
//! ([`crate::metrics::buckets`]), rather than observing every sample here.
//!
//! prometheus-client's own `Histogram` can only `observe` one value at a
//! time, so this is a small metric type of its own, encoded through
//! prometheus-client's `encode_histogram` (same text format, same
//! `_bucket`/`_sum`/`_count` series).

use crate::metrics::buckets::{BUCKETS, BUCKET_BOUNDS_US};
use parking_lot::Mutex;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::Arc;

#[derive(Debug, Default)]
struct State {
    /// Per bucket (not cumulative), the last one `+Inf`.
    counts: [u64; BUCKETS],
    sum_us: u64,
}

/// A histogram of seconds over [`BUCKET_BOUNDS_US`]. Clones share their
/// counts. The lock is taken once per interval by the drain and once per
/// scrape, never by a connection.
#[derive(Debug, Clone, Default)]
pub struct BucketHistogram(Arc<Mutex<State>>);

impl BucketHistogram {
    /// Adds one interval's per-bucket counts and sum (µs).
    pub fn add(&self, counts: &[u64; BUCKETS], sum_us: u64) {
        let mut s = self.0.lock();
        for (a, b) in s.counts.iter_mut().zip(counts) {
            *a = a.saturating_add(*b);
        }
        s.sum_us = s.sum_us.saturating_add(sum_us);
    }

    /// Samples so far.
    pub fn count(&self) -> u64 {
        self.0.lock().counts.iter().sum()
    }
}

impl TypedMetric for BucketHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (buckets, sum_s, count) = {
            let s = self.0.lock();
            let bounds = BUCKET_BOUNDS_US
                .iter()
                .map(|us| *us as f64 / 1e6)
                // prometheus-client writes f64::MAX as `+Inf`.
                .chain(std::iter::once(f64::MAX));
            let buckets: Vec<(f64, u64)> = bounds.zip(s.counts).collect();
            (buckets, s.sum_us as f64 / 1e6, s.counts.iter().sum())
        };
        encoder.encode_histogram::<NoLabelSet>(sum_s, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::buckets::Buckets;
    use prometheus_client::registry::Registry;

    #[test]
    fn encodes_cumulative_buckets_from_recorded_samples() {
        let mut b = Buckets::default();
        for us in [40, 700, 3_000, 3_000, 20_000_000] {
            b.record(0, false, us);
        }
        let (counts, sum) = b.get(0, false);
        let m = BucketHistogram::default();
        m.add(counts, sum);
        m.add(counts, sum);
        assert_eq!(m.count(), 10);
        let mut registry = Registry::default();
        registry.register("lat_seconds", "test", m.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            "# TYPE lat_seconds histogram",
            "lat_seconds_bucket{le=\"0.00005\"} 2",
            "lat_seconds_bucket{le=\"0.001\"} 4",
            "lat_seconds_bucket{le=\"0.005\"} 8",
            "lat_seconds_bucket{le=\"10.0\"} 8",
            "lat_seconds_bucket{le=\"+Inf\"} 10",
            "lat_seconds_count 10",
            "lat_seconds_sum 40.01348",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
