"""Messages written one at a time, as the sidecar itself never does: tests build trees and
change messages with these, through the store's own transactions and statements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sidecar.protocol.objects import Message
from sidecar.store import Database, Repositories
from sidecar.store.message_repo import MESSAGE_FIELDS, insert_message
from sidecar.store.rows import MESSAGES
from sidecar.store.sql import update_row


async def open_repos(path: Path) -> Repositories:
    return Repositories.over(await Database.open(path))


async def add_message(database: Database, message: Message) -> None:
    """Insert a message and make it the conversation's active leaf.

    If its parent was a named leaf, the name moves down to it: the branch
    grew. Raises ValueError for an unknown conversation, a parent outside
    the conversation, or a duplicate id.
    """
    async with database.transaction(write=True) as db:
        await insert_message(db, message)


async def update_message(database: Database, id: str, **changes: Any) -> Message | None:
    """Apply `changes` (content, status, thinking, tool_calls, usage, error,
    model_id, provider); None if there is no such message."""
    async with database.transaction(write=True) as db:
        return await update_row(db, MESSAGES, id, changes, MESSAGE_FIELDS)
