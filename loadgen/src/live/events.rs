//! `--events PATH`: the run as JSON lines, one object per line, flushed as
//! each is written so `tail -f` and CI jobs see it at once:
//!
//! - `{"event":"interval", "t_s", "sent", "delivered", "open_connections",
//!   "users_online", "lag_p99_us", "saturated", "errors", "violations",
//!   "latency_us": {KIND: {count, min, p50, p99, max}}}`,
//!   once per interval (the counts are the interval's; `violations` is the
//!   total so far; `latency_us` has the kinds with samples, from the
//!   intended send time);
//! - `{"event":"violation", "t_s", "violation": {...}}`, once per violation
//!   as it is found (the object of the JSON report's
//!   `invariants.violations`, without the run facts filled in at the end);
//! - `{"event":"summary", "verdict", "exit_code", ...}`, last: the outcome
//!   (`clean`, `saturated`, `violations` or `threshold_breach`) and the
//!   run's totals.

use super::Snapshot;
use crate::metrics::{LatencyKind, Recorder};
use crate::report::Report;
use crate::Outcome;
use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The open events file.
pub struct Events {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Events {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> io::Result<Events> {
        Ok(Events {
            path: path.to_owned(),
            out: BufWriter::new(File::create(path)?),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn line(&mut self, v: &Value) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    /// The interval line, then one line per violation found in it. A write
    /// error is reported once on stderr and the run goes on (the events
    /// stream is for watching; the run's verdict does not depend on it).
    pub fn interval(&mut self, last: &Recorder, snap: &Snapshot) {
        let t_s = snap.at.as_secs_f64();
        let mut latency = Map::new();
        for k in LatencyKind::ALL {
            // Two quantile walks per kind, no more: an HdrHistogram walk
            // costs ~25 k instructions, and this runs on the generator's
            // thread every second (the final summary line has everything).
            if let Some(h) = last.latency(k).filter(|h| !h.is_empty()) {
                latency.insert(
                    k.as_str().to_owned(),
                    json!({
                        "count": h.len(),
                        "min": h.min(),
                        "p50": h.value_at_quantile(0.50),
                        "p99": h.value_at_quantile(0.99),
                        "max": h.max(),
                    }),
                );
            }
        }
        let line = json!({
            "event": "interval",
            "t_s": t_s,
            "sent": last.messages_sent,
            "delivered": last.messages_delivered,
            "open_connections": snap.open_connections,
            "users_online": snap.users_online,
            "lag_p99_us": last.lag().map_or(0, |h| h.value_at_quantile(0.99)),
            "saturated": snap.saturated,
            "errors": last.errors(),
            "violations": snap.violations.iter().sum::<u64>(),
            "latency_us": latency,
        });
        let mut result = self.line(&line);
        for v in &snap.new_violations {
            if result.is_ok() {
                result = self.line(&json!({"event": "violation", "t_s": t_s, "violation": v}));
            }
        }
        if let Err(e) = result {
            eprintln!("--events {}: {e}", self.path.display());
        }
    }

    /// The final line: the outcome (exit code and verdict; a saturated
    /// generator is never called clean, a run with undecided checks is
    /// `undecided`) and the run's totals.
    pub fn summary(&mut self, r: &Report, outcome: &Outcome) -> io::Result<()> {
        let (verdict, breaches) = match outcome {
            Outcome::Clean if r.generator.saturated => ("saturated", Vec::new()),
            Outcome::Clean => ("clean", Vec::new()),
            Outcome::Violations(_) => ("violations", Vec::new()),
            // Checks left undecided are not a pass, and not a threshold
            // either: say which (CLI.md, "An undecided check is not a pass").
            Outcome::ThresholdBreach(b) if b.iter().any(|x| x.starts_with("undecided.")) => {
                ("undecided", b.clone())
            }
            Outcome::ThresholdBreach(b) => ("threshold_breach", b.clone()),
        };
        self.line(&json!({
            "event": "summary",
            "verdict": verdict,
            "exit_code": outcome.exit_code(),
            "breaches": breaches,
            "scenario": r.scenario,
            "seed": r.seed,
            "duration_s": r.duration_s,
            "messages": r.messages,
            "violations": r.invariants.violations.len(),
            "checked": r.invariants.checked,
            "errors": r.errors,
            "generator": r.generator,
            "latency_us": r.latency_us,
        }))
    }
}
