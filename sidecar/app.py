"""The composition root: the database and its repositories, the bus and the engine that
one process shares, and the JSON-RPC session each connection gets (the transport knows
none of them)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar.bus import EventBus
from sidecar.rpc.frames import notification
from sidecar.store import Database, Repositories, StorageUnavailable
from sidecar.store.keys import KeyStore

if TYPE_CHECKING:
    from sidecar.config import ServeConfig
    from sidecar.engine import Engine
    from sidecar.rpc.session import Peer, Session

log = logging.getLogger("sidecar")


@dataclass(slots=True)
class App:
    config: ServeConfig
    repos: Repositories
    bus: EventBus
    keys: KeyStore
    _engine: Engine | None = None

    @classmethod
    async def open(cls, config: ServeConfig) -> App:
        keys = KeyStore(config.db_path)
        repos = Repositories.over(await Database.open(config.db_path))
        try:
            await keys.adopt(repos.catalog)
        except (StorageUnavailable, sqlite3.Error) as exc:  # they stay and work; moved next start
            log.warning("API keys left in the database for now: %s", exc)
        return cls(
            config=config, repos=repos, bus=EventBus(notification, config.replay_buffer), keys=keys
        )

    @property
    def engine(self) -> Engine:
        """Built on first use: a launch reaches its ready line without the engine's imports."""
        if self._engine is None:
            from sidecar.engine import Engine  # start-up: after the ready line (see above)

            self._engine = Engine(self.repos, self.bus, asyncio.Lock(), self.keys)
            self._engine.tools.disconnect_grace = self.config.client_tool_grace
        return self._engine

    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    def open_session(self, peer: Peer) -> Session:
        """The JSON-RPC session of a new connection."""
        # Start-up: the request path's imports come after the ready line (process warms them).
        from sidecar.rpc.session import Session

        return Session(self, peer)

    def disconnected(self, key: str) -> None:
        if self._engine is not None:
            for hook in self._engine.disconnect_hooks:
                hook(key)

    async def warm(self) -> None:
        """After the ready line and the warm-up imports: what the first chat would do
        once for every later one (the engine, the HTTP client, every provider's key read
        into memory), so that it costs what a later chat costs."""
        engine = self.engine
        engine.http.get()
        try:
            await engine.providers.list()
        except (StorageUnavailable, sqlite3.Error) as exc:  # the first chat says it, precisely
            log.debug("providers not read ahead: %s", exc)

    async def start_mcp_servers(self) -> None:
        """After the ready line: the MCP servers set to start with the sidecar (the engine is
        built only when there is one)."""
        rows = await self.repos.mcp.rows()
        if any(r.data.get("startOnLaunch") and r.data.get("enabled", True) for r in rows):
            await self.engine.mcp.start_on_launch()

    async def stop_engine(self) -> None:
        """Running turns end `interrupted` (their text stored); the database stays open."""
        if self._engine is not None:
            await self._engine.close()
            self._engine = None

    async def close(self) -> None:
        await self.stop_engine()
        await self.repos.database.close()
