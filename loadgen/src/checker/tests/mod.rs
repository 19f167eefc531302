//! Scenario tests: hand-made observation logs, each either a violation the
//! checker must report or a race it must not.
//!
//! - [`presence`]: I1, I2, I3, I4, I7 presence, I10 presence.
//! - [`messages`]: I5 (duplicates and losses), I6, I7 messages, I9, I10.
//! - [`typing`]: I7/I8 routing, I8 stuck typing.
//! - [`simulation`]: a correct server model under random races: nothing reported.
//!
//! Times are µs since the start of the run; δ is 2 s throughout.

mod messages;
mod presence;
mod simulation;
mod typing;

use super::content::{encode, ContentHeader};
use super::{
    check_losses, Closer, ConnId, ConnView, Conversations, Findings, FriendGraph, InvariantId,
    Lifecycles, Noted, SentLog, SentRecord, TypingLedger, Via, World,
};
use server::protocol::{NewMessage, ServerEvent, Status, UserId};

pub(super) const MS: u64 = 1_000;
pub(super) const DELTA: u64 = 2_000 * MS;

/// What the driver would keep: the world's facts.
#[derive(Default)]
pub(super) struct Facts {
    pub lc: Lifecycles,
    pub friends: FriendGraph,
    pub convs: Conversations,
    pub typing: TypingLedger,
}

impl Facts {
    pub fn world(&self) -> World<'_> {
        World {
            delta_us: DELTA,
            lifecycles: &self.lc,
            friends: &self.friends,
            conversations: Some(&self.convs),
            typing: Some(&self.typing),
            clock: None,
        }
    }
}

/// The facts, the send log and the findings of one scenario.
#[derive(Default)]
pub(super) struct Harness {
    pub facts: Facts,
    pub sent: SentLog,
    pub found: Findings,
}

impl Harness {
    /// Users 1, 2 and 3, all friends; user 9 nobody's friend.
    pub fn new() -> Harness {
        let mut h = Harness::default();
        for (a, b) in [(1, 2), (1, 3), (2, 3)] {
            h.facts.friends.add_initial(a, b);
        }
        h
    }

    /// Feeds one frame to a view.
    pub fn feed(&mut self, v: &mut ConnView, at: u64, event: ServerEvent) -> Noted {
        v.on_event(&self.facts.world(), at, &event, &mut self.found)
    }

    /// Opens `conn` of `user` at `open` and leaves it Opening.
    pub fn open(&mut self, conn: u32, user: UserId, open: u64) -> ConnView {
        self.facts
            .lc
            .open(ConnId(conn), user, open)
            .expect("a fresh connection id");
        let mut v = ConnView::new(ConnId(conn), user);
        v.requested_online_friends(open, false);
        v
    }

    /// Opens `conn` of `user` at `open`; its first reply (`online`) arrives at `confirm`.
    pub fn connect(
        &mut self,
        conn: u32,
        user: UserId,
        open: u64,
        confirm: u64,
        online: &[UserId],
    ) -> ConnView {
        let mut v = self.open(conn, user, open);
        self.confirm(&mut v, confirm, online);
        v
    }

    /// The first reply of an Opening connection arrives at `at`.
    pub fn confirm(&mut self, v: &mut ConnView, at: u64, online: &[UserId]) {
        let noted = self.feed(v, at, snapshot(online));
        assert_eq!(noted, Noted::Confirmed);
        self.facts
            .lc
            .confirm(v.conn(), at)
            .expect("an Opening connection");
    }

    /// The generator closes `conn`: starts at `closing`, the socket ends at `closed`.
    pub fn close(&mut self, conn: u32, closing: u64, closed: u64) {
        self.facts
            .lc
            .closing(ConnId(conn), closing)
            .expect("an open connection");
        self.facts
            .lc
            .closed(ConnId(conn), closed, Some(1000), Closer::Generator)
            .expect("a closing connection");
    }

    /// Records a WS send and returns the frame every recipient gets.
    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &mut self,
        conn: u32,
        from: UserId,
        to: UserId,
        seq: u64,
        at: u64,
        id: u64,
        conv: u64,
    ) -> ServerEvent {
        self.sent
            .record_send(SentRecord {
                sender: ConnId(conn),
                sender_user: from,
                peer: to,
                seq,
                sent_at: at,
                via: Via::Ws,
                message_id: None,
            })
            .expect("increasing seqs");
        message(conn, from, to, seq, at, id, conv)
    }

    /// A barrier at `at`: its fresh replies (`replies[i]` for `views[i]`)
    /// arrive at `at − 1 ms`, then the checks run.
    pub fn barrier(&mut self, views: &mut [&mut ConnView], replies: &[&[UserId]], at: u64) {
        for (v, reply) in views.iter_mut().zip(replies) {
            v.requested_online_friends(at - 2 * MS, true);
            let noted = self.feed(v, at - MS, snapshot(reply));
            assert_eq!(noted, Noted::BarrierReply);
        }
        let world = self.facts.world();
        for v in views.iter_mut() {
            v.check_barrier(&world, at, &mut self.found);
        }
        check_losses(
            &world,
            &mut self.sent,
            at,
            views.iter_mut().map(|v| &mut **v),
            &mut self.found,
        );
    }

    /// How many violations of `id` were found.
    pub fn count(&self, id: InvariantId) -> u64 {
        self.found.count(id)
    }

    /// Asserts that nothing was found, printing what was.
    pub fn assert_clean(&self) {
        assert!(
            self.found.is_clean(),
            "unexpected: {:#?}",
            self.found.violations
        );
    }

    /// Asserts that exactly `n` violations were found, all of `id`.
    pub fn assert_only(&self, id: InvariantId, n: u64) {
        assert_eq!(
            (self.count(id), self.found.tally.violations.total()),
            (n, n),
            "found: {:#?}",
            self.found.violations
        );
    }
}

pub(super) fn status(user: UserId, online: bool) -> ServerEvent {
    ServerEvent::FriendStatusChange {
        user_id: user,
        status: if online {
            Status::Online
        } else {
            Status::Offline
        },
    }
}

pub(super) fn snapshot(online: &[UserId]) -> ServerEvent {
    ServerEvent::OnlineFriends {
        friends: online.to_vec(),
    }
}

pub(super) fn typing(user: UserId, on: bool) -> ServerEvent {
    ServerEvent::UserTyping {
        user_id: user,
        is_typing: on,
    }
}

/// The WS form of a generator message.
pub(super) fn message(
    conn: u32,
    from: UserId,
    to: UserId,
    seq: u64,
    at: u64,
    id: u64,
    conv: u64,
) -> ServerEvent {
    let header = ContentHeader {
        conn: ConnId(conn),
        seq,
        intended_us: at,
        actual_us: at,
        sender: from,
        peer: to,
    };
    ServerEvent::NewMessage(NewMessage {
        message_id: id,
        sender_id: from,
        conversation_id: conv,
        content: encode(&header, 40),
        receiver_id: Some(to),
        timestamp: Some("2024-01-01T12:00:00.000000".into()),
        created_at: None,
        media_ids: None,
    })
}
