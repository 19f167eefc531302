//! Server CPU per message and latency, `chat-server` against the bare
//! forwarder (`forwarder`, the raw limit), in one run (issue 15).
//!
//! Both servers are driven by this one client with the same load: N users
//! with one WebSocket each, every user with `--friends` friends (a ring),
//! sending `send_message {receiver_id, content}` frames of 64–128 bytes to a
//! friend, open-loop: message k has the intended send time t0 + k/rate and is
//! sent then, whatever came back. Each server answers a frame with two: the
//! echo to the sender and the delivery to the receiver. Latency is counted
//! from the intended time to the frame's arrival (the client's own lag is
//! included, and reported separately).
//!
//! For each server in turn (interleaved over `--rounds`):
//! 1. start it as a separate process, provision the users (chat-server:
//!    `/admin/users/bulk` and `/admin/friendships`; the forwarder takes the
//!    user id as its token), open every connection and let presence settle;
//! 2. **fixed**: `--rate` messages/s for `--duration`;
//! 3. **saturation**: steps of `--step` at rates ×1.5 from `--rate` until a
//!    step is not sustained (fewer than 95% of its frames back within a
//!    second of its end, or p99 over `--max-p99`); the last sustained step
//!    is the saturation rate and its figures are reported;
//! 4. **half**: 50% of that saturation rate for `--duration`.
//!
//! Server CPU is user + system time from `/proc/PID/stat`, sampled at the
//! start of a phase and after its frames have come back (so the cost of
//! setting up connections is not counted); per message means per frame
//! sent by the client (1 in, 2 out). The client runs on one thread and its
//! own CPU is reported, since on a 2-core machine it shares the cores.
//!
//! ```text
//! cargo build --release -p server -p benches
//! target/release/server_cost [--rate 2000] [--duration 10s] [--users 1000] [--friends 10]
//!     [--rounds 1] [--step 4s] [--max-p99 50ms] [--no-saturation]
//!     [--server NAME=PATH ...] [--json out.json]
//! ```
//! Servers default to `forwarder` and `chat-server` next to this binary. A
//! NAME starting with `forwarder` is driven as a forwarder, anything else as a
//! chat-server (e.g. `--server chat-old=/tmp/chat-server.old` for a before/after
//! run in one sitting).

use anyhow::{anyhow, bail, Context};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use server::protocol::rest::{BulkUsers, BulkUsersCreated, Friendships};
use std::cell::RefCell;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Args {
    rate: f64,
    duration: Duration,
    users: u64,
    friends: u64,
    rounds: u32,
    step: Duration,
    max_p99: Duration,
    saturation: bool,
    servers: Vec<(String, String)>,
    json: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let dir = std::env::current_exe()?
        .parent()
        .ok_or_else(|| anyhow!("no exe dir"))?
        .to_path_buf();
    let mut a = Args {
        rate: 2000.0,
        duration: Duration::from_secs(10),
        users: 1000,
        friends: 10,
        rounds: 1,
        step: Duration::from_secs(4),
        max_p99: Duration::from_millis(50),
        saturation: true,
        servers: Vec::new(),
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-saturation" {
            a.saturation = false;
            continue;
        }
        let v = it.next().ok_or_else(|| anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--rate" => a.rate = v.parse()?,
            "--duration" => a.duration = humantime::parse_duration(&v)?,
            "--users" => a.users = v.parse()?,
            "--friends" => a.friends = v.parse()?,
            "--rounds" => a.rounds = v.parse()?,
            "--step" => a.step = humantime::parse_duration(&v)?,
            "--max-p99" => a.max_p99 = humantime::parse_duration(&v)?,
            "--json" => a.json = Some(v),
            "--server" => {
                let (n, p) = v
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--server NAME=PATH"))?;
                a.servers.push((n.to_owned(), p.to_owned()));
            }
            _ => bail!("unknown flag {flag} (see the module docs)"),
        }
    }
    if a.servers.is_empty() {
        for n in ["forwarder", "chat-server"] {
            a.servers
                .push((n.to_owned(), dir.join(n).to_string_lossy().into_owned()));
        }
    }
    if a.users < 2 || a.friends == 0 || a.friends >= a.users || a.rate <= 0.0 {
        bail!("need --users ≥ 2, 0 < --friends < users, --rate > 0");
    }
    Ok(a)
}

/// User + system CPU seconds of process `pid` (all its threads, live or gone).
fn proc_cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may contain spaces): state is
    // field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow!("bad stat"))? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Ok(ticks / hz)
}

