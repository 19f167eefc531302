//! Verdicts at the edge (issue 12): a generator saturated on purpose must
//! still be sound (no violation against a correct server, nothing left as
//! "clean" that it could not decide) and still able to fail (a server
//! fault is caught).
//!
//! The generator is starved with `generator.starve = 0.9`: it burns 90% of
//! its own thread in a busy loop, so it saturates the same way on any
//! machine. That needs `--target`, since the embedded server would share
//! the starved runtime; the server here runs in this test process, on a
//! runtime and threads of its own, listening on 127.0.0.1:0.
//!
//! Before the fix these runs reported false I5 losses: a message queued
//! behind a device's `Close` was recorded as sent and then dropped unsent.

use crate::support::{at, brief_violations, run_scenario, violated, violations, TempDir};
use server::fault::Fault;
use std::net::SocketAddr;
use std::sync::mpsc;

/// 120 users × 2 devices with churn of one and of all devices, messages,
/// typing and snapshots, starved to a tenth of a thread. `saturation_lag`
/// is low so that `saturated` is certain whatever the machine's speed (the
/// busy loop alone delays actions by up to 9 ms).
const STARVED: &str = r#"
description = "tests: a generator starved to a tenth of its thread"
seed = 12
users = 120
connections_per_user = 2
ramp_up = "1s"
duration = "5s"

[friends]
model = "uniform"
degree = 4

[behaviour]
send_message = 2.0
typing_then_send = 0.3
typing_abandon = 0.2
typing_pause = { min = "100ms", max = "300ms" }
mark_read = 0.2
get_online_friends = 0.3
device_churn = 0.4
churn_reopen_after = { min = "200ms", max = "800ms" }
churn_all_devices = 0.3

[checker]
barrier_interval = "2s"

[generator]
saturation_lag = "5ms"
starve = 0.9
"#;

/// A chat-server on its own runtime in this process; stops when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(faults: Vec<Fault>) -> Server {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the server");
            rt.block_on(async move {
                let config = server::config::Config {
                    bind: "127.0.0.1:0".parse().expect("an address"),
                    admin_token: Some("T".into()),
                    faults,
                    ..server::config::Config::default()
                };
                let embedded = server::Embedded::start(config)
                    .await
                    .expect("server starts");
                addr_tx
                    .send(embedded.addr)
                    .expect("the test waits for the address");
                let _ = stopped.await;
                let _ = embedded.stop().await;
            });
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the server reports its address");
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn starved_run(dir: &TempDir, faults: Vec<Fault>) -> crate::support::Run {
    let server = Server::start(faults);
    let url = format!("http://{}", server.addr);
    run_scenario(
        dir,
        "starved",
        STARVED,
        &["--target", &url, "--admin-token", "T"],
    )
}

#[test]
fn a_starved_generator_is_saturated_and_sound_against_a_correct_server() {
    let dir = TempDir::new("starved-clean");
    let run = starved_run(&dir, vec![]);
    let report = run.report();
    assert_eq!(
        at(report, "generator.saturated"),
        &serde_json::Value::Bool(true),
        "the starved generator must say it is saturated\n{}",
        run.context()
    );
    assert!(
        violations(report).is_empty(),
        "a correct server, judged by a saturated generator: {}\n{}",
        brief_violations(report, 5),
        run.context()
    );
    let undecided = at(report, "invariants.undecided");
    assert!(
        undecided.as_object().is_some_and(|m| m.is_empty()),
        "the final barrier waits the last sends out, so nothing is undecided: {undecided}\n{}",
        run.context()
    );
    assert!(
        at(report, "invariants.checked.I5").as_u64().unwrap_or(0) > 0,
        "I5 was checked\n{}",
        run.context()
    );
    run.assert_code(0);
}

#[test]
fn a_starved_generator_still_catches_dropped_deliveries() {
    let dir = TempDir::new("starved-drop");
    let run = starved_run(&dir, vec![Fault::DropDelivery]);
    let report = run.report();
    assert_eq!(
        at(report, "generator.saturated"),
        &serde_json::Value::Bool(true)
    );
    assert!(
        violated(report).contains("I5"),
        "drop-delivery under saturation must be caught as I5: {}\n{}",
        brief_violations(report, 5),
        run.context()
    );
    run.assert_code(1);
}

#[test]
fn a_starved_generator_still_catches_offline_on_every_disconnect() {
    let dir = TempDir::new("starved-offline");
    let run = starved_run(&dir, vec![Fault::OfflineOnEveryDisconnect]);
    let report = run.report();
    let found = violated(report);
    assert!(
        found.contains("I2") || found.contains("I1"),
        "offline-on-every-disconnect under saturation must be caught as I2 or I1: {}\n{}",
        brief_violations(report, 5),
        run.context()
    );
    run.assert_code(1);
}
