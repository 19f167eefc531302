//! Run-level checker results: how many times each invariant was evaluated,
//! the violations (as CLI.md's JSON objects), redundant statuses (I3), and
//! the coverage counters of the hard cases.

use crate::checker::violation::InvariantId;
use crate::report::Invariants;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Most violations listed in the report (the counts keep going).
const MAX_LISTED: usize = 200;

/// Accumulated over the run.
#[derive(Default)]
pub struct Checks {
    checked: BTreeMap<String, u64>,
    violations: Vec<Value>,
    violation_count: u64,
    pub redundant: u64,
    coverage: BTreeMap<String, u64>,
    /// The command that replays the run (set by the driver).
    pub replay: String,
}

impl Checks {
    /// One evaluation of invariant `id`.
    pub fn checked(&mut self, id: InvariantId, n: u64) {
        *self.checked.entry(id.as_str().to_owned()).or_insert(0) += n;
    }

    /// One violation; `details` is merged into the object.
    pub fn violation(&mut self, id: InvariantId, at_us: u64, message: String, details: Value) {
        self.violation_count += 1;
        if self.violations.len() >= MAX_LISTED {
            return;
        }
        let mut v = json!({
            "invariant": id.as_str(),
            "message": message,
            "at_us": at_us,
            "replay": self.replay,
        });
        if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), details) {
            obj.extend(extra);
        }
        self.violations.push(v);
    }

    /// A pre-built violation object from the checker.
    pub fn push_violation(&mut self, mut v: Value) {
        self.violation_count += 1;
        if self.violations.len() < MAX_LISTED {
            if let Some(obj) = v.as_object_mut() {
                obj.entry("replay")
                    .or_insert_with(|| Value::String(self.replay.clone()));
            }
            self.violations.push(v);
        }
    }

    /// Counts one hard case.
    pub fn cover(&mut self, name: &str, n: u64) {
        *self.coverage.entry(name.to_owned()).or_insert(0) += n;
    }

    /// Whether anything was violated.
    pub fn any_violation(&self) -> bool {
        self.violation_count > 0
    }

    /// I10: a bad-token socket must get close 4008 and no application frame.
    pub fn bad_token(&mut self, at_us: u64, code: Option<u16>, frames: usize) {
        self.checked(InvariantId::I10, 1);
        self.cover("bad_tokens", 1);
        if code != Some(4008) || frames > 0 {
            self.violation(
                InvariantId::I10,
                at_us,
                format!("bad token: close code {code:?} and {frames} application frame(s); expected 4008 and none"),
                json!({"expected": "close 4008, no frame", "observed": format!("close {code:?}, {frames} frame(s)")}),
            );
        }
    }

    /// The report section.
    pub fn report(&self) -> Invariants {
        let mut checked = self.checked.clone();
        for id in InvariantId::ALL {
            checked.entry(id.as_str().to_owned()).or_insert(0);
        }
        Invariants {
            checked,
            violations: self.violations.clone(),
            redundant: self.redundant,
            coverage: self.coverage.clone(),
        }
    }
}
