//! `loadgen capacity`: the largest load that meets every SLO.
//!
//! Each step is a whole driver run of the scenario with the load (users, or
//! messages per user per second) overridden, `--warmup` plus
//! `--step-duration` long after the scenario's ramp-up. Only the intervals
//! after ramp-up + warm-up are merged into the step's histograms, and the
//! last interval (the drain and the final barrier, after the load stopped)
//! is left out too, so a step measures steady state. Invariant violations
//! are judged over the whole step.
//!
//! A step *passes* when every SLO holds ([`crate::threshold`] expressions),
//! the checker found no violation, and the generator was not saturated (a
//! saturated generator measures itself, not the server).
//!
//! The search ([`Search`], pure, so it is unit-tested without a server):
//! start at `--min`; while steps pass, double the load (capped at `--max`);
//! after the first failure, bisect between the largest pass and the smallest
//! failure until they are within `--resolution` (default 10%) of each other
//! or `--max-steps` ran. Bisection assumes that more load is never better;
//! the table shows every step, so a non-monotonic result is visible.
//!
//! Against `--target`, each step provisions its users afresh and the server
//! keeps the earlier steps' users, so step `n` (from 0) runs with seed
//! `seed + n`: its usernames (`lg{seed}_{i}`) do not collide with an
//! earlier step's. The population is drawn the same way, only from another
//! seed. Restart the server between searches for a clean baseline.
//!
//! Exit codes (CLI.md): 0 a capacity was found; 3 even `--min` failed; 1 a
//! step saw an invariant violation (the capacity is still printed).

use crate::cli::{Opts, RunConfig};
use crate::error::{LoadgenError, Outcome};
use crate::fdlimit;
use crate::metrics::{CompactRecorder, LatencyKind, Recorder};
use crate::report::text::fmt_us;
use crate::report::{Report, RunFacts, ThresholdResult};
use crate::threshold::{self, Threshold};
use clap::Parser;
use serde::Serialize;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

/// What a capacity search varies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Vary {
    /// The number of users (`--users`); each keeps the scenario's rate.
    Users,
    /// Messages per user per second (`--rate`); the scenario's users.
    Rate,
}

impl Vary {
    /// Loads are whole users, or rates to a thousandth.
    fn quantum(self) -> f64 {
        match self {
            Vary::Users => 1.0,
            Vary::Rate => 0.001,
        }
    }

    /// `1400 users` / `0.75 msg/user/s`.
    pub fn describe(self, load: f64) -> String {
        match self {
            Vary::Users => format!("{load:.0} users"),
            Vary::Rate => format!("{load} msg/user/s"),
        }
    }
}

/// Flags of `loadgen capacity`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "loadgen capacity",
    about = "Find the largest load that meets every SLO: ramp up in steps, then bisect.",
    after_help = "Example:\n  loadgen capacity --scenario chat --slo 'message_delivery.p99<20ms' \\\n    --min 500 --max 4000 --step-duration 15s --warmup 5s --json capacity.json\n\nSLOs use the --threshold syntax (see `loadgen --help`). Exit: 0 capacity found,\n1 a step saw an invariant violation, 2 usage error, 3 even --min failed."
)]
pub struct CapacityOpts {
    /// Scenario: a shipped NAME or a PATH to a TOML file.
    #[arg(long, short = 's', value_name = "NAME|PATH")]
    pub scenario: String,
    /// A service-level objective every passing step meets (repeatable), e.g. 'message_delivery.p99<20ms'.
    #[arg(long = "slo", value_name = "EXPR", required = true)]
    pub slos: Vec<String>,
    /// What to vary: the number of users, or the message rate per user.
    #[arg(long, value_enum, default_value = "users")]
    pub vary: Vary,
    /// Smallest load tried (default: a quarter of the scenario's).
    #[arg(long, value_name = "N")]
    pub min: Option<f64>,
    /// Largest load tried (default: twice the scenario's, within the open-files limit).
    #[arg(long, value_name = "N")]
    pub max: Option<f64>,
    /// Measured length of each step, after ramp-up and warm-up.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = humantime::parse_duration)]
    pub step_duration: Duration,
    /// Time after the ramp-up left out of each step's histograms.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Ramp-up of each step (default: the scenario's).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub ramp_up: Option<Duration>,
    /// Stop bisecting when pass and fail are this close, relative to the pass: 10%.
    #[arg(long, value_name = "PERCENT", default_value = "10%", value_parser = crate::compare::parse_tolerance)]
    pub resolution: f64,
    /// At most this many steps.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_steps: u32,
    /// Drive an external server at this base URL instead of the embedded one.
    #[arg(long, value_name = "http://HOST:PORT")]
    pub target: Option<String>,
    /// Admin token of the --target server, to provision users.
    #[arg(
        long,
        env = "CHAT_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// Seed (overrides the scenario).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write the search (every step's report) as JSON to PATH.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

/// The bisection, as a pure state machine: ask [`Search::next`] for a load,
/// run it, tell [`Search::record`] whether it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    min: f64,
    max: f64,
    quantum: f64,
    resolution: f64,
    max_steps: u32,
    steps: u32,
    pass: Option<f64>,
    fail: Option<f64>,
}

