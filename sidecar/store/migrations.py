"""Versioned schema migrations, tracked in `PRAGMA user_version`.

Migration N (1-based) is `MIGRATIONS[N - 1]`. Never edit a shipped migration:
append a new one, because user databases already carry the old ones.
Statements end with `;` at the end of a line (see `split_statements`).
"""

from __future__ import annotations

import sqlite3

import aiosqlite

from sidecar.store.errors import SchemaTooNewError

_V1 = """
CREATE TABLE conversations (
    id             TEXT PRIMARY KEY,
    title          TEXT,
    title_source   TEXT,
    model_id       TEXT,
    system_prompt  TEXT,
    settings       TEXT NOT NULL DEFAULT '{}',
    active_leaf_id TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX conversations_recent ON conversations (updated_at, id);

-- The parent must live in the same conversation, hence the composite key.
-- It has no ON DELETE CASCADE on purpose: a cascade per tree level hits
-- SQLite's trigger depth limit on long chats; deleting the conversation
-- removes the whole tree in one statement instead.
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    parent_id       TEXT,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    model_id        TEXT,
    provider        TEXT,
    thinking        TEXT,
    tool_calls      TEXT NOT NULL DEFAULT '[]',
    steps           TEXT NOT NULL DEFAULT '[]',
    attachments     TEXT NOT NULL DEFAULT '[]',
    usage           TEXT,
    error           TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    FOREIGN KEY (conversation_id, parent_id) REFERENCES messages (conversation_id, id)
);
CREATE UNIQUE INDEX messages_by_conversation ON messages (conversation_id, id);
-- Children of a message, oldest first; also the index the parent foreign key
-- needs so deleting a conversation does not rescan the table per message.
CREATE INDEX messages_by_parent ON messages (conversation_id, parent_id, id);
-- Keeps the startup sweep of unfinished messages from scanning every message.
CREATE INDEX messages_unfinished ON messages (status) WHERE status IN ('pending', 'streaming');

CREATE TABLE branch_names (
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    leaf_id         TEXT NOT NULL,
    name            TEXT NOT NULL,
    PRIMARY KEY (conversation_id, leaf_id),
    FOREIGN KEY (conversation_id, leaf_id) REFERENCES messages (conversation_id, id)
        ON DELETE CASCADE
);
CREATE INDEX branch_names_by_leaf ON branch_names (leaf_id);

CREATE TABLE system_prompts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Only what differs from a built-in provider's defaults is stored (NULL = default).
CREATE TABLE providers (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    name            TEXT,
    base_url        TEXT,
    api_key         TEXT,
    headers         TEXT NOT NULL DEFAULT '{}',
    enabled         INTEGER NOT NULL DEFAULT 1,
    connect_timeout REAL,
    idle_timeout    REAL,
    max_retries     INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- chat.send is idempotent by clientRequestId, across reconnects and restarts.
CREATE TABLE client_requests (
    client_request_id    TEXT PRIMARY KEY,
    conversation_id      TEXT NOT NULL,
    user_message_id      TEXT NOT NULL,
    assistant_message_id TEXT NOT NULL,
    created_at           TEXT NOT NULL
);

CREATE TABLE models (
    id         TEXT PRIMARY KEY,
    provider   TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    updated_at TEXT NOT NULL
);
CREATE INDEX models_by_provider ON models (provider);

-- No foreign keys: spending history outlives the conversations it came from.
CREATE TABLE usage_records (
    id                 TEXT PRIMARY KEY,
    conversation_id    TEXT,
    message_id         TEXT,
    model_id           TEXT,
    provider           TEXT,
    kind               TEXT NOT NULL,
    input_tokens       INTEGER NOT NULL DEFAULT 0,
    output_tokens      INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL,
    created_at         TEXT NOT NULL
);
CREATE INDEX usage_records_by_time ON usage_records (created_at);
CREATE INDEX usage_records_by_conversation ON usage_records (conversation_id);
"""

