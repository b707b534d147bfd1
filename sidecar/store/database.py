"""The one SQLite database the repositories share: opening, locking, transactions.

One aiosqlite connection in autocommit mode. Each repository method is one
transaction (`transaction()`: an explicit BEGIN..COMMIT when it runs several
statements) or one statement under `locked()`. The lock keeps one method's
statements from interleaving with another's on the shared connection;
higher-level locking stays the callers' business. A second, read-only connection
serves the few short reads on a reply's way to its first word (`read_now`).

The repositories are one per module, `sidecar/store/<concern>_repo.py` holding
`<Concern>Repo` (named apart from the engine's services, such as
`sidecar.engine.conversations.Conversations`); `repositories.Repositories`
holds them all over one `Database`.
"""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aiosqlite

from sidecar.ids import now_iso
from sidecar.store.errors import StoreOpenError
from sidecar.store.migrations import migrate
from sidecar.store.sql import SqlParams, fetch_all, run

BUSY_TIMEOUT_MS = 5000


def _open_reader(path: pathlib.Path) -> sqlite3.Connection:
    """The connection for `read_now`: never writes, never waits for a lock."""
    reader = sqlite3.connect(path, timeout=0, isolation_level=None)
    reader.row_factory = sqlite3.Row
    reader.execute("PRAGMA query_only = ON")
    reader.execute("SELECT 1 FROM messages WHERE 0")  # reads the schema now, not in a chat
    return reader


def _casefold(text: str | None) -> str | None:
    return text.casefold() if isinstance(text, str) else None


class Database:
    """The sidecar's database file. Create with `await Database.open(path)`."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        reader: sqlite3.Connection,
        path: pathlib.Path,
        interrupted: int,
    ) -> None:
        self._db = db
        self._reader = reader
        self._lock = asyncio.Lock()
        self._closed = False
        self.path = path
        self.interrupted_at_start = interrupted
        """Messages left pending/streaming by the previous run, now 'interrupted'."""

    @classmethod
    async def open(cls, path: pathlib.Path) -> Database:
        """Open or create the database, migrate it and close out the last run's streams.

        Raises StoreOpenError (SchemaTooNewError for a newer schema) with the
        path in the message, so startup can report it as is.
        """
        path = pathlib.Path(path)
        if not path.parent.is_dir():
            raise StoreOpenError(
                f"cannot open database {path}: directory {path.parent} does not exist"
            )
        try:
            db = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreOpenError(f"cannot open database {path}: {exc}") from exc
        db.row_factory = aiosqlite.Row
        try:
            await run(db, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            await run(db, "PRAGMA journal_mode = WAL")
            await run(db, "PRAGMA synchronous = NORMAL")
            await run(db, "PRAGMA foreign_keys = ON")
            await db.create_function("casefold", 1, _casefold, deterministic=True)
            await migrate(db)
            interrupted = await run(
                db,
                "UPDATE messages SET status = 'interrupted', updated_at = max(updated_at, ?) "
                "WHERE status IN ('pending', 'streaming')",
                (now_iso(),),
            )
            reader = _open_reader(path)
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StoreOpenError(f"cannot open database {path}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        return cls(db, reader, path, interrupted)

    async def close(self) -> None:
        """Fold the WAL back into the main file so the database is one file at rest."""
        if self._closed:
            return
        self._closed = True
        self._reader.close()
        async with self._lock:
            try:
                with suppress(sqlite3.Error):
                    await run(self._db, "PRAGMA optimize")
                    await run(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                await self._db.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok", or one problem per line."""
        async with self.locked() as db:
            rows = await fetch_all(db, "PRAGMA integrity_check")
        return "\n".join(str(row[0]) for row in rows)

    def read_now(self, *statements: tuple[str, SqlParams]) -> list[list[sqlite3.Row]]:
        """The rows of a few short reads, run at once on the calling (the event loop's)
        thread, in one snapshot, on a read-only connection of their own: for the reads
        on a reply's way to its first word. Reading a few indexed rows here costs
        ~50-150 µs where handing them to the database thread and back costs ~300-500
        (sent one after another, the loop idle in between). In WAL mode a reader never
        waits for the writer; it is refused (SQLITE_BUSY, raised at once: the loop never
        waits) only while another program holds the file in exclusive locking mode, which
        stops every write too. Sees what is committed: call it where no write it depends
        on can still be in flight (for a turn, under the engine's lock)."""
        reader = self._reader
        reader.execute("BEGIN")
        try:
            return [reader.execute(sql, params).fetchall() for sql, params in statements]
        finally:
            reader.execute("COMMIT")

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection for one statement (atomic on its own)."""
        async with self._lock:
            yield self._db

    @asynccontextmanager
    async def transaction(self, *, write: bool) -> AsyncIterator[aiosqlite.Connection]:
        """Several statements as one unit: a consistent read, or an all-or-nothing write."""
        async with self._lock:
            # IMMEDIATE takes the write lock up front, so a busy database waits in
            # BEGIN (busy_timeout) instead of failing halfway through.
            await run(self._db, "BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
                await run(self._db, "COMMIT")
            except BaseException:
                with suppress(sqlite3.OperationalError):  # SQLite may have rolled back already
                    await run(self._db, "ROLLBACK")
                raise
