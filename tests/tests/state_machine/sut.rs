//! The system under test: an embedded server, one [`WsClient`] per open
//! device, and [`Sut::run_step`], which performs one [`Step`] through real
//! sockets and REST, synchronizes, and judges what every connection got
//! against the model's allowed outcomes.
//!
//! Synchronization, never a sleep: after a step, every open connection does
//! a `get_online_friends` round trip, first the connections that sent
//! WebSocket frames in the step (their reader handled those frames before
//! the round trip, so everything they caused is already enqueued), then all
//! the others. A close is the one thing a client cannot see the end of (the
//! close handshake is not ordered with the server unregistering the
//! connection), so after closes the judge waits, under a timeout, for the
//! server's `open_connections` gauge to reach the model's count.

use super::model::{Model, Outcome, RestExpect, Slot, Step, UNKNOWN_ID, USERS};
use proptest::test_runner::TestCaseError;
use serde_json::json;
use server::protocol::rest::{ConversationCreated, History, MessageCreated};
use server::protocol::{ClientMessage, Id, ServerEvent};
use std::collections::BTreeMap;
use tests::ws::Incoming;
use tests::{Reply, TestServer, User, WsClient, TIMEOUT};

pub struct Sut {
    pub s: TestServer,
    pub users: Vec<User>,
    pub conns: BTreeMap<Slot, WsClient>,
}

/// What a step observed besides frames.
#[derive(Debug, Default)]
struct Observed {
    rest: Option<Reply>,
    /// How many `get_online_friends` the step itself sent, per device.
    requests: BTreeMap<Slot, usize>,
    /// Devices that sent WebSocket frames (synchronized first).
    actors: Vec<Slot>,
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

impl Sut {
    /// A fresh server with the model's users, initial friendships and open
    /// devices.
    pub async fn start(config: server::Config) -> (Sut, Model) {
        let s = TestServer::with_config(config).await;
        let users = s.users(USERS).await;
        let pairs: Vec<(&User, &User)> = super::model::INITIAL_FRIENDS
            .iter()
            .map(|&(a, b)| (&users[a], &users[b]))
            .collect();
        s.befriend(&pairs).await;
        let model = Model::new(
            users.iter().map(|u| u.id).collect(),
            users.iter().map(|u| u.username.clone()).collect(),
        );
        let mut sut = Sut {
            s,
            users,
            conns: BTreeMap::new(),
        };
        for slot in model.open_slots() {
            let ws = sut.s.connect_confirmed(&sut.users[slot.user]).await;
            sut.conns.insert(slot, ws);
        }
        // Drain the presence of the initial connections.
        for ws in sut.conns.values_mut() {
            ws.round_trip_skipping().await;
        }
        (sut, model)
    }

    async fn open(&mut self, slot: Slot) -> WsClient {
        let mut ws = self.s.connect(&self.users[slot.user]).await;
        ws.label = slot.to_string();
        ws
    }

    fn take(&mut self, slot: Slot) -> Result<WsClient, TestCaseError> {
        self.conns
            .remove(&slot)
            .ok_or_else(|| fail(format!("{slot} is not open")))
    }

    /// Runs one step and judges it; returns the outcome that happened.
    pub async fn run_step(&mut self, model: &Model, step: &Step) -> Result<Model, TestCaseError> {
        let outcomes = model.apply(step);
        let mut obs = Observed::default();
        self.act(model, step, &outcomes[0], &mut obs).await?;
        // Phase 1: the actors (a reopened device's reply also proves it is
        // registered); then every close must be unregistered; phase 2:
        // everyone else, concurrently.
        let mut frames: BTreeMap<Slot, Vec<ServerEvent>> = BTreeMap::new();
        for slot in &obs.actors {
            if let Some(ws) = self.conns.get_mut(slot) {
                let want = obs.requests.get(slot).copied().unwrap_or(0) + 1;
                frames.insert(*slot, collect(ws, want).await?);
            }
        }
        self.wait_open_count(outcomes[0].next.open.len()).await?;
        let rest: Vec<(&Slot, &mut WsClient)> = self
            .conns
            .iter_mut()
            .filter(|(s, _)| !obs.actors.contains(s))
            .collect();
        let results = futures_util::future::join_all(rest.into_iter().map(|(slot, ws)| {
            let want = obs.requests.get(slot).copied().unwrap_or(0) + 1;
            async move { (*slot, collect(ws, want).await) }
        }))
        .await;
        for (slot, r) in results {
            frames.insert(slot, r?);
        }
        judge(step, outcomes, frames, obs.rest)
    }

