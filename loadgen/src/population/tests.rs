//! Population tests: determinism, graph properties, external files, arrivals.

use super::*;
use crate::scenario::{CountRange, Overrides, Plan, Scenario};
use std::path::Path;

fn plan_with(users: u32, friends: &str, seed: u64) -> Plan {
    let text = format!("users = {users}\nduration = \"10s\"\nconnections_per_user = {{ min = 1, max = 4 }}\n{friends}");
    let s = Scenario::parse(&text, "t").expect("valid scenario");
    Plan::from_scenario(
        s,
        &Overrides {
            seed: Some(seed),
            ..Overrides::default()
        },
    )
    .expect("valid plan")
}

const UNIFORM: &str = "[friends]\nmodel = \"uniform\"\ndegree = 10\n";
const POWER: &str = "[friends]\nmodel = \"power_law\"\nmin = 3\nmax = 3000\nexponent = 2.1\n";

fn assert_well_formed(p: &Population) {
    for (a, fs) in p.friends.iter().enumerate() {
        assert!(
            fs.windows(2).all(|w| w[0] < w[1]),
            "user {a}: not sorted or duplicate"
        );
        for &b in fs {
            assert_ne!(a as u32, b, "self loop at {a}");
            assert!(p.are_friends(b, a as u32), "{a}-{b} not symmetric");
        }
    }
    assert_eq!(p.pairs().count(), p.friendship_count());
    assert!(p.pairs().all(|(a, b)| a < b));
}

#[test]
fn same_seed_same_population_different_seed_different() {
    for friends in [UNIFORM, POWER] {
        let a = Population::generate(&plan_with(500, friends, 7));
        let b = Population::generate(&plan_with(500, friends, 7));
        let c = Population::generate(&plan_with(500, friends, 8));
        assert_eq!(a, b);
        assert_ne!(a.friends, c.friends);
        assert_ne!(a.connections, c.connections);
        assert_well_formed(&a);
    }
}

#[test]
fn uniform_degree_is_k() {
    let p = Population::generate(&plan_with(1000, UNIFORM, 3));
    assert_well_formed(&p);
    let exact = p.friends.iter().filter(|f| f.len() == 10).count();
    assert!(p.friends.iter().all(|f| f.len() <= 10));
    assert!(
        exact >= 995,
        "only {exact} of 1000 users have exactly 10 friends"
    );
    assert!(p.connections.iter().all(|&k| (1..=4).contains(&k)));
    assert_eq!(
        p.total_connections(),
        p.connections.iter().map(|&k| u64::from(k)).sum::<u64>()
    );
}

#[test]
fn uniform_degree_is_capped_for_tiny_populations() {
    let p = Population::generate(&plan_with(5, UNIFORM, 1));
    assert_well_formed(&p);
    assert!(
        p.friends.iter().all(|f| f.len() == 4),
        "complete graph on 5"
    );
}

#[test]
fn power_law_has_hubs() {
    let p = Population::generate(&plan_with(2000, POWER, 11));
    assert_well_formed(&p);
    let mut degrees: Vec<usize> = p.friends.iter().map(Vec::len).collect();
    degrees.sort_unstable();
    let median = degrees[degrees.len() / 2];
    let max = p.max_degree();
    assert!(max >= 20 * median, "max {max} vs median {median}");
    assert!(max >= 500, "max degree {max}");
    assert!(degrees[0] >= 1, "a user without friends");
    assert!(max < 2000);
}

#[test]
fn power_law_at_fanout_scale_has_users_with_thousands_of_friends() {
    let p = Population::generate(&Plan::load("fanout", &Overrides::default()).expect("valid"));
    let big = p.friends.iter().filter(|f| f.len() >= 1000).count();
    assert!((1..=50).contains(&big), "{big} users with ≥ 1000 friends");
}

