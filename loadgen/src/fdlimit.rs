//! Open files: raise the soft `RLIMIT_NOFILE` to the hard limit at start
//! (as the server does, CLI.md), and refuse up front a plan that needs more
//! sockets than the limit allows, rather than failing halfway through the
//! ramp-up with `EMFILE` and a report that measures nothing.
//!
//! Sockets per WebSocket connection: 2 in embedded mode (the client's end
//! and the embedded server's end live in this process), 1 against an
//! external server. [`SPARE_FDS`] more cover REST connection pools, the
//! listener, files, stdio and the runtime.

use thiserror::Error;

/// File descriptors kept for everything that is not a WebSocket.
pub const SPARE_FDS: u64 = 100;

/// Where the server runs, which decides the sockets per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The in-memory server runs inside loadgen: 2 fds per connection.
    Embedded,
    /// `--target`: 1 fd per connection.
    External,
}

impl Mode {
    /// File descriptors per WebSocket connection.
    pub fn fds_per_connection(self) -> u64 {
        match self {
            Mode::Embedded => 2,
            Mode::External => 1,
        }
    }
}

/// The plan does not fit the open-files limit.
#[derive(Debug, Error)]
pub enum FdLimitError {
    /// More descriptors needed than allowed.
    #[error(
        "this plan needs {needed} open files ({connections} connections × {per} fd{plural} in {mode} mode + {SPARE_FDS} spare) \
         but the open-files limit is {soft} (hard limit {hard}); lower --users or --connections-per-user, \
         or raise the hard limit (ulimit -Hn)"
    )]
    TooMany {
        /// Descriptors the plan needs.
        needed: u64,
        /// Its WebSocket connections.
        connections: u64,
        /// Descriptors per connection.
        per: u64,
        /// "s" or "".
        plural: &'static str,
        /// "embedded" or "external".
        mode: &'static str,
        /// The soft limit in force.
        soft: u64,
        /// The hard limit.
        hard: u64,
    },
    /// The limit could not be read or raised.
    #[error("cannot read or raise the open-files limit: {0}")]
    Os(#[from] std::io::Error),
}

/// Descriptors needed for `connections` WebSockets in `mode`, spare included.
pub fn needed(connections: u64, mode: Mode) -> u64 {
    connections
        .saturating_mul(mode.fds_per_connection())
        .saturating_add(SPARE_FDS)
}

/// Raises the soft open-files limit to the hard limit; returns (soft, hard) after.
pub fn raise() -> Result<(u64, u64), FdLimitError> {
    let soft = rlimit::increase_nofile_limit(u64::MAX)?;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    Ok((soft, hard))
}

/// Checks `connections` in `mode` against a soft limit (pure; see [`ensure`]).
pub fn check(connections: u64, mode: Mode, soft: u64, hard: u64) -> Result<(), FdLimitError> {
    let need = needed(connections, mode);
    if need <= soft {
        return Ok(());
    }
    let per = mode.fds_per_connection();
    Err(FdLimitError::TooMany {
        needed: need,
        connections,
        per,
        plural: if per == 1 { "" } else { "s" },
        mode: match mode {
            Mode::Embedded => "embedded",
            Mode::External => "external",
        },
        soft,
        hard,
    })
}

/// Raises the limit, then checks that `connections` fit; returns the soft limit.
pub fn ensure(connections: u64, mode: Mode) -> Result<u64, FdLimitError> {
    let (soft, hard) = raise()?;
    check(connections, mode, soft, hard)?;
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_needs_two_per_connection() {
        assert_eq!(needed(9_000, Mode::Embedded), 18_100);
        assert_eq!(needed(9_000, Mode::External), 9_100);
        assert!(check(9_000, Mode::Embedded, 20_000, 20_000).is_ok());
        assert!(check(9_000, Mode::External, 9_100, 9_100).is_ok());
    }

    #[test]
    fn refusal_says_what_and_how_to_fix() {
        let e = check(10_000, Mode::Embedded, 16_384, 16_384).expect_err("20,100 > 16,384");
        let msg = e.to_string();
        assert!(msg.contains("20100"), "{msg}");
        assert!(msg.contains("16384"), "{msg}");
        assert!(msg.contains("--users"), "{msg}");
        assert!(msg.contains("embedded"), "{msg}");
    }

    #[test]
    fn raise_reaches_the_hard_limit() {
        let (soft, hard) = raise().expect("getrlimit works on Linux");
        assert!(soft <= hard);
        assert!(soft >= 1024);
    }
}