    /// Performs the step's actions.
    async fn act(
        &mut self,
        model: &Model,
        step: &Step,
        first: &Outcome,
        obs: &mut Observed,
    ) -> Result<(), TestCaseError> {
        let id = |u: usize| if u < USERS { model.ids[u] } else { UNKNOWN_ID };
        let rest_of = |s: &Sut, u: usize| s.s.rest(&s.users[u]);
        match step {
            Step::Open(slot) => {
                if !model.open.contains(slot) {
                    let mut ws = self.open(*slot).await;
                    ws.send(&ClientMessage::GetOnlineFriends {}).await;
                    self.conns.insert(*slot, ws);
                    obs.requests.insert(*slot, 1);
                    obs.actors.push(*slot);
                }
            }
            Step::Close(slot) => {
                if model.open.contains(slot) {
                    self.take(*slot)?.close().await;
                }
            }
            Step::CloseAll(user) => {
                let slots: Vec<Slot> = model
                    .open
                    .iter()
                    .filter(|s| s.user == *user)
                    .copied()
                    .collect();
                let mut closing = Vec::new();
                for slot in slots {
                    closing.push(self.take(slot)?);
                }
                futures_util::future::join_all(closing.into_iter().map(WsClient::close)).await;
            }
            Step::CloseReopen(slot) => {
                if model.open.contains(slot) {
                    self.take(*slot)?.close().await;
                    let mut ws = self.open(*slot).await;
                    ws.send(&ClientMessage::GetOnlineFriends {}).await;
                    self.conns.insert(*slot, ws);
                    obs.requests.insert(*slot, 1);
                    obs.actors.push(*slot);
                }
            }
            Step::SnapshotDuring { observer, mover } => {
                let Some(o) = model.pick(*observer) else {
                    return Ok(());
                };
                if o == *mover {
                    return Ok(());
                }
                let mut ws = self.take(o)?;
                obs.requests.insert(o, 1);
                if model.open.contains(mover) {
                    let m = self.take(*mover)?;
                    tokio::join!(ws.send(&ClientMessage::GetOnlineFriends {}), m.close());
                } else {
                    let url = self.s.ws_url(&self.users[mover.user].token);
                    let label = mover.to_string();
                    let (_, mut m) = tokio::join!(
                        ws.send(&ClientMessage::GetOnlineFriends {}),
                        WsClient::connect(&url, &label, None)
                    );
                    m.send(&ClientMessage::GetOnlineFriends {}).await;
                    obs.requests.insert(*mover, 1);
                    obs.actors.push(*mover);
                    self.conns.insert(*mover, m);
                }
                self.conns.insert(o, ws);
            }
            Step::Send { pick, to, content } => {
                if let Some(from) = model.pick(*pick) {
                    let msg = json!({"type": "send_message", "receiver_id": id(*to), "content": content.text()});
                    self.ws(from)?.send_raw(&msg.to_string()).await;
                    obs.actors.push(from);
                }
            }
            Step::Typing { pick, to, on } => {
                if let Some(from) = model.pick(*pick) {
                    let receiver_id = Id(id(*to));
                    let msg = if *on {
                        ClientMessage::Typing { receiver_id }
                    } else {
                        ClientMessage::StopTyping { receiver_id }
                    };
                    self.ws(from)?.send(&msg).await;
                    obs.actors.push(from);
                }
            }
            Step::MarkRead { pick, pair } => {
                if let Some(from) = model.pick(*pick) {
                    let conversation_id = Id(model.conversation_id(*pair));
                    self.ws(from)?
                        .send(&ClientMessage::MarkRead { conversation_id })
                        .await;
                    obs.actors.push(from);
                }
            }
            Step::GetOnlineFriends { pick } => {
                if let Some(from) = model.pick(*pick) {
                    self.ws(from)?
                        .send(&ClientMessage::GetOnlineFriends {})
                        .await;
                    obs.requests.insert(from, 1);
                    obs.actors.push(from);
                }
            }
            Step::BadFrame { pick, frame } => {
                if let Some(from) = model.pick(*pick) {
                    let ws = self.ws(from)?;
                    match frame {
                        super::model::BadFrame::NotJson => ws.send_raw("{not json").await,
                        super::model::BadFrame::UnknownType => {
                            ws.send_raw(r#"{"type":"dance"}"#).await
                        }
                        super::model::BadFrame::MissingField => {
                            ws.send_raw(r#"{"type":"typing"}"#).await
                        }
                        super::model::BadFrame::Binary => ws.send_binary(vec![1, 2, 3]).await,
                    }
                    obs.actors.push(from);
                }
            }
            Step::CreateConversation { user, other } => {
                let body = json!({"other_user_id": id(*other)});
                obs.rest = Some(
                    rest_of(self, *user)
                        .post("/create_conversation", &body)
                        .await,
                );
            }
            Step::RestSend { user, pair } => {
                let content = match &first.rest {
                    Some(RestExpect::Message(id)) => format!("rest {id}"),
                    _ => "rest".to_owned(),
                };
                let body =
                    json!({"conversation_id": model.conversation_id(*pair), "content": content});
                obs.rest = Some(
                    rest_of(self, *user)
                        .post("/conversation/send_message", &body)
                        .await,
                );
            }
            Step::DeleteMessage { user, pick } => {
                let ids = model.message_ids();
                if !ids.is_empty() {
                    let body = json!({"message_id": ids[pick % ids.len()]});
                    obs.rest = Some(
                        rest_of(self, *user)
                            .post("/conversation/delete_message", &body)
                            .await,
                    );
                }
            }
            Step::DeleteConversation { user, pair } => {
                let body = json!({"conversation_id": model.conversation_id(*pair)});
                obs.rest = Some(
                    rest_of(self, *user)
                        .post("/delete_conversation", &body)
                        .await,
                );
            }
            Step::History { user, pair } => {
                let conv = model.conversation_id(*pair);
                obs.rest = Some(rest_of(self, *user).history(conv, None, Some(500)).await);
            }
            Step::FriendRequest { from, to } => {
                let body = json!({"receiver_id": id(*to)});
                obs.rest = Some(
                    rest_of(self, *from)
                        .post("/me/send_friend_request", &body)
                        .await,
                );
            }
            Step::Accept { user, requester } => {
                let body = json!({"sender_id": id(*requester)});
                obs.rest = Some(
                    rest_of(self, *user)
                        .post("/me/accept_friend_request", &body)
                        .await,
                );
            }
            Step::BadToken => {
                let mut ws = self.s.connect_token("not-a-token").await;
                match ws.next_within(TIMEOUT).await {
                    Some(Incoming::Close(Some((4008, _)))) => {}
                    other => {
                        return Err(fail(format!(
                            "BadToken: expected a close with 4008, got {other:?}"
                        )))
                    }
                }
            }
        }
        Ok(())
    }

    fn ws(&mut self, slot: Slot) -> Result<&mut WsClient, TestCaseError> {
        self.conns
            .get_mut(&slot)
            .ok_or_else(|| fail(format!("{slot} is not open")))
    }

    /// Waits until the server has registered exactly `n` connections (the
    /// end of a close cannot be seen from the client side).
    async fn wait_open_count(&self, n: usize) -> Result<(), TestCaseError> {
        let gauge = &self.s.embedded.state.metrics.open_connections;
        // The server's gauge is the only place the end of a close shows, and
        // it has no event: yield to the server's tasks until it reads `n`,
        // under the test's timeout.
        let settled = tokio::time::timeout(TIMEOUT, async {
            while gauge.get() != n as i64 {
                tokio::task::yield_now().await;
            }
        })
        .await;
        settled.map_err(|_| {
            fail(format!(
                "the server holds {} connections, the model {n}",
                gauge.get()
            ))
        })
    }
}

/// Sends the judge's `get_online_friends` and reads every frame up to its
/// reply: `replies` `online_friends` frames in all (the step's own requests
/// plus this one).
async fn collect(ws: &mut WsClient, replies: usize) -> Result<Vec<ServerEvent>, TestCaseError> {
    ws.send(&ClientMessage::GetOnlineFriends {}).await;
    let mut got = Vec::new();
    let mut seen = 0;
    while seen < replies {
        let text = match ws.next_within(TIMEOUT).await {
            Some(Incoming::Text(t)) => t,
            other => {
                return Err(fail(format!(
                    "{}: waiting for online_friends after {got:?}, got {other:?}",
                    ws.label
                )))
            }
        };
        let event: ServerEvent = serde_json::from_str(&text)
            .map_err(|e| fail(format!("{}: not a server event ({e}): {text}", ws.label)))?;
        if matches!(event, ServerEvent::OnlineFriends { .. }) {
            seen += 1;
        }
        got.push(normalize(event).map_err(|e| fail(format!("{}: {e}", ws.label)))?);
    }
    Ok(got)
}

/// Blanks what the model cannot predict (timestamps, error messages) after
/// checking their form.
fn normalize(event: ServerEvent) -> Result<ServerEvent, String> {
    Ok(match event {
        ServerEvent::NewMessage(mut m) => {
            for t in [m.timestamp.take(), m.created_at.take()]
                .into_iter()
                .flatten()
            {
                if !tests::is_timestamp(&t) {
                    return Err(format!("bad timestamp {t:?}"));
                }
            }
            ServerEvent::NewMessage(m)
        }
        ServerEvent::Error { code, message } => {
            if message.is_empty() {
                return Err(format!("error {code} without a message"));
            }
            ServerEvent::Error {
                code,
                message: String::new(),
            }
        }
        other => other,
    })
}

fn rest_matches(expect: &Option<RestExpect>, got: &Option<Reply>) -> Result<(), String> {
    let (expect, got) = match (expect, got) {
        (None, None) => return Ok(()),
        (Some(e), Some(g)) => (e, g),
        (e, g) => return Err(format!("REST: expected {e:?}, got {g:?}")),
    };
    let status = |s: u16| {
        if got.status == s {
            Ok(())
        } else {
            Err(format!(
                "REST {}: expected {s}, got {} {}",
                got.request, got.status, got.body
            ))
        }
    };
    let parse = |what: &str| -> Result<serde_json::Value, String> {
        serde_json::from_str(&got.body).map_err(|e| format!("{what}: {e}: {}", got.body))
    };
    match expect {
        RestExpect::Status(s) => status(*s),
        RestExpect::Conversation(s, id) => {
            status(*s)?;
            let c: ConversationCreated =
                serde_json::from_value(parse("conversation")?).map_err(|e| e.to_string())?;
            (c.conversation_id == *id).then_some(()).ok_or(format!(
                "conversation_id {} (model {id})",
                c.conversation_id
            ))
        }
        RestExpect::Message(id) => {
            status(201)?;
            let m: MessageCreated =
                serde_json::from_value(parse("message")?).map_err(|e| e.to_string())?;
            (m.message_id == *id && tests::is_timestamp(&m.created_at))
                .then_some(())
                .ok_or(format!(
                    "message_id {} (model {id}), created_at {}",
                    m.message_id, m.created_at
                ))
        }
        RestExpect::History(want) => {
            status(200)?;
            let h: History =
                serde_json::from_value(parse("history")?).map_err(|e| e.to_string())?;
            let got: Vec<(u64, u64, String)> = h
                .messages
                .into_iter()
                .map(|m| (m.message_id, m.sender_id, m.content))
                .collect();
            (got == *want)
                .then_some(())
                .ok_or(format!("history {got:?}, model {want:?}"))
        }
    }
}

/// Picks the outcome that happened, or fails naming what differed.
fn judge(
    step: &Step,
    outcomes: Vec<Outcome>,
    frames: BTreeMap<Slot, Vec<ServerEvent>>,
    rest: Option<Reply>,
) -> Result<Model, TestCaseError> {
    let mut why = Vec::new();
    for o in outcomes {
        let mut want: BTreeMap<Slot, Vec<ServerEvent>> = BTreeMap::new();
        for slot in o.next.open.iter() {
            let mut f = o.frames.get(slot).cloned().unwrap_or_default();
            f.push(o.next.online_friends(slot.user));
            want.insert(*slot, f);
        }
        let rest_ok = rest_matches(&o.rest, &rest);
        if want == frames && rest_ok.is_ok() {
            return Ok(o.next);
        }
        let mut diff = Vec::new();
        for (slot, w) in &want {
            let g = frames.get(slot);
            if g != Some(w) {
                diff.push(format!(
                    "  {slot}: expected {w:?}\n  {slot}:      got {g:?}"
                ));
            }
        }
        if let Err(e) = rest_ok {
            diff.push(format!("  {e}"));
        }
        why.push(diff.join("\n"));
    }
    Err(fail(format!(
        "step {step:?} matches none of its {} allowed outcome(s):\n{}",
        why.len(),
        why.join("\n  -- or --\n")
    )))
}
