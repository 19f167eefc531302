//! Thresholds, k6-style: `METRIC OP VALUE` expressions a run must meet,
//! parsed ([`Threshold`]'s `FromStr`) when the flags and the scenario are
//! validated, evaluated against the finished [`Report`], printed at the end
//! and stored in `report.thresholds`. A breach exits 3 (CLI.md); invariant
//! violations still win with exit 1 ([`crate::Outcome::decide`]).
//!
//! The same expressions are the SLOs of `loadgen capacity`.
//!
//! # Grammar
//!
//! `OP` is one of `<`, `<=`, `>`, `>=`, `==`, `!=`; spaces are allowed.
//!
//! | metric | value | observed |
//! | --- | --- | --- |
//! | `KIND.STAT` (`message_delivery.p99`) | a duration: `20ms`, `500us`, `1.5s` | the latency summary from the intended send time |
//! | `KIND.actual.STAT` | a duration | the latency from the actual send time |
//! | `generator.lag.STAT` | a duration | the generator's own lag |
//! | `throughput.KIND_per_s` (or `throughput.KIND`) | a number | samples per second |
//! | `errors.rate` | a fraction, `0.001` | errors ÷ (errors + latency samples of every kind) |
//! | `errors.count`, `errors.NAME` | a whole number | all errors, or one error kind |
//! | `generator.saturated` | `true` / `false` | whether lag p99 passed the limit |
//!
//! `KIND` is a latency kind of the report (`message_echo`, `message_delivery`,
//! `presence`, `typing`, `online_friends`, `handshake`, `rest`); `STAT` is
//! `p50`, `p90`, `p99`, `p999`, `mean`, `min`, `max` or `count`.
//!
//! A latency threshold on a kind with no samples *fails* (observed: none):
//! nothing shows it held, and an SLO on message delivery must not pass
//! because no message was delivered.

use crate::metrics::LatencyKind;
use crate::report::text::fmt_us;
use crate::report::{LatencySummary, PerKind, Report, ThresholdResult};
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;
use thiserror::Error;

/// A threshold expression that does not parse; names the expression.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("threshold '{expr}': {message}")]
pub struct ThresholdError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// A statistic of a latency summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// `p50`.
    P50,
    /// `p90`.
    P90,
    /// `p99`.
    P99,
    /// `p999`.
    P999,
    /// `mean`.
    Mean,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `count` (a number, not a duration).
    Count,
}

impl Stat {
    const NAMES: [(&'static str, Stat); 8] = [
        ("p50", Stat::P50),
        ("p90", Stat::P90),
        ("p99", Stat::P99),
        ("p999", Stat::P999),
        ("mean", Stat::Mean),
        ("min", Stat::Min),
        ("max", Stat::Max),
        ("count", Stat::Count),
    ];

    fn parse(s: &str) -> Option<Stat> {
        Stat::NAMES.iter().find(|(n, _)| *n == s).map(|(_, st)| *st)
    }

    /// This statistic of `s` (µs, or a count).
    pub fn of(self, s: &LatencySummary) -> f64 {
        match self {
            Stat::P50 => s.p50 as f64,
            Stat::P90 => s.p90 as f64,
            Stat::P99 => s.p99 as f64,
            Stat::P999 => s.p999 as f64,
            Stat::Mean => s.mean,
            Stat::Min => s.min as f64,
            Stat::Max => s.max as f64,
            Stat::Count => s.count as f64,
        }
    }
}

/// What a threshold observes.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// A latency statistic of a kind; `actual`: from the actual send time.
    Latency {
        /// The kind.
        kind: LatencyKind,
        /// From the actual rather than the intended send time.
        actual: bool,
        /// The statistic.
        stat: Stat,
    },
    /// A statistic of the generator's lag.
    Lag(Stat),
    /// Samples per second of a kind.
    Throughput(LatencyKind),
    /// Errors ÷ (errors + latency samples).
    ErrorRate,
    /// All errors (`None`) or one kind.
    ErrorCount(Option<String>),
    /// Whether the generator saturated (1 or 0).
    Saturated,
}

