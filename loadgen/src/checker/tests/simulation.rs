//! Soundness under random races: a small, *correct* server model and a
//! random generator, run through the checker as a driver would (the order
//! of calls in the module doc of `checker`). Nothing may be reported.
//!
//! The model keeps the contract's orderings (frames of a connection read in
//! order, FIFO queues per connection, nothing after a slow-consumer close)
//! and nothing more: delivery latency is random (sometimes a full second),
//! removal may lag the close the client sees, connects and closes of one
//! user race each other, a friendship is accepted mid-run, and the server
//! now and then drops a connection as a slow consumer. User 6 is nobody's
//! friend.
//!
//! The same model with one of the server's fault switches on
//! ([`server::fault::Fault`]) must make the checker report the matching
//! invariant.

use super::{Harness, MS};
use crate::checker::content::{encode, ContentHeader};
use crate::checker::InvariantId;
use crate::checker::{
    check_history, check_losses, check_no_ghosts, Closer, ConnId, ConnView, Deferred, HistoryCheck,
    Noted, SentRecord, Via,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use server::fault::Fault;
use server::protocol::{ServerEvent, Status, UserId};
use std::collections::{BTreeMap, HashMap, HashSet};

mod server_model;

use server_model::Server;

const S: u64 = 1_000 * MS;
const USERS: [UserId; 6] = [1, 2, 3, 4, 5, 6];
const EPOCH: u64 = 4 * S;
const EPOCHS: u64 = 3;

/// A client frame, as the server model processes it.
enum Frame {
    Snapshot,
    Send { to: UserId, content: String },
    Typing { to: UserId, on: bool },
    Close,
}

enum Ev {
    Tick,
    Register(u32),
    Process(u32, Frame),
    Remove(u32),
    Kill(u32),
    Deliver(u32, ServerEvent),
    Closed(u32),
    AcceptDone,
    AcceptReply,
    Barrier,
    Check,
}

struct Sim {
    h: Harness,
    rng: ChaCha8Rng,
    now: u64,
    q: BTreeMap<(u64, u64), Ev>,
    n: u64,
    server: Server,
    views: BTreeMap<u32, ConnView>,
    closing: HashSet<u32>,
    seqs: HashMap<(u32, UserId), u64>,
    pending: Deferred,
    next_conn: u32,
    acting_until: u64,
    epoch: u64,
}

impl Sim {
    fn new(seed: u64, fault: Option<Fault>) -> Sim {
        let mut sim = Sim {
            h: Harness::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0,
            q: BTreeMap::new(),
            n: 0,
            server: Server::default(),
            views: BTreeMap::new(),
            closing: HashSet::new(),
            seqs: HashMap::new(),
            pending: Deferred::default(),
            next_conn: 1,
            acting_until: EPOCH,
            epoch: 1,
        };
        sim.server.fault = fault;
        for &a in &USERS {
            sim.server.friends.entry(a).or_default();
            for &b in &USERS {
                if a < b && (a, b) != (4, 5) && b != 6 {
                    sim.h.facts.friends.add_initial(a, b);
                    sim.befriend(a, b);
                }
            }
        }
        sim.at(0, Ev::Tick);
        sim
    }

    fn befriend(&mut self, a: UserId, b: UserId) {
        self.server.friends.entry(a).or_default().insert(b);
        self.server.friends.entry(b).or_default().insert(a);
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.n += 1;
        self.q.insert((t, self.n), ev);
    }

    fn run(&mut self) {
        while let Some(((t, _), ev)) = self.q.pop_first() {
            self.now = t;
            self.step(ev);
        }
    }

    /// The client sends `frame` on `c`; the server reads it after the previous ones.
    fn client_send(&mut self, c: u32, frame: Frame) {
        let p = self.server.read_clock[&c].max(self.now) + self.rng.gen_range(0..3 * MS);
        self.server.read_clock.insert(c, p);
        self.at(p, Ev::Process(c, frame));
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Tick => self.tick(),
            Ev::Register(c) => {
                let u = self.server.owner[&c];
                let set = self.server.conns.entry(u).or_default();
                let first = set.is_empty();
                set.insert(c);
                if first {
                    let friends: Vec<UserId> = self.server.friends[&u].iter().copied().collect();
                    let on = ServerEvent::FriendStatusChange {
                        user_id: u,
                        status: Status::Online,
                    };
                    for f in friends {
                        self.push_user(f, &on);
                    }
                }
            }
            Ev::Process(c, frame) => self.process(c, frame),
            Ev::Remove(c) => self.remove(c),
            Ev::Kill(c) => {
                if self.server.killed.insert(c) {
                    self.remove(c);
                    let seen = self.now + self.rng.gen_range(0..200 * MS);
                    self.at(seen, Ev::Closed(c));
                }
            }
            Ev::Deliver(c, event) => {
                if self.server.killed.contains(&c) {
                    return;
                }
                let Some(view) = self.views.get_mut(&c) else {
                    return;
                };
                let noted =
                    view.on_event(&self.h.facts.world(), self.now, &event, &mut self.h.found);
                self.noted(c, noted);
            }
            Ev::Closed(c) => {
                let Some(mut view) = self.views.remove(&c) else {
                    return;
                };
                let (code, by) = if self.server.killed.contains(&c) {
                    (
                        4010,
                        Closer::Server {
                            alive_until: view.alive_proof(),
                        },
                    )
                } else {
                    (1000, Closer::Generator)
                };
                self.h
                    .facts
                    .lc
                    .closed(ConnId(c), self.now, Some(code), by)
                    .expect("open");
                self.pending.append(view.take_deferred());
            }
            Ev::AcceptDone => self.befriend(4, 5),
            Ev::AcceptReply => self.h.facts.friends.accept_confirmed(4, 5, self.now),
            Ev::Barrier => {
                let confirmed: Vec<u32> = self
                    .views
                    .iter()
                    .filter(|(_, v)| v.is_confirmed())
                    .map(|(c, _)| *c)
                    .collect();
                for c in confirmed {
                    if let Some(v) = self.views.get_mut(&c) {
                        v.requested_online_friends(self.now, true);
                    }
                    self.client_send(c, Frame::Snapshot);
                }
            }
            Ev::Check => self.check(),
        }
    }

    fn noted(&mut self, c: u32, noted: Noted) {
        match noted {
            Noted::Confirmed => self
                .h
                .facts
                .lc
                .confirm(ConnId(c), self.now)
                .expect("opening"),
            Noted::Message(d) => {
                if let Some(hd) = d.header {
                    if let Some(v) = self.h.sent.record_accepted(
                        hd.conn,
                        d.peer,
                        hd.seq,
                        d.message_id,
                        d.conversation_id,
                        self.now,
                    ) {
                        self.h.found.push(v);
                    }
                }
                if d.own_echo {
                    self.h
                        .facts
                        .convs
                        .learn(d.conversation_id, d.sender_id, d.peer);
                }
            }
            Noted::Nothing | Noted::BarrierReply => {}
        }
    }

    /// One random generator action, then the next tick.
    fn tick(&mut self) {
        if self.now >= self.acting_until {
            self.at(self.acting_until + S + 500 * MS, Ev::Barrier);
            self.at(self.acting_until + 3 * S, Ev::Check);
            return;
        }
        let live: Vec<u32> = self
            .views
            .keys()
            .copied()
            .filter(|c| !self.closing.contains(c))
            .collect();
        let confirmed: Vec<u32> = live
            .iter()
            .copied()
            .filter(|c| self.views[c].is_confirmed())
            .collect();
        let roll = self.rng.gen_range(0..100);
        if roll < 12 || confirmed.is_empty() {
            let u = USERS[self.rng.gen_range(0..USERS.len())];
            if live.iter().filter(|c| self.views[c].user() == u).count() < 3 {
                self.connect(u);
            }
        } else if roll < 22 && !live.is_empty() {
            let c = live[self.rng.gen_range(0..live.len())];
            self.h.facts.lc.closing(ConnId(c), self.now).expect("open");
            self.closing.insert(c);
            self.client_send(c, Frame::Close);
        } else if roll < 24 {
            let c = confirmed[self.rng.gen_range(0..confirmed.len())];
            self.at(self.now, Ev::Kill(c));
        } else {
            let c = confirmed[self.rng.gen_range(0..confirmed.len())];
            let u = self.views[&c].user();
            let friends: Vec<UserId> = self
                .h
                .facts
                .friends
                .friends_of(u)
                .filter(|(_, f)| f.certain_at(self.now))
                .map(|(f, _)| f)
                .collect();
            let to = if friends.is_empty() {
                0
            } else {
                friends[self.rng.gen_range(0..friends.len())]
            };
            match roll {
                _ if to == 0 => {
                    if let Some(v) = self.views.get_mut(&c) {
                        v.requested_online_friends(self.now, false);
                    }
                    self.client_send(c, Frame::Snapshot);
                }
                24..=64 => self.send(c, u, to),
                65..=84 => {
                    let on = self.rng.gen_bool(0.6);
                    if on {
                        self.h.facts.typing.on_start(u, to, ConnId(c), self.now);
                    } else {
                        self.h.facts.typing.on_stop(u, to, ConnId(c), self.now);
                    }
                    self.client_send(c, Frame::Typing { to, on });
                }
                _ => {
                    if let Some(v) = self.views.get_mut(&c) {
                        v.requested_online_friends(self.now, false);
                    }
                    self.client_send(c, Frame::Snapshot);
                }
            }
        }
        if self.epoch == 1 && self.now >= 2 * S && self.h.facts.friends.get(4, 5).is_none() {
            self.h.facts.friends.accept_sent(4, 5, self.now);
            self.at(self.now + 2 * MS, Ev::AcceptDone);
            self.at(self.now + 4 * MS, Ev::AcceptReply);
        }
        let next = self.now + self.rng.gen_range(MS..15 * MS);
        self.at(next, Ev::Tick);
    }

    fn connect(&mut self, u: UserId) {
        let c = self.next_conn;
        self.next_conn += 1;
        self.h.facts.lc.open(ConnId(c), u, self.now).expect("fresh");
        let mut view = ConnView::new(ConnId(c), u);
        view.requested_online_friends(self.now, false);
        self.views.insert(c, view);
        self.server.owner.insert(c, u);
        let reg = self.now + self.rng.gen_range(0..4 * MS);
        self.server.read_clock.insert(c, reg);
        self.at(reg, Ev::Register(c));
        self.client_send(c, Frame::Snapshot);
    }

    fn send(&mut self, c: u32, u: UserId, to: UserId) {
        let seq = self.seqs.entry((c, to)).or_insert(0);
        *seq += 1;
        let seq = *seq;
        let header = ContentHeader {
            conn: ConnId(c),
            seq,
            intended_us: self.now,
            actual_us: self.now,
            sender: u,
            peer: to,
        };
        let rec = SentRecord {
            sender: ConnId(c),
            sender_user: u,
            peer: to,
            seq,
            sent_at: self.now,
            via: Via::Ws,
            message_id: None,
        };
        self.h.sent.record_send(rec).expect("increasing");
        self.h
            .facts
            .typing
            .on_message(u, to, Some(ConnId(c)), self.now);
        self.client_send(
            c,
            Frame::Send {
                to,
                content: encode(&header, 48),
            },
        );
    }

    fn check(&mut self) {
        let at = self.now;
        let world = self.h.facts.world();
        for v in self.views.values_mut() {
            v.check_barrier(&world, at, &mut self.h.found);
        }
        self.pending.settle(&world, &mut self.h.found);
        check_losses(
            &world,
            &mut self.h.sent,
            at,
            self.views.values_mut(),
            &mut self.h.found,
        );
        for (conv, accepted) in self.h.sent.take_accepted() {
            let history = self.server.history.get(&conv).cloned().unwrap_or_default();
            let h = HistoryCheck {
                conversation_id: conv,
                accepted: &accepted,
                deleted: &[],
                after_id: 0,
                history: &history,
                truncated: false,
                retention: None,
            };
            check_history(at, &h, &mut self.h.found);
        }
        if self.epoch < EPOCHS {
            self.epoch += 1;
            self.acting_until = at + EPOCH;
            self.at(at + MS, Ev::Tick);
        } else {
            for c in self.views.keys().copied().collect::<Vec<_>>() {
                self.h.facts.lc.closing(ConnId(c), at).expect("open");
                self.client_send(c, Frame::Close);
            }
        }
    }
}

