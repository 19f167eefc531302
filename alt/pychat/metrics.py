"""Counters and gauges, served at /metrics in the OpenMetrics text format
with the reference's metric names (prefix `chat_`). loadgen reads
`chat_open_connections` at the end of a run (I12)."""

from collections import Counter

from .protocol import ERROR_CODES, EVENT_TYPES


class Metrics:
    def __init__(self) -> None:
        self.open_connections = 0
        self.users_online = 0
        self.messages_stored = 0
        self.slow_consumer_closes = 0
        self.rejected_connections = 0
        self.events_sent: Counter[str] = Counter({k: 0 for k in EVENT_TYPES})
        self.error_frames: Counter[str] = Counter({c: 0 for c in ERROR_CODES})
        self.rest_requests: Counter[tuple[str, int]] = Counter()

    def sent(self, kind: str, n: int) -> None:
        if n:
            self.events_sent[kind] += n

    def render(self) -> str:
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, samples: list[tuple[str, object]]) -> None:
            out.append(f"# HELP chat_{name} {help_}.")
            out.append(f"# TYPE chat_{name} {kind}")
            suffix = "_total" if kind == "counter" else ""
            for labels, value in samples:
                out.append(f"chat_{name}{suffix}{labels} {value}")

        metric("open_connections", "gauge", "Open WebSocket connections",
               [("", self.open_connections)])
        metric("users_online", "gauge", "Users with at least one open connection",
               [("", self.users_online)])
        metric("messages_stored", "gauge", "Messages stored (accepted minus deleted)",
               [("", self.messages_stored)])
        metric("slow_consumer_closes", "counter",
               "Connections closed with 4010 because their outbound queue was full",
               [("", self.slow_consumer_closes)])
        metric("rejected_connections", "counter",
               "WebSockets closed right after the handshake (4008 bad token, 4011 too many)",
               [("", self.rejected_connections)])
        metric("events_sent", "counter",
               "Events enqueued to connections, by type (one per recipient connection)",
               [(f'{{type="{k}"}}', v) for k, v in self.events_sent.items()])
        metric("error_frames", "counter",
               "Error frames sent to clients, by code (malformed or rule-breaking input)",
               [(f'{{code="{k}"}}', v) for k, v in self.error_frames.items()])
        metric("rest_requests", "counter", "REST requests by route and status",
               [(f'{{route="{r}",status="{s}"}}', v)
                for (r, s), v in sorted(self.rest_requests.items())])
        out.append("# EOF")
        return "\n".join(out) + "\n"
