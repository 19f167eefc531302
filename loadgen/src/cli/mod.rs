//! The command line: raw [`Opts`] (clap derive) turned into a validated
//! [`RunConfig`] before anything runs (ripgrep's low-args → high-args).
//!
//! Parse errors exit 2 (clap's default); so does every validation error,
//! which names the flag or the scenario field and says what is wrong.

use crate::driver::shared::ShardSpec;
use crate::error::LoadgenError;
use crate::fdlimit::Mode;
use crate::population::External;
use crate::scenario::{CountRange, Overrides, Plan};
use clap::Parser;
use server::Fault;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const EXAMPLES: &str = "\
Examples:
  # The CI smoke run, against the embedded server
  # (exit 0 clean, 1 invariant violation, 2 usage/config error, 3 threshold breach)
  loadgen --scenario smoke

  # The chat scenario against a running server, provisioning users with its admin token
  loadgen --scenario chat --target http://127.0.0.1:8000 --admin-token \"$CHAT_ADMIN_TOKEN\"

  # Existing users and friendships instead of provisioning
  loadgen --scenario chat --target http://127.0.0.1:8000 --population users.json

  # Machine-readable report and an HdrHistogram interval log, no progress bar
  loadgen --scenario fanout --json report.json --hdr-log latency.hlog --quiet

  # Same behaviour mix at 1 message per user per second, shorter, fixed seed
  loadgen --scenario chat --rate 1 --duration 30s --seed 7

  # Show that the checker catches a broken server (embedded server only)
  loadgen --scenario smoke --fault no-echo

  # Your own scenario file, 500 users with 1 to 3 devices each
  loadgen --scenario ./my-scenario.toml --users 500 --connections-per-user 1..=3

  # Thresholds (also `thresholds = [...]` in a scenario) and a visual report
  loadgen --scenario chat --threshold 'message_delivery.p99<20ms' \
    --threshold 'errors.rate<0.001' --threshold 'generator.saturated==false' --html report.html

  # Watch a long run: Prometheus at :9464/metrics, and a JSON-lines stream to tail
  loadgen --scenario soak --metrics-addr 127.0.0.1:9464 --events events.jsonl

  # Subcommands (`loadgen run ...` is the same as `loadgen ...`):
  # the largest number of users meeting an SLO, and a CI regression check
  loadgen capacity --scenario chat --slo 'message_delivery.p99<20ms' --min 500 --max 4000
  loadgen compare base.json new.json --tolerance 10%

Shipped scenarios: smoke, chat, presence-churn, typing, multi-device, fanout,
rest-mix, slow-consumer, soak. Durations are humantime strings: 500ms, 15s, 2m.";

