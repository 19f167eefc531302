//! `loadgen merge SHARD_OUTPUTS...`: one report from the shards of one run
//! (`--shard I/N --shard-out DIR`), in the schema, text and exit codes of a
//! single-process run.
//!
//! - Histograms are added (HdrHistogram `add`, exact at 3 significant
//!   digits), never averaged; counters are summed; the per-second intervals
//!   of the shards are added second by second (the shards share one start).
//! - Thresholds (the scenario's, the shards' `--threshold` and this
//!   command's) and the scenario's coverage minimums are judged on the merge.
//! - `generator.saturated` is true if any shard was saturated (or the merged
//!   lag p99 passes the limit); `sharding.saturated_shards` names them.
//! - Invariants: each shard judged every check whose facts it holds; a
//!   check whose other side lives in another shard was answered as
//!   uncertain there and counted by cause in `invariants.undecided` (the
//!   `other_shard_*` causes), summed over shards like every other cause;
//!   the merge decides what the shards' evidence allows (`cross`). A merge
//!   with undecided checks is not clean: exit 3, one breach per cause, as
//!   a single run (CLI.md: an undecided check is not a pass).
//!
//! `output`: the shard output format.

pub mod cross;
pub mod output;

use crate::error::{LoadgenError, Outcome};
use crate::metrics::{CompactRecorder, Recorder};
use crate::report::{self, Invariants, Report, RunFacts};
use crate::threshold;
use clap::Parser;
use output::{ShardOutput, StoredRecorder, FORMAT};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `loadgen merge`: one report from the outputs of the shards of one run.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen merge")]
pub struct MergeOpts {
    /// The shards' output directories (`--shard-out DIR`), one per shard.
    #[arg(required = true, value_name = "SHARD_OUTPUT")]
    pub inputs: Vec<PathBuf>,
    /// Write the merged JSON report to PATH.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Write the merged HdrHistogram interval log to PATH.
    #[arg(long, value_name = "PATH")]
    pub hdr_log: Option<PathBuf>,
    /// Write the merged HTML report to PATH.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// A threshold the merged run must meet (repeatable), as for a run.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Bound on the offset between the shards' wall clocks (ε), which widens
    /// every cross-shard window. On one machine the shards share one clock:
    /// the default covers reading it. On several, give their NTP bound.
    #[arg(long, value_name = "DURATION", default_value = "1ms", value_parser = humantime::parse_duration)]
    pub clock_uncertainty: Duration,
}

/// What a shard run writes to `--shard-out` (see [`output`]).
#[allow(clippy::too_many_arguments)]
pub fn write_shard(
    dir: &Path,
    config: &crate::cli::RunConfig,
    facts: &RunFacts,
    report: &Report,
    out: &crate::driver::RunOutput,
) -> Result<(), LoadgenError> {
    let io = |e| LoadgenError::io(dir, e);
    let start_unix_us = out
        .start_wall
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let shard = ShardOutput {
        format: FORMAT,
        shard: config.shard.index,
        shards: config.shard.count,
        scenario: facts.scenario.clone(),
        seed: facts.seed,
        target: facts.target.clone(),
        start_unix_us,
        elapsed_s: facts.elapsed.as_secs_f64(),
        users: facts.users,
        connections: facts.connections,
        cpu_s: facts.cpu_s,
        saturation_lag_us: crate::metrics::micros(facts.saturation_lag),
        faults: facts.faults.clone(),
        thresholds: config.plan.thresholds.clone(),
        coverage_min: config.plan.coverage.clone(),
        replay: facts.replay.clone(),
        invariants: report.invariants.clone(),
        total: StoredRecorder::new(&CompactRecorder::new(&out.recorder)),
        intervals: out
            .intervals
            .iter()
            .map(|(at, r)| (at.as_secs_f64(), StoredRecorder::new(r)))
            .collect(),
        delta_us: out.delta_us,
        evidence: out.evidence.clone(),
    };
    shard.write(dir).map_err(io)?;
    report.write_json(&dir.join("report.json")).map_err(io)?;
    write_hdr_log(
        &dir.join("intervals.hlog"),
        out.start_wall,
        &facts.replay,
        &out.intervals,
    )
    .map_err(io)?;
    Ok(())
}

fn write_hdr_log(
    path: &Path,
    start: SystemTime,
    comment: &str,
    intervals: &[(Duration, CompactRecorder)],
) -> std::io::Result<()> {
    let mut log = report::hdrlog::HdrLog::create(path, start, comment)?;
    let mut prev = Duration::ZERO;
    for (at, rec) in intervals {
        log.write_interval(&rec.expand(), prev, at.saturating_sub(prev))?;
        prev = *at;
    }
    log.finish()?;
    Ok(())
}

