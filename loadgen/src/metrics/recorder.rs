//! [`Recorder`]: one per task; histograms and counters, merged at the end.
//!
//! Histograms are HdrHistograms of microseconds with 3 significant digits,
//! covering 1 µs to 1 h (larger values are clamped to 1 h, never dropped,
//! never a panic). They are created on first use and auto-resize, so an
//! empty recorder costs a few hundred bytes and a histogram only grows to the
//! largest value it has seen: about 64 KiB for values up to 100 ms, 190 KiB
//! at the 1 h cap. Hence: one recorder per worker task, not per connection.
//!
//! [`Recorder::merge`] adds counts, so it is associative and commutative,
//! and merging an empty recorder changes nothing.

use super::buckets::Buckets;
use super::{LatencyKind, RestEndpoint, ENDPOINTS, KINDS};
use hdrhistogram::Histogram;
use server::protocol::EventKind;
use std::collections::BTreeMap;

/// Number of server frame types ([`EventKind`]).
pub const FRAME_TYPES: usize = EventKind::ALL.len();

/// Largest recordable value: one hour in microseconds. Larger values are clamped.
pub const HISTOGRAM_MAX_US: u64 = 3_600_000_000;
/// Precision of every histogram.
pub const SIGNIFICANT_DIGITS: u8 = 3;

pub(super) type Hist = Histogram<u64>;

fn new_hist() -> Hist {
    // Cannot fail: 3 significant digits is within hdrhistogram's 0..=5.
    let mut h = Hist::new(SIGNIFICANT_DIGITS).expect("3 significant digits is valid");
    h.auto(true);
    h
}

