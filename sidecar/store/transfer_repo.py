"""Whole histories written at once: an imported conversation, a legacy import's rows.

A repository of the store (`sidecar/store/<concern>_repo.py` holds `<Concern>Repo`;
see `sidecar.store.database`). Unlike `MessageRepo`, rows are stored exactly as
given (ids, active leaves, branch names), each call in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sidecar.protocol.objects import Conversation, Message, SystemPrompt, UsageRecord
from sidecar.store.rows import CONVERSATIONS, MESSAGES, SYSTEM_PROMPTS, USAGE
from sidecar.store.sql import fetch_all, run, run_many

if TYPE_CHECKING:
    from sidecar.store.database import Database

_BRANCH_NAME_INSERT = "INSERT INTO branch_names (conversation_id, leaf_id, name) VALUES (?, ?, ?)"
# A name the conversation already has is not added again: a branch that grew in the
# sidecar took its name along, and the next import must not name its old end too.
_MISSING_BRANCH_NAME = (
    "INSERT INTO branch_names (conversation_id, leaf_id, name) SELECT ?1, ?2, ?3 "
    "WHERE NOT EXISTS (SELECT 1 FROM branch_names WHERE conversation_id = ?1 AND name = ?3)"
)


class TransferRepo:
    """Bulk inserts across `conversations`, `messages`, `branch_names`, `system_prompts`
    and `usage_records`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def import_conversation(
        self, conversation: Conversation, messages: list[Message], branch_names: Mapping[str, str]
    ) -> None:
        """Store a whole conversation at once, as given (its active leaf included), in one
        transaction. `messages` must list every parent before its children."""
        async with self._db.transaction(write=True) as db:
            await run(db, CONVERSATIONS.insert_sql, CONVERSATIONS.params(conversation))
            await run_many(db, MESSAGES.insert_sql, [MESSAGES.params(m) for m in messages])
            await run_many(
                db,
                _BRANCH_NAME_INSERT,
                [(conversation.id, leaf, name) for leaf, name in branch_names.items()],
            )

    async def deleted_since_imported(
        self, conversations: Sequence[Conversation], messages: Sequence[Message]
    ) -> set[str]:
        """Conversations and messages an earlier import added that the user deleted since,
        and the messages below a deleted one (they went with it), so that the next import
        leaves them deleted. `messages`: parents first."""
        async with self._db.transaction(write=False) as db:
            imported = {r["id"] for r in await fetch_all(db, "SELECT id FROM imported_ids")}
            stored = {r["id"] for r in await fetch_all(db, "SELECT id FROM conversations")}
            stored |= {r["id"] for r in await fetch_all(db, "SELECT id FROM messages")}
        gone = {c.id for c in conversations if c.id in imported and c.id not in stored}
        for m in messages:
            if {m.conversation_id, m.parent_id} & gone or (m.id in imported and m.id not in stored):
                gone.add(m.id)
        return gone

    async def add_missing(
        self,
        *,
        system_prompts: Sequence[SystemPrompt] = (),
        conversations: Sequence[Conversation] = (),
        messages: Sequence[Message] = (),
        branch_names: Sequence[tuple[str, str, str]] = (),
        usage: Sequence[UsageRecord] = (),
    ) -> dict[str, int]:
        """Insert every row whose key is not stored yet, all in one transaction, and leave
        the rows already there as they are, so a bulk import run twice adds nothing the
        second time (`sidecar import-legacy`). The ids of every row given are kept in
        `imported_ids` (see `deleted_since_imported`). `messages` lists parents before children;
        `branch_names` are (conversation id, leaf id, name). Returns the rows added per kind."""
        async with self._db.transaction(write=True) as db:
            batches: list[tuple[str, str, list[Any]]] = [
                (kind, mapper.insert_sql, [mapper.params(row) for row in rows])
                for kind, mapper, rows in (
                    ("systemPrompts", SYSTEM_PROMPTS, system_prompts),
                    ("conversations", CONVERSATIONS, conversations),
                    ("messages", MESSAGES, messages),
                    ("usage", USAGE, usage),
                )
            ]
            batches.append(("branchNames", _MISSING_BRANCH_NAME, list(branch_names)))
            added: dict[str, int] = {}
            for kind, sql, rows in batches:
                async with db.executemany(sql.replace("INSERT", "INSERT OR IGNORE", 1), rows) as c:
                    added[kind] = max(c.rowcount, 0)
            ids = [*system_prompts, *conversations, *messages, *usage]
            await run_many(
                db, "INSERT OR IGNORE INTO imported_ids (id) VALUES (?)", [(r.id,) for r in ids]
            )
        return added
