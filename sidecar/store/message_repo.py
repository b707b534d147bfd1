"""The message tree: turns as they are stored and streamed, paths, branches and their names.

A repository of the store (`sidecar/store/<concern>_repo.py` holds `<Concern>Repo`;
see `sidecar.store.database`). Adding a message makes it its conversation's active
leaf (`insert_message`); whole histories arrive through `TransferRepo` instead.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import aiosqlite

from sidecar.ids import now_iso
from sidecar.protocol.objects import (
    Attachment,
    Branch,
    BranchMessage,
    Conversation,
    Message,
    TreeNode,
    UsageRecord,
)
from sidecar.store.rows import CONVERSATIONS, MESSAGES, USAGE, from_json
from sidecar.store.sql import (
    SqlParams,
    exists,
    fetch_all,
    fetch_one,
    get_row,
    run,
    run_many,
    run_together,
)
from sidecar.store.tree import preview, summarize_branches

if TYPE_CHECKING:
    from sidecar.store.database import Database

MESSAGE_FIELDS = frozenset(
    {
        "content",
        "status",
        "thinking",
        "tool_calls",
        "steps",
        "usage",
        "error",
        "finish_reason",
        "model_id",
        "provider",
    }
)

# A branch as (id, depth), its end at depth 0, up to the root: the active one, or the one
# ending at :leaf_id.
_PATH = """
WITH RECURSIVE path(id, depth) AS (
    {start}
    UNION ALL
    SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
    WHERE m.parent_id IS NOT NULL
)
"""
_ACTIVE_PATH = _PATH.format(
    start="SELECT active_leaf_id, 0 FROM conversations WHERE id = :conversation_id"
)
_PATH_TO = _PATH.format(start="SELECT :leaf_id, 0")

# A new message's parent was a named branch's leaf: the name follows the branch down.
_NAME_FOLLOWS = (
    "UPDATE branch_names SET leaf_id = :id "
    "WHERE conversation_id = :conversation_id AND leaf_id = :parent_id "
    "AND (NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = :conversation_id "
    "                 AND parent_id = :parent_id AND id <> :id) "
    "     OR EXISTS (SELECT 1 FROM conversations WHERE id = :conversation_id "
    "                AND active_leaf_id = :parent_id))"
)
_TO_LEAF = (
    "UPDATE conversations SET active_leaf_id = :id, "
    "updated_at = max(updated_at, :now) WHERE id = :conversation_id "
    f"RETURNING {CONVERSATIONS.select()}"
)
_CONVERSATION = f"SELECT {CONVERSATIONS.select()} FROM conversations WHERE id = ?"
_CLIENT_REQUEST = (
    "SELECT user_message_id, assistant_message_id FROM client_requests WHERE client_request_id = ?"
)


def _branch(conversation_id: str, leaf_id: str | None) -> tuple[str, dict[str, str | None]]:
    """The statement reading the branch ending at `leaf_id` (None: the active one), root
    first, without siblings."""
    return (
        f"{_ACTIVE_PATH if leaf_id is None else _PATH_TO} SELECT {MESSAGES.select('m')} "
        "FROM path JOIN messages m ON m.id = path.id "
        "WHERE m.conversation_id = :conversation_id ORDER BY path.depth DESC",
        {"conversation_id": conversation_id, "leaf_id": leaf_id},
    )


class Leaf(Enum):
    ACTIVE = "active"  # the conversation's active leaf, whichever it is


@dataclass(frozen=True, slots=True)
class TurnReads:
    """What a new turn reads first (`MessageRepo.before_turn`)."""

    earlier: tuple[str, str] | None  # (user, assistant) ids of an earlier send with its id
    conversation: Conversation | None
    branch: list[Message]  # root first; empty when the leaf is not in the conversation


_IS_NAMED = "SELECT 1 FROM branch_names WHERE conversation_id = ? AND leaf_id = ?"
_IS_LEAF = """
SELECT 1 FROM messages m
WHERE m.id = ? AND m.conversation_id = ?
  AND NOT EXISTS (
      SELECT 1 FROM messages c WHERE c.conversation_id = m.conversation_id AND c.parent_id = m.id
  )
