"""Rules and delivery shared by WS `send_message`, `typing`, `mark_read` and
their REST counterparts.

G3 and G5 are kept in store_and_push: the message id is taken, the message
stored and its `new_message` enqueued to the participants' connections in one
synchronous step (no await), so ids increase in the order messages are stored
and enqueued, and a message has an id only once it is stored.
"""

from .manager import ConnectionManager
from .protocol import MAX_CONTENT_BYTES, event, timestamp
from .store import Conversation, Message, Store


class RuleError(Exception):
    """A rule of §2/§8 broke; `code` is the contract's error code."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(code)
        self.code = code
        self.message = message


def check_target(store: Store, sender: int, receiver: int) -> None:
    """§8 order: unknown_user, self_target, not_friends.
    G4: only friends can be targeted by messages and typing."""
    if not store.exists(receiver):
        raise RuleError("unknown_user")
    if receiver == sender:
        raise RuleError("self_target")
    if not store.are_friends(sender, receiver):
        raise RuleError("not_friends")


def check_content(content: str) -> None:
    """After the user rules (§8): empty_content, content_too_long (bytes)."""
    if not content:
        raise RuleError("empty_content")
    if len(content) > MAX_CONTENT_BYTES // 4 and len(content.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise RuleError("content_too_long")


def send_ws(store: Store, manager: ConnectionManager, sender: int, receiver: int,
            content: str) -> None:
    """WS send_message, rules checked: stores in the pair's conversation
    (created if absent, without new_conversation, §8) and pushes the WS form
    to both participants."""
    conv, _created = store.get_or_create(sender, receiver)
    store_and_push(store, manager, conv, sender, content, (), rest=False)


def store_and_push(store: Store, manager: ConnectionManager, conv: Conversation,
                   sender: int, content: str, media_ids, rest: bool) -> Message:
    receiver = conv.other(sender)
    # G3: the id is taken in the same synchronous step as the store and the
    # enqueue below, so per conversation ids increase in enqueue order.
    mid = store.next_message_id()
    created_at = timestamp()
    m = Message(mid, sender, content, created_at, list(media_ids))
    # G5: the message is stored before anyone can see its id; history does
    # not depend on any connection's queue (a 4010 close loses nothing).
    store.append(conv, m)
    manager.metrics.messages_stored += 1
    if rest:
        frame = event("new_message", message_id=mid, sender_id=sender,
                      conversation_id=conv.id, content=content,
                      created_at=created_at, media_ids=m.media_ids)
        # REST form: to the receiver only.
        manager.send_personal_message(receiver, frame, "new_message")
    else:
        frame = event("new_message", message_id=mid, sender_id=sender,
                      conversation_id=conv.id, content=content,
                      receiver_id=receiver, timestamp=created_at)
        # G3: enqueued before this function returns, with no await since the
        # id was taken. G4: only the two participants' connections.
        manager.deliver_message(frame, sender, receiver)
    return m
