//! # loadgen
//!
//! A load generator for the chat protocol (PROTOCOL.md) that also checks the
//! protocol's guarantees under load (INVARIANTS.md). `main.rs` only parses
//! flags and calls [`run`], so tests run whole load tests in-process.
//!
//! # Layout
//!
//! - [`cli`]: flags ([`cli::Opts`]) → a validated [`cli::RunConfig`].
//! - [`scenario`]: a TOML scenario (shipped or from disk) → a validated [`scenario::Plan`].
//! - [`population`]: users, devices and friend graph from the plan's seed
//!   (or a `--population` file); deterministic per-user random streams.
//! - [`driver`]: connections and behaviours against the embedded or an external server.
//! - [`checker`]: the invariants, as pure functions over observations.
//! - [`metrics`]: latency kinds and the per-task [`metrics::Recorder`], merged, never shared.
//! - [`report`]: the [`report::Report`] (JSON schema), the text summary and the hdr log.
//! - [`fdlimit`]: the open-files limit, raised and checked before a run.
//! - [`error`]: [`LoadgenError`] and the run's [`Outcome`], with their exit codes.

pub mod checker;
pub mod cli;
pub mod driver;
pub mod error;
pub mod fdlimit;
pub mod metrics;
pub mod population;
pub mod report;
pub mod scenario;

pub use error::{LoadgenError, Outcome};

/// Runs one load test as `opts` say, and returns how it ended.
///
/// Validates the flags and the scenario, raises the open-files limit and
/// refuses a plan that cannot fit it, then hands over to the driver.
pub async fn run(opts: cli::Opts) -> Result<Outcome, LoadgenError> {
    let config = opts.validate()?;
    fdlimit::ensure(config.plan.max_connections(), config.target.mode())?;
    tracing::info!(
        scenario = %config.plan.name,
        seed = config.plan.seed,
        target = %config.target.describe(),
        "plan validated"
    );
    // The driver (written concurrently) takes over here.
    Err(LoadgenError::Config("driver not yet implemented".into()))
}
