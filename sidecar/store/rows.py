"""Row <-> model conversion, shared by every table that stores a wire model.

A table's columns are exactly its model's fields, so one `Mapper` per table
derives the SQL column lists and the JSON-encoded columns in one place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from sidecar.ids import now_iso
from sidecar.protocol.base import Wire
from sidecar.protocol.objects import Conversation, Message, SystemPrompt, UsageRecord

M = TypeVar("M", bound=Wire)


def to_json(value: Any) -> str | None:
    """JSON text of a model, a list of models or plain data; None stays SQL NULL."""
    return None if value is None else json_text(value)


def json_text(value: Any) -> str:
    """JSON text of any value, None included (as `null`)."""
    return orjson.dumps(_plain(value)).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=False)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def from_json(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def bumped(previous: str) -> str:
    """A fresh updated_at that never goes back, even if the wall clock does."""
    return max(now_iso(), previous)


class Mapper(Generic[M]):
    """How one model is stored: its table, columns and which columns hold JSON."""

    def __init__(self, table: str, model: type[M], json_columns: Iterable[str] = ()) -> None:
        self.table = table
        self.model = model
        self.columns: tuple[str, ...] = tuple(model.model_fields)
        self.json_columns = frozenset(json_columns)
        names = ", ".join(self.columns)
        values = ", ".join(f":{c}" for c in self.columns)
        self.insert_sql = f"INSERT INTO {table} ({names}) VALUES ({values})"

    def select(self, alias: str = "") -> str:
        """The column list, optionally qualified (`m.id, m.role, ...`) for joins."""
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + c for c in self.columns)

    def update_sql(self, columns: Iterable[str]) -> str:
        assignments = ", ".join(f"{c} = :{c}" for c in columns)
        return f"UPDATE {self.table} SET {assignments} WHERE id = :id"

    def load(self, row: sqlite3.Row, model: type[M] | None = None, **extra: Any) -> M:
        """The model of a row selected with `select()`; `model` may be a subclass
        that `extra` completes (a BranchMessage from a message row)."""
        data = {c: row[c] for c in self.columns}
        for c in self.json_columns:
            data[c] = from_json(data[c])
        return (model or self.model).model_validate(data | extra)

    def params(self, obj: M) -> dict[str, Any]:
        """Named SQL parameters for every column of `obj`."""
        return {
            c: to_json(getattr(obj, c)) if c in self.json_columns else getattr(obj, c)
            for c in self.columns
        }

    def changed(self, current: M, changes: dict[str, Any], allowed: frozenset[str]) -> M:
        """`current` with `changes` applied, validated, and updated_at bumped.

        Unknown keys raise TypeError like a bad keyword argument would.
        """
        unknown = changes.keys() - allowed
        if unknown:
            raise TypeError(f"cannot change {', '.join(sorted(unknown))} of {self.table}")
        data = current.model_dump(by_alias=False) | changes
        data["updated_at"] = bumped(current.updated_at)
        return self.model.model_validate(data)


CONVERSATIONS = Mapper("conversations", Conversation, json_columns=("settings",))
MESSAGES = Mapper(
    "messages", Message, json_columns=("tool_calls", "steps", "attachments", "usage", "error")
)
SYSTEM_PROMPTS = Mapper("system_prompts", SystemPrompt)
USAGE = Mapper("usage_records", UsageRecord)