#[test]
fn a_correct_server_is_never_reported() {
    for seed in 0..24 {
        let mut sim = Sim::new(seed, None);
        sim.run();
        assert!(sim.views.is_empty(), "seed {seed}: every connection closed");
        let online: Vec<UserId> = sim
            .server
            .conns
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(u, _)| *u)
            .collect();
        check_no_ghosts(sim.now, 1, &online, Some(0), 0, &mut sim.h.found);
        let t = &sim.h.found.tally;
        assert!(
            sim.h.found.is_clean(),
            "seed {seed}: {:#?}",
            sim.h.found.violations
        );
        for id in InvariantId::ALL {
            let unused = [InvariantId::I9, InvariantId::I10];
            assert!(
                t.checked.get(id) > 0 || unused.contains(&id),
                "seed {seed}: {id} never checked"
            );
        }
        assert!(
            t.checked.get(InvariantId::I5) > 100,
            "seed {seed}: {:?}",
            t.checked
        );
    }
}

#[test]
fn each_server_fault_is_reported_as_its_invariant() {
    let cases = [
        (Fault::OfflineOnEveryDisconnect, InvariantId::I2),
        (Fault::NoEcho, InvariantId::I5),
        (Fault::DuplicateMessage, InvariantId::I5),
        (Fault::DropDelivery, InvariantId::I5),
        (Fault::ReorderMessages, InvariantId::I6),
        (Fault::TypingLeak, InvariantId::I7),
        (Fault::TypingLeak, InvariantId::I8),
        (Fault::StaleOnlineFriends, InvariantId::I4),
        (Fault::HistoryMissing, InvariantId::I11),
    ];
    for (fault, id) in cases {
        let found: u64 = (0..4)
            .map(|seed| {
                let mut sim = Sim::new(seed, Some(fault));
                sim.run();
                sim.h.found.count(id)
            })
            .sum();
        assert!(found > 0, "{fault:?} was not reported as {id}");
    }
}
