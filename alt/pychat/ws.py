"""The WebSocket side: GET /ws/{token}, one connection from upgrade to close.

Per connection there are three coroutines:

- the request handler (`handle`) supervises: it authenticates, registers the
  connection, starts the two tasks below, waits until the connection must
  end, unregisters it, and finishes the close;
- the reader task reads frames and runs each command synchronously
  (commands.py);
- the writer task drains the connection's bounded queue (conn.py) in FIFO
  order.

Whoever decides that the connection ends (the reader on the peer's close or a
socket error, Conn.push on a full queue, shutdown) calls Conn.request_close,
which records the close code, drops what is still queued and wakes the
supervisor.
"""

import asyncio

from aiohttp import WSMsgType, web

from .commands import dispatch, error
from .conn import Conn
from .extract import STATE
from .protocol import (CLOSE_REASONS, GOING_AWAY, INVALID_TOKEN, SLOW_CONSUMER,
                       TOO_MANY_CONNECTIONS)
from .state import AppState

# How long we wait for the peer's half of a close handshake.
CLOSE_HANDSHAKE = 1.0
# How long our close frame may take to go out.
CLOSE_SEND = 0.5
# A slow consumer's close frame waits behind what it has not read yet.
SLOW_CLOSE_SEND = 10.0

_END = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


async def handle(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    ws = web.WebSocketResponse(
        # aiohttp refuses a message whose size is >= max_msg_size (1009);
        # the contract closes only those *over* the limit.
        max_msg_size=state.config.max_message_bytes + 1,
        compress=False,
        autoping=True,  # pings are answered with pongs
        autoclose=True,  # the peer's close is answered
        timeout=CLOSE_HANDSHAKE,
    )
    # Every request is upgraded: an unknown token still completes the
    # handshake and is then closed with 4008 (§1).
    await ws.prepare(request)
    task = asyncio.current_task()
    state.ws_tasks.add(task)
    try:
        await serve(state, ws, request.match_info["token"])
    finally:
        state.ws_tasks.discard(task)
    return ws


async def _close(ws: web.WebSocketResponse, code: int, limit: float) -> None:
    """Sends our close frame and waits briefly for the peer's."""
    try:
        await asyncio.wait_for(
            ws.close(code=code, message=CLOSE_REASONS.get(code, "").encode()), limit)
    except (asyncio.TimeoutError, ConnectionError, RuntimeError):
        pass


async def serve(state: AppState, ws: web.WebSocketResponse, token: str) -> None:
    user = state.store.authenticate(token)
    if user is None:
        # I10: nothing but the close frame is sent on this socket.
        state.metrics.rejected_connections += 1
        await _close(ws, INVALID_TOKEN, CLOSE_SEND + CLOSE_HANDSHAKE)
        return
    conn = Conn(user, ws, state.config.outbound_queue, state.metrics)
    # G1: registration and the "online" it causes are one synchronous step.
    if not state.manager.connect(conn):
        state.metrics.rejected_connections += 1
        await _close(ws, TOO_MANY_CONNECTIONS, CLOSE_SEND + CLOSE_HANDSHAKE)
        return
    if state.stopping:
        conn.request_close(GOING_AWAY)
    conn.writer = asyncio.create_task(write_loop(conn))
    conn.reader = asyncio.create_task(read_loop(state, conn))
    try:
        await conn.stopped.wait()
    except asyncio.CancelledError:
        # The server is stopping past its grace: unregister and go.
        conn.request_close(GOING_AWAY)
        state.manager.disconnect(conn)
        conn.reader.cancel()
        conn.writer.cancel()
        raise
    # Unregister first: presence follows the removal like any other close
    # (G1: the removal and its "offline"/typing-false events are one
    # synchronous step in manager.disconnect; a 4010 close takes this path too).
    state.manager.disconnect(conn)
    await finish(conn)


async def finish(conn: Conn) -> None:
    """Stops both tasks and sends our close frame if the close is ours.

    The writer may be suspended in a drain behind a stalled reader: the frame
    it was writing is already whole in the transport's buffer, so cancelling
    it there never cuts a frame. Events still queued were dropped by
    request_close (§8: the socket never continues after a gap)."""
    for t in (conn.reader, conn.writer):
        if not t.done():
            t.cancel()
    await asyncio.gather(conn.reader, conn.writer, return_exceptions=True)
    code = conn.close_code
    if code and not conn.ws.closed:
        limit = SLOW_CLOSE_SEND if code == SLOW_CONSUMER else CLOSE_SEND
        await _close(conn.ws, code, limit + CLOSE_HANDSHAKE)


async def read_loop(state: AppState, conn: Conn) -> None:
    ws = conn.ws
    try:
        while not conn.closing:
            msg = await ws.receive()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                # Synchronous from decode to the last enqueue (G1-G3).
                dispatch(state, conn, msg.data)
            elif kind is WSMsgType.BINARY:
                error(state, conn, "binary_unsupported")
            elif kind in _END:
                # The peer closed (aiohttp answered it), or a message over
                # the limit (1009) or invalid UTF-8 (1007) made aiohttp close
                # with that code, or the socket failed.
                break
    except asyncio.CancelledError:
        raise
    except Exception:  # a dead socket: no close frame of ours
        pass
    finally:
        conn.request_close(0)


async def write_loop(conn: Conn) -> None:
    ws = conn.ws
    queue = conn.queue
    text = WSMsgType.TEXT
    try:
        while not conn.closing:
            if not queue:
                conn.wake.clear()
                await conn.wake.wait()
                continue
            # G3: FIFO, one writer per connection: the wire order is the
            # enqueue order. send_frame writes at once and suspends only
            # while the transport is paused (the peer reads slowly); the
            # queue then fills and Conn.push closes with 4010.
            await ws.send_frame(queue.popleft(), text)
    except asyncio.CancelledError:
        raise
    except Exception:  # the socket failed
        conn.request_close(0)
