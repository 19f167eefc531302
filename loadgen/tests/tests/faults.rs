//! The checker must be shown to fail (INVARIANTS.md; issue 4, "Tests"): for
//! each fault switch of the embedded server, a short run exits 1 and names
//! the invariant the fault breaks; the same run without a fault is clean.
//!
//! One scenario serves every fault: it exercises everything any fault needs
//! (WebSocket messages for echo, duplicates, drops, order and history;
//! typing for leaks; churn of one device and of all devices, and
//! `get_online_friends`, for presence; bad tokens), so the clean run of the
//! very same scenario shows that each report comes from its fault and not
//! from the scenario. The faults are switched on with `--fault NAME`, except
//! one listed in the scenario file's `faults`, to cover both ways in. A
//! second, narrower scenario ([`BARRIER_ONLY`]) shows that a fault only a
//! barrier can see is caught there.
//!
//! Each fault must be named by one of its ids, and nothing outside a short
//! list of ids it can plausibly also break may be reported: a checker that
//! blames the wrong guarantee fails too. Several ids are accepted where a
//! fault breaks more than one guarantee and the checker may see either
//! first (a stale snapshot breaks I4 when compared with the truth, and I1
//! once the view is reset to it; a dropped message that ended a typing
//! indicator leaves the indicator stuck, I8).

use crate::support::{
    assert_clean, at, brief_violations, run_scenario, violated, violations, Run, TempDir,
};

/// 24 users × 2 devices, 3 friends each; 1 s of ramp-up, 5 s of load with a
/// barrier every 2 s. δ stays at its 2 s floor: a one-device churn after
/// the third second closes a device while the other has been Confirmed for
/// longer than δ, which is what I2 needs to prove a wrong "offline".
const FAULTY: &str = r#"
description = "tests: every behaviour a fault needs, small and short"
seed = 5
users = 24
connections_per_user = 2
ramp_up = "1s"
duration = "5s"
bad_tokens = 4

[friends]
model = "uniform"
degree = 3

[behaviour]
send_message = 1.0
typing_then_send = 0.3
typing_abandon = 0.3
typing_pause = { min = "100ms", max = "400ms" }
mark_read = 0.3
get_online_friends = 0.3
device_churn = 0.2
churn_reopen_after = { min = "300ms", max = "1500ms" }
churn_all_devices = 0.5

[content]
min_bytes = 64
max_bytes = 256

[checker]
barrier_interval = "2s"
"#;

/// Runs [`FAULTY`] with `--fault NAME` for each name in `faults`.
fn run_with(dir: &TempDir, faults: &[&str]) -> Run {
    let extra: Vec<&str> = faults.iter().flat_map(|f| ["--fault", *f]).collect();
    run_scenario(dir, "faulty", FAULTY, &extra)
}

/// Asserts that `run` (with `fault` on) exits 1, names one of `expected`,
/// and names nothing outside `expected` and `also`.
fn assert_caught(run: &Run, fault: &str, expected: &[&str], also: &[&str]) {
    let report = run.report();
    let named = violated(report);
    assert!(
        expected.iter().any(|id| named.contains(*id)),
        "fault {fault} should be reported as {}; the report names {named:?}\n{}\n{}",
        expected.join(" or "),
        brief_violations(report, 10),
        run.context()
    );
    let stray: Vec<&String> = named
        .iter()
        .filter(|id| !expected.contains(&id.as_str()) && !also.contains(&id.as_str()))
        .collect();
    assert!(
        stray.is_empty(),
        "fault {fault} breaks {}, but the report also names {stray:?}\n{}\n{}",
        expected.join(" or "),
        brief_violations(report, 10),
        run.context()
    );
    run.assert_code(1);
    let faults = at(report, "faults");
    assert!(
        faults
            .as_array()
            .is_some_and(|l| l.iter().any(|f| f == fault)),
        "the report's faults ({faults}) should list {fault}"
    );
    // CLI.md: each violation has at least its id and a one-line message.
    for v in violations(report) {
        let message = v.get("message").and_then(|m| m.as_str()).unwrap_or("");
        assert!(
            !message.is_empty() && !message.contains('\n'),
            "a violation needs a one-line message: {v}"
        );
    }
}

