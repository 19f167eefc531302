//! Watching a `loadgen` process from outside, as Prometheus and a CI job do:
//! start it with `--metrics-addr 127.0.0.1:0`, learn the port from the
//! line it prints on stderr, scrape `/metrics` over a plain TCP socket, and
//! read the exposition text by series.

use crate::support::{TempDir, LOADGEN, RUN_LIMIT};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A running `loadgen` with its exporter's address.
pub struct LiveRun {
    child: Child,
    /// Where `/metrics` is served.
    pub addr: SocketAddr,
    /// The rest of stderr, line by line (read by a thread, so the pipe
    /// never fills).
    stderr: mpsc::Receiver<String>,
    started: Instant,
}

impl LiveRun {
    /// Starts `loadgen` in `dir` with `args` plus `--metrics-addr
    /// 127.0.0.1:0`, and waits (under a timeout) for the line naming the
    /// exporter's address.
    pub fn start(dir: &TempDir, args: &[&str]) -> LiveRun {
        let mut child = Command::new(LOADGEN)
            .args(args)
            .args(["--metrics-addr", "127.0.0.1:0"])
            .current_dir(dir.join("."))
            .env_remove("CHAT_ADMIN_TOKEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {LOADGEN}: {e}"));
        let pipe = child.stderr.take().expect("stderr is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("metrics: http://") {
                        let addr = rest.trim_end_matches("/metrics");
                        break addr
                            .parse()
                            .unwrap_or_else(|e| panic!("bad address in {line:?}: {e}"));
                    }
                    seen.push(line);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no 'metrics:' line on stderr within 60 s; stderr: {seen:?}");
                }
            }
        };
        LiveRun {
            child,
            addr,
            stderr: rx,
            started: Instant::now(),
        }
    }

    /// One scrape, parsed; `None` once the exporter is gone.
    pub fn scrape(&self) -> Option<Exposition> {
        get_metrics(self.addr).map(|t| Exposition::parse(&t))
    }

    /// Scrapes until `done` holds for a scrape (returned), or fails after
    /// `limit`. Prometheus is pull-only: there is no event to wait on, so
    /// this polls, every 200 ms, as a scraper would.
    pub fn scrape_until(
        &self,
        limit: Duration,
        what: &str,
        mut done: impl FnMut(&Exposition) -> bool,
    ) -> Exposition {
        let deadline = Instant::now() + limit;
        let mut last = None;
        while Instant::now() < deadline {
            if let Some(e) = self.scrape() {
                if done(&e) {
                    return e;
                }
                last = Some(e);
            }
            // A poll, on purpose: /metrics is pulled, nothing is pushed
            // to wait on, and the values move once per interval (1 s).
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "{what}: not seen within {limit:?}; last scrape:\n{}",
            last.map(|e| e.text).unwrap_or_default()
        );
    }

    /// Waits for the process to exit (under [`RUN_LIMIT`]); its exit code.
    pub fn wait(self) -> Option<i32> {
        let pid = self.child.id();
        let mut child = self.child;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let left = RUN_LIMIT.saturating_sub(self.started.elapsed());
        match rx.recv_timeout(left) {
            Ok(Ok(status)) => status.code(),
            _ => {
                // SAFETY: our own child, not yet reaped (it has not exited).
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
                let rest: Vec<String> = self.stderr.try_iter().collect();
                panic!("loadgen still running after {RUN_LIMIT:?}; stderr: {rest:?}");
            }
        }
    }
}

/// `GET /metrics` over a fresh connection; `None` if nothing answers.
pub fn get_metrics(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    // axum answers a small body with Content-Length; a chunked one is
    // de-chunked here so both parse.
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(tail.get(..n)?);
            rest = tail.get(n + 2..)?;
        }
        return Some(out);
    }
    Some(body.to_owned())
}

/// A parsed exposition: each series (`name{labels}`) with its value, and
/// the names the text declares.
pub struct Exposition {
    /// The raw text.
    pub text: String,
    /// `name{labels}` (exactly as written) → value.
    pub series: BTreeMap<String, f64>,
}

impl Exposition {
    /// Parses OpenMetrics/Prometheus text.
    pub fn parse(text: &str) -> Exposition {
        let series = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect();
        Exposition {
            text: text.to_owned(),
            series,
        }
    }

    /// The value of one series (`0` when absent).
    pub fn get(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// The sum over every series of metric `name` (any labels).
    pub fn sum(&self, name: &str) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}{{")))
            .map(|(_, v)| v)
            .sum()
    }

    /// Every sample name a query may use: the names of the samples present,
    /// and, for each `# TYPE` line (a family may have no series yet), the
    /// names its type gives its samples (`_total` for a counter; `_bucket`,
    /// `_sum`, `_count` for a histogram).
    pub fn sample_names(&self) -> BTreeSet<String> {
        let mut names: BTreeSet<String> = self
            .series
            .keys()
            .map(|k| k.split('{').next().unwrap_or(k).to_owned())
            .collect();
        for line in self.text.lines() {
            let mut parts = line.split_whitespace();
            if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            {
                match kind {
                    // OpenMetrics names a counter family `x` (samples
                    // `x_total`); text format 0.0.4 names it by its
                    // sample, `x_total`.
                    "counter" if name.ends_with("_total") => {
                        names.insert(name.to_owned());
                    }
                    "counter" => {
                        names.insert(format!("{name}_total"));
                    }
                    "histogram" => {
                        for s in ["_bucket", "_sum", "_count"] {
                            names.insert(format!("{name}{s}"));
                        }
                    }
                    _ => {
                        names.insert(name.to_owned());
                    }
                }
            }
        }
        names
    }
}
