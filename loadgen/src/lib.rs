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
    let output = driver::run(&config).await?;
    let facts = report::RunFacts::new(
        &config.plan,
        &config.target.describe(),
        output.users,
        output.connections,
        output.elapsed,
    );
    let report = report::Report::build(&facts, &output.recorder, output.invariants.clone());
    write_outputs(&config, &report, &output)?;
    let violations = report.invariants.violations.len();
    Ok(Outcome::decide(
        violations,
        Vec::new(),
        report.generator.saturated,
        false,
    ))
}

/// Prints the summary and writes `--json` and `--hdr-log`.
fn write_outputs(
    config: &cli::RunConfig,
    report: &report::Report,
    output: &driver::RunOutput,
) -> Result<(), LoadgenError> {
    let stdout = std::io::stdout();
    report::text::write_summary(report, &mut stdout.lock())
        .map_err(|e| LoadgenError::io("<stdout>", e))?;
    if let Some(path) = &config.json {
        report
            .write_json(path)
            .map_err(|e| LoadgenError::io(path, e))?;
    }
    if let Some(path) = &config.hdr_log {
        let start = std::time::SystemTime::now() - output.elapsed;
        let mut log = report::hdrlog::HdrLog::create(path, start, &config.plan.replay_command())
            .map_err(|e| LoadgenError::io(path, e))?;
        let mut prev = std::time::Duration::ZERO;
        for (at, rec) in &output.intervals {
            log.write_interval(rec, prev, at.saturating_sub(prev))
                .map_err(|e| LoadgenError::io(path, e))?;
            prev = *at;
        }
        log.finish().map_err(|e| LoadgenError::io(path, e))?;
    }
    Ok(())
}
