//! The scenario file as written: serde types mirroring the TOML, with the
//! defaults of every optional key. Nothing here is validated; see
//! [`super::plan`] for that.
//!
//! Unknown keys are refused (`deny_unknown_fields`): a misspelt rate in a
//! load-test file would otherwise silently test nothing. (The wire protocol
//! does the opposite on purpose; this is configuration, not the wire.)

use super::ranges::{CountRange, DurationRange};
use rand::Rng;
use serde::{Deserialize, Serialize};
use server::Fault;
use std::collections::BTreeMap;
use std::time::Duration;

/// A scenario file (TOML). Top-level keys come first in the file, then the
/// `[friends]`, `[behaviour]`, `[content]`, `[slow_consumer]`, `[checker]`,
/// `[generator]`, `[embedded_server]` and `[coverage]` tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name used in reports; defaults to the shipped name or the file stem.
    #[serde(default)]
    pub name: String,
    /// One line saying what the scenario is for.
    #[serde(default)]
    pub description: String,
    /// Seed of users, friend graph and action schedule (`--seed` overrides).
    /// Any u64: above `i64::MAX` (TOML integers are signed) it is written
    /// as a decimal string, and read in either form.
    #[serde(default = "default_seed", with = "seed_format")]
    pub seed: u64,
    /// Number of simulated users (`--users` overrides).
    pub users: u32,
    /// Connections (devices) per user: `2` or `{ min = 1, max = 4 }`.
    #[serde(default = "default_connections")]
    pub connections_per_user: CountRange,
    /// Length of the run after the ramp-up (`--duration` overrides).
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Connect phase: the first connections spread over this long.
    #[serde(default = "default_ramp_up", with = "humantime_serde")]
    pub ramp_up: Duration,
    /// Connections opened with a token the server does not know, over the run.
    #[serde(default)]
    pub bad_tokens: u32,
    /// Threshold expressions, kept as raw strings for now (`--threshold` adds).
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// Faults to switch on in the embedded server (kebab-case names of `server::Fault`).
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// The friend graph.
    #[serde(default)]
    pub friends: Friends,
    /// What users do, and how often.
    #[serde(default)]
    pub behaviour: Behaviour,
    /// Message content sizes.
    #[serde(default)]
    pub content: Content,
    /// Connections that stop reading.
    #[serde(default)]
    pub slow_consumer: SlowConsumer,
    /// Invariant checker settings.
    #[serde(default)]
    pub checker: Checker,
    /// Settings of the generator itself.
    #[serde(default)]
    pub generator: Generator,
    /// Settings of the embedded server (ignored with `--target`).
    #[serde(default)]
    pub embedded_server: EmbeddedServer,
    /// Minimum count of each coverage event (INVARIANTS.md "Coverage gate").
    #[serde(default)]
    pub coverage: BTreeMap<String, u64>,
}

fn default_seed() -> u64 {
    1
}
/// Seeds in TOML. TOML integers are signed 64-bit, so a seed above
/// `i64::MAX` cannot be written as one: [`Scenario::to_toml`] writes it as a
/// decimal string (`seed = "18446744073709551615"`), and both forms are read.
mod seed_format {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(seed: &u64, s: S) -> Result<S::Ok, S::Error> {
        match i64::try_from(*seed) {
            Ok(v) => s.serialize_i64(v),
            Err(_) => s.serialize_str(&seed.to_string()),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(SeedVisitor)
    }

    struct SeedVisitor;

    impl Visitor<'_> for SeedVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(
                "an integer in 0..=18446744073709551615 (as a string above 9223372036854775807)",
            )
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
            v.trim()
                .parse()
                .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
        }
    }
}

fn default_connections() -> CountRange {
    CountRange::fixed(1)
}
fn default_ramp_up() -> Duration {
    Duration::from_secs(2)
}

/// The friend graph model: `model = "uniform"` or `model = "power_law"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Friends {
    /// Every user has about `degree` friends (exactly, where the pairing allows).
    Uniform {
        /// Friends per user (capped at users − 1).
        degree: u32,
    },
    /// Degrees follow a power law: P(k) ∝ k^(−exponent), `min ≤ k ≤ max`
    /// (max capped at users − 1), so a few users have thousands of friends.
    PowerLaw {
        /// Smallest expected degree.
        min: u32,
        /// Largest expected degree.
        max: u32,
        /// Exponent of the degree distribution (> 1; social graphs: 2–3).
        exponent: f64,
    },
}

