//! [`Plan`]: a scenario with the command line's [`Overrides`] applied and
//! every field checked, so nothing downstream re-validates.
//!
//! Errors name the field as written in the TOML (`behaviour.send_message`),
//! or the flag when a flag set the value (`--users`), and say what is wrong
//! and what was given.

use super::file::{Behaviour, Checker, Content, EmbeddedServer, Friends, Scenario, SlowConsumer};
use super::ranges::{CountRange, DurationRange};
use super::ScenarioError;
use server::protocol::{MAX_CONTENT_BYTES, MAX_MEDIA_IDS};
use server::Fault;
use std::collections::BTreeMap;
use std::time::Duration;

/// The server's default cap on connections per user (PROTOCOL.md §1); one
/// more is closed with 4011, so a plan asking for more could never connect.
pub const MAX_CONNECTIONS_PER_USER: u32 = 16;
/// Smallest content: the checker's header goes in the first bytes.
pub const MIN_CONTENT_BYTES: u32 = 64;
/// Largest page of history the server returns (PROTOCOL.md §8).
pub const MAX_HISTORY_CAP: u32 = 500;

/// Values from the command line that replace the scenario's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--users`.
    pub users: Option<u32>,
    /// `--connections-per-user` (`2` or `1..=4`).
    pub connections_per_user: Option<CountRange>,
    /// `--duration`.
    pub duration: Option<Duration>,
    /// `--rate`: send_message per user per second; the other rates keep their ratio to it.
    pub rate: Option<f64>,
    /// `--seed`.
    pub seed: Option<u64>,
    /// `--fault` (added to the scenario's).
    pub faults: Vec<Fault>,
    /// `--threshold` (added to the scenario's).
    pub thresholds: Vec<String>,
}

/// A validated scenario with overrides applied: what the driver runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Scenario name (for reports).
    pub name: String,
    /// What `--scenario` said (a shipped name or a path), for the replay command.
    pub source: String,
    /// The scenario's description.
    pub description: String,
    /// Seed of everything random in the run.
    pub seed: u64,
    /// Number of users (≥ 2).
    pub users: u32,
    /// Connections per user (each in `1..=16`).
    pub connections_per_user: CountRange,
    /// Run length after the ramp-up.
    pub duration: Duration,
    /// Connect phase (shorter than `duration`).
    pub ramp_up: Duration,
    /// Friend graph model.
    pub friends: Friends,
    /// Rates (already scaled by `--rate`) and behaviour parameters.
    pub behaviour: Behaviour,
    /// Content sizes (64..=4096 bytes).
    pub content: Content,
    /// Slow consumers.
    pub slow_consumer: SlowConsumer,
    /// Bad-token connections over the run.
    pub bad_tokens: u32,
    /// Checker settings.
    pub checker: Checker,
    /// Lag p99 above this marks the run saturated.
    pub saturation_lag: Duration,
    /// Fraction of its thread the generator burns on purpose (`generator.starve`).
    pub starve: f64,
    /// `generator.precise_pacing`.
    pub precise_pacing: bool,
    /// Embedded server settings (ignored with `--target`).
    pub embedded_server: EmbeddedServer,
    /// Threshold expressions (raw for now): the scenario's, then `--threshold`s.
    pub thresholds: Vec<String>,
    /// Coverage minimums by coverage-event name.
    pub coverage: BTreeMap<String, u64>,
    /// Faults for the embedded server: the scenario's, then `--fault`s, deduplicated.
    pub faults: Vec<Fault>,
    /// The overrides this plan was built with (for the replay command).
    pub overrides: Overrides,
}

/// Where a checked value came from, for the error message.
struct Check<'a> {
    overrides: &'a Overrides,
}

impl Check<'_> {
    /// The error for `field`: names the flag instead when a flag set it.
    fn err(&self, field: &str, message: impl Into<String>) -> ScenarioError {
        let o = self.overrides;
        let flag = match field {
            "users" if o.users.is_some() => Some("--users"),
            "connections_per_user" if o.connections_per_user.is_some() => {
                Some("--connections-per-user")
            }
            "duration" if o.duration.is_some() => Some("--duration"),
            "behaviour.send_message" if o.rate.is_some() => Some("--rate"),
            _ => None,
        };
        match flag {
            Some(flag) => ScenarioError::Flag {
                flag: flag.to_owned(),
                message: message.into(),
            },
            None => ScenarioError::Field {
                field: field.to_owned(),
                message: message.into(),
            },
        }
    }

    fn fraction(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        if v.is_finite() && (0.0..=1.0).contains(&v) {
            Ok(())
        } else {
            Err(self.err(field, format!("must be between 0 and 1, got {v}")))
        }
    }

    fn rate(&self, field: &str, v: f64) -> Result<(), ScenarioError> {
        if !v.is_finite() {
            Err(self.err(field, format!("must be a finite number, got {v}")))
        } else if v < 0.0 {
            Err(self.err(field, format!("must be >= 0, got {v}")))
        } else {
            Ok(())
        }
    }

    fn at_least(&self, field: &str, v: u64, min: u64) -> Result<(), ScenarioError> {
        if v >= min {
            Ok(())
        } else {
            Err(self.err(field, format!("must be >= {min}, got {v}")))
        }
    }

    fn positive(&self, field: &str, d: Duration) -> Result<(), ScenarioError> {
        if d.is_zero() {
            Err(self.err(field, "must be longer than 0s"))
        } else {
            Ok(())
        }
    }

    fn count_range(&self, field: &str, r: CountRange) -> Result<(), ScenarioError> {
        if r.min > r.max {
            Err(self.err(
                field,
                format!("min must be <= max, got min {} > max {}", r.min, r.max),
            ))
        } else {
            Ok(())
        }
    }

    fn duration_range(&self, field: &str, r: DurationRange) -> Result<(), ScenarioError> {
        if r.min > r.max {
            Err(self.err(field, format!("min must be <= max, got {r}")))
        } else {
            Ok(())
        }
    }
}

