//! Presence: I2 (never offline while connected), I3 (alternation), I4
//! (snapshot correctness), I7 for presence, and I1 (convergence, at barriers).
//!
//! Time reasoning (δ = [`CheckCtx::delta_us`], windows closed):
//!
//! - **I2 offline.** `offline(X)` arriving at `t` was sent at some instant
//!   of `[t−δ, t]` (δ bounds delivery), when the server held no connection
//!   of X. If a connection of X was Confirmed throughout `[t−δ, t]` the
//!   server held it at that instant: a violation. Because the end of X's
//!   connection may not be recorded yet (a server-side close not yet read),
//!   this is a suspicion judged at the next barrier ([`super::deferred`]).
//! - **I2 online.** `online(X)` at `t` was sent in `[t−δ, t]` while the
//!   server held a connection of X, so some connection of X was not Closed
//!   during that window (the close the generator sees may precede the
//!   server's removal, but the resulting events arrive within δ of it; a
//!   connection still Opening counts). None: a violation — an I10 one when
//!   the only socket of X then open had a bad token.
//! - **I3.** After a snapshot, an event that repeats the view is counted as
//!   `redundant` and never listed (the contract lets a server repeat state).
//! - **I4.** A reply to a request sent at `s` and received at `t` was built
//!   at some instant of `[s, t]`. It must be ascending without duplicates
//!   and list only users who may be friends at `t`; it must list a certain
//!   friend Confirmed throughout `[s, t]` (a suspicion, as for I2); it must
//!   not list anyone no connection of whom could have been registered during
//!   `[s−δ, t]` (the server's removal may lag the close the generator saw by
//!   up to δ) — an I10 violation when a bad-token socket of theirs was
//!   open. At a barrier nobody is in transition, so this is exact.
//! - **I1** (at a barrier, at `t`, before the barrier's reply is applied):
//!   for each friend F certain since the view's snapshot request, the
//!   event-built view must say online if F was Confirmed throughout
//!   `[t−δ, t]` (F's last "online" was caused before `t−δ` and has arrived),
//!   offline if F was disconnected throughout `[t−δ, t]`; otherwise F moved
//!   too recently to judge.
//! - **I7.** A status about someone who cannot be a friend at `t` (not even
//!   a friendship whose accept was sent before `t`) is a violation.

use super::ctx::{friends_of, involve_user, CheckCtx};
use super::view::{BarrierSnap, ConnView, Noted, PendingRequest};
use super::violation::{Findings, InvariantId};
use server::protocol::{Status, UserId};
use std::borrow::Cow;

impl ConnView {
    /// A `friend_status_change {x, status}` arrived at `at`.
    pub(super) fn on_status(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        x: UserId,
        status: Status,
        found: &mut Findings,
    ) {
        let delta = ctx.delta_us();
        let from = at.saturating_sub(delta);
        found.tally.check(InvariantId::I7);
        if !ctx
            .friendship(self.user, x)
            .is_some_and(|f| f.possible_at(at))
        {
            let mut v = self
                .violation(
                    ctx,
                    InvariantId::I7,
                    at,
                    format!("presence of user {x}, not a friend of user {}", self.user),
                )
                .expected(format!("no presence of non-friend {x}"))
                .observed(format!("friend_status_change {x} {status:?}"));
            involve_user(ctx, &mut v, x, from, at);
            found.push(v);
            return;
        }
        found.tally.check(InvariantId::I2);
        match status {
            Status::Online => {
                if !ctx.possibly_connected(x, from, at) {
                    let bad = ctx.bad_token_possibly_open(x, from, at);
                    let id = if bad {
                        InvariantId::I10
                    } else {
                        InvariantId::I2
                    };
                    let why = if bad {
                        "only a bad-token socket of theirs was open"
                    } else {
                        "no connection of theirs was open"
                    };
                    let mut v = self
                        .violation(
                            ctx,
                            id,
                            at,
                            format!("user {x} announced online while {why} in the last δ"),
                        )
                        .expected(format!(
                            "online({x}) only while a connection of {x} may be open"
                        ))
                        .observed(format!("online({x}) at {at} µs; δ = {delta} µs"));
                    involve_user(ctx, &mut v, x, from, at);
                    found.push(v);
                }
            }
            Status::Offline => {
                if ctx.confirmed_throughout(x, from, at) {
                    let mut v = self.violation(
                        ctx,
                        InvariantId::I2,
                        at,
                        format!("user {x} announced offline while a connection of theirs was Confirmed throughout the last δ"),
                    )
                    .expected(format!("no offline({x}) while {x} is connected"))
                    .observed(format!("offline({x}) at {at} µs; δ = {delta} µs"));
                    involve_user(ctx, &mut v, x, from, at);
                    self.deferred.push(x, from, at, v);
                }
            }
        }
        let entry = self.friends.entry(x).or_default();
        let online = status == Status::Online;
        if self.snapshot_sent_at.is_some() {
            found.tally.check(InvariantId::I3);
            if entry.online == online {
                found.tally.redundant += 1;
            }
        }
        entry.online = online;
        // An "offline" does not clear the typing indicator here: the
        // server must send `is_typing:false` for it (PROTOCOL.md §1),
        // which `check_stuck_typing` enforces.
        if let Some(b) = &mut self.barrier {
            b.apply(x, status);
        }
    }

