//! Classic histogram buckets per latency kind, counted as samples are
//! recorded, for the live exporter (`--metrics-addr`).
//!
//! The exporter needs, once per interval, how many samples fell under each
//! Prometheus bucket bound. Reading that off the interval's HdrHistograms
//! means walking every one of their few thousand counters per interval
//! (measured: ~2 M instructions per interval, 15% of a light run's work), so
//! the bounds are counted at record time instead: a search among 17
//! bounds and two adds per sample, into the recorder the task already
//! holds. Drained and merged with the rest of the [`super::Recorder`].

use super::KINDS;

/// Upper bounds of the buckets in µs: 50 µs to 10 s in 1–2.5–5 steps (a
/// last `+Inf` bucket follows). Chat latencies live between a few hundred
/// µs (loopback) and seconds (a saturated server), and `histogram_quantile`
/// interpolates inside a bucket, so no step is coarser than 2.5×.
pub const BUCKET_BOUNDS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Buckets per series: the bounds plus `+Inf`.
pub const BUCKETS: usize = BUCKET_BOUNDS_US.len() + 1;

/// Per series (kind × intended/actual), samples per bucket (not
/// cumulative) and the sum of the samples in µs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Buckets {
    counts: [[u64; BUCKETS]; 2 * KINDS],
    sum_us: [u64; 2 * KINDS],
}

/// The bucket of `value_us`: the first bound it does not exceed.
#[inline]
pub fn bucket_of(value_us: u64) -> usize {
    BUCKET_BOUNDS_US.partition_point(|b| *b < value_us)
}

impl Buckets {
    #[inline]
    fn series(kind: usize, actual: bool) -> usize {
        kind * 2 + usize::from(actual)
    }

    /// Counts one sample of kind index `kind`.
    #[inline]
    pub fn record(&mut self, kind: usize, actual: bool, value_us: u64) {
        let s = Buckets::series(kind, actual);
        self.counts[s][bucket_of(value_us)] += 1;
        self.sum_us[s] = self.sum_us[s].saturating_add(value_us);
    }

    /// Adds `other`.
    pub fn merge(&mut self, other: &Buckets) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a = a.saturating_add(*b);
            }
        }
        for (a, b) in self.sum_us.iter_mut().zip(&other.sum_us) {
            *a = a.saturating_add(*b);
        }
    }

    /// One series: per-bucket counts (`+Inf` last) and the sum in µs.
    pub fn get(&self, kind: usize, actual: bool) -> (&[u64; BUCKETS], u64) {
        let s = Buckets::series(kind, actual);
        (&self.counts[s], self.sum_us[s])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_first_bucket_they_do_not_exceed() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(50), 0);
        assert_eq!(bucket_of(51), 1);
        assert_eq!(bucket_of(10_000_000), 16);
        assert_eq!(bucket_of(10_000_001), 17);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        let mut b = Buckets::default();
        b.record(1, false, 700);
        b.record(1, false, 700);
        b.record(1, true, 20);
        let mut m = Buckets::default();
        m.merge(&b);
        m.merge(&b);
        let (counts, sum) = m.get(1, false);
        assert_eq!(counts[bucket_of(700)], 4);
        assert_eq!(sum, 2_800);
        assert_eq!(m.get(1, true).0[0], 2);
        assert_eq!(m.get(0, false).1, 0);
    }
}
