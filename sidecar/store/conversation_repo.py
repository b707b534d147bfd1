"""Conversations: create, read, page through (with search), change, delete.

A repository of the store (`sidecar/store/<concern>_repo.py` holds `<Concern>Repo`;
see `sidecar.store.database`). The messages of a conversation are `MessageRepo`'s.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import Conversation, ConversationSettings
from sidecar.store.paging import decode_cursor, encode_cursor
from sidecar.store.rows import CONVERSATIONS
from sidecar.store.sql import exists, fetch_all, get_row, run, save_row

if TYPE_CHECKING:
    from sidecar.store.database import Database

CONVERSATION_FIELDS = frozenset(
    {"title", "title_source", "model_id", "system_prompt", "settings", "active_leaf_id"}
)


class ConversationRepo:
    """The `conversations` table (deleting one cascades to its messages and branch names)."""

    # A search word is a run of letters and digits, as FTS5's unicode61 tokenizer cuts them.
    _SEARCH_WORD = re.compile(r"[^\W_]+")
    SEARCH_MAX_WORDS = 16

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
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
        async with self._db.locked() as db:
            await run(db, CONVERSATIONS.insert_sql, CONVERSATIONS.params(conversation))
        return conversation

    async def get(self, id: str) -> Conversation | None:
        async with self._db.locked() as db:
            return await get_row(db, CONVERSATIONS, id)

    async def page(
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
        async with self._db.locked() as db:
            rows = await fetch_all(db, sql, params)
        page = [CONVERSATIONS.load(row) for row in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            next_cursor = encode_cursor(page[-1].updated_at, page[-1].id)
        return page, next_cursor

    async def update(self, id: str, **changes: Any) -> Conversation | None:
        """Apply `changes` (title, title_source, model_id, system_prompt, settings,
        active_leaf_id); None if there is no such conversation.

        An active_leaf_id outside the conversation raises ValueError; unknown
        fields raise TypeError.
        """
        async with self._db.transaction(write=True) as db:
            current = await get_row(db, CONVERSATIONS, id)
            if current is None or not changes:
                return current
            updated = CONVERSATIONS.changed(current, changes, CONVERSATION_FIELDS)
            leaf = updated.active_leaf_id
            if leaf is not None and leaf != current.active_leaf_id:
                if not await exists(
                    db, "SELECT 1 FROM messages WHERE id = ? AND conversation_id = ?", (leaf, id)
                ):
                    raise ValueError(f"message {leaf} is not in conversation {id}")
            await save_row(db, CONVERSATIONS, updated, changes)
            return updated

    async def delete(self, id: str) -> bool:
        """Delete a conversation with its messages and branch names; False if unknown."""
        async with self._db.locked() as db:
            return await run(db, "DELETE FROM conversations WHERE id = ?", (id,)) > 0

    @classmethod
    def _search_terms(cls, query: str) -> list[str]:
        """FTS5 terms for the words of a user's query (see `page`): each word quoted, so
        nothing in it is FTS syntax, as a prefix term; at most SEARCH_MAX_WORDS. The
        tokenizer folds case and diacritics on both sides."""
        words = cls._SEARCH_WORD.findall(unicodedata.normalize("NFC", query))
        unique: dict[str, str] = {}
        for word in words:
            unique.setdefault(word.casefold(), word)
        return [f'"{word}"*' for word in list(unique.values())[: cls.SEARCH_MAX_WORDS]]
