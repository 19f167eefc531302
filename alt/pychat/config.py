"""Server flags (PROTOCOL.md §8), each also an environment variable CHAT_<NAME>.

A flag on the command line wins over its environment variable, which wins
over the default. Ranges follow the Rust reference (server/src/config.rs).
"""

import argparse
import os
from dataclasses import dataclass
from typing import Optional


@dataclass
class Config:
    host: str = "0.0.0.0"
    port: int = 8000
    admin_token: Optional[str] = None
    outbound_queue: int = 1024
    max_connections_per_user: int = 16
    max_message_bytes: int = 65536
    ws_send_buffer: int = 0


def parse_bind(text: str) -> tuple[str, int]:
    """`HOST:PORT`, `[V6]:PORT`; port 0 lets the OS pick."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{port!r} is not a port") from None
    if not 0 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"{p} is not a port")
    return host, p


def _ranged(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"{v} is not in {lo}..={hi}")
        return v

    return parse


def _env(name: str, default: Optional[str]) -> Optional[str]:
    return os.environ.get(f"CHAT_{name}", default)


def parse_args(argv: Optional[list[str]] = None) -> Config:
    p = argparse.ArgumentParser(
        prog="pychat",
        description="A second, Python implementation of the chat protocol "
        "(shared/PROTOCOL.md), for loadgen --target.",
    )
    p.add_argument("--bind", type=parse_bind, default=_env("BIND", "0.0.0.0:8000"),
                   help="HOST:PORT to listen on (env CHAT_BIND; port 0: any free port)")
    p.add_argument("--admin-token", default=_env("ADMIN_TOKEN", None),
                   help="bearer token of /admin/*; generated and printed if unset (env CHAT_ADMIN_TOKEN)")
    p.add_argument("--outbound-queue", type=_ranged(1, 1_000_000),
                   default=_env("OUTBOUND_QUEUE", "1024"),
                   help="events queued per connection before a 4010 close (env CHAT_OUTBOUND_QUEUE)")
    p.add_argument("--max-connections-per-user", type=_ranged(1, 100_000),
                   default=_env("MAX_CONNECTIONS_PER_USER", "16"),
                   help="open WebSockets per user; one more is closed with 4011")
    p.add_argument("--max-message-bytes", type=_ranged(1024, 16_777_216),
                   default=_env("MAX_MESSAGE_BYTES", "65536"),
                   help="largest WebSocket message (1009 beyond) and REST body (413 beyond)")
    p.add_argument("--ws-send-buffer", type=_ranged(0, 2**31 - 1),
                   default=_env("WS_SEND_BUFFER", "0"),
                   help="SO_SNDBUF of accepted sockets in bytes (0: the kernel's autotuning); "
                   "small lets a stalled reader fill its queue (and get 4010) sooner")
    p.add_argument("--shards", default=_env("SHARDS", None),
                   help="accepted for compatibility with the Rust server and ignored "
                   "(one event loop, no locks)")
    a = p.parse_args(argv)
    # argparse applies `type` to string defaults too, so env values are checked.
    host, port = a.bind
    return Config(
        host=host,
        port=port,
        admin_token=a.admin_token or None,
        outbound_queue=a.outbound_queue,
        max_connections_per_user=a.max_connections_per_user,
        max_message_bytes=a.max_message_bytes,
        ws_send_buffer=a.ws_send_buffer,
    )
