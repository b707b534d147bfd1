"""The old app's database, as this importer assumes it.

The app's Rust/Tauri backend kept everything in one SQLite file; its exact DDL
is not published, so this is the schema its documented behaviour implies (see
docs/parity.md): conversations named "New Conversation" until titled; messages
stored per named branch, where creating a branch from a message copied the
path up to it into the new branch; usage per message with a cost estimated
from a per-1K price table; attachments whose bytes are files in the app data
folder; models per provider with an enabled flag; custom backends with their
keys; saved system prompts; a key/value preference store. Timestamps are
SQLite's `CURRENT_TIMESTAMP` (UTC, to the second); the reader also takes ISO
8601 strings and Unix seconds or milliseconds.

Only `conversations` and `messages` (with the columns marked required in
`read.py`) must exist; any other table or column may be missing, as in older
versions of the app. `tests/test_import_legacy.py` builds its databases from
this DDL.
"""

LEGACY_SCHEMA = """
CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    title            TEXT NOT NULL DEFAULT 'New Conversation',
    model            TEXT,                    -- the model picked for it
    system_prompt_id TEXT,                    -- system_prompts.id
    active_branch_id TEXT,                    -- branches.id shown in the UI
    created_at       TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at       TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE branches (
    id                      TEXT PRIMARY KEY,
    conversation_id         TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    name                    TEXT NOT NULL,    -- 'Main' for the first branch
    parent_branch_id        TEXT REFERENCES branches (id),
    created_from_message_id TEXT,             -- the message the branch was created from
    created_at              TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- A branch holds its whole path: the copied messages up to the one it was
-- created from, then its own. A NULL branch_id is the Main branch (messages
-- from before branches existed).
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    branch_id       TEXT REFERENCES branches (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,            -- 'user', 'assistant' or 'system'
    content         TEXT NOT NULL,
    model           TEXT,                     -- the model that wrote an assistant message
    created_at      TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE attachments (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    type       TEXT NOT NULL,                 -- 'image', 'text', 'json', 'audio' or 'file'
    size       INTEGER,
    mime_type  TEXT,
    file_path  TEXT,                          -- relative to the app data folder, or absolute
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE message_usage (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id        TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    model             TEXT NOT NULL,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    total_tokens      INTEGER NOT NULL DEFAULT 0,
    estimated_cost    REAL,                   -- USD
    created_at        TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE custom_backends (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    url        TEXT NOT NULL,                 -- e.g. http://localhost:11434 (Ollama)
    api_key    TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE models (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    provider          TEXT NOT NULL,          -- 'openai', 'anthropic', 'deepseek' or 'custom'
    model_id          TEXT NOT NULL,          -- the name sent upstream
    name              TEXT,                   -- shown in the model picker
    enabled           INTEGER NOT NULL DEFAULT 1,
    custom_backend_id TEXT REFERENCES custom_backends (id) ON DELETE CASCADE,
    context_window    INTEGER,
    capabilities      TEXT,                   -- JSON, e.g. {"vision": true}
    UNIQUE (provider, model_id, custom_backend_id)
);

CREATE TABLE api_keys (
    provider   TEXT PRIMARY KEY,              -- 'openai', 'anthropic' or 'deepseek'
    api_key    TEXT NOT NULL,
    updated_at TEXT
);

CREATE TABLE system_prompts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    content    TEXT NOT NULL,
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE preferences (
    key   TEXT PRIMARY KEY,                   -- e.g. 'last_used_model', 'theme'
    value TEXT                                -- JSON text or a plain string
);
"""
