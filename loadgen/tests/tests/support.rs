//! What every test module needs: a directory of its own per test, the
//! `loadgen` binary run under a time limit, and the JSON report read by the
//! dotted keys of CLI.md (`messages.sent`, `latency_us.presence.count`).
//!
//! The report is read as a `serde_json::Value`, not as `loadgen::report::Report`:
//! the stable keys are a contract with scripts, so the tests read them the
//! way a script does, and a renamed key fails here even if the struct and
//! its serde attributes change together.
//!
//! Output goes to files, not pipes: a run that logs a lot can never block
//! on a full pipe while the test waits for it to exit.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The `loadgen` binary of this package, built by cargo for these tests.
pub const LOADGEN: &str = env!("CARGO_BIN_EXE_loadgen");

/// A run still going after this long is killed and its test fails: a
/// barrier that never settles must fail CI, not hang it. Generous, because
/// tests share two cores and `smoke` alone takes half a minute.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

/// The latency kinds of the stable JSON schema (issue 3), in report order.
pub const LATENCY_KINDS: [&str; 7] = [
    "message_echo",
    "message_delivery",
    "presence",
    "typing",
    "online_friends",
    "handshake",
    "rest",
];

/// The keys of every `latency_us.<kind>` summary.
pub const SUMMARY_KEYS: [&str; 8] = ["count", "min", "mean", "p50", "p90", "p99", "p999", "max"];

/// A directory under cargo's `CARGO_TARGET_TMPDIR`, unique to one test,
/// removed when the test passes and kept (its path printed) when it fails.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A fresh, empty directory whose name starts with `name`.
    pub fn new(name: &str) -> TempDir {
        // Unique within the process; the pid makes it unique across runs.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "loadgen-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `text` to `name` inside the directory and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept for inspection: {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// One finished `loadgen` process.
pub struct Run {
    /// The arguments it was given.
    pub args: Vec<String>,
    /// Its exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// Everything it printed on stdout (the summary).
    pub stdout: String,
    /// Everything it printed on stderr (errors, warnings).
    pub stderr: String,
    /// The `--json` report, when the run was given one and wrote it.
    pub report: Option<Value>,
}

impl Run {
    /// The JSON report; fails the test, showing the run, if there is none.
    pub fn report(&self) -> &Value {
        self.report
            .as_ref()
            .unwrap_or_else(|| panic!("no JSON report\n{}", self.context()))
    }

    /// The run for an assertion message: command, exit code, and the end
    /// of stderr and stdout.
    pub fn context(&self) -> String {
        format!(
            "loadgen {}\nexit code: {:?}\n--- stderr (end) ---\n{}\n--- stdout (end) ---\n{}",
            self.args.join(" "),
            self.code,
            tail(&self.stderr, 3000),
            tail(&self.stdout, 3000),
        )
    }

    /// Asserts the exit code, showing the run (and its violations) if it differs.
    pub fn assert_code(&self, expected: i32) {
        if self.code != Some(expected) {
            let violations = self
                .report
                .as_ref()
                .map(|r| brief_violations(r, 5))
                .unwrap_or_default();
            panic!(
                "expected exit code {expected}\n{}\n--- violations ---\n{violations}",
                self.context()
            );
        }
    }
}

/// The last `max` bytes of `s` (on a character boundary).
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs the `loadgen` binary with `args` in `dir`, under [`RUN_LIMIT`].
///
/// `CHAT_ADMIN_TOKEN` and `RUST_LOG` are removed from its environment so that
/// the caller's shell cannot change what a test means. The JSON report is
/// read back when the arguments name one with `--json`.
pub fn loadgen(dir: &TempDir, args: &[&str]) -> Run {
    run_command(dir, Command::new(LOADGEN), args)
}

/// `scripts/run-sharded N ARGS...` with this package's `loadgen`, its shard
/// outputs in `dir/shards`; judged like [`loadgen`] (its exit code is the merge's).
pub fn run_sharded(dir: &TempDir, n: u32, args: &[&str]) -> Run {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/run-sharded");
    let mut cmd = Command::new(script);
    cmd.arg(n.to_string())
        .env("LOADGEN", LOADGEN)
        .env("RUN_SHARDED_DIR", dir.join("shards"));
    run_command(dir, cmd, args)
}

fn run_command(dir: &TempDir, mut cmd: Command, args: &[&str]) -> Run {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let out_path = dir.join(&format!("run-{n}.stdout"));
    let err_path = dir.join(&format!("run-{n}.stderr"));
    let create = |p: &Path| File::create(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut child = cmd
        .args(args)
        .current_dir(&dir.path)
        .env_remove("CHAT_ADMIN_TOKEN")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(create(&out_path))
        .stderr(create(&err_path))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start loadgen or scripts/run-sharded: {e}"));
    // A waiter thread blocks in `wait()` and reports through a channel, so
    // the time limit is a `recv_timeout`, not a polling loop.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match rx.recv_timeout(RUN_LIMIT) {
        Ok(Ok(status)) => Some(status),
        Ok(Err(e)) => panic!("waiting for loadgen: {e}"),
        Err(_) => {
            // Over the limit: kill it (the waiter then reaps it).
            // SAFETY: `pid` is our own child's, not yet reaped by the waiter
            // (it has not exited, or `recv_timeout` would have returned).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            let _ = rx.recv();
            None
        }
    };
    let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
    let json = args
        .iter()
        .position(|a| *a == "--json")
        .and_then(|i| args.get(i + 1))
        .map(|p| dir.path.join(p));
    let run = Run {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code: status.and_then(|s| s.code()),
        stdout: read(&out_path),
        stderr: read(&err_path),
        report: json.filter(|p| p.exists()).map(|p| {
            serde_json::from_str(&read(&p))
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()))
        }),
    };
    if status.is_none() {
        panic!("killed after {RUN_LIMIT:?}\n{}", run.context());
    }
    run
}

