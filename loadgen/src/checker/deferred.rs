//! Suspicions judged later, once every lifecycle is known.
//!
//! Some rules need "X was Confirmed throughout [a, b]" for a window that has
//! just ended. When the frame arrives, X's connection may look Confirmed
//! only because its end is not known yet: the server may already have closed
//! it (a slow consumer) while the driver has not read the close. Reporting
//! then would be unsound. So such a frame becomes a *suspicion*: the
//! violation is built (with the frame and recent frames), kept, and judged
//! again at the next barrier, when every connection has either answered the
//! barrier's request (so was registered after `b`) or had its close recorded.
//!
//! Suspicions are rare on a correct server (a close whose frame has not
//! been read yet); the list is capped per connection and an overflow is
//! counted as `unjudged`, never guessed.

use super::ctx::{involve_user, CheckCtx};
use super::violation::{Findings, InvariantId, Violation};
use server::protocol::UserId;

/// Suspicions kept per connection between two barriers.
pub const MAX_DEFERRED: usize = 256;

/// One suspicion: a violation if `about` was Confirmed throughout `[from, to]`.
#[derive(Debug, Clone)]
struct Suspicion {
    about: UserId,
    from: u64,
    to: u64,
    violation: Violation,
}

/// The suspicions of one connection (or of several closed ones, appended).
#[derive(Debug, Default, Clone)]
pub struct Deferred {
    items: Vec<Suspicion>,
    dropped: u64,
}

impl Deferred {
    /// Keeps `violation`, to be reported if `about` turns out to have been
    /// Confirmed throughout `[from, to]`.
    pub(super) fn push(&mut self, about: UserId, from: u64, to: u64, violation: Violation) {
        if self.items.len() >= MAX_DEFERRED {
            self.dropped += 1;
        } else {
            self.items.push(Suspicion {
                about,
                from,
                to,
                violation,
            });
        }
    }

    /// Suspicions waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether none is waiting.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes over another list (from a connection that closed).
    pub fn append(&mut self, mut other: Deferred) {
        self.items.append(&mut other.items);
        self.dropped += other.dropped;
    }

    /// Judges every suspicion with what `ctx` knows now, and empties the list.
    ///
    /// Call at a barrier, after every connection's state is recorded.
    pub fn settle(&mut self, ctx: &dyn CheckCtx, found: &mut Findings) {
        for s in self.items.drain(..) {
            if ctx.confirmed_throughout(s.about, s.from, s.to) {
                let mut v = s.violation;
                // Refresh the summaries: the lifecycles are complete now.
                v.connections.retain(|c| c.user != s.about);
                involve_user(ctx, &mut v, s.about, s.from, s.to);
                found.push(v);
            }
        }
        found.tally.unjudged += self.dropped;
        found.tally.undecided.add(
            super::undecided::UndecidedKind::SuspicionsDropped,
            self.dropped,
        );
        self.dropped = 0;
    }

    /// How many suspicions of `id` are waiting (for tests and progress).
    pub fn count(&self, id: InvariantId) -> usize {
        self.items
            .iter()
            .filter(|s| s.violation.invariant == id)
            .count()
    }
}