impl Search {
    /// A search over `min..=max` in steps of `quantum`.
    pub fn new(min: f64, max: f64, quantum: f64, resolution: f64, max_steps: u32) -> Search {
        Search {
            min,
            max,
            quantum,
            resolution,
            max_steps,
            steps: 0,
            pass: None,
            fail: None,
        }
    }

    fn round(&self, x: f64) -> f64 {
        ((x / self.quantum).round() * self.quantum).clamp(self.min, self.max)
    }

    /// The next load to run, or `None` when the search is over.
    pub fn next(&self) -> Option<f64> {
        if self.steps >= self.max_steps {
            return None;
        }
        match (self.pass, self.fail) {
            (None, None) => Some(self.min),
            (None, Some(_)) => None,
            (Some(p), None) => (p < self.max).then(|| self.round((p * 2.0).min(self.max))),
            (Some(p), Some(f)) => {
                if f - p <= (p * self.resolution).max(self.quantum) {
                    return None;
                }
                let mid = self.round((p + f) / 2.0);
                (mid > p && mid < f).then_some(mid)
            }
        }
    }

    /// Records a step's verdict.
    pub fn record(&mut self, load: f64, passed: bool) {
        self.steps += 1;
        if passed {
            self.pass = Some(self.pass.map_or(load, |p| p.max(load)));
        } else {
            self.fail = Some(self.fail.map_or(load, |f| f.min(load)));
        }
    }

    /// The largest load that passed, if any.
    pub fn capacity(&self) -> Option<f64> {
        self.pass
    }

    /// The smallest load that failed, if any.
    pub fn failed(&self) -> Option<f64> {
        self.fail
    }
}

/// One step's result.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// The load (users, or messages per user per second).
    pub load: f64,
    /// Whether it met every SLO, with no violation and no saturation.
    pub passed: bool,
    /// Why it failed, one line (absent when it passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each SLO's verdict.
    pub slo: Vec<ThresholdResult>,
    /// The report of the measured window (after warm-up).
    pub report: Report,
}

impl Step {
    /// Judges a step's report against the SLOs.
    pub fn judge(load: f64, slos: &[Threshold], mut report: Report) -> Step {
        let slo = threshold::evaluate_all(slos, &report);
        let violations = report.invariants.violations.len();
        let reason = if violations > 0 {
            Some(format!("{violations} invariant violation(s)"))
        } else if let Some((key, u)) = report.invariants.undecided.iter().next() {
            Some(format!(
                "checks left undecided: {key} ({} {})",
                u.invariants, u.count
            ))
        } else if report.generator.saturated {
            Some(format!(
                "generator saturated (lag p99 {} > {})",
                fmt_us(report.generator.lag_us.p99),
                fmt_us(report.generator.saturation_limit_us)
            ))
        } else {
            slos.iter()
                .zip(&slo)
                .find(|(_, r)| !r.passed)
                .map(|(t, r)| t.explain(r.observed))
        };
        report.thresholds.clone_from(&slo);
        Step {
            load,
            passed: reason.is_none(),
            reason,
            slo,
            report,
        }
    }
}

