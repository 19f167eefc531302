//! Same seed → same schedule (issue 3, "Simulation"): users, devices, friend
//! graph and every action's intended time come from the seed alone.
//!
//! The report has no per-action counter yet, so the schedule is compared
//! through what it fixes: the number of connections (devices per user are
//! drawn from a range here) and the number of sends. Both are also computed
//! in-process from the seed with the library's own schedule functions
//! ([`Population::generate`], [`arrivals`] on [`stream::SEND`]), so "the
//! same" means "the schedule the seed names", not merely "the same twice".
//!
//! The scenario has no churn: a send scheduled while all of a user's devices
//! are closed is skipped, which would make `messages.sent` depend on timing.
//! Typing (abandoned, so no extra sends) and `get_online_friends` run too,
//! so the send schedule is shown not to shift when other behaviours draw.

use crate::support::{assert_clean, run_file, u64_at, Run, TempDir};
use loadgen::population::{arrivals, schedule_rng, stream, Population};
use loadgen::scenario::{Overrides, Plan};

/// 20 users with 1 to 3 devices each, sends plus other behaviours, no churn.
const MIX: &str = r#"
description = "tests: a seeded mix without churn"
seed = 101
users = 20
connections_per_user = { min = 1, max = 3 }
ramp_up = "1s"
duration = "4s"

[friends]
model = "uniform"
degree = 3

[behaviour]
send_message = 1.0
typing_abandon = 0.4
typing_pause = { min = "100ms", max = "300ms" }
get_online_friends = 0.4

[content]
min_bytes = 64
max_bytes = 2048
distribution = "log_uniform"

[checker]
barrier_interval = "2s"
"#;

const SEED: u64 = 101;
const OTHER_SEED: u64 = 202;

/// What a seed fixes, as the report shows it.
#[derive(Debug, PartialEq, Eq)]
struct Fixed {
    users: u64,
    connections: u64,
    sent: u64,
    handshakes: u64,
}

impl Fixed {
    fn of(run: &Run) -> Fixed {
        let r = run.report();
        Fixed {
            users: u64_at(r, "users"),
            connections: u64_at(r, "connections"),
            sent: u64_at(r, "messages.sent"),
            handshakes: u64_at(r, "latency_us.handshake.count"),
        }
    }

    /// What the library's schedule functions say `seed` gives for the plan in `path`.
    fn expected(path: &std::path::Path, seed: u64) -> Fixed {
        let overrides = Overrides {
            seed: Some(seed),
            ..Overrides::default()
        };
        let path = path.to_str().expect("temporary paths are UTF-8");
        let plan = Plan::load(path, &overrides).expect("the test scenario is valid");
        let population = Population::generate(&plan);
        let sent = (0..plan.users)
            .map(|i| {
                arrivals(
                    schedule_rng(seed, i, stream::SEND),
                    plan.behaviour.send_message,
                    plan.duration,
                )
                .count() as u64
            })
            .sum();
        Fixed {
            users: u64::from(plan.users),
            connections: population.total_connections(),
            sent,
            handshakes: population.total_connections(),
        }
    }
}

#[test]
fn same_seed_same_schedule_other_seed_another() {
    let dir = TempDir::new("determinism");
    let path = dir.write("mix.toml", MIX);
    let other = OTHER_SEED.to_string();
    // Three runs at once: each has its own embedded server and port.
    let (first, second, third) = std::thread::scope(|s| {
        let a = s.spawn(|| run_file(&dir, "mix.toml", &[]));
        let b = s.spawn(|| run_file(&dir, "mix.toml", &["--seed", &SEED.to_string()]));
        let c = s.spawn(|| run_file(&dir, "mix.toml", &["--seed", &other]));
        (
            a.join().expect("first run"),
            b.join().expect("second run"),
            c.join().expect("third run"),
        )
    });
    for run in [&first, &second, &third] {
        assert_clean(run);
    }
    assert_eq!(u64_at(first.report(), "seed"), SEED);
    assert_eq!(u64_at(third.report(), "seed"), OTHER_SEED);

    let expected = Fixed::expected(&path, SEED);
    assert!(
        expected.sent > 40,
        "the schedule is too thin to compare: {expected:?}"
    );
    assert_eq!(Fixed::of(&first), expected, "{}", first.context());
    assert_eq!(Fixed::of(&second), expected, "{}", second.context());

    let expected_other = Fixed::expected(&path, OTHER_SEED);
    assert_eq!(Fixed::of(&third), expected_other, "{}", third.context());
    assert_ne!(
        expected.sent, expected_other.sent,
        "seeds {SEED} and {OTHER_SEED} should schedule different numbers of sends"
    );
    assert_ne!(
        expected.connections, expected_other.connections,
        "seeds {SEED} and {OTHER_SEED} should draw different device counts"
    );
}
