//! What the generator itself did, as the checks need it: friendships (with
//! the instant they may and the instant they must exist), conversation
//! membership, and typing actions.
//!
//! These are ready-made tables for [`World`](super::ctx::World); a driver
//! may keep the same facts its own way and implement
//! [`CheckCtx`](super::ctx::CheckCtx) over them instead.
//!
//! - [`FriendGraph`]: friendships never end in this protocol, so each pair
//!   has two instants: `possible_since` (the accept request was *sent*: the
//!   server may have created the friendship from then on) and
//!   `certain_since` (the accept's 200 arrived). Provisioned friendships
//!   are certain from time 0.
//! - [`Conversations`]: who takes part in a conversation, learned from the
//!   generator's own REST replies and own echoes, and which conversation a
//!   deleted message belonged to.
//! - [`TypingLedger`]: per (typer, receiver), the latest `typing` and the
//!   latest action that ends it (`stop_typing`, or a message), for I8.

use super::lifecycle::ConnId;
use server::protocol::{ConversationId, MessageId, UserId};
use std::collections::HashMap;

/// When a friendship may exist and when it must (µs since the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Friendship {
    /// From this instant the server may treat the pair as friends.
    pub possible_since: u64,
    /// From this instant the server must treat the pair as friends.
    pub certain_since: Option<u64>,
}

impl Friendship {
    /// A provisioned friendship: certain from the start of the run.
    pub const INITIAL: Friendship = Friendship {
        possible_since: 0,
        certain_since: Some(0),
    };

    /// Whether the pair may be friends at `t`.
    pub fn possible_at(&self, t: u64) -> bool {
        self.possible_since <= t
    }

    /// Whether the pair must be friends at `t`.
    pub fn certain_at(&self, t: u64) -> bool {
        self.certain_since.is_some_and(|c| c <= t)
    }
}

/// The friend graph, with friendship times. Per user, a sorted list: a
/// lookup is a binary search, and memory is O(users × friends).
#[derive(Debug, Default, Clone)]
pub struct FriendGraph {
    adj: HashMap<UserId, Vec<(UserId, Friendship)>>,
}

impl FriendGraph {
    /// An empty graph.
    pub fn new() -> FriendGraph {
        FriendGraph::default()
    }

    /// A friendship provisioned before the run.
    pub fn add_initial(&mut self, a: UserId, b: UserId) {
        self.update(a, b, |_| Friendship::INITIAL);
    }

    /// `POST /me/accept_friend_request` between `a` and `b` is about to be
    /// sent at `at` (call *before* sending it).
    pub fn accept_sent(&mut self, a: UserId, b: UserId, at: u64) {
        self.update(a, b, |old| match old {
            Some(f) => Friendship {
                possible_since: f.possible_since.min(at),
                ..f
            },
            None => Friendship {
                possible_since: at,
                certain_since: None,
            },
        });
    }

    /// The accept's 200 arrived at `at`.
    pub fn accept_confirmed(&mut self, a: UserId, b: UserId, at: u64) {
        self.update(a, b, |old| {
            let f = old.unwrap_or(Friendship {
                possible_since: at,
                certain_since: None,
            });
            Friendship {
                possible_since: f.possible_since.min(at),
                certain_since: Some(f.certain_since.map_or(at, |c| c.min(at))),
            }
        });
    }

    /// The friendship of `a` and `b`, if there may be one.
    pub fn get(&self, a: UserId, b: UserId) -> Option<Friendship> {
        let list = self.adj.get(&a)?;
        list.binary_search_by_key(&b, |(f, _)| *f)
            .ok()
            .map(|i| list[i].1)
    }

    /// Every (possible) friend of `a`, ascending.
    pub fn friends_of(&self, a: UserId) -> impl Iterator<Item = (UserId, Friendship)> + '_ {
        self.adj.get(&a).into_iter().flatten().copied()
    }

    fn update(&mut self, a: UserId, b: UserId, f: impl Fn(Option<Friendship>) -> Friendship) {
        for (x, y) in [(a, b), (b, a)] {
            let list = self.adj.entry(x).or_default();
            match list.binary_search_by_key(&y, |(u, _)| *u) {
                Ok(i) => list[i].1 = f(Some(list[i].1)),
                Err(i) => list.insert(i, (y, f(None))),
            }
        }
    }
}

/// Conversation membership and the conversations of deleted messages.
#[derive(Debug, Default, Clone)]
pub struct Conversations {
    members: HashMap<ConversationId, [UserId; 2]>,
    of_message: HashMap<MessageId, ConversationId>,
}

impl Conversations {
    /// An empty table.
    pub fn new() -> Conversations {
        Conversations::default()
    }

    /// `conv` is the conversation of `a` and `b` (from a REST reply, or the
    /// echo of the generator's own message: its `sender_id`/`receiver_id`).
    pub fn learn(&mut self, conv: ConversationId, a: UserId, b: UserId) {
        self.members.entry(conv).or_insert([a.min(b), a.max(b)]);
    }

