//! Server configuration: every flag of PROTOCOL.md §8, each also an
//! environment variable `CHAT_<NAME>`, plus the fault-injection switches.
//!
//! [`Config::default`] is written by hand (not parsed from the process
//! environment) so that tests embedding the server share no global state.

use crate::fault::Fault;
use clap::Parser;
use std::net::SocketAddr;

/// Messages kept per conversation unless `--history-per-conversation` says
/// otherwise: twice the largest history page (500), so a client that reads
/// back two pages after a reconnect still finds everything, while a
/// conversation holds at most ~1,000 × its message size.
pub const DEFAULT_HISTORY_PER_CONVERSATION: u32 = 1000;

/// `chat-server`: an in-memory, lock-sharded implementation of the chat protocol.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on (HTTP/1.1 and WebSocket on one port).
    #[arg(long, env = "CHAT_BIND", default_value = "0.0.0.0:8000")]
    pub bind: SocketAddr,

    /// Bearer token of the /admin endpoints; generated and printed once if unset.
    #[arg(long, env = "CHAT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Number of lock shards of the ConnectionManager and the store (a power
    /// of two; default: the smallest power of two ≥ 4 × cores).
    #[arg(long, env = "CHAT_SHARDS", value_parser = parse_shards)]
    pub shards: Option<usize>,

    /// Events queued per connection before it is closed with 4010 (slow consumer).
    #[arg(long, env = "CHAT_OUTBOUND_QUEUE", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub outbound_queue: u32,

    /// Open WebSockets per user; one more is closed with 4011.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_connections_per_user: u32,

    /// Largest WebSocket message (after reassembly) and REST body, in bytes;
    /// a larger message closes with 1009, a larger body gets 413.
    #[arg(long, env = "CHAT_MAX_MESSAGE_BYTES", default_value_t = 65536, value_parser = clap::value_parser!(u32).range(1024..=16_777_216))]
    pub max_message_bytes: u32,

    /// WebSocket read buffer per connection, in bytes. Small keeps idle
    /// connections cheap (tungstenite's 128 KiB default costs ~138 KiB each).
    #[arg(long, env = "CHAT_WS_READ_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(256..=1_048_576))]
    pub ws_read_buffer: u32,

    /// Kernel send buffer per accepted socket, in bytes (SO_SNDBUF; 0: the
    /// kernel's autotuning, which can grow to megabytes). Bounding it bounds
    /// per-connection kernel memory and lets a stalled reader fill its
    /// outbound queue (and be closed with 4010) sooner.
    #[arg(long, env = "CHAT_WS_SEND_BUFFER", default_value_t = 0)]
    pub ws_send_buffer: u32,

    /// Messages kept per conversation; storing one more evicts the oldest,
    /// so the store's memory is bounded (history then returns the last N).
    #[arg(long, env = "CHAT_HISTORY_PER_CONVERSATION", default_value_t = DEFAULT_HISTORY_PER_CONVERSATION, value_parser = clap::value_parser!(u32).range(1..=100_000_000))]
    pub history_per_conversation: u32,

    /// Fault to inject (repeatable; for testing checkers only — never in production).
    #[arg(long = "fault", env = "CHAT_FAULT", value_enum, value_delimiter = ',')]
    pub faults: Vec<Fault>,

    /// Testing only: burn this many microseconds of CPU on every WebSocket
    /// `send_message`, so that `scripts/server-cost gate` can be shown to
    /// fail on a real regression (never set it in production).
    #[arg(long, env = "CHAT_BENCH_SLOWDOWN_US", default_value_t = 0, hide = true)]
    pub bench_slowdown_us: u32,

    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "CHAT_LOG", default_value = "info")]
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_token: None,
            shards: None,
            outbound_queue: 1024,
            max_connections_per_user: 16,
            max_message_bytes: 65536,
            ws_read_buffer: 1024,
            ws_send_buffer: 0,
            history_per_conversation: DEFAULT_HISTORY_PER_CONVERSATION,
            faults: Vec::new(),
            bench_slowdown_us: 0,
            log: "info".to_owned(),
        }
    }
}

impl Config {
    /// The shard count in force: the flag, or the smallest power of two ≥ 4 × cores.
    ///
    /// Four shards per core keeps the chance that two cores want the same
    /// shard low while a lock-all (a snapshot for a user with many friends)
    /// stays a handful of uncontended locks.
    pub fn shard_count(&self) -> usize {
        self.shards.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            (4 * cores).next_power_of_two()
        })
    }
}

fn parse_shards(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|e| format!("{e}"))?;
    if n == 0 || !n.is_power_of_two() || n > 4096 {
        return Err(format!("{n} is not a power of two in 1..=4096"));
    }
    Ok(n)
}
