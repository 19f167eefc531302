"""The wire contract (PROTOCOL.md §2, §3, §8): error codes, close codes,
server events, the timestamp format, and the decoding of client frames with
the contract's error precedence.
"""

import json
from datetime import datetime, timezone
from typing import Any

MAX_ID = 2**63 - 1
MAX_U64 = 2**64 - 1
MAX_CONTENT_BYTES = 4096
MAX_MEDIA_IDS = 10

# WebSocket close codes (§1, §5, §8).
GOING_AWAY = 1001
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009
INVALID_TOKEN = 4008
SLOW_CONSUMER = 4010
TOO_MANY_CONNECTIONS = 4011

CLOSE_REASONS = {
    GOING_AWAY: "server shutting down",
    MESSAGE_TOO_BIG: "message too big",
    INVALID_PAYLOAD: "text frame is not valid UTF-8",
    INVALID_TOKEN: "invalid token",
    SLOW_CONSUMER: "slow consumer",
    TOO_MANY_CONNECTIONS: "too many connections",
}

# Error codes and their default messages (the reference's texts).
DESCRIBE = {
    "invalid_json": "the frame is not a JSON object",
    "unknown_type": 'missing, non-string or unknown "type"',
    "invalid_field": "a field is missing, of the wrong type, or out of range",
    "unknown_user": "no such user",
    "self_target": "you cannot target yourself",
    "not_friends": "you are not friends with that user",
    "unknown_conversation": "no such conversation",
    "not_participant": "you are not a participant of that conversation",
    "empty_content": "content is empty",
    "content_too_long": "content is longer than 4096 bytes",
    "binary_unsupported": "binary frames are not supported",
    "unauthorized": "missing or unknown token",
    "forbidden": "not allowed",
    "not_found": "not found",
    "conflict": "conflict",
    "payload_too_large": "body larger than 64 KiB",
    "invalid_body": "the body is not valid for this endpoint",
}
ERROR_CODES = tuple(DESCRIBE)

EVENT_TYPES = (
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
)


def dumps(obj: Any) -> str:
    """Compact JSON, UTF-8 kept as is (like serde_json)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def event(kind: str, **fields: Any) -> bytes:
    """A server event, serialized once; the bytes are shared by every recipient."""
    return dumps({"type": kind, **fields}).encode("utf-8")


def timestamp() -> str:
    """UTC, ISO 8601 without offset, microseconds: 2024-01-01T12:00:00.000000."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def is_id(v: Any) -> bool:
    """A JSON integer in 1..=2^63-1 (not a bool, not a float)."""
    return type(v) is int and 1 <= v <= MAX_ID


def is_u64(v: Any) -> bool:
    return type(v) is int and 0 <= v <= MAX_U64


def is_text(v: Any) -> bool:
    """A JSON string that is valid Unicode (no lone surrogate from a \\u escape)."""
    if not isinstance(v, str):
        return False
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes) -> Any:
    """Strict JSON: NaN/Infinity are rejected; deep nesting is an error."""
    return json.loads(text, parse_constant=_no_constants)


class DecodeError(Exception):
    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


# Client message types and their fields: ("id" | "str").
CLIENT_TYPES: dict[str, tuple[tuple[str, str], ...]] = {
    "send_message": (("receiver_id", "id"), ("content", "str")),
    "typing": (("receiver_id", "id"),),
    "stop_typing": (("receiver_id", "id"),),
    "mark_read": (("conversation_id", "id"),),
    "get_online_friends": (),
}


def decode_client(text: str) -> tuple[str, dict]:
    """Decodes one text frame into (type, fields), or raises DecodeError with
    the code §8's precedence asks for: not a JSON object -> invalid_json;
    missing, non-string or unknown type -> unknown_type; a field missing, of
    the wrong type, or an id out of 1..=2^63-1 -> invalid_field. Unknown
    fields are ignored."""
    try:
        obj = loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("invalid_json", DESCRIBE["invalid_json"]) from None
    if not isinstance(obj, dict):
        raise DecodeError("invalid_json", DESCRIBE["invalid_json"])
    if "type" not in obj:
        raise DecodeError("unknown_type", 'missing "type"')
    kind = obj["type"]
    if not isinstance(kind, str):
        raise DecodeError("unknown_type", '"type" is not a string')
    spec = CLIENT_TYPES.get(kind)
    if spec is None:
        raise DecodeError("unknown_type", f"unknown type {dumps(kind[:64])}")
    fields = {}
    for name, shape in spec:
        if name not in obj:
            raise DecodeError("invalid_field", f"missing field `{name}`")
        v = obj[name]
        if shape == "id" and not is_id(v):
            raise DecodeError("invalid_field", f"`{name}` must be an integer in 1..=2^63-1")
        if shape == "str" and not is_text(v):
            raise DecodeError("invalid_field", f"`{name}` must be a string")
        fields[name] = v
    return kind, fields