    /// An `online_friends` reply arrived at `at`.
    pub(super) fn on_snapshot(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        reply: &[UserId],
        found: &mut Findings,
    ) -> Noted {
        let request = if self.desync {
            None
        } else {
            self.pending.pop_front()
        };
        let sent_at = request.map(|r| r.sent_at);
        if let Some(s) = sent_at {
            self.prove_alive(s);
        }
        self.check_snapshot(ctx, at, sent_at, reply, found);
        if let Some(PendingRequest {
            sent_at,
            barrier: true,
        }) = request
        {
            if self.confirmed {
                let mut online = reply.to_vec();
                online.sort_unstable();
                online.dedup();
                self.barrier = Some(BarrierSnap { sent_at, online });
                return Noted::BarrierReply;
            }
        }
        // An unmatched reply was built at an unknown instant, but after the
        // previous snapshot's request: friendships are judged from there.
        let built_after = sent_at.unwrap_or(self.snapshot_sent_at.unwrap_or(0));
        self.apply_snapshot(built_after, reply);
        if self.confirmed {
            Noted::Nothing
        } else {
            self.confirmed = true;
            Noted::Confirmed
        }
    }

    /// I4 on one reply whose request was sent at `sent_at` (if known).
    fn check_snapshot(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        sent_at: Option<u64>,
        reply: &[UserId],
        found: &mut Findings,
    ) {
        let delta = ctx.delta_us();
        found.tally.check(InvariantId::I4);
        let sorted: Cow<'_, [UserId]> = match reply.windows(2).find(|w| w[0] >= w[1]) {
            None => Cow::Borrowed(reply),
            Some(w) => {
                let v = self
                    .violation(
                        ctx,
                        InvariantId::I4,
                        at,
                        format!(
                            "online_friends not strictly ascending: {} then {}",
                            w[0], w[1]
                        ),
                    )
                    .expected("ascending ids, no duplicates")
                    .observed(format!("{reply:?}"));
                found.push(v);
                let mut s = reply.to_vec();
                s.sort_unstable();
                s.dedup();
                Cow::Owned(s)
            }
        };
        for &f in sorted.iter() {
            found.tally.check(InvariantId::I4);
            if !ctx
                .friendship(self.user, f)
                .is_some_and(|fr| fr.possible_at(at))
            {
                let mut v = self
                    .violation(
                        ctx,
                        InvariantId::I4,
                        at,
                        format!(
                            "online_friends lists user {f}, not a friend of user {}",
                            self.user
                        ),
                    )
                    .expected("a subset of the friends")
                    .observed(format!("{reply:?}"));
                involve_user(ctx, &mut v, f, at.saturating_sub(delta), at);
                found.push(v);
                continue;
            }
            let Some(s) = sent_at else { continue };
            let from = s.saturating_sub(delta);
            if ctx.disconnected_throughout(f, from, at) {
                // Listed only through a bad-token socket: that is I10's
                // "no friend sees it online".
                let (id, why) = if ctx.bad_token_possibly_open(f, from, at) {
                    (InvariantId::I10, "only a bad-token socket of theirs")
                } else {
                    (InvariantId::I4, "no open connection")
                };
                let mut v = self
                    .violation(
                        ctx,
                        id,
                        at,
                        format!("online_friends lists user {f}, who had {why} during the request"),
                    )
                    .expected(format!("{f} absent: no connection in [{from}, {at}] µs"))
                    .observed(format!("{reply:?}"));
                involve_user(ctx, &mut v, f, from, at);
                found.push(v);
            }
        }
        let Some(s) = sent_at else { return };
        let from = s.saturating_sub(delta);
        let mut uncertain = false;
        for (f, fr) in friends_of(ctx, self.user) {
            if !fr.certain_at(s) {
                continue;
            }
            let listed = sorted.binary_search(&f).is_ok();
            let connected = ctx.confirmed_throughout(f, s, at);
            if !connected && !ctx.disconnected_throughout(f, from, at) {
                uncertain = true;
            }
            if listed {
                continue;
            }
            found.tally.check(InvariantId::I4);
            if connected {
                let mut v = self
                    .violation(
                        ctx,
                        InvariantId::I4,
                        at,
                        format!("online_friends misses user {f}, Confirmed throughout the request"),
                    )
                    .expected(format!("{f} listed: connected throughout [{s}, {at}] µs"))
                    .observed(format!("{reply:?}"));
                involve_user(ctx, &mut v, f, s, at);
                self.deferred.push(f, s, at, v);
            }
        }
        if uncertain {
            found.tally.coverage.online_friends_during_transition += 1;
        }
    }

    /// Replaces the view of every friend by `reply` (built after `sent_at`).
    fn apply_snapshot(&mut self, sent_at: u64, reply: &[UserId]) {
        for f in self.friends.values_mut() {
            f.online = false;
        }
        for &u in reply {
            self.friends.entry(u).or_default().online = true;
        }
        self.snapshot_sent_at = Some(sent_at);
    }

    /// I1: the event-built view against the truth, at barrier time `at`.
    pub(super) fn check_convergence(&mut self, ctx: &dyn CheckCtx, at: u64, found: &mut Findings) {
        if self.bad_token || !self.confirmed {
            return;
        }
        let Some(snap) = self.snapshot_sent_at else {
            return;
        };
        let from = at.saturating_sub(ctx.delta_us());
        for (f, fr) in friends_of(ctx, self.user) {
            if !fr.certain_at(snap) {
                continue;
            }
            found.tally.check(InvariantId::I1);
            let online = self.friends.get(&f).is_some_and(|v| v.online);
            let wrong = if online {
                ctx.disconnected_throughout(f, from, at)
            } else {
                ctx.confirmed_throughout(f, from, at)
            };
            if wrong {
                let (seen, truth) = if online {
                    ("online", "offline")
                } else {
                    ("offline", "online")
                };
                let mut v = self
                    .violation(
                        ctx,
                        InvariantId::I1,
                        at,
                        format!("connection {} still sees friend {f} {seen}; {f} has been {truth} since at least {from} µs", self.conn),
                    )
                    .expected(format!("{f} {truth}"))
                    .observed(format!("{f} {seen} (last snapshot + events)"));
                v.frame = None;
                involve_user(ctx, &mut v, f, from, at);
                found.push(v);
            }
        }
    }

    /// Resets the view to the barrier's reply (and the events after it).
    pub(super) fn apply_barrier_snapshot(&mut self) {
        if let Some(b) = self.barrier.take() {
            self.apply_snapshot(b.sent_at, &b.online);
        }
    }
}