# Full-text search (FTS5) over message text and conversation titles.
# `search_docs` gives every indexed text (a message's content, a conversation's
# title) a stable integer key that is the FTS rowid (the tables' own rowids may
# change on VACUUM: their keys are TEXT). The index is external-content over the
# `search_source` view, so the text is not stored twice and
# `INSERT INTO search(search) VALUES ('rebuild')` can always regenerate it.
# Triggers keep it in step with every insert, text change and delete (deleting a
# conversation cascades to its messages, whose triggers fire too).
_V2_SEARCH = """
CREATE TABLE search_docs (
    id              INTEGER PRIMARY KEY,
    doc_id          TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL CHECK (kind IN ('message', 'title')),
    conversation_id TEXT NOT NULL
);

CREATE VIEW search_source (id, text) AS
SELECT d.id,
       CASE d.kind
           WHEN 'message' THEN (SELECT m.content FROM messages m WHERE m.id = d.doc_id)
           ELSE (SELECT c.title FROM conversations c WHERE c.id = d.doc_id)
       END
FROM search_docs d;

CREATE VIRTUAL TABLE search USING fts5(
    text,
    content = 'search_source',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_message_added AFTER INSERT ON messages BEGIN
    INSERT INTO search_docs (doc_id, kind, conversation_id)
    VALUES (new.id, 'message', new.conversation_id);
    INSERT INTO search (rowid, text)
    VALUES ((SELECT id FROM search_docs WHERE doc_id = new.id), new.content);
END;

CREATE TRIGGER search_message_changed AFTER UPDATE OF content ON messages
WHEN old.content IS NOT new.content BEGIN
    INSERT INTO search (search, rowid, text)
    VALUES ('delete', (SELECT id FROM search_docs WHERE doc_id = old.id), old.content);
    INSERT INTO search (rowid, text)
    VALUES ((SELECT id FROM search_docs WHERE doc_id = new.id), new.content);
END;

CREATE TRIGGER search_message_removed AFTER DELETE ON messages BEGIN
    INSERT INTO search (search, rowid, text)
    VALUES ('delete', (SELECT id FROM search_docs WHERE doc_id = old.id), old.content);
    DELETE FROM search_docs WHERE doc_id = old.id;
END;

CREATE TRIGGER search_title_added AFTER INSERT ON conversations BEGIN
    INSERT INTO search_docs (doc_id, kind, conversation_id) VALUES (new.id, 'title', new.id);
    INSERT INTO search (rowid, text)
    VALUES ((SELECT id FROM search_docs WHERE doc_id = new.id), new.title);
END;

CREATE TRIGGER search_title_changed AFTER UPDATE OF title ON conversations
WHEN old.title IS NOT new.title BEGIN
    INSERT INTO search (search, rowid, text)
    VALUES ('delete', (SELECT id FROM search_docs WHERE doc_id = old.id), old.title);
    INSERT INTO search (rowid, text)
    VALUES ((SELECT id FROM search_docs WHERE doc_id = new.id), new.title);
END;

CREATE TRIGGER search_title_removed AFTER DELETE ON conversations BEGIN
    INSERT INTO search (search, rowid, text)
    VALUES ('delete', (SELECT id FROM search_docs WHERE doc_id = old.id), old.title);
    DELETE FROM search_docs WHERE doc_id = old.id;
END;

-- Backfill what the database already holds.
INSERT INTO search_docs (doc_id, kind, conversation_id)
SELECT id, 'title', id FROM conversations ORDER BY id;
INSERT INTO search_docs (doc_id, kind, conversation_id)
SELECT id, 'message', conversation_id FROM messages ORDER BY id;
INSERT INTO search (search) VALUES ('rebuild');
"""

# A provider call's total deadline, next to its idle timeout.
_V3_TOTAL_TIMEOUT = """
ALTER TABLE providers ADD COLUMN total_timeout REAL;
"""

