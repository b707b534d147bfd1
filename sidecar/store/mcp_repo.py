"""The MCP servers the user added: the `mcp_servers` table.

A repository of the store (see `sidecar.store.database`). A row keeps the names of a
server's environment variables and headers, never their values: those are secrets and
live in the key store (`sidecar.store.keys`), like API keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sidecar.ids import now_iso
from sidecar.store.rows import from_json, json_text
from sidecar.store.sql import fetch_all, run, run_many

if TYPE_CHECKING:
    from sidecar.store.database import Database


@dataclass(slots=True)
class McpRow:
    id: str
    name: str
    transport: str
    data: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    updated_at: str = ""


class McpRepo:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def rows(self) -> list[McpRow]:
        async with self._db.locked() as db:
            rows = await fetch_all(
                db,
                "SELECT id, name, transport, data, created_at, updated_at FROM mcp_servers "
                "ORDER BY created_at, id",
            )
        return [
            McpRow(
                id=r["id"],
                name=r["name"],
                transport=r["transport"],
                data=from_json(r["data"]) or {},
                created_at=r["created_at"],
                updated_at=r["updated_at"],
            )
            for r in rows
        ]

    async def save(self, row: McpRow) -> None:
        now = now_iso()
        row.created_at = row.created_at or now
        row.updated_at = max(now, row.updated_at)
        async with self._db.locked() as db:
            await run(
                db,
                "INSERT OR REPLACE INTO mcp_servers (id, name, transport, data, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.name,
                    row.transport,
                    json_text(row.data),
                    row.created_at,
                    row.updated_at,
                ),
            )

    async def imported(self) -> set[str]:
        """The ids a bulk import (import-legacy) ever added (`imported_ids`)."""
        async with self._db.locked() as db:
            return {r["id"] for r in await fetch_all(db, "SELECT id FROM imported_ids")}

    async def mark_imported(self, ids: list[str]) -> None:
        async with self._db.locked() as db:
            await run_many(
                db, "INSERT OR IGNORE INTO imported_ids (id) VALUES (?)", [(i,) for i in ids]
            )

    async def delete(self, id: str) -> bool:
        async with self._db.locked() as db:
            return await run(db, "DELETE FROM mcp_servers WHERE id = ?", (id,)) > 0
