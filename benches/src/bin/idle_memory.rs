//! Measures `chat-server` memory per idle WebSocket.
//!
//! Starts the release `chat-server` binary as a separate process, provisions
//! users through `/admin`, opens N WebSockets (default 10,000), waits until
//! every one is registered (`chat_open_connections` in `/metrics`), and
//! reports (RSS after − RSS before) / N from `/proc/PID/status`.
//!
//! ```text
//! cargo build --release -p server -p benches
//! target/release/idle_memory [CONNECTIONS] [USERS]
//! ```

use futures_util::StreamExt;
use server::protocol::rest::{BulkUsers, BulkUsersCreated};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn gauge(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let conns: usize = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let users: usize = args.next().map_or(Ok(conns / 2), |a| a.parse())?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let exe = std::env::current_exe()?.with_file_name("chat-server");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut child = Command::new(&exe)
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--admin-token",
            "idle",
            "--log",
            "warn",
        ])
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start {}: {e} (build it with cargo build --release -p server)",
                exe.display()
            )
        })?;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "chat-server did not come up");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let created: BulkUsersCreated = http
        .post(format!("{base}/admin/users/bulk"))
        .bearer_auth("idle")
        .json(&BulkUsers {
            count: users as u64,
            username_prefix: "idle".into(),
        })
        .send()
        .await?
        .json()
        .await?;
    let before = rss_kib(child.id());
    let mut sockets = Vec::with_capacity(conns);
    for i in 0..conns {
        let token = &created.users[i % users].api_token;
        let (ws, _) =
            tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/ws/{token}")).await?;
        sockets.push(ws.split());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        if gauge(&m, "chat_open_connections") as usize >= conns {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "connections not all registered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = rss_kib(child.id());
    let per = (after.saturating_sub(before)) as f64 * 1024.0 / conns as f64;
    println!(
        "connections={conns} users={users} rss_before_kib={before} rss_after_kib={after} bytes_per_idle_connection={per:.0} ({:.2} KiB)",
        per / 1024.0
    );
    drop(sockets);
    let _ = child.kill();
    let _ = child.wait();
    Ok(())
}
