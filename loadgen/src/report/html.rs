//! The HTML report (`--html PATH`): one self-contained file, as CLI.md asks:
//! plots inlined as `<svg>` ([`super::plots`]), one inline `<style>`, no
//! script, no external style sheet, font or image.
//!
//! Sections: the run's facts and verdict; thresholds; invariants; the
//! latency table; a latency-by-percentile plot per kind (`<figure
//! class="latency" data-kind="...">`, every kind present, "no samples"
//! when unexercised), each main kind's next to its p50/p99 per second
//! (`<figure class="latency-time">`, violations marked when found);
//! throughput, connections and generator lag over time; errors and
//! counters.
//!
//! Connections over time are the *cumulative handshakes* (connections
//! opened): the per-interval recorders carry counts, not the open-connection
//! gauge, so closes are not subtracted.

use super::plots::{self, Series};
use super::text::fmt_us;
use super::{LatencySummary, Report};
use crate::metrics::{CompactRecorder, LatencyKind, Recorder};
use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1180px}\
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}\
.pass{color:#176f2c;font-weight:bold}.fail{color:#b00020;font-weight:bold}\
.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figure svg{display:block}\
figure.empty{width:560px;height:60px;border:1px dashed #ccc;display:flex;align-items:center;justify-content:center;color:#888}\
code{background:#f4f4f4;padding:1px 4px}";

/// Renders the report of a run: `report` (with thresholds evaluated), the
/// merged `recorder` (for the percentile plots) and the per-second
/// `intervals` (for the over-time plots).
pub fn render(
    report: &Report,
    recorder: &Recorder,
    intervals: &[(Duration, CompactRecorder)],
) -> String {
    let r = report;
    let mut h = String::new();
    // `write!` to a String cannot fail; the results are ignored throughout.
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>loadgen: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&r.scenario)
    );
    let breached = r.thresholds.iter().filter(|t| !t.passed).count();
    let violations = r.invariants.violations.len();
    let (class, verdict) = if violations > 0 {
        ("fail", format!("{violations} invariant violation(s)"))
    } else if !r.invariants.undecided.is_empty() {
        // An undecided check is not a pass (CLI.md).
        let n: u64 = r.invariants.undecided.values().map(|u| u.count).sum();
        ("fail", format!("not clean: {n} check(s) left undecided"))
    } else if breached > 0 {
        ("fail", format!("{breached} threshold(s) breached"))
    } else {
        ("pass", "clean".to_owned())
    };
    let _ = write!(
        h,
        "<h1>Scenario {} <span class=\"{class}\">{}</span></h1>\n<p>seed {}, against {}: {} users, {} connections, {:.1} s; \
         {} messages sent, {} delivered; generator {} (lag p99 {}, limit {}).</p>\n",
        escape(&r.scenario),
        escape(&verdict),
        r.seed,
        escape(&r.target),
        r.users,
        r.connections,
        r.duration_s,
        r.messages.sent,
        r.messages.delivered,
        if r.generator.saturated { "<span class=\"fail\">SATURATED</span>" } else { "not saturated" },
        fmt_us(r.generator.lag_us.p99),
        fmt_us(r.generator.saturation_limit_us),
    );
    if !r.faults.is_empty() {
        let _ = writeln!(h, "<p>Faults on: {}</p>", escape(&r.faults.join(", ")));
    }

    thresholds(&mut h, r);
    invariants(&mut h, r);

    let _ = writeln!(
        h,
        "<h2>Latency from intended send time</h2>\n<p>Includes the generator's own lag \
         (p50 {}, p99 {}); the plots below also show latency from the actual send time.</p>",
        fmt_us(r.generator.lag_us.p50),
        fmt_us(r.generator.lag_us.p99),
    );
    latency_table(&mut h, r);

    let _ = writeln!(
        h,
        "<h2>Latency by percentile, and over time</h2>\n<p>Left: the whole run's distribution. \
         Right, for the main kinds: p50 and p99 of each second (from the intended send time), \
         with a red line where a violation was found.</p>\n<div class=\"grid\">"
    );
    let per_second = super::timeline::latency_per_second(intervals);
    let marks = super::timeline::violation_marks(r);
    for k in LatencyKind::ALL {
        let intended = recorder.latency(k).filter(|x| !x.is_empty());
        let actual = recorder.latency_actual(k).filter(|x| !x.is_empty());
        let mut series = Vec::new();
        if let Some(x) = intended {
            series.push(("from intended send time", x));
        }
        if let Some(x) = actual {
            series.push(("from actual send time", x));
        }
        if series.is_empty() {
            let _ = writeln!(
                h,
                "<figure class=\"latency empty\" data-kind=\"{0}\">{0}: no samples</figure>",
                k.as_str()
            );
            continue;
        }
        let _ = writeln!(
            h,
            "<figure class=\"latency\" data-kind=\"{}\">{}</figure>",
            k.as_str(),
            plot_or_note(plots::latency_by_percentile(k.as_str(), &series))
        );
        if let Some((_, lines)) = per_second.iter().find(|(kind, _)| *kind == k) {
            let _ = writeln!(
                h,
                "<figure class=\"latency-time\" data-kind=\"{}\">{}</figure>",
                k.as_str(),
                plot_or_note(plots::timeline(
                    &format!("{} per second", k.as_str()),
                    "latency (ms)",
                    lines,
                    None,
                    &marks,
                    plots::LATENCY_SIZE,
                ))
            );
        }
    }
    let _ = writeln!(h, "</div>");

    let _ = writeln!(h, "<h2>Over time</h2>");
    for plot in over_time(r, intervals) {
        let _ = writeln!(h, "<figure class=\"time\">{plot}</figure>");
    }
    let _ = writeln!(
        h,
        "<p>Connections: handshakes completed since the start (closes are not subtracted).</p>"
    );

    let _ = writeln!(h, "<h2>Errors and counters</h2>");
    let mut rows: Vec<(String, u64)> = r
        .errors
        .iter()
        .map(|(k, v)| (format!("error: {k}"), *v))
        .collect();
    rows.extend(r.counts.iter().map(|(k, v)| (k.clone(), *v)));
    if rows.is_empty() {
        let _ = writeln!(h, "<p>none</p>");
    } else {
        let _ = writeln!(h, "<table><tr><th>name</th><th>count</th></tr>");
        for (k, v) in rows {
            let _ = writeln!(h, "<tr><td>{}</td><td>{v}</td></tr>", escape(&k));
        }
        let _ = writeln!(h, "</table>");
    }
    violation_list(&mut h, r);
    if !r.replay.is_empty() {
        let _ = writeln!(h, "<p>Replay: <code>{}</code></p>", escape(&r.replay));
    }
    h.push_str("</body></html>\n");
    h
}

/// Writes [`render`]'s page to `path`.
pub fn write(
    path: &Path,
    report: &Report,
    recorder: &Recorder,
    intervals: &[(Duration, CompactRecorder)],
) -> io::Result<()> {
    std::fs::write(path, render(report, recorder, intervals))
}

fn plot_or_note(p: Result<String, plots::PlotError>) -> String {
    p.unwrap_or_else(|e| format!("<p class=\"fail\">{}</p>", escape(&e.to_string())))
}

fn thresholds(h: &mut String, r: &Report) {
    let _ = writeln!(h, "<h2>Thresholds</h2>");
    if r.thresholds.is_empty() {
        let _ = writeln!(h, "<p>none given</p>");
        return;
    }
    let _ = writeln!(
        h,
        "<table class=\"thresholds\"><tr><th>threshold</th><th>observed</th><th>verdict</th></tr>"
    );
    for t in &r.thresholds {
        // The observed value in the threshold's own unit, when it parses
        // (it does: the report was evaluated from parsed thresholds).
        let observed = match (t.observed, t.expr.parse::<crate::threshold::Threshold>()) {
            (None, _) => "no samples".to_owned(),
            (Some(v), Ok(th)) => th.format_value(v),
            (Some(v), Err(_)) => v.to_string(),
        };
        let _ = writeln!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&t.expr),
            escape(&observed),
            if t.passed { "pass" } else { "fail" },
            if t.passed { "ok" } else { "BREACHED" }
        );
    }
    let _ = writeln!(h, "</table>");
}

