"""The old app's database as its migrations left it, version by version.

The app (Tauri 1, rusqlite) keeps everything in `app.db` in its data folder,
`dev.michalmlak.ai_agent`; images and audio are files in `attachments/` beside
it. Its migrations run in order and `PRAGMA user_version` counts them. The
versions below are the ones users have: 26 (2025-11-12), 32 (2025-11-27), 43
(2026-01-26) and 45 (2026-02, with MCP servers). Later versions add tables and
change none of these, so the reader goes by the tables and columns present.

Times are Unix seconds, except `custom_backends.created_at` (milliseconds).
`tests/test_import_legacy.py` builds its databases from these statements.
"""

from __future__ import annotations

OLDEST_VERSION = 26

_BASE = """
CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,               -- the title: 'New Conversation' until titled
    created_at INTEGER NOT NULL
);
CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    content         TEXT NOT NULL,
    role            TEXT NOT NULL,          -- 'user' or 'assistant'
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    created_at      INTEGER NOT NULL        -- a message and its reply share a second: rowid orders them
);
CREATE TABLE message_attachments (
    id              TEXT PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages (id),
    name            TEXT NOT NULL,
    data            TEXT NOT NULL,          -- text/*: the text itself; else the file name in attachments/
    attachment_type TEXT NOT NULL,          -- a text/* MIME type, or 'image', 'audio', ...
    created_at      INTEGER NOT NULL
);
CREATE TABLE message_usage (
    id                TEXT PRIMARY KEY,
    message_id        TEXT NOT NULL REFERENCES messages (id),
    model_name        TEXT NOT NULL,        -- the app's model id, or a custom backend's name
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    estimated_cost    REAL NOT NULL,        -- USD
    created_at        INTEGER NOT NULL
);
CREATE TABLE conversation_usage_summary (
    conversation_id         TEXT PRIMARY KEY,
    total_prompt_tokens     INTEGER,
    total_completion_tokens INTEGER,
    total_tokens            INTEGER,
    total_cost              REAL,
    message_count           INTEGER,
    last_updated            INTEGER
);
CREATE TABLE branches (
    id              TEXT PRIMARY KEY,       -- 'main-<conversation id>' when an upgrade made Main
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    name            TEXT NOT NULL,          -- 'Main', 'Branch 2', or what the user renamed it to
    created_at      INTEGER NOT NULL
);
-- A message's place in a branch: one row per branch that holds it. A branch made
-- from message M holds a copy of Main's rows up to M (and M's Main row gets
-- branch_point = 1); new messages always go to Main.
CREATE TABLE message_tree (
    message_id        TEXT NOT NULL,
    parent_message_id TEXT,
    branch_id         TEXT NOT NULL,
    branch_point      BOOLEAN NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (message_id, branch_id)
);
CREATE TABLE models (
    provider        TEXT NOT NULL,          -- openai, anthropic, deepseek, custom, ollama, claude_cli
    model_name      TEXT NOT NULL,
    url             TEXT,
    deployment_name TEXT,
    enabled         BOOLEAN NOT NULL DEFAULT 1,
    PRIMARY KEY (provider, model_name)
);
CREATE TABLE api_keys (
    provider TEXT PRIMARY KEY,
    key      TEXT NOT NULL                  -- in clear
);
CREATE TABLE system_prompts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL DEFAULT 'Untitled',
    content    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT);
CREATE TABLE memories (id TEXT PRIMARY KEY, content TEXT, created_at INTEGER);
"""

_ATTACHMENT_DETAILS = """
ALTER TABLE message_attachments ADD COLUMN transcript TEXT;
ALTER TABLE message_attachments ADD COLUMN description TEXT;
ALTER TABLE message_attachments ADD COLUMN file_path TEXT;      -- never filled
ALTER TABLE message_attachments ADD COLUMN size_bytes INTEGER;
ALTER TABLE message_attachments ADD COLUMN mime_type TEXT;
ALTER TABLE message_attachments ADD COLUMN thumbnail_path TEXT;
ALTER TABLE message_attachments ADD COLUMN updated_at INTEGER;
"""

_TOOLS_AND_THINKING = """
CREATE TABLE message_tool_executions (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    tool_name        TEXT NOT NULL,
    parameters       TEXT NOT NULL,         -- JSON
    result           TEXT,
    success          INTEGER NOT NULL,      -- 0 or 1
    duration         INTEGER,               -- ms
    timestamp        INTEGER NOT NULL,
    error            TEXT,
    iteration_number INTEGER
);
CREATE TABLE message_agent_thinking (
    id               TEXT PRIMARY KEY,
    message_id       TEXT NOT NULL REFERENCES messages (id),
    stage            TEXT NOT NULL,
    content          TEXT NOT NULL,
    timestamp        INTEGER NOT NULL,
    iteration_number INTEGER,
    metadata         TEXT
);
"""

_BACKENDS = """
CREATE TABLE custom_backends (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    url        TEXT NOT NULL,               -- the full chat-completions URL
    api_key    TEXT,
    created_at INTEGER NOT NULL             -- milliseconds
);
ALTER TABLE models ADD COLUMN custom_backend_id TEXT;
"""

_PREFERENCES = """
CREATE TABLE user_preferences (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"""

_AGENTS = """
CREATE TABLE agent_sessions (id TEXT PRIMARY KEY, conversation_id TEXT, created_at INTEGER);
CREATE TABLE agent_plans (id TEXT PRIMARY KEY, session_id TEXT, created_at INTEGER);
CREATE TABLE agent_plan_steps (id TEXT PRIMARY KEY, plan_id TEXT, description TEXT);
CREATE TABLE agent_step_results (id TEXT PRIMARY KEY, step_id TEXT, result TEXT);
CREATE TABLE agent_step_approvals (id TEXT PRIMARY KEY, step_id TEXT, approved INTEGER);
"""

_MCP = """
CREATE TABLE mcp_servers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    url        TEXT NOT NULL,
    auth_type  TEXT,                        -- e.g. 'api_key'
    api_key    TEXT,
    created_at INTEGER NOT NULL
);
"""

SCHEMAS: dict[int, str] = {
    26: _BASE,
    32: _BASE + _ATTACHMENT_DETAILS + _TOOLS_AND_THINKING + _BACKENDS,
    43: _BASE + _ATTACHMENT_DETAILS + _TOOLS_AND_THINKING + _BACKENDS + _PREFERENCES + _AGENTS,
    45: _BASE
    + _ATTACHMENT_DETAILS
    + _TOOLS_AND_THINKING
    + _BACKENDS
    + _PREFERENCES
    + _AGENTS
    + _MCP,
}
"""Version -> the statements that build a database of that version (`user_version` aside)."""

SKIPPED_TABLES: dict[str, str] = {
    "conversation_usage_summary": "sums of message_usage, computed again from it",
    "users": "not chat history",
    "memories": "not chat history",
    "agent_sessions": "agent runs, not chat history",
    "agent_plans": "agent runs, not chat history",
    "agent_plan_steps": "agent runs, not chat history",
    "agent_step_results": "agent runs, not chat history",
    "agent_step_approvals": "agent runs, not chat history",
}
"""Tables the old app has that the import leaves, with the reason its report gives."""
