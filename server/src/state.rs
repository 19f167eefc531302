//! The state every handler shares: configuration, store, ConnectionManager,
//! metrics, faults, and the shutdown signal.

use crate::config::Config;
use crate::fault::Faults;
use crate::manager::ConnectionManager;
use crate::metrics::Metrics;
use crate::store::{Conversations, Users};
use base64::Engine;
use rand::RngCore;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared by every connection and request.
pub struct AppState {
    /// The configuration in force.
    pub config: Config,
    /// Users, tokens, friendships.
    pub users: Users,
    /// Conversations and messages.
    pub conversations: Conversations,
    /// Live connections and presence.
    pub manager: ConnectionManager,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Deliberate bugs (none unless named).
    pub faults: Arc<Faults>,
    /// The admin bearer token.
    pub admin_token: String,
    /// Cancelled when the server shuts down; every connection watches it.
    pub shutdown: CancellationToken,
    /// Every WebSocket task, so shutdown can wait for them.
    pub tasks: TaskTracker,
}

impl AppState {
    /// Builds the state from a configuration. Without an admin token in the
    /// configuration, one is generated (the binary prints it once).
    pub fn new(config: Config) -> Arc<AppState> {
        let shards = config.shard_count();
        let metrics = Arc::new(Metrics::new());
        let faults = Arc::new(Faults::new(&config.faults));
        let admin_token = config.admin_token.clone().unwrap_or_else(|| {
            let mut bytes = [0u8; 24];
            rand::thread_rng().fill_bytes(&mut bytes);
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        });
        Arc::new(AppState {
            users: Users::new(shards),
            conversations: Conversations::new(shards, config.history_per_conversation as usize),
            manager: ConnectionManager::new(
                shards,
                config.max_connections_per_user as usize,
                metrics.clone(),
                faults.clone(),
            ),
            metrics,
            faults,
            admin_token,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            config,
        })
    }
}