/// How many violations the page lists (the JSON report has them all).
const VIOLATIONS_SHOWN: usize = 100;

fn invariants(h: &mut String, r: &Report) {
    let inv = &r.invariants;
    let _ = writeln!(
        h,
        "<h2>Invariants</h2>\n<p>{} violation(s), {} redundant status event(s).</p>",
        inv.violations.len(),
        inv.redundant
    );
    for (key, u) in &inv.undecided {
        let _ = writeln!(
            h,
            "<p class=\"fail\">Undecided ({}): {key} = {}: {}</p>",
            escape(&u.invariants),
            u.count,
            escape(&u.why)
        );
    }
    if !inv.checked.is_empty() {
        let _ = writeln!(
            h,
            "<table class=\"invariants\"><tr><th>invariant</th><th>checks</th><th>violations</th></tr>"
        );
        for (id, n) in &inv.checked {
            let bad = inv
                .violations
                .iter()
                .filter(|v| v.get("invariant").and_then(|x| x.as_str()) == Some(id))
                .count();
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{n}</td><td class=\"{}\">{bad}</td></tr>",
                escape(id),
                if bad > 0 { "fail" } else { "pass" }
            );
        }
        let _ = writeln!(h, "</table>");
    }
    if !inv.coverage.is_empty() {
        let list: Vec<String> = inv
            .coverage
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(h, "<p>Coverage: {}</p>", escape(&list.join(", ")));
    }
}