/// The merged run.
pub struct Merged {
    pub report: Report,
    pub recorder: Recorder,
    pub intervals: Vec<(Duration, CompactRecorder)>,
    pub saturated_shards: Vec<u32>,
    pub shards: u32,
    pub start: SystemTime,
    pub thresholds: Vec<String>,
    pub coverage_min: BTreeMap<String, u64>,
}

/// Reads, checks and merges the shards' outputs.
pub fn merge(inputs: &[PathBuf], epsilon: Duration) -> Result<Merged, LoadgenError> {
    let mut shards = Vec::new();
    for p in inputs {
        let (file, out) = ShardOutput::read(p).map_err(|e| LoadgenError::io(p, e))?;
        shards.push((file, out));
    }
    shards.sort_by_key(|(_, s)| s.shard);
    let (_, first) = &shards[0];
    let n = first.shards;
    for (file, s) in &shards {
        let same = s.shards == n
            && s.scenario == first.scenario
            && s.seed == first.seed
            && s.target == first.target
            && s.start_unix_us == first.start_unix_us;
        if !same {
            return Err(LoadgenError::Usage(format!(
                "{}: shard {}/{} of scenario {} seed {} starting at {} µs is not of the same run as shard {}/{} of scenario {} seed {} starting at {} µs",
                file.display(), s.shard, s.shards, s.scenario, s.seed, s.start_unix_us,
                first.shard, n, first.scenario, first.seed, first.start_unix_us
            )));
        }
    }
    let indices: Vec<u32> = shards.iter().map(|(_, s)| s.shard).collect();
    let expected: Vec<u32> = (0..n).collect();
    if indices != expected {
        return Err(LoadgenError::Usage(format!(
            "merge needs every shard of the run exactly once: got shards {indices:?} of {n}"
        )));
    }
    let bad = |file: &Path, e: String| {
        LoadgenError::io(
            file,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    };
    let mut total = Recorder::new();
    let mut buckets: BTreeMap<u64, Recorder> = BTreeMap::new();
    let mut invariants = Invariants::default();
    let mut saturated_shards = Vec::new();
    let (mut users, mut connections, mut cpu_s, mut elapsed) = (0, 0, 0.0, 0.0f64);
    let mut thresholds: Vec<String> = Vec::new();
    for (file, s) in &shards {
        total.merge(&s.total.recorder().map_err(|e| bad(file, e))?);
        for (end_s, r) in &s.intervals {
            // The shards share their start: an interval ending in second
            // (k-1, k] of the run is added into second k.
            let k = end_s.ceil().max(0.0) as u64;
            buckets
                .entry(k)
                .or_default()
                .merge(&r.recorder().map_err(|e| bad(file, e))?);
        }
        for (id, c) in &s.invariants.checked {
            *invariants.checked.entry(id.clone()).or_insert(0) += c;
        }
        for (k, c) in &s.invariants.coverage {
            *invariants.coverage.entry(k.clone()).or_insert(0) += c;
        }
        for v in &s.invariants.violations {
            let mut v = v.clone();
            if let Some(o) = v.as_object_mut() {
                o.insert("shard".into(), s.shard.into());
            }
            invariants.violations.push(v);
        }
        invariants.redundant += s.invariants.redundant;
        for (k, u) in &s.invariants.undecided {
            invariants
                .undecided
                .entry(k.clone())
                .and_modify(|e| e.count += u.count)
                .or_insert_with(|| u.clone());
        }
        // A shard's own verdict, as its report computed it.
        let lag_p99 = s
            .total
            .recorder()
            .ok()
            .and_then(|r| r.lag().map(|h| h.value_at_quantile(0.99)))
            .unwrap_or(0);
        if lag_p99 > s.saturation_lag_us {
            saturated_shards.push(s.shard);
        }
        users += s.users;
        connections += s.connections;
        cpu_s += s.cpu_s;
        elapsed = elapsed.max(s.elapsed_s);
        for t in &s.thresholds {
            if !thresholds.contains(t) {
                thresholds.push(t.clone());
            }
        }
    }
    // Cross-shard checks, decided from every shard's evidence.
    let delta_us = shards.iter().map(|(_, s)| s.delta_us).max().unwrap_or(0);
    let evidence: Vec<_> = shards
        .iter()
        .filter_map(|(_, s)| {
            s.evidence
                .as_ref()
                .map(|e| (s.shard, e, (s.elapsed_s * 1e6) as u64))
        })
        .collect();
    if evidence.len() == shards.len() && n > 1 {
        let cross = cross::check(&evidence, delta_us, crate::metrics::micros(epsilon));
        for (id, c) in cross.checked {
            *invariants.checked.entry(id.to_owned()).or_insert(0) += c;
        }
        invariants.violations.extend(cross.violations);
    } else if n > 1 {
        invariants.undecided.insert(
            "cross_shard_no_evidence".to_owned(),
            crate::report::UndecidedEntry {
                invariants: "I2, I5".to_owned(),
                count: 1,
                why: "a shard's output holds no cross-shard evidence".to_owned(),
            },
        );
    }
    let facts = RunFacts {
        scenario: first.scenario.clone(),
        seed: first.seed,
        target: first.target.clone(),
        elapsed: Duration::from_secs_f64(elapsed),
        users,
        connections,
        cpu_s,
        saturation_lag: Duration::from_micros(first.saturation_lag_us),
        faults: first.faults.clone(),
        replay: format!(
            "{} --shard I/{n} (each shard), then loadgen merge",
            first.replay
        ),
    };
    let mut report = Report::build(&facts, &total, invariants);
    report.generator.saturated |= !saturated_shards.is_empty();
    let intervals = buckets
        .into_iter()
        .map(|(k, r)| (Duration::from_secs(k), CompactRecorder::new(&r)))
        .collect();
    Ok(Merged {
        report,
        recorder: total,
        intervals,
        saturated_shards,
        shards: n,
        start: UNIX_EPOCH + Duration::from_micros(first.start_unix_us),
        thresholds,
        coverage_min: first.coverage_min.clone(),
    })
}

/// `loadgen merge`: merges, prints, writes, and decides.
pub fn run(opts: &MergeOpts) -> Result<Outcome, LoadgenError> {
    for (flag, path) in [
        ("--json", &opts.json),
        ("--hdr-log", &opts.hdr_log),
        ("--html", &opts.html),
    ] {
        if let Some(p) = path {
            crate::cli::check_output(flag, p)?;
        }
    }
    let mut m = merge(&opts.inputs, opts.clock_uncertainty)?;
    let mut exprs = m.thresholds.clone();
    exprs.extend(opts.thresholds.iter().cloned());
    let thresholds =
        threshold::parse_all(&exprs).map_err(|e| LoadgenError::Config(e.to_string()))?;
    m.report.thresholds = threshold::evaluate_all(&thresholds, &m.report);
    let stdout = std::io::stdout();
    {
        let mut out = stdout.lock();
        let mut summary = m.report.clone();
        summary.thresholds.clear();
        report::text::write_summary(&summary, &mut out)
            .and_then(|()| threshold::write_results(&thresholds, &m.report.thresholds, &mut out))
            .and_then(|()| write_sharding(&m, &mut out))
            .map_err(|e| LoadgenError::io("<stdout>", e))?;
    }
    if let Some(path) = &opts.html {
        report::html::write(path, &m.report, &m.recorder, &m.intervals)
            .map_err(|e| LoadgenError::io(path, e))?;
    }
    if let Some(path) = &opts.json {
        let text = json(&m);
        std::fs::write(path, text).map_err(|e| LoadgenError::io(path, e))?;
    }
    if let Some(path) = &opts.hdr_log {
        write_hdr_log(path, m.start, &m.report.replay, &m.intervals)
            .map_err(|e| LoadgenError::io(path, e))?;
    }
    Ok(verdict(&m))
}

/// The merged report as JSON: the single-run schema, plus `sharding`.
pub fn json(m: &Merged) -> String {
    let mut v = serde_json::to_value(&m.report).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert(
            "sharding".into(),
            serde_json::json!({
                "shards": m.shards,
                "saturated_shards": m.saturated_shards,
            }),
        );
    }
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    text
}

