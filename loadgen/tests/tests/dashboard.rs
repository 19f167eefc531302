//! `deploy/grafana/loadgen.json` queries only what is exported: every metric
//! name in its PromQL (panels and template variables) must be one that a
//! real scrape of `loadgen --metrics-addr` or of `chat-server`'s `/metrics`
//! shows, so a renamed metric fails here rather than as an empty panel.

use crate::scrape::{get_metrics, Exposition, LiveRun};
use crate::support::TempDir;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/grafana/loadgen.json"
);

/// Words of PromQL that are not metric names when not followed by `(`.
const KEYWORDS: [&str; 9] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
];

/// The metric names a PromQL expression reads: identifiers outside label
/// matchers (`{...}`), ranges (`[...]`) and strings, that are neither a
/// function or aggregation (followed by `(`), nor a keyword, nor in the
/// label list after `by`/`without`/`on`/`ignoring`/`group_*`, nor an
/// aggregation followed by its `by (...)` clause.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    // Blank out strings, label matchers and ranges.
    let mut flat = String::with_capacity(expr.len());
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' if depth_brace == 0 => in_string = !in_string,
            '{' if !in_string => depth_brace += 1,
            '}' if !in_string => depth_brace -= 1,
            '[' if !in_string && depth_brace == 0 => depth_bracket += 1,
            ']' if !in_string && depth_brace == 0 => depth_bracket -= 1,
            _ => {}
        }
        let hidden = in_string || depth_brace > 0 || depth_bracket > 0 || "\"{}[]".contains(c);
        flat.push(if hidden { ' ' } else { c });
    }
    let chars: Vec<char> = flat.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let rest: String = chars[i..].iter().collect();
            let rest = rest.trim_start();
            // `sum by (le) (...)`: an aggregation, its clause before its `(`.
            let aggregation = ["by", "without"].iter().any(|k| {
                rest.strip_prefix(k)
                    .is_some_and(|r| r.trim_start().starts_with('('))
            });
            if KEYWORDS.contains(&word.as_str()) {
                skip_label_list = !matches!(word.as_str(), "bool" | "and" | "or");
            } else if !rest.starts_with('(') && !aggregation {
                names.insert(word);
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number, with an exponent: 1e-3.
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c == '(' && skip_label_list {
            // `by (le, kind)`: labels, not metrics.
            while i < chars.len() && chars[i] != ')' {
                i += 1;
            }
            skip_label_list = false;
            i += 1;
        } else {
            i += 1;
        }
    }
    names
}

/// Every PromQL expression of the dashboard: panel targets and template
/// variable queries (`label_values(METRIC, label)` reads `METRIC`).
fn queries(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("a 'panels' list") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            out.push(
                t["expr"]
                    .as_str()
                    .expect("every target has an expr")
                    .to_owned(),
            );
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] == "query" {
            let q = var["query"].as_str().expect("a query variable's query");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.split(',').next())
                .unwrap_or_else(|| panic!("unexpected variable query {q}"));
            out.push(inner.to_owned());
        }
    }
    out
}

#[test]
fn promql_names_are_found() {
    let names = metric_names(
        r#"histogram_quantile(0.99, sum by (le, kind) (rate(loadgen_latency_seconds_bucket{from="intended", kind=~"a|b"}[$__rate_interval]))) / 1e3 + on(job) group_left(x) chat_up"#,
    );
    let expected: BTreeSet<String> = ["loadgen_latency_seconds_bucket", "chat_up"]
        .map(String::from)
        .into();
    assert_eq!(names, expected);
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(DASHBOARD).unwrap_or_else(|e| panic!("{DASHBOARD}: {e}")),
    )
    .unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"));

    // loadgen's names, from a real run.
    let dir = TempDir::new("dashboard");
    let run = LiveRun::start(
        &dir,
        &[
            "--scenario",
            "smoke",
            "--users",
            "10",
            "--duration",
            "2s",
            "--quiet",
            "--metrics-linger",
            "1s",
        ],
    );
    let loadgen = run.scrape_until(Duration::from_secs(120), "a first interval", |e| {
        e.get("loadgen_messages_sent_total") > 0.0
    });
    run.wait();
    // chat-server's names, from an embedded server's /metrics.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let server = runtime
        .block_on(server::Embedded::start(server::Config::default()))
        .expect("the embedded server starts");
    let chat = Exposition::parse(&get_metrics(server.addr).expect("chat-server /metrics"));
    drop(server);

    let exported: BTreeSet<String> = loadgen
        .sample_names()
        .into_iter()
        .chain(chat.sample_names())
        .collect();
    assert!(exported.iter().any(|n| n.starts_with("loadgen_")));
    assert!(exported.iter().any(|n| n.starts_with("chat_")));

    let mut used = BTreeSet::new();
    for q in queries(&dashboard) {
        let names = metric_names(&q);
        assert!(!names.is_empty(), "a query that reads no metric: {q}");
        for n in names {
            assert!(
                exported.contains(&n),
                "the dashboard queries {n} (in {q}), which neither loadgen nor chat-server exports.\nExported: {exported:?}"
            );
            used.insert(n);
        }
    }
    // The dashboard covers what the issue asks: latency, throughput,
    // connections, lag, violations, from both sides.
    for needed in [
        "loadgen_latency_seconds_bucket",
        "loadgen_messages_sent_total",
        "loadgen_open_connections",
        "loadgen_generator_lag_p99_seconds",
        "loadgen_violations_total",
        "chat_open_connections",
    ] {
        assert!(used.contains(needed), "the dashboard never shows {needed}");
    }
}
