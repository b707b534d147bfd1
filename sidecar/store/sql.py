"""Statement helpers every repository shares: one statement each, its cursor closed at once.

They take the connection a repository got from `Database.locked()` or
`Database.transaction()`, so they never lock or commit themselves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from sidecar.store.rows import M, Mapper

SqlParams = Sequence[Any] | Mapping[str, Any]


async def run(db: aiosqlite.Connection, sql: str, params: SqlParams = ()) -> int:
    """Execute one statement; returns the rows it changed."""
    async with db.execute(sql, params) as cursor:
        return cursor.rowcount


async def run_many(db: aiosqlite.Connection, sql: str, rows: Iterable[SqlParams]) -> None:
    async with db.executemany(sql, rows):
        pass


async def fetch_one(
    db: aiosqlite.Connection, sql: str, params: SqlParams = ()
) -> sqlite3.Row | None:
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def fetch_all(
    db: aiosqlite.Connection, sql: str, params: SqlParams = ()
) -> list[sqlite3.Row]:
    return list(await db.execute_fetchall(sql, params))


async def exists(db: aiosqlite.Connection, sql: str, params: SqlParams) -> bool:
    return await fetch_one(db, sql, params) is not None


async def get_row(db: aiosqlite.Connection, mapper: Mapper[M], id: str) -> M | None:
    row = await fetch_one(db, f"SELECT {mapper.select()} FROM {mapper.table} WHERE id = ?", (id,))
    return None if row is None else mapper.load(row)


async def save_row(
    db: aiosqlite.Connection, mapper: Mapper[M], updated: M, changes: Mapping[str, Any]
) -> None:
    """Write the changed columns (and updated_at) of an already validated model."""
    await run(db, mapper.update_sql([*changes, "updated_at"]), mapper.params(updated))


async def update_row(
    db: aiosqlite.Connection,
    mapper: Mapper[M],
    id: str,
    changes: dict[str, Any],
    allowed: frozenset[str],
) -> M | None:
    """Read, change, validate and write one row; None if it does not exist."""
    current = await get_row(db, mapper, id)
    if current is None or not changes:
        return current
    updated = mapper.changed(current, changes, allowed)
    await save_row(db, mapper, updated, changes)
    return updated
