//! Report tests: the stable JSON keys, saturation, the text summary.

use super::*;
use crate::metrics::{LatencyKind, Recorder, RestEndpoint};
use serde_json::Value;

fn facts() -> RunFacts {
    RunFacts {
        scenario: "smoke".into(),
        seed: 42,
        target: "embedded".into(),
        elapsed: Duration::from_secs(10),
        users: 300,
        connections: 600,
        cpu_s: 1.5,
        saturation_lag: Duration::from_millis(50),
        faults: vec![],
        replay: "loadgen --scenario smoke --seed 42".into(),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| {
        v.get(k)
            .unwrap_or_else(|| panic!("missing key {path} (at {k})"))
    })
}

#[test]
fn json_has_every_stable_key_even_when_empty() {
    let report = Report::build(&facts(), &Recorder::new(), Invariants::default());
    let v: Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    for key in [
        "scenario",
        "seed",
        "target",
        "duration_s",
        "users",
        "connections",
        "messages.sent",
        "messages.delivered",
        "generator.cpu_s",
        "generator.lag_us.p99",
        "generator.saturated",
        "errors",
        "invariants.checked",
        "invariants.violations",
        "invariants.redundant",
        "invariants.coverage",
    ] {
        at(&v, key);
    }
    for kind in LatencyKind::ALL {
        for stat in ["count", "min", "mean", "p50", "p90", "p99", "p999", "max"] {
            let x = at(&v, &format!("latency_us.{}.{stat}", kind.as_str()));
            assert_eq!(x.as_f64(), Some(0.0), "{kind:?}.{stat}");
            at(&v, &format!("latency_us_actual.{}.{stat}", kind.as_str()));
        }
        at(&v, &format!("throughput.{}_per_s", kind.as_str()));
    }
    assert!(at(&v, "invariants.violations").is_array());
    assert!(at(&v, "errors").is_object());
    assert_eq!(at(&v, "generator.saturated"), &Value::Bool(false));
    assert_eq!(
        at(&v, "latency_us").as_object().map(|o| o.len()),
        Some(LatencyKind::ALL.len())
    );
}

#[test]
fn build_summarizes_the_recorder() {
    let mut rec = Recorder::new();
    for v in 1..=1000u64 {
        rec.record(LatencyKind::MessageEcho, v * 10, v * 5);
    }
    rec.record_rest(RestEndpoint::CreateConversation, 2000, 1800);
    rec.messages_sent = 1000;
    rec.messages_delivered = 3000;
    rec.count_error("ws_connect");
    rec.record_lag(100);
    let inv = Invariants {
        checked: [("I1".to_owned(), 10)].into_iter().collect(),
        violations: vec![serde_json::json!({"invariant": "I5", "message": "message 7 lost"})],
        redundant: 2,
        ..Invariants::default()
    };
    let r = Report::build(&facts(), &rec, inv);
    let echo = r.latency_us.message_echo;
    assert_eq!(echo.count, 1000);
    assert_eq!(echo.min, 10);
    assert!((echo.p50 as f64 - 5000.0).abs() < 10.0, "{}", echo.p50);
    assert!((echo.p99 as f64 - 9900.0).abs() < 20.0, "{}", echo.p99);
    assert!(echo.max >= 10_000 && echo.max <= 10_010);
    assert_eq!(r.latency_us_actual.message_echo.min, 5);
    assert_eq!(r.throughput.message_echo_per_s, 100.0);
    assert_eq!(r.latency_us.rest.count, 1);
    assert_eq!(
        r.latency_us_rest.keys().collect::<Vec<_>>(),
        ["create_conversation"]
    );
    assert_eq!(
        r.messages,
        Messages {
            sent: 1000,
            delivered: 3000
        }
    );
    assert_eq!(r.errors.get("ws_connect"), Some(&1));
    assert_eq!(r.error_total(), 1);
    assert!(!r.generator.saturated);

    let back: Report = serde_json::from_str(&r.to_json()).expect("round trip");
    assert_eq!(back, r);
}

#[test]
fn lag_over_the_limit_is_saturation() {
    let mut rec = Recorder::new();
    for _ in 0..100 {
        rec.record_lag(60_000);
    }
    let r = Report::build(&facts(), &rec, Invariants::default());
    assert!(r.generator.saturated);
    assert_eq!(r.generator.saturation_limit_us, 50_000);
}

#[test]
fn text_summary_renders() {
    let mut rec = Recorder::new();
    rec.record(LatencyKind::Presence, 1234, 1000);
    rec.record_rest(RestEndpoint::SendMessage, 2_500_000, 2_400_000);
    rec.count_error("rest_5xx");
    rec.record_lag(1_003);
    let inv = Invariants {
        violations: vec![
            serde_json::json!({"invariant": "I2", "message": "offline while connected"}),
        ],
        ..Invariants::default()
    };
    let r = Report::build(&facts(), &rec, inv);
    let mut out = Vec::new();
    text::write_summary(&r, &mut out).expect("writing to a Vec cannot fail");
    let s = String::from_utf8(out).expect("UTF-8");
    for needle in [
        "Scenario smoke (seed 42) against embedded",
        "Latency from intended send time (includes the generator's lag: p50 1.00ms, p99 1.00ms)",
        "message_echo",
        "presence",
        "1.23ms",
        "send_message",
        "2.50s",
        "rest_5xx 1",
        "I2: offline while connected",
        "1 violation(s)",
        "Replay: loadgen",
    ] {
        assert!(s.contains(needle), "missing {needle:?} in:\n{s}");
    }
}

#[test]
fn json_file_round_trip() {
    let r = Report::build(&facts(), &Recorder::new(), Invariants::default());
    let path =
        std::env::temp_dir().join(format!("loadgen-report-test-{}.json", std::process::id()));
    r.write_json(&path).expect("temp dir is writable");
    let back = Report::read_json(&path).expect("reads back");
    std::fs::remove_file(&path).ok();
    assert_eq!(back, r);
}

#[test]
fn units_are_human() {
    assert_eq!(text::fmt_us(850), "850µs");
    assert_eq!(text::fmt_us(1234), "1.23ms");
    assert_eq!(text::fmt_us(12_345), "12.3ms");
    assert_eq!(text::fmt_us(1_200_000), "1.20s");
}
