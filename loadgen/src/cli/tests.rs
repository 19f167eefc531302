//! Flag parsing and validation: what each flag accepts and refuses.

use super::*;

fn opts(args: &[&str]) -> Result<Opts, clap::Error> {
    Opts::try_parse_from(std::iter::once("loadgen").chain(args.iter().copied()))
}

#[test]
fn help_shows_examples_and_parses() {
    use clap::CommandFactory;
    Opts::command().debug_assert();
    let help = Opts::command().render_long_help().to_string();
    assert!(help.contains("--scenario smoke"));
    assert!(help.contains("--hdr-log"));
    assert!(help.contains("--rate 1"));
}

#[test]
fn overrides_come_from_flags() {
    let o = opts(&[
        "--scenario",
        "smoke",
        "--users",
        "50",
        "--connections-per-user",
        "1..=3",
        "--duration",
        "5s",
        "--rate",
        "0.5",
        "--seed",
        "9",
        "--fault",
        "no-echo",
        "--fault",
        "typing-leak",
        "--threshold",
        "x",
    ])
    .expect("valid flags");
    let ov = o.overrides();
    assert_eq!(ov.users, Some(50));
    assert_eq!(ov.connections_per_user, Some(CountRange { min: 1, max: 3 }));
    assert_eq!(ov.duration, Some(Duration::from_secs(5)));
    assert_eq!(ov.rate, Some(0.5));
    assert_eq!(ov.seed, Some(9));
    assert_eq!(ov.faults, vec![Fault::NoEcho, Fault::TypingLeak]);
    let rc = o.validate().expect("valid run");
    assert_eq!(rc.plan.users, 50);
    assert_eq!(rc.target, Target::Embedded);
    assert!(rc.plan.faults.contains(&Fault::NoEcho));
}

#[test]
fn bad_flags_are_parse_errors_with_exit_2() {
    let e = opts(&["--scenario", "smoke", "--fault", "nope"]).expect_err("unknown fault");
    assert_eq!(e.exit_code(), 2);
    let e = opts(&["--scenario", "smoke", "--duration", "5 parsecs"]).expect_err("bad duration");
    assert_eq!(e.exit_code(), 2);
    let e =
        opts(&["--scenario", "smoke", "--connections-per-user", "3..=1"]).expect_err("min > max");
    assert!(e.to_string().contains("MIN must be <= MAX"), "{e}");
}

#[test]
fn validation_names_the_flag() {
    let e = opts(&["--scenario", "smoke", "--users", "1"])
        .expect("parses")
        .validate()
        .expect_err("too few");
    assert!(e.to_string().starts_with("--users:"), "{e}");
    assert_eq!(e.exit_code(), 2);
    let e = opts(&["--scenario", "smoke", "--rate", "-1"])
        .expect("parses")
        .validate()
        .expect_err("neg");
    assert!(e.to_string().starts_with("--rate:"), "{e}");
}

#[test]
fn target_rules() {
    let e = opts(&[
        "--scenario",
        "smoke",
        "--target",
        "http://127.0.0.1:8000",
        "--fault",
        "no-echo",
        "--admin-token",
        "t",
    ])
    .expect("parses")
    .validate()
    .expect_err("fault with target");
    assert!(e.to_string().contains("--fault"), "{e}");
    let e = opts(&[
        "--scenario",
        "smoke",
        "--target",
        "ftp://x:1",
        "--admin-token",
        "t",
    ])
    .expect("parses")
    .validate()
    .expect_err("bad scheme");
    assert!(e.to_string().contains("--target"), "{e}");
    let e = opts(&["--scenario", "smoke", "--population", "p.json"])
        .expect("parses")
        .validate()
        .expect_err("no target");
    assert!(e.to_string().contains("--population needs --target"), "{e}");
    let rc = opts(&[
        "--scenario",
        "smoke",
        "--target",
        "http://127.0.0.1:8000/",
        "--admin-token",
        "t",
    ])
    .expect("parses")
    .validate()
    .expect("valid");
    assert_eq!(rc.target.describe(), "http://127.0.0.1:8000");
    assert_eq!(rc.target.mode(), Mode::External);
}

#[test]
fn output_directory_must_exist() {
    let e = opts(&[
        "--scenario",
        "smoke",
        "--json",
        "/nonexistent-dir-xyz/r.json",
    ])
    .expect("parses")
    .validate()
    .expect_err("missing dir");
    assert!(e.to_string().contains("--json"), "{e}");
}

#[test]
fn subcommands_and_the_plain_form() {
    let plain = Command::try_parse_from(["loadgen", "--scenario", "smoke"]).expect("plain");
    let run = Command::try_parse_from(["loadgen", "run", "--scenario", "smoke"]).expect("run");
    match (plain, run) {
        (Command::Run(a), Command::Run(b)) => assert_eq!(a.scenario, b.scenario),
        other => panic!("{other:?}"),
    }
    let c = Command::try_parse_from([
        "loadgen",
        "capacity",
        "--scenario",
        "chat",
        "--slo",
        "message_delivery.p99<20ms",
    ])
    .expect("capacity");
    assert!(matches!(c, Command::Capacity(_)));
    let c = Command::try_parse_from(["loadgen", "compare", "a.json", "b.json"]).expect("compare");
    assert!(matches!(c, Command::Compare(o) if o.tolerance == 0.10));
    let e = Command::try_parse_from(["loadgen", "compare", "a.json"]).expect_err("one file");
    assert_eq!(e.exit_code(), 2);
    let e = Command::try_parse_from(["loadgen"]).expect_err("no scenario");
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn count_range_syntax() {
    assert_eq!(parse_count_range("2"), Ok(CountRange::fixed(2)));
    assert_eq!(
        parse_count_range("1..=4"),
        Ok(CountRange { min: 1, max: 4 })
    );
    assert_eq!(parse_count_range("1..4"), Ok(CountRange { min: 1, max: 4 }));
    assert!(parse_count_range("x").is_err());
}