impl Default for Friends {
    fn default() -> Self {
        Friends::Uniform { degree: 10 }
    }
}

/// Behaviours. The plain numbers without a suffix are rates in actions per
/// user per second, and scale together under `--rate`; `mark_read` and
/// `churn_all_devices` are probabilities; the rest are parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// WS `send_message` to a random friend.
    pub send_message: f64,
    /// `typing` → pause → `send_message`.
    pub typing_then_send: f64,
    /// The pause between `typing` and the message (or the `stop_typing`).
    pub typing_pause: DurationRange,
    /// `typing` → pause → `stop_typing`, without sending.
    pub typing_abandon: f64,
    /// Probability of a `mark_read` after receiving a message.
    pub mark_read: f64,
    /// `get_online_friends`.
    pub get_online_friends: f64,
    /// Device churn: close connections, reopen them after `churn_reopen_after`.
    pub device_churn: f64,
    /// How long a churned device stays closed.
    pub churn_reopen_after: DurationRange,
    /// Fraction of churn events that close every device of the user (the
    /// user goes offline); the others close one device while the rest stay open.
    pub churn_all_devices: f64,
    /// REST `POST /create_conversation` with a random friend.
    pub rest_create_conversation: f64,
    /// REST `POST /delete_conversation` of one of the user's conversations.
    pub rest_delete_conversation: f64,
    /// REST `POST /conversation/send_message`.
    pub rest_send_message: f64,
    /// How many `media_ids` a REST message carries (at most 10).
    pub rest_media_ids: CountRange,
    /// REST `POST /conversation/delete_message` of one of the user's messages.
    pub rest_delete_message: f64,
    /// REST friend request to a non-friend, accepted by the receiver.
    pub friend_request: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            send_message: 0.0,
            typing_then_send: 0.0,
            typing_pause: DurationRange::millis(300, 1500),
            typing_abandon: 0.0,
            mark_read: 0.0,
            get_online_friends: 0.0,
            device_churn: 0.0,
            churn_reopen_after: DurationRange::millis(500, 5000),
            churn_all_devices: 0.5,
            rest_create_conversation: 0.0,
            rest_delete_conversation: 0.0,
            rest_send_message: 0.0,
            rest_media_ids: CountRange { min: 0, max: 3 },
            rest_delete_message: 0.0,
            friend_request: 0.0,
        }
    }
}

impl Behaviour {
    /// The rates (actions per user per second) by TOML name, in a fixed order.
    pub fn rates(&self) -> [(&'static str, f64); 10] {
        [
            ("send_message", self.send_message),
            ("typing_then_send", self.typing_then_send),
            ("typing_abandon", self.typing_abandon),
            ("get_online_friends", self.get_online_friends),
            ("device_churn", self.device_churn),
            ("rest_create_conversation", self.rest_create_conversation),
            ("rest_delete_conversation", self.rest_delete_conversation),
            ("rest_send_message", self.rest_send_message),
            ("rest_delete_message", self.rest_delete_message),
            ("friend_request", self.friend_request),
        ]
    }

    /// The rates, mutably, in the order of [`Behaviour::rates`].
    pub fn rates_mut(&mut self) -> [&mut f64; 10] {
        [
            &mut self.send_message,
            &mut self.typing_then_send,
            &mut self.typing_abandon,
            &mut self.get_online_friends,
            &mut self.device_churn,
            &mut self.rest_create_conversation,
            &mut self.rest_delete_conversation,
            &mut self.rest_send_message,
            &mut self.rest_delete_message,
            &mut self.friend_request,
        ]
    }

    /// Sum of all rates: actions per user per second.
    pub fn total_rate(&self) -> f64 {
        self.rates().iter().map(|(_, r)| r).sum()
    }
}

/// How content sizes are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeDistribution {
    /// Uniform over `min_bytes..=max_bytes`.
    #[default]
    Uniform,
    /// Log-uniform: as many 64–128 byte messages as 2–4 KiB ones, like chat.
    LogUniform,
}

/// Message content sizes, in bytes. The checker's header lives in the
/// first bytes, so `min_bytes` is at least 64; the protocol caps at 4096.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Content {
    /// Smallest content (≥ 64).
    pub min_bytes: u32,
    /// Largest content (≤ 4096).
    pub max_bytes: u32,
    /// How sizes are drawn between the two.
    pub distribution: SizeDistribution,
}

