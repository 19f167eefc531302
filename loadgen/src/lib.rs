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
//! - [`threshold`]: `--threshold` / SLO expressions, parsed and evaluated against a report.
//! - [`capacity`]: `loadgen capacity`, the step-and-bisect search for the largest load meeting the SLOs.
//! - [`compare`]: `loadgen compare`, per-kind deltas between two JSON reports.
//! - [`live`]: watching a run: `--metrics-addr` (Prometheus) and `--events` (JSON lines).
//! - [`fdlimit`]: the open-files limit, raised and checked before a run.
//! - [`error`]: [`LoadgenError`] and the run's [`Outcome`], with their exit codes.

pub mod capacity;
pub mod checker;
pub mod cli;
pub mod compare;
pub mod driver;
pub mod error;
pub mod fdlimit;
pub mod live;
pub mod merge;
pub mod metrics;
pub mod population;
pub mod report;
pub mod scenario;
pub mod threshold;

pub use error::{LoadgenError, Outcome};

/// Runs the subcommand `cmd` ([`cli::Command`]) and returns how it ended.
pub async fn run_command(cmd: cli::Command) -> Result<Outcome, LoadgenError> {
    match cmd {
        cli::Command::Run(opts) => run(*opts).await,
        cli::Command::Capacity(opts) => capacity::run(*opts).await,
        cli::Command::Compare(opts) => compare::run(&opts),
        cli::Command::Merge(opts) => merge::run(&opts),
        cli::Command::Provision(opts) => provision(&opts).await,
    }
}

/// `loadgen provision --out FILE [run options]`: creates the run's users
/// and friendships on the `--target` once, and writes them as a
/// `--population` file for the shards (docs/scale-out.md).
pub async fn provision(opts: &cli::ProvisionOpts) -> Result<Outcome, LoadgenError> {
    if opts.run.population.is_some() || opts.run.target.is_none() {
        return Err(LoadgenError::Usage(
            "loadgen provision needs --target and --admin-token, and no --population".into(),
        ));
    }
    let config = opts.run.validate()?;
    cli::check_output("--out", &opts.out)?;
    let population = population::Population::generate(&config.plan);
    let server = driver::provision::server(&config.plan, &config.target).await?;
    let http = reqwest::Client::new();
    let users = driver::provision::users(&http, &server, &config.target, &population).await?;
    let ext = population::External {
        users: users
            .iter()
            .map(|u| population::ExternalUser {
                user_id: u.id,
                token: u.token.clone(),
                username: None,
            })
            .collect(),
        friendships: population
            .pairs()
            .map(|(a, b)| (users[a as usize].id, users[b as usize].id))
            .collect(),
    };
    let text = serde_json::to_string(&ext).map_err(|e| LoadgenError::Internal(e.to_string()))?;
    std::fs::write(&opts.out, text).map_err(|e| LoadgenError::io(&opts.out, e))?;
    println!(
        "provisioned {} users and {} friendships on {}; wrote {}",
        ext.users.len(),
        ext.friendships.len(),
        config.target.describe(),
        opts.out.display()
    );
    Ok(Outcome::Clean)
}

/// Runs one load test as `opts` say, and returns how it ended.
///
/// Validates the flags and the scenario, raises the open-files limit and
/// refuses a plan that cannot fit it, then hands over to the driver.
pub async fn run(opts: cli::Opts) -> Result<Outcome, LoadgenError> {
    let config = opts.validate()?;
    // Thresholds are checked now, not after a long run (exit 2 naming the expression).
    let thresholds = threshold::parse_all(&config.plan.thresholds)
        .map_err(|e| LoadgenError::Config(e.to_string()))?;
    // Coverage minimums name the checker's hard cases (INVARIANTS.md).
    for name in config.plan.coverage.keys() {
        name.parse::<checker::CoverageKind>().map_err(|_| {
            LoadgenError::Config(format!(
                "scenario field 'coverage.{name}': not a coverage counter (one of {})",
                checker::CoverageKind::ALL.map(|k| k.as_str()).join(", ")
            ))
        })?;
    }
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
    let mut report = report::Report::build(&facts, &output.recorder, output.invariants.clone());
    if let Some(dir) = &config.shard_out {
        // A shard: its output is for `loadgen merge`, which judges the
        // thresholds and gives the verdict on the whole run.
        merge::write_shard(dir, &config, &facts, &report, &output)?;
        let mut summary = report.clone();
        summary.thresholds.clear();
        report::text::write_summary(&summary, &mut std::io::stdout().lock())
            .map_err(|e| LoadgenError::io("<stdout>", e))?;
        println!(
            "shard {}/{}: output written to {}; this is not a verdict: run `loadgen merge` on every shard's output",
            config.shard.index,
            config.shard.count,
            dir.display()
        );
        let violations = report.invariants.violations.len();
        return Ok(Outcome::decide(violations, Vec::new(), false, false));
    }
    report.thresholds = threshold::evaluate_all(&thresholds, &report);
    write_outputs(&config, &report, &output, &thresholds)?;
    let violations = report.invariants.violations.len();
    let mut breaches = threshold::breaches(&report.thresholds);
    // The coverage gate: a run that never met a hard case the scenario
    // requires proved too little to pass.
    for (name, min) in &config.plan.coverage {
        let got = report.invariants.coverage.get(name).copied().unwrap_or(0);
        if got < *min {
            println!("coverage gate FAILED: {name} = {got}, the scenario requires >= {min}");
            breaches.push(format!("coverage.{name}>={min}"));
        }
    }
    // An undecided check is not a pass (CLI.md): exit 3, named per cause.
    for (key, u) in &report.invariants.undecided {
        breaches.push(format!("undecided.{key} ({} {})", u.invariants, u.count));
    }
    // `generator.saturated==false` is itself a threshold, so saturation is
    // fatal exactly when one asks, through the breach list.
    let outcome = Outcome::decide(violations, breaches, report.generator.saturated, false);
    output.live.finish(&report, &outcome).await?;
    Ok(outcome)
}

/// Prints the summary and the thresholds, and writes `--json`, `--hdr-log` and `--html`.
fn write_outputs(
    config: &cli::RunConfig,
    report: &report::Report,
    output: &driver::RunOutput,
    thresholds: &[threshold::Threshold],
) -> Result<(), LoadgenError> {
    let stdout = std::io::stdout();
    {
        // The summary without its one-word threshold lines: the table below
        // shows each threshold with its observed value.
        let mut summary = report.clone();
        summary.thresholds.clear();
        let mut out = stdout.lock();
        report::text::write_summary(&summary, &mut out)
            .and_then(|()| threshold::write_results(thresholds, &report.thresholds, &mut out))
            .map_err(|e| LoadgenError::io("<stdout>", e))?;
    }
    if let Some(path) = &config.html {
        report::html::write(path, report, &output.recorder, &output.intervals)
            .map_err(|e| LoadgenError::io(path, e))?;
    }
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
            log.write_interval(&rec.expand(), prev, at.saturating_sub(prev))
                .map_err(|e| LoadgenError::io(path, e))?;
            prev = *at;
        }
        log.finish().map_err(|e| LoadgenError::io(path, e))?;
    }
    Ok(())
}
