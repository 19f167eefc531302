//! `loadgen`: parse flags, set up logging, run, exit with the run's code.
//!
//! Everything else is in the library ([`loadgen::run`]) so that tests run
//! load tests in-process. Subcommands: none or `run` (a load test),
//! `capacity`, `compare` ([`loadgen::cli::Command`]). Exit codes (CLI.md):
//! 0 clean, 1 invariant violation, 2 usage or configuration error, 3
//! threshold breach (or, for `compare`, a regression).

use loadgen::cli::Command;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Parse errors print clap's message and exit 2; --help and --version exit 0.
    let cmd = Command::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .init();
    // Against a separate server the generator runs on one thread: with
    // nothing to steal, a multi-thread runtime spends most of its time
    // parking and waking workers (measured: ~20% of all cycles in the
    // scheduler's context switches). The embedded server needs every core.
    let external = match &cmd {
        Command::Run(o) => o.target.is_some(),
        Command::Capacity(c) => c.target.is_some(),
        Command::Compare(_) | Command::Merge(_) => true,
        Command::Provision(_) => true,
    };
    let built = if external {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadgen: cannot start the async runtime: {e}");
            return ExitCode::from(loadgen::error::EXIT_USAGE);
        }
    };
    match runtime.block_on(loadgen::run_command(cmd)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
