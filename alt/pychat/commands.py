"""The client -> server messages (§2): decode one text frame and run it.

Everything here is synchronous: a command's checks, its state change and the
enqueueing of the events it causes happen with no await in between (see
manager.py for why that keeps G1-G3). A frame that breaks a rule gets one
error frame on its own connection, and nothing else happens.
"""

from . import messaging
from .conn import Conn
from .messaging import RuleError
from .protocol import DESCRIBE, DecodeError, decode_client, event
from .state import AppState


def error(state: AppState, conn: Conn, code: str, message: str = "") -> None:
    """An error frame on this connection only; the connection stays open."""
    state.metrics.error_frames[code] += 1
    frame = event("error", code=code, message=message or DESCRIBE[code])
    state.manager.send_to_connection(conn, frame, "error")


def dispatch(state: AppState, conn: Conn, text: str) -> None:
    try:
        kind, f = decode_client(text)
        if kind == "send_message":
            send_message(state, conn, f["receiver_id"], f["content"])
        elif kind == "typing":
            typing(state, conn, f["receiver_id"], True)
        elif kind == "stop_typing":
            typing(state, conn, f["receiver_id"], False)
        elif kind == "mark_read":
            mark_read(state, conn, f["conversation_id"])
        else:  # get_online_friends (G2 is kept in manager.online_friends)
            state.manager.online_friends(conn)
    except DecodeError as e:
        error(state, conn, e.code, e.detail)
    except RuleError as e:
        error(state, conn, e.code, e.message)


def send_message(state: AppState, conn: Conn, receiver: int, content: str) -> None:
    messaging.check_target(state.store, conn.user, receiver)
    messaging.check_content(content)
    messaging.send_ws(state.store, state.manager, conn.user, receiver, content)


def typing(state: AppState, conn: Conn, receiver: int, is_typing: bool) -> None:
    messaging.check_target(state.store, conn.user, receiver)
    state.manager.typing(conn.user, receiver, is_typing)


def mark_read(state: AppState, conn: Conn, conversation_id: int) -> None:
    """Marks the other participant's messages read and sends messages_read to
    every connection of the other participant (always, even if nothing was
    unread). G4: only to the other participant of a conversation the caller
    is in."""
    conv = state.store.conversation(conversation_id)
    if conv is None:
        raise RuleError("unknown_conversation")
    if not conv.has(conn.user):
        raise RuleError("not_participant")
    conv.mark_read(conn.user)
    frame = event("messages_read", conversation_id=conversation_id, user_id=conn.user)
    state.manager.send_personal_message(conv.other(conn.user), frame, "messages_read")