/// A started server process, killed on drop.
struct Server {
    child: Child,
    port: u16,
    chat: bool,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: chat-server shuts down cleanly, and a server run
        // under valgrind gets to write its profile.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill has no memory preconditions; the pid is our child's.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str, path: &str) -> anyhow::Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let bind = format!("127.0.0.1:{port}");
    let chat = !name.starts_with("forwarder");
    let mut cmd = Command::new(path);
    cmd.args(["--bind", &bind]);
    if chat {
        cmd.args(["--admin-token", "cost", "--log", "warn"]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {path} (build it first)"))?;
    let out = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut lines = BufReader::new(out).lines();
    loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("listening on") => break,
            Some(Ok(_)) => {}
            _ => bail!("{path} exited before listening"),
        }
    }
    // Keep reading (and dropping) its stdout so it never blocks on a pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, port, chat })
}

/// Provisions (chat-server only) and returns each user's (id, token).
async fn provision(s: &Server, users: u64, friends: u64) -> anyhow::Result<Vec<(u64, String)>> {
    if !s.chat {
        return Ok((1..=users).map(|u| (u, u.to_string())).collect());
    }
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", s.port);
    let created: BulkUsersCreated = http
        .post(format!("{base}/admin/users/bulk"))
        .bearer_auth("cost")
        .json(&BulkUsers {
            count: users,
            username_prefix: "cost".into(),
        })
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let ids: Vec<u64> = created.users.iter().map(|u| u.user_id).collect();
    let mut pairs = Vec::new();
    for (i, &u) in ids.iter().enumerate() {
        for d in 1..=friends / 2 {
            pairs.push((u, ids[(i + d as usize) % ids.len()]));
        }
    }
    http.post(format!("{base}/admin/friendships"))
        .bearer_auth("cost")
        .json(&Friendships { pairs })
        .send()
        .await?
        .error_for_status()?;
    Ok(created
        .users
        .into_iter()
        .map(|u| (u.user_id, u.api_token))
        .collect())
}

/// What the readers record.
struct Recv {
    t0: Instant,
    /// From the intended send time.
    lat: Histogram<u64>,
    /// From the actual send time (without the client's own lag).
    lat_actual: Histogram<u64>,
    frames: u64,
    closed: u64,
}

/// The figures of one phase.
#[derive(Debug, Clone, Default, serde::Serialize)]
struct Phase {
    rate: f64,
    sent: u64,
    received: u64,
    expected: u64,
    achieved_per_s: f64,
    server_cpu_s: f64,
    server_cpu_us_per_msg: f64,
    client_cpu_s: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    /// p99 from the actual send time.
    p99_actual_us: u64,
    client_lag_p99_us: u64,
}

struct Load {
    ids: Vec<u64>,
    sinks: Vec<SplitSink<Ws, Message>>,
    recv: Rc<RefCell<Recv>>,
    pid: u32,
    friends: u64,
    next: u64,
}