impl Default for Content {
    fn default() -> Self {
        Content {
            min_bytes: 64,
            max_bytes: 256,
            distribution: SizeDistribution::Uniform,
        }
    }
}

impl Content {
    /// One content size in bytes.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        let (lo, hi) = (self.min_bytes.min(self.max_bytes), self.max_bytes);
        if lo == hi {
            return lo as usize;
        }
        match self.distribution {
            SizeDistribution::Uniform => rng.gen_range(lo..=hi) as usize,
            SizeDistribution::LogUniform => {
                let (a, b) = (f64::from(lo.max(1)).ln(), f64::from(hi).ln());
                let v = rng.gen_range(a..=b).exp().round() as u32;
                v.clamp(lo, hi) as usize
            }
        }
    }
}

/// Slow consumers: connections that stop reading, so the server's outbound
/// queue fills and it closes them with 4010.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlowConsumer {
    /// Fraction of connections (0–1) that stop reading.
    pub fraction: f64,
    /// How long after it opened a slow connection stops reading.
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    /// How long it stays stalled before it drains what is buffered (a
    /// frozen phone coming back): long enough for the server's queue to
    /// fill, after which the drain shows the server's close (4010).
    #[serde(with = "humantime_serde")]
    pub stall: Duration,
}

impl Default for SlowConsumer {
    fn default() -> Self {
        SlowConsumer {
            fraction: 0.0,
            after: Duration::from_secs(5),
            stall: Duration::from_secs(10),
        }
    }
}

/// Invariant checker settings (INVARIANTS.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Checker {
    /// Time between quiescence barriers; `"0s"` = only the final one.
    #[serde(with = "humantime_serde")]
    pub barrier_interval: Duration,
    /// δ, the grace before "late" becomes "lost": the floor of
    /// max(delta, 20 × current p99.9 delivery latency).
    #[serde(with = "humantime_serde")]
    pub delta: Duration,
    /// At a barrier, how long nothing may arrive before checks run.
    #[serde(with = "humantime_serde")]
    pub quiet: Duration,
    /// Most messages per conversation read back from history at a barrier (≤ 500).
    pub history_cap: u32,
    /// How long the final barrier may wait, with the load stopped, for the
    /// last sends to become δ old so that their losses can be judged.
    /// What is still younger is reported as undecided, never as clean.
    #[serde(with = "humantime_serde")]
    pub final_wait: Duration,
    /// Messages per conversation the target keeps (`chat-server
    /// --history-per-conversation`); unset: the reference server's default
    /// (1,000). The embedded server is started with it, and I11 judges
    /// only the messages such a bound must keep. A target that keeps more
    /// (or everything) is judged soundly, a little less strictly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_retention: Option<u32>,
}

impl Default for Checker {
    fn default() -> Self {
        Checker {
            barrier_interval: Duration::from_secs(5),
            delta: Duration::from_secs(2),
            quiet: Duration::from_millis(200),
            history_cap: 500,
            final_wait: Duration::from_secs(60),
            history_retention: None,
        }
    }
}

/// Settings of the generator itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Generator {
    /// Generator lag (actual − intended send time) p99 above this marks the run saturated.
    #[serde(with = "humantime_serde")]
    pub saturation_lag: Duration,
    /// Fraction of its own thread the generator burns in a busy loop (0 to
    /// 0.95): a reproducible saturated generator, to check that verdicts
    /// stay sound and can still fail at the edge (issue 12). `--target`
    /// only: the embedded server shares the generator's runtime.
    #[serde(skip_serializing_if = "is_zero")]
    pub starve: f64,
    /// Pace actions on a high-resolution timer (lag p50 in tens of µs).
    /// `false` uses tokio's 1 ms timer alone, which adds ~1 ms of the
    /// generator's own lag to every latency measured from the intended
    /// time; it exists to measure what precise pacing costs.
    pub precise_pacing: bool,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

impl Default for Generator {
    fn default() -> Self {
        Generator {
            saturation_lag: Duration::from_millis(50),
            starve: 0.0,
            precise_pacing: true,
        }
    }
}

/// Settings of the embedded server; an external server (`--target`) is
/// configured by whoever runs it, so these are then ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmbeddedServer {
    /// Events queued per connection before a 4010 close; unset = the server's default (1024).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_queue: Option<u32>,
    /// Kernel send buffer per socket in bytes; unset = the kernel's autotuning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_buffer: Option<u32>,
}
