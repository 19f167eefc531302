//! One simulated connection: open (timed handshake), then one task that owns
//! the socket, writes what the user task asks, and reads every frame —
//! recording latencies and feeding the checker.
//!
//! Lifecycle (INVARIANTS.md): `Opening` from connect until the reply to the
//! initial `get_online_friends` (then `Confirmed`), `Closing` from the moment
//! the generator decides to close (or a slow consumer stops reading), then
//! `Closed` when the socket ends.

use super::handshake;
use super::outbox::Outbox;
use super::shared::Shared;
use super::view::ConnCheck;
use crate::checker::{Closer, ConnId, SentRecord, Via};
use crate::metrics::LatencyKind;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use server::protocol::{ClientMessage, ServerEvent, UserId};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

/// Commands a user task sends to one of its connections.
#[derive(Debug)]
pub enum Cmd {
    /// Send this text frame (already serialized), recording `record` for
    /// the checker just before it is written.
    Text {
        text: String,
        record: Option<Record>,
    },
    /// Send `get_online_friends` and time the reply.
    OnlineFriends,
    /// Send `get_online_friends` as a barrier's fresh snapshot.
    BarrierSnapshot,
    /// Close the connection (normal closure).
    Close,
}

/// What the checker must know about a frame before it is sent (A2).
///
/// The connection task makes the record itself, immediately before it
/// writes the frame: a frame that is never written (its connection closed
/// first) is never recorded, and a record's time is the write's, not the
/// time the user task queued it (which can be earlier by the generator's
/// own backlog when it is saturated). Issue 12: recording at the queue
/// claimed sends that a queued `Close` then dropped.
#[derive(Debug, Clone, Copy)]
pub enum Record {
    /// A `send_message` from this connection.
    Message {
        sender_user: UserId,
        peer: UserId,
        seq: u64,
    },
    /// A `typing` (`on`) or `stop_typing` from this connection.
    Typing {
        typer: UserId,
        receiver: UserId,
        on: bool,
    },
}

/// Lifecycle times, µs since the start of the run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Life {
    pub opened_at: u64,
    pub confirmed_at: Option<u64>,
    pub closing_at: Option<u64>,
    pub closed_at: Option<u64>,
    pub close_code: Option<u16>,
}

/// What the run keeps of one connection.
pub struct ConnSlot {
    /// Global connection index in this run.
    pub id: u32,
    /// Population index of its user.
    pub user: u32,
    /// Whether it stops reading (slow consumer).
    pub slow: bool,
    pub life: Mutex<Life>,
    /// Checker state (views, sequences, recent frames).
    pub check: Mutex<ConnCheck>,
    open: AtomicBool,
    /// Commands from the user task, drained by the connection task.
    outbox: Outbox<Cmd>,
}

impl ConnSlot {
    /// Whether the connection is open and not closing.
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Asks the connection to do something; false if it is closing, gone
    /// or backed up (then nothing of it is sent or recorded).
    pub fn send(&self, cmd: Cmd) -> bool {
        self.is_open() && self.outbox.push(cmd, CMD_QUEUE).is_ok()
    }

    /// Closes it (device churn): from now on it is not open and refuses
    /// every command; those queued before still go out first.
    pub fn close(&self) {
        if self.is_open() && self.outbox.push_last(Cmd::Close).is_ok() {
            self.open.store(false, Ordering::Release);
        }
    }

    /// Closes it at the end of the run, slow or not (past a full queue).
    pub fn close_now(&self) {
        let _ = self.outbox.push_last(Cmd::Close);
        self.open.store(false, Ordering::Release);
    }

    fn pop(&self) -> Option<Cmd> {
        self.outbox.pop()
    }

    /// Whether it was Confirmed and has not started closing.
    pub fn confirmed(&self) -> bool {
        let life = self.life.lock();
        life.confirmed_at.is_some() && life.closing_at.is_none()
    }
}

/// Queue of commands per connection: a user issues a few per second.
const CMD_QUEUE: usize = 256;

/// WebSocket client settings: small buffers keep the generator's memory per
/// connection low (the target is ≤ 16 KiB).
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(2048)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20))
}

