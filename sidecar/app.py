"""The composition root: the store, the bus and the engine that one process shares."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sidecar.bus import EventBus

if TYPE_CHECKING:
    from sidecar.config import ServeConfig
    from sidecar.engine import Engine
    from sidecar.store import Store


@dataclass(slots=True)
class App:
    config: ServeConfig
    store: Store
    bus: EventBus
    _engine: Engine | None = None

    @classmethod
    async def open(cls, config: ServeConfig) -> App:
        from sidecar.store import Store

        store = await Store.open(config.db_path)
        return cls(config=config, store=store, bus=EventBus(config.replay_buffer))

    @property
    def engine(self) -> Engine:
        """Built on first use: a launch reaches its ready line without the engine's imports."""
        if self._engine is None:
            from sidecar.engine import Engine

            self._engine = Engine(self.store, self.bus, asyncio.Lock())
        return self._engine

    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    async def stop_engine(self) -> None:
        """Running turns end `interrupted` (their text stored); the store stays open."""
        if self._engine is not None:
            await self._engine.close()
            self._engine = None

    async def close(self) -> None:
        await self.stop_engine()
        await self.store.close()
