//! Exit code 2 for usage and configuration errors, with a message naming the
//! field or flag (CLI.md "Exit codes", issue 3 "CLI"), checked on the real
//! binary: what a user or a CI script sees is the code and stderr.
//!
//! Every case here is refused before anything runs, so each takes
//! milliseconds; they are tables, and a failure lists every case that went
//! wrong rather than the first.

use crate::support::{loadgen, TempDir};

/// A valid scenario the bad ones are variations of.
const VALID: &str = r#"
users = 10
ramp_up = "1s"
duration = "3s"

[behaviour]
send_message = 0.5
"#;

/// Runs each case and fails listing the cases whose exit code was not 2 or
/// whose stderr lacked one of the expected words.
fn expect_exit_2(dir: &TempDir, cases: &[(&str, Vec<String>, &[&str])]) {
    let mut failures = Vec::new();
    for (what, args, words) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = loadgen(dir, &args);
        let missing: Vec<&&str> = words.iter().filter(|w| !run.stderr.contains(**w)).collect();
        if run.code != Some(2) || !missing.is_empty() {
            failures.push(format!(
                "{what}: exit {:?}, stderr lacks {missing:?}\n{}",
                run.code,
                run.context()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn bad_scenario_files_exit_2_naming_the_field() {
    let dir = TempDir::new("exit-scenario");
    // (what, TOML, words stderr must contain)
    let files: &[(&str, &str, &[&str])] = &[
        (
            "negative rate",
            "users = 10\nduration = \"3s\"\n[behaviour]\nsend_message = -1\n",
            &["behaviour.send_message", "-1"],
        ),
        (
            "unknown key in a table",
            "users = 10\nduration = \"3s\"\n[behaviour]\nsend_mesage = 1.0\n",
            &["behaviour.send_mesage"],
        ),
        (
            "unknown top-level key",
            "users = 10\nuserz = 3\nduration = \"3s\"\n",
            &["userz"],
        ),
        (
            "missing users",
            "duration = \"3s\"\n[behaviour]\nsend_message = 1.0\n",
            &["users", "missing"],
        ),
        (
            "content too large",
            "users = 10\nduration = \"3s\"\n[content]\nmax_bytes = 99999\n",
            &["content.max_bytes", "99999"],
        ),
        (
            "content too small for the checker's header",
            "users = 10\nduration = \"3s\"\n[content]\nmin_bytes = 10\nmax_bytes = 100\n",
            &["content.min_bytes"],
        ),
        (
            "probability above 1",
            "users = 10\nduration = \"3s\"\n[behaviour]\nmark_read = 1.5\n",
            &["behaviour.mark_read", "1.5"],
        ),
        (
            "too few users",
            "users = 1\nduration = \"3s\"\n",
            &["users"],
        ),
        (
            "more devices than the server allows",
            "users = 10\nconnections_per_user = 17\nduration = \"3s\"\n",
            &["connections_per_user", "17"],
        ),
        (
            "not a duration",
            "users = 10\nduration = \"soon\"\n",
            &["duration"],
        ),
        (
            "a run of no length",
            "users = 10\nduration = \"0s\"\n",
            &["duration", "longer than 0s"],
        ),
        (
            "unknown friend graph model",
            "users = 10\nduration = \"3s\"\n[friends]\nmodel = \"ring\"\ndegree = 3\n",
            &["friends"],
        ),
        (
            "unknown fault",
            "users = 10\nduration = \"3s\"\nfaults = [\"bogus\"]\n",
            &["faults"],
        ),
        (
            "history cap above a page",
            "users = 10\nduration = \"3s\"\n[checker]\nhistory_cap = 501\n",
            &["checker.history_cap", "501"],
        ),
        (
            "TOML syntax error",
            "users = \nduration = \"3s\"\n",
            &["users"],
        ),
    ];
    let cases: Vec<(&str, Vec<String>, &[&str])> = files
        .iter()
        .enumerate()
        .map(|(i, (what, toml, words))| {
            let file = format!("bad-{i}.toml");
            dir.write(&file, toml);
            (*what, args(&["--scenario", &file, "--quiet"]), *words)
        })
        .collect();
    expect_exit_2(&dir, &cases);
}

#[test]
fn bad_flags_exit_2_naming_the_flag() {
    let dir = TempDir::new("exit-flags");
    dir.write("valid.toml", VALID);
    dir.write(
        "with-fault.toml",
        &format!("faults = [\"no-echo\"]\n{VALID}"),
    );
    let with = |extra: &[&str]| {
        let mut a = args(&["--scenario", "valid.toml", "--quiet"]);
        a.extend(args(extra));
        a
    };
    let cases: Vec<(&str, Vec<String>, &[&str])> = vec![
        (
            "duration not humantime",
            with(&["--duration", "nonsense"]),
            &["--duration"],
        ),
        ("zero users", with(&["--users", "0"]), &["--users"]),
        ("negative rate", with(&["--rate", "-1"]), &["--rate"]),
        (
            "zero devices",
            with(&["--connections-per-user", "0"]),
            &["--connections-per-user"],
        ),
        (
            "empty device range",
            with(&["--connections-per-user", "3..=1"]),
            &["--connections-per-user"],
        ),
        ("not a number", with(&["--seed", "x"]), &["--seed"]),
        ("unknown fault", with(&["--fault", "nope"]), &["--fault"]),
        (
            "fault with an external target",
            with(&[
                "--fault",
                "no-echo",
                "--target",
                "http://127.0.0.1:1",
                "--admin-token",
                "t",
            ]),
            &["--fault"],
        ),
        (
            "scenario faults with an external target",
            args(&[
                "--scenario",
                "with-fault.toml",
                "--target",
                "http://127.0.0.1:1",
                "--admin-token",
                "t",
            ]),
            &["faults"],
        ),
        (
            "target without a way to provision",
            with(&["--target", "http://127.0.0.1:1"]),
            &["--admin-token"],
        ),
        (
            "target not http",
            with(&["--target", "ftp://127.0.0.1:1", "--admin-token", "t"]),
            &["--target"],
        ),
        (
            "population without target",
            with(&["--population", "users.json"]),
            &["--population"],
        ),
        (
            "json in a missing directory",
            with(&["--json", "no-such-dir/r.json"]),
            &["--json"],
        ),
        (
            "unknown shipped scenario",
            args(&["--scenario", "no-such-scenario"]),
            &["no-such-scenario"],
        ),
        (
            "missing scenario file",
            args(&["--scenario", "./missing.toml"]),
            &["missing.toml"],
        ),
        ("no scenario at all", args(&["--quiet"]), &["--scenario"]),
        ("unknown flag", with(&["--userz", "3"]), &["--userz"]),
        // Nothing listens on port 1: refused at provisioning, before any load.
        (
            "unreachable target",
            with(&["--target", "http://127.0.0.1:1", "--admin-token", "t"]),
            &["127.0.0.1:1"],
        ),
    ];
    expect_exit_2(&dir, &cases);
}

#[test]
fn help_shows_examples_and_exits_0() {
    let dir = TempDir::new("exit-help");
    let run = loadgen(&dir, &["--help"]);
    run.assert_code(0);
    for word in [
        "--scenario smoke",
        "--target",
        "--json",
        "--fault",
        "exit 0",
        "smoke, chat",
    ] {
        assert!(
            run.stdout.contains(word),
            "--help lacks '{word}'\n{}",
            run.context()
        );
    }
    loadgen(&dir, &["--version"]).assert_code(0);
}
