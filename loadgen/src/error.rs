//! Errors at the top of the load generator, and how a run ends.
//!
//! [`LoadgenError`] is the boundary error of [`crate::run`]: every module's
//! own error converts into it, and [`LoadgenError::exit_code`] maps it to the
//! exit codes of CLI.md. [`Outcome`] is how a run that *completed* ends:
//! clean, with invariant violations, or with a threshold breach.
//!
//! Every error is exit code 2 ("usage or configuration error"): a bad flag, a
//! bad scenario, an unreachable target, a file that cannot be written and a
//! plan too big for the open-files limit are all things the person running
//! `loadgen` must fix before a run can say anything about the server. Codes
//! 1 and 3 are verdicts about the server and the run, so they only come from
//! an [`Outcome`].

use crate::fdlimit::FdLimitError;
use crate::population::PopulationError;
use crate::scenario::ScenarioError;
use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Exit code of a clean run.
pub const EXIT_CLEAN: u8 = 0;
/// Exit code of a run that found at least one invariant violation.
pub const EXIT_VIOLATIONS: u8 = 1;
/// Exit code of a usage or configuration error (and of every [`LoadgenError`]).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a threshold breach, or of a saturated generator when a threshold asks.
pub const EXIT_THRESHOLD: u8 = 3;

/// Why `loadgen` could not run (or finish) a load test. All map to exit code 2.
#[derive(Debug, Error)]
pub enum LoadgenError {
    /// Flags that do not fit together (e.g. `--fault` with `--target`).
    #[error("usage: {0}")]
    Usage(String),
    /// A configuration problem not tied to one scenario field.
    #[error("configuration: {0}")]
    Config(String),
    /// A scenario that does not parse or validate; names the field.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// A `--population` file that does not load or validate.
    #[error(transparent)]
    Population(#[from] PopulationError),
    /// The plan needs more sockets than the open-files limit allows.
    #[error(transparent)]
    FdLimit(#[from] FdLimitError),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The server under test could not be reached, or refused provisioning.
    #[error("target {url} unreachable: {message}")]
    Unreachable {
        /// The `--target` URL (or the embedded server's address).
        url: String,
        /// What failed, e.g. "connection refused" or "401 on POST /admin/users/bulk".
        message: String,
    },
    /// The embedded server, the runtime or a task failed in a way no flag can fix.
    #[error("internal error: {0}")]
    Internal(String),
}

impl LoadgenError {
    /// The process exit code for this error (CLI.md): always 2, because each
    /// of these is something to fix before the run can judge the server.
    pub fn exit_code(&self) -> u8 {
        EXIT_USAGE
    }

    /// An [`LoadgenError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> LoadgenError {
        LoadgenError::Io {
            path: path.into(),
            source,
        }
    }
}

/// How a completed run ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No violation, no threshold breached: exit 0.
    Clean,
    /// At least one invariant violation (this many): exit 1.
    Violations(usize),
    /// These thresholds (their expressions, or `saturated`) were breached: exit 3.
    ThresholdBreach(Vec<String>),
}

impl Outcome {
    /// Decides the outcome from the run's verdicts.
    ///
    /// Violations win over threshold breaches: a server that breaks the
    /// protocol is the more important news, and exit 1 says so. A saturated
    /// generator is a breach only when `fail_on_saturation` (a threshold asked
    /// for it); it is then listed as `"saturated"`.
    pub fn decide(
        violations: usize,
        mut breaches: Vec<String>,
        saturated: bool,
        fail_on_saturation: bool,
    ) -> Outcome {
        if violations > 0 {
            return Outcome::Violations(violations);
        }
        if saturated && fail_on_saturation {
            breaches.push("saturated".to_owned());
        }
        if breaches.is_empty() {
            Outcome::Clean
        } else {
            Outcome::ThresholdBreach(breaches)
        }
    }

    /// The process exit code (CLI.md): 0, 1 or 3.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Clean => EXIT_CLEAN,
            Outcome::Violations(_) => EXIT_VIOLATIONS,
            Outcome::ThresholdBreach(_) => EXIT_THRESHOLD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_codes_and_precedence() {
        assert_eq!(Outcome::decide(0, vec![], false, false), Outcome::Clean);
        assert_eq!(Outcome::decide(0, vec![], true, false), Outcome::Clean);
        assert_eq!(
            Outcome::decide(0, vec![], true, true),
            Outcome::ThresholdBreach(vec!["saturated".into()])
        );
        assert_eq!(
            Outcome::decide(2, vec!["p99 < 5ms".into()], true, true).exit_code(),
            1
        );
        assert_eq!(
            Outcome::decide(0, vec!["p99 < 5ms".into()], false, false).exit_code(),
            3
        );
        assert_eq!(Outcome::Clean.exit_code(), 0);
    }

    #[test]
    fn every_error_is_exit_2() {
        assert_eq!(LoadgenError::Usage("x".into()).exit_code(), 2);
        let e = LoadgenError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            message: "connection refused".into(),
        };
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("http://127.0.0.1:1"));
    }
}
