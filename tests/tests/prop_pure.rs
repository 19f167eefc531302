//! Properties of pure code (no sockets): every client message and server
//! event round-trips through JSON; `decode_client` never panics and gives
//! the code of §8's precedence (the model in `tests::model`); scenario files
//! round-trip through TOML; `Recorder::merge` is associative.
//!
//! Case counts are modest (these run in the default test command);
//! `PROPTEST_CASES` raises them. A failure prints the shrunk input, and
//! proptest saves its seed under `tests/proptest-regressions/` only if that
//! directory exists (it does not: nothing is written to the repository).

use loadgen::metrics::{LatencyKind, Recorder};
use loadgen::scenario::{CountRange, DurationRange, Friends, Scenario, SizeDistribution};
use proptest::prelude::*;
use proptest::test_runner::Config as RunnerConfig;
use server::protocol::{
    decode_client, ClientMessage, ErrorCode, Id, NewMessage, ServerEvent, Status, MAX_ID,
};
use std::time::Duration;
use tests::model::{frame, Expect, Targets};

fn config(cases: u32) -> RunnerConfig {
    let mut c = RunnerConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = cases;
    }
    c.failure_persistence = None;
    c
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![1..=16u64, 1..=MAX_ID].prop_map(|v| Id::new(v).expect("in range"))
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        (id(), any::<String>()).prop_map(|(receiver_id, content)| ClientMessage::SendMessage {
            receiver_id,
            content
        }),
        id().prop_map(|receiver_id| ClientMessage::Typing { receiver_id }),
        id().prop_map(|receiver_id| ClientMessage::StopTyping { receiver_id }),
        id().prop_map(|conversation_id| ClientMessage::MarkRead { conversation_id }),
        Just(ClientMessage::GetOnlineFriends {}),
    ]
}

fn new_message() -> impl Strategy<Value = NewMessage> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<String>(),
        any::<bool>(),
        any::<u64>(),
        "[0-9T:.-]{0,26}",
        prop::collection::vec(any::<u64>(), 0..10),
    )
        .prop_map(
            |(message_id, sender_id, conversation_id, content, ws, other, ts, media)| NewMessage {
                message_id,
                sender_id,
                conversation_id,
                content,
                receiver_id: ws.then_some(other),
                timestamp: ws.then(|| ts.clone()),
                created_at: (!ws).then(|| ts.clone()),
                media_ids: (!ws).then_some(media),
            },
        )
}

fn server_event() -> impl Strategy<Value = ServerEvent> {
    let code = prop::sample::select(ErrorCode::ALL.to_vec());
    prop_oneof![
        (any::<u64>(), any::<bool>()).prop_map(|(user_id, on)| ServerEvent::FriendStatusChange {
            user_id,
            status: if on { Status::Online } else { Status::Offline },
        }),
        (any::<u64>(), any::<bool>())
            .prop_map(|(user_id, is_typing)| ServerEvent::UserTyping { user_id, is_typing }),
        prop::collection::vec(any::<u64>(), 0..20)
            .prop_map(|friends| ServerEvent::OnlineFriends { friends }),
        new_message().prop_map(ServerEvent::NewMessage),
        any::<u64>().prop_map(|message_id| ServerEvent::DeleteMessage { message_id }),
        (any::<u64>(), any::<u64>()).prop_map(|(conversation_id, user_id)| {
            ServerEvent::MessagesRead {
                conversation_id,
                user_id,
            }
        }),
        (any::<u64>(), any::<u64>()).prop_map(|(conversation_id, other_user_id)| {
            ServerEvent::NewConversation {
                conversation_id,
                other_user_id,
            }
        }),
        any::<u64>()
            .prop_map(|conversation_id| ServerEvent::ConversationDeleted { conversation_id }),
        (any::<u64>(), any::<String>()).prop_map(|(sender_id, sender_username)| {
            ServerEvent::NewFriendRequest {
                sender_id,
                sender_username,
            }
        }),
        (any::<u64>(), any::<String>()).prop_map(|(friend_id, friend_username)| {
            ServerEvent::FriendRequestAccepted {
                friend_id,
                friend_username,
            }
        }),
        (code, any::<String>()).prop_map(|(code, message)| ServerEvent::Error { code, message }),
    ]
}