/// `--fault NAME` on [`FAULTY`] is reported as one of `expected`, and as
/// nothing but those and `also`.
fn caught(fault: &str, expected: &[&str], also: &[&str]) {
    let dir = TempDir::new(&format!("fault-{fault}"));
    let run = run_with(&dir, &[fault]);
    assert_caught(&run, fault, expected, also);
}

/// INVARIANTS.md, "What a violation report holds": besides the id and the
/// message, the command that replays the run from its seed (`--seed 5`,
/// the scenario and the fault). Kept apart from the detection tests so that
/// a missing detail does not read as a missed fault.
#[test]
fn violations_carry_the_replay_command() {
    let dir = TempDir::new("fault-replay");
    let run = run_with(&dir, &["bad-token-close1000"]);
    assert_caught(&run, "bad-token-close1000", &["I10"], &[]);
    for v in violations(run.report()) {
        let text = v.to_string();
        for part in ["--seed 5", "faulty.toml", "--fault bad-token-close1000"] {
            assert!(
                text.contains(part),
                "a violation should carry the command that replays the run (with '{part}'): {v}"
            );
        }
    }
}

#[test]
fn clean_server_reports_nothing() {
    let dir = TempDir::new("fault-none");
    let run = run_with(&dir, &[]);
    assert_clean(&run);
    let r = run.report();
    assert!(at(r, "faults").as_array().is_some_and(Vec::is_empty));
    // Every invariant was checked, so finding nothing means something.
    let checked = at(r, "invariants.checked");
    for i in 1..=12 {
        let id = format!("I{i}");
        assert!(
            checked
                .get(&id)
                .and_then(|n| n.as_u64())
                .is_some_and(|n| n > 0),
            "{id} was never checked: {checked}\n{}",
            run.context()
        );
    }
    // The run did meet what the faults need.
    for (key, what) in [
        ("invariants.checked.I10", "bad tokens"),
        ("latency_us.typing.count", "typing"),
        ("latency_us.message_echo.count", "messages"),
        ("latency_us.presence.count", "presence events"),
    ] {
        assert!(
            at(r, key).as_u64().is_some_and(|n| n > 0),
            "no {what} ({key})\n{}",
            run.context()
        );
    }
}

#[test]
fn no_echo_is_i5() {
    caught("no-echo", &["I5"], &[]);
}

#[test]
fn duplicate_message_is_i5() {
    // The second copy repeats a sequence number, which I6 may see first.
    caught("duplicate-message", &["I5"], &["I6"]);
}

#[test]
fn drop_delivery_is_i5() {
    caught("drop-delivery", &["I5"], &["I8"]);
}

#[test]
fn reorder_messages_is_i6() {
    // The server holds a conversation's odd message until the next one: the
    // last one of a conversation is never delivered (I5), and a held message
    // that ended a typing indicator leaves it stuck (I8).
    caught("reorder-messages", &["I6"], &["I5", "I8"]);
}

#[test]
fn typing_leak_is_i7_or_i8() {
    caught("typing-leak", &["I7", "I8"], &[]);
}

#[test]
fn stale_online_friends_is_i4_or_i1() {
    caught("stale-online-friends", &["I4", "I1"], &[]);
}

#[test]
fn offline_on_every_disconnect_is_i2_or_i1() {
    caught("offline-on-every-disconnect", &["I2", "I1"], &[]);
}

#[test]
fn bad_token_close_1000_is_i10() {
    caught("bad-token-close1000", &["I10"], &[]);
}

/// One device per user, no churn and no `get_online_friends` action: each
/// user's only reply that is not a barrier's is its first, which the
/// stale-snapshot fault answers truthfully, and presence events stay
/// correct. So only the fresh `get_online_friends` that a barrier asks of
/// every Confirmed connection (INVARIANTS.md, "Quiescence barriers") can
/// see the stale copy: this shows that barriers really ask.
const BARRIER_ONLY: &str = r#"
description = "tests: one device each, snapshots only from barriers"
seed = 9
users = 24
connections_per_user = 1
ramp_up = "1s"
duration = "3s"

