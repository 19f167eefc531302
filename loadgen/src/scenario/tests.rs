//! Scenario tests: the shipped files, field-naming errors, overrides, `--rate`.

use super::*;
use server::Fault;
use std::time::Duration;

const MINIMAL: &str = "users = 10\nduration = \"10s\"\n";

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(text, "test")
}

fn plan(text: &str) -> Result<Plan, ScenarioError> {
    Plan::from_scenario(parse(text)?, &Overrides::default())
}

fn err(text: &str) -> String {
    plan(text).expect_err("should be refused").to_string()
}

#[test]
fn every_shipped_scenario_parses_and_validates() {
    for (name, _) in SHIPPED {
        let s = Scenario::load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.name, *name);
        assert!(!s.description.is_empty(), "{name} has no description");
        let p = Plan::load(name, &Overrides::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Embedded mode uses 2 fds per connection and the limit here is 20,000.
        assert!(
            p.max_connections() <= 9_000,
            "{name}: {} connections",
            p.max_connections()
        );
        assert!(p.behaviour.total_rate() > 0.0, "{name} does nothing");
        assert_eq!(p.source, *name);
    }
}

#[test]
fn every_file_in_scenarios_dir_is_shipped() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .expect("scenarios/ exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .map(|n| n.trim_end_matches(".toml").to_owned())
        .collect();
    on_disk.sort();
    let mut shipped: Vec<String> = SHIPPED.iter().map(|(n, _)| (*n).to_owned()).collect();
    shipped.sort();
    assert_eq!(on_disk, shipped);
    for required in [
        "smoke",
        "chat",
        "presence-churn",
        "typing",
        "multi-device",
        "fanout",
        "rest-mix",
        "slow-consumer",
        "soak",
    ] {
        assert!(shipped.iter().any(|n| n == required), "{required} missing");
    }
}

#[test]
fn smoke_exercises_every_behaviour_within_ci_size() {
    let p = Plan::load("smoke", &Overrides::default()).expect("smoke is valid");
    for (name, rate) in p.behaviour.rates() {
        assert!(rate > 0.0, "smoke does not exercise {name}");
    }
    assert!(p.behaviour.mark_read > 0.0);
    let all = p.behaviour.churn_all_devices;
    assert!(
        all > 0.0 && all < 1.0,
        "smoke needs both full-offline and one-device churn"
    );
    assert!(
        p.connections_per_user.min >= 2,
        "one device must stay open while another churns"
    );
    assert!(p.bad_tokens > 0);
    assert!(p.total_time() <= Duration::from_secs(20));
    assert!((200..=500).contains(&p.users));
    let barrier = p.barrier_interval().expect("smoke has barriers");
    assert!(
        p.behaviour.churn_reopen_after.max > barrier,
        "offline spans must cross a barrier"
    );
    assert!(p.faults.is_empty());
}

#[test]
fn fanout_is_power_law_and_slow_consumer_has_slow_connections() {
    let f = Plan::load("fanout", &Overrides::default()).expect("valid");
    assert!(matches!(f.friends, Friends::PowerLaw { max, .. } if max >= 1000));
    let s = Plan::load("slow-consumer", &Overrides::default()).expect("valid");
    assert!(s.slow_consumer.fraction > 0.0);
    let soak = Plan::load("soak", &Overrides::default()).expect("valid");
    assert!(soak.duration >= Duration::from_secs(600));
}

#[test]
fn minimal_file_gets_defaults() {
    let p = plan(MINIMAL).expect("valid");
    assert_eq!(p.name, "test");
    assert_eq!(p.connections_per_user, CountRange::fixed(1));
    assert_eq!(p.checker.barrier_interval, Duration::from_secs(5));
    assert_eq!(p.checker.delta, Duration::from_secs(2));
    assert_eq!(p.checker.quiet, Duration::from_millis(200));
    assert_eq!(p.checker.history_cap, 500);
    assert_eq!(p.saturation_lag, Duration::from_millis(50));
    assert!(p.thresholds.is_empty() && p.coverage.is_empty() && p.faults.is_empty());
    assert_eq!(p.content.min_bytes, 64);
}

