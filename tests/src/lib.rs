//! Test support for the contract tests (`tests/tests/`): every row of
//! `PROTOCOL.md` is exercised through real sockets against an embedded
//! server bound to `127.0.0.1:0`.
//!
//! # Layout
//!
//! - [`server`]: [`TestServer`], one embedded server per test (no global
//!   state, so tests run in parallel), with user and friendship provisioning
//!   through the admin REST endpoints.
//! - [`ws`]: [`WsClient`], a WebSocket client whose every read is bounded by
//!   a timeout that names what was awaited. Tests never sleep to synchronize:
//!   every action is followed by waiting for the frame it must produce; a
//!   short silence window is used only where the contract says nothing is
//!   sent.
//! - [`rest`]: [`Rest`], a bearer-authenticated REST client returning
//!   [`Reply`] (status and body) with assertions on both.
//! - [`metrics`]: parsing of the Prometheus text at `/metrics`, matched by
//!   substring since the exact metric names are the server's choice.
//! - [`model`]: §8's error precedence as a model for generated frames.
//! - [`binary`]: locating (and if needed building) the `chat-server` binary.

pub mod binary;
pub mod metrics;
pub mod model;
pub mod rest;
pub mod server;
pub mod ws;

pub use rest::{Reply, Rest};
pub use server::{TestServer, User};
pub use ws::{silent_all, WsClient};

use std::time::Duration;

/// How long any awaited frame or reply may take before the test fails.
/// Generous: the machine running the tests may be shared and slow.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How long we listen to make sure nothing arrives, used only where the
/// contract says nothing is sent.
pub const SILENCE: Duration = Duration::from_millis(200);

/// Whether `s` is a timestamp in the contract's format (§3): UTC, ISO 8601
/// without offset, microsecond precision: `2024-01-01T12:00:00.000000`.
pub fn is_timestamp(s: &str) -> bool {
    const PATTERN: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddddd";
    s.len() == PATTERN.len()
        && s.bytes().zip(PATTERN).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == *p,
        })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn timestamp_format() {
        assert!(is_timestamp("2024-01-01T12:00:00.000000"));
        assert!(!is_timestamp("2024-01-01T12:00:00.000"));
        assert!(!is_timestamp("2024-01-01T12:00:00.000000Z"));
        assert!(!is_timestamp("2024-01-01 12:00:00.000000"));
    }
}
