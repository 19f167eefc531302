//! Typed decode of client frames, classifying only on failure (§8 precedence).
//!
//! The hot path is one `serde_json::from_str` straight into
//! [`ClientMessage`]. Only when that fails do we look at the frame again to
//! pick the error code the contract's precedence asks for:
//! not a JSON object → `invalid_json`; missing, non-string or unknown `type`
//! → `unknown_type`; anything else → `invalid_field`.

use super::{ClientMessage, ErrorCode};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct DecodeError {
    /// The contract's error code.
    pub code: ErrorCode,
    /// A human explanation (the serde message where there is one).
    pub detail: String,
}

/// The message types a client may send.
const KNOWN_TYPES: [&str; 5] = [
    "send_message",
    "typing",
    "stop_typing",
    "mark_read",
    "get_online_friends",
];

/// Decodes one text frame.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    serde_json::from_str::<ClientMessage>(text).map_err(|err| classify(text, err))
}

/// Only the `type` field of an object, ignoring every other value without
/// building it (`IgnoredAny`), so classification stays cheap on big frames.
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type", default)]
    kind: Option<serde_json::Value>,
}

fn classify(text: &str, err: serde_json::Error) -> DecodeError {
    // Is it a JSON object at all? (serde_json's recursion limit turns deeply
    // nested input into an error here rather than a stack overflow.)
    let probe: Result<BTreeMap<String, serde::de::IgnoredAny>, _> = serde_json::from_str(text);
    if probe.is_err() {
        return DecodeError {
            code: ErrorCode::InvalidJson,
            detail: "the frame is not a JSON object".to_owned(),
        };
    }
    let kind = serde_json::from_str::<TypeProbe>(text)
        .ok()
        .and_then(|p| p.kind);
    match kind {
        Some(serde_json::Value::String(t)) if KNOWN_TYPES.contains(&t.as_str()) => DecodeError {
            code: ErrorCode::InvalidField,
            detail: err.to_string(),
        },
        Some(serde_json::Value::String(t)) => DecodeError {
            code: ErrorCode::UnknownType,
            detail: format!("unknown type {:?}", truncate(&t, 64)),
        },
        Some(_) => DecodeError {
            code: ErrorCode::UnknownType,
            detail: "\"type\" is not a string".to_owned(),
        },
        None => DecodeError {
            code: ErrorCode::UnknownType,
            detail: "missing \"type\"".to_owned(),
        },
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Id;

    fn code(text: &str) -> ErrorCode {
        decode_client(text).unwrap_err().code
    }

    #[test]
    fn decodes_every_type() {
        assert_eq!(
            decode_client(r#"{"type":"send_message","receiver_id":2,"content":"hi","x":1}"#),
            Ok(ClientMessage::SendMessage {
                receiver_id: Id(2),
                content: "hi".into()
            })
        );
        assert_eq!(
            decode_client(r#"{"type":"get_online_friends","extra":[1,2]}"#),
            Ok(ClientMessage::GetOnlineFriends {})
        );
        assert!(decode_client(r#"{"type":"mark_read","conversation_id":9}"#).is_ok());
        assert!(decode_client(r#"{"type":"typing","receiver_id":9}"#).is_ok());
        assert!(decode_client(r#"{"type":"stop_typing","receiver_id":9}"#).is_ok());
    }

    #[test]
    fn precedence() {
        assert_eq!(code("nope"), ErrorCode::InvalidJson);
        assert_eq!(code("[1,2]"), ErrorCode::InvalidJson);
        assert_eq!(code("\"typing\""), ErrorCode::InvalidJson);
        assert_eq!(code(&"[".repeat(10_000)), ErrorCode::InvalidJson);
        assert_eq!(code("{}"), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":5}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"typing"}"#), ErrorCode::InvalidField);
        assert_eq!(
            code(r#"{"type":"typing","receiver_id":0}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"typing","receiver_id":-3}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"typing","receiver_id":9223372036854775808}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"typing","receiver_id":1e3}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"typing","receiver_id":"4"}"#),
            ErrorCode::InvalidField
        );
        assert_eq!(
            code(r#"{"type":"send_message","receiver_id":4,"content":7}"#),
            ErrorCode::InvalidField
        );
        assert!(decode_client(r#"{"type":"typing","receiver_id":9223372036854775807}"#).is_ok());
    }
}
