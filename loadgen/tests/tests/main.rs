//! loadgen's integration tests: one binary (ripgrep's shape), whole load
//! tests against the embedded server, judged by the JSON report and the exit
//! code as scripts and CI see them.
//!
//! Layout: this directory is Cargo's multi-file integration test
//! (`tests/tests/main.rs` is the test binary `tests`, and its modules sit next
//! to it), which gives ripgrep's single test binary without ripgrep's
//! `autotests = false` in the manifest. Run it with
//! `cargo test -p loadgen --test tests`.
//!
//! Load tests run the `loadgen` binary (`CARGO_BIN_EXE_loadgen`), because the
//! exit code and stderr are part of what is tested; each run starts its own
//! embedded server on 127.0.0.1:0 and writes its files in a directory of its
//! own, so the tests run in parallel. The library is called in-process only
//! for what needs no server: validating scenarios, computing a seed's schedule.
//! Scenarios are small (a few dozen users, a few seconds); only
//! `scenarios::smoke_runs_clean_with_every_stable_key` runs a shipped one.

// Helpers: temporary directories, running the binary, reading the report.
mod support;
// Helpers: a run watched through --metrics-addr, scraped and parsed.
mod scrape;

// The --html report in headless Chromium (skipped, saying so, without one).
mod browser;
// deploy/grafana/loadgen.json queries only exported metric names.
mod dashboard;
// Counts add up: every message reaches every connection CLI.md names, once.
mod counts;
// Same seed → same schedule; another seed → another one.
mod determinism;
// Bad scenario files and bad flags exit 2, naming the field or the flag.
mod exit_codes;
// Each server fault is caught (exit 1) under its invariant; a clean run is clean.
mod faults;
// A generator saturated on purpose stays sound and still catches faults.
mod saturation;
// --metrics-addr scraped while a run lasts; --events of a faulty run.
mod live;
// Every shipped scenario validates; `smoke` runs clean with every stable key.
mod scenarios;
// --threads, --shard and merge against a separate server: equivalence, cross-shard faults.
mod sharded;