#[test]
fn validation_errors_name_the_field() {
    let cases = [
        (
            "[behaviour]\nsend_message = -1\n",
            "scenario field 'behaviour.send_message': must be >= 0, got -1",
        ),
        (
            "[behaviour]\nmark_read = 1.5\n",
            "scenario field 'behaviour.mark_read': must be between 0 and 1, got 1.5",
        ),
        (
            "[content]\nmin_bytes = 10\n",
            "scenario field 'content.min_bytes': must be >= 64, got 10",
        ),
        (
            "[content]\nmax_bytes = 5000\n",
            "scenario field 'content.max_bytes': must be <= 4096, got 5000",
        ),
        (
            "[friends]\nmodel = \"power_law\"\nmin = 2\nmax = 100\nexponent = 0.5\n",
            "scenario field 'friends.exponent'",
        ),
        (
            "[behaviour]\nrest_media_ids = { min = 0, max = 11 }\n",
            "scenario field 'behaviour.rest_media_ids'",
        ),
        (
            "[slow_consumer]\nfraction = -0.1\n",
            "scenario field 'slow_consumer.fraction'",
        ),
        (
            "[checker]\nhistory_cap = 501\n",
            "scenario field 'checker.history_cap'",
        ),
        (
            "[checker]\ndelta = \"0s\"\n",
            "scenario field 'checker.delta': must be longer than 0s",
        ),
    ];
    for (extra, expected) in cases {
        let text = format!("{MINIMAL}{extra}");
        let msg = err(&text);
        assert!(msg.starts_with(expected), "{extra:?}: got {msg:?}");
    }
    assert!(err("users = 1\nduration = \"10s\"\n")
        .starts_with("scenario field 'users': must be >= 2, got 1"));
    // `duration` counts after the ramp-up, so a ramp longer than it is fine.
    assert!(plan("users = 10\nduration = \"1s\"\nramp_up = \"2s\"\n").is_ok());
    assert!(
        err("users = 10\nduration = \"10s\"\nconnections_per_user = 17\n")
            .starts_with("scenario field 'connections_per_user': must be <= 16")
    );
}

#[test]
fn toml_errors_name_the_field() {
    let cases = [
        ("users = -5\nduration = \"10s\"\n", "'users'"),
        ("users = 10\nduration = \"10 parsecs\"\n", "'duration'"),
        (
            &format!("{MINIMAL}[behaviour]\nsendmessage = 1\n"),
            "'behaviour.sendmessage'",
        ),
        (
            &format!("{MINIMAL}[behaviour]\ntyping_pause = 5\n"),
            "'behaviour.typing_pause'",
        ),
        (
            &format!("{MINIMAL}[behaviour]\nsend_message = \"fast\"\n"),
            "'behaviour.send_message'",
        ),
        (
            "users = 10\nduration = \"10s\"\nfaults = [\"no-such-fault\"]\n",
            "'faults'",
        ),
        (
            &format!("{MINIMAL}[friends]\nmodel = \"ring\"\n"),
            "friends",
        ),
    ];
    for (text, field) in cases {
        let msg = parse(text).expect_err("should be refused").to_string();
        assert!(msg.contains(field), "{text:?}: got {msg:?}");
    }
    let msg = parse("duration = \"10s\"\n")
        .expect_err("users is required")
        .to_string();
    assert_eq!(msg, "scenario field 'users': is required but missing");
    let text = format!("{MINIMAL}[friends]\nmodel = \"power_law\"\nmin = 2\nmax = 10\n");
    let msg = parse(&text).expect_err("exponent is required").to_string();
    assert!(msg.starts_with("scenario field 'friends"), "{msg}");
}

#[test]
fn faults_parse_in_kebab_case() {
    let p = plan(&format!(
        "faults = [\"no-echo\", \"stale-online-friends\"]\n{MINIMAL}"
    ))
    .expect("valid");
    assert_eq!(p.faults, vec![Fault::NoEcho, Fault::StaleOnlineFriends]);
}

#[test]
fn overrides_apply_and_name_the_flag() {
    let o = Overrides {
        users: Some(40),
        connections_per_user: Some(CountRange { min: 1, max: 3 }),
        duration: Some(Duration::from_secs(30)),
        seed: Some(99),
        faults: vec![Fault::NoEcho, Fault::NoEcho],
        thresholds: vec!["p99(message_echo) < 50ms".into()],
        ..Overrides::default()
    };
    let p = Plan::from_scenario(parse(MINIMAL).expect("valid"), &o).expect("valid");
    assert_eq!(
        (p.users, p.seed, p.duration),
        (40, 99, Duration::from_secs(30))
    );
    assert_eq!(p.connections_per_user, CountRange { min: 1, max: 3 });
    assert_eq!(p.faults, vec![Fault::NoEcho]);
    assert_eq!(p.thresholds.len(), 1);
    assert!(p.replay_command().contains("--seed 99"));
    assert!(p.replay_command().contains("--fault no-echo"));

    let bad = |o: Overrides| {
        Plan::from_scenario(parse(MINIMAL).expect("valid"), &o)
            .expect_err("bad")
            .to_string()
    };
    assert!(bad(Overrides {
        users: Some(0),
        ..Overrides::default()
    })
    .starts_with("--users: must be >= 2"));
    assert!(bad(Overrides {
        rate: Some(f64::NAN),
        ..Overrides::default()
    })
    .starts_with("--rate:"));
    assert!(bad(Overrides {
        duration: Some(Duration::ZERO),
        ..Overrides::default()
    })
    .starts_with("--duration:"));
    assert!(bad(Overrides {
        connections_per_user: Some(CountRange::fixed(20)),
        ..Overrides::default()
    })
    .starts_with("--connections-per-user:"));
}

