//! The ConnectionManager (PROTOCOL.md §7): every live connection, each user's
//! presence, and who is typing to whom — lock-sharded by user id.
//!
//! # Shards and lock order
//!
//! State is split over a power-of-two array of `parking_lot` mutexes; user
//! `u` lives in shard `u & mask` (ids are dense, so the low bits spread
//! well). An operation that touches several users takes every shard it needs
//! **in ascending shard order** ([`LockSet`]), so two operations can never
//! wait on each other in a cycle. The global lock order of the server is:
//!
//! `store pair map` → `store conversation map` → `one conversation` →
//! `manager shards (ascending)`.
//!
//! Store user shards are never held while a manager shard is taken.
//!
//! # What a lock guards
//!
//! Inside a shard lock we only look up, mutate, `try_send` pre-serialized
//! bytes and return: never `.await`, never serialize (except the
//! `online_friends` reply, whose content *is* the state read under the lock),
//! never log. Every enqueue to a connection happens under the shard lock of
//! the connection's user, which is what makes the backpressure close gap-free
//! (see [`conn::ConnHandle::push`]).
//!
//! # Guarantees kept here
//!
//! - **G1** (presence order, no offline while connected): [`ConnectionManager::connect`]
//!   and [`ConnectionManager::disconnect`].
//! - **G2** (snapshot consistency): [`ConnectionManager::online_friends`].
//! - **G4** (privacy of presence and typing): recipients are always taken
//!   from the user's friend list, never from a client-supplied set.

pub mod conn;
mod lockset;

pub use conn::{ConnControl, ConnHandle, ConnId, Frame};
use lockset::LockSet;

use crate::fault::{Fault, Faults};
use crate::metrics::Metrics;
use crate::protocol::{EventKind, ServerEvent, Status, UserId};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One user's live state.
#[derive(Default)]
struct UserEntry {
    /// Open connections; non-empty while the entry exists.
    conns: Vec<ConnHandle>,
    /// Users this one is marked as typing to (a handful at most).
    typing_to: Vec<UserId>,
    /// Only with [`Fault::StaleOnlineFriends`]: the first snapshot taken.
    stale_snapshot: Option<Vec<UserId>>,
}

/// The users of one shard.
#[derive(Default)]
pub(crate) struct Shard {
    users: HashMap<UserId, UserEntry>,
}

/// Why a connection was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The user already holds the maximum number of connections (close 4011).
    #[error("too many connections")]
    TooManyConnections,
}

/// The server's core object (§7), with the original operation names.
pub struct ConnectionManager {
    /// One lock per shard. Only plain (non-async) methods lock them, so no
    /// lock is ever held across an `.await`.
    shards: Box<[Mutex<Shard>]>,
    mask: usize,
    max_per_user: usize,
    next_conn_id: AtomicU64,
    metrics: Arc<Metrics>,
    faults: Arc<Faults>,
}

impl ConnectionManager {
    /// A manager with `shards` shards (rounded up to a power of two).
    pub fn new(
        shards: usize,
        max_per_user: usize,
        metrics: Arc<Metrics>,
        faults: Arc<Faults>,
    ) -> Self {
        let n = shards.max(1).next_power_of_two();
        ConnectionManager {
            shards: (0..n).map(|_| Mutex::new(Shard::default())).collect(),
            mask: n - 1,
            max_per_user: max_per_user.max(1),
            next_conn_id: AtomicU64::new(1),
            metrics,
            faults,
        }
    }