    /// The participants of `conv`, if known.
    pub fn members(&self, conv: ConversationId) -> Option<[UserId; 2]> {
        self.members.get(&conv).copied()
    }

    /// The generator is about to delete `message`, of `conv`.
    pub fn learn_message(&mut self, message: MessageId, conv: ConversationId) {
        self.of_message.insert(message, conv);
    }

    /// The conversation of a message the generator deleted.
    pub fn conversation_of(&self, message: MessageId) -> Option<ConversationId> {
        self.of_message.get(&message).copied()
    }
}

/// What one typer did toward one receiver (times µs since the start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypingActions {
    /// The first `typing` or `stop_typing` (anything that makes a `user_typing`).
    pub first_at: Option<u64>,
    /// The latest `typing`, and the connection it was sent on.
    pub last_start: Option<(u64, ConnId)>,
    /// The latest `typing` sent on another connection than `last_start`'s.
    pub other_start_at: Option<u64>,
    /// The latest action that ends typing (`stop_typing` or a message), and
    /// its connection; `None` as connection means the server's reply proved
    /// it was processed (a REST send's 201).
    pub last_clear: Option<(u64, Option<ConnId>)>,
}

/// Typing actions per (typer, receiver).
#[derive(Debug, Default, Clone)]
pub struct TypingLedger {
    pairs: HashMap<(UserId, UserId), TypingActions>,
}

impl TypingLedger {
    /// An empty ledger.
    pub fn new() -> TypingLedger {
        TypingLedger::default()
    }

    /// `typer` is about to send `typing` to `receiver` on `conn` (call before sending).
    pub fn on_start(&mut self, typer: UserId, receiver: UserId, conn: ConnId, at: u64) {
        let a = self.pairs.entry((typer, receiver)).or_default();
        a.first_at = Some(a.first_at.map_or(at, |f| f.min(at)));
        if let Some((t, c)) = a.last_start {
            if c != conn {
                a.other_start_at = Some(a.other_start_at.map_or(t, |o| o.max(t)));
            }
        }
        a.last_start = Some((at, conn));
    }

    /// `typer` is about to send `stop_typing` to `receiver` on `conn`.
    pub fn on_stop(&mut self, typer: UserId, receiver: UserId, conn: ConnId, at: u64) {
        let a = self.pairs.entry((typer, receiver)).or_default();
        a.first_at = Some(a.first_at.map_or(at, |f| f.min(at)));
        a.clear(at, Some(conn));
    }

    /// `typer` sends a message to `receiver`: on WS `conn` (before sending),
    /// or `None` once a REST send's 201 arrived (with `at` its send time).
    pub fn on_message(&mut self, typer: UserId, receiver: UserId, conn: Option<ConnId>, at: u64) {
        self.pairs
            .entry((typer, receiver))
            .or_default()
            .clear(at, conn);
    }

    /// What `typer` did toward `receiver`.
    pub fn get(&self, typer: UserId, receiver: UserId) -> Option<TypingActions> {
        self.pairs.get(&(typer, receiver)).copied()
    }
}

impl TypingActions {
    fn clear(&mut self, at: u64, conn: Option<ConnId>) {
        if self.last_clear.is_none_or(|(t, _)| t <= at) {
            self.last_clear = Some((at, conn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn friendships_grow_from_possible_to_certain() {
        let mut g = FriendGraph::new();
        g.add_initial(1, 2);
        assert_eq!(g.get(2, 1), Some(Friendship::INITIAL));
        g.accept_sent(1, 3, 100);
        let f = g.get(3, 1).expect("possible");
        assert!(f.possible_at(100) && !f.possible_at(99) && !f.certain_at(1000));
        g.accept_confirmed(3, 1, 150);
        let f = g.get(1, 3).expect("certain");
        assert!(f.certain_at(150) && !f.certain_at(149));
        assert_eq!(g.friends_of(1).map(|(u, _)| u).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(g.get(2, 3), None);
    }

    #[test]
    fn typing_ledger_tracks_other_connections() {
        let mut l = TypingLedger::new();
        l.on_start(1, 2, ConnId(10), 5);
        l.on_start(1, 2, ConnId(11), 7);
        l.on_start(1, 2, ConnId(11), 9);
        l.on_stop(1, 2, ConnId(11), 12);
        let a = l.get(1, 2).expect("recorded");
        assert_eq!(a.first_at, Some(5));
        assert_eq!(a.last_start, Some((9, ConnId(11))));
        assert_eq!(a.other_start_at, Some(5));
        assert_eq!(a.last_clear, Some((12, Some(ConnId(11)))));
        l.on_message(1, 2, None, 11);
        assert_eq!(
            l.get(1, 2).and_then(|a| a.last_clear),
            Some((12, Some(ConnId(11))))
        );
    }
}