#[test]
fn rate_scales_every_rate_keeping_the_ratio() {
    let base = Plan::load("chat", &Overrides::default()).expect("valid");
    let o = Overrides {
        rate: Some(2.0 * base.behaviour.send_message),
        ..Overrides::default()
    };
    let scaled = Plan::load("chat", &o).expect("valid");
    assert_eq!(
        scaled.behaviour.send_message,
        2.0 * base.behaviour.send_message
    );
    for ((name, a), (_, b)) in base.behaviour.rates().iter().zip(scaled.behaviour.rates()) {
        assert!((b - 2.0 * a).abs() < 1e-12, "{name}: {a} → {b}");
    }
    assert_eq!(
        scaled.behaviour.mark_read, base.behaviour.mark_read,
        "a probability, not a rate"
    );

    // A scenario without WS messages: send_message becomes R, the rest stay.
    let text = format!("{MINIMAL}[behaviour]\nrest_send_message = 0.3\n");
    let o = Overrides {
        rate: Some(0.7),
        ..Overrides::default()
    };
    let p = Plan::from_scenario(parse(&text).expect("valid"), &o).expect("valid");
    assert_eq!(p.behaviour.send_message, 0.7);
    assert_eq!(p.behaviour.rest_send_message, 0.3);

    let o = Overrides {
        rate: Some(0.0),
        ..Overrides::default()
    };
    let p = Plan::load("chat", &o).expect("rate 0 is allowed");
    assert_eq!(p.behaviour.total_rate(), 0.0);
}

#[test]
fn ranges_parse_both_forms() {
    let text = format!(
        "{MINIMAL}[behaviour]\ntyping_pause = \"1s\"\nchurn_reopen_after = {{ min = \"100ms\", max = \"2s\" }}\nrest_media_ids = 2\n"
    );
    let p = plan(&text).expect("valid");
    assert_eq!(
        p.behaviour.typing_pause,
        DurationRange::fixed(Duration::from_secs(1))
    );
    assert_eq!(
        p.behaviour.churn_reopen_after,
        DurationRange::millis(100, 2000)
    );
    assert_eq!(p.behaviour.rest_media_ids, CountRange::fixed(2));
    let msg = err(&format!(
        "{MINIMAL}[behaviour]\ntyping_pause = {{ min = \"2s\", max = \"1s\" }}\n"
    ));
    assert!(
        msg.starts_with("scenario field 'behaviour.typing_pause': min must be <= max"),
        "{msg}"
    );
}

#[test]
fn toml_round_trip() {
    for (name, _) in SHIPPED {
        let s = Scenario::load(name).expect("valid");
        let text = s.to_toml().unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = Scenario::parse(&text, "x").unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(back, s, "{name}");
    }
}

#[test]
fn load_by_path_and_unknown_name() {
    let path =
        std::env::temp_dir().join(format!("loadgen-scenario-test-{}.toml", std::process::id()));
    std::fs::write(&path, MINIMAL).expect("temp dir is writable");
    let s = Scenario::load(path.to_str().expect("utf-8 temp path")).expect("loads");
    assert!(s.name.starts_with("loadgen-scenario-test-"));
    std::fs::remove_file(&path).ok();

    let msg = Scenario::load("nope").expect_err("unknown").to_string();
    assert!(msg.contains("smoke") && msg.contains("soak"), "{msg}");
    let msg = Scenario::load("./missing.toml")
        .expect_err("missing")
        .to_string();
    assert!(msg.contains("./missing.toml"), "{msg}");
}

#[test]
fn samplers_stay_in_range() {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let c = Content {
        min_bytes: 64,
        max_bytes: 4096,
        distribution: SizeDistribution::LogUniform,
    };
    let r = DurationRange::millis(100, 200);
    for _ in 0..1000 {
        assert!((64..=4096).contains(&c.sample(&mut rng)));
        let d = r.sample(&mut rng);
        assert!(d >= r.min && d <= r.max);
        assert!((1..=4).contains(&CountRange { min: 1, max: 4 }.sample(&mut rng)));
    }
}

#[test]
fn seeds_above_i64_max_are_written_as_strings_and_read_in_both_forms() {
    for seed in [0, 7, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX] {
        let mut s = parse(MINIMAL).expect("valid");
        s.seed = seed;
        let text = s.to_toml().expect("every seed serializes");
        let back = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back.seed, seed, "{text}");
        let written_as_string = text.contains(&format!("seed = \"{seed}\""));
        assert_eq!(written_as_string, seed > i64::MAX as u64, "{text}");
    }
    let seed = |line: &str| parse(&format!("{MINIMAL}{line}\n")).map(|s| s.seed);
    assert_eq!(seed("seed = \"42\"").expect("a string seed"), 42);
    assert_eq!(
        seed("seed = \"18446744073709551615\"").expect("u64::MAX"),
        u64::MAX
    );
    for bad in [
        "seed = -1",
        "seed = \"-1\"",
        "seed = \"18446744073709551616\"",
        "seed = \"x\"",
        "seed = 1.5",
    ] {
        let msg = seed(bad).expect_err(bad).to_string();
        assert!(msg.contains("'seed'"), "{bad}: {msg}");
    }
}