[friends]
model = "uniform"
degree = 3

[behaviour]
send_message = 0.5

[checker]
barrier_interval = "1s"
"#;

#[test]
fn stale_online_friends_is_caught_by_the_barrier_snapshot() {
    let dir = TempDir::new("fault-stale-barrier");
    let (faulty, clean) = std::thread::scope(|s| {
        let faulty = s.spawn(|| {
            run_scenario(
                &dir,
                "barrier-only-stale",
                BARRIER_ONLY,
                &["--fault", "stale-online-friends"],
            )
        });
        let clean = s.spawn(|| run_scenario(&dir, "barrier-only", BARRIER_ONLY, &[]));
        (
            faulty.join().expect("faulty run"),
            clean.join().expect("clean run"),
        )
    });
    assert_clean(&clean);
    assert_caught(&faulty, "stale-online-friends", &["I4", "I1"], &[]);
}

/// Switched on in the scenario file (`faults = [...]`) instead of by flag.
#[test]
fn history_missing_from_the_scenario_file_is_i11() {
    let dir = TempDir::new("fault-history-missing");
    let toml = format!("faults = [\"history-missing\"]\n{FAULTY}");
    let run = run_scenario(&dir, "faulty-history", &toml, &[]);
    assert_caught(&run, "history-missing", &["I11"], &[]);
}

// Issue 12: what a server could break without the checker noticing. Each
// new check has a fault that it catches.

#[test]
fn corrupt_content_is_i5() {
    caught("corrupt-content", &["I5"], &[]);
}

/// The sender in `receiver_id`: the receiver sees a message "between" the
/// sender and the sender, which is also a conversation it is not in (I7).
#[test]
fn wrong_receiver_id_is_i5_or_i7() {
    caught("wrong-receiver-id", &["I5", "I7"], &[]);
}

#[test]
fn skewed_timestamp_is_i5() {
    caught("skewed-timestamp", &["I5"], &[]);
}

/// Typers who go fully offline in the middle of typing and stay away:
/// every user types twice a second for 1–2 s before it stops, and closes
/// all its devices about once every five seconds for 4–6 s, so its
/// `stop_typing` often finds no device to go out on (and receivers stay
/// connected long enough to be judged). Only the server's `is_typing:false` at the
/// typer's last close then ends the indicator; barriers every second judge
/// it while the typer is still away.
const TYPERS_LEAVE: &str = r#"
description = "tests: typers going offline while typing"
seed = 14
users = 24
connections_per_user = 2
ramp_up = "1s"
duration = "8s"

[friends]
model = "uniform"
degree = 3

[behaviour]
typing_abandon = 2.0
typing_pause = { min = "1s", max = "2s" }
device_churn = 0.2
churn_reopen_after = { min = "4s", max = "6s" }
churn_all_devices = 1.0

[checker]
barrier_interval = "1s"
"#;

/// PROTOCOL.md §1 (stricter than INVARIANTS.md's I8, which accepts "the
/// typer went offline"): the server owes `is_typing:false`.
#[test]
fn typing_stuck_offline_is_i8_and_the_clean_run_is_clean() {
    let dir = TempDir::new("fault-typing-stuck-offline");
    let (faulty, clean) = std::thread::scope(|s| {
        let faulty = s.spawn(|| {
            run_scenario(
                &dir,
                "typers-leave-stuck",
                TYPERS_LEAVE,
                &["--fault", "typing-stuck-offline"],
            )
        });
        let clean = s.spawn(|| run_scenario(&dir, "typers-leave", TYPERS_LEAVE, &[]));
        (
            faulty.join().expect("faulty run"),
            clean.join().expect("clean run"),
        )
    });
    assert_clean(&clean);
    assert_caught(&faulty, "typing-stuck-offline", &["I8"], &[]);
}
