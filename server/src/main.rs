//! `chat-server`: parse flags, set up logging, serve until SIGINT/SIGTERM.

use clap::Parser;
use server::{AppState, Config};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = Config::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let fds = server::shutdown::raise_fd_limit();
    let generated = config.admin_token.is_none();
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind {}: {e}", config.bind))?;
    let addr = listener.local_addr()?;
    let state = AppState::new(config);
    if generated {
        println!("admin token: {}", state.admin_token);
    }
    println!("listening on {addr}");
    tracing::info!(%addr, shards = state.config.shard_count(), open_files = fds, "chat-server started");
    server::run(listener, state, server::shutdown::signal()).await?;
    tracing::info!("chat-server stopped");
    Ok(())
}