impl Plan {
    /// Applies `overrides` to `scenario` and validates the result.
    ///
    /// `--rate R` sets `behaviour.send_message` to R and multiplies every other
    /// rate by the same factor, so the scenario's mix is kept; if the scenario
    /// sends no WS messages, send_message becomes R and the others stay.
    pub fn from_scenario(scenario: Scenario, overrides: &Overrides) -> Result<Plan, ScenarioError> {
        let c = Check { overrides };
        let mut s = scenario;
        if let Some(r) = overrides.rate {
            c.rate("behaviour.send_message", r)?;
        }
        // Validate the scenario's own rates before scaling, so an error names
        // the value that was written, not a scaled one.
        for (name, v) in s.behaviour.rates() {
            c.rate(&format!("behaviour.{name}"), v)?;
        }
        if let Some(u) = overrides.users {
            s.users = u;
        }
        if let Some(k) = overrides.connections_per_user {
            s.connections_per_user = k;
        }
        if let Some(d) = overrides.duration {
            s.duration = d;
        }
        if let Some(seed) = overrides.seed {
            s.seed = seed;
        }
        if let Some(r) = overrides.rate {
            scale_rates(&mut s.behaviour, r);
        }

        c.at_least("users", u64::from(s.users), 2)?;
        let k = s.connections_per_user;
        c.count_range("connections_per_user", k)?;
        c.at_least("connections_per_user", u64::from(k.min), 1)?;
        if k.max > MAX_CONNECTIONS_PER_USER {
            return Err(c.err(
                "connections_per_user",
                format!(
                    "must be <= {MAX_CONNECTIONS_PER_USER} (the server's cap per user), got {}",
                    k.max
                ),
            ));
        }
        c.positive("duration", s.duration)?;
        // `duration` is the load after the ramp-up: any positive length works.

        match s.friends {
            Friends::Uniform { degree } => c.at_least("friends.degree", u64::from(degree), 1)?,
            Friends::PowerLaw { min, max, exponent } => {
                c.at_least("friends.min", u64::from(min), 1)?;
                if max < min {
                    return Err(c.err("friends.max", format!("must be >= min ({min}), got {max}")));
                }
                if !(exponent.is_finite() && exponent > 1.0 && exponent <= 10.0) {
                    return Err(c.err(
                        "friends.exponent",
                        format!("must be > 1 and <= 10, got {exponent}"),
                    ));
                }
            }
        }

        let b = &s.behaviour;
        c.duration_range("behaviour.typing_pause", b.typing_pause)?;
        c.fraction("behaviour.mark_read", b.mark_read)?;
        c.duration_range("behaviour.churn_reopen_after", b.churn_reopen_after)?;
        c.fraction("behaviour.churn_all_devices", b.churn_all_devices)?;
        c.count_range("behaviour.rest_media_ids", b.rest_media_ids)?;
        if b.rest_media_ids.max as usize > MAX_MEDIA_IDS {
            return Err(c.err(
                "behaviour.rest_media_ids",
                format!(
                    "max must be <= {MAX_MEDIA_IDS}, got {}",
                    b.rest_media_ids.max
                ),
            ));
        }

        let ct = s.content;
        c.at_least(
            "content.min_bytes",
            u64::from(ct.min_bytes),
            u64::from(MIN_CONTENT_BYTES),
        )?;
        if ct.max_bytes as usize > MAX_CONTENT_BYTES {
            return Err(c.err(
                "content.max_bytes",
                format!("must be <= {MAX_CONTENT_BYTES}, got {}", ct.max_bytes),
            ));
        }
        if ct.max_bytes < ct.min_bytes {
            return Err(c.err(
                "content.max_bytes",
                format!(
                    "must be >= min_bytes ({}), got {}",
                    ct.min_bytes, ct.max_bytes
                ),
            ));
        }

        c.fraction("slow_consumer.fraction", s.slow_consumer.fraction)?;
        c.positive("checker.delta", s.checker.delta)?;
        c.positive("checker.quiet", s.checker.quiet)?;
        c.at_least("checker.history_cap", u64::from(s.checker.history_cap), 1)?;
        if s.checker.history_cap > MAX_HISTORY_CAP {
            return Err(c.err(
                "checker.history_cap",
                format!(
                    "must be <= {MAX_HISTORY_CAP}, got {}",
                    s.checker.history_cap
                ),
            ));
        }
        if let Some(n) = s.checker.history_retention {
            c.at_least("checker.history_retention", u64::from(n), 1)?;
        }
        c.positive("generator.saturation_lag", s.generator.saturation_lag)?;
        if !(0.0..=0.95).contains(&s.generator.starve) {
            return Err(c.err(
                "generator.starve",
                format!("must be in 0..=0.95, got {}", s.generator.starve),
            ));
        }
        if let Some(q) = s.embedded_server.outbound_queue {
            if !(1..=1_000_000).contains(&q) {
                return Err(c.err(
                    "embedded_server.outbound_queue",
                    format!("must be in 1..=1000000, got {q}"),
                ));
            }
        }

        let mut thresholds = s.thresholds;
        thresholds.extend(overrides.thresholds.iter().cloned());
        if let Some(i) = thresholds.iter().position(|t| t.trim().is_empty()) {
            return Err(c.err(&format!("thresholds[{i}]"), "must not be empty"));
        }
        if let Some(k) = s.coverage.keys().find(|k| k.trim().is_empty()) {
            return Err(c.err(&format!("coverage.'{k}'"), "a name must not be empty"));
        }
        let mut faults = s.faults;
        for f in &overrides.faults {
            if !faults.contains(f) {
                faults.push(*f);
            }
        }

        Ok(Plan {
            name: s.name,
            source: String::new(),
            description: s.description,
            seed: s.seed,
            users: s.users,
            connections_per_user: s.connections_per_user,
            duration: s.duration,
            ramp_up: s.ramp_up,
            friends: s.friends,
            behaviour: s.behaviour,
            content: s.content,
            slow_consumer: s.slow_consumer,
            bad_tokens: s.bad_tokens,
            checker: s.checker,
            saturation_lag: s.generator.saturation_lag,
            starve: s.generator.starve,
            precise_pacing: s.generator.precise_pacing,
            embedded_server: s.embedded_server,
            thresholds,
            coverage: s.coverage,
            faults,
            overrides: overrides.clone(),
        })
    }