/// `loadgen`: simulated chat users, honest latency, protocol invariants checked under load.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Opts {
    /// Scenario: a shipped NAME or a PATH to a TOML file (contains '/' or ends in .toml).
    #[arg(long, short = 's', value_name = "NAME|PATH")]
    pub scenario: String,

    /// Drive an external server at this base URL instead of the embedded one.
    #[arg(long, value_name = "http://HOST:PORT")]
    pub target: Option<String>,

    /// Admin token of the --target server, to provision users and friendships.
    #[arg(
        long,
        env = "CHAT_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,

    /// With --target: use these existing users and friendships (JSON) instead of provisioning.
    #[arg(long, value_name = "FILE")]
    pub population: Option<PathBuf>,

    /// Number of users (overrides the scenario).
    #[arg(long, value_name = "N")]
    pub users: Option<u32>,

    /// Connections per user: N, or a uniform range MIN..=MAX (overrides the scenario).
    #[arg(long, value_name = "N|MIN..=MAX", value_parser = parse_count_range)]
    pub connections_per_user: Option<CountRange>,

    /// Run length after the ramp-up, e.g. 30s or 5m (overrides the scenario).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// send_message actions per user per second; the other behaviours keep their ratio to it.
    #[arg(long, value_name = "PER_USER_PER_S", allow_negative_numbers = true)]
    pub rate: Option<f64>,

    /// Seed of users, friend graph and action schedule (overrides the scenario).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Write the JSON report (stable schema) to PATH.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,

    /// Write an HdrHistogram interval log to PATH.
    #[arg(long, value_name = "PATH")]
    pub hdr_log: Option<PathBuf>,

    /// Write an HTML report to PATH.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,

    /// No progress bar (it is also hidden when stdout is not a terminal).
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Switch on a server fault (repeatable; embedded server only).
    #[arg(long = "fault", value_enum, value_name = "NAME")]
    pub faults: Vec<Fault>,

    /// Serve Prometheus/OpenMetrics at http://HOST:PORT/metrics while the run lasts (off by default).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// With --metrics-addr: keep serving this long after the run, for a last scrape.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub metrics_linger: Duration,

    /// Write the run as JSON lines to PATH: one per interval, one per violation as found, a summary.
    #[arg(long, value_name = "PATH")]
    pub events: Option<PathBuf>,

    /// A threshold the run must meet (repeatable); a breach exits 3. METRIC OP VALUE:
    /// KIND.p50|p90|p99|p999|mean|max<DURATION, throughput.KIND_per_s>N, errors.rate<F,
    /// errors.count<N, generator.lag.p99<DURATION, generator.saturated==false.
    #[arg(long = "threshold", value_name = "EXPR")]
    pub thresholds: Vec<String>,

    /// With --target: runtime threads, each with its own slice of the users
    /// (default: the cores this process may run on).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Drive only shard I of N (users whose index is I modulo N); merge the
    /// shards' outputs with `loadgen merge`. Needs --population, --shard-out
    /// and, for N > 1, --start-at.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,

    /// Number of shards, the index coming from JOB_COMPLETION_INDEX (a
    /// Kubernetes Indexed Job); instead of --shard.
    #[arg(long, env = "LOADGEN_SHARDS", value_name = "N")]
    pub shards: Option<u32>,

    /// Shard index from a Kubernetes Indexed Job (used with --shards).
    #[arg(long, env = "JOB_COMPLETION_INDEX", value_name = "I", hide = true)]
    pub shard_index: Option<u32>,

    /// Start the load at this wall-clock time (RFC 3339, e.g.
    /// 2026-12-04T16:30:00Z), so that the shards of one run start together.
    #[arg(long, value_name = "RFC3339", value_parser = humantime::parse_rfc3339_weak)]
    pub start_at: Option<SystemTime>,

    /// Write this shard's output (report, histograms, interval log) to DIR for `loadgen merge`.
    #[arg(long, value_name = "DIR")]
    pub shard_out: Option<PathBuf>,
}

/// A `loadgen` command line: a load test (no subcommand, or `run`),
/// `capacity` or `compare`.
///
/// Why not a clap `#[command(subcommand)]` on [`Opts`]: `loadgen --scenario
/// smoke` must keep parsing, helping and failing exactly as before, and an
/// optional subcommand next to a required `--scenario` changes clap's
/// usage lines and error messages. So the first argument picks the parser,
/// and each parser is an ordinary clap derive.
#[derive(Debug, Clone)]
pub enum Command {
    /// A load test: `loadgen [run] --scenario ...`.
    Run(Box<Opts>),
    /// `loadgen capacity ...`.
    Capacity(Box<crate::capacity::CapacityOpts>),
    /// `loadgen compare BASE.json NEW.json ...`.
    Compare(crate::compare::CompareOpts),
    /// `loadgen merge SHARD_OUTPUT... [--json ..] [--threshold ..]`.
    Merge(crate::merge::MergeOpts),
    /// `loadgen provision --out FILE [run options]`.
    Provision(Box<ProvisionOpts>),
}

/// `loadgen provision`: the run options, and where to write the population.
#[derive(Debug, Clone, Parser)]
#[command(name = "loadgen provision")]
pub struct ProvisionOpts {
    #[command(flatten)]
    pub run: Opts,
    /// Write the provisioned users and friendships here (the `--population` format).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

impl Command {
    /// Parses a whole command line (program name first).
    pub fn try_parse_from<I, T>(args: I) -> Result<Command, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        let sub = args.get(1).and_then(|a| a.to_str()).map(str::to_owned);
        let rest = |args: &mut Vec<std::ffi::OsString>, name: &str| {
            args.remove(1);
            args[0] = format!("loadgen {name}").into();
        };
        match sub.as_deref() {
            Some("run") => {
                rest(&mut args, "run");
                Opts::try_parse_from(args).map(|o| Command::Run(Box::new(o)))
            }
            Some("capacity") => {
                rest(&mut args, "capacity");
                crate::capacity::CapacityOpts::try_parse_from(args)
                    .map(|o| Command::Capacity(Box::new(o)))
            }
            Some("compare") => {
                rest(&mut args, "compare");
                crate::compare::CompareOpts::try_parse_from(args).map(Command::Compare)
            }
            Some("merge") => {
                rest(&mut args, "merge");
                crate::merge::MergeOpts::try_parse_from(args).map(Command::Merge)
            }
            Some("provision") => {
                rest(&mut args, "provision");
                ProvisionOpts::try_parse_from(args).map(|o| Command::Provision(Box::new(o)))
            }
            _ => Opts::try_parse_from(args).map(|o| Command::Run(Box::new(o))),
        }
    }

