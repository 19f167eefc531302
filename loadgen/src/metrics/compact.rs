//! A [`Recorder`] kept compactly: each histogram V2-encoded (run-length
//! counts, a few hundred bytes to a few KiB), the counters as they are.
//!
//! A run keeps one recorder per second for the hdr log, the plots and the
//! capacity search's steady-state window. In memory an HdrHistogram is as
//! large as its highest value needs (tens of KiB per kind at millisecond
//! latencies), so keeping them expanded would make the generator's memory
//! grow by about a MiB per second of run; encoded, a 10-minute soak keeps a
//! few MiB. Consumers expand one interval at a time.

use super::recorder::{Hist, Recorder};
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};

/// An encoded recorder.
#[derive(Debug, Clone, Default)]
pub struct CompactRecorder {
    /// (slot index in [`Recorder::slots`] order, encoded histogram).
    histograms: Vec<(u16, Vec<u8>)>,
    /// The recorder with every histogram removed (counters only).
    counters: Recorder,
}

impl CompactRecorder {
    /// Encodes `rec`.
    pub fn new(rec: &Recorder) -> CompactRecorder {
        let mut serializer = V2Serializer::new();
        let mut counters = rec.clone();
        // The live exporter's buckets were used when the interval was
        // taken; 2 KiB a second is not worth keeping.
        counters.clear_buckets();
        let mut histograms = Vec::new();
        for (i, slot) in counters.slots_mut().into_iter().enumerate() {
            if let Some(h) = slot.take() {
                let mut bytes = Vec::new();
                // Writing into a Vec cannot fail; a histogram that does not
                // encode is dropped from the interval rather than kept big.
                if serializer.serialize(&h, &mut bytes).is_ok() {
                    histograms.push((i as u16, bytes));
                }
            }
        }
        CompactRecorder {
            histograms,
            counters,
        }
    }

    /// The recorder back, histograms and counters.
    pub fn expand(&self) -> Recorder {
        let mut rec = self.counters.clone();
        let mut deserializer = Deserializer::new();
        let mut slots = rec.slots_mut();
        for (i, bytes) in &self.histograms {
            let decoded: Result<Hist, _> = deserializer.deserialize(&mut bytes.as_slice());
            if let (Ok(mut h), Some(slot)) = (decoded, slots.get_mut(*i as usize)) {
                h.auto(true);
                **slot = Some(h);
            }
        }
        rec
    }

    /// The encoded histograms (slot, V2 bytes) and the counters, to store
    /// a recorder in a file (a shard's output for `loadgen merge`).
    pub fn parts(&self) -> (&[(u16, Vec<u8>)], &Recorder) {
        (&self.histograms, &self.counters)
    }

    /// The inverse of [`CompactRecorder::parts`]; a slot out of range is
    /// ignored when expanding.
    pub fn from_parts(histograms: Vec<(u16, Vec<u8>)>, counters: Recorder) -> CompactRecorder {
        CompactRecorder {
            histograms,
            counters,
        }
    }

    /// Bytes held (for tests and diagnostics).
    pub fn encoded_len(&self) -> usize {
        self.histograms.iter().map(|(_, b)| b.len()).sum()
    }
}

impl From<&Recorder> for CompactRecorder {
    fn from(rec: &Recorder) -> CompactRecorder {
        CompactRecorder::new(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{LatencyKind, RestEndpoint};

    #[test]
    fn round_trips_and_is_small() {
        let mut rec = Recorder::new();
        for v in 0..5000u64 {
            rec.record(LatencyKind::MessageDelivery, 100 + v * 7, 90 + v * 5);
            rec.record_lag(v % 300);
        }
        rec.record_rest(RestEndpoint::SendMessage, 2000, 1500);
        rec.messages_sent = 12;
        rec.count_error("x");
        let compact = CompactRecorder::new(&rec);
        let back = compact.expand();
        for kind in [LatencyKind::MessageDelivery, LatencyKind::Rest] {
            let (a, b) = (rec.latency(kind).unwrap(), back.latency(kind).unwrap());
            assert_eq!(a.len(), b.len());
            assert_eq!(a.value_at_quantile(0.99), b.value_at_quantile(0.99));
            assert_eq!(a.max(), b.max());
        }
        assert_eq!(back.messages_sent, 12);
        assert_eq!(back.errors().get("x"), Some(&1));
        assert!(back.lag().is_some());
        assert!(
            compact.encoded_len() < 64 * 1024,
            "{}",
            compact.encoded_len()
        );
    }
}
