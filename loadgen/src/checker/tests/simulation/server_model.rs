//! The server model of the simulation: a correct implementation of the
//! contract's orderings, with the server's fault switches.

use super::{Ev, Frame, Sim, MS, S, USERS};
use rand::Rng;
use server::fault::Fault;
use server::protocol::{NewMessage, ServerEvent, Status, UserId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The server's state.
#[derive(Default)]
pub(super) struct Server {
    pub(super) friends: BTreeMap<UserId, BTreeSet<UserId>>,
    pub(super) conns: BTreeMap<UserId, BTreeSet<u32>>,
    pub(super) owner: HashMap<u32, UserId>,
    pub(super) read_clock: HashMap<u32, u64>,
    pub(super) deliver_clock: HashMap<u32, u64>,
    pub(super) killed: HashSet<u32>,
    pub(super) typing_to: BTreeMap<UserId, BTreeSet<UserId>>,
    pub(super) conv_of: HashMap<(UserId, UserId), u64>,
    pub(super) history: BTreeMap<u64, Vec<u64>>,
    pub(super) next_id: u64,
    pub(super) fault: Option<Fault>,
    /// With `StaleOnlineFriends`: each user's first snapshot.
    pub(super) stale: HashMap<UserId, Vec<UserId>>,
    /// With `ReorderMessages`: a message held back per conversation.
    pub(super) held: HashMap<u64, ServerEvent>,
    /// With `DropDelivery`: pushes of messages so far.
    pub(super) message_pushes: u64,
}
impl Sim {
    /// The server queues `event` for connection `c` (FIFO).
    pub(super) fn push(&mut self, c: u32, event: ServerEvent) {
        let mut latency = self.rng.gen_range(0..30 * MS);
        if self.rng.gen_bool(0.01) {
            latency += S;
        }
        let d = self
            .server
            .deliver_clock
            .get(&c)
            .copied()
            .unwrap_or(0)
            .max(self.now + latency);
        self.server.deliver_clock.insert(c, d);
        self.at(d, Ev::Deliver(c, event));
    }

    pub(super) fn push_user(&mut self, u: UserId, event: &ServerEvent) {
        let conns: Vec<u32> = self
            .server
            .conns
            .get(&u)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for c in conns {
            self.push(c, event.clone());
        }
    }

    /// Removes a connection at the server (a processed close, or a kill).
    pub(super) fn remove(&mut self, c: u32) {
        let u = self.server.owner[&c];
        let Some(set) = self.server.conns.get_mut(&u) else {
            return;
        };
        if !set.remove(&c) {
            return;
        }
        if !set.is_empty() && !self.faulty(Fault::OfflineOnEveryDisconnect) {
            return;
        }
        let friends: Vec<UserId> = self.server.friends[&u].iter().copied().collect();
        let off = ServerEvent::FriendStatusChange {
            user_id: u,
            status: Status::Offline,
        };
        for f in friends {
            self.push_user(f, &off);
        }
        for r in self.server.typing_to.remove(&u).unwrap_or_default() {
            self.push_user(
                r,
                &ServerEvent::UserTyping {
                    user_id: u,
                    is_typing: false,
                },
            );
        }
    }

    pub(super) fn process(&mut self, c: u32, frame: Frame) {
        let u = self.server.owner[&c];
        let registered = self.server.conns.get(&u).is_some_and(|s| s.contains(&c));
        if !registered {
            return;
        }
        match frame {
            Frame::Snapshot => {
                let friends = &self.server.friends[&u];
                let mut online: Vec<UserId> = friends
                    .iter()
                    .copied()
                    .filter(|f| self.server.conns.get(f).is_some_and(|s| !s.is_empty()))
                    .collect();
                if self.faulty(Fault::StaleOnlineFriends) {
                    online = self.server.stale.entry(u).or_insert(online).clone();
                }
                self.push(c, ServerEvent::OnlineFriends { friends: online });
            }
            Frame::Send { to, content } => {
                let key = (u.min(to), u.max(to));
                let fresh = self.server.conv_of.len() as u64 + 100;
                let conv = *self.server.conv_of.entry(key).or_insert(fresh);
                self.server.next_id += 1;
                let id = self.server.next_id;
                if !(self.faulty(Fault::HistoryMissing) && id % 7 == 0) {
                    self.server.history.entry(conv).or_default().push(id);
                }
                let m = ServerEvent::NewMessage(NewMessage {
                    message_id: id,
                    sender_id: u,
                    conversation_id: conv,
                    content,
                    receiver_id: Some(to),
                    timestamp: Some("2024-01-01T12:00:00.000000".into()),
                    created_at: None,
                    media_ids: None,
                });
                let m = if self.faulty(Fault::ReorderMessages) {
                    match self.server.held.remove(&conv) {
                        Some(first) => {
                            self.deliver_message(c, u, to, &m);
                            first
                        }
                        None => {
                            self.server.held.insert(conv, m);
                            return;
                        }
                    }
                } else {
                    m
                };
                self.deliver_message(c, u, to, &m);
            }
            Frame::Typing { to, on } => {
                let marks = self.server.typing_to.entry(u).or_default();
                if on {
                    marks.insert(to);
                } else {
                    marks.remove(&to);
                }
                let ev = ServerEvent::UserTyping {
                    user_id: u,
                    is_typing: on,
                };
                self.push_user(to, &ev);
                if self.faulty(Fault::TypingLeak) {
                    let strangers: Vec<UserId> = USERS
                        .into_iter()
                        .filter(|s| *s != u && !self.server.friends[&u].contains(s))
                        .collect();
                    for s in strangers {
                        self.push_user(s, &ev);
                    }
                }
            }
            Frame::Close => {
                // The client may see its close answered before the server
                // has removed the connection.
                let removal = self.now + self.rng.gen_range(0..3 * MS);
                let seen = self.now + self.rng.gen_range(0..3 * MS);
                self.at(removal, Ev::Remove(c));
                self.at(seen, Ev::Closed(c));
            }
        }
    }

    pub(super) fn faulty(&self, f: Fault) -> bool {
        self.server.fault == Some(f)
    }

    /// Pushes a message from `u` (sent on `c`) to both participants.
    pub(super) fn deliver_message(&mut self, c: u32, u: UserId, to: UserId, m: &ServerEvent) {
        let mut targets: Vec<u32> = Vec::new();
        for user in [u, to] {
            targets.extend(self.server.conns.get(&user).into_iter().flatten().copied());
        }
        for t in targets {
            if t == c && self.faulty(Fault::NoEcho) {
                continue;
            }
            self.server.message_pushes += 1;
            if self.faulty(Fault::DropDelivery) && self.server.message_pushes % 10 == 0 {
                continue;
            }
            self.push(t, m.clone());
            if self.faulty(Fault::DuplicateMessage) {
                self.push(t, m.clone());
            }
        }
    }
}