    /// Parses `std::env::args_os()`, exiting with clap's message (and code
    /// 2, or 0 for `--help`) when it does not parse.
    pub fn parse() -> Command {
        Command::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }
}

/// The server under test.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// The in-memory server, started inside this process.
    Embedded,
    /// A server at `url`.
    External {
        /// Base URL, `http://HOST:PORT` (no trailing slash).
        url: String,
        /// Admin token for provisioning (absent when `population` is given).
        admin_token: Option<String>,
        /// Existing users and friendships (`--population`).
        population: Option<External>,
    },
}

impl Target {
    /// `embedded` or the URL, for reports.
    pub fn describe(&self) -> String {
        match self {
            Target::Embedded => "embedded".to_owned(),
            Target::External { url, .. } => url.clone(),
        }
    }

    /// Sockets per connection mode (see [`crate::fdlimit`]).
    pub fn mode(&self) -> Mode {
        match self {
            Target::Embedded => Mode::Embedded,
            Target::External { .. } => Mode::External,
        }
    }
}

/// Everything a run needs, validated.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The plan (scenario + overrides).
    pub plan: Plan,
    /// The server under test.
    pub target: Target,
    /// `--json`.
    pub json: Option<PathBuf>,
    /// `--hdr-log`.
    pub hdr_log: Option<PathBuf>,
    /// `--html`.
    pub html: Option<PathBuf>,
    /// Whether to draw the progress bar: not `--quiet` and stdout is a terminal.
    pub progress: bool,
    /// Runtime threads driving the users (1 for the embedded server, whose
    /// generator shares a multi-thread runtime with it).
    pub threads: usize,
    /// The users this process drives.
    pub shard: ShardSpec,
    /// `--start-at`.
    pub start_at: Option<SystemTime>,
    /// `--shard-out`.
    pub shard_out: Option<PathBuf>,
    /// `--metrics-addr`, `--metrics-linger`, `--events`.
    pub live: crate::live::LiveOptions,
}

impl Opts {
    /// The overrides these flags ask for (values are checked in [`Plan::from_scenario`]).
    pub fn overrides(&self) -> Overrides {
        Overrides {
            users: self.users,
            connections_per_user: self.connections_per_user,
            duration: self.duration,
            rate: self.rate,
            seed: self.seed,
            faults: self.faults.clone(),
            thresholds: self.thresholds.clone(),
        }
    }

    /// Checks the flags, loads the scenario and builds the plan.
    pub fn validate(&self) -> Result<RunConfig, LoadgenError> {
        let usage = |m: String| LoadgenError::Usage(m);
        let plan = Plan::load(&self.scenario, &self.overrides())?;
        let target = match &self.target {
            None => {
                if self.population.is_some() {
                    return Err(usage(
                        "--population needs --target: the embedded server starts empty and provisions its own users"
                            .into(),
                    ));
                }
                if plan.starve > 0.0 {
                    return Err(LoadgenError::Config(
                        "generator.starve needs --target: the embedded server shares the generator's runtime and would starve too".into(),
                    ));
                }
                Target::Embedded
            }
            Some(raw) => {
                let url = parse_target(raw)?;
                if !self.faults.is_empty() {
                    return Err(usage(
                        "--fault switches on a fault in the embedded server; it cannot be used with --target".into(),
                    ));
                }
                if !plan.faults.is_empty() {
                    return Err(LoadgenError::Config(format!(
                        "scenario '{}' lists faults, which apply to the embedded server only; remove them to use --target",
                        plan.name
                    )));
                }
                let population = match &self.population {
                    Some(path) => Some(External::load(path)?),
                    None => None,
                };
                if population.is_none() && self.admin_token.as_deref().is_none_or(str::is_empty) {
                    return Err(usage(
                        "--target needs --admin-token (or CHAT_ADMIN_TOKEN) to provision users, or --population FILE with existing ones"
                            .into(),
                    ));
                }
                Target::External {
                    url,
                    admin_token: self.admin_token.clone().filter(|t| !t.is_empty()),
                    population,
                }
            }
        };
        for (flag, path) in [
            ("--json", &self.json),
            ("--hdr-log", &self.hdr_log),
            ("--html", &self.html),
            ("--events", &self.events),
        ] {
            if let Some(p) = path {
                check_output(flag, p)?;
            }
        }
        let shard = self.shard_spec()?;
        let threads = match (&target, self.threads) {
            (Target::Embedded, Some(_)) => {
                return Err(usage(
                    "--threads applies to --target: with the embedded server the generator shares its multi-thread runtime".into(),
                ))
            }
            (Target::Embedded, None) => 1,
            (Target::External { .. }, Some(0)) => {
                return Err(usage("--threads: must be at least 1".into()))
            }
            (Target::External { .. }, Some(n)) => n,
            (Target::External { .. }, None) => {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            }
        };
        if self.shard.is_some() || self.shards.is_some() {
            let pop = matches!(
                &target,
                Target::External {
                    population: Some(_),
                    ..
                }
            );
            if !pop {
                return Err(usage(
                    "--shard needs --target and --population FILE (written once by `loadgen provision`): shards must not provision users".into(),
                ));
            }
            if self.shard_out.is_none() {
                return Err(usage(
                    "--shard needs --shard-out DIR (what `loadgen merge` reads)".into(),
                ));
            }
            if shard.is_split() && self.start_at.is_none() {
                return Err(usage(
                    "--shard I/N with N > 1 needs --start-at RFC3339: the shards start together"
                        .into(),
                ));
            }
        }
        if let Some(dir) = &self.shard_out {
            std::fs::create_dir_all(dir).map_err(|e| LoadgenError::io(dir, e))?;
        }
        Ok(RunConfig {
            plan,
            target,
            json: self.json.clone(),
            hdr_log: self.hdr_log.clone(),
            html: self.html.clone(),
            progress: !self.quiet && std::io::stdout().is_terminal(),
            threads,
            shard,
            start_at: self.start_at,
            shard_out: self.shard_out.clone(),
            live: crate::live::LiveOptions {
                metrics_addr: self.metrics_addr,
                metrics_linger: self.metrics_linger,
                events: self.events.clone(),
                shard: format!("{}/{}", shard.index, shard.count),
            },
        })
    }

