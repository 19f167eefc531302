//! The run's report: one [`Report`] with the stable JSON schema of the
//! loadgen issue and CLI.md, and its three renderings.
//!
//! - this file: the [`Report`] (serde; `--json PATH`), built from a merged
//!   [`Recorder`] and the run's facts;
//! - [`text`]: the human summary (a percentile table per latency kind);
//! - [`hdrlog`]: the HdrHistogram interval log (`--hdr-log PATH`);
//! - [`html`]: the self-contained HTML page (`--html PATH`), with the
//!   [`plots`] drawn by plotters' SVG backend.
//!
//! Stability: the keys below are relied on by scripts and CI. Every latency
//! kind is always present (all zeros when unexercised), so a consumer never
//! needs to guard for a missing key. New keys may be added; none is renamed.
//! Extras beyond the list: `latency_us_actual` (latency from the
//! actual send time), `latency_us_rest` (per REST endpoint, exercised ones
//! only), `generator.lag_us` carries the whole summary (not only `p99`),
//! `generator.saturation_limit_us`, `counts`, `faults`, `thresholds`,
//! `replay`.

pub mod hdrlog;
pub mod html;
pub mod plots;
pub mod progress;
pub mod text;
pub mod timeline;

use crate::metrics::{process_cpu_seconds, LatencyKind, Recorder, RestEndpoint};
use crate::scenario::Plan;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Summary of one latency histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
}

impl LatencySummary {
    /// The summary of a histogram; all zeros for `None` or an empty one.
    pub fn of(h: Option<&Histogram<u64>>) -> LatencySummary {
        match h {
            Some(h) if !h.is_empty() => LatencySummary {
                count: h.len(),
                min: h.min(),
                mean: h.mean(),
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            },
            _ => LatencySummary::default(),
        }
    }
}

/// One value per [`LatencyKind`], each a JSON key of its own.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PerKind<T> {
    /// [`LatencyKind::MessageEcho`].
    pub message_echo: T,
    /// [`LatencyKind::MessageDelivery`].
    pub message_delivery: T,
    /// [`LatencyKind::Presence`].
    pub presence: T,
    /// [`LatencyKind::Typing`].
    pub typing: T,
    /// [`LatencyKind::OnlineFriends`].
    pub online_friends: T,
    /// [`LatencyKind::Handshake`].
    pub handshake: T,
    /// [`LatencyKind::Rest`].
    pub rest: T,
}

impl<T> PerKind<T> {
    /// Builds one from a function of the kind.
    pub fn from_fn(mut f: impl FnMut(LatencyKind) -> T) -> PerKind<T> {
        PerKind {
            message_echo: f(LatencyKind::MessageEcho),
            message_delivery: f(LatencyKind::MessageDelivery),
            presence: f(LatencyKind::Presence),
            typing: f(LatencyKind::Typing),
            online_friends: f(LatencyKind::OnlineFriends),
            handshake: f(LatencyKind::Handshake),
            rest: f(LatencyKind::Rest),
        }
    }

    /// The value for `kind`.
    pub fn get(&self, kind: LatencyKind) -> &T {
        match kind {
            LatencyKind::MessageEcho => &self.message_echo,
            LatencyKind::MessageDelivery => &self.message_delivery,
            LatencyKind::Presence => &self.presence,
            LatencyKind::Typing => &self.typing,
            LatencyKind::OnlineFriends => &self.online_friends,
            LatencyKind::Handshake => &self.handshake,
            LatencyKind::Rest => &self.rest,
        }
    }
}

/// Throughput per kind: samples per second of the run (`<kind>_per_s`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Echoes per second.
    pub message_echo_per_s: f64,
    /// Deliveries (to other connections) per second.
    pub message_delivery_per_s: f64,
    /// Presence events per second.
    pub presence_per_s: f64,
    /// Typing events per second.
    pub typing_per_s: f64,
    /// online_friends replies per second.
    pub online_friends_per_s: f64,
    /// Handshakes per second.
    pub handshake_per_s: f64,
    /// REST calls per second.
    pub rest_per_s: f64,
}

