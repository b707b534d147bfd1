"""The user's library: saved system prompts and the settings.

A repository of the store (`sidecar/store/<concern>_repo.py` holds `<Concern>Repo`;
see `sidecar.store.database`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import Settings, SystemPrompt
from sidecar.store.kept import Kept
from sidecar.store.rows import SYSTEM_PROMPTS, from_json, json_text
from sidecar.store.sql import fetch_all, run, run_many, update_row

if TYPE_CHECKING:
    from sidecar.store.database import Database

SYSTEM_PROMPT_FIELDS = frozenset({"name", "content"})


class LibraryRepo:
    """The `system_prompts` and `settings` tables."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._settings: Kept[Settings] = Kept()

    # -- system prompts ----------------------------------------------------------

    async def list_system_prompts(self) -> list[SystemPrompt]:
        """Oldest first."""
        async with self._db.locked() as db:
            rows = await fetch_all(
                db, f"SELECT {SYSTEM_PROMPTS.select()} FROM system_prompts ORDER BY id"
            )
        return [SYSTEM_PROMPTS.load(row) for row in rows]

    async def create_system_prompt(self, name: str, content: str) -> SystemPrompt:
        now = now_iso()
        prompt = SystemPrompt(
            id=new_id(), name=name, content=content, created_at=now, updated_at=now
        )
        async with self._db.locked() as db:
            await run(db, SYSTEM_PROMPTS.insert_sql, SYSTEM_PROMPTS.params(prompt))
        return prompt

    async def update_system_prompt(
        self, id: str, *, name: str | None = None, content: str | None = None
    ) -> SystemPrompt | None:
        """Change the given fields (None leaves one as is); None if unknown."""
        changes = {k: v for k, v in (("name", name), ("content", content)) if v is not None}
        async with self._db.transaction(write=True) as db:
            return await update_row(db, SYSTEM_PROMPTS, id, changes, SYSTEM_PROMPT_FIELDS)

    async def delete_system_prompt(self, id: str) -> bool:
        async with self._db.locked() as db:
            return await run(db, "DELETE FROM system_prompts WHERE id = ?", (id,)) > 0

    # -- settings ----------------------------------------------------------------

    async def get_settings(self) -> Settings:
        """The stored settings; fields never saved keep their defaults. Every chat asks,
        and only `save_settings` changes them: read once, kept until the next save."""
        return (await self._settings.get(self._read_settings)).model_copy(deep=True)

    async def _read_settings(self) -> Settings:
        async with self._db.locked() as db:
            rows = await fetch_all(db, "SELECT key, value FROM settings")
        return Settings.model_validate({row["key"]: from_json(row["value"]) for row in rows})

    async def save_settings(self, settings: Settings) -> None:
        """Store every field, one row each, so a new field needs no migration."""
        values = settings.model_dump(mode="json", by_alias=False)
        try:
            async with self._db.transaction(write=True) as db:
                await run_many(
                    db,
                    "INSERT INTO settings (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [(key, json_text(value)) for key, value in values.items()],
                )
        finally:
            self._settings.changed()
