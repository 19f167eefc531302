"""One WebSocket connection as the server keeps it: its bounded outbound
queue and its close control. The tasks that run it live in ws.py."""

import asyncio
import itertools
from collections import deque
from typing import Optional

from aiohttp import web

from .metrics import Metrics
from .protocol import SLOW_CONSUMER

_ids = itertools.count(1)


class Conn:
    __slots__ = ("id", "user", "ws", "queue", "cap", "metrics", "wake", "stopped",
                 "closing", "close_code", "reader", "writer")

    def __init__(self, user: int, ws: web.WebSocketResponse, cap: int, metrics: Metrics):
        self.id = next(_ids)
        self.user = user
        self.ws = ws
        self.queue: deque[bytes] = deque()
        self.cap = cap
        self.metrics = metrics
        self.wake = asyncio.Event()  # set when the writer has something to do
        self.stopped = asyncio.Event()  # set when the connection must end
        self.closing = False
        # The close code to send; 0: none (the peer closed or the socket failed).
        self.close_code = 0
        self.reader: Optional[asyncio.Task] = None
        self.writer: Optional[asyncio.Task] = None

    def push(self, frame: bytes) -> int:
        """Enqueues a serialized event without waiting; 1 if enqueued, else 0.

        A full queue closes the connection with 4010 (§5). Every push runs on
        the one event loop, so pushes to a connection are serialized: once one
        has failed the connection is `closing`, every later push is dropped,
        and what was still queued is dropped too (request_close), so the
        socket ends rather than continuing after a gap (§8)."""
        if self.closing:
            return 0
        if len(self.queue) >= self.cap:
            self.metrics.slow_consumer_closes += 1
            self.request_close(SLOW_CONSUMER)
            return 0
        self.queue.append(frame)
        self.wake.set()
        return 1

    def request_close(self, code: int) -> None:
        """Asks the connection to end, sending close `code` (0: no close frame
        of ours). The first reason given wins. Synchronous: nothing can be
        enqueued after it."""
        if self.closing:
            return
        self.closing = True
        self.close_code = code
        self.queue.clear()
        self.wake.set()
        self.stopped.set()
