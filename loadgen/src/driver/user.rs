//! One simulated user: its devices and its action schedule.
//!
//! Open model: the schedule (every behaviour's Poisson arrivals, from the
//! user's own seeded streams) is fixed before the run. Each action has an
//! intended time and is started then, never held back waiting for a reply;
//! actions that wait (typing pauses, device reopen, REST calls) run in tasks
//! of their own. Latency counts from the intended time; the gap between
//! intended and actual start is the generator's lag, recorded too.

use super::conn::{self, Cmd, ConnSlot, Record};
use super::rest;
use super::shared::Shared;
use super::view::make_content;
use crate::checker::{ConnId, SentRecord, Via};
use crate::metrics::{micros, RestEndpoint};
use crate::population::{arrivals, schedule_rng, stream};
use parking_lot::Mutex;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use server::protocol::rest::{
    ConversationCreated, CreateConversation, DeleteConversation, DeleteMessage, MessageCreated,
    RestSendMessage,
};
use server::protocol::{ClientMessage, Id as WireId};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The kinds of scheduled action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Send,
    TypingThenSend,
    TypingAbandon,
    OnlineFriends,
    Churn,
    RestCreate,
    RestDelete,
    RestSend,
    RestDeleteMessage,
    FriendRequest,
}

/// One user's live devices and bookkeeping, shared with its helper tasks.
pub struct UserState {
    pub index: u32,
    pub conns: Mutex<Vec<Arc<ConnSlot>>>,
    /// Next sequence number per (sending connection, peer user).
    seq: Mutex<HashMap<(u32, u32), u64>>,
    /// (message, conversation) of this user's REST messages (candidates
    /// for delete_message).
    own_messages: Mutex<Vec<(u64, u64)>>,
    rng: Mutex<ChaCha8Rng>,
}

