"""The aiohttp application: routes, start-up (bind, print the address) and
shutdown (SIGINT/SIGTERM: close every WebSocket with 1001, exit 0)."""

import asyncio
import resource
import signal
import socket

from aiohttp import web

from . import admin, rest, ws
from .config import Config, parse_args
from .extract import STATE, middleware
from .protocol import GOING_AWAY
from .state import AppState

# How long shutdown waits for WebSocket handlers to send their 1001 and end.
SHUTDOWN_GRACE = 3.0


def build_app(state: AppState) -> web.Application:
    app = web.Application(middlewares=[middleware],
                          client_max_size=state.config.max_message_bytes)
    app[STATE] = state
    app.router.add_get("/ws/{token}", ws.handle)
    rest.add_routes(app.router)
    admin.add_routes(app.router)
    app.on_shutdown.append(_close_websockets)
    return app


async def _close_websockets(app: web.Application) -> None:
    state = app[STATE]
    state.stopping = True
    for conn in state.manager.all_connections():
        conn.request_close(GOING_AWAY)
    tasks = list(state.ws_tasks)
    if tasks:
        await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE)


def _listen(config: Config) -> socket.socket:
    family, kind, proto, _, addr = socket.getaddrinfo(
        config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if config.ws_send_buffer:
        # Accepted sockets inherit the listener's SO_SNDBUF (Linux).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, config.ws_send_buffer)
    sock.bind(addr)
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def _show(addr) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _raise_fd_limit() -> None:
    """Each WebSocket is one descriptor: raise the soft limit to the hard one."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError):
        pass


async def serve(config: Config) -> None:
    _raise_fd_limit()
    state = AppState(config)
    runner = web.AppRunner(build_app(state), handle_signals=False, access_log=None,
                           shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    try:
        sock = _listen(config)
    except OSError as e:
        await runner.cleanup()
        raise SystemExit(f"pychat: cannot bind {config.host}:{config.port}: {e}") from None
    await web.SockSite(runner, sock, backlog=1024).start()
    if config.admin_token is None:
        print(f"admin token: {state.admin_token}", flush=True)
    print(f"listening on {_show(sock.getsockname())}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    # Stops accepting, runs _close_websockets (1001 to every socket), then
    # waits for the remaining handlers.
    await runner.cleanup()


def main(argv=None) -> int:
    asyncio.run(serve(parse_args(argv)))
    return 0
