//! Scenarios: a TOML file in, a validated [`Plan`] out.
//!
//! - [`file`]: the serde types of a scenario file ([`Scenario`]) and defaults.
//! - [`ranges`]: value-or-range fields (`2` or `{ min = 1, max = 4 }`).
//! - [`plan`]: [`Overrides`] from the command line, applied and validated into a [`Plan`].
//!
//! The shipped scenarios (`scenarios/*.toml` at the workspace root) are
//! compiled into the binary with `include_str!`, so `loadgen --scenario smoke`
//! works from any directory; anything with a `/` or ending in `.toml` is read
//! from disk instead.
//!
//! Every error names the field: TOML errors are mapped from their byte span
//! back to `table.key`, and validation errors carry the field (or the flag
//! that set it), e.g. `scenario field 'behaviour.send_message': must be >= 0, got -1`.

pub mod file;
pub mod plan;
pub mod ranges;
#[cfg(test)]
mod tests;

pub use file::{
    Behaviour, Checker, Content, EmbeddedServer, Friends, Generator, Scenario, SizeDistribution,
    SlowConsumer,
};
pub use plan::{Overrides, Plan};
pub use ranges::{CountRange, DurationRange};

use std::path::Path;
use thiserror::Error;

/// The scenarios shipped with the binary: name → TOML text.
pub const SHIPPED: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../scenarios/smoke.toml")),
    ("chat", include_str!("../../../scenarios/chat.toml")),
    (
        "presence-churn",
        include_str!("../../../scenarios/presence-churn.toml"),
    ),
    ("typing", include_str!("../../../scenarios/typing.toml")),
    (
        "multi-device",
        include_str!("../../../scenarios/multi-device.toml"),
    ),
    ("fanout", include_str!("../../../scenarios/fanout.toml")),
    ("rest-mix", include_str!("../../../scenarios/rest-mix.toml")),
    (
        "slow-consumer",
        include_str!("../../../scenarios/slow-consumer.toml"),
    ),
    ("soak", include_str!("../../../scenarios/soak.toml")),
    (
        "messages-only",
        include_str!("../../../scenarios/messages-only.toml"),
    ),
];

/// Why a scenario could not be loaded or validated.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// A field has a bad value (or a TOML error located at that field).
    #[error("scenario field '{field}': {message}")]
    Field {
        /// `table.key` as written in the TOML, e.g. `behaviour.send_message`.
        field: String,
        /// What is wrong and what was given.
        message: String,
    },
    /// A command-line override has a bad value.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--users`.
        flag: String,
        /// What is wrong and what was given.
        message: String,
    },
    /// The TOML does not parse and the error cannot be tied to a field.
    #[error("scenario {origin}: {message}")]
    Syntax {
        /// The shipped name or the path.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// `--scenario NAME` is not a shipped scenario.
    #[error("scenario '{name}' is not a shipped scenario (known: {known}); to load a file give a path containing '/' or ending in .toml")]
    Unknown {
        /// What was asked for.
        name: String,
        /// The shipped names, comma-separated.
        known: String,
    },
    /// A scenario file could not be read.
    #[error("scenario file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Scenario {
    /// Loads a shipped scenario by NAME, or a file by PATH (anything
    /// containing `/` or ending in `.toml`).
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if name_or_path.contains('/') || name_or_path.ends_with(".toml") {
            let text =
                std::fs::read_to_string(name_or_path).map_err(|source| ScenarioError::Read {
                    path: name_or_path.to_owned(),
                    source,
                })?;
            let stem = Path::new(name_or_path).file_stem().map_or_else(
                || name_or_path.to_owned(),
                |s| s.to_string_lossy().into_owned(),
            );
            Scenario::parse(&text, &stem)
        } else {
            let text = shipped(name_or_path).ok_or_else(|| ScenarioError::Unknown {
                name: name_or_path.to_owned(),
                known: SHIPPED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
            Scenario::parse(text, name_or_path)
        }
    }

    /// Parses scenario TOML; `default_name` becomes the name if the file sets none.
    pub fn parse(text: &str, default_name: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_owned();
            // A missing key's span is its table: name the key, not the
            // table's first line.
            if let (Some(key), Some(span)) = (missing_key(&message), e.span()) {
                let table = table_at(text, span.start);
                return ScenarioError::Field {
                    field: if table.is_empty() {
                        key
                    } else {
                        format!("{table}.{key}")
                    },
                    message: "is required but missing".to_owned(),
                };
            }
            match e.span().and_then(|sp| field_at(text, sp.start)) {
                Some(field) => ScenarioError::Field { field, message },
                None => ScenarioError::Syntax {
                    origin: default_name.to_owned(),
                    message,
                },
            }
        })?;
        if s.name.is_empty() {
            default_name.clone_into(&mut s.name);
        }
        Ok(s)
    }

    /// The scenario as TOML (e.g. to show the plan that ran).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

impl Plan {
    /// Loads `name_or_path` ([`Scenario::load`]) and builds the plan
    /// ([`Plan::from_scenario`]), remembering the source for the replay command.
    pub fn load(name_or_path: &str, overrides: &Overrides) -> Result<Plan, ScenarioError> {
        let mut plan = Plan::from_scenario(Scenario::load(name_or_path)?, overrides)?;
        name_or_path.clone_into(&mut plan.source);
        Ok(plan)
    }
}

/// The text of a shipped scenario.
pub fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// `users` from serde's "missing field `users`".
fn missing_key(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

/// The table (`[name]` header) that byte `offset` is in; empty at top level.
fn table_at(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        if start > offset {
            break;
        }
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let name = trimmed
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("");
            table = name.trim().to_owned();
        }
        start += line.len();
    }
    table
}

/// The `table.key` at byte `offset` of a TOML text, found from the line's
/// key and the last `[table]` header above it; `None` outside any key.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let mut table = String::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            let name = trimmed.trim_start_matches('[');
            let name = name.split(']').next().unwrap_or("").trim();
            if (start..end).contains(&offset) {
                return (!name.is_empty()).then(|| name.to_owned());
            }
            table = name.to_owned();
        } else if (start..end).contains(&offset) || (offset >= end && end == text.len()) {
            let key = trimmed.split('=').next().unwrap_or("").trim();
            let key_ok = trimmed.contains('=')
                && !key.is_empty()
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c));
            return match (key_ok, table.is_empty()) {
                (true, true) => Some(key.to_owned()),
                (true, false) => Some(format!("{table}.{key}")),
                (false, false) => Some(table),
                (false, true) => None,
            };
        }
        start = end;
    }
    None
}