/// JSON objects that look like server events: a `type` (known or not) and
/// some of the fields events use, each with a value that may or may not
/// have the right JSON type.
fn event_like_object() -> impl Strategy<Value = String> {
    const TYPES: &[&str] = &[
        "friend_status_change",
        "user_typing",
        "online_friends",
        "new_message",
        "delete_message",
        "messages_read",
        "new_conversation",
        "conversation_deleted",
        "new_friend_request",
        "friend_request_accepted",
        "error",
        "nope",
    ];
    const FIELDS: &[&str] = &[
        "user_id",
        "status",
        "is_typing",
        "friends",
        "message_id",
        "sender_id",
        "conversation_id",
        "content",
        "receiver_id",
        "timestamp",
        "created_at",
        "media_ids",
        "other_user_id",
        "sender_username",
        "friend_id",
        "friend_username",
        "code",
        "message",
        "extra",
    ];
    let value = prop_oneof![
        (0u64..20).prop_map(|n| n.to_string()),
        Just("-1".to_string()),
        Just("1.5".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just(r#""online""#.to_string()),
        Just(r#""offline""#.to_string()),
        Just(r#""not_friends""#.to_string()),
        Just(r#""h\u00e9\"llo""#.to_string()),
        Just("[1,2]".to_string()),
        Just(r#"["a"]"#.to_string()),
        Just(r#"{"a":1}"#.to_string()),
    ];
    (
        prop::sample::select(TYPES),
        prop::collection::vec((prop::sample::select(FIELDS), value), 0..8),
    )
        .prop_map(|(kind, fields)| {
            let mut out = format!(r#"{{"type":"{kind}""#);
            for (name, value) in fields {
                out.push_str(&format!(r#","{name}":{value}"#));
            }
            out.push('}');
            out
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn client_messages_round_trip(msg in client_message()) {
        let text = serde_json::to_string(&msg).expect("serializes");
        prop_assert_eq!(decode_client(&text), Ok(msg.clone()));
        prop_assert_eq!(serde_json::from_str::<ClientMessage>(&text).ok(), Some(msg));
    }

    #[test]
    fn server_events_round_trip(event in server_event()) {
        let text = event.to_json();
        let back: ServerEvent = serde_json::from_str(&text).expect("decodes");
        prop_assert_eq!(&back, &event);
        // loadgen's one-pass decoder gives the same event.
        prop_assert_eq!(loadgen::driver::event::decode(&text).ok(), Some(event));
    }

    /// loadgen's one-pass decoder accepts and refuses exactly what serde's
    /// own decoding of `ServerEvent` does, on objects built from every
    /// event's field names with values of every JSON type.
    #[test]
    fn fast_decode_agrees_with_serde(text in event_like_object()) {
        prop_assert_eq!(
            loadgen::driver::event::decode(&text).ok(),
            serde_json::from_str::<ServerEvent>(&text).ok(),
            "{}", text
        );
    }

    /// Arbitrary text never panics the decoder, and only the three decode
    /// codes can come out of it (the rules come later, in the commands).
    #[test]
    fn arbitrary_text_decodes_or_gets_a_decode_code(
        text in prop_oneof![
            any::<String>(),
            prop::collection::vec(any::<u8>(), 0..256)
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            "[{}\\[\\]\":,0-9a-z_ .-]{0,120}",
        ]
    ) {
        if let Err(e) = decode_client(&text) {
            prop_assert!(
                matches!(e.code, ErrorCode::InvalidJson | ErrorCode::UnknownType | ErrorCode::InvalidField),
                "{text:?} gave {:?}", e.code
            );
        }
    }

    /// Any JSON that is not an object is `invalid_json`.
    #[test]
    fn json_that_is_not_an_object_is_invalid_json(
        value in prop_oneof![
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
            any::<bool>().prop_map(serde_json::Value::from),
            Just(serde_json::Value::Null),
            prop::collection::vec(any::<u32>(), 0..5).prop_map(serde_json::Value::from),
        ]
    ) {
        let text = value.to_string();
        prop_assert_eq!(decode_client(&text).map_err(|e| e.code), Err(ErrorCode::InvalidJson));
    }

    /// §8's precedence on structured frames: the decode part of the model
    /// (`invalid_json`, `unknown_type`, `invalid_field`) is decided by
    /// `decode_client` alone; every other expectation decodes.
    #[test]
    fn structured_frames_get_the_precedence_code(f in frame()) {
        let targets = Targets { me: 1, friend: 2, stranger: 3, own_conversation: 4, others_conversation: 5 };
        let (text, expect) = f.render(&targets);
        let got = decode_client(&text).map_err(|e| e.code);
        match expect {
            Expect::Error(code @ (ErrorCode::InvalidJson | ErrorCode::UnknownType | ErrorCode::InvalidField)) => {
                prop_assert_eq!(got, Err(code), "{}", text);
            }
            _ => prop_assert!(got.is_ok(), "{} gave {:?}", text, got),
        }
    }
}

// ---------------------------------------------------------------------------
// Scenario files.

fn duration_ms(max: u64) -> impl Strategy<Value = Duration> {
    (0..max).prop_map(Duration::from_millis)
}

fn count_range() -> impl Strategy<Value = CountRange> {
    (1..8u32, 0..4u32).prop_map(|(min, extra)| CountRange {
        min,
        max: min + extra,
    })
}

fn duration_range() -> impl Strategy<Value = DurationRange> {
    (duration_ms(5000), duration_ms(5000)).prop_map(|(a, b)| DurationRange { min: a, max: a + b })
}

fn scenario() -> impl Strategy<Value = Scenario> {
    let base = Scenario::load("smoke").expect("the smoke scenario ships");
    (
        (
            "[a-z][a-z0-9-]{0,12}",
            "[ -~]{0,40}",
            // Every u64, with the edges of TOML's i64 integers drawn often
            // (a larger seed is written as a string).
            prop_oneof![
                any::<u64>(),
                Just(i64::MAX as u64),
                Just(i64::MAX as u64 + 1),
                Just(u64::MAX),
                0..4u64,
            ],
            1..100_000u32,
        ),
        (
            count_range(),
            duration_ms(600_000),
            duration_ms(10_000),
            0..10u32,
        ),
        (
            prop_oneof![
                (0..50u32).prop_map(|degree| Friends::Uniform { degree }),
                (1..5u32, 5..500u32, 1.1..3.5f64)
                    .prop_map(|(min, max, exponent)| Friends::PowerLaw { min, max, exponent }),
            ],
            prop::collection::vec(0.0..10.0f64, 10),
            (0.0..=1.0f64, duration_range()),
        ),
        (
            64..256u32,
            0..3840u32,
            any::<bool>(),
            prop::sample::subsequence(
                vec![
                    server::Fault::NoEcho,
                    server::Fault::DropDelivery,
                    server::Fault::TypingLeak,
                ],
                0..3,
            ),
        ),
    )
        .prop_map(
            move |(top, conns, (friends, rates, (churn_all, pause)), (lo, extra, log, faults))| {
                let mut s = base.clone();
                (s.name, s.description, s.seed, s.users) = top;
                (s.connections_per_user, s.duration, s.ramp_up, s.bad_tokens) = conns;
                s.friends = friends;
                for (slot, r) in s.behaviour.rates_mut().into_iter().zip(rates) {
                    *slot = r;
                }
                s.behaviour.churn_all_devices = churn_all;
                s.behaviour.typing_pause = pause;
                s.content.min_bytes = lo;
                s.content.max_bytes = lo + extra;
                s.content.distribution = if log {
                    SizeDistribution::LogUniform
                } else {
                    SizeDistribution::Uniform
                };
                s.faults = faults;
                s
            },
        )
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn scenarios_round_trip_through_toml(s in scenario()) {
        let text = s.to_toml().expect("a scenario serializes");
        let back = Scenario::parse(&text, "unused").unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(back, s, "{}", text);
    }
}

// ---------------------------------------------------------------------------
// Recorder::merge.

/// What a recorder holds, as a report would read it.
fn summary(r: &Recorder) -> Vec<String> {
    let mut out = Vec::new();
    for kind in LatencyKind::ALL {
        for h in [r.latency(kind), r.latency_actual(kind)]
            .into_iter()
            .flatten()
        {
            let q: Vec<u64> = [0.0, 0.5, 0.9, 0.99, 0.999, 1.0]
                .iter()
                .map(|q| h.value_at_quantile(*q))
                .collect();
            out.push(format!(
                "{} n={} min={} max={} q={q:?}",
                kind.as_str(),
                h.len(),
                h.min(),
                h.max()
            ));
        }
    }
    out.push(format!(
        "sent={} delivered={}",
        r.messages_sent, r.messages_delivered
    ));
    out.push(format!("errors={:?} counts={:?}", r.errors(), r.counts()));
    out
}

fn recorder() -> impl Strategy<Value = Recorder> {
    let sample = (
        0..LatencyKind::ALL.len(),
        0..10_000_000u64,
        0..10_000_000u64,
    );
    (
        prop::collection::vec(sample, 0..200),
        prop::collection::vec(0..5_000_000_000u64, 0..20),
        prop::collection::vec((prop::sample::select(vec!["a", "b", "c"]), 1..5u64), 0..6),
        0..1000u64,
    )
        .prop_map(|(samples, lags, counts, sent)| {
            let mut r = Recorder::new();
            for (k, a, b) in samples {
                r.record(LatencyKind::ALL[k], a, b);
            }
            for l in lags {
                r.record_lag(l);
            }
            for (name, n) in counts {
                r.add_count(name, n);
                r.add_error(name, n);
            }
            r.messages_sent = sent;
            r
        })
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn recorder_merge_is_associative(a in recorder(), b in recorder(), c in recorder()) {
        let mut left = a.clone();
        left.merge(&b);
        left.merge(&c);
        let mut bc = b.clone();
        bc.merge(&c);
        let mut right = a.clone();
        right.merge(&bc);
        prop_assert_eq!(summary(&left), summary(&right));
        // And merging nothing changes nothing.
        let mut same = a.clone();
        same.merge(&Recorder::new());
        prop_assert_eq!(summary(&same), summary(&a));
    }
}
