//! The shipped scenarios (`scenarios/*.toml`, compiled into the binary):
//! each one validates as shipped, and `smoke`, the one CI runs, runs clean
//! end to end with every stable key of the JSON report holding real values
//! (issue 3, "JSON report"; CLI.md).
//!
//! Only `smoke` is run (about half a minute): the others are sized for
//! benchmarks, so here they are parsed and validated only.

use crate::support::{
    assert_clean, at, f64_at, loadgen, samples, u64_at, TempDir, LATENCY_KINDS, SUMMARY_KEYS,
};
use clap::Parser;
use loadgen::cli::Opts;
use loadgen::scenario::{Overrides, Plan, SHIPPED};
use std::path::Path;

/// The scenarios issue 3 asks to ship.
const REQUIRED: [&str; 9] = [
    "smoke",
    "chat",
    "presence-churn",
    "typing",
    "multi-device",
    "fanout",
    "rest-mix",
    "slow-consumer",
    "soak",
];

fn scenarios_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios"))
}

#[test]
fn every_shipped_scenario_validates() {
    let mut failures = Vec::new();
    for name in REQUIRED {
        if !SHIPPED.iter().any(|(n, _)| *n == name) {
            failures.push(format!("{name}: not shipped"));
        }
    }
    for (name, text) in SHIPPED {
        // The way the binary loads it: flags first, then the scenario by name.
        let opts = Opts::try_parse_from(["loadgen", "--scenario", name])
            .unwrap_or_else(|e| panic!("--scenario {name}: {e}"));
        let plan = match opts.validate() {
            Ok(config) => config.plan,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        if plan.name != *name {
            failures.push(format!("{name}: reports itself as '{}'", plan.name));
        }
        if plan.description.trim().is_empty() {
            failures.push(format!("{name}: no description"));
        }
        if !plan.faults.is_empty() {
            failures.push(format!("{name}: ships with faults on: {:?}", plan.faults));
        }
        if !text.trim_start().starts_with('#') {
            failures.push(format!(
                "{name}: does not open with a comment saying what it is for"
            ));
        }
        // The same file loaded by path makes the same plan.
        let path = scenarios_dir().join(format!("{name}.toml"));
        match Plan::load(&path.to_string_lossy(), &Overrides::default()) {
            Ok(mut by_path) => {
                by_path.source.clone_from(&plan.source);
                if by_path != plan {
                    failures.push(format!("{name}: {} loads differently", path.display()));
                }
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    // Every file in scenarios/ is shipped (none forgotten in SHIPPED).
    let dir = scenarios_dir();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let stem = path.file_stem().expect("a .toml file has a stem");
            if !SHIPPED.iter().any(|(n, _)| std::ffi::OsStr::new(n) == stem) {
                failures.push(format!("{}: not in SHIPPED", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn smoke_runs_clean_with_every_stable_key() {
    let dir = TempDir::new("smoke");
    let run = loadgen(
        &dir,
        &["--scenario", "smoke", "--json", "smoke.json", "--quiet"],
    );
    assert_clean(&run);
    let r = run.report();
    let ctx = || run.context();

    assert_eq!(at(r, "scenario"), "smoke", "{}", ctx());
    assert_eq!(u64_at(r, "seed"), 20240601, "{}", ctx());
    assert_eq!(at(r, "target"), "embedded", "{}", ctx());
    assert!(f64_at(r, "duration_s") >= 15.0, "{}", ctx());
    assert_eq!(u64_at(r, "users"), 300, "{}", ctx());
    assert!(u64_at(r, "connections") >= 600, "{}", ctx());
    let sent = u64_at(r, "messages.sent");
    assert!(sent > 0, "{}", ctx());
    assert!(u64_at(r, "messages.delivered") > sent, "{}", ctx());

    // smoke exercises every behaviour, so every kind has samples.
    for kind in LATENCY_KINDS {
        let s = |key: &str| f64_at(r, &format!("latency_us.{kind}.{key}"));
        for key in SUMMARY_KEYS {
            s(key);
        }
        assert!(samples(r, kind) > 0, "no {kind} samples\n{}", ctx());
        let ordered = [s("min"), s("p50"), s("p90"), s("p99"), s("p999"), s("max")];
        assert!(
            ordered.windows(2).all(|w| w[0] <= w[1])
                && s("min") <= s("mean")
                && s("mean") <= s("max"),
            "latency_us.{kind} is not ordered: {}",
            at(r, &format!("latency_us.{kind}"))
        );
        assert!(
            f64_at(r, &format!("throughput.{kind}_per_s")) > 0.0,
            "throughput.{kind}_per_s\n{}",
            ctx()
        );
    }

    assert!(f64_at(r, "generator.cpu_s") > 0.0, "{}", ctx());
    u64_at(r, "generator.lag_us.p99");
    assert!(at(r, "generator.saturated").is_boolean());
    assert!(at(r, "errors").is_object());
    let checked = at(r, "invariants.checked");
    for i in 1..=12 {
        let id = format!("I{i}");
        assert!(
            checked.get(&id).is_some(),
            "invariants.checked has no {id}: {checked}"
        );
    }
    assert!(
        u64_at(r, "invariants.checked.I10") > 0,
        "smoke's bad tokens were not checked\n{}",
        ctx()
    );
    assert!(
        run.stdout.contains("smoke"),
        "no summary on stdout\n{}",
        ctx()
    );
}