impl Metric {
    /// Whether values are durations (compared in µs, printed as times).
    fn is_duration(&self) -> bool {
        match self {
            Metric::Latency { stat, .. } | Metric::Lag(stat) => *stat != Stat::Count,
            _ => false,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
}

impl Op {
    /// Whether `observed OP limit`.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
            Op::Eq => observed == limit,
            Op::Ne => observed != limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// One parsed threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The expression as written (trimmed), used in reports and breach lists.
    pub expr: String,
    /// What it observes.
    pub metric: Metric,
    /// How it compares.
    pub op: Op,
    /// The limit: µs for durations, 1/0 for booleans, else the number.
    pub limit: f64,
}

impl FromStr for Threshold {
    type Err = ThresholdError;

    fn from_str(s: &str) -> Result<Threshold, ThresholdError> {
        let expr = s.trim().to_owned();
        let err = |message: String| ThresholdError {
            expr: expr.clone(),
            message,
        };
        let (at, op_len, op) = find_op(&expr).ok_or_else(|| {
            err("expected METRIC OP VALUE with OP one of < <= > >= == !=, e.g. 'message_delivery.p99<20ms'".into())
        })?;
        let name = expr[..at].trim();
        let value = expr[at + op_len..].trim();
        if name.is_empty() || value.is_empty() {
            return Err(err(
                "expected METRIC OP VALUE on both sides of the operator".into(),
            ));
        }
        let metric = parse_metric(name).map_err(&err)?;
        let limit = if metric == Metric::Saturated {
            if !matches!(op, Op::Eq | Op::Ne) {
                return Err(err("generator.saturated compares with == or != only".into()));
            }
            match value {
                "true" => 1.0,
                "false" => 0.0,
                _ => return Err(err(format!("expected true or false, got '{value}'"))),
            }
        } else if metric.is_duration() {
            parse_duration_us(value).ok_or_else(|| {
                err(format!(
                    "'{name}' is a latency: expected a duration such as 20ms, 500us or 1.5s, got '{value}'"
                ))
            })?
        } else {
            let v: f64 = value
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| err(format!("expected a number, got '{value}'")))?;
            if metric == Metric::ErrorRate && !(0.0..=1.0).contains(&v) {
                return Err(err(format!(
                    "errors.rate is a fraction in 0..=1 (0.001 is 0.1%), got {value}"
                )));
            }
            v
        };
        Ok(Threshold {
            expr,
            metric,
            op,
            limit,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// The first comparison operator in `s`: (byte offset, length, op).
fn find_op(s: &str) -> Option<(usize, usize, Op)> {
    let i = s.find(['<', '>', '=', '!'])?;
    let two = s.get(i..i + 2);
    let (len, op) = match (s.as_bytes()[i], two) {
        (_, Some("<=")) => (2, Op::Le),
        (_, Some(">=")) => (2, Op::Ge),
        (_, Some("==")) => (2, Op::Eq),
        (_, Some("!=")) => (2, Op::Ne),
        (b'<', _) => (1, Op::Lt),
        (b'>', _) => (1, Op::Gt),
        _ => return None,
    };
    Some((i, len, op))
}

fn kind_named(name: &str) -> Option<LatencyKind> {
    LatencyKind::ALL.into_iter().find(|k| k.as_str() == name)
}

fn kinds_list() -> String {
    LatencyKind::ALL.map(|k| k.as_str()).join(", ")
}

fn stat_of(name: &str, stat: &str) -> Result<Stat, String> {
    Stat::parse(stat).ok_or_else(|| {
        format!(
            "unknown statistic '{stat}' in '{name}' (known: {})",
            Stat::NAMES.map(|(n, _)| n).join(", ")
        )
    })
}

fn parse_metric(name: &str) -> Result<Metric, String> {
    let parts: Vec<&str> = name.split('.').collect();
    match parts.as_slice() {
        ["generator", "saturated"] => Ok(Metric::Saturated),
        ["generator", "lag", stat] => Ok(Metric::Lag(stat_of(name, stat)?)),
        ["errors", "rate"] => Ok(Metric::ErrorRate),
        ["errors", "count" | "total"] => Ok(Metric::ErrorCount(None)),
        ["errors", kind] if !kind.is_empty() => Ok(Metric::ErrorCount(Some((*kind).to_owned()))),
        ["throughput", kind] => {
            let k = kind.strip_suffix("_per_s").unwrap_or(kind);
            kind_named(k).map(Metric::Throughput).ok_or_else(|| {
                format!("unknown kind '{k}' in '{name}' (known: {})", kinds_list())
            })
        }
        [kind, rest @ ..] if !rest.is_empty() && rest.len() <= 2 => {
            let k = kind_named(kind).ok_or_else(|| {
                format!(
                    "unknown metric '{name}': expected KIND.STAT with KIND one of {}, or throughput.KIND_per_s, errors.rate, errors.count, generator.lag.STAT, generator.saturated",
                    kinds_list()
                )
            })?;
            let (actual, stat) = match rest {
                [stat] => (false, *stat),
                ["actual", stat] => (true, *stat),
                _ => return Err(format!("expected {kind}.STAT or {kind}.actual.STAT, got '{name}'")),
            };
            Ok(Metric::Latency {
                kind: k,
                actual,
                stat: stat_of(name, stat)?,
            })
        }
        _ => Err(format!(
            "unknown metric '{name}': expected KIND.STAT, throughput.KIND_per_s, errors.rate, errors.count, generator.lag.STAT or generator.saturated"
        )),
    }
}

/// `20ms`, `500us`, `500µs`, `1.5s`, `2m` → microseconds.
pub fn parse_duration_us(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok().filter(|n: &f64| n.is_finite())?;
    let scale = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 60e6,
        _ => return None,
    };
    Some(n * scale)
}

/// Parses every expression; the first bad one is the error.
pub fn parse_all(exprs: &[String]) -> Result<Vec<Threshold>, ThresholdError> {
    exprs.iter().map(|e| e.parse()).collect()
}

fn latency_table(report: &Report, actual: bool) -> &PerKind<LatencySummary> {
    if actual {
        &report.latency_us_actual
    } else {
        &report.latency_us
    }
}

impl Threshold {
    /// The observed value in `report`; `None` for a latency of a kind
    /// without samples (the threshold then fails, see the module doc).
    pub fn observe(&self, report: &Report) -> Option<f64> {
        match &self.metric {
            Metric::Latency { kind, actual, stat } => {
                let s = latency_table(report, *actual).get(*kind);
                (s.count > 0 || *stat == Stat::Count).then(|| stat.of(s))
            }
            Metric::Lag(stat) => {
                let s = &report.generator.lag_us;
                (s.count > 0 || *stat == Stat::Count).then(|| stat.of(s))
            }
            Metric::Throughput(kind) => {
                let count = report.latency_us.get(*kind).count as f64;
                Some(if report.duration_s > 0.0 {
                    count / report.duration_s
                } else {
                    0.0
                })
            }
            Metric::ErrorRate => {
                let errors = report.error_total() as f64;
                let samples: u64 = LatencyKind::ALL
                    .iter()
                    .map(|k| report.latency_us.get(*k).count)
                    .sum();
                let total = errors + samples as f64;
                Some(if total > 0.0 { errors / total } else { 0.0 })
            }
            Metric::ErrorCount(None) => Some(report.error_total() as f64),
            Metric::ErrorCount(Some(k)) => Some(report.errors.get(k).copied().unwrap_or(0) as f64),
            Metric::Saturated => Some(if report.generator.saturated { 1.0 } else { 0.0 }),
        }
    }

    /// The verdict of this threshold on `report`.
    pub fn evaluate(&self, report: &Report) -> ThresholdResult {
        let observed = self.observe(report);
        ThresholdResult {
            expr: self.expr.clone(),
            passed: observed.is_some_and(|v| self.op.holds(v, self.limit)),
            observed,
        }
    }

    /// An observed value in this threshold's unit: `3.21ms`, `0.00012`, `false`.
    pub fn format_value(&self, v: f64) -> String {
        format_value(&self.metric, v)
    }

    /// Why it failed, for one line: `message_delivery.p99 31.0ms > 20ms`
    /// style (`observed`, not the operator it broke, then the limit).
    pub fn explain(&self, observed: Option<f64>) -> String {
        let name = self.expr[..find_op(&self.expr).map_or(0, |(i, _, _)| i)].trim();
        match observed {
            None => format!("{name}: no samples"),
            Some(v) => format!(
                "{name} {} (limit {} {})",
                self.format_value(v),
                self.op.as_str(),
                self.format_value(self.limit)
            ),
        }
    }
}

fn format_value(metric: &Metric, v: f64) -> String {
    if metric.is_duration() {
        fmt_us(v.round().max(0.0) as u64)
    } else if *metric == Metric::Saturated {
        (v != 0.0).to_string()
    } else if *metric == Metric::ErrorRate {
        format!("{v:.5}")
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Evaluates every threshold on `report`, in order.
pub fn evaluate_all(thresholds: &[Threshold], report: &Report) -> Vec<ThresholdResult> {
    thresholds.iter().map(|t| t.evaluate(report)).collect()
}

/// The expressions that failed (the breach list of [`crate::Outcome`]).
pub fn breaches(results: &[ThresholdResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.expr.clone())
        .collect()
}

/// Prints the verdicts: one line per threshold with its observed value.
pub fn write_results(
    thresholds: &[Threshold],
    results: &[ThresholdResult],
    w: &mut impl Write,
) -> io::Result<()> {
    if results.is_empty() {
        return Ok(());
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    writeln!(
        w,
        "\nThresholds: {} passed, {failed} breached",
        results.len() - failed
    )?;
    let width = results.iter().map(|r| r.expr.len()).max().unwrap_or(0);
    for (t, r) in thresholds.iter().zip(results) {
        let observed = r
            .observed
            .map_or_else(|| "no samples".to_owned(), |v| t.format_value(v));
        writeln!(
            w,
            "  {:<8} {:<width$}  observed {observed}",
            if r.passed { "ok" } else { "BREACHED" },
            r.expr
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
