//! Typing: I7 and I8 routing on every `user_typing`, I8 stuck indicators at
//! barriers.
//!
//! # Routing (always)
//!
//! `user_typing {X}` on a connection of U is sent only because X sent
//! `typing`/`stop_typing` to U (or X went offline while marked typing to U,
//! which needs an earlier `typing`). So it is a violation if X cannot be U's
//! friend at that instant (I7 privacy *and* I8 routing: both statements are
//! broken, and both are reported), or — when the driver keeps a
//! [`TypingLedger`](super::facts::TypingLedger) — if X had sent no typing
//! action to U at all before the frame arrived (I8: it was meant for someone
//! else). The driver records an action before sending it, so "none recorded
//! before the arrival" is proof.
//!
//! # Stuck indicators (barriers)
//!
//! Every `is_typing:true` must be followed by `false`, a message, or the
//! typer going offline; each of those clears the view. At a barrier at `t`,
//! the view showing X typing is reported only if all of this holds:
//!
//! - X's latest clearing action toward U (`stop_typing` or a message), sent
//!   at `c`, was certainly processed: sent on a connection the server
//!   certainly held at `c` (it reads frames in order), or a REST send whose
//!   201 arrived;
//! - it has surely arrived: `c + δ <= t`;
//! - it was processed after every `typing` of X toward U: the latest
//!   `typing` was sent on the same connection before `c`, and every
//!   `typing` from another connection was sent at least δ before `c` (each
//!   was processed within δ of its sending).
//!
//! Then the server's last word to U about X's typing was a clear, which U
//! must have received after whatever `true` it holds.

use super::ctx::{involve_user, CheckCtx};
use super::view::ConnView;
use super::violation::{Findings, InvariantId};
use server::protocol::UserId;

impl ConnView {
    /// A `user_typing {x, is_typing}` arrived at `at`.
    pub(super) fn on_typing(
        &mut self,
        ctx: &dyn CheckCtx,
        at: u64,
        x: UserId,
        is_typing: bool,
        found: &mut Findings,
    ) {
        let u = self.user;
        found.tally.check(InvariantId::I7);
        found.tally.check(InvariantId::I8);
        let friend = ctx.friendship(u, x).is_some_and(|f| f.possible_at(at));
        if !friend {
            for (id, what) in [
                (InvariantId::I7, "typing of a non-friend"),
                (InvariantId::I8, "typing routed to a non-friend"),
            ] {
                let mut v = self
                    .violation(
                        ctx,
                        id,
                        at,
                        format!("{what}: user_typing of user {x} reached user {u}"),
                    )
                    .expected(format!("no typing of {x}: not a friend of {u}"))
                    .observed(format!(
                        "user_typing {x} {is_typing} on connection {}",
                        self.conn
                    ));
                involve_user(ctx, &mut v, x, at.saturating_sub(ctx.delta_us()), at);
                found.push(v);
            }
            return;
        }
        if ctx.tracks_typing() {
            let acted = ctx
                .typing_actions(x, u)
                .and_then(|a| a.first_at)
                .is_some_and(|first| first <= at);
            if !acted {
                let mut v = self
                    .violation(
                        ctx,
                        InvariantId::I8,
                        at,
                        format!("user_typing of user {x} reached user {u}, whom {x} never sent typing to"),
                    )
                    .expected(format!("typing of {x} only on the connections of its receiver"))
                    .observed(format!("user_typing {x} {is_typing} on connection {}", self.conn));
                involve_user(ctx, &mut v, x, at.saturating_sub(ctx.delta_us()), at);
                found.push(v);
            }
        }
        let entry = self.friends.entry(x).or_default();
        if is_typing {
            entry.typing_since.get_or_insert(at);
        } else {
            entry.typing_since = None;
        }
    }

    /// I8 at a barrier at `at`: indicators that should have been cleared.
    pub(super) fn check_stuck_typing(&self, ctx: &dyn CheckCtx, at: u64, found: &mut Findings) {
        if self.bad_token || !self.confirmed || !ctx.tracks_typing() {
            return;
        }
        let delta = ctx.delta_us();
        for (&x, view) in &self.friends {
            let Some(since) = view.typing_since else {
                continue;
            };
            found.tally.check(InvariantId::I8);
            let Some(acts) = ctx.typing_actions(x, self.user) else {
                continue;
            };
            let Some((start_at, start_conn)) = acts.last_start else {
                continue;
            };
            let cleared = acts.last_clear.filter(|&(clear_at, clear_conn)| {
                let processed = clear_conn
                    .is_none_or(|c| ctx.lifecycle(c).is_some_and(|l| l.certain_at(clear_at)));
                let arrived = clear_at.saturating_add(delta) <= at;
                let after_starts = if clear_conn == Some(start_conn) {
                    start_at < clear_at
                        && acts
                            .other_start_at
                            .is_none_or(|o| o.saturating_add(delta) <= clear_at)
                } else {
                    start_at.saturating_add(delta) <= clear_at
                };
                processed && arrived && after_starts
            });
            let (clear_at, expected) = match cleared {
                Some((clear_at, _)) => (
                    clear_at,
                    format!("typing of {x} cleared by false or a message"),
                ),
                None => match self.typer_went_offline(ctx, x, start_at, at) {
                    Some(off_at) => (
                        off_at,
                        format!("user_typing {{user_id:{x}, is_typing:false}} when {x}'s last connection closed (PROTOCOL.md §1)"),
                    ),
                    None => continue,
                },
            };
            {
                let mut v = self
                    .violation(
                        ctx,
                        InvariantId::I8,
                        at,
                        format!("connection {} still shows user {x} typing (since {since} µs) after {x} stopped at {clear_at} µs", self.conn),
                    )
                    .expected(expected)
                    .observed(format!("typing since {since} µs; last typing sent at {start_at} µs"));
                v.frame = None;
                involve_user(ctx, &mut v, x, start_at, at);
                found.push(v);
            }
        }
    }

    /// Stricter than INVARIANTS.md's I8 ("or the typer going offline"), as
    /// PROTOCOL.md §1 says: when the typer's last connection closes, every
    /// connection that last saw `is_typing:true` gets `false`. Returns the
    /// instant `typer` was certainly fully offline, after its last typing
    /// start (`start_at`) and at least δ before `at`, while this connection
    /// was certainly registered; `None` if there is no such instant.
    ///
    /// Only instants after the lifecycle table's forget horizon are asked
    /// about (before it, a forgotten connection of the typer could have
    /// been open), and only just after one of the typer's closes.
    fn typer_went_offline(
        &self,
        ctx: &dyn CheckCtx,
        typer: UserId,
        start_at: u64,
        at: u64,
    ) -> Option<u64> {
        let delta = ctx.delta_us();
        let latest = at.checked_sub(delta)?;
        let me = ctx.lifecycle(self.conn)?;
        if !me.certain_covers(start_at, at) {
            return None;
        }
        let horizon = ctx.known_since().max(start_at);
        let mut closes = Vec::new();
        ctx.any_conn(typer, &mut |_, l| {
            if let Some(c) = l.closed_at.filter(|_| !l.bad_token) {
                closes.push(c + 1);
            }
            false
        });
        closes.sort_unstable();
        closes
            .into_iter()
            .filter(|&t| t > horizon && t <= latest)
            .find(|&t| ctx.disconnected_throughout(typer, t, t))
    }
}