/// The violations one by one (up to [`VIOLATIONS_SHOWN`]), with when each
/// was found: last on the page, after the plots they are marked on.
fn violation_list(h: &mut String, r: &Report) {
    let inv = &r.invariants;
    if inv.violations.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<h2>Violations</h2>\n<p>{} listed{}; the JSON report (<code>--json</code>) has each one's users, \
         connections, frames and replay command.</p>",
        inv.violations.len(),
        if inv.violations.len() > VIOLATIONS_SHOWN {
            format!(", the first {VIOLATIONS_SHOWN} here")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        h,
        "<table class=\"violations\"><tr><th>invariant</th><th>found at</th><th>message</th></tr>"
    );
    for v in inv.violations.iter().take(VIOLATIONS_SHOWN) {
        let id = v.get("invariant").and_then(|x| x.as_str()).unwrap_or("?");
        let msg = v.get("message").and_then(|x| x.as_str()).unwrap_or("");
        let at = v
            .get("at_us")
            .and_then(|x| x.as_u64())
            .map_or_else(|| "-".to_owned(), |us| format!("{:.2} s", us as f64 / 1e6));
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{at}</td><td style=\"text-align:left\">{}</td></tr>",
            escape(id),
            escape(msg)
        );
    }
    let _ = writeln!(h, "</table>");
}

fn latency_table(h: &mut String, r: &Report) {
    let _ = writeln!(
        h,
        "<table class=\"latency\"><tr><th>kind</th><th>count</th><th>min</th><th>mean</th>\
         <th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>"
    );
    for k in LatencyKind::ALL {
        let s: &LatencySummary = r.latency_us.get(k);
        if s.count == 0 {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>0</td><td colspan=\"7\">-</td></tr>",
                k.as_str()
            );
            continue;
        }
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            k.as_str(),
            s.count,
            fmt_us(s.min),
            fmt_us(s.mean.round() as u64),
            fmt_us(s.p50),
            fmt_us(s.p90),
            fmt_us(s.p99),
            fmt_us(s.p999),
            fmt_us(s.max)
        );
    }
    let _ = writeln!(h, "</table>");
}

