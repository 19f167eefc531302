//! The checker's run-wide tables, as the driver keeps them: lifecycles, the
//! friend graph, conversations, the typing ledger, the sent log, the
//! suspicions awaiting a barrier, and everything found so far.
//!
//! One lock guards them all. Each connection task takes it once per frame,
//! for the length of one pure check (a few hash lookups); the user tasks
//! take it once per action. Lock order: `Facts` before a connection's own
//! view lock.

use crate::checker::{
    CheckCtx, ClockBound, ConnId, Conversations, Deferred, Findings, FriendGraph, Friendship,
    Lifecycle, Lifecycles, SentLog, TypingActions, TypingLedger, World,
};
use crate::report::Invariants;
use crate::scenario::Plan;
use server::protocol::{ConversationId, MessageId, UserId};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::collections::HashSet;

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
    /// In a run split over processes (`--shard I/N`): the users this
    /// process drives. The others' connections, typing and sends are
    /// another process's, so every question about them is answered as
    /// uncertain and counted in [`Facts::remote`].
    pub local: Option<HashSet<UserId>>,
    /// Questions this process could not decide (their other side lives in
    /// another shard).
    pub remote: RemoteQuestions,
    /// What `loadgen merge` needs to decide some of them (split runs only).
    pub evidence: Option<super::evidence::Evidence>,
}

/// Questions about another shard's users, answered as uncertain, by what
/// they needed.
#[derive(Debug, Default)]
pub struct RemoteQuestions {
    /// I1/I2/I4: a friend's connections (its lifecycles) in another shard.
    pub presence: Cell<u64>,
    /// I8: what a typer in another shard did.
    pub typing: Cell<u64>,
}

/// [`World`] as one shard sees it: about users of other shards it answers
/// as uncertainly as the truth can be (never connected-for-sure, always
/// possibly connected, typing possibly done), and counts each such answer.
/// That is the [`CheckCtx`] contract ("at least as uncertain as the
/// truth"), so no check can report a violation that needs a fact from
/// another process. In an unsplit run it is [`World`] itself.
pub struct ShardWorld<'a> {
    pub world: World<'a>,
    local: Option<&'a HashSet<UserId>>,
    remote: &'a RemoteQuestions,
}

impl ShardWorld<'_> {
    fn remote(&self, user: UserId) -> bool {
        self.local.is_some_and(|l| !l.contains(&user))
    }

    fn count(c: &Cell<u64>) {
        c.set(c.get() + 1);
    }
}

impl CheckCtx for ShardWorld<'_> {
    fn delta_us(&self) -> u64 {
        self.world.delta_us()
    }
    fn lifecycle(&self, conn: ConnId) -> Option<Lifecycle> {
        self.world.lifecycle(conn)
    }
    fn any_conn(&self, user: UserId, pred: &mut dyn FnMut(ConnId, &Lifecycle) -> bool) -> bool {
        self.world.any_conn(user, pred)
    }
    fn friendship(&self, a: UserId, b: UserId) -> Option<Friendship> {
        self.world.friendship(a, b)
    }
    fn for_each_friend(&self, user: UserId, f: &mut dyn FnMut(UserId, Friendship)) {
        self.world.for_each_friend(user, f)
    }
    fn conversation(&self, conv: ConversationId) -> Option<[UserId; 2]> {
        self.world.conversation(conv)
    }
    fn message_conversation(&self, message: MessageId) -> Option<ConversationId> {
        self.world.message_conversation(message)
    }
    fn clock(&self) -> Option<ClockBound> {
        self.world.clock()
    }
    fn known_since(&self) -> u64 {
        self.world.known_since()
    }
    fn tracks_typing(&self) -> bool {
        self.world.tracks_typing()
    }
    fn typing_actions(&self, typer: UserId, receiver: UserId) -> Option<TypingActions> {
        if self.remote(typer) {
            Self::count(&self.remote.typing);
            // The most uncertain answer: it may have typed at any time, and
            // no clear is known (so nothing is "stuck" for sure).
            return Some(TypingActions {
                first_at: Some(0),
                ..TypingActions::default()
            });
        }
        self.world.typing_actions(typer, receiver)
    }
    fn confirmed_throughout(&self, user: UserId, from: u64, to: u64) -> bool {
        if self.remote(user) {
            Self::count(&self.remote.presence);
            return false;
        }
        self.world.confirmed_throughout(user, from, to)
    }
    fn possibly_connected(&self, user: UserId, from: u64, to: u64) -> bool {
        if self.remote(user) {
            Self::count(&self.remote.presence);
            return true;
        }
        self.world.possibly_connected(user, from, to)
    }
    fn disconnected_throughout(&self, user: UserId, from: u64, to: u64) -> bool {
        if self.remote(user) {
            Self::count(&self.remote.presence);
            return false;
        }
        self.world.disconnected_throughout(user, from, to)
    }
    fn bad_token_possibly_open(&self, user: UserId, from: u64, to: u64) -> bool {
        self.remote(user) || self.world.bad_token_possibly_open(user, from, to)
    }
}

/// Splits the tables into a read-only [`World`] and the mutable findings, so
/// a check can read the one while writing the other.
pub fn split(facts: &mut Facts) -> (ShardWorld<'_>, &mut Findings) {
    let Facts {
        lifecycles,
        friends,
        conversations,
        typing,
        findings,
        delta_us,
        clock,
        local,
        remote,
        ..
    } = facts;
    (
        ShardWorld {
            world: World {
                delta_us: *delta_us,
                lifecycles,
                friends,
                conversations: Some(conversations),
                typing: Some(typing),
                clock: *clock,
            },
            local: local.as_ref(),
            remote,
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
