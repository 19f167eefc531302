//! The human summary: a header, a percentile table per latency kind (from
//! the intended send time, then from the actual one), REST endpoints, the
//! generator's health, errors and the checker's verdicts, in the spirit of
//! oha's and k6's end-of-run summaries. Writes to any `Write`.

use super::{LatencySummary, PerKind, Report};
use crate::metrics::LatencyKind;
use std::io::{self, Write};

/// How many violations the summary lists one by one (the JSON has them all).
const VIOLATIONS_SHOWN: usize = 10;

/// Writes the summary of `report` to `w`.
pub fn write_summary(report: &Report, w: &mut impl Write) -> io::Result<()> {
    let r = report;
    writeln!(
        w,
        "Scenario {} (seed {}) against {}: {} users, {} connections, {:.1} s",
        r.scenario, r.seed, r.target, r.users, r.connections, r.duration_s
    )?;
    if !r.faults.is_empty() {
        writeln!(w, "Faults on: {}", r.faults.join(", "))?;
    }
    let per_s = |n: u64| {
        if r.duration_s > 0.0 {
            n as f64 / r.duration_s
        } else {
            0.0
        }
    };
    writeln!(
        w,
        "Messages: {} sent ({:.1}/s), {} delivered ({:.1}/s)",
        r.messages.sent,
        per_s(r.messages.sent),
        r.messages.delivered,
        per_s(r.messages.delivered)
    )?;

    // Lag is the floor of every latency from the intended time (tokio's
    // 1 ms timer alone makes it ~1 ms): say so where the table starts.
    writeln!(
        w,
        "\nLatency from intended send time (includes the generator's lag: p50 {}, p99 {})",
        fmt_us(r.generator.lag_us.p50),
        fmt_us(r.generator.lag_us.p99)
    )?;
    latency_table(w, &r.latency_us)?;
    writeln!(w, "\nLatency from actual send time")?;
    latency_table(w, &r.latency_us_actual)?;
    if !r.latency_us_rest.is_empty() {
        writeln!(w, "\nREST endpoints (from intended send time)")?;
        header(w, "endpoint")?;
        for (name, s) in &r.latency_us_rest {
            row(w, name, s)?;
        }
    }

    let g = &r.generator;
    writeln!(
        w,
        "\nGenerator: cpu {:.2} s, lag p99 {} (limit {}), {}",
        g.cpu_s,
        fmt_us(g.lag_us.p99),
        fmt_us(g.saturation_limit_us),
        if g.saturated {
            "SATURATED: latencies include the generator's own delay"
        } else {
            "not saturated"
        }
    )?;
    writeln!(
        w,
        "Errors: {}",
        list(r.errors.iter()).unwrap_or_else(|| "none".into())
    )?;
    if let Some(counts) = list(r.counts.iter()) {
        writeln!(w, "Counts: {counts}")?;
    }

    let inv = &r.invariants;
    writeln!(
        w,
        "\nInvariants: {} violation(s), {} redundant status event(s)",
        inv.violations.len(),
        inv.redundant
    )?;
    if let Some(checked) = list(inv.checked.iter()) {
        writeln!(w, "  checked: {checked}")?;
    }
    if let Some(coverage) = list(inv.coverage.iter()) {
        writeln!(w, "  coverage: {coverage}")?;
    }
    if !inv.undecided.is_empty() {
        // An undecided check is not a pass (CLI.md): say what and why.
        writeln!(w, "  NOT CLEAN: checks left undecided:")?;
        for (key, u) in &inv.undecided {
            writeln!(w, "    {} {key} = {}: {}", u.invariants, u.count, u.why)?;
        }
    }
    for v in inv.violations.iter().take(VIOLATIONS_SHOWN) {
        let id = v.get("invariant").and_then(|x| x.as_str()).unwrap_or("?");
        let msg = v
            .get("message")
            .and_then(|x| x.as_str())
            .unwrap_or("(no message)");
        writeln!(w, "  {id}: {msg}")?;
    }
    if inv.violations.len() > VIOLATIONS_SHOWN {
        writeln!(
            w,
            "  ... and {} more (see the JSON report)",
            inv.violations.len() - VIOLATIONS_SHOWN
        )?;
    }
    for t in &r.thresholds {
        writeln!(
            w,
            "Threshold {}: {}",
            t.expr,
            if t.passed { "ok" } else { "BREACHED" }
        )?;
    }
    if !r.replay.is_empty() {
        writeln!(w, "Replay: {}", r.replay)?;
    }
    Ok(())
}

fn latency_table(w: &mut impl Write, table: &PerKind<LatencySummary>) -> io::Result<()> {
    header(w, "kind")?;
    for k in LatencyKind::ALL {
        row(w, k.as_str(), table.get(k))?;
    }
    Ok(())
}

fn header(w: &mut impl Write, first: &str) -> io::Result<()> {
    writeln!(
        w,
        "  {first:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "count", "min", "mean", "p50", "p90", "p99", "p99.9", "max"
    )
}

fn row(w: &mut impl Write, name: &str, s: &LatencySummary) -> io::Result<()> {
    if s.count == 0 {
        return writeln!(w, "  {name:<22} {:>9} {:>9}", 0, "-");
    }
    writeln!(
        w,
        "  {name:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        s.count,
        fmt_us(s.min),
        fmt_us(s.mean.round() as u64),
        fmt_us(s.p50),
        fmt_us(s.p90),
        fmt_us(s.p99),
        fmt_us(s.p999),
        fmt_us(s.max)
    )
}

/// `name n, name n, ...`, or `None` when empty.
fn list<'a>(items: impl Iterator<Item = (&'a String, &'a u64)>) -> Option<String> {
    let parts: Vec<String> = items.map(|(k, v)| format!("{k} {v}")).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Microseconds in a short human unit: `850µs`, `12.3ms`, `1.20s`.
pub fn fmt_us(us: u64) -> String {
    match us {
        0..=999 => format!("{us}µs"),
        1_000..=9_999 => format!("{:.2}ms", us as f64 / 1e3),
        10_000..=999_999 => format!("{:.1}ms", us as f64 / 1e3),
        _ => format!("{:.2}s", us as f64 / 1e6),
    }
}