# Attachment id -> the message holding it, for `attachments.get` (an attachment lives
# inside its message's `attachments` JSON). Triggers keep it in step with every insert,
# change of `attachments` and delete (deleting a conversation cascades to its messages,
# whose triggers fire too), whichever repository wrote the row. Keyed by both ids: an
# id is new for every attachment, but a store must never refuse a message over it.
_V4_ATTACHMENT_INDEX = """
CREATE TABLE attachment_index (
    attachment_id TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    PRIMARY KEY (attachment_id, message_id)
) WITHOUT ROWID;
CREATE INDEX attachment_index_by_message ON attachment_index (message_id);

CREATE TRIGGER attachments_added AFTER INSERT ON messages
WHEN new.attachments <> '[]' BEGIN
    INSERT OR IGNORE INTO attachment_index (attachment_id, message_id)
    SELECT json_extract(a.value, '$.id'), new.id FROM json_each(new.attachments) a
    WHERE json_extract(a.value, '$.id') IS NOT NULL;
END;

CREATE TRIGGER attachments_changed AFTER UPDATE OF attachments ON messages
WHEN old.attachments IS NOT new.attachments BEGIN
    DELETE FROM attachment_index WHERE message_id = old.id;
    INSERT OR IGNORE INTO attachment_index (attachment_id, message_id)
    SELECT json_extract(a.value, '$.id'), new.id FROM json_each(new.attachments) a
    WHERE json_extract(a.value, '$.id') IS NOT NULL;
END;

CREATE TRIGGER attachments_removed AFTER DELETE ON messages
WHEN old.attachments <> '[]' BEGIN
    DELETE FROM attachment_index WHERE message_id = old.id;
END;

-- Backfill what the database already holds.
INSERT OR IGNORE INTO attachment_index (attachment_id, message_id)
SELECT json_extract(a.value, '$.id'), m.id FROM messages m, json_each(m.attachments) a
WHERE m.attachments <> '[]' AND json_extract(a.value, '$.id') IS NOT NULL;
"""

# Every id a bulk import (import-legacy) ever added, so that what the user deleted
# since is not added again by the next import (the app runs one at every start).
_V5_IMPORTED_IDS = """
CREATE TABLE imported_ids (id TEXT PRIMARY KEY) WITHOUT ROWID;
"""

# The wire API a provider speaks ("responses" or "chat"); NULL: the kind's default.
_V6_PROVIDER_API = """
ALTER TABLE providers ADD COLUMN api TEXT;
"""

# Why a completed reply ended (`length`: cut at a limit); NULL before this version.
_V7_FINISH_REASON = """
ALTER TABLE messages ADD COLUMN finish_reason TEXT;
"""

# MCP servers the user added (`mcp.servers.*`). `data` is the rest of its settings as JSON
# (command, args, url, the names of its env variables and headers, policies, its last known
# tools); the values of env variables and headers are secrets and live in the key store.
_V8_MCP_SERVERS = """
CREATE TABLE mcp_servers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    transport  TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"""

