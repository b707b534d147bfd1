"""What can be called: the providers' stored settings and the user's models.

A repository of the store (`sidecar/store/<concern>_repo.py` holds `<Concern>Repo`;
see `sidecar.store.database`). API keys and header values are not kept here but in
the key store (`sidecar.store.keys`); the rows keep header names only, and the
secrets an older version left in them are handed over once (`provider_secrets`,
`forget_provider_secrets`).

Every chat reads both tables and they change only through this repository, so it
keeps what it read until its next write (`kept.Kept`: two database round trips and a
JSON validation of every model less per `chat.send`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from sidecar.ids import now_iso
from sidecar.protocol.objects import Model
from sidecar.store.kept import Kept
from sidecar.store.provider_row import ProviderRow
from sidecar.store.rows import from_json, json_text
from sidecar.store.sql import fetch_all, run, run_many

if TYPE_CHECKING:
    from sidecar.store.database import Database

_PROVIDER_FIELDS = (
    "id",
    "kind",
    "name",
    "base_url",
    "api_key",
    "headers",
    "enabled",
    "connect_timeout",
    "idle_timeout",
    "total_timeout",
    "max_retries",
    "api",
    "created_at",
    "updated_at",
)
_PROVIDER_COLUMNS = ", ".join(_PROVIDER_FIELDS)


def _provider_row(row: sqlite3.Row) -> ProviderRow:
    data = {c: row[c] for c in _PROVIDER_FIELDS}
    data["headers"] = from_json(data["headers"]) or {}
    data["enabled"] = bool(data["enabled"])
    return ProviderRow(**data)


def _header_names(headers: dict[str, str | None]) -> str:
    """The `headers` column: names only (`{"api-key": null}`). Values are secrets and live
    in the key store; a string value there is an older version's, moved at the next start."""
    return json_text(dict.fromkeys(headers))


def _has_values(headers: dict[str, str | None]) -> bool:
    return any(value is not None for value in headers.values())


class CatalogRepo:
    """The `providers` and `models` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._providers: Kept[list[ProviderRow]] = Kept()
        self._models: Kept[list[Model]] = Kept()

    @property
    def models_version(self) -> int:
        """Counts the writes of the models, for a caller keeping something made of them."""
        return self._models.version

    # -- providers ---------------------------------------------------------------

    async def provider_rows(self) -> list[ProviderRow]:
        """The stored rows, ordered by id: copies, for the caller to fill in."""
        rows = await self._providers.get(self._read_provider_rows)
        return [replace(r, headers=dict(r.headers)) for r in rows]

    async def _read_provider_rows(self) -> list[ProviderRow]:
        async with self._db.locked() as db:
            rows = await fetch_all(db, f"SELECT {_PROVIDER_COLUMNS} FROM providers ORDER BY id")
        return [_provider_row(row) for row in rows]

    async def save_provider_row(self, row: ProviderRow) -> None:
        """Insert or replace a provider's stored settings."""
        now = now_iso()
        row.created_at = row.created_at or now
        row.updated_at = max(now, row.updated_at)
        values = {c: getattr(row, c) for c in _PROVIDER_FIELDS}
        values["headers"] = _header_names(row.headers)
        values["enabled"] = int(row.enabled)
        names = ", ".join(_PROVIDER_FIELDS)
        try:
            async with self._db.locked() as db:
                await run(
                    db,
                    f"INSERT OR REPLACE INTO providers ({names}) VALUES ({', '.join(':' + c for c in _PROVIDER_FIELDS)})",
                    values,
                )
        finally:
            self._providers.changed()

    async def provider_secrets(self) -> list[ProviderRow]:
        """Rows where an older version stored a secret: an API key or header values (see
        KeyStore.adopt). One query, nothing else, when there is none."""
        async with self._db.locked() as db:
            rows = await fetch_all(
                db,
                f"SELECT {_PROVIDER_COLUMNS} FROM providers "
                "WHERE api_key IS NOT NULL OR headers <> '{}' ORDER BY id",
            )
        found = [_provider_row(row) for row in rows]
        return [r for r in found if r.api_key is not None or _has_values(r.headers)]

    async def forget_provider_secrets(self, rows: Iterable[ProviderRow]) -> None:
        """Clear the keys and header values that now live in the key store (header names
        stay), leaving no copy in the file: the freed bytes are zeroed (secure_delete) and
        the WAL, which may hold the old page, is folded back and truncated."""
        async with self._db.locked() as db:
            await run(db, "PRAGMA secure_delete = ON")
        try:
            async with self._db.transaction(write=True) as db:
                await run_many(
                    db,
                    "UPDATE providers SET api_key = NULL, headers = ? WHERE id = ?",
                    [(_header_names(r.headers), r.id) for r in rows],
                )
            async with self._db.locked() as db:
                await run(db, "PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self._providers.changed()
            async with self._db.locked() as db:
                await run(db, "PRAGMA secure_delete = OFF")

    async def delete_provider_row(self, id: str) -> bool:
        try:
            async with self._db.locked() as db:
                return await run(db, "DELETE FROM providers WHERE id = ?", (id,)) > 0
        finally:
            self._providers.changed()

    # -- models ------------------------------------------------------------------

    async def list_models(self) -> list[Model]:
        """The user's models, by provider, then id (shared objects: never changed in place)."""
        return list(await self._models.get(self._read_models))

    async def _read_models(self) -> list[Model]:
        async with self._db.locked() as db:
            rows = await fetch_all(db, "SELECT data FROM models ORDER BY provider, id")
        return [Model.model_validate(from_json(row["data"])) for row in rows]

    async def save_model(self, model: Model) -> None:
        try:
            async with self._db.locked() as db:
                await run(
                    db,
                    "INSERT OR REPLACE INTO models (id, provider, data, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (model.id, model.provider, json_text(model), now_iso()),
                )
        finally:
            self._models.changed()

    async def delete_model(self, id: str) -> bool:
        try:
            async with self._db.locked() as db:
                return await run(db, "DELETE FROM models WHERE id = ?", (id,)) > 0
        finally:
            self._models.changed()
