"""The conversation engine: every state change goes through here and publishes its event.

One lock orders "write, then publish" against "read a snapshot, then read
`bus.last_seq`", so a snapshot's `seq` is exactly the last event it reflects:
subscribing from it neither loses nor repeats anything.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sidecar.engine.attachments import Attachments
from sidecar.engine.audio import Audio
from sidecar.engine.branches import Branches
from sidecar.engine.conversations import Conversations
from sidecar.engine.external import ExternalTurns
from sidecar.engine.http_client import SharedHttp
from sidecar.engine.mcp import Mcp
from sidecar.engine.models import Models
from sidecar.engine.providers import Providers
from sidecar.engine.reports import Reports
from sidecar.engine.servers import Servers
from sidecar.engine.settings import SettingsService
from sidecar.engine.system_prompts import SystemPrompts
from sidecar.engine.titles import Titles
from sidecar.engine.tools import Tools
from sidecar.engine.transfer import Transfer
from sidecar.engine.turns import Turns
from sidecar.store.keys import KeyStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from sidecar.bus import EventBus
    from sidecar.store import Repositories
    from sidecar.store.keys import KeyStore


class Engine:
    def __init__(
        self,
        repos: Repositories,
        bus: EventBus,
        lock: asyncio.Lock,
        keys: KeyStore | None = None,
    ) -> None:
        self.repos = repos
        """The store's repositories; each service uses the ones it needs."""
        self.keys = keys or KeyStore(repos.database.path)
        self.bus = bus
        self.lock = lock
        self.conversations = Conversations(self)
        self.branches = Branches(self)
        self.system_prompts = SystemPrompts(self)
        self.settings = SettingsService(self)
        self.providers = Providers(self)
        self.models = Models(self)
        self.reports = Reports(self)
        self.tools = Tools(self)
        self.mcp = Mcp(self)
        self.http = SharedHttp()  # provider calls of turns and titles share one pool
        self.turns = Turns(self, self.http)
        self.external = ExternalTurns(self)
        self.titles = Titles(self, self.http)
        self.servers = Servers(self, self.http)
        self.transfer = Transfer(self)
        self.attachments = Attachments(self)
        self.audio = Audio(self, self.http)
        self.disconnect_hooks: list[Callable[[str], None]] = [self.tools.forget]
        """Run with a client's key when its connection ends."""

    async def close(self) -> None:
        """Stop every running turn (stored as interrupted) and release connections."""
        await self.turns.close()
        await self.mcp.close()  # after the turns: their MCP calls end first
        await self.titles.close()  # before the client: a title call would fail on a closed one
        await self.http.close()