/// The whole search, for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    /// Scenario name.
    pub scenario: String,
    /// `embedded` or the target URL.
    pub target: String,
    /// What was varied.
    pub vary: Vary,
    /// The SLOs.
    pub slos: Vec<String>,
    /// The largest passing load (`null` when even the smallest failed).
    pub capacity: Option<f64>,
    /// The smallest failing load (`null` when every step passed).
    pub failed_at: Option<f64>,
    /// The steps in the order run.
    pub steps: Vec<Step>,
}

impl CapacityReport {
    /// The answer, one line: `capacity: 1400 users (next step 1600 failed: ...)`.
    pub fn answer(&self) -> String {
        let step_at = |l: f64| self.steps.iter().find(|s| s.load == l);
        match (self.capacity, self.failed_at) {
            (Some(c), Some(f)) => {
                let why = step_at(f)
                    .and_then(|s| s.reason.clone())
                    .unwrap_or_default();
                format!(
                    "capacity: {} (next step {} failed: {why}; margin {:.0}%)",
                    self.vary.describe(c),
                    self.vary.describe(f),
                    (f - c) / c * 100.0
                )
            }
            (Some(c), None) => format!(
                "capacity: at least {} (every step passed, up to --max; raise --max to search further)",
                self.vary.describe(c)
            ),
            (None, Some(f)) => format!(
                "capacity: none found: the smallest load, {}, failed: {}",
                self.vary.describe(f),
                step_at(f).and_then(|s| s.reason.clone()).unwrap_or_default()
            ),
            (None, None) => "capacity: no step ran".to_owned(),
        }
    }

    /// The exit outcome (see the module doc).
    pub fn outcome(&self) -> Outcome {
        let violations = self
            .steps
            .iter()
            .map(|s| s.report.invariants.violations.len())
            .sum();
        let breaches = match self.capacity {
            Some(_) => Vec::new(),
            None => vec![format!("no load met the SLOs: {}", self.slos.join(", "))],
        };
        Outcome::decide(violations, breaches, false, false)
    }
}

/// Writes the table header.
pub fn write_header(vary: Vary, w: &mut impl Write) -> io::Result<()> {
    writeln!(
        w,
        "{:>4} {:>10}  {:<17} {:>9} {:>9} {:>9} {:>11} {:>9}  verdict",
        "step",
        match vary {
            Vary::Users => "users",
            Vary::Rate => "rate",
        },
        "kind",
        "p50",
        "p99",
        "p99.9",
        "per s",
        "lag p99"
    )
}

/// Writes one step: a row per exercised kind, the verdict on the first.
pub fn write_step(n: usize, step: &Step, w: &mut impl Write) -> io::Result<()> {
    let r = &step.report;
    let verdict = match &step.reason {
        None => "pass".to_owned(),
        Some(why) => format!("FAIL: {why}"),
    };
    let kinds: Vec<LatencyKind> = LatencyKind::ALL
        .into_iter()
        .filter(|k| r.latency_us.get(*k).count > 0)
        .collect();
    if kinds.is_empty() {
        return writeln!(w, "{n:>4} {:>10}  (no samples)  {verdict}", step.load);
    }
    for (i, k) in kinds.iter().enumerate() {
        let s = r.latency_us.get(*k);
        let per_s = if r.duration_s > 0.0 {
            s.count as f64 / r.duration_s
        } else {
            0.0
        };
        let (step_col, load_col, lag, v) = if i == 0 {
            (
                n.to_string(),
                step.load.to_string(),
                fmt_us(r.generator.lag_us.p99),
                verdict.as_str(),
            )
        } else {
            (String::new(), String::new(), String::new(), "")
        };
        writeln!(
            w,
            "{step_col:>4} {load_col:>10}  {:<17} {:>9} {:>9} {:>9} {per_s:>11.1} {lag:>9}  {v}",
            k.as_str(),
            fmt_us(s.p50),
            fmt_us(s.p99),
            fmt_us(s.p999),
        )?;
    }
    Ok(())
}

