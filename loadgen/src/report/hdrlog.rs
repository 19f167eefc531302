//! The `--hdr-log PATH` file: an HdrHistogram interval log (the format of
//! Java's `HistogramLogWriter`, readable by HistogramLogAnalyzer and by
//! hdrhistogram's `IntervalLogIterator`), one line per histogram per
//! interval, V2-serialized, tagged by what it measures (see
//! [`Recorder::tagged`]: `message_echo`, `message_echo.actual`,
//! `rest.send_message`, `generator_lag`, ...). Values are microseconds.
//!
//! hdrhistogram's `IntervalLogWriter` borrows its output and serializer, so
//! it cannot live in a struct next to them; [`HdrLog`] owns both and opens a
//! header-less writer over them for each interval (a builder with no
//! comments and no times writes nothing of its own).

use crate::metrics::Recorder;
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2Serializer;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// An interval log being written.
pub struct HdrLog<W: Write> {
    out: W,
    serializer: V2Serializer,
}

impl HdrLog<BufWriter<File>> {
    /// Creates `path` and writes the header; `start` is the run's start (wall clock).
    pub fn create(path: &Path, start: SystemTime, comment: &str) -> io::Result<Self> {
        HdrLog::new(BufWriter::new(File::create(path)?), start, comment)
    }
}

impl<W: Write> HdrLog<W> {
    /// Writes the header (comment, start and base time, legend) to `out`.
    pub fn new(mut out: W, start: SystemTime, comment: &str) -> io::Result<Self> {
        let mut serializer = V2Serializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(comment)
            .add_comment("Values are microseconds; tags name the latency kind (.actual: from the actual send time)")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)?;
        out.write_all(
            b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
        )?;
        Ok(HdrLog { out, serializer })
    }

    /// Writes every non-empty histogram of `snapshot` as one interval that
    /// began `since_start` after the run's start and lasted `length`.
    pub fn write_interval(
        &mut self,
        snapshot: &Recorder,
        since_start: Duration,
        length: Duration,
    ) -> io::Result<()> {
        for (tag, h) in snapshot.tagged() {
            let mut writer = IntervalLogWriterBuilder::new()
                .begin_log_with(&mut self.out, &mut self.serializer)?;
            writer
                .write_histogram(h, since_start, length, Tag::new(&tag))
                .map_err(|e| io::Error::other(format!("hdr log, histogram {tag}: {e}")))?;
        }
        Ok(())
    }

    /// Writes a comment line.
    pub fn comment(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            writeln!(self.out, "#{line}")?;
        }
        Ok(())
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a whole run's log to `path`: `intervals` are (time since `start`
/// at the end of the interval, what it recorded), in order, as the driver
/// collects them; each interval starts where the previous one ended.
pub fn write_intervals(
    path: &Path,
    start: SystemTime,
    comment: &str,
    intervals: &[(Duration, Recorder)],
) -> io::Result<()> {
    let mut log = HdrLog::create(path, start, comment)?;
    let mut begin = Duration::ZERO;
    for (end, rec) in intervals {
        log.write_interval(rec, begin, end.saturating_sub(begin))?;
        begin = (*end).max(begin);
    }
    log.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::LatencyKind;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    #[test]
    fn log_round_trips_through_the_reader() {
        let mut rec = Recorder::new();
        for v in [100, 200, 300, 5000] {
            rec.record(LatencyKind::MessageEcho, v, v / 2);
        }
        rec.record_lag(42);
        let mut log = HdrLog::new(
            Vec::new(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            "test",
        )
        .expect("writing to a Vec cannot fail");
        log.write_interval(&rec, Duration::from_secs(1), Duration::from_secs(1))
            .expect("writing to a Vec cannot fail");
        log.write_interval(
            &Recorder::new(),
            Duration::from_secs(2),
            Duration::from_secs(1),
        )
        .expect("writing to a Vec cannot fail");
        let bytes = log.finish().expect("flushing a Vec cannot fail");
        let text = String::from_utf8(bytes.clone()).expect("the log is ASCII");
        assert!(text.starts_with("#test\n"));
        assert!(text.contains("#[StartTime: 1700000000.000"));

        let mut tags = Vec::new();
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(ilh) = entry.expect("the log parses") {
                let tag = ilh.tag().map(|t| t.as_str().to_owned()).unwrap_or_default();
                assert_eq!(ilh.start_timestamp(), Duration::from_secs(1));
                let raw = base64_decode(ilh.encoded_histogram());
                let h: hdrhistogram::Histogram<u64> = Deserializer::new()
                    .deserialize(&mut raw.as_slice())
                    .expect("the histogram deserializes");
                if tag == "message_echo" {
                    assert_eq!(h.len(), 4);
                }
                tags.push(tag);
            }
        }
        assert_eq!(
            tags,
            ["message_echo", "message_echo.actual", "generator_lag"]
        );
    }

    #[test]
    fn whole_run_log_has_consecutive_intervals() {
        let mut a = Recorder::new();
        a.record(LatencyKind::Typing, 10, 10);
        let b = a.clone();
        let path =
            std::env::temp_dir().join(format!("loadgen-hdrlog-test-{}.hlog", std::process::id()));
        let intervals = [
            (Duration::from_secs(1), a),
            (Duration::from_millis(2500), b),
        ];
        write_intervals(&path, SystemTime::now(), "run", &intervals).expect("temp dir is writable");
        let bytes = std::fs::read(&path).expect("written above");
        std::fs::remove_file(&path).ok();
        let starts: Vec<(Duration, Duration)> = IntervalLogIterator::new(&bytes)
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(i)) if i.tag().map(|t| t.as_str()) == Some("typing") => {
                    Some((i.start_timestamp(), i.duration()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            starts,
            [
                (Duration::ZERO, Duration::from_secs(1)),
                (Duration::from_secs(1), Duration::from_millis(1500))
            ]
        );
    }

    /// Minimal standard base64 decoder for the test (hdrhistogram's own
    /// dependency is not ours).
    fn base64_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            _ => 63,
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut acc = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                acc |= u32::from(val(c)) << (18 - 6 * i);
            }
            let n = chunk.len() * 6 / 8;
            for i in 0..n {
                out.push((acc >> (16 - 8 * i)) as u8);
            }
        }
        out
    }
}
