"""The SQLite store: conversations, the message tree, system prompts and settings.

One aiosqlite connection in autocommit mode; every public method is one
transaction (an explicit BEGIN..COMMIT when it runs several statements). An
internal lock keeps one method's statements from interleaving with another's
on the shared connection; higher-level locking stays the callers' business.
"""

from __future__ import annotations

import asyncio
import pathlib
import re
import sqlite3
import unicodedata
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiosqlite

from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import (
    Branch,
    BranchMessage,
    Conversation,
    ConversationSettings,
    Message,
    Model,
    Settings,
    SystemPrompt,
    TreeNode,
    UsageRecord,
)
from sidecar.store.errors import StoreOpenError
from sidecar.store.migrations import migrate
from sidecar.store.paging import decode_cursor, encode_cursor
from sidecar.store.records import ProviderRow
from sidecar.store.rows import (
    CONVERSATIONS,
    MESSAGES,
    SYSTEM_PROMPTS,
    USAGE,
    M,
    Mapper,
    from_json,
    json_text,
)
from sidecar.store.tree import preview, summarize_branches

SqlParams = Sequence[Any] | Mapping[str, Any]

BUSY_TIMEOUT_MS = 5000

CONVERSATION_FIELDS = frozenset(
    {"title", "title_source", "model_id", "system_prompt", "settings", "active_leaf_id"}
)
MESSAGE_FIELDS = frozenset(
    {
        "content",
        "status",
        "thinking",
        "tool_calls",
        "steps",
        "usage",
        "error",
        "model_id",
        "provider",
    }
)
SYSTEM_PROMPT_FIELDS = frozenset({"name", "content"})

# The active branch as (id, depth), leaf at depth 0, up to the root.
_ACTIVE_PATH = """
WITH RECURSIVE path(id, depth) AS (
    SELECT active_leaf_id, 0 FROM conversations WHERE id = :conversation_id
    UNION ALL
    SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
    WHERE m.parent_id IS NOT NULL
)
"""

_IS_LEAF = """
SELECT 1 FROM messages m
WHERE m.id = ? AND m.conversation_id = ?
  AND NOT EXISTS (
      SELECT 1 FROM messages c WHERE c.conversation_id = m.conversation_id AND c.parent_id = m.id
  )
"""


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


def _casefold(text: str | None) -> str | None:
    return text.casefold() if isinstance(text, str) else None


