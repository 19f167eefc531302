//! A shard's output directory, what `loadgen merge` reads: `shard.json`
//! (the run's facts, the checker's verdicts, what it could not decide, and
//! its histograms, whole-run and per second, V2-encoded in base64 so that
//! they add exactly), plus `report.json` and `intervals.hlog`, the same
//! files a single run writes with `--json` and `--hdr-log`, for people.

use crate::metrics::{CompactRecorder, Recorder};
use crate::report::Invariants;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

/// The file name of a shard's output inside its directory.
pub const SHARD_FILE: &str = "shard.json";
/// Format version of [`ShardOutput`].
pub const FORMAT: u32 = 1;

/// A recorder as stored: encoded histograms by slot, and the counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StoredRecorder {
    /// (slot, base64 of the V2 encoding).
    pub histograms: Vec<(u16, String)>,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    pub errors: BTreeMap<String, u64>,
    pub counts: BTreeMap<String, u64>,
}

impl StoredRecorder {
    /// Stores `rec`.
    pub fn new(rec: &CompactRecorder) -> StoredRecorder {
        let (hists, counters) = rec.parts();
        let b64 = base64::engine::general_purpose::STANDARD;
        StoredRecorder {
            histograms: hists.iter().map(|(i, b)| (*i, b64.encode(b))).collect(),
            messages_sent: counters.messages_sent,
            messages_delivered: counters.messages_delivered,
            errors: counters.errors().clone(),
            counts: counters.counts().clone(),
        }
    }

    /// The recorder back; a histogram that does not decode is an error.
    pub fn recorder(&self) -> Result<Recorder, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut hists = Vec::new();
        for (i, s) in &self.histograms {
            hists.push((
                *i,
                b64.decode(s).map_err(|e| format!("histogram {i}: {e}"))?,
            ));
        }
        let mut counters = Recorder::new();
        counters.messages_sent = self.messages_sent;
        counters.messages_delivered = self.messages_delivered;
        for (k, v) in &self.errors {
            counters.add_error(k, *v);
        }
        for (k, v) in &self.counts {
            counters.add_count(k, *v);
        }
        Ok(CompactRecorder::from_parts(hists, counters).expand())
    }
}

/// One shard's run, as `loadgen merge` needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardOutput {
    pub format: u32,
    /// This shard's index, from 0.
    pub shard: u32,
    /// Shards in the run.
    pub shards: u32,
    pub scenario: String,
    pub seed: u64,
    pub target: String,
    /// The common start (`--start-at`), µs since the Unix epoch.
    pub start_unix_us: u64,
    /// Seconds from the start to the end of this shard's run.
    pub elapsed_s: f64,
    /// Users this shard drove.
    pub users: u64,
    /// Connections this shard opened.
    pub connections: u64,
    pub cpu_s: f64,
    pub saturation_lag_us: u64,
    pub faults: Vec<String>,
    /// The plan's and the command line's thresholds (judged on the merge).
    pub thresholds: Vec<String>,
    /// The scenario's coverage minimums (judged on the merge).
    pub coverage_min: BTreeMap<String, u64>,
    pub replay: String,
    /// The checker's verdicts, with what it could not decide
    /// (`invariants.undecided`, which names the checks left to other shards).
    pub invariants: Invariants,
    /// The whole run's histograms and counters.
    pub total: StoredRecorder,
    /// Per interval: (seconds since the common start at its end, recorder).
    pub intervals: Vec<(f64, StoredRecorder)>,
    /// δ in force at the end of the shard's run (µs).
    pub delta_us: u64,
    /// What the cross-shard checks need (`crate::driver::evidence`).
    pub evidence: Option<crate::driver::evidence::Evidence>,
}

impl ShardOutput {
    /// Writes `dir/shard.json`.
    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let text = serde_json::to_string(self).map_err(io::Error::other)?;
        std::fs::write(dir.join(SHARD_FILE), text)
    }

    /// Reads a shard's output from its directory (or the `shard.json` itself).
    pub fn read(path: &Path) -> io::Result<(PathBuf, ShardOutput)> {
        let file = if path.is_dir() {
            path.join(SHARD_FILE)
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file)?;
        let out: ShardOutput = serde_json::from_str(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if out.format != FORMAT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "shard output format {} (this loadgen reads {FORMAT})",
                    out.format
                ),
            ));
        }
        Ok((file, out))
    }
}