/// Throughput, connections and generator lag over time, as SVG strings.
fn over_time(r: &Report, intervals: &[(Duration, CompactRecorder)]) -> Vec<String> {
    let mut sent = Vec::new();
    let mut delivered = Vec::new();
    let mut rest = Vec::new();
    let mut opened = Vec::new();
    let mut lag = Vec::new();
    let mut prev = Duration::ZERO;
    let mut handshakes = 0u64;
    for (at, rec) in intervals {
        let rec = rec.expand();
        let dt = at.saturating_sub(prev).as_secs_f64();
        prev = *at;
        let t = at.as_secs_f64();
        let count = |k: LatencyKind| rec.latency(k).map_or(0, |x| x.len());
        if dt > 0.0 {
            sent.push((t, rec.messages_sent as f64 / dt));
            delivered.push((t, rec.messages_delivered as f64 / dt));
            rest.push((t, count(LatencyKind::Rest) as f64 / dt));
        }
        handshakes += count(LatencyKind::Handshake);
        opened.push((t, handshakes as f64));
        if let Some(l) = rec.lag().filter(|x| !x.is_empty()) {
            lag.push((t, l.value_at_quantile(0.99) as f64 / 1e3));
        }
    }
    let mut throughput: Vec<Series> = vec![
        ("messages sent / s".into(), sent),
        ("new_message frames received / s".into(), delivered),
    ];
    if rest.iter().any(|(_, y)| *y > 0.0) {
        throughput.push(("REST calls / s".into(), rest));
    }
    vec![
        plot_or_note(plots::over_time(
            "Throughput",
            "per second",
            &throughput,
            None,
        )),
        plot_or_note(plots::over_time(
            "Connections opened (cumulative handshakes)",
            "connections",
            &[("handshakes".into(), opened)],
            None,
        )),
        plot_or_note(plots::over_time(
            "Generator lag p99 per interval",
            "ms",
            &[("lag p99".into(), lag)],
            Some((
                "saturation limit",
                r.generator.saturation_limit_us as f64 / 1e3,
            )),
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Invariants, RunFacts, ThresholdResult};

    fn run() -> (Report, Recorder, Vec<(Duration, CompactRecorder)>) {
        let mut intervals = Vec::new();
        let mut total = Recorder::new();
        for s in 1..=5u64 {
            let mut r = Recorder::new();
            for v in 1..=200u64 {
                r.record(LatencyKind::MessageEcho, v * 10 * s, v * 8 * s);
                r.record(LatencyKind::MessageDelivery, v * 15 * s, v * 12 * s);
                r.record_lag(v);
            }
            r.record(LatencyKind::Handshake, 300, 300);
            r.messages_sent = 200;
            r.messages_delivered = 400;
            total.merge(&r);
            intervals.push((Duration::from_secs(s), CompactRecorder::new(&r)));
        }
        let facts = RunFacts {
            scenario: "smoke <&>".into(),
            seed: 1,
            target: "http://127.0.0.1:8000".into(),
            elapsed: Duration::from_secs(5),
            users: 10,
            connections: 20,
            cpu_s: 0.1,
            saturation_lag: Duration::from_millis(50),
            faults: vec![],
            replay: "loadgen --scenario smoke".into(),
        };
        let inv = Invariants {
            checked: [("I1".to_owned(), 10)].into(),
            violations: vec![
                serde_json::json!({"invariant": "I1", "message": "<script>x</script>", "at_us": 2_500_000}),
            ],
            ..Invariants::default()
        };
        let mut report = Report::build(&facts, &total, inv);
        report.thresholds.push(ThresholdResult {
            expr: "message_delivery.p99<20ms".into(),
            passed: true,
            observed: Some(14_000.0),
        });
        (report, total, intervals)
    }

    /// A run that left checks undecided is never headed "clean".
    #[test]
    fn undecided_checks_are_not_clean() {
        let (mut report, total, intervals) = run();
        report.invariants.violations.clear();
        report.invariants.undecided.insert(
            "sends_too_recent".into(),
            crate::report::UndecidedEntry {
                invariants: "I5".into(),
                count: 7,
                why: "sends younger than δ".into(),
            },
        );
        let html = render(&report, &total, &intervals);
        assert!(html.contains("not clean: 7 check(s) left undecided"));
        assert!(html.contains("Undecided (I5): sends_too_recent = 7"));
        assert!(!html.contains("\"pass\">clean"));
    }

    #[test]
    fn page_is_self_contained_with_a_plot_per_kind() {
        let (report, total, intervals) = run();
        let html = render(&report, &total, &intervals);
        for k in LatencyKind::ALL {
            let plain = format!("class=\"latency\" data-kind=\"{}\"", k.as_str());
            let empty = format!("class=\"latency empty\" data-kind=\"{}\"", k.as_str());
            assert_eq!(
                html.matches(&plain).count() + html.matches(&empty).count(),
                1,
                "{plain}"
            );
        }
        // Exercised kinds (echo, delivery, handshake) have a plot; the others say so.
        assert_eq!(html.matches("<figure class=\"latency\"").count(), 3);
        assert_eq!(html.matches("no samples</figure>").count(), 4);
        // Echo and delivery (main kinds) also over time; handshake not.
        assert_eq!(html.matches("<figure class=\"latency-time\"").count(), 2);
        assert!(html.contains("message_delivery per second"));
        // The violation (found at 2.5 s) is marked on them and timed in its table.
        assert_eq!(html.matches("violations: I1").count(), 2);
        assert!(html.contains("<td>2.50 s</td>"));
        // + 3 over-time plots.
        assert_eq!(html.matches("<svg").count(), 8);
        for bad in [
            "src=\"http",
            "href=\"http",
            "url(http",
            "@import",
            "<script",
            "<link",
        ] {
            assert!(!html.contains(bad), "{bad}");
        }
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("smoke &lt;&amp;&gt;"));
        assert!(html.contains("<code>message_delivery.p99&lt;20ms</code></td><td>14.0ms</td>"));
        assert!(html.contains("99.9%"), "percentile labels");
    }
}