# A reply's words enter the search index when it ends, not with every batch of streamed
# text: re-indexing a growing text 4 times a second cost more than the rest of the
# stream's writes (and grew with the square of the reply's length). What the index holds
# for a message is `search_source`'s text, '' while it is pending or streaming, so the
# index and its content table agree at every moment (FTS5's integrity-check, 'rebuild').
# The rows streaming now were indexed with their text: they are put in step.
_INDEXED_OLD = "CASE WHEN old.status IN ('pending', 'streaming') THEN '' ELSE old.content END"
_INDEXED_NEW = "CASE WHEN new.status IN ('pending', 'streaming') THEN '' ELSE new.content END"
_V9_SEARCH_FINISHED = f"""
DROP VIEW search_source;
CREATE VIEW search_source (id, text) AS
SELECT d.id,
       CASE d.kind
           WHEN 'message' THEN (
               SELECT CASE WHEN m.status IN ('pending', 'streaming') THEN '' ELSE m.content END
               FROM messages m WHERE m.id = d.doc_id)
           ELSE (SELECT c.title FROM conversations c WHERE c.id = d.doc_id)
       END
FROM search_docs d;

DROP TRIGGER search_message_added;
CREATE TRIGGER search_message_added AFTER INSERT ON messages BEGIN
    INSERT INTO search_docs (doc_id, kind, conversation_id)
    VALUES (new.id, 'message', new.conversation_id);
    INSERT INTO search (rowid, text)
    VALUES ((SELECT id FROM search_docs WHERE doc_id = new.id), {_INDEXED_NEW});
END;

DROP TRIGGER search_message_changed;
CREATE TRIGGER search_message_changed AFTER UPDATE OF content, status ON messages
WHEN ({_INDEXED_OLD}) IS NOT ({_INDEXED_NEW}) BEGIN
    INSERT INTO search (search, rowid, text)
    VALUES ('delete', (SELECT id FROM search_docs WHERE doc_id = old.id), {_INDEXED_OLD});
    INSERT INTO search (rowid, text)
    VALUES ((SELECT id FROM search_docs WHERE doc_id = new.id), {_INDEXED_NEW});
END;

DROP TRIGGER search_message_removed;
CREATE TRIGGER search_message_removed AFTER DELETE ON messages BEGIN
    INSERT INTO search (search, rowid, text)
    VALUES ('delete', (SELECT id FROM search_docs WHERE doc_id = old.id), {_INDEXED_OLD});
    DELETE FROM search_docs WHERE doc_id = old.id;
END;

INSERT INTO search (search, rowid, text)
SELECT 'delete', d.id, m.content FROM search_docs d JOIN messages m ON m.id = d.doc_id
WHERE m.status IN ('pending', 'streaming');
INSERT INTO search (rowid, text)
SELECT d.id, '' FROM search_docs d JOIN messages m ON m.id = d.doc_id
WHERE m.status IN ('pending', 'streaming');
"""

MIGRATIONS: tuple[str, ...] = (
    _V1,
    _V2_SEARCH,
    _V3_TOTAL_TIMEOUT,
    _V4_ATTACHMENT_INDEX,
    _V5_IMPORTED_IDS,
    _V6_PROVIDER_API,
    _V7_FINISH_REASON,
    _V8_MCP_SERVERS,
    _V9_SEARCH_FINISHED,
)
SCHEMA_VERSION = len(MIGRATIONS)


def split_statements(script: str) -> list[str]:
    """The statements of a script, one per item.

    `executescript` would commit our open transaction first, so migrations run
    statement by statement inside one `BEGIN IMMEDIATE` instead.
    """
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not _only_comments(buffer):
        raise ValueError(f"unterminated SQL statement: {buffer.strip()[:60]!r}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


async def user_version(db: aiosqlite.Connection) -> int:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


def _refuse_newer(version: int, known: int) -> None:
    if version > known:
        raise SchemaTooNewError(
            f"database schema version {version} is newer than this sidecar knows ({known}); "
            "it was written by a newer app version, so it is left untouched"
        )


async def migrate(db: aiosqlite.Connection, migrations: tuple[str, ...] = MIGRATIONS) -> int:
    """Bring the schema to the newest version and return that version.

    Each migration is its own transaction, and the version is re-read once the
    write lock is held, so two processes racing at first start cannot apply the
    same step twice. `db` must be in autocommit mode (isolation_level=None).
    """
    known = len(migrations)
    version = await user_version(db)
    _refuse_newer(version, known)
    while version < known:
        await db.execute("BEGIN IMMEDIATE")
        try:
            version = await user_version(db)
            _refuse_newer(version, known)
            if version < known:
                for statement in split_statements(migrations[version]):
                    await db.execute(statement)
                version += 1
                await db.execute(f"PRAGMA user_version = {version:d}")
            await db.execute("COMMIT")
        except BaseException:
            await db.execute("ROLLBACK")
            raise
    return version
