"""The ConnectionManager (PROTOCOL.md §7): every live connection, each
user's presence, and who is typing to whom.

# Why there are no locks

The Rust reference shards this state over mutexes. Here everything runs on
one asyncio event loop, and every method below is synchronous: it reads and
changes the state and enqueues (Conn.push, which never awaits) every event
the change causes, with no `await` in between. No other handler can run in
the middle of a method, so each state change and the enqueueing of its events
form one atomic step, and the order of events on every connection's queue is
the order of the state changes. Each connection's writer task sends its queue
in FIFO order (ws.py), so the wire order is that order too.
"""

from .conn import Conn
from .metrics import Metrics
from .protocol import event
from .store import Store


class UserEntry:
    __slots__ = ("conns", "typing_to")

    def __init__(self) -> None:
        self.conns: list[Conn] = []  # non-empty while the entry exists
        self.typing_to: list[int] = []  # users this one is marked as typing to


class ConnectionManager:
    def __init__(self, store: Store, metrics: Metrics, max_per_user: int):
        self.store = store
        self.metrics = metrics
        self.max_per_user = max(1, max_per_user)
        self.users: dict[int, UserEntry] = {}

    def _push_to_users(self, users, frame: bytes) -> int:
        sent = 0
        for u in users:
            entry = self.users.get(u)
            if entry is not None:
                for c in entry.conns:
                    sent += c.push(frame)
        return sent

    # ---- the original operations (§7) -------------------------------------

    def connect(self, conn: Conn) -> bool:
        """`connect(websocket, user_id)`. False if the user already holds the
        maximum number of connections (the caller closes with 4011)."""
        user = conn.user
        entry = self.users.get(user)
        if entry is not None and len(entry.conns) >= self.max_per_user:
            return False
        was_offline = entry is None
        if was_offline:
            entry = self.users[user] = UserEntry()
        entry.conns.append(conn)
        self.metrics.open_connections += 1
        if was_offline:
            self.metrics.users_online += 1
            # G1: the offline->online transition and the enqueue of "online"
            # to every connection of every online friend happen in this one
            # synchronous step (no await), so a later "offline" of this user
            # can only be enqueued after this "online", on every queue.
            frame = event("friend_status_change", user_id=user, status="online")
            sent = self._push_to_users(self.store.friends_of(user), frame)
            self.metrics.sent("friend_status_change", sent)
        return True

    def disconnect(self, conn: Conn) -> None:
        """`disconnect(websocket, user_id)`. The last connection makes the user
        offline: friends get "offline" and every user it was marked as typing
        to gets is_typing:false. Removing an unknown connection is a no-op."""
        user = conn.user
        entry = self.users.get(user)
        if entry is None or conn not in entry.conns:
            return
        entry.conns.remove(conn)
        self.metrics.open_connections -= 1
        if entry.conns:
            return
        # G1: this was the last connection; the entry goes away and "offline"
        # is enqueued in the same synchronous step, so "offline" is never sent
        # while the user has an open connection (a new connection would have
        # to run connect(), which cannot interleave with this method), and it
        # lands after every earlier "online" on every queue.
        del self.users[user]
        self.metrics.users_online -= 1
        frame = event("friend_status_change", user_id=user, status="offline")
        sent = self._push_to_users(self.store.friends_of(user), frame)
        self.metrics.sent("friend_status_change", sent)
        # Extension (§1): no typing indicator outlives its typer.
        frame = event("user_typing", user_id=user, is_typing=False)
        sent = self._push_to_users(entry.typing_to, frame)
        self.metrics.sent("user_typing", sent)

    def send_personal_message(self, user_id: int, message: bytes, kind: str) -> int:
        """`send_personal_message(user_id, message)`: every connection of one user."""
        sent = self._push_to_users((user_id,), message)
        self.metrics.sent(kind, sent)
        return sent

    def send_to_multiple(self, user_ids, message: bytes, kind: str,
                         exclude_user_id=None) -> int:
        """`send_to_multiple(user_ids, message, exclude_user_id)`."""
        sent = self._push_to_users((u for u in user_ids if u != exclude_user_id), message)
        self.metrics.sent(kind, sent)
        return sent

    def send_to_conversation(self, message: bytes, user1_id: int, user2_id: int,
                             kind: str) -> int:
        """`send_to_conversation(message, user1_id, user2_id)`: both participants."""
        sent = self._push_to_users((user1_id, user2_id), message)
        self.metrics.sent(kind, sent)
        return sent

    def is_user_online(self, user_id: int) -> bool:
        return user_id in self.users

    def get_online_users(self) -> list[int]:
        return sorted(self.users)

    def all_connections(self) -> list[Conn]:
        return [c for e in self.users.values() for c in e.conns]

    # ---- commands ---------------------------------------------------------

    def online_friends(self, conn: Conn) -> None:
        """Replies `online_friends` on `conn` only.

        G2: the reply is computed from the presence state and enqueued in one
        synchronous step. Every transition enqueues its event in its own
        synchronous step (connect/disconnect above), so on this connection's
        queue each event lands either before the reply (and the reply already
        reflects it) or after it (and the reply does not): replaying the later
        events on the reply gives the truth."""
        entry = self.users.get(conn.user)
        if entry is None or conn not in entry.conns:
            return
        online = sorted(f for f in self.store.friends_of(conn.user) if f in self.users)
        sent = conn.push(event("online_friends", friends=online))
        self.metrics.sent("online_friends", sent)

    def typing(self, sender: int, receiver: int, is_typing: bool) -> None:
        """`typing` / `stop_typing` (receiver already checked to be a friend):
        marks or clears the typing state and tells every connection of the
        receiver."""
        entry = self.users.get(sender)
        if entry is not None:
            if is_typing and receiver not in entry.typing_to:
                entry.typing_to.append(receiver)
            elif not is_typing and receiver in entry.typing_to:
                entry.typing_to.remove(receiver)
        # G4: typing goes to the receiver (a checked friend) only.
        frame = event("user_typing", user_id=sender, is_typing=is_typing)
        self.send_personal_message(receiver, frame, "user_typing")

    def deliver_message(self, frame: bytes, sender: int, receiver: int) -> int:
        """`new_message` (WS form) to every connection of both participants,
        the sender's own included (sender's connections first)."""
        return self.send_to_conversation(frame, sender, receiver, "new_message")

    def send_to_connection(self, conn: Conn, frame: bytes, kind: str) -> None:
        """One connection only (error frames), while it is registered."""
        entry = self.users.get(conn.user)
        if entry is not None and conn in entry.conns:
            self.metrics.sent(kind, conn.push(frame))
