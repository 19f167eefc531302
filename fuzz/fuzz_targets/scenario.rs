//! The scenario parser (`Scenario::parse`, then `Plan::from_scenario`): any
//! text gives a scenario or a clear error, never a panic; a scenario that
//! parses and validates writes back (`to_toml`) as TOML that parses to the
//! same scenario and validates again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgen::scenario::{Overrides, Plan, Scenario};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scenario) = Scenario::parse(text, "fuzz") else {
        return;
    };
    // Errors are fine; a panic (overflow, unwrap) is not.
    if Plan::from_scenario(scenario.clone(), &Overrides::default()).is_err() {
        return;
    }
    let written = scenario.to_toml().expect("a valid scenario serializes");
    let back = Scenario::parse(&written, "fuzz")
        .unwrap_or_else(|e| panic!("to_toml wrote what parse refuses: {e}\n{written}"));
    assert_eq!(back, scenario, "round trip through\n{written}");
    Plan::from_scenario(back, &Overrides::default()).expect("the written scenario validates");
});
