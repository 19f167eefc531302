//! Capacity tests: the bisection over a fake server, step verdicts, the answer line.

use super::*;
use crate::report::Invariants;

/// Runs a search against a fake server that holds up to `cap`.
fn drive(mut s: Search, cap: f64) -> (Search, Vec<f64>) {
    let mut tried = Vec::new();
    while let Some(load) = s.next() {
        tried.push(load);
        s.record(load, load <= cap);
    }
    (s, tried)
}

#[test]
fn ramps_by_doubling_then_bisects() {
    let (s, tried) = drive(Search::new(100.0, 10_000.0, 1.0, 0.10, 20), 1400.0);
    assert_eq!(&tried[..5], &[100.0, 200.0, 400.0, 800.0, 1600.0]);
    assert_eq!(tried[5], 1200.0);
    let cap = s.capacity().expect("a capacity");
    let fail = s.failed().expect("a failure");
    assert!(cap <= 1400.0 && fail > 1400.0, "{cap} {fail}");
    assert!(
        fail - cap <= cap * 0.10,
        "within the resolution: {cap} {fail}"
    );
}

#[test]
fn finds_exact_capacity_at_unit_resolution() {
    let (s, _) = drive(Search::new(2.0, 5000.0, 1.0, 0.0, 100), 1234.0);
    assert_eq!((s.capacity(), s.failed()), (Some(1234.0), Some(1235.0)));
}

#[test]
fn min_failing_ends_at_once_and_max_passing_stops_at_max() {
    let (s, tried) = drive(Search::new(500.0, 4000.0, 1.0, 0.1, 10), 100.0);
    assert_eq!(tried, [500.0]);
    assert_eq!((s.capacity(), s.failed()), (None, Some(500.0)));
    let (s, tried) = drive(Search::new(500.0, 3000.0, 1.0, 0.1, 10), 1e9);
    assert_eq!(tried, [500.0, 1000.0, 2000.0, 3000.0]);
    assert_eq!((s.capacity(), s.failed()), (Some(3000.0), None));
}

#[test]
fn max_steps_bounds_the_search_and_rates_round_to_thousandths() {
    let (s, tried) = drive(Search::new(0.1, 8.0, 0.001, 0.0, 6), 1.337);
    assert_eq!(tried.len(), 6);
    assert!(tried
        .iter()
        .all(|l| ((l * 1000.0).round() - l * 1000.0).abs() < 1e-6));
    assert!(s.capacity().expect("passes") <= 1.337);
}

fn report(p99_ms: u64, violations: usize, saturated: bool) -> Report {
    let mut rec = Recorder::new();
    for _ in 0..100 {
        rec.record(LatencyKind::MessageDelivery, p99_ms * 1000, 0);
    }
    let facts = RunFacts::example();
    let inv = Invariants {
        violations: (0..violations)
            .map(|_| serde_json::json!({"invariant": "I1", "message": "x"}))
            .collect(),
        ..Invariants::default()
    };
    let mut r = Report::build(&facts, &rec, inv);
    r.generator.saturated = saturated;
    r
}

#[test]
fn a_step_fails_on_slo_violation_or_saturation() {
    let slos = threshold::parse_all(&["message_delivery.p99<20ms".to_owned()]).expect("valid");
    assert!(Step::judge(1.0, &slos, report(5, 0, false)).passed);
    let slow = Step::judge(2.0, &slos, report(31, 0, false));
    assert_eq!(
        slow.reason.as_deref(),
        Some("message_delivery.p99 31.0ms (limit < 20.0ms)")
    );
    let sat = Step::judge(3.0, &slos, report(5, 0, true));
    assert!(sat
        .reason
        .expect("fails")
        .starts_with("generator saturated"));
    let bad = Step::judge(4.0, &slos, report(5, 2, false));
    assert_eq!(bad.reason.as_deref(), Some("2 invariant violation(s)"));
    assert_eq!(bad.report.thresholds.len(), 1);
}

#[test]
fn answer_and_outcome() {
    let slos = threshold::parse_all(&["message_delivery.p99<20ms".to_owned()]).expect("valid");
    let mut r = CapacityReport {
        scenario: "chat".into(),
        target: "embedded".into(),
        vary: Vary::Users,
        slos: vec!["message_delivery.p99<20ms".into()],
        capacity: Some(1400.0),
        failed_at: Some(1600.0),
        steps: vec![
            Step::judge(1400.0, &slos, report(5, 0, false)),
            Step::judge(1600.0, &slos, report(31, 0, false)),
        ],
    };
    assert_eq!(
        r.answer(),
        "capacity: 1400 users (next step 1600 users failed: message_delivery.p99 31.0ms (limit < 20.0ms); margin 14%)"
    );
    assert_eq!(r.outcome().exit_code(), 0);
    let mut out = Vec::new();
    write_header(Vary::Users, &mut out).expect("to a Vec");
    write_step(1, &r.steps[1], &mut out).expect("to a Vec");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(
        out.contains("message_delivery") && out.contains("FAIL"),
        "{out}"
    );
    r.capacity = None;
    r.steps.remove(0);
    assert_eq!(r.outcome().exit_code(), 3);
    assert!(
        r.answer().starts_with("capacity: none found"),
        "{}",
        r.answer()
    );
    r.steps[0] = Step::judge(1600.0, &slos, report(5, 1, false));
    assert_eq!(r.outcome().exit_code(), 1);
}

#[test]
fn steady_state_skips_warmup_and_drain() {
    let mut intervals = Vec::new();
    for s in 1..=10u64 {
        let mut r = Recorder::new();
        r.record(LatencyKind::MessageEcho, s, s);
        intervals.push((
            Duration::from_secs(s),
            crate::metrics::CompactRecorder::new(&r),
        ));
    }
    let (rec, covered) = steady_state(&intervals, Duration::from_millis(3500));
    let h = rec.latency(LatencyKind::MessageEcho).expect("merged");
    // Intervals ending at 4..=9 s; the 10 s one is the drain.
    assert_eq!((h.len(), h.min(), h.max()), (6, 4, 9));
    assert_eq!(covered, Duration::from_millis(5500));
}

#[test]
fn flags_parse() {
    let o = CapacityOpts::try_parse_from([
        "loadgen capacity",
        "--scenario",
        "chat",
        "--slo",
        "message_delivery.p99<20ms",
        "--vary",
        "rate",
        "--min",
        "0.1",
        "--max",
        "2",
        "--step-duration",
        "10s",
    ])
    .expect("valid flags");
    assert_eq!(o.vary, Vary::Rate);
    assert_eq!(o.step_duration, Duration::from_secs(10));
    assert_eq!(o.resolution, 0.10);
    assert!(CapacityOpts::try_parse_from(["loadgen capacity", "--scenario", "chat"]).is_err());
}