impl Load {
    async fn connect(s: &Server, users: &[(u64, String)], friends: u64) -> anyhow::Result<Load> {
        let recv = Rc::new(RefCell::new(Recv {
            t0: Instant::now(),
            lat: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            lat_actual: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            frames: 0,
            closed: 0,
        }));
        let mut sinks = Vec::new();
        for (_, token) in users {
            let url = format!("ws://127.0.0.1:{}/ws/{token}", s.port);
            let (ws, _) = tokio_tungstenite::connect_async(url).await?;
            let (sink, mut stream) = ws.split();
            sinks.push(sink);
            let recv = recv.clone();
            tokio::task::spawn_local(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    if let Message::Text(t) = msg {
                        record(&recv, t.as_str());
                    }
                }
                recv.borrow_mut().closed += 1;
            });
        }
        Ok(Load {
            ids: users.iter().map(|u| u.0).collect(),
            sinks,
            recv,
            pid: s.child.id(),
            friends,
            next: 0,
        })
    }

    /// Sends at `rate` for `dur`, waits for the frames to come back (at most
    /// a second), and measures.
    async fn phase(&mut self, rate: f64, dur: Duration) -> anyhow::Result<Phase> {
        let total = (rate * dur.as_secs_f64()).round() as u64;
        {
            let mut r = self.recv.borrow_mut();
            r.lat.reset();
            r.lat_actual.reset();
            r.frames = 0;
        }
        let mut lag = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let cpu0 = proc_cpu_seconds(self.pid)?;
        let ccpu0 = loadgen::metrics::process_cpu_seconds();
        let start = Instant::now();
        let t0 = self.recv.borrow().t0;
        let n = self.ids.len() as u64;
        let mut dirty = vec![false; self.sinks.len()];
        let mut sent = 0u64;
        while sent < total {
            let now = Instant::now();
            let due = (((now - start).as_secs_f64() * rate) as u64 + 1).min(total);
            while sent < due {
                let intended = start + Duration::from_secs_f64(sent as f64 / rate);
                let k = self.next;
                self.next += 1;
                // A fixed pseudo-random walk over users, friends and sizes.
                let h = k.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let ui = (h >> 20) % n;
                let off = 1 + (h >> 8) % self.friends.max(2).div_euclid(2);
                let ri = if (h >> 40) & 1 == 0 {
                    (ui + off) % n
                } else {
                    (ui + n - off) % n
                };
                let len = 64 + ((h >> 50) % 65) as usize;
                let mut content = format!(
                    "{:016x}{:016x}{:08x}",
                    (intended - t0).as_nanos() as u64,
                    t0.elapsed().as_nanos() as u64,
                    self.ids[ui as usize]
                );
                content.extend(std::iter::repeat_n('a', len - content.len()));
                let frame = format!(
                    r#"{{"type":"send_message","receiver_id":{},"content":"{content}"}}"#,
                    self.ids[ri as usize]
                );
                lag.saturating_record(micros(Instant::now().saturating_duration_since(intended)));
                self.sinks[ui as usize].feed(Message::text(frame)).await?;
                dirty[ui as usize] = true;
                sent += 1;
            }
            for (i, d) in dirty.iter_mut().enumerate() {
                if std::mem::take(d) {
                    self.sinks[i].flush().await?;
                }
            }
            if sent < total {
                let next = start + Duration::from_secs_f64(sent as f64 / rate);
                tokio::time::sleep_until(next.into()).await;
            }
        }
        let sent_end = Instant::now();
        let expected = 2 * total;
        while self.recv.borrow().frames < expected && sent_end.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cpu = proc_cpu_seconds(self.pid)? - cpu0;
        let ccpu = loadgen::metrics::process_cpu_seconds() - ccpu0;
        let r = self.recv.borrow();
        if r.closed > 0 {
            bail!("{} connections were closed by the server", r.closed);
        }
        Ok(Phase {
            rate,
            sent: total,
            received: r.frames,
            expected,
            achieved_per_s: r.frames as f64 / 2.0 / dur.as_secs_f64(),
            server_cpu_s: cpu,
            server_cpu_us_per_msg: cpu * 1e6 / total as f64,
            client_cpu_s: ccpu,
            p50_us: r.lat.value_at_quantile(0.5),
            p99_us: r.lat.value_at_quantile(0.99),
            max_us: r.lat.max(),
            p99_actual_us: r.lat_actual.value_at_quantile(0.99),
            client_lag_p99_us: lag.value_at_quantile(0.99),
        })
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Records one received frame: the intended and the actual send time are
/// the first two 16-hex-digit fields of its `content` (a forwarder echoes our frame as is, chat-server
/// wraps the content in `new_message`; either way it is after `"content":"`).
fn record(recv: &RefCell<Recv>, frame: &str) {
    const KEY: &str = "\"content\":\"";
    let Some(at) = frame.find(KEY) else {
        return; // presence and other frames
    };
    let field = |i: usize| {
        let from = at + KEY.len() + 16 * i;
        u64::from_str_radix(frame.get(from..from + 16)?, 16).ok()
    };
    let (Some(intended), Some(actual)) = (field(0), field(1)) else {
        return;
    };
    let mut r = recv.borrow_mut();
    let now = micros(r.t0.elapsed());
    r.lat
        .saturating_record(now.saturating_sub(intended / 1000).max(1));
    r.lat_actual
        .saturating_record(now.saturating_sub(actual / 1000).max(1));
    r.frames += 1;
}

#[derive(serde::Serialize)]
struct ServerResult {
    name: String,
    fixed: Phase,
    saturation: Option<Phase>,
    half: Option<Phase>,
}

async fn measure(a: &Args, name: &str, path: &str) -> anyhow::Result<ServerResult> {
    let s = start(name, path)?;
    let users = provision(&s, a.users, a.friends).await?;
    let mut load = Load::connect(&s, &users, a.friends).await?;
    // Presence fan-out of the connects (chat-server) is over before we count.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = load.phase(a.rate, Duration::from_secs(1)).await?; // warm-up
    let fixed = load.phase(a.rate, a.duration).await?;
    eprintln!("{name:>12} fixed      {}", line(&fixed));
    let (mut saturation, mut half) = (None, None);
    if a.saturation {
        let mut rate = a.rate;
        let mut best: Option<Phase> = None;
        loop {
            let p = load.phase(rate, a.step).await?;
            let ok = p.received as f64 >= 0.95 * p.expected as f64 && p.p99_us <= micros(a.max_p99);
            eprintln!(
                "{name:>12} step       {}{}",
                line(&p),
                if ok { "" } else { "  (not sustained)" }
            );
            if !ok {
                break;
            }
            best = Some(p);
            rate *= 1.5;
            // Let queues drain before the next step.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if let Some(b) = &best {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let h = load.phase(b.rate / 2.0, a.duration).await?;
            eprintln!("{name:>12} half-sat   {}", line(&h));
            half = Some(h);
        }
        saturation = best;
    }
    Ok(ServerResult {
        name: name.to_owned(),
        fixed,
        saturation,
        half,
    })
}

fn line(p: &Phase) -> String {
    format!(
        "rate {:>7.0}/s  got {:>7.0}/s  server {:>6.1} µs/msg ({:.2} s)  client {:.2} s  p50 {:>6} µs  p99 {:>7} µs (from send {:>7})  lag p99 {:>5} µs",
        p.rate, p.achieved_per_s, p.server_cpu_us_per_msg, p.server_cpu_s, p.client_cpu_s, p.p50_us, p.p99_us, p.p99_actual_us, p.client_lag_p99_us
    )
}

fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let results = local.block_on(&rt, async {
        let mut results: Vec<ServerResult> = Vec::new();
        for round in 0..a.rounds {
            for (name, path) in &a.servers {
                eprintln!("round {}: {name}", round + 1);
                results.push(measure(&a, name, path).await?);
            }
        }
        anyhow::Ok(results)
    })?;
    summary(&a, &results);
    if let Some(path) = &a.json {
        std::fs::write(path, serde_json::to_string_pretty(&results)?)?;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Prints each server's medians over the rounds, and the median over rounds
/// of each round's ratio to the forwarder of the same round (interleaved
/// A/B: the machine's speed drifts between rounds, not within one).
fn summary(a: &Args, results: &[ServerResult]) {
    println!(
        "\n{} users, {} friends each, 64–128 B; medians of {} round(s)",
        a.users, a.friends, a.rounds
    );
    println!(
        "{:<14} {:>8} {:>8} {:>8} {:>9} {:>10} {:>9} {:>8} {:>9}",
        "server",
        "rate/s",
        "µs/msg",
        "p99 µs",
        "sat/s",
        "µs/msg@sat",
        "p99@sat",
        "half/s",
        "p99@half"
    );
    type Get = dyn Fn(&ServerResult) -> Option<f64>;
    let per = |name: &str, f: &Get| -> Vec<Option<f64>> {
        results.iter().filter(|r| r.name == name).map(f).collect()
    };
    let med = |v: Vec<Option<f64>>| median(v.into_iter().flatten().collect());
    let cpu: &Get = &|r| Some(r.fixed.server_cpu_us_per_msg);
    let sat_cpu: &Get = &|r| r.saturation.as_ref().map(|p| p.server_cpu_us_per_msg);
    for (name, _) in &a.servers {
        println!(
            "{name:<14} {:>8.0} {:>8.1} {:>8.0} {:>9.0} {:>10.1} {:>9.0} {:>8.0} {:>9.0}",
            a.rate,
            med(per(name, cpu)),
            med(per(name, &|r| Some(r.fixed.p99_us as f64))),
            med(per(name, &|r| r
                .saturation
                .as_ref()
                .map(|p| p.achieved_per_s))),
            med(per(name, sat_cpu)),
            med(per(name, &|r| r
                .saturation
                .as_ref()
                .map(|p| p.p99_us as f64))),
            med(per(name, &|r| r.half.as_ref().map(|p| p.rate))),
            med(per(name, &|r| r.half.as_ref().map(|p| p.p99_us as f64))),
        );
    }
    let Some((fwd, _)) = a.servers.iter().find(|(n, _)| n.starts_with("forwarder")) else {
        return;
    };
    for (name, _) in a
        .servers
        .iter()
        .filter(|(n, _)| !n.starts_with("forwarder"))
    {
        let ratio = |f: &Get| {
            let pairs = per(name, f).into_iter().zip(per(fwd, f));
            med(pairs.map(|(c, w)| Some(c? / w?)).collect())
        };
        println!(
            "RATIO {name} / {fwd}: cpu_per_msg_fixed {:.2} cpu_per_msg_sat {:.2}",
            ratio(cpu),
            ratio(sat_cpu)
        );
    }
}