/// `messages`: counts as CLI.md defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Messages {
    /// Send actions performed (WS and REST).
    pub sent: u64,
    /// `new_message` frames received, one per receiving connection.
    pub delivered: u64,
}

/// `generator`: the generator's own health.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct GeneratorStats {
    /// User + system CPU seconds of the loadgen process.
    pub cpu_s: f64,
    /// Lag (actual − intended send time); `lag_us.p99` is the stable key.
    pub lag_us: LatencySummary,
    /// Whether lag p99 exceeded the limit: latencies then also measure the generator.
    pub saturated: bool,
    /// The limit in force (µs).
    #[serde(default)]
    pub saturation_limit_us: u64,
}

/// `invariants`: what the checker checked and found.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Invariants {
    /// Checks performed per invariant id (`"I1"` → count).
    pub checked: BTreeMap<String, u64>,
    /// Violations: objects with at least `invariant` and `message` (CLI.md).
    pub violations: Vec<serde_json::Value>,
    /// Repeated statuses (I3 "redundant"), counted apart from violations.
    pub redundant: u64,
    /// Coverage events produced (INVARIANTS.md "Coverage gate").
    #[serde(default)]
    pub coverage: BTreeMap<String, u64>,
    /// Checks that should have been judged and could not be, by cause
    /// (`"sends_too_recent"` → what, how many, why). Not empty: the run is
    /// not clean (exit 3), whatever else it found.
    #[serde(default)]
    pub undecided: BTreeMap<String, UndecidedEntry>,
}

/// One cause of undecided checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UndecidedEntry {
    /// The invariants it leaves undecided, e.g. `"I5"`.
    pub invariants: String,
    /// How many checks (sends, connections, conversations, probes).
    pub count: u64,
    /// Why, in one line.
    pub why: String,
}

/// One threshold's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The expression as given.
    pub expr: String,
    /// Whether it held.
    pub passed: bool,
    /// The observed value, when the expression compares one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
}

/// The report of one run (`--json PATH`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed of the run.
    pub seed: u64,
    /// `embedded` or the `--target` URL.
    pub target: String,
    /// Length of the measured run, seconds.
    pub duration_s: f64,
    /// Users simulated.
    pub users: u64,
    /// Connections opened at the start (users × devices).
    pub connections: u64,
    /// Message counts.
    pub messages: Messages,
    /// Latency from the intended send time, per kind (every kind present).
    pub latency_us: PerKind<LatencySummary>,
    /// Latency from the actual send time, per kind (every kind present).
    pub latency_us_actual: PerKind<LatencySummary>,
    /// Latency from the intended send time per REST endpoint (exercised only).
    #[serde(default)]
    pub latency_us_rest: BTreeMap<String, LatencySummary>,
    /// Samples per second, per kind.
    pub throughput: Throughput,
    /// The generator's health.
    pub generator: GeneratorStats,
    /// Errors by kind.
    pub errors: BTreeMap<String, u64>,
    /// The checker's verdicts.
    pub invariants: Invariants,
    /// Other counters (behaviours performed, closes seen, ...).
    #[serde(default)]
    pub counts: BTreeMap<String, u64>,
    /// Faults switched on in the embedded server.
    #[serde(default)]
    pub faults: Vec<String>,
    /// Threshold verdicts.
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// The command that reruns this run.
    #[serde(default)]
    pub replay: String,
}

/// Facts of a run that the recorder does not hold.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFacts {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// `embedded` or the target URL.
    pub target: String,
    /// Measured run length.
    pub elapsed: Duration,
    /// Users simulated.
    pub users: u64,
    /// Connections opened at the start.
    pub connections: u64,
    /// Process CPU seconds (see [`process_cpu_seconds`]).
    pub cpu_s: f64,
    /// Lag p99 above this is saturation.
    pub saturation_lag: Duration,
    /// Faults on (names).
    pub faults: Vec<String>,
    /// Replay command.
    pub replay: String,
}

