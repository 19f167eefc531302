//! Watching a run while it lasts (issue 14): `--metrics-addr` is scraped
//! while the run goes on and its values move; a faulty server's violations
//! are counted there before the run ends; `--events` has a violation's line
//! before its final summary.

use crate::scrape::{Exposition, LiveRun};
use crate::support::{u64_at, TempDir};
use serde_json::Value;
use std::time::Duration;

/// 20 users × 2 devices, 1 s of ramp-up and 8 s of load: long enough for
/// several one-second intervals to be scraped on a busy machine.
const WATCHED: &str = r#"
description = "tests: a short run to watch"
seed = 11
users = 20
connections_per_user = 2
ramp_up = "1s"
duration = "8s"

[friends]
model = "uniform"
degree = 3

[behaviour]
send_message = 1.0
typing_then_send = 0.3
mark_read = 0.3
get_online_friends = 0.3

[content]
min_bytes = 64
max_bytes = 256

[checker]
barrier_interval = "3s"
"#;

const SENT: &str = "loadgen_messages_sent_total";
const DELIVERY_COUNT: &str =
    "loadgen_latency_seconds_count{kind=\"message_delivery\",from=\"intended\"}";
const FINISHED: &str = "loadgen_finished";

/// The cumulative bucket counts of one latency series, in `le` order.
fn buckets(e: &Exposition, kind: &str, from: &str) -> Vec<(String, f64)> {
    let labels = format!("\",kind=\"{kind}\",from=\"{from}\"}}");
    let mut out: Vec<(String, f64)> = e
        .series
        .iter()
        .filter_map(|(k, v)| {
            let le = k
                .strip_prefix("loadgen_latency_seconds_bucket{le=\"")?
                .strip_suffix(&labels)?;
            Some((le.to_owned(), *v))
        })
        .collect();
    let bound = |le: &str| le.parse::<f64>().unwrap_or(f64::INFINITY);
    out.sort_by(|a, b| bound(&a.0).total_cmp(&bound(&b.0)));
    out
}

#[test]
fn metrics_move_while_the_run_lasts_and_end_as_the_report_says() {
    let dir = TempDir::new("live-metrics");
    dir.write("watched.toml", WATCHED);
    let run = LiveRun::start(
        &dir,
        &[
            "--scenario",
            "watched.toml",
            "--json",
            "report.json",
            "--quiet",
            "--metrics-linger",
            "3s",
        ],
    );
    // Two scrapes during the run, the second with more sent and more
    // delivery samples than the first.
    let first = run.scrape_until(Duration::from_secs(60), "messages sent", |e| {
        e.get(SENT) > 0.0 && e.get(DELIVERY_COUNT) > 0.0 && e.get(FINISHED) == 0.0
    });
    let second = run.scrape_until(Duration::from_secs(60), "sent count rising", |e| {
        e.get(SENT) > first.get(SENT) && e.get(DELIVERY_COUNT) > first.get(DELIVERY_COUNT)
    });
    assert_eq!(second.get(FINISHED), 0.0, "the run was still going");
    assert!(second.get("loadgen_open_connections") > 0.0);
    assert!(second.get("loadgen_users_online") > 0.0);
    assert!(second.sum("loadgen_checks_total") > 0.0);
    assert_eq!(second.get("loadgen_shard_info{shard=\"0/1\"}"), 1.0);
    assert!(second.get("loadgen_frames_received_total{type=\"new_message\"}") > 0.0);
    // The histogram fills, and its buckets are cumulative up to +Inf = count.
    let b = buckets(&second, "message_delivery", "intended");
    assert_eq!(b.len(), 18, "{b:?}");
    assert!(b.windows(2).all(|w| w[0].1 <= w[1].1), "{b:?}");
    assert_eq!(b.last().map(|x| x.0.as_str()), Some("+Inf"));
    assert_eq!(b.last().map(|x| x.1), Some(second.get(DELIVERY_COUNT)));
    // The last scrape, during the linger, holds the run's final numbers.
    let last = run.scrape_until(Duration::from_secs(120), "loadgen_finished 1", |e| {
        e.get(FINISHED) == 1.0
    });
    let code = run.wait();
    assert_eq!(code, Some(0), "a clean run");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).expect("the JSON report"),
    )
    .expect("JSON");
    assert_eq!(last.get(SENT) as u64, u64_at(&report, "messages.sent"));
    assert_eq!(
        last.get("loadgen_messages_delivered_total") as u64,
        u64_at(&report, "messages.delivered")
    );
    assert_eq!(
        last.get(DELIVERY_COUNT) as u64,
        u64_at(&report, "latency_us.message_delivery.count")
    );
    assert_eq!(
        last.get("loadgen_latency_seconds_count{kind=\"message_echo\",from=\"actual\"}") as u64,
        u64_at(&report, "latency_us_actual.message_echo.count")
    );
    assert_eq!(last.sum("loadgen_violations_total"), 0.0);
}