/// The user's merged schedule: (µs after the start of the load phase, action).
fn schedule(shared: &Shared, index: u32) -> Vec<(u64, Action)> {
    let b = &shared.plan.behaviour;
    let d = shared.plan.duration;
    let streams = [
        (b.send_message, stream::SEND, Action::Send),
        (b.typing_then_send, stream::TYPING, Action::TypingThenSend),
        (
            b.typing_abandon,
            stream::TYPING + 100,
            Action::TypingAbandon,
        ),
        (
            b.get_online_friends,
            stream::ONLINE_FRIENDS,
            Action::OnlineFriends,
        ),
        (b.device_churn, stream::CHURN, Action::Churn),
        (b.rest_create_conversation, stream::REST, Action::RestCreate),
        (
            b.rest_delete_conversation,
            stream::REST + 100,
            Action::RestDelete,
        ),
        (b.rest_send_message, stream::REST + 200, Action::RestSend),
        (
            b.rest_delete_message,
            stream::REST + 300,
            Action::RestDeleteMessage,
        ),
        (
            b.friend_request,
            stream::FRIEND_REQUEST,
            Action::FriendRequest,
        ),
    ];
    let mut out = Vec::new();
    for (rate, s, action) in streams {
        if rate > 0.0 {
            let rng = schedule_rng(shared.plan.seed, index, s);
            out.extend(arrivals(rng, rate, d).map(|t| (micros(t), action)));
        }
    }
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Waits until schedule time `t` (µs since the run start, pauses excluded);
/// returns the intended wall time, or `None` if the run is stopping.
async fn wait_for(shared: &Shared, t: u64) -> Option<u64> {
    let mut paused = shared.paused.subscribe();
    loop {
        if shared.stopping.load(Ordering::Acquire) {
            return None;
        }
        if *paused.borrow_and_update() {
            let _ = paused.changed().await;
            continue;
        }
        let wall = shared.wall_of(t);
        if shared.now_us() >= wall {
            return Some(wall);
        }
        let at = shared.instant_of(wall);
        if shared.plan.precise_pacing {
            tokio::select! {
                _ = shared.pacer.sleep_until(at) => {}
                _ = paused.changed() => {}
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep_until(at.into()) => {}
                _ = paused.changed() => {}
            }
        }
    }
}

/// Runs user `index` for the whole run.
pub async fn run(shared: Arc<Shared>, index: u32) {
    let plan = shared.plan.clone();
    let mut conn_rng = schedule_rng(plan.seed, index, stream::CONNECTIONS);
    let user = Arc::new(UserState {
        index,
        conns: Mutex::new(Vec::new()),
        seq: Mutex::new(HashMap::new()),
        own_messages: Mutex::new(Vec::new()),
        rng: Mutex::new(schedule_rng(plan.seed, index, stream::CONTENT)),
    });
    let ramp = micros(plan.ramp_up);
    let connect_at = if ramp == 0 {
        0
    } else {
        conn_rng.gen_range(0..ramp)
    };
    let Some(_) = wait_for(&shared, connect_at).await else {
        return;
    };
    let devices = shared.population.connections[index as usize];
    let mut slow_rng = schedule_rng(plan.seed, index, stream::SLOW);
    for _ in 0..devices {
        let slow = slow_rng.gen_bool(plan.slow_consumer.fraction.clamp(0.0, 1.0));
        open_device(&shared, &user, slow).await;
    }
    for (t, action) in schedule(&shared, index) {
        let Some(intended) = wait_for(&shared, ramp + t).await else {
            break;
        };
        let lag = shared.now_us().saturating_sub(intended);
        shared.with_recorder(index, |r| r.record_lag(lag));
        act(&shared, &user, action, intended);
    }
}

/// Opens one device, noting the presence transition if it is the first.
async fn open_device(shared: &Arc<Shared>, user: &Arc<UserState>, slow: bool) {
    let first = user.conns.lock().iter().all(|c| !c.is_open());
    if first {
        shared.presence_transition(user.index, true, shared.now_us());
    }
    if let Some(slot) = conn::open(shared.clone(), user.index, slow).await {
        let mut conns = user.conns.lock();
        conns.retain(|c| c.is_open());
        conns.push(slot);
    }
}

/// A random open, non-slow device of the user.
fn pick_conn(user: &UserState) -> Option<Arc<ConnSlot>> {
    let conns = user.conns.lock();
    let usable = |c: &&Arc<ConnSlot>| c.is_open() && !c.slow;
    let n = conns.iter().filter(usable).count();
    if n == 0 {
        return None;
    }
    // The draw `SliceRandom::choose` makes, without collecting the slice
    // (this runs for every frame a user sends).
    let k = user.rng.lock().gen_range(0..n as u32) as usize;
    conns.iter().filter(usable).nth(k).cloned()
}

/// A random friend (population index) of the user.
fn pick_friend(shared: &Shared, user: &UserState) -> Option<u32> {
    let friends = shared.population.friends_of(user.index);
    let mut rng = user.rng.lock();
    friends.choose(&mut *rng).copied()
}

/// Builds the content of one message from `conn` to `peer`; returns it
/// with its sequence number.
fn content(
    shared: &Shared,
    user: &UserState,
    conn: u32,
    peer: u32,
    intended: u64,
) -> (String, u64) {
    let seq = {
        let mut seqs = user.seq.lock();
        let s = seqs.entry((conn, peer)).or_insert(0);
        *s += 1;
        *s
    };
    let len = shared.plan.content.sample(&mut *user.rng.lock());
    let users = (
        shared.users[user.index as usize].id,
        shared.users[peer as usize].id,
    );
    (
        make_content(conn, seq, users, (intended, shared.now_us()), len),
        seq,
    )
}

/// Records a REST send for the checker, before it is sent (A2). (WS sends
/// are recorded by their connection task, see [`Record`].)
fn record_rest_send(shared: &Shared, user: &UserState, pseudo: u32, peer: u32, seq: u64) -> u64 {
    let now = shared.now_us();
    let (me, them) = (
        shared.users[user.index as usize].id,
        shared.users[peer as usize].id,
    );
    let _ = shared.facts.lock().sent.record_send(SentRecord {
        sender: ConnId(pseudo),
        sender_user: me,
        peer: them,
        seq,
        sent_at: now,
        via: Via::Rest,
        message_id: None,
    });
    now
}

/// A WS `send_message` to `peer` (a random friend when `None`) on a random
/// device, intended at `intended`. The connection task records it for the
/// checker when it writes it (A2); false if it could not be queued.
fn ws_send(shared: &Shared, user: &UserState, peer: Option<u32>, intended: u64) -> bool {
    let Some(peer) = peer.or_else(|| pick_friend(shared, user)) else {
        return false;
    };
    let Some(conn) = pick_conn(user) else {
        return false;
    };
    let receiver = shared.users[peer as usize].id;
    let (content, seq) = content(shared, user, conn.id, peer, intended);
    let text = serde_json::to_string(&ClientMessage::SendMessage {
        receiver_id: WireId(receiver),
        content,
    })
    .expect("client messages serialize");
    let record = Record::Message {
        sender_user: shared.users[user.index as usize].id,
        peer: receiver,
        seq,
    };
    conn.send(Cmd::Text {
        text,
        record: Some(record),
    })
}

fn typing(shared: &Shared, user: &UserState, peer: u32, on: bool) -> Option<Arc<ConnSlot>> {
    let conn = pick_conn(user)?;
    let receiver_id = WireId(shared.users[peer as usize].id);
    let msg = if on {
        ClientMessage::Typing { receiver_id }
    } else {
        ClientMessage::StopTyping { receiver_id }
    };
    let now = shared.now_us();
    // A2: the connection task records the typing action before writing it.
    let record = Record::Typing {
        typer: shared.users[user.index as usize].id,
        receiver: receiver_id.get(),
        on,
    };
    let queued = conn.send(Cmd::Text {
        text: serde_json::to_string(&msg).expect("client messages serialize"),
        record: Some(record),
    });
    if !queued {
        return None;
    }
    shared.typing_at[user.index as usize].store((now << 1) | u64::from(on), Ordering::Release);
    Some(conn)
}

/// Starts one action at its intended time.
fn act(shared: &Arc<Shared>, user: &Arc<UserState>, action: Action, intended: u64) {
    let plan = &shared.plan;
    match action {
        Action::Send => {
            ws_send(shared, user, None, intended);
        }
        Action::TypingThenSend | Action::TypingAbandon => {
            let Some(peer) = pick_friend(shared, user) else {
                return;
            };
            if typing(shared, user, peer, true).is_none() {
                return;
            }
            let pause = plan.behaviour.typing_pause.sample(&mut *user.rng.lock());
            let (shared, user) = (shared.clone(), user.clone());
            tokio::spawn(async move {
                tokio::time::sleep(pause).await;
                let Some(_busy) = shared.begin_active().await else {
                    return;
                };
                if action == Action::TypingThenSend {
                    // The message ends the typing indicator (INVARIANTS I8).
                    ws_send(&shared, &user, Some(peer), shared.now_us());
                } else {
                    typing(&shared, &user, peer, false);
                }
            });
        }
        Action::OnlineFriends => {
            if let Some(conn) = pick_conn(user) {
                conn.send(Cmd::OnlineFriends);
            }
        }
        Action::Churn => churn(shared, user),
        Action::RestCreate | Action::RestSend | Action::RestDelete | Action::RestDeleteMessage => {
            let (shared, user) = (shared.clone(), user.clone());
            tokio::spawn(async move {
                let _busy = shared.begin();
                rest_action(&shared, &user, action, intended).await;
            });
        }
        Action::FriendRequest => {
            let (shared, user) = (shared.clone(), user.clone());
            tokio::spawn(async move {
                let _busy = shared.begin();
                super::friends::request(&shared, user.index, intended).await;
            });
        }
    }
}

/// Device churn: close one device (others stay open) or all of them (the
/// user goes offline), and reopen as many after a delay.
fn churn(shared: &Arc<Shared>, user: &Arc<UserState>) {
    let plan = &shared.plan;
    let (all, delay) = {
        let mut rng = user.rng.lock();
        (
            rng.gen_bool(plan.behaviour.churn_all_devices.clamp(0.0, 1.0)),
            plan.behaviour.churn_reopen_after.sample(&mut *rng),
        )
    };
    let closing: Vec<Arc<ConnSlot>> = {
        let conns = user.conns.lock();
        let open: Vec<Arc<ConnSlot>> = conns
            .iter()
            .filter(|c| c.is_open() && !c.slow)
            .cloned()
            .collect();
        let total_open = conns.iter().filter(|c| c.is_open()).count();
        if open.is_empty() || (!all && total_open < 2) {
            return;
        }
        if all {
            if open.len() < total_open {
                return; // a slow device is still open: it would keep the user online
            }
            open
        } else {
            let i = user.rng.lock().gen_range(0..open.len());
            vec![open[i].clone()]
        }
    };
    if all {
        shared.presence_transition(user.index, false, shared.now_us());
        // Going offline clears typing: the implicit "false" is not timed.
        shared.typing_at[user.index as usize].store(0, Ordering::Release);
    }
    for c in &closing {
        c.close();
    }
    let (shared, user) = (shared.clone(), user.clone());
    let reopen = closing.len();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let Some(_busy) = shared.begin_active().await else {
            return;
        };
        for _ in 0..reopen {
            open_device(&shared, &user, false).await;
        }
    });
}

