//! Unit tests of threshold parsing and evaluation.
use super::*;
use crate::metrics::Recorder;
use crate::report::{Invariants, RunFacts};

fn t(s: &str) -> Threshold {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn report() -> Report {
    let mut rec = Recorder::new();
    for v in 1..=1000u64 {
        rec.record(LatencyKind::MessageDelivery, v * 20, v * 10);
        rec.record_lag(v);
    }
    rec.count_error("ws_connect");
    let facts = RunFacts {
        scenario: "t".into(),
        users: 10,
        connections: 20,
        ..RunFacts::example()
    };
    Report::build(&facts, &rec, Invariants::default())
}

#[test]
fn parses_the_issue_examples() {
    let p = t("message_delivery.p99<20ms");
    assert_eq!(
        p.metric,
        Metric::Latency {
            kind: LatencyKind::MessageDelivery,
            actual: false,
            stat: Stat::P99
        }
    );
    assert_eq!((p.op, p.limit), (Op::Lt, 20_000.0));
    assert_eq!(t("presence.p999 < 200ms").limit, 200_000.0);
    assert_eq!(t("errors.rate<0.001").metric, Metric::ErrorRate);
    let s = t("generator.saturated==false");
    assert_eq!((s.metric, s.op, s.limit), (Metric::Saturated, Op::Eq, 0.0));
    let th = t("throughput.message_delivery_per_s>100");
    assert_eq!(th.metric, Metric::Throughput(LatencyKind::MessageDelivery));
    assert_eq!(th.op, Op::Gt);
    assert_eq!(t("throughput.typing >= 5").op, Op::Ge);
    assert_eq!(t("message_echo.actual.p50<=1.5ms").limit, 1_500.0);
    assert_eq!(t("generator.lag.p99<500us").metric, Metric::Lag(Stat::P99));
    assert_eq!(
        t("errors.ws_connect==0").metric,
        Metric::ErrorCount(Some("ws_connect".into()))
    );
    assert_eq!(t("  rest.max<2s ").expr, "rest.max<2s");
}

#[test]
fn bad_expressions_name_themselves_and_say_why() {
    for (bad, why) in [
        ("message_delivery.p99", "expected METRIC OP VALUE"),
        ("message_delivery.p99<20", "expected a duration"),
        ("message_delivery.p98<20ms", "unknown statistic 'p98'"),
        ("delivery.p99<20ms", "unknown metric 'delivery.p99'"),
        ("throughput.foo_per_s>1", "unknown kind 'foo'"),
        ("errors.rate<5", "fraction"),
        ("generator.saturated<true", "== or !="),
        ("generator.saturated==no", "true or false"),
        ("<20ms", "both sides"),
        ("errors.count<x", "expected a number"),
    ] {
        let e = bad.parse::<Threshold>().expect_err(bad);
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("threshold '{bad}'")), "{msg}");
        assert!(msg.contains(why), "{bad}: {msg}");
    }
}

#[test]
fn evaluation_against_a_report() {
    let r = report();
    let p99 = r.latency_us.message_delivery.p99 as f64;
    let res = t("message_delivery.p99<20ms").evaluate(&r);
    assert!(res.passed, "{res:?}");
    assert_eq!(res.observed, Some(p99));
    assert!(!t("message_delivery.p99<10ms").evaluate(&r).passed);
    assert!(t("message_delivery.count==1000").evaluate(&r).passed);
    assert!(
        t("throughput.message_delivery_per_s>=100")
            .evaluate(&r)
            .passed
    );
    assert!(
        !t("throughput.message_delivery_per_s>100")
            .evaluate(&r)
            .passed
    );
    // 1 error over 1000 samples + 1 error.
    let rate = t("errors.rate<0.0005").evaluate(&r);
    assert!(!rate.passed);
    assert!((rate.observed.expect("a rate") - 1.0 / 1001.0).abs() < 1e-12);
    assert!(t("errors.rate<0.001").evaluate(&r).passed);
    assert!(t("errors.ws_connect==1").evaluate(&r).passed);
    assert!(t("errors.rest_5xx==0").evaluate(&r).passed);
    assert!(t("generator.saturated==false").evaluate(&r).passed);
    assert!(t("generator.lag.p99<2ms").evaluate(&r).passed);
}

#[test]
fn a_kind_without_samples_fails_its_latency_threshold() {
    let r = report();
    let res = t("presence.p99<1s").evaluate(&r);
    assert_eq!((res.passed, res.observed), (false, None));
    assert!(t("presence.count==0").evaluate(&r).passed);
    assert_eq!(
        t("presence.p99<1s").explain(None),
        "presence.p99: no samples"
    );
}

#[test]
fn saturation_threshold_breaches() {
    let mut r = report();
    r.generator.saturated = true;
    let res = evaluate_all(&[t("generator.saturated==false")], &r);
    assert_eq!(breaches(&res), ["generator.saturated==false"]);
}

#[test]
fn printed_table_shows_observed_values() {
    let r = report();
    let ts = vec![t("message_delivery.p99<10ms"), t("presence.p50<1s")];
    let res = evaluate_all(&ts, &r);
    let mut out = Vec::new();
    write_results(&ts, &res, &mut out).expect("write to a Vec");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(out.contains("0 passed, 2 breached"), "{out}");
    assert!(
        out.contains("BREACHED message_delivery.p99<10ms  observed 19.8ms"),
        "{out}"
    );
    assert!(out.contains("observed no samples"), "{out}");
    assert_eq!(
        ts[0].explain(res[0].observed),
        "message_delivery.p99 19.8ms (limit < 10.0ms)"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration_us("20ms"), Some(20_000.0));
    assert_eq!(parse_duration_us("500µs"), Some(500.0));
    assert_eq!(parse_duration_us("1.5s"), Some(1_500_000.0));
    assert_eq!(parse_duration_us("20"), None);
    assert_eq!(parse_duration_us("ms"), None);
    assert_eq!(parse_duration_us("2 parsecs"), None);
}