#[test]
fn a_faulty_server_shows_violations_live_and_in_the_events_before_the_summary() {
    let dir = TempDir::new("live-fault");
    dir.write("watched.toml", WATCHED);
    // duplicate-message: every message arrives twice, which the checker
    // sees online (I5), the moment the second copy is read.
    let run = LiveRun::start(
        &dir,
        &[
            "--scenario",
            "watched.toml",
            "--fault",
            "duplicate-message",
            "--events",
            "events.jsonl",
            "--quiet",
            "--metrics-linger",
            "1s",
        ],
    );
    let live = run.scrape_until(
        Duration::from_secs(60),
        "violations counted while the run goes on",
        |e| e.sum("loadgen_violations_total") > 0.0,
    );
    assert_eq!(
        live.get(FINISHED),
        0.0,
        "the first scrape with violations should come before the run ends"
    );
    assert!(live.get("loadgen_violations_total{invariant=\"I5\"}") > 0.0);
    assert_eq!(run.wait(), Some(1), "a violation exits 1");

    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("the events file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let kind = |v: &Value| v["event"].as_str().unwrap_or("").to_owned();
    let first_violation = lines
        .iter()
        .position(|v| kind(v) == "violation")
        .unwrap_or_else(|| panic!("no violation line in\n{text}"));
    assert_eq!(lines[first_violation]["violation"]["invariant"], "I5");
    let summary = lines
        .iter()
        .position(|v| kind(v) == "summary")
        .expect("a summary line");
    assert_eq!(summary, lines.len() - 1, "the summary is the last line");
    assert!(first_violation < summary);
    // Found while the run went on: interval lines follow it.
    assert!(
        lines[first_violation..summary]
            .iter()
            .any(|v| kind(v) == "interval"),
        "the violation was only written at the end"
    );
    assert_eq!(lines[summary]["verdict"], "violations");
    assert_eq!(lines[summary]["exit_code"], 1);
    // Interval lines carry the per-kind summary.
    let interval = lines
        .iter()
        .find(|v| {
            kind(v) == "interval" && v["latency_us"]["message_echo"]["count"].as_u64() > Some(0)
        })
        .unwrap_or_else(|| panic!("no interval line with echo latency in\n{text}"));
    assert!(interval["latency_us"]["message_echo"]["p99"]
        .as_u64()
        .is_some());
}

#[test]
fn a_taken_metrics_port_is_a_usage_error_before_the_run() {
    let dir = TempDir::new("live-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address").to_string();
    let run = crate::support::loadgen(
        &dir,
        &["--scenario", "smoke", "--metrics-addr", &addr, "--quiet"],
    );
    run.assert_code(2);
    assert!(
        run.stderr.contains("--metrics-addr") && run.stderr.contains("cannot serve"),
        "{}",
        run.context()
    );
}