    /// A fresh connection id.
    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn_id.fetch_add(1, Ordering::Relaxed))
    }

    fn shard_of(&self, user: UserId) -> usize {
        (user as usize) & self.mask
    }

    fn lock<'a>(&'a self, users: impl IntoIterator<Item = UserId>) -> LockSet<'a> {
        LockSet::lock(&self.shards, self.mask, users)
    }

    /// `connect(websocket, user_id)`: adds one connection of `user`, whose
    /// friends are `friends`. The first connection makes the user online and
    /// tells every connection of every online friend.
    pub fn connect(
        &self,
        user: UserId,
        friends: &[UserId],
        handle: ConnHandle,
    ) -> Result<(), ConnectError> {
        let online = Frame::from(
            ServerEvent::FriendStatusChange {
                user_id: user,
                status: Status::Online,
            }
            .to_json(),
        );
        let mut set = self.lock(std::iter::once(user).chain(friends.iter().copied()));
        let entry = set.shard(user).users.entry(user).or_default();
        if entry.conns.len() >= self.max_per_user {
            if entry.conns.is_empty() {
                set.shard(user).users.remove(&user);
            }
            return Err(ConnectError::TooManyConnections);
        }
        let was_offline = entry.conns.is_empty();
        entry.conns.push(handle);
        self.metrics.open_connections.inc();
        if was_offline {
            self.metrics.users_online.inc();
            // G1: the offline→online transition and the enqueue of "online"
            // to every friend connection happen under the user's shard lock
            // (and the friends' shard locks), so a later "offline" of this
            // user can only be enqueued after this "online", on every queue.
            let sent = self.push_to_users(&mut set, friends, &online);
            self.metrics
                .events_sent(EventKind::FriendStatusChange, sent);
        }
        Ok(())
    }

    /// `disconnect(websocket, user_id)`: removes one connection. The last one
    /// makes the user offline: friends get "offline" and every user it was
    /// typing to gets `is_typing:false`. Removing an unknown connection is a
    /// no-op, so a connection is never removed twice.
    pub fn disconnect(&self, user: UserId, conn: ConnId, friends: &[UserId]) {
        let offline = Frame::from(
            ServerEvent::FriendStatusChange {
                user_id: user,
                status: Status::Offline,
            }
            .to_json(),
        );
        let not_typing = Frame::from(
            ServerEvent::UserTyping {
                user_id: user,
                is_typing: false,
            }
            .to_json(),
        );
        let mut set = self.lock(std::iter::once(user).chain(friends.iter().copied()));
        let shard = set.shard(user);
        let Some(entry) = shard.users.get_mut(&user) else {
            return;
        };
        let Some(pos) = entry.conns.iter().position(|c| c.id == conn) else {
            return;
        };
        entry.conns.swap_remove(pos);
        self.metrics.open_connections.dec();
        if !entry.conns.is_empty() {
            if self.faults.on(Fault::OfflineOnEveryDisconnect) {
                let sent = self.push_to_users(&mut set, friends, &offline);
                self.metrics
                    .events_sent(EventKind::FriendStatusChange, sent);
            }
            return;
        }
        // G1: this was the last connection; the entry goes away under the
        // user's shard lock, and a new connection of the user must take the
        // same lock, so "offline" is never sent while the user has an open
        // connection, and it is enqueued after every earlier "online".
        let typing_to = set
            .shard(user)
            .users
            .remove(&user)
            .map(|e| e.typing_to)
            .unwrap_or_default();
        self.metrics.users_online.dec();
        let sent = self.push_to_users(&mut set, friends, &offline);
        self.metrics
            .events_sent(EventKind::FriendStatusChange, sent);
        // Extension (§1): no typing indicator outlives its typer. Typing
        // targets were friends when marked and friendships only grow, so
        // their shards are in the lock set.
        if self.faults.on(Fault::TypingStuckOffline) {
            return;
        }
        let sent = self.push_to_users(&mut set, &typing_to, &not_typing);
        self.metrics.events_sent(EventKind::UserTyping, sent);
    }

    /// `send_personal_message(user_id, message)`: to every connection of one
    /// user. Returns the number of connections it was enqueued to.
    pub fn send_personal_message(&self, user: UserId, frame: &Frame, kind: EventKind) -> u64 {
        let mut set = self.lock([user]);
        let sent = self.push_to_users(&mut set, &[user], frame);
        self.metrics.events_sent(kind, sent);
        sent
    }

    /// `send_to_multiple(user_ids, message, exclude_user_id)`.
    pub fn send_to_multiple(
        &self,
        users: &[UserId],
        frame: &Frame,
        exclude: Option<UserId>,
        kind: EventKind,
    ) -> u64 {
        let targets: Vec<UserId> = users
            .iter()
            .copied()
            .filter(|u| Some(*u) != exclude)
            .collect();
        let mut set = self.lock(targets.iter().copied());
        let sent = self.push_to_users(&mut set, &targets, frame);
        self.metrics.events_sent(kind, sent);
        sent
    }

    /// `send_to_conversation(message, user1_id, user2_id)`: to every
    /// connection of both participants. Called under the conversation's lock
    /// (G3: enqueue order per connection = message id order).
    pub fn send_to_conversation(
        &self,
        frame: &Frame,
        user1: UserId,
        user2: UserId,
        kind: EventKind,
    ) -> u64 {
        let mut set = self.lock([user1, user2]);
        let sent = self.push_to_users(&mut set, &[user1, user2], frame);
        self.metrics.events_sent(kind, sent);
        sent
    }

    /// `new_message` delivery for one message, with the message faults
    /// applied: the sender's connections and the receiver's.
    pub fn deliver_message(&self, frame: &Frame, sender: UserId, receiver: UserId) -> u64 {
        let mut set = self.lock([sender, receiver]);
        let mut sent = 0;
        for user in [sender, receiver] {
            if user == sender && self.faults.on(Fault::NoEcho) {
                continue;
            }
            let Some(entry) = set.shard(user).users.get(&user) else {
                continue;
            };
            for c in &entry.conns {
                if self.faults.drop_this_delivery() {
                    continue;
                }
                sent += u64::from(c.push(frame, &self.metrics));
                if self.faults.on(Fault::DuplicateMessage) {
                    sent += u64::from(c.push(frame, &self.metrics));
                }
            }
        }
        self.metrics.events_sent(EventKind::NewMessage, sent);
        sent
    }

    /// `is_user_online(user_id)`.
    pub fn is_user_online(&self, user: UserId) -> bool {
        self.shards[self.shard_of(user)]
            .lock()
            .users
            .contains_key(&user)
    }

    /// `get_online_users()`: shard by shard (not one atomic snapshot).
    pub fn get_online_users(&self) -> Vec<UserId> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            out.extend(shard.lock().users.keys().copied());
        }
        out.sort_unstable();
        out
    }

    /// Which of `users` are online, in one consistent cut (all their shards
    /// locked at once). Used by REST `GET /me/friends`.
    pub fn online_among(&self, users: &[UserId]) -> Vec<bool> {
        let mut set = self.lock(users.iter().copied());
        users
            .iter()
            .map(|u| set.shard(*u).users.contains_key(u))
            .collect()
    }

    /// Replies `online_friends` on connection `conn` of `user`.
    ///
    /// G2: the reply is built and enqueued while the shard locks of the
    /// asker's friends (and the asker's own) are held, in ascending order. A
    /// friend's transition enqueues its event under the same lock, so each
    /// event lands either before the reply (and the reply already reflects
    /// it) or after it (and the reply does not): no event overtakes the
    /// snapshot, and replaying the later events on the reply gives the truth.
    pub fn online_friends(&self, user: UserId, conn: ConnId, friends: &[UserId]) {
        let mut set = self.lock(std::iter::once(user).chain(friends.iter().copied()));
        let mut online: Vec<UserId> = friends
            .iter()
            .copied()
            .filter(|f| set.shard(*f).users.contains_key(f))
            .collect();
        online.sort_unstable();
        online.dedup();
        let shard = set.shard(user);
        let Some(entry) = shard.users.get_mut(&user) else {
            return;
        };
        if self.faults.on(Fault::StaleOnlineFriends) {
            online = entry.stale_snapshot.get_or_insert(online).clone();
        }
        // Serialized under the lock on purpose: the content is the state read
        // under it (a short list of integers).
        let frame = Frame::from(ServerEvent::OnlineFriends { friends: online }.to_json());
        if let Some(c) = entry.conns.iter().find(|c| c.id == conn) {
            let sent = c.push(&frame, &self.metrics);
            self.metrics
                .events_sent(EventKind::OnlineFriends, u64::from(sent));
        }
    }

    /// `typing` / `stop_typing` from `from` to `to` (already checked to be
    /// friends): marks or clears the typing state and sends `user_typing` to
    /// every connection of `to`. `leak_to` is only used by
    /// [`Fault::TypingLeak`].
    pub fn typing(
        &self,
        from: UserId,
        to: UserId,
        is_typing: bool,
        frame: &Frame,
        leak_to: Option<UserId>,
    ) {
        let mut set = self.lock([from, to].into_iter().chain(leak_to));
        if let Some(entry) = set.shard(from).users.get_mut(&from) {
            let marked = entry.typing_to.iter().position(|t| *t == to);
            match (is_typing, marked) {
                (true, None) => entry.typing_to.push(to),
                (false, Some(i)) => {
                    entry.typing_to.swap_remove(i);
                }
                _ => {}
            }
        }
        // G4: typing goes to the receiver (a checked friend) only.
        let mut sent = self.push_to_users(&mut set, &[to], frame);
        if let Some(stranger) = leak_to {
            sent += self.push_to_users(&mut set, &[stranger], frame);
        }
        self.metrics.events_sent(EventKind::UserTyping, sent);
    }

    /// Sends a frame to one connection only (error frames).
    pub fn send_to_connection(&self, user: UserId, conn: ConnId, frame: &Frame, kind: EventKind) {
        let mut set = self.lock([user]);
        if let Some(entry) = set.shard(user).users.get(&user) {
            if let Some(c) = entry.conns.iter().find(|c| c.id == conn) {
                let sent = c.push(frame, &self.metrics);
                self.metrics.events_sent(kind, u64::from(sent));
            }
        }
    }

    /// Pushes `frame` to every connection of each user in `users` that is
    /// online. Every user's shard must be in `set`.
    fn push_to_users(&self, set: &mut LockSet<'_>, users: &[UserId], frame: &Frame) -> u64 {
        let mut sent = 0;
        for &u in users {
            if let Some(entry) = set.shard(u).users.get(&u) {
                for c in &entry.conns {
                    sent += u64::from(c.push(frame, &self.metrics));
                }
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn manager() -> ConnectionManager {
        ConnectionManager::new(8, 16, Arc::new(Metrics::new()), Arc::new(Faults::default()))
    }

    fn handle(m: &ConnectionManager) -> (ConnHandle, mpsc::Receiver<Frame>) {
        let (tx, rx) = mpsc::channel(16);
        (ConnHandle::new(m.next_conn_id(), tx, Arc::default()), rx)
    }

    #[test]
    fn online_until_the_last_connection_goes() {
        let m = manager();
        let (a1, _r1) = handle(&m);
        let (a2, _r2) = handle(&m);
        let (id1, id2) = (a1.id, a2.id);
        m.connect(7, &[], a1).unwrap();
        m.connect(7, &[], a2).unwrap();
        assert!(m.is_user_online(7));
        assert_eq!(m.get_online_users(), vec![7]);
        m.disconnect(7, id1, &[]);
        assert!(m.is_user_online(7), "one device is still open");
        m.disconnect(7, id2, &[]);
        assert!(!m.is_user_online(7));
        assert!(m.get_online_users().is_empty());
    }

    #[test]
    fn send_to_multiple_skips_the_excluded_user() {
        let m = manager();
        let (a, mut ra) = handle(&m);
        let (b, mut rb) = handle(&m);
        m.connect(1, &[], a).unwrap();
        m.connect(2, &[], b).unwrap();
        let frame = Frame::from("x");
        let sent = m.send_to_multiple(&[1, 2], &frame, Some(2), EventKind::Error);
        assert_eq!(sent, 1);
        assert_eq!(ra.try_recv().ok().as_deref(), Some("x"));
        assert!(rb.try_recv().is_err());
    }
}