#[cfg(test)]
impl RunFacts {
    /// A 10 s embedded `chat` run of 100 users, for tests that need facts
    /// but not particular ones.
    pub(crate) fn example() -> RunFacts {
        RunFacts {
            scenario: "chat".into(),
            seed: 1,
            target: "embedded".into(),
            elapsed: Duration::from_secs(10),
            users: 100,
            connections: 200,
            cpu_s: 0.0,
            saturation_lag: Duration::from_millis(50),
            faults: vec![],
            replay: String::new(),
        }
    }
}

impl RunFacts {
    /// The facts of a run of `plan`, with the CPU time read now.
    pub fn new(
        plan: &Plan,
        target: &str,
        users: u64,
        connections: u64,
        elapsed: Duration,
    ) -> RunFacts {
        RunFacts {
            scenario: plan.name.clone(),
            seed: plan.seed,
            target: target.to_owned(),
            elapsed,
            users,
            connections,
            cpu_s: process_cpu_seconds(),
            saturation_lag: plan.saturation_lag,
            faults: plan
                .faults
                .iter()
                .filter_map(|f| {
                    clap::ValueEnum::to_possible_value(f).map(|v| v.get_name().to_owned())
                })
                .collect(),
            replay: plan.replay_command(),
        }
    }
}

impl Report {
    /// The report of a run: summaries of the merged `rec`, plus the facts and
    /// the checker's verdicts. Saturated when lag p99 > `facts.saturation_lag`.
    pub fn build(facts: &RunFacts, rec: &Recorder, invariants: Invariants) -> Report {
        let secs = facts.elapsed.as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let latency_us = PerKind::from_fn(|k| LatencySummary::of(rec.latency(k)));
        let count = |k: LatencyKind| latency_us.get(k).count;
        let lag_us = LatencySummary::of(rec.lag());
        let limit_us = crate::metrics::micros(facts.saturation_lag);
        Report {
            scenario: facts.scenario.clone(),
            seed: facts.seed,
            target: facts.target.clone(),
            duration_s: secs,
            users: facts.users,
            connections: facts.connections,
            messages: Messages {
                sent: rec.messages_sent,
                delivered: rec.messages_delivered,
            },
            latency_us_actual: PerKind::from_fn(|k| LatencySummary::of(rec.latency_actual(k))),
            latency_us_rest: RestEndpoint::ALL
                .iter()
                .filter_map(|e| {
                    rec.rest(*e)
                        .map(|h| (e.as_str().to_owned(), LatencySummary::of(Some(h))))
                })
                .filter(|(_, s)| s.count > 0)
                .collect(),
            throughput: Throughput {
                message_echo_per_s: per_s(count(LatencyKind::MessageEcho)),
                message_delivery_per_s: per_s(count(LatencyKind::MessageDelivery)),
                presence_per_s: per_s(count(LatencyKind::Presence)),
                typing_per_s: per_s(count(LatencyKind::Typing)),
                online_friends_per_s: per_s(count(LatencyKind::OnlineFriends)),
                handshake_per_s: per_s(count(LatencyKind::Handshake)),
                rest_per_s: per_s(count(LatencyKind::Rest)),
            },
            latency_us,
            generator: GeneratorStats {
                cpu_s: facts.cpu_s,
                saturated: lag_us.count > 0 && lag_us.p99 > limit_us,
                lag_us,
                saturation_limit_us: limit_us,
            },
            errors: rec.errors().clone(),
            invariants,
            counts: rec.counts().clone(),
            faults: facts.faults.clone(),
            thresholds: Vec::new(),
            replay: facts.replay.clone(),
        }
    }

    /// Total errors of every kind.
    pub fn error_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        // Cannot fail: every field is a string, number, bool, map with
        // string keys or a JSON value.
        serde_json::to_string_pretty(self).expect("a Report always serializes")
    }

    /// Writes the report as JSON to `path` (`--json PATH`).
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let mut text = self.to_json();
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Reads a report written by [`Report::write_json`].
    pub fn read_json(path: &Path) -> io::Result<Report> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
mod tests;
