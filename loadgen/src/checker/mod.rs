//! The checker: the protocol's guarantees (PROTOCOL.md §4, INVARIANTS.md
//! I1–I12) as pure functions over what each connection observed.
//!
//! No sockets, no tokio, no I/O, no global state: the driver owns the
//! connections and feeds the checker frames, lifecycle times and its own
//! actions; every check returns typed [`Violation`]s into a [`Findings`].
//!
//! # Layout
//!
//! - [`content`]: the self-describing message content (`lg2|c=..|s=..|i=..|a=..|u=..|p=..|n=..|body`).
//! - [`intact`]: I5's "intact": body, sender, receiver and timestamp as sent.
//! - [`lifecycle`]: connection lifecycles as intervals ([`Lifecycles`]).
//! - [`facts`]: the generator's own actions: [`FriendGraph`], [`Conversations`], [`TypingLedger`].
//! - [`ctx`]: [`CheckCtx`], what a check may ask, and [`World`], its implementation over the above.
//! - [`view`]: [`ConnView`], one connection's online state; `on_event` runs the "always" checks.
//! - [`presence`]: I1, I2, I3, I4 and presence privacy.
//! - [`messages`]: I5 duplicates, I6, I7 for messages, I9.
//! - [`typing`]: I7/I8 typing routing, I8 stuck typing.
//! - [`sent`]: the [`SentLog`] and [`check_losses`] (I5 losses).
//! - [`barrier`]: the barrier order, I11 [`check_history`], I12 [`check_no_ghosts`], I10 [`check_bad_token_close`].
//! - [`deferred`]: suspicions judged once every lifecycle is known.
//! - [`frames`]: the ring of the last 32 frames, for reports.
//! - [`violation`], [`coverage`]: the report types ([`Violation`], [`Tally`], [`Coverage`]).
//! - [`undecided`]: checks that should have been judged and could not be, by cause.
//!
//! # Soundness first
//!
//! A violation is reported only when it is *proven* by what was observed,
//! given two assumptions stated here once:
//!
//! - **A1 (δ).** The server acts on an action or a transition, and every
//!   frame it sends because of it arrives (as timestamped by the driver),
//!   within δ of the moment the generator sent that action or observed that
//!   transition's end (`confirmed_at` for a connect, `closed_at` for a
//!   close). δ is large on purpose (max(2 s, 20 × p99.9)); a driver whose
//!   own lag can exceed it adds that lag to the δ it passes. Each report
//!   carries p99.9 and the generator's lag so that a too-small δ can be told
//!   from a server bug.
//! - **A2 (lifecycles).** The driver records `open` before connecting,
//!   `closing` before sending a close, a typing action or a send before
//!   sending it, an accept before sending it. Late records of the *ends* of
//!   uncertainty (`confirm`, `closed`, accept's 200) only make the checker
//!   more cautious.
//!
//! Everything else follows from the contract: the server reads a
//! connection's frames in order, queues per connection are FIFO, a closed
//! connection gets no further frame (§8), ids of a conversation increase.
//! Anything that happened inside an uncertainty window (an Opening or
//! Closing connection, a friendship being accepted, a message younger than
//! δ at a barrier) is never reported.
//!
//! Per invariant (the submodules give the detailed reasoning):
//!
//! | id | when | proven by |
//! | --- | --- | --- |
//! | I1 | barrier | the event-built view vs a friend Confirmed (or disconnected) throughout the last δ |
//! | I2 | always (offline: settled at the barrier) | a status contradicting a connection Confirmed throughout `[t−δ, t]`, or no connection possible in it |
//! | I3 | always | never a violation: repeats are counted as `redundant` |
//! | I4 | always; exact at barriers | structure; a friend Confirmed throughout `[sent, t]` missing; one disconnected throughout `[sent−δ, t]` listed |
//! | I5 | duplicates always, losses at barriers | same id or same (conn, seq) twice; a certainly accepted send missing on a connection Confirmed throughout `[send, barrier]`, judged only once δ old |
//! | I6 | always | a lower id in a conversation, or a lower seq from one WS sender connection |
//! | I7 | always | a frame about a user who cannot be a friend yet, or of a conversation whose known members exclude the user |
//! | I8 | routing always, stuck at barriers | typing from a non-friend or from one who never typed to this user; a true left after a clear processed after every start |
//! | I9 | always | a receipt on the reader's own connection, or naming a non-participant |
//! | I10 | when a bad-token socket ends; presence always | any frame, a code other than 4008; a friend told the user is online (event or `online_friends`) when only a bad-token socket of theirs was open |
//! | I11 | barrier (sampled) | an accepted undeleted id absent from, or twice in, a fresh history read |
//! | I12 | end | a probe seeing friends online, or the gauge above the probes, after all closed |
//!
//! # What the driver records and calls
//!
//! Build a [`World`] (or implement [`CheckCtx`]) over its [`Lifecycles`],
//! [`FriendGraph`], [`Conversations`], [`TypingLedger`], with the current δ.
//! Keep one [`ConnView`] and one [`Findings`] per connection task (merge at
//! the end), one [`SentLog`] per run.
//!
//! - **Connect**: `lifecycles.open(conn, user, now)` *before* connecting
//!   (`open_bad_token` + [`ConnView::new_bad_token`] for a bad token); then
//!   `view.requested_online_friends(now, false)` before sending the
//!   initial `get_online_friends`.
//! - **Each frame**: `view.on_event(&world, now, &event, &mut findings)`.
//!   On [`Noted::Confirmed`]: `lifecycles.confirm(conn, now)`. On
//!   [`Noted::Message`]: if the header is present,
//!   `sent_log.record_accepted(h.conn, d.peer, h.seq, d.message_id,
//!   d.conversation_id, now)` (push the returned violation, if any); on the
//!   sender's own echo, `conversations.learn(d.conversation_id, d.sender_id, d.peer)`.
//! - **Send**: before a `send_message`, `sent_log.record_send(..)` with the
//!   seq written in the content ([`content::encode`]) and
//!   `typing.on_message(user, peer, Some(conn), now)`; a REST send uses a
//!   reserved `ConnId` for its REST client, [`Via::Rest`], then on its 201
//!   `record_accepted` and `typing.on_message(user, peer, None, sent_at)`.
//!   Before `typing`/`stop_typing`: `typing.on_start`/`on_stop`. Before an
//!   accept: `friends.accept_sent`; on its 200: `accept_confirmed`. Before a
//!   REST delete: `conversations.learn_message`. Before any other
//!   `get_online_friends`: `view.requested_online_friends(now, false)`.
//! - **Close**: `lifecycles.closing(conn, now)` before sending the close;
//!   when the socket ends, `lifecycles.closed(conn, now, code, by)` with
//!   `Closer::Generator` if the close answered ours, else
//!   `Closer::Server { alive_until: view.alive_proof() }`. Keep the view's
//!   suspicions: `pending.append(view.take_deferred())`. A bad-token socket:
//!   `view.check_bad_token_close(&world, now, code, &mut findings)`.
//! - **Barrier**: stop connects, closes and sends; on every Confirmed
//!   connection `view.requested_online_friends(now, true)` and send
//!   `get_online_friends`; wait for every reply ([`Noted::BarrierReply`])
//!   and a quiet time; record every close that happened. Then, at `at`:
//!   `view.check_barrier(&world, at, ..)` for every open view;
//!   `pending.settle(&world, ..)`; [`check_losses`]`(&world, &mut sent_log,
//!   at, views, ..)`; for conversations in `sent_log.take_accepted()`, read
//!   the history and call [`check_history`]; then
//!   `lifecycles.forget_closed_before(at − 2δ)`.
//! - **End**: a final barrier, close everything, then a probe's
//!   `online_friends` and the gauge → [`check_no_ghosts`]; merge every
//!   [`Findings`] and `tally.coverage.merge(lifecycles.coverage())`; fill
//!   each violation's run facts ([`Violation::fill_run_info`]).

pub mod barrier;
pub mod content;
pub mod coverage;
pub mod ctx;
pub mod deferred;
pub mod facts;
pub mod frames;
pub mod intact;
pub mod lifecycle;
pub mod messages;
pub mod presence;
pub mod sent;
pub mod typing;
pub mod undecided;
pub mod view;
pub mod violation;

#[cfg(test)]
mod tests;

pub use barrier::{check_bad_token_close, check_history, check_no_ghosts, HistoryCheck};
pub use content::{decode, encode, ContentHeader};
pub use coverage::{Coverage, CoverageKind, PerInvariant, Tally};
pub use ctx::{CheckCtx, World};
pub use deferred::Deferred;
pub use facts::{Conversations, FriendGraph, Friendship, TypingActions, TypingLedger};
pub use intact::ClockBound;
pub use lifecycle::{Closer, ConnId, Lifecycle, LifecycleError, Lifecycles, Phase};
pub use sent::{check_losses, EpochCut, SentLog, SentLogError, SentRecord, Via};
pub use undecided::{Undecided, UndecidedKind};
pub use view::{ConnView, Delivery, Noted};
pub use violation::{ConnFrames, ConnSummary, Findings, FrameRecord, InvariantId, Violation};