/// Opens a connection of user `user` and starts its task. `None` if the
/// handshake failed (counted under `errors.ws_connect`).
pub async fn open(shared: Arc<Shared>, user: u32, slow: bool) -> Option<Arc<ConnSlot>> {
    let _busy = shared.begin();
    let id = shared.new_conn_id();
    let opened_at = shared.now_us();
    let user_id = shared.users[user as usize].id;
    // A2: the lifecycle opens before the connect is sent.
    let _ = shared
        .facts
        .lock()
        .lifecycles
        .open(ConnId(id), user_id, opened_at);
    let url = format!(
        "ws://{}/ws/{}",
        shared.addr, shared.users[user as usize].token
    );
    let connected = async {
        let socket = TcpSocket::new_v4().ok()?;
        if slow {
            // A tiny receive buffer makes a stalled reader back up quickly.
            let _ = socket.set_recv_buffer_size(4096);
        }
        let tcp = socket.connect(shared.addr).await.ok()?;
        let _ = tcp.set_nodelay(true);
        handshake::connect(tcp, &url, ws_config()).await.ok()
    }
    .await;
    let Some(ws) = connected else {
        shared.with_recorder(id, |r| r.count_error("ws_connect"));
        let now = shared.now_us();
        let mut facts = shared.facts.lock();
        let _ = facts.lifecycles.closing(ConnId(id), now);
        let _ =
            facts
                .lifecycles
                .closed(ConnId(id), now, None, Closer::Server { alive_until: None });
        return None;
    };
    let done = shared.now_us();
    shared.with_recorder(id, |r| {
        r.record(LatencyKind::Handshake, done - opened_at, done - opened_at)
    });
    let slot = Arc::new(ConnSlot {
        id,
        user,
        slow,
        life: Mutex::new(Life {
            opened_at,
            ..Life::default()
        }),
        check: Mutex::new(ConnCheck::new(&shared, id, user)),
        open: AtomicBool::new(true),
        outbox: Outbox::default(),
    });
    shared.open_connections.fetch_add(1, Ordering::AcqRel);
    shared.conns.lock().push(slot.clone());
    // The initial snapshot: its reply confirms the connection.
    slot.send(Cmd::OnlineFriends);
    tokio::spawn(run(shared.clone(), slot.clone(), ws));
    Some(slot)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn run(shared: Arc<Shared>, slot: Arc<ConnSlot>, mut ws: Ws) {
    let online_friends = serde_json::to_string(&ClientMessage::GetOnlineFriends {})
        .expect("a unit-like message serializes");
    let stall_at = slot
        .slow
        .then(|| tokio::time::Instant::now() + shared.plan.slow_consumer.after);
    let resume_at = stall_at.map(|t| t + shared.plan.slow_consumer.stall);
    let mut resumed = false;
    let mut reading = true;
    let mut close_code = None;
    // Whether the close we received answers one we sent.
    let mut we_closed = false;
    loop {
        tokio::select! {
            biased;
            _ = slot.outbox.notified() => {
                let mut stop = false;
                while let Some(cmd) = slot.pop() {
                    match cmd {
                        Cmd::Text { text, record } => {
                            if let Some(record) = record {
                                note_sent(&shared, slot.id, record);
                            }
                            if ws.send(Message::text(text)).await.is_err() { stop = true; break; }
                        }
                        Cmd::OnlineFriends | Cmd::BarrierSnapshot => {
                            let barrier = matches!(cmd, Cmd::BarrierSnapshot);
                            slot.check.lock().snapshot_requested(shared.now_us(), barrier);
                            if ws.send(Message::text(online_friends.clone())).await.is_err() { stop = true; break; }
                        }
                        Cmd::Close => {
                            begin_closing(&shared, &slot);
                            let _ = ws.close(None).await;
                            // Finish the handshake; frames still arriving are judged.
                            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                                while let Some(Ok(msg)) = ws.next().await {
                                    match msg {
                                        Message::Text(t) => { on_text(&shared, &slot, t.as_str()); }
                                        Message::Close(frame) => {
                                            close_code = frame.map(|f| u16::from(f.code));
                                            // Only a plain closure answers ours; any
                                            // other code (4010…) is the server's own.
                                            we_closed = matches!(close_code, None | Some(1000));
                                        }
                                        _ => {}
                                    }
                                }
                            }).await;
                            stop = true;
                            break;
                        }
                    }
                }
                if stop { break; }
            }
            _ = async { tokio::time::sleep_until(stall_at.expect("guarded by the if")).await }, if reading && !resumed && stall_at.is_some() => {
                // Slow consumer: stop reading; the server's queue fills and
                // it must close us with 4010. From now on we are Closing.
                reading = false;
                begin_closing(&shared, &slot);
            }
            _ = async { tokio::time::sleep_until(resume_at.expect("guarded by the if")).await }, if !reading && !resumed && resume_at.is_some() => {
                // The stall is over: drain what is buffered. The connection
                // stays Closing; what it reads now shows how the server
                // ended it (4010 when its queue overflowed).
                reading = true;
                resumed = true;
            }
            frame = ws.next(), if reading => match frame {
                Some(Ok(Message::Text(t))) => {
                    if let Some(reply) = on_text(&shared, &slot, t.as_str()) {
                        if ws.send(Message::text(reply)).await.is_err() { break; }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    close_code = frame.map(|f| u16::from(f.code));
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = std::future::pending::<()>(), if !reading => {}
        }
        if !reading && shared.stopping.load(Ordering::Acquire) {
            // End of run: drain to see how the server closed us.
            let _ = tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Close(frame) = msg {
                        close_code = frame.map(|f| u16::from(f.code));
                    }
                }
            })
            .await;
            break;
        }
    }
    finish(&shared, &slot, close_code, we_closed);
}