/// Merges the steady-state intervals of a run: those ending after `skip`
/// (ramp-up + warm-up), without the last one (the drain after the load
/// stopped). Returns the recorder and the length it covers.
pub fn steady_state(
    intervals: &[(Duration, CompactRecorder)],
    skip: Duration,
) -> (Recorder, Duration) {
    let mut rec = Recorder::new();
    let mut covered = Duration::ZERO;
    let body = intervals.split_last().map_or(&[][..], |(_, body)| body);
    let mut prev = Duration::ZERO;
    for (at, r) in body {
        if *at > skip {
            rec.merge(&r.expand());
            covered += at.saturating_sub(prev.max(skip));
        }
        prev = *at;
    }
    (rec, covered)
}

/// The base flags of every step, validated once: the scenario, the target
/// and seed, quiet.
fn base_opts(o: &CapacityOpts) -> Result<Opts, LoadgenError> {
    let mut args = vec![
        "loadgen".to_owned(),
        "--scenario".into(),
        o.scenario.clone(),
    ];
    args.push("--quiet".into());
    if let Some(t) = &o.target {
        args.extend(["--target".into(), t.clone()]);
    }
    if let Some(s) = o.seed {
        args.extend(["--seed".into(), s.to_string()]);
    }
    let mut opts = Opts::try_parse_from(&args).map_err(|e| LoadgenError::Usage(e.to_string()))?;
    opts.admin_token.clone_from(&o.admin_token);
    Ok(opts)
}

/// The validated config of one step at `load` (with `seed`, when given).
fn step_config(
    o: &CapacityOpts,
    base: &Opts,
    load: f64,
    seed: Option<u64>,
) -> Result<RunConfig, LoadgenError> {
    let mut opts = base.clone();
    if seed.is_some() {
        opts.seed = seed;
    }
    match o.vary {
        Vary::Users => opts.users = Some(load.round() as u32),
        Vary::Rate => opts.rate = Some(load),
    }
    // A step is ramp-up + warm-up + measured time. The plan's `duration`
    // counts after the ramp-up and must outlast it, which a short step need
    // not: validate with a long enough one, then set the step's own.
    let step = o.warmup + o.step_duration;
    opts.duration = Some(step + Duration::from_secs(3600));
    let mut config = opts.validate()?;
    config.plan.duration = step;
    config.plan.overrides.duration = Some(step);
    if let Some(r) = o.ramp_up {
        config.plan.ramp_up = r;
    }
    config.plan.thresholds.clear();
    Ok(config)
}

/// `(min, max)`: the flags, or defaults around the scenario's load (the
/// default max clamped to what fits the open-files limit).
fn bounds(o: &CapacityOpts, base: &RunConfig) -> Result<(f64, f64), LoadgenError> {
    let plan = &base.plan;
    let mode = base.target.mode();
    let (default_min, default_max) = match o.vary {
        Vary::Users => {
            let (soft, _) = fdlimit::raise()?;
            let per_user = u64::from(plan.connections_per_user.max) * mode.fds_per_connection();
            let spare = fdlimit::SPARE_FDS + u64::from(plan.bad_tokens) * mode.fds_per_connection();
            let fit = soft.saturating_sub(spare) / per_user.max(1);
            let users = f64::from(plan.users);
            (
                (users / 4.0).round().max(2.0),
                (users * 2.0).min(fit as f64),
            )
        }
        Vary::Rate => {
            let r = plan.behaviour.send_message;
            (r / 4.0, r * 4.0)
        }
    };
    let (min, max) = (o.min.unwrap_or(default_min), o.max.unwrap_or(default_max));
    if !(min.is_finite() && max.is_finite() && min > 0.0 && min <= max) {
        return Err(LoadgenError::Usage(format!(
            "--min and --max: need 0 < min <= max, got {min} and {max}"
        )));
    }
    if o.vary == Vary::Users && min < 2.0 {
        return Err(LoadgenError::Usage(format!(
            "--min: at least 2 users, got {min}"
        )));
    }
    Ok((min, max))
}

