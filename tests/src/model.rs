//! A model of §8's error precedence for generated client frames, used by
//! the malformed-input property tests: [`frame`] generates a frame shape,
//! [`Frame::render`] turns it into text for concrete users, and
//! [`Frame::expect`] says what the sending connection must get.

use proptest::prelude::*;
use serde_json::{json, Value};
use server::protocol::ErrorCode;

const MAX_ID: u64 = i64::MAX as u64;

/// The concrete ids a frame may target: the sender, a friend, a stranger,
/// a conversation of the sender and one of others.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub me: u64,
    pub friend: u64,
    pub stranger: u64,
    pub own_conversation: u64,
    pub others_conversation: u64,
}

/// What an id-valued field holds.
#[derive(Debug, Clone)]
pub enum IdVal {
    Missing,
    Friend,
    Me,
    Stranger,
    Unknown,
    Raw(Value),
    Nested(usize),
}

/// What `conversation_id` holds.
#[derive(Debug, Clone)]
pub enum ConvVal {
    Missing,
    Mine,
    Others,
    Unknown,
    Raw(Value),
}

#[derive(Debug, Clone)]
pub enum TypeVal {
    Missing,
    Known(&'static str),
    Other(Value),
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: TypeVal,
    pub receiver: IdVal,
    pub conversation: ConvVal,
    pub content: Option<Value>,
    /// An unknown field nested this deep (ignored by the contract).
    pub extra: Option<usize>,
}

fn bad_ids() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(0)),
        Just(json!(-1)),
        Just(json!(i64::MIN)),
        Just(json!(9_223_372_036_854_775_808u64)),
        Just(json!(u64::MAX)),
        Just(json!(1.5)),
        Just(json!(1e300)),
        Just(json!("1")),
        Just(Value::Null),
        Just(json!(true)),
        Just(json!([1])),
        Just(json!({"id": 1})),
    ]
}

fn id_val() -> impl Strategy<Value = IdVal> {
    prop_oneof![
        Just(IdVal::Missing),
        Just(IdVal::Friend),
        Just(IdVal::Me),
        Just(IdVal::Stranger),
        Just(IdVal::Unknown),
        bad_ids().prop_map(IdVal::Raw),
        (1usize..60).prop_map(IdVal::Nested),
    ]
}

fn conv_val() -> impl Strategy<Value = ConvVal> {
    prop_oneof![
        Just(ConvVal::Missing),
        Just(ConvVal::Mine),
        Just(ConvVal::Others),
        Just(ConvVal::Unknown),
        bad_ids().prop_map(ConvVal::Raw),
    ]
}

fn type_val() -> impl Strategy<Value = TypeVal> {
    prop_oneof![
        Just(TypeVal::Missing),
        prop::sample::select(vec![
            "send_message",
            "typing",
            "stop_typing",
            "mark_read",
            "get_online_friends"
        ])
        .prop_map(TypeVal::Known),
        prop_oneof![
            Just(json!("dance")),
            Just(json!("SEND_MESSAGE")),
            Just(json!("new_message")),
            Just(json!("")),
            Just(json!(3)),
            Just(Value::Null),
            Just(json!(["typing"])),
            Just(json!({"type": "typing"})),
        ]
        .prop_map(TypeVal::Other),
    ]
}

fn content_val() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!(""))),
        Just(Some(json!("x".repeat(4096)))),
        Just(Some(json!("x".repeat(4097)))),
        Just(Some(json!("é".repeat(2049)))),
        Just(Some(json!(7))),
        Just(Some(Value::Null)),
        Just(Some(json!(["hi"]))),
        "\\PC{1,40}".prop_map(|s| Some(json!(s))),
    ]
}

pub fn frame() -> impl Strategy<Value = Frame> {
    (
        type_val(),
        id_val(),
        conv_val(),
        content_val(),
        prop::option::of(0usize..60),
    )
        .prop_map(|(kind, receiver, conversation, content, extra)| Frame {
            kind,
            receiver,
            conversation,
            content,
            extra,
        })
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |v, _| json!({ "n": v }))
}