fn write_sharding(m: &Merged, w: &mut impl Write) -> std::io::Result<()> {
    writeln!(w, "\nMerged from {} shards.", m.shards)?;
    if !m.saturated_shards.is_empty() {
        writeln!(w, "SATURATED shards: {:?}", m.saturated_shards)?;
    }
    for (name, min) in &m.coverage_min {
        let got = m.report.invariants.coverage.get(name).copied().unwrap_or(0);
        if got < *min {
            writeln!(
                w,
                "coverage gate FAILED: {name} = {got}, the scenario requires >= {min}"
            )?;
        }
    }
    Ok(())
}

/// Exit codes as a run's: 1 on a violation, else 3 on a breached threshold,
/// a failed coverage gate, or undecided checks; else 0.
pub fn verdict(m: &Merged) -> Outcome {
    let mut breaches = threshold::breaches(&m.report.thresholds);
    for (name, min) in &m.coverage_min {
        let got = m.report.invariants.coverage.get(name).copied().unwrap_or(0);
        if got < *min {
            breaches.push(format!("coverage.{name}>={min}"));
        }
    }
    // An undecided check is not a pass (CLI.md): exit 3, named per cause,
    // as a single run does.
    for (key, u) in &m.report.invariants.undecided {
        breaches.push(format!("undecided.{key} ({} {})", u.invariants, u.count));
    }
    Outcome::decide(
        m.report.invariants.violations.len(),
        breaches,
        m.report.generator.saturated,
        false,
    )
}
