//! Finding the `chat-server` binary for the tests that run it as a process.
//!
//! `CARGO_BIN_EXE_chat-server` only exists for tests of the `server` package,
//! so we ask cargo to build the binary (a no-op when it is up to date, and
//! only a link step otherwise since the test already built the `server`
//! library) and take it from the target directory the test executable lives
//! in (`target/<profile>/deps/protocol-*` → `target/<profile>/chat-server`).
//! `CHAT_SERVER_BIN` overrides the whole search.

use std::path::PathBuf;
use std::process::Command;

/// The path of an up-to-date `chat-server` binary; fails the test with a
/// clear message when there is none.
pub fn chat_server() -> PathBuf {
    if let Some(path) = std::env::var_os("CHAT_SERVER_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/<test> → target/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test executable lives in target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("target/<profile> has a parent")
        .to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args(["build", "--quiet", "-p", "server", "--bin", "chat-server"])
        .env("CARGO_TARGET_DIR", &target_dir);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status();
    let binary = profile_dir.join(format!("chat-server{}", std::env::consts::EXE_SUFFIX));
    match status {
        Ok(s) if s.success() && binary.exists() => binary,
        other => panic!(
            "could not build the chat-server binary ({other:?}); build it with \
             `cargo build -p server` or set CHAT_SERVER_BIN to its path (looked for {})",
            binary.display()
        ),
    }
}

/// A `chat-server` process started by a test; killed when dropped.
pub struct Running {
    pub child: tokio::process::Child,
    /// The address it reported listening on.
    pub addr: std::net::SocketAddr,
    /// Every line it printed so far (stdout and stderr, ANSI codes removed),
    /// fed by background tasks.
    pub lines: tokio::sync::mpsc::UnboundedReceiver<String>,
    /// The lines read up to the "listening on" one.
    pub seen: Vec<String>,
}

/// Removes ANSI escape sequences (`ESC [ ... letter`).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The first `IP:PORT` after "listening on" in `line`.
pub fn listening_addr(line: &str) -> Option<std::net::SocketAddr> {
    let at = line.find("listening on")?;
    line[at + "listening on".len()..]
        .split(|c: char| {
            !(c.is_ascii_alphanumeric() || c == '.' || c == ':' || c == '[' || c == ']')
        })
        .filter(|w| !w.is_empty())
        .find_map(|w| w.parse().ok())
}

impl Running {
    /// Starts `chat-server` with `args` and `envs` (the `CHAT_*` variables of
    /// the test process are cleared first) and waits for "listening on".
    pub async fn start(args: &[&str], envs: &[(&str, &str)]) -> Running {
        use tokio::io::AsyncBufReadExt;
        let mut cmd = tokio::process::Command::new(chat_server());
        cmd.args(args)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, _) in std::env::vars() {
            if k.starts_with("CHAT_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("chat-server starts");
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(l)) = r.next_line().await {
                let _ = tx.send(strip_ansi(&l));
            }
        });
        tokio::spawn(async move {
            let mut r = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(l)) = r.next_line().await {
                let _ = tx2.send(strip_ansi(&l));
            }
        });
        let mut seen = Vec::new();
        let addr = tokio::time::timeout(crate::TIMEOUT * 2, async {
            while let Some(line) = lines.recv().await {
                let addr = listening_addr(&line);
                seen.push(line);
                if let Some(addr) = addr {
                    return Some(addr);
                }
            }
            None
        })
        .await;
        match addr {
            Ok(Some(addr)) => Running {
                child,
                addr,
                lines,
                seen,
            },
            other => panic!(
                "chat-server did not print \"listening on IP:PORT\" ({}): {seen:#?}",
                if other.is_err() {
                    "timed out"
                } else {
                    "output ended"
                }
            ),
        }
    }

    /// `http://IP:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://IP:PORT/ws/{token}`.
    pub fn ws_url(&self, token: &str) -> String {
        format!("ws://{}/ws/{token}", self.addr)
    }

    /// Sends `signal` (e.g. "TERM") to the process.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the process is running");
        let status = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Waits for the process to exit; returns its exit code.
    pub async fn wait_exit(&mut self, within: std::time::Duration) -> Option<i32> {
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("chat-server did not exit within {within:?}"))
            .expect("waiting for chat-server");
        status.code()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn finds_the_listening_address() {
        let a =
            listening_addr("2026-01-01T00:00:00Z INFO chat_server: listening on 127.0.0.1:4567");
        assert_eq!(a, Some("127.0.0.1:4567".parse().unwrap()));
        let a = listening_addr("INFO listening on addr=127.0.0.1:80 shards=8");
        assert_eq!(a, Some("127.0.0.1:80".parse().unwrap()));
        let a = listening_addr(&strip_ansi(
            "\u{1b}[32mINFO\u{1b}[0m listening on \u{1b}[3m127.0.0.1:9\u{1b}[0m",
        ));
        assert_eq!(a, Some("127.0.0.1:9".parse().unwrap()));
        assert_eq!(listening_addr("starting"), None);
    }
}