/// Writes `toml` as `<name>.toml` in `dir` and runs it quietly with a JSON
/// report, adding `extra` flags (e.g. `--fault no-echo`).
pub fn run_scenario(dir: &TempDir, name: &str, toml: &str, extra: &[&str]) -> Run {
    let file = format!("{name}.toml");
    dir.write(&file, toml);
    run_file(dir, &file, extra)
}

/// Runs the scenario file `file` (in `dir`) quietly with a JSON report of
/// its own, adding `extra` flags. Safe to call from several threads at once.
pub fn run_file(dir: &TempDir, file: &str, extra: &[&str]) -> Run {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let json = format!("report-{}.json", NEXT.fetch_add(1, Ordering::Relaxed));
    let mut args = vec!["--scenario", file, "--json", json.as_str(), "--quiet"];
    args.extend_from_slice(extra);
    loadgen(dir, &args)
}

/// The value at a dotted `path` of the report; fails the test naming the
/// key when it is missing.
pub fn at<'a>(report: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(report, |v, key| {
        v.get(key)
            .unwrap_or_else(|| panic!("the report has no key '{path}' (missing '{key}')"))
    })
}

/// The unsigned integer at `path`.
pub fn u64_at(report: &Value, path: &str) -> u64 {
    at(report, path)
        .as_u64()
        .unwrap_or_else(|| panic!("'{path}' is not an unsigned integer: {}", at(report, path)))
}

/// The number at `path`.
pub fn f64_at(report: &Value, path: &str) -> f64 {
    at(report, path)
        .as_f64()
        .unwrap_or_else(|| panic!("'{path}' is not a number: {}", at(report, path)))
}

/// `latency_us.<kind>.count`.
pub fn samples(report: &Value, kind: &str) -> u64 {
    u64_at(report, &format!("latency_us.{kind}.count"))
}

/// The violation objects of the report.
pub fn violations(report: &Value) -> &[Value] {
    at(report, "invariants.violations")
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_else(|| panic!("'invariants.violations' is not a list"))
}

/// The invariant ids named by the report's violations, e.g. `{"I5", "I6"}`.
pub fn violated(report: &Value) -> BTreeSet<String> {
    violations(report)
        .iter()
        .map(|v| {
            v.get("invariant")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("a violation without an 'invariant' id: {v}"))
                .to_owned()
        })
        .collect()
}

/// The first `n` violations as `I5: message` lines, for assertion messages.
pub fn brief_violations(report: &Value, n: usize) -> String {
    let Some(list) = report
        .get("invariants")
        .and_then(|i| i.get("violations"))
        .and_then(Value::as_array)
    else {
        return "(no invariants.violations list)".to_owned();
    };
    let mut out: Vec<String> = list
        .iter()
        .take(n)
        .map(|v| {
            format!(
                "{}: {}",
                v.get("invariant").and_then(Value::as_str).unwrap_or("?"),
                v.get("message").and_then(Value::as_str).unwrap_or("?")
            )
        })
        .collect();
    if list.len() > n {
        out.push(format!("... and {} more", list.len() - n));
    }
    if out.is_empty() {
        out.push("(none)".to_owned());
    }
    out.join("\n")
}

/// Asserts a run that finished clean: exit 0 and no violation listed.
pub fn assert_clean(run: &Run) {
    run.assert_code(0);
    let report = run.report();
    assert!(
        violations(report).is_empty(),
        "violations in a clean run:\n{}\n{}",
        brief_violations(report, 10),
        run.context()
    );
}

/// Asserts that the run counted no error of any kind (`errors` is empty).
pub fn assert_no_errors(run: &Run) {
    assert_eq!(
        at(run.report(), "errors"),
        &Value::Object(Default::default()),
        "errors counted\n{}",
        run.context()
    );
}