#[test]
fn usernames_fit_the_protocol() {
    let p = Population::generate(&plan_with(10, UNIFORM, u64::MAX));
    let name = p.username(9_999_999);
    assert!(name.len() <= 32, "{name}");
    assert!(name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
    assert_eq!(p.username(0), format!("{}1", p.username_prefix()));
}

#[test]
fn slow_connections_are_deterministic_and_sized() {
    let text = "users = 100\nduration = \"10s\"\nconnections_per_user = 2\n[slow_consumer]\nfraction = 0.1\n";
    let plan = Plan::from_scenario(
        Scenario::parse(text, "t").expect("valid"),
        &Overrides::default(),
    )
    .expect("valid");
    let p = Population::generate(&plan);
    let slow = p.slow_connections(&plan);
    assert_eq!(slow.len(), 20);
    assert_eq!(slow, p.slow_connections(&plan));
    assert!(slow.iter().all(|&(u, d)| u < 100 && d < 2));
}

#[test]
fn schedule_streams_are_independent_and_reproducible() {
    use rand::RngCore;
    let a: Vec<u64> = (0..4)
        .map(|_| schedule_rng(1, 5, stream::SEND).next_u64())
        .collect();
    assert!(
        a.windows(2).all(|w| w[0] == w[1]),
        "same (seed, user, stream) → same sequence"
    );
    let x = schedule_rng(1, 5, stream::SEND).next_u64();
    assert_ne!(x, schedule_rng(1, 6, stream::SEND).next_u64());
    assert_ne!(x, schedule_rng(1, 5, stream::TYPING).next_u64());
    assert_ne!(x, schedule_rng(2, 5, stream::SEND).next_u64());
}

#[test]
fn arrivals_are_a_poisson_process() {
    let d = Duration::from_secs(1000);
    let times: Vec<Duration> = arrivals(schedule_rng(3, 0, stream::SEND), 2.0, d).collect();
    // 2,000 expected; the standard deviation is about 45.
    assert!((1800..=2200).contains(&times.len()), "{}", times.len());
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    assert!(times.iter().all(|t| *t < d));
    let again: Vec<Duration> = arrivals(schedule_rng(3, 0, stream::SEND), 2.0, d).collect();
    assert_eq!(times, again);
    assert_eq!(arrivals(schedule_rng(3, 0, 0), 0.0, d).count(), 0);
    assert_eq!(arrivals(schedule_rng(3, 0, 0), f64::NAN, d).count(), 0);
}

#[test]
fn external_file_loads_and_maps_to_indexes() {
    let json = r#"{"users":[{"user_id":10,"token":"a"},{"user_id":20,"token":"b"},{"user_id":30,"token":"c"}],
                  "friendships":[[10,20],[30,20],[20,10]]}"#;
    let ext = External::parse(json, "pop.json").expect("valid");
    assert_eq!(ext.friend_graph(), vec![vec![1], vec![0, 2], vec![1]]);
    let mut plan = plan_with(10, UNIFORM, 1);
    plan.connections_per_user = CountRange::fixed(2);
    let p = Population::from_external(&ext, &plan);
    assert_eq!(p.len(), 3);
    assert_eq!(p.total_connections(), 6);
    plan.users = 2;
    let p = Population::from_external(&ext, &plan);
    assert_eq!(p.friends, vec![vec![1], vec![0]]);
}

#[test]
fn external_file_errors_say_where() {
    let cases = [
        (r#"{"users":[]}"#, "needs at least 2 users"),
        (
            r#"{"users":[{"user_id":0,"token":"a"},{"user_id":2,"token":"b"}]}"#,
            "users[0].user_id",
        ),
        (
            r#"{"users":[{"user_id":1,"token":""},{"user_id":2,"token":"b"}]}"#,
            "users[0].token",
        ),
        (
            r#"{"users":[{"user_id":1,"token":"a"},{"user_id":1,"token":"b"}]}"#,
            "users[1].user_id: 1 repeats users[0]",
        ),
        (
            r#"{"users":[{"user_id":1,"token":"a"},{"user_id":2,"token":"b"}],"friendships":[[1,3]]}"#,
            "friendships[0]: unknown user_id 3",
        ),
        (
            r#"{"users":[{"user_id":1,"token":"a"},{"user_id":2,"token":"b"}],"friendships":[[2,2]]}"#,
            "friendships[0]",
        ),
        (r#"{"users":[{"user_id":1}]}"#, "token"),
        ("not json", "pop.json"),
    ];
    for (json, expected) in cases {
        let msg = External::parse(json, "pop.json")
            .expect_err("invalid")
            .to_string();
        assert!(
            msg.contains(expected) && msg.starts_with("population file pop.json"),
            "{json}: {msg}"
        );
    }
    let msg = External::load(Path::new("/nonexistent/pop.json"))
        .expect_err("missing")
        .to_string();
    assert!(msg.contains("/nonexistent/pop.json"), "{msg}");
}
