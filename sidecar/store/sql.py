"""Statement helpers every repository shares: one statement each, in one round trip.

Every aiosqlite call is a hand-off to the database thread and back (~80-100 µs of CPU
here, against ~8 µs for the statement itself), so each helper makes exactly one:
reads fetch all their rows in the call (a fully read statement is reset, holding no
read transaction), writes leave their cursor to the garbage collector instead of
paying a second hand-off to close it.

They take the connection a repository got from `Database.locked()` or
`Database.transaction()`, so they never lock or commit themselves.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aiosqlite

from sidecar.store.rows import M, Mapper

SqlParams = Sequence[Any] | Mapping[str, Any]


async def run(db: aiosqlite.Connection, sql: str, params: SqlParams = ()) -> int:
    """Execute one statement; returns the rows it changed."""
    return (await db.execute(sql, params)).rowcount


async def run_many(db: aiosqlite.Connection, sql: str, rows: Iterable[SqlParams]) -> None:
    await db.executemany(sql, rows)


async def fetch_one(
    db: aiosqlite.Connection, sql: str, params: SqlParams = ()
) -> sqlite3.Row | None:
    """The first row (queries here select by key or say LIMIT 1)."""
    rows = await db.execute_fetchall(sql, params)
    return next(iter(rows), None)


async def fetch_all(
    db: aiosqlite.Connection, sql: str, params: SqlParams = ()
) -> list[sqlite3.Row]:
    return list(await db.execute_fetchall(sql, params))


async def run_together(
    db: aiosqlite.Connection, *statements: tuple[str, SqlParams]
) -> list[list[sqlite3.Row]]:
    """Several statements in about one round trip: all are queued to the database thread
    at once and run there back to back, in order, where awaiting each in turn pays a
    hand-off each. Returns the rows each one gave. When some fail, every one has still
    run: the first failure (in their order) is raised, for the caller's transaction to
    roll back; so never use it for BEGIN, whose failure would leave the rest outside a
    transaction. Hold `Database.locked()` or `transaction()` around it."""
    results = await asyncio.gather(
        *(fetch_all(db, sql, params) for sql, params in statements), return_exceptions=True
    )
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


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
