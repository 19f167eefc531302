"""The in-memory store: users, tokens, friendships, friend requests,
conversations, messages and read state.

Everything here is plain synchronous code run on the one event loop, so each
method is atomic with respect to every other handler: no locks are needed.
"""

import bisect
import hmac
import itertools
import re
import secrets
from dataclasses import dataclass, field
from typing import Optional

SELECTOR_LEN = 8
MAX_BULK = 100_000
_USERNAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")


class StoreError(Exception):
    """A provisioning or friendship rule; `kind` is mapped to HTTP by the caller."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def valid_username(name: str) -> bool:
    return _USERNAME.fullmatch(name) is not None and name.isascii()


@dataclass(slots=True)
class User:
    id: int
    username: str
    token: str
    friends: set[int] = field(default_factory=set)
    # Users who asked this one to be friends, not yet accepted.
    requests_from: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Message:
    id: int
    sender: int
    content: str
    created_at: str
    media_ids: list[int]


@dataclass(slots=True)
class Conversation:
    id: int
    users: tuple[int, int]  # ascending
    messages: list[Message] = field(default_factory=list)  # ascending ids
    # Per participant (index as in `users`): the last message id stored when
    # that participant last marked the conversation read.
    read_upto: list[int] = field(default_factory=lambda: [0, 0])
    deleted: bool = False

    def has(self, user: int) -> bool:
        return user in self.users

    def other(self, user: int) -> int:
        return self.users[1] if self.users[0] == user else self.users[0]

    def _slot(self, user: int) -> int:
        return 1 if self.users[1] == user else 0

    def mark_read(self, reader: int) -> None:
        last = self.messages[-1].id if self.messages else 0
        s = self._slot(reader)
        self.read_upto[s] = max(self.read_upto[s], last)

    def is_read(self, m: Message) -> bool:
        return m.id <= self.read_upto[self._slot(self.other(m.sender))]

    def unread_count(self, user: int) -> int:
        upto = self.read_upto[self._slot(user)]
        start = bisect.bisect_right(self.messages, upto, key=lambda m: m.id)
        return sum(1 for m in self.messages[start:] if m.sender != user)

    def page(self, after: int, limit: int) -> list[Message]:
        start = bisect.bisect_right(self.messages, after, key=lambda m: m.id)
        return self.messages[start:start + limit]

    def find(self, message_id: int) -> Optional[int]:
        i = bisect.bisect_left(self.messages, message_id, key=lambda m: m.id)
        if i < len(self.messages) and self.messages[i].id == message_id:
            return i
        return None


class Store:
    def __init__(self) -> None:
        self.users: dict[int, User] = {}
        self.usernames: dict[str, int] = {}
        # selector (first 8 chars) -> (user id, full token)
        self.tokens: dict[str, tuple[int, str]] = {}
        self._user_ids = itertools.count(1)
        self.conversations: dict[int, Conversation] = {}
        self.pairs: dict[tuple[int, int], int] = {}
        self.by_message: dict[int, int] = {}
        self.by_user: dict[int, list[int]] = {}
        self._conversation_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    # ---- users and tokens -------------------------------------------------

    def _insert(self, username: str) -> dict:
        uid = next(self._user_ids)
        while True:
            # 192 random bits, URL-safe (32 characters); the selector must be unique.
            token = secrets.token_urlsafe(24)
            if token[:SELECTOR_LEN] not in self.tokens:
                break
        self.users[uid] = User(uid, username, token)
        self.usernames[username] = uid
        self.tokens[token[:SELECTOR_LEN]] = (uid, token)
        return {"user_id": uid, "username": username, "api_token": token}

    def create_user(self, username: str) -> dict:
        if not valid_username(username):
            raise StoreError("invalid", "username must be 1-32 of A-Za-z0-9_.-")
        if username in self.usernames:
            raise StoreError("taken", "username is taken")
        return self._insert(username)

    def create_bulk(self, count: int, prefix: str) -> list[dict]:
        """`{prefix}{n}`, n counting up from 1, skipping taken names (§8).
        All or nothing: names are chosen and checked before any is created."""
        if not 1 <= count <= MAX_BULK:
            raise StoreError("invalid", "count must be 1..=100000")
        chosen: list[str] = []
        n = 1
        while len(chosen) < count:
            name = f"{prefix}{n}"
            if not valid_username(name):
                raise StoreError("invalid", "username must be 1-32 of A-Za-z0-9_.-")
            if name not in self.usernames:
                chosen.append(name)
            n += 1
        return [self._insert(name) for name in chosen]

    def authenticate(self, token: str) -> Optional[int]:
        """The user of an API token; the secret is compared in constant time."""
        if len(token) < SELECTOR_LEN:
            return None
        hit = self.tokens.get(token[:SELECTOR_LEN])
        if hit is None:
            return None
        uid, full = hit
        ok = hmac.compare_digest(full.encode("utf-8"), token.encode("utf-8", "surrogatepass"))
        return uid if ok else None

    def exists(self, uid: int) -> bool:
        return uid in self.users

    def friends_of(self, uid: int) -> set[int]:
        u = self.users.get(uid)
        return u.friends if u is not None else set()

    def are_friends(self, a: int, b: int) -> bool:
        u = self.users.get(a)
        return u is not None and b in u.friends

    # ---- friendships ------------------------------------------------------

    def add_friendships(self, pairs: list[tuple[int, int]]) -> int:
        """All or nothing: an unknown id or a self pair fails before anything
        is created. Returns how many friendships are new."""
        for a, b in pairs:
            if a not in self.users or b not in self.users:
                raise StoreError("unknown_user", "no such user")
        if any(a == b for a, b in pairs):
            raise StoreError("self_target", "a user cannot target themselves")
        return sum(self._befriend(a, b) for a, b in pairs)

    def _befriend(self, a: int, b: int) -> bool:
        ua, ub = self.users[a], self.users[b]
        ub.requests_from.discard(a)
        ua.requests_from.discard(b)
        new = b not in ua.friends
        ua.friends.add(b)
        ub.friends.add(a)
        return new

    def send_request(self, sender: int, receiver: int) -> str:
        """Returns the sender's username for the event."""
        if sender == receiver:
            raise StoreError("self_target", "a user cannot target themselves")
        us, ur = self.users.get(sender), self.users.get(receiver)
        if us is None or ur is None:
            raise StoreError("unknown_user", "no such user")
        if receiver in us.friends or sender in ur.requests_from or receiver in us.requests_from:
            raise StoreError("conflict", "already friends, or a request is pending")
        ur.requests_from.add(sender)
        return us.username

    def accept_request(self, me: int, sender: int) -> str:
        """`me` accepts `sender`'s request. Returns `me`'s username for the event."""
        if me == sender:
            raise StoreError("self_target", "a user cannot target themselves")
        um, us = self.users.get(me), self.users.get(sender)
        if um is None or us is None or sender not in um.requests_from:
            raise StoreError("no_request", "no such pending request")
        um.requests_from.discard(sender)
        um.friends.add(sender)
        us.friends.add(me)
        return um.username

    # ---- conversations and messages ---------------------------------------

    def next_message_id(self) -> int:
        return next(self._message_ids)

    def get_or_create(self, a: int, b: int) -> tuple[Conversation, bool]:
        key = (min(a, b), max(a, b))
        cid = self.pairs.get(key)
        if cid is not None:
            conv = self.conversations.get(cid)
            if conv is not None and not conv.deleted:
                return conv, False
        cid = next(self._conversation_ids)
        conv = Conversation(cid, key)
        self.conversations[cid] = conv
        self.pairs[key] = cid
        for u in key:
            self.by_user.setdefault(u, []).append(cid)
        return conv, True

    def conversation(self, cid: int) -> Optional[Conversation]:
        conv = self.conversations.get(cid)
        return None if conv is None or conv.deleted else conv

    def of_user(self, uid: int) -> list[Conversation]:
        convs = (self.conversations.get(c) for c in self.by_user.get(uid, ()))
        return sorted((c for c in convs if c is not None and not c.deleted), key=lambda c: c.id)

    def append(self, conv: Conversation, m: Message) -> None:
        conv.messages.append(m)
        self.by_message[m.id] = conv.id

    def remove_message(self, conv: Conversation, index: int) -> None:
        m = conv.messages.pop(index)
        self.by_message.pop(m.id, None)

    def forget(self, conv: Conversation) -> int:
        """Deletes a conversation and its messages; returns how many were dropped."""
        conv.deleted = True
        if self.pairs.get(conv.users) == conv.id:
            del self.pairs[conv.users]
        self.conversations.pop(conv.id, None)
        for m in conv.messages:
            self.by_message.pop(m.id, None)
        for u in conv.users:
            lst = self.by_user.get(u)
            if lst is not None and conv.id in lst:
                lst.remove(conv.id)
        n = len(conv.messages)
        conv.messages = []
        return n