async fn rest_action(shared: &Shared, user: &UserState, action: Action, intended: u64) {
    let token = shared.users[user.index as usize].token.clone();
    let shard = user.index;
    match action {
        Action::RestCreate | Action::RestSend => {
            let Some(peer) = pick_friend(shared, user) else {
                return;
            };
            let body = CreateConversation {
                other_user_id: WireId(shared.users[peer as usize].id),
            };
            let Some(reply) = rest::call(
                shared,
                shard,
                RestEndpoint::CreateConversation,
                &token,
                Some(&body),
                intended,
            )
            .await
            else {
                return;
            };
            let Some(created) = reply.json::<ConversationCreated>() else {
                return;
            };
            {
                let (me, them) = (
                    shared.users[user.index as usize].id,
                    shared.users[peer as usize].id,
                );
                shared
                    .facts
                    .lock()
                    .conversations
                    .learn(created.conversation_id, me, them);
            }
            if action == Action::RestCreate && reply.status.as_u16() == 201 {
                super::history::created(shared, user.index, created.conversation_id);
            }
            if action == Action::RestSend {
                let media = {
                    let mut rng = user.rng.lock();
                    let n = shared.plan.behaviour.rest_media_ids.sample(&mut *rng);
                    (0..n).map(|_| rng.gen_range(1..1_000_000u64)).collect()
                };
                // REST messages have no sending connection: a pseudo
                // connection id per user, above every real one.
                let pseudo = u32::MAX - user.index;
                let (content, seq) = content(shared, user, pseudo, peer, intended);
                let body = RestSendMessage {
                    conversation_id: WireId(created.conversation_id),
                    content,
                    media_ids: media,
                };
                let sent_at = record_rest_send(shared, user, pseudo, peer, seq);
                let sent = rest::call(
                    shared,
                    shard,
                    RestEndpoint::SendMessage,
                    &token,
                    Some(&body),
                    intended,
                )
                .await;
                shared.with_recorder(shard, |r| r.messages_sent += 1);
                if let Some(m) = sent.and_then(|r| r.json::<MessageCreated>()) {
                    let conv = created.conversation_id;
                    let (me, them) = (
                        shared.users[user.index as usize].id,
                        shared.users[peer as usize].id,
                    );
                    let now = shared.now_us();
                    let mut facts = shared.facts.lock();
                    if let Some(v) = facts.sent.record_accepted(
                        ConnId(pseudo),
                        them,
                        seq,
                        m.message_id,
                        conv,
                        now,
                    ) {
                        facts.findings.push(v);
                    }
                    facts.conversations.learn(conv, me, them);
                    facts.typing.on_message(me, them, None, sent_at);
                    drop(facts);
                    user.own_messages.lock().push((m.message_id, conv));
                }
            }
        }
        Action::RestDelete => {
            // Deletes a conversation this user created by REST earlier, if any.
            let Some(conv) = super::history::pick_deletable(shared, user.index) else {
                return;
            };
            super::history::deleting_conversation(shared, conv);
            let body = DeleteConversation {
                conversation_id: WireId(conv),
            };
            rest::call(
                shared,
                shard,
                RestEndpoint::DeleteConversation,
                &token,
                Some(&body),
                intended,
            )
            .await;
        }
        Action::RestDeleteMessage => {
            let id = {
                let mut own = user.own_messages.lock();
                if own.is_empty() {
                    return;
                }
                let i = user.rng.lock().gen_range(0..own.len());
                own.swap_remove(i)
            };
            let (id, conv) = id;
            if super::history::is_deleted(shared, conv) {
                // Gone with its conversation: deleting it would only 404.
                return;
            }
            shared.facts.lock().conversations.learn_message(id, conv);
            super::history::deleting_message(shared, id);
            let body = DeleteMessage {
                message_id: WireId(id),
            };
            rest::call(
                shared,
                shard,
                RestEndpoint::DeleteMessage,
                &token,
                Some(&body),
                intended,
            )
            .await;
        }
        _ => {}
    }
}
