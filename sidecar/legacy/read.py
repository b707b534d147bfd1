"""Read the old app's database (read-only) into plain rows.

Each dataclass below is one table of `schema.LEGACY_SCHEMA`; its fields are the
columns read, plus `row_order` (SQLite's rowid: the order rows were written in,
which breaks ties between timestamps of the same second). A missing optional
table reads as no rows and a missing optional column as NULL, so databases of
older app versions import too. Ids are read as text whatever their SQL type,
and `*_at` columns as Unix milliseconds (None when absent or unreadable).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote


class LegacyError(Exception):
    """The file is not a database of the old app; printed as one line."""


@dataclass(slots=True, frozen=True)
class Conversation:
    row_order: int
    id: str
    title: str | None
    model: str | None
    system_prompt_id: str | None
    active_branch_id: str | None
    created_at: int | None
    updated_at: int | None


@dataclass(slots=True, frozen=True)
class Branch:
    row_order: int
    id: str
    conversation_id: str
    name: str | None
    parent_branch_id: str | None
    created_from_message_id: str | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Message:
    row_order: int
    id: str
    conversation_id: str
    branch_id: str | None
    role: str
    content: str
    model: str | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Attachment:
    row_order: int
    id: str
    message_id: str
    name: str | None
    type: str | None
    size: int | None
    mime_type: str | None
    file_path: str | None


@dataclass(slots=True, frozen=True)
class Usage:
    row_order: int
    id: str
    message_id: str | None
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    estimated_cost: float | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Backend:
    row_order: int
    id: str
    name: str | None
    url: str
    api_key: str | None = field(repr=False)


@dataclass(slots=True, frozen=True)
class Model:
    row_order: int
    provider: str
    model_id: str
    name: str | None
    enabled: int | None
    custom_backend_id: str | None
    context_window: int | None
    capabilities: str | None


@dataclass(slots=True, frozen=True)
class SystemPrompt:
    row_order: int
    id: str
    name: str | None
    content: str
    is_default: int | None
    created_at: int | None
    updated_at: int | None


@dataclass(slots=True, frozen=True)
class ApiKey:
    row_order: int
    provider: str
    api_key: str = field(repr=False)


@dataclass(slots=True, frozen=True)
class Preference:
    row_order: int
    key: str
    value: str | None


# table, row class, the columns without which a row means nothing
_TABLES: tuple[tuple[str, type, frozenset[str]], ...] = (
    ("conversations", Conversation, frozenset({"id"})),
    ("branches", Branch, frozenset({"id", "conversation_id"})),
    ("messages", Message, frozenset({"id", "conversation_id", "role", "content"})),
    ("attachments", Attachment, frozenset({"id", "message_id"})),
    ("message_usage", Usage, frozenset({"message_id"})),
    ("custom_backends", Backend, frozenset({"id", "url"})),
    ("models", Model, frozenset({"provider", "model_id"})),
    ("system_prompts", SystemPrompt, frozenset({"id", "content"})),
    ("api_keys", ApiKey, frozenset({"provider", "api_key"})),
    ("preferences", Preference, frozenset({"key"})),
)
_REQUIRED_TABLES = ("conversations", "messages")


@dataclass(slots=True)
class LegacyData:
    conversations: list[Conversation]
    branches: list[Branch]
    messages: list[Message]
    attachments: list[Attachment]
    usage: list[Usage]
    backends: list[Backend]
    models: list[Model]
    system_prompts: list[SystemPrompt]
    api_keys: list[ApiKey]
    preferences: list[Preference]


def read(path: Path) -> LegacyData:
    """Everything the importer uses from the database at `path`, opened read-only."""
    if not path.is_file():
        raise LegacyError(f"no database at {path}")
    try:
        db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LegacyError(f"cannot open {path}: {exc}") from None
    db.row_factory = sqlite3.Row
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        for table in _REQUIRED_TABLES:
            if table not in tables:
                raise LegacyError(f"{path} is not the old app's database: no {table} table")
        loaded = [_rows(db, *spec) if spec[0] in tables else [] for spec in _TABLES]
    except sqlite3.DatabaseError as exc:
        raise LegacyError(f"cannot read {path}: {exc}") from None
    finally:
        db.close()
    return LegacyData(*loaded)


def _rows(db: sqlite3.Connection, table: str, cls: type, required: frozenset[str]) -> list[Any]:
    present = {row["name"] for row in db.execute(f'PRAGMA table_info("{table}")')}
    missing = required - present
    if missing:
        raise LegacyError(f"table {table} has no column {', '.join(sorted(missing))}")
    columns = [f.name for f in fields(cls) if f.name != "row_order"]
    select = ", ".join(f'"{c}"' if c in present else f'NULL AS "{c}"' for c in columns)
    out = []
    for row in db.execute(f'SELECT rowid AS row_order, {select} FROM "{table}" ORDER BY rowid'):
        values = {c: _value(c, row[c]) for c in columns}
        out.append(cls(row_order=row["row_order"], **values))
    return out


def _value(column: str, value: Any) -> Any:
    if column.endswith("_at"):
        return to_ms(value)
    if (column == "id" or column.endswith("_id")) and value is not None:
        return str(value)
    if column in ("content", "url") and value is None:
        return ""
    return value


_NUMBER = re.compile(r"^\d+(\.\d+)?$")


def to_ms(value: Any) -> int | None:
    """Unix milliseconds of a timestamp as the old app may have stored it: SQLite's
    'YYYY-MM-DD HH:MM:SS' (UTC), ISO 8601 with or without an offset, or a number of
    seconds or milliseconds since 1970. None when it is none of these."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        value = float(value)
    if isinstance(value, int | float):
        ms = value if value > 1e11 else value * 1000  # 1e11 s is the year 5138
        return int(ms) if 0 <= ms < 1 << 47 else None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ms = int(parsed.timestamp() * 1000)
        return ms if ms >= 0 else None
    return None


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as the sidecar stores times."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


def json_or_text(value: str | None) -> Any:
    """A preference value: the JSON it holds, else the text itself."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