class Store:
    """The sidecar's database. Create with `await Store.open(path)`."""

    def __init__(self, db: aiosqlite.Connection, path: pathlib.Path, interrupted: int) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._closed = False
        self.path = path
        self.interrupted_at_start = interrupted
        """Messages left pending/streaming by the previous run, now 'interrupted'."""

    # -- lifecycle ---------------------------------------------------------

    @classmethod
    async def open(cls, path: pathlib.Path) -> Store:
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
            await _run(db, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
            await _run(db, "PRAGMA journal_mode = WAL")
            await _run(db, "PRAGMA synchronous = NORMAL")
            await _run(db, "PRAGMA foreign_keys = ON")
            await db.create_function("casefold", 1, _casefold, deterministic=True)
            await migrate(db)
            interrupted = await _run(
                db,
                "UPDATE messages SET status = 'interrupted', updated_at = max(updated_at, ?) "
                "WHERE status IN ('pending', 'streaming')",
                (now_iso(),),
            )
        except sqlite3.DatabaseError as exc:
            await db.close()
            raise StoreOpenError(f"cannot open database {path}: {exc}") from exc
        except BaseException:
            await db.close()
            raise
        return cls(db, path, interrupted)

    async def close(self) -> None:
        """Fold the WAL back into the main file so the database is one file at rest."""
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            try:
                with suppress(sqlite3.Error):
                    await _run(self._db, "PRAGMA optimize")
                    await _run(self._db, "PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def integrity_check(self) -> str:
        """SQLite's own verdict on the file: "ok", or one problem per line."""
        async with self._locked() as db:
            rows = await _all(db, "PRAGMA integrity_check")
        return "\n".join(str(row[0]) for row in rows)

    @asynccontextmanager
    async def _locked(self) -> AsyncIterator[aiosqlite.Connection]:
        """Exclusive use of the connection for one statement (atomic on its own)."""
        async with self._lock:
            yield self._db

    @asynccontextmanager
    async def _transaction(self, *, write: bool) -> AsyncIterator[aiosqlite.Connection]:
        """Several statements as one unit: a consistent read, or an all-or-nothing write."""
        async with self._lock:
            # IMMEDIATE takes the write lock up front, so a busy database waits in
            # BEGIN (busy_timeout) instead of failing halfway through.
            await _run(self._db, "BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
                await _run(self._db, "COMMIT")
            except BaseException:
                with suppress(sqlite3.OperationalError):  # SQLite may have rolled back already
                    await _run(self._db, "ROLLBACK")
                raise

    # -- conversations -------------------------------------------------------

    async def create_conversation(
        self,
        *,
        title: str | None = None,
        title_source: str | None = None,
        model_id: str | None = None,
        system_prompt: str | None = None,
        settings: ConversationSettings | None = None,
    ) -> Conversation:
        now = now_iso()
        conversation = Conversation(
            id=new_id(),
            title=title,
            title_source=title_source,
            model_id=model_id,
            system_prompt=system_prompt,
            settings=settings or ConversationSettings(),
            active_leaf_id=None,
            created_at=now,
            updated_at=now,
        )
        async with self._locked() as db:
            await _run(db, CONVERSATIONS.insert_sql, CONVERSATIONS.params(conversation))
        return conversation

    async def get_conversation(self, id: str) -> Conversation | None:
        async with self._locked() as db:
            return await _get(db, CONVERSATIONS, id)

    async def list_conversations(
        self, *, limit: int, cursor: str | None = None, query: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        """Most recently updated first, a page at a time.

        Keyset paging on (updated_at, id) stays correct and fast however deep
        the page. `query` finds a conversation in two ways, either one enough:
        - its words (runs of letters and digits): each one starts a word of the
          title or of some message, in any order, ignoring case and diacritics
          (the FTS5 index `search`: "evora lisb" finds "Lisbon ... Évora");
        - the query as typed is a case-insensitive substring of the title or of
          a message, with full Unicode case folding ("STRASSE" finds "Straße",
          "0% s" finds "100% sure"; SQLite's own LIKE folds ASCII only). A query
          without letters or digits ("%", "_") is matched this way only.
        Returns the page and the cursor of the next page (None on the last).
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        where: list[str] = []
        params: dict[str, Any] = {"limit": limit + 1}
        if cursor is not None:
            params["after_updated_at"], params["after_id"] = decode_cursor(cursor)
            where.append("(c.updated_at, c.id) < (:after_updated_at, :after_id)")
        if query:
            params["needle"] = query.casefold()
            literal = (
                "instr(casefold(c.title), :needle) OR EXISTS (SELECT 1 FROM messages m "
                "WHERE m.conversation_id = c.id AND instr(casefold(m.content), :needle))"
            )
            terms = self._search_terms(query)
            words = []
            for i, term in enumerate(terms):
                params[f"term{i}"] = term
                words.append(
                    "c.id IN (SELECT d.conversation_id FROM search "
                    f"JOIN search_docs d ON d.id = search.rowid WHERE search MATCH :term{i})"
                )
            where.append(f"(({' AND '.join(words)}) OR {literal})" if words else f"({literal})")
        sql = (
            f"SELECT {CONVERSATIONS.select('c')} FROM conversations c"
            + (f" WHERE {' AND '.join(where)}" if where else "")
            + " ORDER BY c.updated_at DESC, c.id DESC LIMIT :limit"
        )
        async with self._locked() as db:
            rows = await _all(db, sql, params)
        page = [CONVERSATIONS.load(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(page[-1].updated_at, page[-1].id)
        return page, next_cursor

    async def update_conversation(self, id: str, **changes: Any) -> Conversation | None:
        """Apply `changes` (title, title_source, model_id, system_prompt, settings,
        active_leaf_id); None if there is no such conversation.

        An active_leaf_id outside the conversation raises ValueError; unknown
        fields raise TypeError.
        """
        async with self._transaction(write=True) as db:
            current = await _get(db, CONVERSATIONS, id)
            if current is None or not changes:
                return current
            updated = CONVERSATIONS.changed(current, changes, CONVERSATION_FIELDS)
            leaf = updated.active_leaf_id
            if leaf is not None and leaf != current.active_leaf_id:
                if not await _exists(
                    db, "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?", (leaf, id)
                ):
                    raise ValueError(f"message {leaf} is not in conversation {id}")
            await _save(db, CONVERSATIONS, updated, changes)
            return updated

    async def delete_conversation(self, id: str) -> bool:
        """Delete a conversation with its messages and branch names; False if unknown."""
        async with self._locked() as db:
            return await _run(db, "DELETE FROM conversations WHERE id = ?", (id,)) > 0

    # -- messages ------------------------------------------------------------

    async def add_message(self, message: Message) -> None:
        """Insert a message and make it the conversation's active leaf.

        If its parent was a named leaf, the name moves down to it: the branch
        grew. Raises ValueError for an unknown conversation, a parent outside
        the conversation, or a duplicate id.
        """
        async with self._transaction(write=True) as db:
            await _insert_message(db, message)

    async def add_turn(
        self,
        user: Message | None,
        assistant: Message,
        client_request_id: str | None = None,
        usage: Sequence[UsageRecord] = (),
    ) -> None:
        """Store a user message (if any), the assistant message answering it and its usage
        records (a turn recorded whole), in one transaction, remembering
        `client_request_id` so a repeated call finds them."""
        async with self._transaction(write=True) as db:
            if user is not None:
                await _insert_message(db, user)
            await _insert_message(db, assistant)
            for record in usage:
                await _run(db, USAGE.insert_sql, USAGE.params(record))
            if client_request_id is not None:
                await _run(
                    db,
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

    async def client_request(self, client_request_id: str) -> tuple[str, str] | None:
        """(user message id, assistant message id) of an earlier chat.send with this id."""
        async with self._locked() as db:
            row = await _one(
                db,
                "SELECT user_message_id, assistant_message_id FROM client_requests "
                "WHERE client_request_id = ?",
                (client_request_id,),
            )
        return None if row is None else (row[0], row[1])

    async def flush_streams(self, rows: list[tuple[str, str | None, str, str, str]]) -> None:
        """Write the text streamed so far of several messages in one transaction:
        rows of (content, thinking, status, updated_at, id). A message that already
        reached a final status is left alone, so a late batch never undoes it."""
        async with self._transaction(write=True) as db:
            await _run_many(
                db,
                "UPDATE messages SET content = ?, thinking = ?, status = ?, updated_at = ? "
                "WHERE id = ? AND status IN ('pending', 'streaming')",  # a final write always wins
                rows,
            )

    async def finish_message(self, message: Message, usage: list[UsageRecord]) -> None:
        """Store a turn's final message and its usage records (one per provider call) together."""
        async with self._transaction(write=True) as db:
            await _run(
                db, MESSAGES.update_sql([*MESSAGE_FIELDS, "updated_at"]), MESSAGES.params(message)
            )
            if usage:
                await _run_many(db, USAGE.insert_sql, [USAGE.params(r) for r in usage])

    async def get_message(self, id: str) -> Message | None:
        async with self._locked() as db:
            return await _get(db, MESSAGES, id)

    async def update_message(self, id: str, **changes: Any) -> Message | None:
        """Apply `changes` (content, status, thinking, tool_calls, usage, error,
        model_id, provider); None if there is no such message."""
        async with self._transaction(write=True) as db:
            return await _update(db, MESSAGES, id, changes, MESSAGE_FIELDS)

    async def active_path(self, conversation_id: str) -> list[BranchMessage]:
        """The active branch root first, each message with its siblings' ids."""
        params = {"conversation_id": conversation_id}
        async with self._transaction(write=False) as db:
            path = await _all(
                db,
                f"{_ACTIVE_PATH} SELECT {MESSAGES.select('m')} "
                "FROM path JOIN messages m ON m.id = path.id "
                "WHERE m.conversation_id = :conversation_id ORDER BY path.depth DESC",
                params,
            )
            # Siblings of path messages are the roots and the children of path messages.
            family = await _all(
                db,
                f"{_ACTIVE_PATH} SELECT id, parent_id FROM messages "
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
        async with self._locked() as db:
            rows = await _all(
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
        async with self._locked() as db:
            row = await _one(
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

    async def branches(self, conversation_id: str) -> list[Branch]:
        """One entry per leaf, ordered by leaf id (see tree.summarize_branches)."""
        async with self._transaction(write=False) as db:
            return await _branches(db, conversation_id)

    async def rename_branch(
        self, conversation_id: str, leaf_id: str, name: str | None
    ) -> Branch | None:
        """Name the branch ending at `leaf_id` (None clears the name); None if
        `leaf_id` is not a leaf of the conversation."""
        async with self._transaction(write=True) as db:
            if not await _exists(db, _IS_LEAF, (leaf_id, conversation_id)):
                return None
            if name is None:
                await _run(
                    db,
                    "DELETE FROM branch_names WHERE conversation_id = ? AND leaf_id = ?",
                    (conversation_id, leaf_id),
                )
            else:
                await _run(
                    db,
                    "INSERT INTO branch_names (conversation_id, leaf_id, name) VALUES (?, ?, ?) "
                    "ON CONFLICT (conversation_id, leaf_id) DO UPDATE SET name = excluded.name",
                    (conversation_id, leaf_id, name),
                )
            branches = await _branches(db, conversation_id)
        return next(branch for branch in branches if branch.leaf_id == leaf_id)

    # -- system prompts ------------------------------------------------------

    async def list_system_prompts(self) -> list[SystemPrompt]:
        """Oldest first."""
        async with self._locked() as db:
            rows = await _all(
                db, f"SELECT {SYSTEM_PROMPTS.select()} FROM system_prompts ORDER BY id"
            )
        return [SYSTEM_PROMPTS.load(row) for row in rows]

    async def create_system_prompt(self, name: str, content: str) -> SystemPrompt:
        now = now_iso()
        prompt = SystemPrompt(
            id=new_id(), name=name, content=content, created_at=now, updated_at=now
        )
        async with self._locked() as db:
            await _run(db, SYSTEM_PROMPTS.insert_sql, SYSTEM_PROMPTS.params(prompt))
        return prompt

    async def update_system_prompt(
        self, id: str, *, name: str | None = None, content: str | None = None
    ) -> SystemPrompt | None:
        """Change the given fields (None leaves one as is); None if unknown."""
        changes = {k: v for k, v in (("name", name), ("content", content)) if v is not None}
        async with self._transaction(write=True) as db:
            return await _update(db, SYSTEM_PROMPTS, id, changes, SYSTEM_PROMPT_FIELDS)

    async def delete_system_prompt(self, id: str) -> bool:
        async with self._locked() as db:
            return await _run(db, "DELETE FROM system_prompts WHERE id = ?", (id,)) > 0

    # -- settings ------------------------------------------------------------

    async def get_settings(self) -> Settings:
        """The stored settings; fields never saved keep their defaults."""
        async with self._locked() as db:
            rows = await _all(db, "SELECT key, value FROM settings")
        return Settings.model_validate({row["key"]: from_json(row["value"]) for row in rows})

    async def save_settings(self, settings: Settings) -> None:
        """Store every field, one row each, so a new field needs no migration."""
        values = settings.model_dump(mode="json", by_alias=False)
        async with self._transaction(write=True) as db:
            await _run_many(
                db,
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [(key, json_text(value)) for key, value in values.items()],
            )

    # -- providers -----------------------------------------------------------

    async def provider_rows(self) -> list[ProviderRow]:
        async with self._locked() as db:
            rows = await _all(db, f"SELECT {_PROVIDER_COLUMNS} FROM providers ORDER BY id")
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
        async with self._locked() as db:
            await _run(
                db,
                f"INSERT OR REPLACE INTO providers ({names}) VALUES ({', '.join(':' + c for c in _PROVIDER_FIELDS)})",
                values,
            )

    async def provider_secrets(self) -> list[ProviderRow]:
        """Rows where an older version stored a secret: an API key or header values (see
        KeyStore.adopt). One query, nothing else, when there is none."""
        async with self._locked() as db:
            rows = await _all(
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
        async with self._locked() as db:
            await _run(db, "PRAGMA secure_delete = ON")
        try:
            async with self._transaction(write=True) as db:
                await _run_many(
                    db,
                    "UPDATE providers SET api_key = NULL, headers = ? WHERE id = ?",
                    [(_header_names(r.headers), r.id) for r in rows],
                )
            async with self._locked() as db:
                await _run(db, "PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            async with self._locked() as db:
                await _run(db, "PRAGMA secure_delete = OFF")

    async def delete_provider_row(self, id: str) -> bool:
        async with self._locked() as db:
            return await _run(db, "DELETE FROM providers WHERE id = ?", (id,)) > 0

    # -- models --------------------------------------------------------------

    async def list_models(self) -> list[Model]:
        async with self._locked() as db:
            rows = await _all(db, "SELECT data FROM models ORDER BY provider, id")
        return [Model.model_validate(from_json(row["data"])) for row in rows]

    async def save_model(self, model: Model) -> None:
        async with self._locked() as db:
            await _run(
                db,
                "INSERT OR REPLACE INTO models (id, provider, data, updated_at) VALUES (?, ?, ?, ?)",
                (model.id, model.provider, json_text(model), now_iso()),
            )

    async def delete_model(self, id: str) -> bool:
        async with self._locked() as db:
            return await _run(db, "DELETE FROM models WHERE id = ?", (id,)) > 0

    async def usage_records(self, conversation_id: str | None = None) -> list[UsageRecord]:
        sql = f"SELECT {USAGE.select()} FROM usage_records"
        params: tuple[str, ...] = ()
        if conversation_id is not None:
            sql += " WHERE conversation_id = ?"
            params = (conversation_id,)
        async with self._locked() as db:
            rows = await _all(db, sql + " ORDER BY id", params)
        return [USAGE.load(row) for row in rows]

    # -- usage reports -------------------------------------------------------

    async def usage_summary(self, **query: Any) -> list[Any]:
        """Usage records summed per group (UsageSummaryRow, sorted by key): see
        `sidecar.store.usage.summary` for `query`."""
        from sidecar.store import usage  # imported on first use: not needed to start

        async with self._locked() as db:
            return await usage.summary(db, **query)

    # -- export/import and search --------------------------------------------

    # A search word is a run of letters and digits, as FTS5's unicode61 tokenizer cuts them.
    _SEARCH_WORD = re.compile(r"[^\W_]+")
    SEARCH_MAX_WORDS = 16

    @classmethod
    def _search_terms(cls, query: str) -> list[str]:
        """FTS5 terms for the words of a user's query (see list_conversations): each word
        quoted, so nothing in it is FTS syntax, as a prefix term; at most SEARCH_MAX_WORDS.
        The tokenizer folds case and diacritics on both sides."""
        words = cls._SEARCH_WORD.findall(unicodedata.normalize("NFC", query))
        unique: dict[str, str] = {}
        for word in words:
            unique.setdefault(word.casefold(), word)
        return [f'"{word}"*' for word in list(unique.values())[: cls.SEARCH_MAX_WORDS]]

    async def conversation_messages(self, conversation_id: str) -> list[Message]:
        """Every message of a conversation (all branches), oldest first."""
        async with self._locked() as db:
            rows = await _all(
                db,
                f"SELECT {MESSAGES.select()} FROM messages WHERE conversation_id = ? ORDER BY id",
                (conversation_id,),
            )
        return [MESSAGES.load(row) for row in rows]

    async def branch_names(self, conversation_id: str) -> dict[str, str]:
        """Leaf id -> name of the named branches of a conversation."""
        async with self._locked() as db:
            rows = await _all(
                db,
                "SELECT leaf_id, name FROM branch_names WHERE conversation_id = ? ORDER BY leaf_id",
                (conversation_id,),
            )
        return {row["leaf_id"]: row["name"] for row in rows}

    async def import_conversation(
        self, conversation: Conversation, messages: list[Message], branch_names: Mapping[str, str]
    ) -> None:
        """Store a whole conversation at once, as given (its active leaf included), in one
        transaction. `messages` must list every parent before its children."""
        async with self._transaction(write=True) as db:
            await _run(db, CONVERSATIONS.insert_sql, CONVERSATIONS.params(conversation))
            await _run_many(db, MESSAGES.insert_sql, [MESSAGES.params(m) for m in messages])
            await _run_many(
                db,
                "INSERT INTO branch_names (conversation_id, leaf_id, name) VALUES (?, ?, ?)",
                [(conversation.id, leaf, name) for leaf, name in branch_names.items()],
            )

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
        second time (`sidecar import-legacy`). `messages` lists parents before children;
        `branch_names` are (conversation id, leaf id, name). Returns the rows added per kind."""
        batches: list[tuple[str, str, list[Any]]] = [
            (kind, mapper.insert_sql, [mapper.params(row) for row in rows])
            for kind, mapper, rows in (
                ("systemPrompts", SYSTEM_PROMPTS, system_prompts),
                ("conversations", CONVERSATIONS, conversations),
                ("messages", MESSAGES, messages),
                ("usage", USAGE, usage),
            )
        ]
        batches.append(
            (
                "branchNames",
                "INSERT INTO branch_names (conversation_id, leaf_id, name) VALUES (?, ?, ?)",
                list(branch_names),
            )
        )
        added: dict[str, int] = {}
        async with self._transaction(write=True) as db:
            for kind, sql, rows in batches:
                async with db.executemany(sql.replace("INSERT", "INSERT OR IGNORE", 1), rows) as c:
                    added[kind] = max(c.rowcount, 0)
        return added

    async def add_usage(self, record: UsageRecord) -> None:
        """Record the usage of a provider call that made no message (e.g. a title)."""
        async with self._locked() as db:
            await _run(db, USAGE.insert_sql, USAGE.params(record))

    async def has_complete_reply(self, conversation_id: str, *, other_than: str) -> bool:
        """Whether the conversation has a complete assistant message besides `other_than`."""
        async with self._locked() as db:
            return await _exists(
                db,
                "SELECT 1 FROM messages WHERE conversation_id = ? AND role = 'assistant' "
                "AND status = 'complete' AND id <> ? LIMIT 1",
                (conversation_id, other_than),
            )


# -- statement helpers (cursors closed right away) -----------------------------


async def _insert_message(db: aiosqlite.Connection, message: Message) -> None:
    """Insert a message as the conversation's active leaf; a named parent leaf's
    name moves down to it (the branch grew)."""
    try:
        await _run(db, MESSAGES.insert_sql, MESSAGES.params(message))
    except sqlite3.IntegrityError as exc:
        raise ValueError(
            f"cannot add message {message.id} to conversation "
            f"{message.conversation_id} under parent {message.parent_id}: {exc}"
        ) from exc
    keys = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "parent_id": message.parent_id,
        "now": now_iso(),
    }
    if message.parent_id is not None:
        await _run(
            db,
            "UPDATE branch_names SET leaf_id = :id "
            "WHERE conversation_id = :conversation_id AND leaf_id = :parent_id "
            "AND NOT EXISTS (SELECT 1 FROM messages WHERE conversation_id = :conversation_id "
            "                AND parent_id = :parent_id AND id <> :id)",
            keys,
        )
    await _run(
        db,
        "UPDATE conversations SET active_leaf_id = :id, "
        "updated_at = max(updated_at, :now) WHERE id = :conversation_id",
        keys,
    )


async def _run(db: aiosqlite.Connection, sql: str, params: SqlParams = ()) -> int:
    """Execute one statement; returns the rows it changed."""
    async with db.execute(sql, params) as cursor:
        return cursor.rowcount


async def _run_many(db: aiosqlite.Connection, sql: str, rows: Iterable[SqlParams]) -> None:
    async with db.executemany(sql, rows):
        pass


async def _one(db: aiosqlite.Connection, sql: str, params: SqlParams = ()) -> sqlite3.Row | None:
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _all(db: aiosqlite.Connection, sql: str, params: SqlParams = ()) -> list[sqlite3.Row]:
    return list(await db.execute_fetchall(sql, params))


async def _exists(db: aiosqlite.Connection, sql: str, params: SqlParams) -> bool:
    return await _one(db, sql, params) is not None


async def _get(db: aiosqlite.Connection, mapper: Mapper[M], id: str) -> M | None:
    row = await _one(db, f"SELECT {mapper.select()} FROM {mapper.table} WHERE id = ?", (id,))
    return None if row is None else mapper.load(row)


async def _save(
    db: aiosqlite.Connection, mapper: Mapper[M], updated: M, changes: Mapping[str, Any]
) -> None:
    """Write the changed columns (and updated_at) of an already validated model."""
    await _run(db, mapper.update_sql([*changes, "updated_at"]), mapper.params(updated))


async def _update(
    db: aiosqlite.Connection,
    mapper: Mapper[M],
    id: str,
    changes: dict[str, Any],
    allowed: frozenset[str],
) -> M | None:
    """Read, change, validate and write one row; None if it does not exist."""
    current = await _get(db, mapper, id)
    if current is None or not changes:
        return current
    updated = mapper.changed(current, changes, allowed)
    await _save(db, mapper, updated, changes)
    return updated


async def _branches(db: aiosqlite.Connection, conversation_id: str) -> list[Branch]:
    conversation = await _one(
        db, "SELECT active_leaf_id FROM conversations WHERE id = ?", (conversation_id,)
    )
    if conversation is None:
        return []
    rows = await _all(
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
