//! [`TestServer`]: one embedded server per test, plus provisioning.
//!
//! Users and friendships are created through the admin endpoints
//! (`POST /admin/users/bulk`, `POST /admin/friendships`), so the tests also
//! exercise those on every run.

use crate::rest::{Reply, Rest};
use crate::ws::WsClient;
use server::protocol::rest::{BulkUsers, BulkUsersCreated, Friendships, FriendshipsCreated};
use server::{Config, Embedded};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A provisioned user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub token: String,
}

/// An embedded server on `127.0.0.1:0` and an HTTP client for it.
pub struct TestServer {
    /// The server itself (public for `state` inspection and `stop`).
    pub embedded: Embedded,
    http: reqwest::Client,
    /// Distinguishes username prefixes of successive `users` calls.
    batches: AtomicUsize,
}

impl TestServer {
    /// A server with the default configuration.
    pub async fn start() -> TestServer {
        TestServer::with_config(Config::default()).await
    }

    /// A server with `config` (its `bind` is forced to `127.0.0.1:0`).
    pub async fn with_config(mut config: Config) -> TestServer {
        config.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        let embedded = Embedded::start(config)
            .await
            .expect("the embedded server binds 127.0.0.1:0");
        TestServer {
            embedded,
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("a plain HTTP client builds"),
            batches: AtomicUsize::new(0),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.embedded.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        self.embedded.http_url()
    }

    /// A REST client with the admin token.
    pub fn admin(&self) -> Rest {
        Rest::new(
            self.http.clone(),
            self.http_url(),
            Some(self.embedded.admin_token.clone()),
        )
    }

    /// A REST client authenticated as `user`.
    pub fn rest(&self, user: &User) -> Rest {
        Rest::new(self.http.clone(), self.http_url(), Some(user.token.clone()))
    }

    /// A REST client with the given bearer token (or none).
    pub fn rest_with_token(&self, token: Option<&str>) -> Rest {
        Rest::new(self.http.clone(), self.http_url(), token.map(str::to_owned))
    }

    /// Provisions `n` users through `POST /admin/users/bulk`.
    pub async fn users(&self, n: usize) -> Vec<User> {
        let batch = self.batches.fetch_add(1, Ordering::Relaxed);
        let reply = self
            .admin()
            .post(
                "/admin/users/bulk",
                &BulkUsers {
                    count: n as u64,
                    username_prefix: format!("u{batch}_"),
                },
            )
            .await;
        let created: BulkUsersCreated = reply.ok(201, "bulk user provisioning");
        assert_eq!(
            created.users.len(),
            n,
            "bulk provisioning returned {n} users"
        );
        created
            .users
            .into_iter()
            .map(|u| User {
                id: u.user_id,
                username: u.username,
                token: u.api_token,
            })
            .collect()
    }

    /// Provisions `N` users, as an array to destructure.
    pub async fn users_n<const N: usize>(&self) -> [User; N] {
        self.users(N)
            .await
            .try_into()
            .unwrap_or_else(|_| unreachable!("users(N) returned N users"))
    }

    /// Provisions one user.
    pub async fn user(&self) -> User {
        self.users(1).await.remove(0)
    }

    /// Makes every pair friends through `POST /admin/friendships`.
    pub async fn befriend(&self, pairs: &[(&User, &User)]) {
        let reply = self
            .befriend_ids(pairs.iter().map(|(a, b)| (a.id, b.id)))
            .await;
        let created: FriendshipsCreated = reply.ok(200, "friendship provisioning");
        assert_eq!(created.created, pairs.len() as u64, "friendships created");
    }

    /// `POST /admin/friendships` with raw id pairs.
    pub async fn befriend_ids(&self, pairs: impl IntoIterator<Item = (u64, u64)>) -> Reply {
        self.admin()
            .post(
                "/admin/friendships",
                &Friendships {
                    pairs: pairs.into_iter().collect(),
                },
            )
            .await
    }

    /// `ws://127.0.0.1:PORT/ws/{token}`.
    pub fn ws_url(&self, token: &str) -> String {
        self.embedded.ws_url(token)
    }

    /// Opens a WebSocket for `user` (the handshake is complete; registration
    /// with the ConnectionManager may still be in flight).
    pub async fn connect(&self, user: &User) -> WsClient {
        WsClient::connect(&self.ws_url(&user.token), &user.username, None).await
    }

    /// Opens a WebSocket for `user` and does a `get_online_friends` round
    /// trip, so the connection is certainly registered (and its presence
    /// event, if any, already sent) before the test goes on.
    pub async fn connect_confirmed(&self, user: &User) -> WsClient {
        let mut ws = self.connect(user).await;
        ws.round_trip().await;
        ws
    }

    /// Opens a WebSocket with an arbitrary token.
    pub async fn connect_token(&self, token: &str) -> WsClient {
        WsClient::connect(&self.ws_url(token), "token-client", None).await
    }

    /// Opens a WebSocket whose TCP receive buffer is `bytes` (a slow reader
    /// fills up sooner).
    pub async fn connect_small_buffer(&self, user: &User, bytes: u32) -> WsClient {
        WsClient::connect(&self.ws_url(&user.token), &user.username, Some(bytes)).await
    }

    /// Stops the server gracefully; fails the test if that does not finish
    /// within the timeout.
    pub async fn stop(self) {
        let stopped = tokio::time::timeout(crate::TIMEOUT * 2, self.embedded.stop())
            .await
            .expect("Embedded::stop finishes within 10 s");
        stopped.expect("the server stops without error");
    }
}
