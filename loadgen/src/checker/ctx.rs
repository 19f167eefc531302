//! What a check may ask about the world: the [`CheckCtx`] trait, and
//! [`World`], its implementation over the checker's own tables.
//!
//! The checks never own the world: the driver does (lifecycles, friend
//! graph, conversations, typing actions), and lends it through this trait.
//! A driver that keeps those facts its own way (behind a lock, sharded...)
//! implements the handful of required methods; the derived queries
//! (`confirmed_throughout` and friends) come for free.
//!
//! Contract for implementors: the checks call these methods one at a time,
//! never from inside a callback of another (so a method may take a
//! non-reentrant lock), and every answer must be *at least as uncertain* as
//! the truth: an unknown friendship or conversation is `None`, never a
//! guess.

use super::facts::{Conversations, FriendGraph, Friendship, TypingActions, TypingLedger};
use super::lifecycle::{ConnId, Lifecycle, Lifecycles};
use super::violation::Violation;
use server::protocol::{ConversationId, MessageId, UserId};

/// How many connections of one user a report lists.
const MAX_CONNS_LISTED: usize = 8;

/// The world as the checks see it.
pub trait CheckCtx {
    /// δ, the grace (µs): the longest a delivery may take before "late"
    /// becomes "lost", also covering the server's lag in acting on a close
    /// the generator has seen. Frames are timestamped when the driver reads
    /// them, so a driver that can fall behind its sockets by more than a
    /// sliver of δ should add its current lag to the value it returns.
    fn delta_us(&self) -> u64;

    /// One connection's lifecycle.
    fn lifecycle(&self, conn: ConnId) -> Option<Lifecycle>;

    /// Whether `pred` holds for some connection of `user` (bad-token ones
    /// included; the predicates tell them apart).
    fn any_conn(&self, user: UserId, pred: &mut dyn FnMut(ConnId, &Lifecycle) -> bool) -> bool;

    /// The friendship of `a` and `b`, if they may be friends.
    fn friendship(&self, a: UserId, b: UserId) -> Option<Friendship>;

    /// Calls `f` for every possible friend of `user`.
    fn for_each_friend(&self, user: UserId, f: &mut dyn FnMut(UserId, Friendship));

    /// The participants of a conversation, if known.
    fn conversation(&self, _conv: ConversationId) -> Option<[UserId; 2]> {
        None
    }

    /// The conversation of a message the generator deleted, if known.
    fn message_conversation(&self, _message: MessageId) -> Option<ConversationId> {
        None
    }

    /// The server's clock against the generator's, when known.
    fn clock(&self) -> Option<super::intact::ClockBound> {
        None
    }

    /// Lifecycles of connections closed before this instant may have been
    /// forgotten; `disconnected_throughout` is only sure after it.
    fn known_since(&self) -> u64 {
        0
    }

    /// Whether [`CheckCtx::typing_actions`] is kept (if not, typing routing
    /// beyond friendship and stuck typing are not judged).
    fn tracks_typing(&self) -> bool {
        false
    }

    /// What `typer` did toward `receiver`.
    fn typing_actions(&self, _typer: UserId, _receiver: UserId) -> Option<TypingActions> {
        None
    }

    /// Some connection of `user` was Confirmed throughout `[from, to]`.
    fn confirmed_throughout(&self, user: UserId, from: u64, to: u64) -> bool {
        self.any_conn(user, &mut |_, l| l.certain_covers(from, to))
    }

    /// Some connection of `user` was not Closed at some instant of `[from, to]`.
    fn possibly_connected(&self, user: UserId, from: u64, to: u64) -> bool {
        self.any_conn(user, &mut |_, l| l.possibly_during(from, to))
    }

    /// No connection of `user` could have been registered during `[from, to]`.
    fn disconnected_throughout(&self, user: UserId, from: u64, to: u64) -> bool {
        !self.possibly_connected(user, from, to)
    }

    /// A bad-token socket meant as `user`'s was open at some instant of `[from, to]`.
    fn bad_token_possibly_open(&self, user: UserId, from: u64, to: u64) -> bool {
        self.any_conn(user, &mut |_, l| l.bad_token_during(from, to))
    }
}

/// [`CheckCtx`] over the checker's own tables.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    pub delta_us: u64,
    pub lifecycles: &'a Lifecycles,
    pub friends: &'a FriendGraph,
    pub conversations: Option<&'a Conversations>,
    pub typing: Option<&'a TypingLedger>,
    /// The server's clock, when known (timestamps are then judged).
    pub clock: Option<super::intact::ClockBound>,
}

impl CheckCtx for World<'_> {
    fn delta_us(&self) -> u64 {
        self.delta_us
    }

    fn lifecycle(&self, conn: ConnId) -> Option<Lifecycle> {
        self.lifecycles.lifecycle(conn).copied()
    }

    fn any_conn(&self, user: UserId, pred: &mut dyn FnMut(ConnId, &Lifecycle) -> bool) -> bool {
        self.lifecycles.conns_of(user).any(|(c, l)| pred(c, l))
    }

    fn known_since(&self) -> u64 {
        self.lifecycles.known_since()
    }

    fn clock(&self) -> Option<super::intact::ClockBound> {
        self.clock
    }

    fn friendship(&self, a: UserId, b: UserId) -> Option<Friendship> {
        self.friends.get(a, b)
    }

    fn for_each_friend(&self, user: UserId, f: &mut dyn FnMut(UserId, Friendship)) {
        for (u, fr) in self.friends.friends_of(user) {
            f(u, fr);
        }
    }

    fn conversation(&self, conv: ConversationId) -> Option<[UserId; 2]> {
        self.conversations?.members(conv)
    }

    fn message_conversation(&self, message: MessageId) -> Option<ConversationId> {
        self.conversations?.conversation_of(message)
    }

    fn tracks_typing(&self) -> bool {
        self.typing.is_some()
    }

    fn typing_actions(&self, typer: UserId, receiver: UserId) -> Option<TypingActions> {
        self.typing?.get(typer, receiver)
    }
}

/// The possible friends of `user`, collected (so that no ctx method runs
/// inside another's callback).
pub(super) fn friends_of(ctx: &dyn CheckCtx, user: UserId) -> Vec<(UserId, Friendship)> {
    let mut out = Vec::new();
    ctx.for_each_friend(user, &mut |u, f| out.push((u, f)));
    out
}

/// Adds `user` and its connections that may matter for `[from, to]` to `v`.
pub(super) fn involve_user(
    ctx: &dyn CheckCtx,
    v: &mut Violation,
    user: UserId,
    from: u64,
    to: u64,
) {
    v.add_user(user);
    let mut found = Vec::new();
    ctx.any_conn(user, &mut |c, l| {
        let overlaps = l.opened_at <= to && l.closed_at.is_none_or(|c| c >= from);
        if overlaps && found.len() < MAX_CONNS_LISTED {
            found.push(l.summary(c));
        }
        false
    });
    for s in found {
        v.add_conn(s);
    }
}

/// Adds one connection's summary to `v`.
pub(super) fn involve_conn(ctx: &dyn CheckCtx, v: &mut Violation, conn: ConnId) {
    if let Some(l) = ctx.lifecycle(conn) {
        v.add_user(l.user);
        v.add_conn(l.summary(conn));
    }
}
