"""Read the old app's `app.db` (read-only) into plain rows.

Each dataclass below is one table of `schema.SCHEMAS`; its fields are the
columns read, plus `row_order` (SQLite's rowid: the order rows were written in,
which breaks ties between messages of the same second). A table a version lacks
reads as no rows and a column it lacks as NULL. A table or column without which
the rows mean nothing is a one-line `LegacyError` naming it. Times are read as
Unix milliseconds (None when absent or unreadable).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sidecar.legacy.schema import OLDEST_VERSION, SKIPPED_TABLES


class LegacyError(Exception):
    """The file is not a database the importer can read; printed as one line."""


@dataclass(slots=True, frozen=True)
class Conversation:
    row_order: int
    id: str
    name: str | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Message:
    row_order: int
    id: str
    conversation_id: str
    role: str
    content: str
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Attachment:
    row_order: int
    id: str
    message_id: str
    name: str | None
    data: str | None
    attachment_type: str | None
    mime_type: str | None
    transcript: str | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Usage:
    row_order: int
    id: str
    message_id: str | None
    model_name: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    estimated_cost: float | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class Branch:
    row_order: int
    id: str
    conversation_id: str
    name: str | None
    created_at: int | None


@dataclass(slots=True, frozen=True)
class TreeRow:
    row_order: int
    message_id: str
    parent_message_id: str | None
    branch_id: str


@dataclass(slots=True, frozen=True)
class ToolExecution:
    row_order: int
    id: str
    message_id: str
    tool_name: str | None
    parameters: str | None
    result: str | None
    success: int | None
    error: str | None
    iteration_number: int | None


@dataclass(slots=True, frozen=True)
class Thinking:
    row_order: int
    id: str
    message_id: str
    stage: str | None
    content: str
    iteration_number: int | None


@dataclass(slots=True, frozen=True)
class Model:
    row_order: int
    provider: str
    model_name: str
    url: str | None
    enabled: int | None
    custom_backend_id: str | None


@dataclass(slots=True, frozen=True)
class ApiKey:
    row_order: int
    provider: str
    key: str = field(repr=False)


@dataclass(slots=True, frozen=True)
class Backend:
    row_order: int
    id: str
    name: str | None
    url: str
    api_key: str | None = field(repr=False)
    created_at: int | None = None


@dataclass(slots=True, frozen=True)
class SystemPrompt:
    row_order: int
    id: str
    name: str | None
    content: str
    created_at: int | None
    updated_at: int | None


@dataclass(slots=True, frozen=True)
class Preference:
    row_order: int
    key: str
    value: str | None


@dataclass(slots=True, frozen=True)
class McpServer:
    row_order: int
    id: str
    name: str | None
    url: str
    auth_type: str | None
    api_key: str | None = field(repr=False)
    created_at: int | None = None


# table, row class, the columns without which a row means nothing
_TABLES: tuple[tuple[str, type, frozenset[str]], ...] = (
    ("conversations", Conversation, frozenset({"id", "name"})),
    ("messages", Message, frozenset({"id", "conversation_id", "role", "content"})),
    ("message_attachments", Attachment, frozenset({"id", "message_id", "data"})),
    ("message_usage", Usage, frozenset({"message_id", "model_name"})),
    ("branches", Branch, frozenset({"id", "conversation_id", "name"})),
    ("message_tree", TreeRow, frozenset({"message_id", "branch_id"})),
    ("message_tool_executions", ToolExecution, frozenset({"id", "message_id", "tool_name"})),
    ("message_agent_thinking", Thinking, frozenset({"id", "message_id", "content"})),
    ("models", Model, frozenset({"provider", "model_name"})),
    ("api_keys", ApiKey, frozenset({"provider", "key"})),
    ("custom_backends", Backend, frozenset({"id", "url"})),
    ("system_prompts", SystemPrompt, frozenset({"id", "content"})),
    ("user_preferences", Preference, frozenset({"key"})),
    ("mcp_servers", McpServer, frozenset({"id", "url"})),
)
_REQUIRED_TABLES = ("conversations", "messages")
_MILLISECONDS = {("custom_backends", "created_at")}
READ_TABLES = frozenset(t[0] for t in _TABLES)


@dataclass(slots=True)
class LegacyData:
    version: int
    conversations: list[Conversation]
    messages: list[Message]
    attachments: list[Attachment]
    usage: list[Usage]
    branches: list[Branch]
    tree: list[TreeRow]
    tool_executions: list[ToolExecution]
    thinking: list[Thinking]
    models: list[Model]
    api_keys: list[ApiKey]
    backends: list[Backend]
    system_prompts: list[SystemPrompt]
    preferences: list[Preference]
    mcp_servers: list[McpServer]
    left: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Tables not imported -> (their row count, why)."""


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
        db.execute("BEGIN")  # one read transaction: a consistent view while the app writes
        tables = {
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        }
        for table in _REQUIRED_TABLES:
            if table not in tables:
                raise LegacyError(f"{path} is not the old app's database: no {table} table")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if 0 < version < OLDEST_VERSION:
            raise LegacyError(
                f"{path} is at schema version {version}; the import reads {OLDEST_VERSION} "
                "and later: open it once in a newer version of the old app first"
            )
        loaded = [_rows(db, *spec) if spec[0] in tables else [] for spec in _TABLES]
        left = {
            table: (
                _count(db, table),
                SKIPPED_TABLES.get(table, "a table this import does not know"),
            )
            for table in sorted(tables - READ_TABLES)
        }
    except sqlite3.DatabaseError as exc:
        raise LegacyError(f"cannot read {path}: {exc}") from None
    finally:
        db.close()
    return LegacyData(version, *loaded, left=left)


def _count(db: sqlite3.Connection, table: str) -> int:
    return db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def _rows(db: sqlite3.Connection, table: str, cls: type, required: frozenset[str]) -> list[Any]:
    present = {row["name"] for row in db.execute(f'PRAGMA table_info("{table}")')}
    missing = required - present
    if missing:
        raise LegacyError(f"table {table} has no column {', '.join(sorted(missing))}")
    columns = [f.name for f in fields(cls) if f.name != "row_order"]
    select = ", ".join(f'"{c}"' if c in present else f'NULL AS "{c}"' for c in columns)
    out = []
    for row in db.execute(f'SELECT rowid AS row_order, {select} FROM "{table}" ORDER BY rowid'):
        values = {c: _value(table, c, row[c]) for c in columns}
        out.append(cls(row_order=row["row_order"], **values))
    return out


def _value(table: str, column: str, value: Any) -> Any:
    if column.endswith("_at"):
        return to_ms(value, milliseconds=(table, column) in _MILLISECONDS)
    if (column == "id" or column.endswith("_id")) and value is not None:
        return str(value)
    if column in ("content", "url") and value is None:
        return ""
    return value


def to_ms(value: Any, *, milliseconds: bool = False) -> int | None:
    """Unix milliseconds of a stored time: a number of seconds (every time column of the
    old app but one), or of milliseconds where `milliseconds`. None when unreadable."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    ms = value if milliseconds else value * 1000
    return int(ms) if 0 <= ms < 1 << 47 else None


def iso(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as the sidecar stores times."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )


def json_or_text(value: str | None) -> Any:
    """A stored value: the JSON it holds, else the text itself."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value