"""


class MessageRepo:
    """The `messages`, `branch_names` and `client_requests` tables (and a turn's usage
    records, written with its messages)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    # -- turns -----------------------------------------------------------------

    async def add_turn(
        self,
        user: Message | None,
        assistant: Message,
        client_request_id: str | None = None,
        usage: Sequence[UsageRecord] = (),
    ) -> Conversation:
        """Store a user message (if any), the assistant message answering it and its usage
        records (a turn recorded whole), in one transaction, remembering
        `client_request_id` so a repeated call finds them. Returns the conversation as
        it now is (its new active leaf and time)."""
        messages = [assistant] if user is None else [user, assistant]
        statements = [  # the reply, not its question, becomes the conversation's leaf
            *(_insert_statements(user, leaf=False) if user is not None else ()),
            *_insert_statements(assistant, leaf=True),
        ]
        returned = len(statements) - 1
        statements += [(USAGE.insert_sql, USAGE.params(record)) for record in usage]
        if client_request_id is not None:
            statements.append(
                (
                    "INSERT INTO client_requests (client_request_id, conversation_id, "
                    "user_message_id, assistant_message_id, created_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        client_request_id,
                        assistant.conversation_id,
                        user.id if user else assistant.parent_id,
                        assistant.id,
                        assistant.created_at,
                    ),
                )
            )
        async with self._db.transaction(write=True) as db:
            rows = await _added(db, messages, statements)
        return CONVERSATIONS.load(rows[returned][0])

    async def client_request(self, client_request_id: str) -> tuple[str, str] | None:
        """(user message id, assistant message id) of an earlier chat.send with this id."""
        async with self._db.locked() as db:
            row = await fetch_one(db, _CLIENT_REQUEST, (client_request_id,))
        return None if row is None else (row[0], row[1])

    async def flush_streams(self, rows: list[tuple[str, str | None, str, str, str]]) -> None:
        """Write the text streamed so far of several messages in one transaction:
        rows of (content, thinking, status, updated_at, id). A message that already
        reached a final status is left alone, so a late batch never undoes it."""
        async with self._db.transaction(write=True) as db:
            await run_many(
                db,
                "UPDATE messages SET content = ?, thinking = ?, status = ?, updated_at = ? "
                "WHERE id = ? AND status IN ('pending', 'streaming')",  # a final write always wins
                rows,
            )

    async def finish(self, message: Message, usage: list[UsageRecord]) -> None:
        """Store a turn's final message and its usage records (one per provider call) together."""
        async with self._db.transaction(write=True) as db:
            await run(
                db, MESSAGES.update_sql([*MESSAGE_FIELDS, "updated_at"]), MESSAGES.params(message)
            )
            if usage:
                await run_many(db, USAGE.insert_sql, [USAGE.params(r) for r in usage])

    # -- reading ---------------------------------------------------------------

    async def get(self, id: str) -> Message | None:
        async with self._db.locked() as db:
            return await get_row(db, MESSAGES, id)

    async def in_conversation(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation (all branches), oldest first."""
        async with self._db.locked() as db:
            rows = await fetch_all(
                db,
                f"SELECT {MESSAGES.select()} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        return [MESSAGES.load(row) for row in rows]

    async def attachment(self, attachment_id: str) -> tuple[Attachment, str] | None:
        """An attachment of any stored message (any conversation, any branch) and the id
        of the conversation holding it, found through the `attachment_index` index."""
        async with self._db.locked() as db:
            row = await fetch_one(
                db,
                "SELECT m.conversation_id, a.value AS attachment "
                "FROM attachment_index x JOIN messages m ON m.id = x.message_id, "
                "json_each(m.attachments) a "
                "WHERE x.attachment_id = ? AND json_extract(a.value, '$.id') = x.attachment_id "
                "ORDER BY x.message_id LIMIT 1",
                (attachment_id,),
            )
        if row is None:
            return None
        return Attachment.model_validate(from_json(row["attachment"])), row["conversation_id"]

    async def has_complete_reply(self, conversation_id: str, *, other_than: str) -> bool:
        """Whether the conversation has a complete assistant message besides `other_than`."""
        async with self._db.locked() as db:
            return await exists(
                db,
                "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'assistant' "
                "AND status = 'complete' AND id <> ? LIMIT 1",
                (conversation_id, other_than),
            )

    # -- the tree --------------------------------------------------------------

    async def active_path(self, conversation_id: str) -> list[BranchMessage]:
        """The active branch root first, each message with its siblings' ids."""
        return await self._path(_ACTIVE_PATH, {"conversation_id": conversation_id})

    async def branch_messages(self, conversation_id: str, leaf_id: str) -> list[Message]:
        """The branch ending at `leaf_id`, root first, without siblings (empty when the
        conversation has no such message): what a new turn after it sends. One statement
        (atomic by itself), so one round trip, where `path` takes four."""
        async with self._db.locked() as db:
            rows = await fetch_all(db, *_branch(conversation_id, leaf_id))
        return [MESSAGES.load(row) for row in rows]

    def before_turn(
        self, conversation_id: str, leaf: str | Leaf | None, client_request_id: str | None
    ) -> TurnReads:
        """What a new turn reads first, at once (`Database.read_now`: call it under the
        engine's lock, which the writes of turns hold): the conversation, the earlier
        send with `client_request_id` (if any) and the branch the turn follows, ending at
        `leaf` (`Leaf.ACTIVE`: the active one; None: none, the turn starts a new root)."""
        statements = [(_CONVERSATION, (conversation_id,))]
        if client_request_id is not None:
            statements.append((_CLIENT_REQUEST, (client_request_id,)))
        if leaf is not None:
            statements.append(_branch(conversation_id, None if leaf is Leaf.ACTIVE else leaf))
        found = self._db.read_now(*statements)
        conversation = found.pop(0)
        earlier = found.pop(0) if client_request_id is not None else []
        return TurnReads(
            conversation=CONVERSATIONS.load(conversation[0]) if conversation else None,
            earlier=(earlier[0][0], earlier[0][1]) if earlier else None,
            branch=[MESSAGES.load(row) for row in found[0]] if found else [],
        )

    async def path(self, conversation_id: str, leaf_id: str) -> list[BranchMessage]:
        """The branch ending at `leaf_id` (any message of the conversation), root first,
        each message with its siblings' ids; empty when no such message."""
        return await self._path(_PATH_TO, {"conversation_id": conversation_id, "leaf_id": leaf_id})

    async def _path(self, cte: str, params: dict[str, str]) -> list[BranchMessage]:
        async with self._db.transaction(write=False) as db:
            path = await fetch_all(
                db,
                f"{cte} SELECT {MESSAGES.select('m')} "
                "FROM path JOIN messages m ON m.id = path.id "
                "WHERE m.conversation_id = :conversation_id ORDER BY path.depth DESC",
                params,
            )
            # Siblings of path messages are the roots and the children of path messages.
            family = await fetch_all(
                db,
                f"{cte} SELECT id, parent_id FROM messages "
                "WHERE conversation_id = :conversation_id AND parent_id IS NULL "
                "UNION ALL SELECT id, parent_id FROM messages "
                "WHERE conversation_id = :conversation_id AND parent_id IN (SELECT id FROM path)",
                params,
            )
        siblings: dict[str | None, list[str]] = {}
        for row in family:
            siblings.setdefault(row["parent_id"], []).append(row["id"])
        for ids in siblings.values():
            ids.sort()
        return [
            MESSAGES.load(row, BranchMessage, sibling_ids=siblings[row["parent_id"]])
            for row in path
        ]

    async def tree(self, conversation_id: str) -> list[TreeNode]:
        """Every message oldest first, light enough to draw the whole tree."""
        async with self._db.locked() as db:
            rows = await fetch_all(
                db,
                "SELECT id, parent_id, role, status, content, created_at FROM messages "
                "WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        return [
            TreeNode(
                id=row["id"],
                parent_id=row["parent_id"],
                role=row["role"],
                status=row["status"],
                preview=preview(row["content"]),
                created_at=row["created_at"],
            )
            for row in rows
        ]

    async def newest_leaf_under(self, message_id: str) -> str | None:
        """The leaf reached by always taking the newest child: where switching to a
        sibling lands. The message itself if it is a leaf; None if unknown."""
        async with self._db.locked() as db:
            row = await fetch_one(
                db,
                """
                WITH RECURSIVE walk(id, conversation_id, depth) AS (
                    SELECT id, conversation_id, 0 FROM messages WHERE id = ?
                    UNION ALL
                    SELECT (SELECT max(c.id) FROM messages c
                            WHERE c.conversation_id = walk.conversation_id
                              AND c.parent_id = walk.id),
                           walk.conversation_id, walk.depth + 1
                    FROM walk WHERE walk.id IS NOT NULL
                )
                SELECT id FROM walk WHERE id IS NOT NULL ORDER BY depth DESC LIMIT 1
                """,
                (message_id,),
            )
        return None if row is None else row["id"]

    # -- branches --------------------------------------------------------------

    async def branches(self, conversation_id: str) -> list[Branch]:
        """One entry per branch end, ordered by id (see tree.summarize_branches)."""
        async with self._db.transaction(write=False) as db:
            return await _branches(db, conversation_id)

    async def rename_branch(
        self, conversation_id: str, leaf_id: str, name: str | None
    ) -> Branch | None:
        """Name the branch ending at `leaf_id` (None clears the name); None if no branch
        ends there (not a leaf, nor a named message). A branch that ends inside the tree
        exists by its name: clearing it is a ValueError."""
        async with self._db.transaction(write=True) as db:
            if not await exists(db, _IS_LEAF, (leaf_id, conversation_id)):
                if not await exists(db, _IS_NAMED, (conversation_id, leaf_id)):
                    return None
                if name is None:
                    raise ValueError(
                        "this branch ends inside the tree and is known only by its name: "
                        "rename it instead"
                    )
            if name is None:
                await run(
                    db,
                    "DELETE FROM branch_names WHERE conversation_id = ? AND leaf_id = ?",
                    (conversation_id, leaf_id),
                )
            else:
                await run(
                    db,
                    "INSERT INTO branch_names (conversation_id, leaf_id, name) VALUES (?, ?, ?) "
                    "ON CONFLICT (conversation_id, leaf_id) DO UPDATE SET name = excluded.name",
                    (conversation_id, leaf_id, name),
                )
            branches = await _branches(db, conversation_id)
        return next(branch for branch in branches if branch.leaf_id == leaf_id)

    async def drop_branch_name(self, conversation_id: str, leaf_id: str) -> None:
        async with self._db.locked() as db:
            await run(
                db,
                "DELETE FROM branch_names WHERE conversation_id = ? AND leaf_id = ?",
                (conversation_id, leaf_id),
            )

    async def branch_only(self, conversation_id: str, leaf_id: str) -> list[str]:
        """The messages only the branch ending at leaf `leaf_id` has, the leaf first: up
        from it while a message is its parent's only child and no other branch ends at
        the parent. Empty when `leaf_id` is not a leaf of the conversation."""
        async with self._db.transaction(write=False) as db:
            if not await exists(db, _IS_LEAF, (leaf_id, conversation_id)):
                return []
            rows = await fetch_all(
                db,
                """
                WITH RECURSIVE up(id, parent_id, depth) AS (
                    SELECT id, parent_id, 0 FROM messages WHERE id = :leaf_id
                    UNION ALL
                    SELECT m.id, m.parent_id, up.depth + 1 FROM messages m JOIN up
                      ON m.conversation_id = :conversation_id AND m.id = up.parent_id
                    WHERE (SELECT count(*) FROM messages c WHERE c.conversation_id =
                           :conversation_id AND c.parent_id = m.id) = 1
                      AND NOT EXISTS (SELECT 1 FROM branch_names b WHERE b.conversation_id =
                           :conversation_id AND b.leaf_id = m.id)
                )
                SELECT id FROM up ORDER BY depth
                """,
                {"conversation_id": conversation_id, "leaf_id": leaf_id},
            )
        return [row["id"] for row in rows]

    async def delete_branch(
        self, conversation_id: str, message_ids: Sequence[str], active_leaf_id: str | None
    ) -> None:
        """Delete `message_ids` (children first; their names and retry records go with
        them) and make `active_leaf_id` the conversation's active leaf, in one step."""
        async with self._db.transaction(write=True) as db:
            await run(
                db,
                "UPDATE conversations SET active_leaf_id = ? WHERE id = ?",
                (active_leaf_id, conversation_id),
            )
            for message_id in message_ids:
                await run(
                    db,
                    "DELETE FROM client_requests WHERE user_message_id = ? "
                    "OR assistant_message_id = ?",
                    (message_id, message_id),
                )
                await run(
                    db,
                    "DELETE FROM messages WHERE conversation_id = ? AND id = ?",
                    (conversation_id, message_id),
                )

    async def branch_names(self, conversation_id: str) -> dict[str, str]:
        """Leaf id -> name of the named branches of a conversation."""
        async with self._db.locked() as db:
            rows = await fetch_all(
                db,
                "SELECT leaf_id, name FROM branch_names WHERE conversation_id = ? ORDER BY leaf_id",
                (conversation_id,),
            )
        return {row["leaf_id"]: row["name"] for row in rows}


async def insert_message(
    db: aiosqlite.Connection, message: Message, *, leaf: bool = True
) -> Conversation | None:
    """Insert a message as the conversation's active leaf; its parent's branch name
    moves down to it when the branch grew from its end (the parent was a leaf, or the
    active end: sending on a branch that ends inside the tree forks it there). Returns
    the conversation as it now is. Raises ValueError for an unknown conversation, a
    parent outside the conversation, or a duplicate id.

    `leaf=False` when the same transaction inserts its child next: the child moves the
    conversation's leaf and time (one statement fewer); None is returned."""
    rows = await _added(db, [message], _insert_statements(message, leaf=leaf))
    return CONVERSATIONS.load(rows[-1][0]) if leaf else None


def _insert_statements(message: Message, *, leaf: bool) -> list[tuple[str, SqlParams]]:
    """What `insert_message` runs, in order (the last one, with `leaf`, returns the
    conversation)."""
    keys = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "parent_id": message.parent_id,
        "now": now_iso(),
    }
    statements: list[tuple[str, SqlParams]] = [(MESSAGES.insert_sql, MESSAGES.params(message))]
    if message.parent_id is not None:
        statements.append((_NAME_FOLLOWS, keys))
    if leaf:
        statements.append((_TO_LEAF, keys))
    return statements


