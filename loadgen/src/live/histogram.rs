//! A classic Prometheus histogram fed from HdrHistograms: the per-interval
//! recorder already holds every sample of the interval, so the exporter adds
//! each interval's histogram to its buckets once, instead of observing every
//! sample on the hot path.
//!
//! prometheus-client's own `Histogram` can only `observe` one value at a
//! time, so this is a small metric type of its own, encoded through
//! prometheus-client's `encode_histogram` (same text format, same
//! `_bucket`/`_sum`/`_count` series).

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use std::sync::Arc;

/// Upper bounds of the buckets, in seconds: 50 µs to 10 s, 1–2.5–5 steps
/// (plus `+Inf`). Chat latencies live between a few hundred µs (loopback)
/// and seconds (a saturated server), and `histogram_quantile` interpolates
/// inside a bucket, so the steps are no coarser than 2.5×.
pub const BOUNDS_S: [f64; 18] = [
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    f64::MAX,
];

#[derive(Debug, Default)]
struct Buckets {
    /// Per bucket (not cumulative), the last one `+Inf`.
    counts: [u64; BOUNDS_S.len()],
    sum_s: f64,
    count: u64,
}

/// A histogram of seconds with the [`BOUNDS_S`] buckets. Clones share their
/// counts. The lock is taken once per interval by the drain and once per
/// scrape, never by a connection.
#[derive(Debug, Clone, Default)]
pub struct BucketHistogram(Arc<Mutex<Buckets>>);

impl BucketHistogram {
    /// Adds every sample of `h` (microseconds). The sum uses each HdrHistogram
    /// bucket's highest equivalent value, so it is exact to the
    /// histogram's 3 significant digits.
    pub fn add_us(&self, h: &Histogram<u64>) {
        if h.is_empty() {
            return;
        }
        let mut b = self.0.lock();
        for v in h.iter_recorded() {
            let (us, n) = (v.value_iterated_to(), v.count_at_value());
            let s = us as f64 / 1e6;
            // The first bucket whose bound is >= the value (the last is +Inf).
            let i = BOUNDS_S.partition_point(|bound| *bound < s);
            b.counts[i.min(BOUNDS_S.len() - 1)] += n;
            b.sum_s += s * n as f64;
            b.count += n;
        }
    }

    /// Samples so far.
    pub fn count(&self) -> u64 {
        self.0.lock().count
    }
}

impl TypedMetric for BucketHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for BucketHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (buckets, sum, count) = {
            let b = self.0.lock();
            let buckets: Vec<(f64, u64)> = BOUNDS_S.iter().copied().zip(b.counts).collect();
            (buckets, b.sum_s, b.count)
        };
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;

    #[test]
    fn buckets_are_filled_from_an_hdr_histogram() {
        let mut h = Histogram::<u64>::new(3).expect("valid");
        h.record(40).expect("in range"); // 40 µs → le 0.00005
        h.record(700).expect("in range"); // → le 0.001
        h.record_n(3_000, 2).expect("in range"); // 3 ms → le 0.005
        h.record(20_000_000).expect("in range"); // 20 s → +Inf
        let m = BucketHistogram::default();
        m.add_us(&h);
        m.add_us(&h);
        assert_eq!(m.count(), 10);
        let mut registry = Registry::default();
        registry.register("lat_seconds", "test", m.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("# TYPE lat_seconds histogram"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{le=\"0.00005\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{le=\"0.001\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("lat_seconds_bucket{le=\"0.005\"} 8"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_bucket{le=\"10.0\"} 8"), "{text}");
        assert!(
            text.contains("lat_seconds_bucket{le=\"+Inf\"} 10"),
            "{text}"
        );
        assert!(text.contains("lat_seconds_count 10"), "{text}");
        // The sum, to the HdrHistogram's 3 significant digits.
        let sum: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("lat_seconds_sum "))
            .and_then(|v| v.parse().ok())
            .expect("a sum line");
        let exact = 2.0 * (40.0 + 700.0 + 6_000.0 + 20_000_000.0) / 1e6;
        assert!((sum - exact).abs() / exact < 1e-3, "{sum} vs {exact}");
    }
}