    /// The most WebSocket connections open at once: every user at its
    /// maximum device count, plus the bad-token sockets (counted as if all
    /// open together). Churned devices close before they reopen, so they add
    /// nothing. Use this to check the open-files limit before generating.
    pub fn max_connections(&self) -> u64 {
        u64::from(self.users) * u64::from(self.connections_per_user.max)
            + u64::from(self.bad_tokens)
    }

    /// The whole run: ramp-up plus duration.
    pub fn total_time(&self) -> Duration {
        self.ramp_up + self.duration
    }

    /// The barrier interval, or `None` when only the final barrier runs.
    pub fn barrier_interval(&self) -> Option<Duration> {
        (!self.checker.barrier_interval.is_zero()).then_some(self.checker.barrier_interval)
    }

    /// Messages per conversation the target is taken to keep
    /// (`checker.history_retention`, or the reference server's default).
    pub fn history_retention(&self) -> u32 {
        self.checker
            .history_retention
            .unwrap_or(server::config::DEFAULT_HISTORY_PER_CONVERSATION)
    }

    /// The command line that reruns this plan: same scenario, seed and overrides.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "loadgen --scenario {} --seed {}",
            self.source_or_name(),
            self.seed
        );
        let o = &self.overrides;
        if let Some(u) = o.users {
            cmd.push_str(&format!(" --users {u}"));
        }
        if let Some(k) = o.connections_per_user {
            cmd.push_str(&format!(" --connections-per-user {k}"));
        }
        if let Some(d) = o.duration {
            cmd.push_str(&format!(" --duration {}", humantime::format_duration(d)));
        }
        if let Some(r) = o.rate {
            cmd.push_str(&format!(" --rate {r}"));
        }
        for f in &o.faults {
            if let Some(v) = clap::ValueEnum::to_possible_value(f) {
                cmd.push_str(&format!(" --fault {}", v.get_name()));
            }
        }
        cmd
    }

    fn source_or_name(&self) -> &str {
        if self.source.is_empty() {
            &self.name
        } else {
            &self.source
        }
    }
}

/// `--rate r`: send_message becomes `r`, the other rates keep their ratio to it.
fn scale_rates(b: &mut Behaviour, r: f64) {
    if b.send_message > 0.0 {
        let factor = r / b.send_message;
        for v in b.rates_mut() {
            *v *= factor;
        }
    }
    // Exact, whatever rounding the factor brought.
    b.send_message = r;
}