/// Runs one step: a whole driver run, judged on its steady state.
async fn run_step(
    o: &CapacityOpts,
    base: &Opts,
    slos: &[Threshold],
    load: f64,
    seed: Option<u64>,
) -> Result<Step, LoadgenError> {
    let config = step_config(o, base, load, seed)?;
    fdlimit::ensure(config.plan.max_connections(), config.target.mode())?;
    let output = crate::driver::run(&config, true).await?;
    let skip = config.plan.ramp_up + o.warmup;
    let (rec, window) = steady_state(&output.intervals, skip);
    let facts = RunFacts::new(
        &config.plan,
        &config.target.describe(),
        output.users,
        output.connections,
        window,
    );
    let report = Report::build(&facts, &rec, output.invariants);
    Ok(Step::judge(load, slos, report))
}

/// Runs `loadgen capacity`.
pub async fn run(o: CapacityOpts) -> Result<Outcome, LoadgenError> {
    let slos =
        threshold::parse_all(&o.slos).map_err(|e| LoadgenError::Usage(format!("--slo: {e}")))?;
    if o.step_duration.is_zero() {
        return Err(LoadgenError::Usage("--step-duration must be > 0".into()));
    }
    let base = base_opts(&o)?;
    let scenario = base.validate()?;
    let (min, max) = bounds(&o, &scenario)?;
    // Refuse up front a --max that cannot fit the open-files limit, rather
    // than after an hour of steps.
    let top = step_config(&o, &base, max, None)?;
    fdlimit::ensure(top.plan.max_connections(), top.target.mode())?;

    let mut search = Search::new(min, max, o.vary.quantum(), o.resolution, o.max_steps);
    let stdout = io::stdout();
    let out_err = |e| LoadgenError::io("<stdout>", e);
    {
        let mut out = stdout.lock();
        writeln!(
            out,
            "Capacity of scenario {} against {}: {} from {} to {}, steps of {} after {} warm-up; SLO: {}",
            top.plan.name,
            top.target.describe(),
            match o.vary {
                Vary::Users => "users",
                Vary::Rate => "rate per user",
            },
            min,
            max,
            humantime::format_duration(o.step_duration),
            humantime::format_duration(o.warmup),
            o.slos.join(", ")
        )
        .and_then(|()| write_header(o.vary, &mut out))
        .map_err(out_err)?;
    }
    let mut steps = Vec::new();
    while let Some(load) = search.next() {
        let seed = match scenario.target {
            crate::cli::Target::Embedded => None,
            crate::cli::Target::External { .. } => {
                Some(scenario.plan.seed.wrapping_add(steps.len() as u64))
            }
        };
        let step = run_step(&o, &base, &slos, load, seed).await?;
        search.record(load, step.passed);
        write_step(steps.len() + 1, &step, &mut stdout.lock()).map_err(out_err)?;
        steps.push(step);
    }
    let report = CapacityReport {
        scenario: top.plan.name.clone(),
        target: top.target.describe(),
        vary: o.vary,
        slos: o.slos.clone(),
        capacity: search.capacity(),
        failed_at: search.failed(),
        steps,
    };
    writeln!(stdout.lock(), "{}", report.answer()).map_err(out_err)?;
    if let Some(path) = &o.json {
        // Cannot fail: reports and steps are plain data (see Report::to_json).
        let text = serde_json::to_string_pretty(&report).expect("a capacity report serializes");
        std::fs::write(path, text + "\n").map_err(|e| LoadgenError::io(path, e))?;
    }
    Ok(report.outcome())
}

#[cfg(test)]
mod tests;
