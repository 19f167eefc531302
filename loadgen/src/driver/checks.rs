//! The checker's run-wide tables, as the driver keeps them: lifecycles, the
//! friend graph, conversations, the typing ledger, the sent log, the
//! suspicions awaiting a barrier, and everything found so far.
//!
//! One lock guards them all. Each connection task takes it once per frame,
//! for the length of one pure check (a few hash lookups); the user tasks
//! take it once per action. Lock order: `Facts` before a connection's own
//! view lock.

use crate::checker::{
    Conversations, Deferred, Findings, FriendGraph, Lifecycles, SentLog, TypingLedger, World,
};
use crate::report::Invariants;
use crate::scenario::Plan;
use std::collections::BTreeMap;

/// Everything the checks share.
#[derive(Default)]
pub struct Facts {
    pub lifecycles: Lifecycles,
    pub friends: FriendGraph,
    pub conversations: Conversations,
    pub typing: TypingLedger,
    pub sent: SentLog,
    /// Suspicions of closed connections, judged at the next barrier.
    pub pending: Deferred,
    pub findings: Findings,
    /// δ in force (µs): max(the plan's δ, 20 × p99.9 delivery so far).
    pub delta_us: u64,
    /// The server's clock against ours, when its `Date` header told it.
    pub clock: Option<crate::checker::ClockBound>,
}

/// Splits the tables into a read-only [`World`] and the mutable findings, so
/// a check can read the one while writing the other.
pub fn split(facts: &mut Facts) -> (World<'_>, &mut Findings) {
    let Facts {
        lifecycles,
        friends,
        conversations,
        typing,
        findings,
        delta_us,
        clock,
        ..
    } = facts;
    (
        World {
            delta_us: *delta_us,
            lifecycles,
            friends,
            conversations: Some(conversations),
            typing: Some(typing),
            clock: *clock,
        },
        findings,
    )
}

impl Facts {
    /// The report section, with the run facts filled into each violation.
    pub fn report(&mut self, plan: &Plan, p999_delivery_us: u64, lag_p99_us: u64) -> Invariants {
        let coverage = *self.lifecycles.coverage();
        self.findings.tally.coverage.merge(&coverage);
        let replay = plan.replay_command();
        let tally = &self.findings.tally;
        let checked = tally
            .checked
            .iter()
            .map(|(id, n)| (id.as_str().to_owned(), n))
            .collect();
        let coverage: BTreeMap<String, u64> = tally
            .coverage
            .iter()
            .map(|(k, n)| (k.as_str().to_owned(), n))
            .collect();
        let violations = self
            .findings
            .violations
            .iter_mut()
            .map(|v| {
                v.fill_run_info(plan.seed, p999_delivery_us, lag_p99_us, &replay);
                serde_json::to_value(&*v).unwrap_or_default()
            })
            .collect();
        let undecided = tally
            .undecided
            .iter()
            .map(|(k, count)| {
                let entry = crate::report::UndecidedEntry {
                    invariants: k.invariants().to_owned(),
                    count,
                    why: k.why().to_owned(),
                };
                (k.as_str().to_owned(), entry)
            })
            .collect();
        Invariants {
            checked,
            violations,
            redundant: tally.redundant,
            coverage,
            undecided,
        }
    }
}
