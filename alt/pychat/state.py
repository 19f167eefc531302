"""The state every handler shares: configuration, store, ConnectionManager,
metrics, the admin token, and the shutdown flag."""

import asyncio
import secrets

from .config import Config
from .manager import ConnectionManager
from .metrics import Metrics
from .store import Store


class AppState:
    def __init__(self, config: Config):
        self.config = config
        self.metrics = Metrics()
        self.store = Store()
        self.manager = ConnectionManager(self.store, self.metrics,
                                         config.max_connections_per_user)
        self.admin_token = config.admin_token or secrets.token_urlsafe(24)
        self.stopping = False
        # Every WebSocket handler task, so shutdown can wait for them.
        self.ws_tasks: set[asyncio.Task] = set()
