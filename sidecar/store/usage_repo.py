"""Usage records: one per provider call, and the sums reports are made of.

A repository of the store (`sidecar/store/<concern>_repo.py` holds `<Concern>Repo`;
see `sidecar.store.database`). A turn's records are written with its messages
(`MessageRepo.add_turn`, `MessageRepo.finish`); the SQL of the summary is
`sidecar.store.usage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sidecar.protocol.objects import UsageRecord
from sidecar.store.rows import USAGE
from sidecar.store.sql import fetch_all, run

if TYPE_CHECKING:
    from sidecar.store.database import Database


class UsageRepo:
    """The `usage_records` table."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def records(self, conversation_id: str | None = None) -> list[UsageRecord]:
        sql = f"SELECT {USAGE.select()} FROM usage_records"
        params: tuple[str, ...] = ()
        if conversation_id is not None:
            sql += " WHERE conversation_id = ?"
            params = (conversation_id,)
        async with self._db.locked() as db:
            rows = await fetch_all(db, sql + " ORDER BY id", params)
        return [USAGE.load(row) for row in rows]

    async def summary(self, **query: Any) -> list[Any]:
        """Usage records summed per group (UsageSummaryRow, sorted by key): see
        `sidecar.store.usage.summary` for `query`."""
        from sidecar.store import usage  # imported on first use: not needed to start

        async with self._db.locked() as db:
            return await usage.summary(db, **query)

    async def has_model(self, model_id: str) -> bool:
        """Whether any call was recorded under this model id."""
        sql = "SELECT 1 AS found FROM usage_records WHERE model_id = ? LIMIT 1"
        async with self._db.locked() as db:
            return bool(await fetch_all(db, sql, (model_id,)))

    async def add(self, record: UsageRecord) -> None:
        """Record the usage of a provider call that made no message (e.g. a title)."""
        async with self._db.locked() as db:
            await run(db, USAGE.insert_sql, USAGE.params(record))