fn record_into(slot: &mut Option<Hist>, value_us: u64) {
    let h = slot.get_or_insert_with(new_hist);
    let v = value_us.min(HISTOGRAM_MAX_US);
    // `record` grows the histogram (`saturating_record` would clamp to the
    // current top instead); it can only fail if growing fails, and then the
    // value is clamped rather than lost.
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

fn merge_into(dst: &mut Option<Hist>, src: &Option<Hist>) {
    let Some(src) = src else { return };
    let dst = dst.get_or_insert_with(new_hist);
    // Both auto-resize, so `add` only fails on a counter overflow; then
    // fall back to adding value by value, saturating.
    if dst.add(src).is_err() {
        for v in src.iter_recorded() {
            if dst
                .record_n(v.value_iterated_to(), v.count_at_value())
                .is_err()
            {
                dst.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
    }
}

/// One task's measurements: latency per kind (from intended and from actual
/// send time), per REST endpoint, generator lag, and counters.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    intended: [Option<Hist>; KINDS],
    actual: [Option<Hist>; KINDS],
    rest_intended: [Option<Hist>; ENDPOINTS],
    rest_actual: [Option<Hist>; ENDPOINTS],
    lag: Option<Hist>,
    /// Send actions performed (WS and REST), as CLI.md counts them.
    pub messages_sent: u64,
    /// `new_message` frames received, one per receiving connection.
    pub messages_delivered: u64,
    errors: BTreeMap<String, u64>,
    counts: BTreeMap<String, u64>,
    /// Frames received, by [`EventKind`] index (for the live exporter: a
    /// plain array, so counting one is an add, not a map lookup).
    frames: [u64; FRAME_TYPES],
    /// Classic buckets per kind for the live exporter (see
    /// [`super::buckets`]); allocated on first record, ~2 KiB.
    buckets: Option<Box<Buckets>>,
}

impl Recorder {
    /// An empty recorder (allocates no histogram until something is recorded).
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Every histogram slot, in a fixed order (for [`super::CompactRecorder`]).
    pub(super) fn slots_mut(&mut self) -> Vec<&mut Option<Hist>> {
        self.intended
            .iter_mut()
            .chain(self.actual.iter_mut())
            .chain(self.rest_intended.iter_mut())
            .chain(self.rest_actual.iter_mut())
            .chain(std::iter::once(&mut self.lag))
            .collect()
    }

    /// Records one latency of `kind`, from the intended and from the actual send time (µs).
    pub fn record(&mut self, kind: LatencyKind, from_intended_us: u64, from_actual_us: u64) {
        record_into(&mut self.intended[kind.index()], from_intended_us);
        record_into(&mut self.actual[kind.index()], from_actual_us);
        let b = self.buckets.get_or_insert_with(Default::default);
        b.record(kind.index(), false, from_intended_us);
        b.record(kind.index(), true, from_actual_us);
    }

    /// The classic buckets of every kind (`None` when nothing was recorded,
    /// and in a recorder expanded from a [`super::CompactRecorder`], which
    /// does not keep them).
    pub fn buckets(&self) -> Option<&Buckets> {
        self.buckets.as_deref()
    }

    /// Drops the classic buckets (what a per-interval copy need not keep).
    pub(super) fn clear_buckets(&mut self) {
        self.buckets = None;
    }

    /// Records one REST call: in the endpoint's detail and in [`LatencyKind::Rest`].
    pub fn record_rest(
        &mut self,
        endpoint: RestEndpoint,
        from_intended_us: u64,
        from_actual_us: u64,
    ) {
        record_into(&mut self.rest_intended[endpoint.index()], from_intended_us);
        record_into(&mut self.rest_actual[endpoint.index()], from_actual_us);
        self.record(LatencyKind::Rest, from_intended_us, from_actual_us);
    }

    /// Records one generator lag (actual − intended send time, µs).
    pub fn record_lag(&mut self, lag_us: u64) {
        record_into(&mut self.lag, lag_us);
    }

    /// Counts one error of `kind` (e.g. `"ws_connect"`, `"rest_5xx"`, `"unexpected_close"`).
    pub fn count_error(&mut self, kind: &str) {
        self.add_error(kind, 1);
    }

    /// Counts `n` errors of `kind`.
    pub fn add_error(&mut self, kind: &str, n: u64) {
        bump(&mut self.errors, kind, n);
    }

    /// Counts one event of `name` (behaviours performed, closes seen, ...).
    pub fn count(&mut self, name: &str) {
        self.add_count(name, 1);
    }

    /// Counts `n` events of `name`.
    pub fn add_count(&mut self, name: &str, n: u64) {
        bump(&mut self.counts, name, n);
    }

    /// Counts one frame received from the server, by its type.
    #[inline]
    pub fn count_frame(&mut self, kind: EventKind) {
        self.frames[kind as usize] += 1;
    }

    /// Frames received by type, in [`EventKind::ALL`] order.
    pub fn frames(&self) -> impl Iterator<Item = (EventKind, u64)> + '_ {
        EventKind::ALL.into_iter().zip(self.frames.iter().copied())
    }

    /// Errors by kind.
    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// Other counters by name.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// Latency of `kind` from the intended send time, if any was recorded.
    pub fn latency(&self, kind: LatencyKind) -> Option<&Histogram<u64>> {
        self.intended[kind.index()].as_ref()
    }

    /// Latency of `kind` from the actual send time, if any was recorded.
    pub fn latency_actual(&self, kind: LatencyKind) -> Option<&Histogram<u64>> {
        self.actual[kind.index()].as_ref()
    }

    /// Latency of one REST endpoint from the intended send time.
    pub fn rest(&self, endpoint: RestEndpoint) -> Option<&Histogram<u64>> {
        self.rest_intended[endpoint.index()].as_ref()
    }

    /// Latency of one REST endpoint from the actual send time.
    pub fn rest_actual(&self, endpoint: RestEndpoint) -> Option<&Histogram<u64>> {
        self.rest_actual[endpoint.index()].as_ref()
    }

    /// Generator lag, if any was recorded.
    pub fn lag(&self) -> Option<&Histogram<u64>> {
        self.lag.as_ref()
    }

    /// Adds everything `other` recorded to `self`.
    pub fn merge(&mut self, other: &Recorder) {
        for i in 0..KINDS {
            merge_into(&mut self.intended[i], &other.intended[i]);
            merge_into(&mut self.actual[i], &other.actual[i]);
        }
        for i in 0..ENDPOINTS {
            merge_into(&mut self.rest_intended[i], &other.rest_intended[i]);
            merge_into(&mut self.rest_actual[i], &other.rest_actual[i]);
        }
        merge_into(&mut self.lag, &other.lag);
        self.messages_sent += other.messages_sent;
        self.messages_delivered += other.messages_delivered;
        for (k, v) in &other.errors {
            bump(&mut self.errors, k, *v);
        }
        for (k, v) in &other.counts {
            bump(&mut self.counts, k, *v);
        }
        for (mine, theirs) in self.frames.iter_mut().zip(other.frames) {
            *mine = mine.saturating_add(theirs);
        }
        if let Some(theirs) = &other.buckets {
            self.buckets
                .get_or_insert_with(Default::default)
                .merge(theirs);
        }
    }

    /// Adds everything recorded since the last call to `out` and empties
    /// `self`, keeping its histograms' memory. A recorder that is drained
    /// every second and then records again would otherwise re-grow each
    /// histogram from nothing every second (a realloc and a zeroing per
    /// growth step): on a light load that was most of the generator's
    /// user-space instructions.
    pub fn drain_into(&mut self, out: &mut Recorder) {
        out.merge(self);
        for h in self.hists_mut().filter(|h| !h.is_empty()) {
            h.reset();
        }
        self.messages_sent = 0;
        self.messages_delivered = 0;
        self.errors.clear();
        self.counts.clear();
        self.frames = [0; FRAME_TYPES];
        if let Some(b) = &mut self.buckets {
            // Keep the allocation, as for the histograms.
            **b = Buckets::default();
        }
    }

    /// Every histogram allocated so far.
    fn hists_mut(&mut self) -> impl Iterator<Item = &mut Hist> {
        self.intended
            .iter_mut()
            .chain(&mut self.actual)
            .chain(&mut self.rest_intended)
            .chain(&mut self.rest_actual)
            .chain(std::iter::once(&mut self.lag))
            .flatten()
    }

    /// Whether nothing at all was recorded.
    pub fn is_empty(&self) -> bool {
        self.tagged().is_empty()
            && self.messages_sent == 0
            && self.messages_delivered == 0
            && self.errors.is_empty()
            && self.counts.is_empty()
            && self.frames.iter().all(|n| *n == 0)
    }

    /// Every non-empty histogram with its hdr-log tag: `message_echo`,
    /// `message_echo.actual`, `rest.send_message`, `rest.send_message.actual`,
    /// `generator_lag`, in a fixed order.
    pub fn tagged(&self) -> Vec<(String, &Histogram<u64>)> {
        let mut out = Vec::new();
        for k in LatencyKind::ALL {
            if let Some(h) = self.latency(k).filter(|h| !h.is_empty()) {
                out.push((k.as_str().to_owned(), h));
            }
            if let Some(h) = self.latency_actual(k).filter(|h| !h.is_empty()) {
                out.push((format!("{}.actual", k.as_str()), h));
            }
        }
        for e in RestEndpoint::ALL {
            if let Some(h) = self.rest(e).filter(|h| !h.is_empty()) {
                out.push((format!("rest.{}", e.as_str()), h));
            }
            if let Some(h) = self.rest_actual(e).filter(|h| !h.is_empty()) {
                out.push((format!("rest.{}.actual", e.as_str()), h));
            }
        }
        if let Some(h) = self.lag().filter(|h| !h.is_empty()) {
            out.push(("generator_lag".to_owned(), h));
        }
        out
    }
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    match map.get_mut(key) {
        Some(v) => *v = v.saturating_add(n),
        None => {
            map.insert(key.to_owned(), n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_recorder(seed: u64) -> Recorder {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut r = Recorder::new();
        for _ in 0..rng.gen_range(0..200) {
            let kind = LatencyKind::ALL[rng.gen_range(0..KINDS)];
            let v = rng.gen_range(0..5_000_000u64);
            r.record(kind, v, v / 2);
            if rng.gen_bool(0.2) {
                let e = RestEndpoint::ALL[rng.gen_range(0..ENDPOINTS)];
                r.record_rest(e, v, v / 3);
            }
            r.record_lag(rng.gen_range(0..10_000));
            if rng.gen_bool(0.1) {
                r.count_error(["ws_connect", "rest_5xx"][rng.gen_range(0..2)]);
            }
            r.messages_sent += rng.gen_range(0..3);
            r.messages_delivered += rng.gen_range(0..5);
        }
        r
    }

    /// A comparable fingerprint of everything in a recorder.
    fn fingerprint(r: &Recorder) -> Vec<String> {
        let mut out: Vec<String> = r
            .tagged()
            .iter()
            .map(|(t, h)| {
                let buckets: Vec<(u64, u64)> = h
                    .iter_recorded()
                    .map(|v| (v.value_iterated_to(), v.count_at_value()))
                    .collect();
                format!("{t} {} {} {} {buckets:?}", h.len(), h.min(), h.max())
            })
            .collect();
        out.push(format!(
            "{} {} {:?} {:?}",
            r.messages_sent, r.messages_delivered, r.errors, r.counts
        ));
        out
    }

    #[test]
    fn merge_is_associative_and_commutative() {
        for seed in 0..20 {
            let (a, b, c) = (
                random_recorder(seed),
                random_recorder(seed + 100),
                random_recorder(seed + 200),
            );
            let mut left = a.clone();
            left.merge(&b);
            left.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut right = a.clone();
            right.merge(&bc);
            assert_eq!(fingerprint(&left), fingerprint(&right));
            let mut ba = b.clone();
            ba.merge(&a);
            let mut ab = a.clone();
            ab.merge(&b);
            assert_eq!(fingerprint(&ab), fingerprint(&ba));
        }
    }

    #[test]
    fn merge_adds_counts_and_empty_is_identity() {
        let a = random_recorder(7);
        let mut m = Recorder::new();
        m.merge(&a);
        m.merge(&Recorder::new());
        assert_eq!(fingerprint(&m), fingerprint(&a));
        let mut twice = a.clone();
        twice.merge(&a);
        for k in LatencyKind::ALL {
            let n = a.latency(k).map_or(0, |h| h.len());
            assert_eq!(twice.latency(k).map_or(0, |h| h.len()), 2 * n);
        }
        assert_eq!(twice.messages_sent, 2 * a.messages_sent);
    }

    #[test]
    fn values_are_clamped_never_panic() {
        let mut r = Recorder::new();
        r.record(LatencyKind::Presence, u64::MAX, 0);
        r.record_lag(u64::MAX);
        let h = r.latency(LatencyKind::Presence).expect("recorded above");
        assert_eq!(h.len(), 1);
        assert!(
            h.max() >= HISTOGRAM_MAX_US && h.max() <= HISTOGRAM_MAX_US + HISTOGRAM_MAX_US / 1000
        );
        assert_eq!(
            r.latency_actual(LatencyKind::Presence).map(|h| h.max()),
            Some(0)
        );
    }

    #[test]
    fn rest_records_endpoint_and_kind() {
        let mut r = Recorder::new();
        r.record_rest(RestEndpoint::SendMessage, 1500, 1000);
        assert_eq!(r.rest(RestEndpoint::SendMessage).map(|h| h.len()), Some(1));
        assert_eq!(r.latency(LatencyKind::Rest).map(|h| h.len()), Some(1));
        assert!(r.rest(RestEndpoint::Me).is_none());
        let tags: Vec<String> = r.tagged().into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            tags,
            [
                "rest",
                "rest.actual",
                "rest.send_message",
                "rest.send_message.actual"
            ]
        );
    }

    #[test]
    fn drain_moves_everything_and_recording_goes_on() {
        let (a, b) = (random_recorder(3), random_recorder(4));
        let mut r = a.clone();
        r.count("typing_sent");
        let mut first = Recorder::new();
        r.drain_into(&mut first);
        assert!(r.is_empty());
        assert_eq!(first.counts().get("typing_sent"), Some(&1));
        first.counts.clear();
        assert_eq!(fingerprint(&first), fingerprint(&a));
        // What is recorded after a drain is all the next drain holds.
        r.merge(&b);
        r.record(LatencyKind::Typing, 10, 10);
        let mut second = Recorder::new();
        r.drain_into(&mut second);
        let mut expected = b.clone();
        expected.record(LatencyKind::Typing, 10, 10);
        assert_eq!(fingerprint(&second), fingerprint(&expected));
        // Draining into a recorder that holds something adds to it.
        let mut third = a.clone();
        let mut src = b.clone();
        src.drain_into(&mut third);
        let mut ab = a.clone();
        ab.merge(&b);
        assert_eq!(fingerprint(&third), fingerprint(&ab));
    }
}