/// What the model says the fuzzed connection gets before the round trip's
/// reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Expect {
    Error(ErrorCode),
    /// `get_online_friends`: its own reply.
    Reply,
    /// `send_message`: the echo.
    Echo,
    /// `typing`, `stop_typing`, `mark_read`: nothing to the sender.
    Nothing,
}

impl Frame {
    pub fn render(&self, t: &Targets) -> (String, Expect) {
        let mut obj = serde_json::Map::new();
        match &self.kind {
            TypeVal::Missing => {}
            TypeVal::Known(t) => {
                obj.insert("type".into(), json!(t));
            }
            TypeVal::Other(v) => {
                obj.insert("type".into(), v.clone());
            }
        }
        let receiver = match &self.receiver {
            IdVal::Missing => None,
            IdVal::Friend => Some(json!(t.friend)),
            IdVal::Me => Some(json!(t.me)),
            IdVal::Stranger => Some(json!(t.stranger)),
            IdVal::Unknown => Some(json!(MAX_ID)),
            IdVal::Raw(v) => Some(v.clone()),
            IdVal::Nested(d) => Some(nested(*d)),
        };
        if let Some(r) = receiver {
            obj.insert("receiver_id".into(), r);
        }
        let conversation = match &self.conversation {
            ConvVal::Missing => None,
            ConvVal::Mine => Some(json!(t.own_conversation)),
            ConvVal::Others => Some(json!(t.others_conversation)),
            ConvVal::Unknown => Some(json!(MAX_ID)),
            ConvVal::Raw(v) => Some(v.clone()),
        };
        if let Some(c) = conversation {
            obj.insert("conversation_id".into(), c);
        }
        if let Some(c) = &self.content {
            obj.insert("content".into(), c.clone());
        }
        if let Some(d) = self.extra {
            obj.insert("zz_extra".into(), nested(d));
        }
        (Value::Object(obj).to_string(), self.expect())
    }

    /// §8 precedence.
    pub fn expect(&self) -> Expect {
        use ErrorCode::*;
        let kind = match &self.kind {
            TypeVal::Known(t) => *t,
            _ => return Expect::Error(UnknownType),
        };
        let receiver_shape_ok = matches!(
            self.receiver,
            IdVal::Friend | IdVal::Me | IdVal::Stranger | IdVal::Unknown
        );
        let conversation_shape_ok = matches!(
            self.conversation,
            ConvVal::Mine | ConvVal::Others | ConvVal::Unknown
        );
        let content = match &self.content {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        let receiver_rules = || match self.receiver {
            IdVal::Unknown => Some(UnknownUser),
            IdVal::Me => Some(SelfTarget),
            IdVal::Stranger => Some(NotFriends),
            _ => None,
        };
        match kind {
            "get_online_friends" => Expect::Reply,
            "typing" | "stop_typing" => {
                if !receiver_shape_ok {
                    Expect::Error(InvalidField)
                } else if let Some(code) = receiver_rules() {
                    Expect::Error(code)
                } else {
                    Expect::Nothing
                }
            }
            "send_message" => {
                let Some(content) = content.filter(|_| receiver_shape_ok) else {
                    return Expect::Error(InvalidField);
                };
                if let Some(code) = receiver_rules() {
                    Expect::Error(code)
                } else if content.is_empty() {
                    Expect::Error(EmptyContent)
                } else if content.len() > 4096 {
                    Expect::Error(ContentTooLong)
                } else {
                    Expect::Echo
                }
            }
            "mark_read" => {
                if !conversation_shape_ok {
                    Expect::Error(InvalidField)
                } else {
                    match self.conversation {
                        ConvVal::Unknown => Expect::Error(UnknownConversation),
                        ConvVal::Others => Expect::Error(NotParticipant),
                        _ => Expect::Nothing,
                    }
                }
            }
            other => unreachable!("known types only: {other}"),
        }
    }
}