/// Records a frame for the checker just before it is written (A2), and
/// counts a message as sent.
fn note_sent(shared: &Shared, conn: u32, record: Record) {
    let now = shared.now_us();
    {
        let mut facts = shared.facts.lock();
        match record {
            Record::Message {
                sender_user,
                peer,
                seq,
            } => {
                let _ = facts.sent.record_send(SentRecord {
                    sender: ConnId(conn),
                    sender_user,
                    peer,
                    seq,
                    sent_at: now,
                    via: Via::Ws,
                    message_id: None,
                });
                facts
                    .typing
                    .on_message(sender_user, peer, Some(ConnId(conn)), now);
            }
            Record::Typing {
                typer,
                receiver,
                on: true,
            } => facts.typing.on_start(typer, receiver, ConnId(conn), now),
            Record::Typing {
                typer,
                receiver,
                on: false,
            } => facts.typing.on_stop(typer, receiver, ConnId(conn), now),
        }
    }
    if matches!(record, Record::Message { .. }) {
        shared.with_recorder(conn, |r| r.messages_sent += 1);
    }
}

/// The generator decided to close (or to stop reading): Closing from now.
fn begin_closing(shared: &Shared, slot: &ConnSlot) {
    slot.open.store(false, Ordering::Release);
    let now = shared.now_us();
    // A2: Closing is recorded before the close is sent.
    let _ = shared.facts.lock().lifecycles.closing(ConnId(slot.id), now);
    slot.life.lock().closing_at.get_or_insert(now);
}

/// Records the end of a connection.
fn finish(shared: &Shared, slot: &ConnSlot, close_code: Option<u16>, we_closed: bool) {
    slot.open.store(false, Ordering::Release);
    // Commands still queued are dropped unsent and unrecorded; refuse more.
    slot.outbox.shut();
    let now = shared.now_us();
    {
        let mut facts = shared.facts.lock();
        let mut check = slot.check.lock();
        let by = if we_closed {
            Closer::Generator
        } else {
            Closer::Server {
                alive_until: check.view.alive_proof(),
            }
        };
        let _ = facts
            .lifecycles
            .closed(ConnId(slot.id), now, close_code, by);
        let deferred = check.view.take_deferred();
        facts.pending.append(deferred);
    }
    let was_closing = {
        let mut life = slot.life.lock();
        let was_closing = life.closing_at.is_some();
        life.closing_at.get_or_insert(now);
        life.closed_at = Some(now);
        life.close_code = close_code;
        was_closing
    };
    shared.open_connections.fetch_sub(1, Ordering::AcqRel);
    shared.with_recorder(slot.id, |r| match close_code {
        Some(4010) if slot.slow => r.count("slow_consumer_closes"),
        // A connection that kept reading was closed as a slow consumer:
        // the server's writer (or this generator) could not keep up.
        Some(4010) => r.count_error("ws_closed_4010_while_reading"),
        _ if was_closing => {}
        Some(code) => r.count_error(&format!("ws_closed_{code}")),
        None => r.count_error("ws_dropped"),
    });
}

/// Handles one text frame: latency, counts, and the checker. Returns a
/// frame to send in reply (a `mark_read`, with the scenario's probability).
fn on_text(shared: &Shared, slot: &ConnSlot, text: &str) -> Option<String> {
    let now = shared.now_us();
    shared.frames_received.fetch_add(1, Ordering::Relaxed);
    let event: ServerEvent = match super::event::decode(text) {
        Ok(e) => e,
        Err(_) => {
            shared.with_recorder(slot.id, |r| r.count_error("undecodable_frame"));
            return None;
        }
    };
    let mut out = slot.check.lock().on_event(shared, now, &event);
    if out.confirmed {
        slot.life.lock().confirmed_at.get_or_insert(now);
    }
    if slot.slow && !slot.is_open() {
        // A slow consumer stopped reading on purpose: how late its frames
        // arrive measures the generator, not the server.
        out.sample = None;
    }
    shared.with_recorder(slot.id, |r| {
        r.count_frame(event.kind());
        if let Some(s) = out.sample {
            r.record(s.kind, s.from_intended, s.from_actual);
        }
        match &event {
            ServerEvent::NewMessage(_) => r.messages_delivered += 1,
            ServerEvent::Error { code, .. } => r.count_error(&format!("ws_error_{code}")),
            _ => {}
        }
    });
    let conversation = out.received_conversation?;
    let p = shared.plan.behaviour.mark_read;
    if p <= 0.0 || shared.paused_now() {
        return None;
    }
    // A seeded coin per (connection, frame count): reproducible, no shared RNG.
    let coin = splitmix(shared.plan.seed ^ (u64::from(slot.id) << 32) ^ now);
    ((coin as f64 / u64::MAX as f64) < p).then(|| {
        serde_json::to_string(&ClientMessage::MarkRead {
            conversation_id: server::protocol::Id(conversation),
        })
        .expect("client messages serialize")
    })
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