    /// `--shard I/N`, or `--shards N` with the index from `JOB_COMPLETION_INDEX`.
    fn shard_spec(&self) -> Result<ShardSpec, LoadgenError> {
        match (self.shard, self.shards) {
            (Some(s), None) => Ok(s),
            (Some(_), Some(_)) => Err(LoadgenError::Usage(
                "--shard I/N and --shards N (LOADGEN_SHARDS) both given: use one".into(),
            )),
            (None, Some(count)) => {
                let index = self.shard_index.ok_or_else(|| {
                    LoadgenError::Usage(
                        "--shards N needs the shard index in JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); or use --shard I/N".into(),
                    )
                })?;
                spec(index, count).map_err(LoadgenError::Usage)
            }
            (None, None) => Ok(ShardSpec::WHOLE),
        }
    }
}

fn spec(index: u32, count: u32) -> Result<ShardSpec, String> {
    if count == 0 || index >= count {
        return Err(format!(
            "--shard: index {index} of {count}: need 0 <= I < N"
        ));
    }
    Ok(ShardSpec { index, count })
}

/// `I/N`, the shard index (from 0) and the number of shards.
fn parse_shard(s: &str) -> Result<ShardSpec, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected I/N (e.g. 0/4), got '{s}'"))?;
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .map_err(|_| format!("expected I/N with whole numbers, got '{s}'"))
    };
    spec(num(i)?, num(n)?)
}

/// `--target`: an `http://` or `https://` URL with a host, returned without a trailing slash.
fn parse_target(raw: &str) -> Result<String, LoadgenError> {
    let bad = |why: &str| {
        LoadgenError::Usage(format!(
            "--target: {why}, got '{raw}' (expected http://HOST:PORT)"
        ))
    };
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An output path must be in an existing directory, checked now rather
/// than after a long run.
pub fn check_output(flag: &str, path: &Path) -> Result<(), LoadgenError> {
    if path.is_dir() {
        return Err(LoadgenError::Usage(format!(
            "{flag}: {} is a directory",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(LoadgenError::Usage(format!(
            "{flag}: directory {} does not exist",
            dir.display()
        )));
    }
    Ok(())
}

/// `N`, `MIN..=MAX` or `MIN..MAX` (both inclusive here: device counts).
fn parse_count_range(s: &str) -> Result<CountRange, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<u32>()
            .map_err(|_| format!("expected N or MIN..=MAX with whole numbers, got '{s}'"))
    };
    let (min, max) = match s.split_once("..") {
        None => {
            let n = num(s)?;
            (n, n)
        }
        Some((a, b)) => (num(a)?, num(b.trim_start_matches('='))?),
    };
    if min > max {
        return Err(format!("MIN must be <= MAX, got '{s}'"));
    }
    Ok(CountRange { min, max })
}

#[cfg(test)]
mod tests;
