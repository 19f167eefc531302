//! # chat-server
//!
//! An in-memory, lock-sharded implementation of the chat protocol
//! (`shared/PROTOCOL.md`): the reference that clients are tested against and
//! the baseline that capacity numbers are compared with. It runs as the
//! `chat-server` binary or embedded in-process through [`run`] / [`Embedded`].
//!
//! # Layout
//!
//! - [`protocol`]: the wire types (client messages, server events, error
//!   codes, REST bodies) and the typed decoder. Shared with `loadgen`.
//! - [`manager`]: the ConnectionManager (§7): live connections, presence and
//!   typing state, sharded by user id. G1 and G2 are kept there.
//! - [`store`]: users, tokens, friendships, conversations and messages,
//!   sharded as well. G3 and G5 are kept in `store::conversations`.
//! - [`ws`]: the WebSocket side: upgrade, one reader loop and one batching
//!   writer task per connection, one file per client command.
//! - [`rest`]: the REST route table and one module per endpoint group.
//! - [`metrics`]: Prometheus counters and gauges, served at `/metrics`.
//! - [`fault`]: deliberate bugs, off unless named, to prove checkers bite.
//! - [`config`]: flags and environment variables.
//! - `shutdown`: SIGINT/SIGTERM handling for the binary.

pub mod config;
pub mod fault;
pub mod manager;
pub mod messaging;
pub mod metrics;
pub mod protocol;
pub mod rest;
pub mod shutdown;
pub mod state;
pub mod store;
pub mod ws;

pub use config::Config;
pub use fault::Fault;
pub use state::AppState;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long shutdown waits for WebSocket tasks to send their 1001 and end.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Errors that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The listener failed.
    #[error("serving on {addr}: {source}")]
    Serve {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// Serves the protocol on an already bound `listener` until `shutdown`
/// completes; then stops accepting, closes every WebSocket with 1001 and
/// returns once they have ended (or after a few seconds).
///
/// Binding is the caller's job so that tests and the load generator can pass
/// `127.0.0.1:0` and read the port back.
pub async fn run(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let stop = state.shutdown.clone();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            shutdown.await;
            stop.cancel();
        }
    });
    if state.faults.any() {
        tracing::warn!(faults = ?state.faults.names(), "FAULT INJECTION ACTIVE: this server breaks the protocol on purpose");
    }
    let app = rest::router(state.clone());
    let send_buffer = state.config.ws_send_buffer as usize;
    let listener =
        axum::serve::ListenerExt::tap_io(listener, move |tcp: &mut tokio::net::TcpStream| {
            let _ = tcp.set_nodelay(true);
            if send_buffer > 0 {
                // Best effort: a refused size leaves the kernel's default.
                let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(send_buffer);
            }
        });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .await;
    // Every WebSocket task watches `state.shutdown`: each sends 1001 and ends.
    state.tasks.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, state.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            left = state.tasks.len(),
            "connections still open after the shutdown grace"
        );
    }
    served.map_err(|source| ServerError::Serve { addr, source })
}

/// A server running in-process on `127.0.0.1:0`, for tests, benches and the
/// load generator's zero-set-up mode. Dropping it stops the server.
pub struct Embedded {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The admin token in force.
    pub admin_token: String,
    /// The shared state (for direct inspection in tests and benches).
    pub state: Arc<AppState>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
}

impl Embedded {
    /// Binds `config.bind` (use port 0) and starts serving.
    pub async fn start(config: Config) -> std::io::Result<Embedded> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let state = AppState::new(config);
        let admin_token = state.admin_token.clone();
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(listener, state.clone(), stop.clone().cancelled_owned()));
        Ok(Embedded {
            addr,
            admin_token,
            state,
            stop,
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/ws/{token}`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws/{}", self.addr, token)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        self.stop.cancel();
        match self.task.take() {
            Some(task) => task.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