async def _added(
    db: aiosqlite.Connection, messages: list[Message], statements: list[tuple[str, SqlParams]]
) -> list[list[sqlite3.Row]]:
    """`statements`, which add `messages`, in one round trip (`run_together`); a
    constraint they break is a ValueError naming the messages."""
    try:
        return await run_together(db, *statements)
    except sqlite3.IntegrityError as exc:
        first = messages[0]
        ids = ", ".join(m.id for m in messages)
        raise ValueError(
            f"cannot add message {ids} to conversation "
            f"{first.conversation_id} under parent {first.parent_id}: {exc}"
        ) from exc


async def _branches(db: aiosqlite.Connection, conversation_id: str) -> list[Branch]:
    conversation = await fetch_one(
        db, "SELECT active_leaf_id FROM conversations WHERE id = ?", (conversation_id,)
    )
    if conversation is None:
        return []
    rows = await fetch_all(
        db,
        "SELECT m.id, m.parent_id, m.updated_at, b.name FROM messages m "
        "LEFT JOIN branch_names b ON b.conversation_id = m.conversation_id AND b.leaf_id = m.id "
        "WHERE m.conversation_id = ? ORDER BY m.id",
        (conversation_id,),
    )
    return summarize_branches(
        ((row["id"], row["parent_id"], row["updated_at"]) for row in rows),
        {row["id"]: row["name"] for row in rows if row["name"] is not None},
        conversation["active_leaf_id"],
    )
