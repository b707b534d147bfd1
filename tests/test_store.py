"""The SQLite store (the database and its repositories) against a real database file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

import sidecar.store.database as store_database
import sidecar.store.message_repo as store_messages
import sidecar.store.rows as store_rows
from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import (
    Attachment,
    BranchMessage,
    ConversationSettings,
    ErrorInfo,
    Message,
    Settings,
    ToolCall,
    Usage,
)
from sidecar.store import SCHEMA_VERSION, Database, Repositories, SchemaTooNewError, StoreOpenError
from sidecar.store.migrations import MIGRATIONS, migrate, split_statements
from sidecar.store.paging import decode_cursor, encode_cursor
from sidecar.store.rows import MESSAGES
from sidecar.store.tree import preview
from tests.seed import add_message, open_repos, update_message

TABLES = {
    "conversations",
    "messages",
    "branch_names",
    "system_prompts",
    "settings",
    "providers",
    "models",
    "usage_records",
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


@pytest.fixture
async def repos(db_path: Path):
    repos = await open_repos(db_path)
    yield repos
    await repos.database.close()


def raw(path: Path) -> sqlite3.Connection:
    """A plain connection to inspect the file behind the store's back."""
    return sqlite3.connect(path)


def message(
    conversation_id: str,
    parent_id: str | None,
    content: str = "",
    *,
    role: str = "user",
    status: str = "complete",
    **fields,
) -> Message:
    now = now_iso()
    return Message(
        id=new_id(),
        conversation_id=conversation_id,
        parent_id=parent_id,
        role=role,
        content=content,
        status=status,
        created_at=now,
        updated_at=now,
        **fields,
    )


async def add(
    repos: Repositories, conversation_id: str, parent_id: str | None, content: str = "", **kw
):
    m = message(conversation_id, parent_id, content, **kw)
    await add_message(repos.database, m)
    return m


# -- opening, migrations, pragmas ---------------------------------------------


async def test_open_creates_schema_with_pragmas(repos: Repositories, db_path: Path) -> None:
    with raw(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert (
            conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        )
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [r[1] for r in conn.execute("PRAGMA table_info(messages)")]
    assert TABLES <= tables
    assert columns == list(Message.model_fields)
    db = repos.database._db
    async with db.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1
    async with db.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 1  # NORMAL
    async with db.execute("PRAGMA busy_timeout") as cur:
        assert (await cur.fetchone())[0] == store_database.BUSY_TIMEOUT_MS
    assert repos.database.interrupted_at_start == 0
    assert await repos.database.integrity_check() == "ok"


async def test_reopen_keeps_schema_and_data(db_path: Path) -> None:
    repos = await open_repos(db_path)
    conversation = await repos.conversations.create(title="kept")
    await repos.database.close()
    with raw(db_path) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()

    repos = await open_repos(db_path)
    try:
        assert await repos.conversations.get(conversation.id) == conversation
    finally:
        await repos.database.close()
    with raw(db_path) as conn:
        assert (
            conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
            == schema
        )
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_close_folds_the_wal_back(db_path: Path) -> None:
    repos = await open_repos(db_path)
    await repos.conversations.create(title="x")
    await repos.database.close()
    await repos.database.close()  # a second close is a no-op
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_newer_schema_is_refused_and_left_alone(db_path: Path) -> None:
    await (await Database.open(db_path)).close()
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNewError, match=rf"version {SCHEMA_VERSION + 1} is newer"):
        await Database.open(db_path)
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="does not exist"):
        await Database.open(tmp_path / "nope" / "chat.db")
    assert not (tmp_path / "nope").exists()


@pytest.fixture
def garbage_file(db_path: Path) -> Path:
    db_path.write_bytes(b"this is not sqlite" * 100)
    return db_path


async def test_a_file_that_is_not_a_database_is_refused(garbage_file: Path) -> None:
    with pytest.raises(StoreOpenError, match="not a database"):
        await Database.open(garbage_file)


async def test_each_migration_is_one_transaction(db_path: Path) -> None:
    steps = (
        "CREATE TABLE a (x);\nINSERT INTO a VALUES (1);",
        "CREATE TABLE b (y);\nCREATE TABLE a (z);",  # fails halfway
    )
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            await migrate(db, steps)
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT x FROM a").fetchall() == [(1,)]
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "b" not in names
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        assert await migrate(db, steps[:1]) == 1  # already there: nothing to do


def test_split_statements_keeps_triggers_whole() -> None:
    script = """
    -- a comment
    CREATE TABLE t (x);
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 1;
        UPDATE t SET x = 2;
    END;
    -- trailing comment
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[0].endswith("CREATE TABLE t (x);")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="unterminated"):
        split_statements("CREATE TABLE t (x)")


async def test_unfinished_messages_become_interrupted_on_reopen(db_path: Path) -> None:
    repos = await open_repos(db_path)
    conversation = await repos.conversations.create()
    done = await add(repos, conversation.id, None, "hi", usage=Usage(input_tokens=3))
    pending = await add(repos, conversation.id, done.id, "", role="assistant", status="pending")
    streaming = await add(
        repos, conversation.id, done.id, "par", role="assistant", status="streaming"
    )
    failed = await add(repos, conversation.id, done.id, "x", role="assistant", status="failed")
    await repos.database.close()

    repos = await open_repos(db_path)
    try:
        assert repos.database.interrupted_at_start == 2
        assert await repos.messages.get(done.id) == done
        assert await repos.messages.get(failed.id) == failed
        for before in (pending, streaming):
            after = await repos.messages.get(before.id)
            assert after.status == "interrupted"
            assert after.content == before.content
            assert after.updated_at >= before.updated_at
    finally:
        await repos.database.close()

    repos = await open_repos(db_path)
    try:
        assert repos.database.interrupted_at_start == 0
    finally:
        await repos.database.close()


# -- conversations ---------------------------------------------------------------


async def test_conversation_crud(repos: Repositories) -> None:
    settings = ConversationSettings(temperature=0.5, max_output_tokens=100)
    created = await repos.conversations.create(
        title="Trip",
        title_source="user",
        model_id="m1",
        system_prompt="Be brief.",
        settings=settings,
    )
    assert created.settings == settings
    assert created.active_leaf_id is None
    assert created.created_at == created.updated_at
    assert await repos.conversations.get(created.id) == created

    updated = await repos.conversations.update(
        created.id,
        title="Trip 2",
        title_source="generated",
        settings=ConversationSettings(top_p=0.9),
    )
    assert updated.title == "Trip 2"
    assert updated.title_source == "generated"
    assert updated.settings == ConversationSettings(top_p=0.9)
    assert updated.model_id == "m1" and updated.system_prompt == "Be brief."
    assert updated.updated_at >= created.updated_at
    assert await repos.conversations.get(created.id) == updated

    assert await repos.conversations.update(created.id) == updated  # nothing to change
    with pytest.raises(TypeError, match="created_at"):
        await repos.conversations.update(created.id, created_at="2000-01-01T00:00:00.000Z")
    assert await repos.conversations.update("missing", title="x") is None
    assert await repos.conversations.get("missing") is None

    assert await repos.conversations.delete(created.id) is True
    assert await repos.conversations.get(created.id) is None
    assert await repos.conversations.delete(created.id) is False


async def test_update_conversation_validates_values(repos: Repositories) -> None:
    a = await repos.conversations.create(title="a")
    b = await repos.conversations.create(title="b")
    other = await add(repos, b.id, None, "in b")
    with pytest.raises(ValueError, match="not in conversation"):
        await repos.conversations.update(a.id, active_leaf_id=other.id)
    with pytest.raises(ValueError):
        await repos.conversations.update(a.id, title_source="robot")
    assert (await repos.conversations.get(a.id)).title_source is None

    mine = await add(repos, a.id, None, "in a")
    await add(repos, a.id, mine.id, "child")
    changed = await repos.conversations.update(a.id, active_leaf_id=mine.id)
    assert changed.active_leaf_id == mine.id


async def test_updated_at_never_goes_back(repos: Repositories, monkeypatch) -> None:
    conversation = await repos.conversations.create(title="t")
    past = "2000-01-01T00:00:00.000Z"
    monkeypatch.setattr(store_rows, "now_iso", lambda: past)
    monkeypatch.setattr(store_messages, "now_iso", lambda: past)
    updated = await repos.conversations.update(conversation.id, title="t2")
    assert updated.updated_at == conversation.updated_at
    m = await add(repos, conversation.id, None, "x")
    assert (await repos.conversations.get(conversation.id)).updated_at == conversation.updated_at
    assert (await update_message(repos.database, m.id, content="y")).updated_at == m.updated_at


async def test_list_pages_through_everything_once_in_order(repos: Repositories) -> None:
    created = [await repos.conversations.create(title=f"c{i}") for i in range(25)]
    # Touch a few so updated_at order differs from creation order.
    await asyncio.sleep(0.005)  # timestamps have millisecond resolution
    for c in created[3:6]:
        await repos.conversations.update(c.id, title=c.title + "!")
    everything = [await repos.conversations.get(c.id) for c in created]
    expected = sorted(everything, key=lambda c: (c.updated_at, c.id), reverse=True)

    pages, cursor = [], None
    while True:
        page, cursor = await repos.conversations.page(limit=10, cursor=cursor)
        pages.append(page)
        if cursor is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [c for p in pages for c in p] == expected
    assert expected[0].id in {c.id for c in created[3:6]}

    exact, cursor = await repos.conversations.page(limit=25)
    assert exact == expected and cursor is None


async def test_list_orders_by_last_activity(repos: Repositories) -> None:
    old = await repos.conversations.create(title="old")
    new = await repos.conversations.create(title="new")
    assert [c.id for c in (await repos.conversations.page(limit=5))[0]] == [new.id, old.id]
    await asyncio.sleep(0.005)  # timestamps have millisecond resolution
    m = await add(repos, old.id, None, "bump")
    page, _ = await repos.conversations.page(limit=5)
    assert [c.id for c in page] == [old.id, new.id]
    assert page[0].active_leaf_id == m.id
    assert page[0].updated_at > new.updated_at


async def test_list_query_matches_title_and_content_literally(repos: Repositories) -> None:
    hello = await repos.conversations.create(title="Hello World")
    percent = await repos.conversations.create(title="100% sure")
    snake = await repos.conversations.create(title="snake_case name")
    slash = await repos.conversations.create(title=r"C:\temp")
    body = await repos.conversations.create(title=None)
    await add(repos, body.id, None, "find the NEEDLE in here")
    decoy = await repos.conversations.create(title="plain 100 percent snakeXcase")

    async def ids(query: str) -> set[str]:
        page, cursor = await repos.conversations.page(limit=50, query=query)
        assert cursor is None
        return {c.id for c in page}

    assert await ids("hello world") == {hello.id}
    assert await ids("WORLD") == {hello.id}
    assert await ids("needle") == {body.id}
    assert await ids("%") == {percent.id}
    assert await ids("0% s") == {percent.id}
    assert await ids("_") == {snake.id}
    assert await ids("e_c") == {snake.id}
    assert await ids("\\") == {slash.id}
    assert await ids("nothing like this") == set()
    accents = await repos.conversations.create(title="Straße nach Évora")
    assert await ids("STRASSE") == {accents.id}  # full Unicode case folding
    assert await ids("évora") == {accents.id}
    everyone = {hello.id, percent.id, snake.id, slash.id, body.id, decoy.id, accents.id}
    assert await ids("") == everyone  # an empty query does not filter

    page, cursor = await repos.conversations.page(limit=1, query="e")
    rest, end = await repos.conversations.page(limit=10, cursor=cursor, query="e")
    assert len(page) == 1 and {c.id for c in page + rest} == everyone
    assert end is None


async def test_malformed_cursor_and_bad_limit(repos: Repositories) -> None:
    await repos.conversations.create(title="x")
    for bad in ("garbage!", "", "a", "W10", "WzEsMl0", "é", encode_cursor("a", "b") + "x"):
        with pytest.raises(ValueError, match="invalid cursor"):
            await repos.conversations.page(limit=5, cursor=bad)
    with pytest.raises(ValueError, match="limit"):
        await repos.conversations.page(limit=0)


def test_cursor_round_trip() -> None:
    token = encode_cursor("2026-01-01T00:00:00.000Z", "0190-id")
    assert token.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(token) == ("2026-01-01T00:00:00.000Z", "0190-id")


# -- messages and the tree ----------------------------------------------------------


async def test_message_round_trip_and_update(repos: Repositories) -> None:
    conversation = await repos.conversations.create()
    full = message(
        conversation.id,
        None,
        "look",
        role="assistant",
        status="streaming",
        model_id="m",
        provider="p",
        thinking="hmm",
        tool_calls=[ToolCall(id="t1", name="calc", arguments={"x": [1, 2]}, status="proposed")],
        attachments=[Attachment(id="a1", name="n.txt", mime_type="text/plain", size=3, text="abc")],
        usage=Usage(input_tokens=5, output_tokens=7, cost_usd=0.25),
    )
    await add_message(repos.database, full)
    assert await repos.messages.get(full.id) == full

    error = ErrorInfo(code="rate_limited", message="slow down", retryable=True, http_status=429)
    updated = await update_message(
        repos.database,
        full.id,
        content="look here",
        status="failed",
        error=error,
        usage=Usage(output_tokens=9),
        tool_calls=[],
    )
    assert updated.content == "look here"
    assert updated.status == "failed"
    assert updated.error == error
    assert updated.usage == Usage(output_tokens=9)
    assert updated.tool_calls == []
    assert updated.attachments == full.attachments
    assert updated.updated_at >= full.updated_at
    assert updated.created_at == full.created_at
    assert await repos.messages.get(full.id) == updated

    with pytest.raises(TypeError, match="parent_id"):
        await update_message(repos.database, full.id, parent_id=None)
    with pytest.raises(ValueError):
        await update_message(repos.database, full.id, status="exploded")
    assert await update_message(repos.database, "missing", content="x") is None
    assert await repos.messages.get("missing") is None


async def test_add_message_refuses_bad_links(repos: Repositories) -> None:
    a = await repos.conversations.create()
    b = await repos.conversations.create()
    root = await add(repos, a.id, None, "root")
    with pytest.raises(ValueError, match="cannot add message"):
        await add_message(repos.database, message("no-such-conversation", None, "x"))
    with pytest.raises(ValueError, match="cannot add message"):
        await add_message(repos.database, message(b.id, root.id, "parent in another conversation"))
    with pytest.raises(ValueError, match="cannot add message"):
        await add_message(repos.database, root)
    assert (await repos.conversations.get(b.id)).active_leaf_id is None
    assert await repos.messages.tree(b.id) == []
    assert (await repos.conversations.get(a.id)).active_leaf_id == root.id


async def test_a_turn_that_breaks_a_constraint_halfway_stores_nothing(
    repos: Repositories,
) -> None:
    """A turn's statements are queued together: when one in the middle fails, the ones
    after it have run too, and the transaction takes them all back."""
    c = await repos.conversations.create()
    root = await add(repos, c.id, None, "root")
    before = await repos.conversations.get(c.id)
    user = message(c.id, root.id, "question")
    duplicate = message(c.id, user.id, "reply", role="assistant").model_copy(
        update={"id": root.id}  # taken: the second insert fails, the leaf move after it runs
    )
    with pytest.raises(ValueError, match="cannot add message"):
        await repos.messages.add_turn(user, duplicate, "request-1")
    assert await repos.conversations.get(c.id) == before
    assert [m.id for m in await repos.messages.in_conversation(c.id)] == [root.id]
    assert await repos.messages.client_request("request-1") is None
    # and the next turn is stored whole
    reply = message(c.id, user.id, "reply", role="assistant")
    after = await repos.messages.add_turn(user, reply, "request-1")
    assert after.active_leaf_id == reply.id
    assert await repos.messages.client_request("request-1") == (user.id, reply.id)


async def test_before_turn_reads_what_is_committed_without_waiting(repos: Repositories) -> None:
    """A turn's first reads run at once on the loop's thread (`Database.read_now`): they
    see what is committed, never a write still open, and never wait for it."""
    c = await repos.conversations.create()
    root = await add(repos, c.id, None, "root")
    user = message(c.id, root.id, "question")
    reply = message(c.id, user.id, "reply", role="assistant")
    await repos.messages.add_turn(user, reply, "request-1")

    reads = repos.messages.before_turn(c.id, store_messages.Leaf.ACTIVE, "request-1")
    assert reads.earlier == (user.id, reply.id)
    assert reads.conversation == await repos.conversations.get(c.id)
    assert [m.id for m in reads.branch] == [root.id, user.id, reply.id]
    assert [m.id for m in repos.messages.before_turn(c.id, user.id, None).branch] == [
        root.id,
        user.id,
    ]
    assert repos.messages.before_turn(c.id, None, "request-2").branch == []

    # A write transaction held open by the store's own connection: the reads neither
    # wait for it nor see its rows; once it commits they do.
    later = message(c.id, reply.id, "not yet")
    async with repos.database.transaction(write=True) as db:
        await store_messages.insert_message(db, later)  # and the leaf moves to it
        meanwhile = repos.messages.before_turn(c.id, store_messages.Leaf.ACTIVE, None)
        assert meanwhile.branch[-1].id == reply.id
        assert meanwhile.conversation is not None
        assert meanwhile.conversation.active_leaf_id == reply.id
    after = repos.messages.before_turn(c.id, store_messages.Leaf.ACTIVE, None)
    assert [m.id for m in after.branch][-2:] == [reply.id, later.id]

    await repos.database.close()
    with pytest.raises(sqlite3.ProgrammingError):  # its connection closed with the store
        repos.messages.before_turn(c.id, None, None)


async def build_tree(repos: Repositories):
    """u1 -> a1 -> u2 -> a2 (main), then u2b -> a2b under a1, then a1b under u1."""
    c = await repos.conversations.create(title="tree")
    u1 = await add(repos, c.id, None, "question")
    a1 = await add(repos, c.id, u1.id, "answer", role="assistant")
    u2 = await add(repos, c.id, a1.id, "follow up")
    a2 = await add(repos, c.id, u2.id, "second answer", role="assistant")
    u2b = await add(repos, c.id, a1.id, "follow up, edited")
    a2b = await add(repos, c.id, u2b.id, "edited answer", role="assistant")
    a1b = await add(repos, c.id, u1.id, "answer, regenerated", role="assistant")
    return c, u1, a1, u2, a2, u2b, a2b, a1b


async def test_active_path_with_siblings(repos: Repositories) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(repos)
    assert (await repos.conversations.get(c.id)).active_leaf_id == a1b.id

    path = await repos.messages.active_path(c.id)
    assert all(isinstance(m, BranchMessage) for m in path)
    assert [(m.id, m.sibling_ids) for m in path] == [
        (u1.id, [u1.id]),
        (a1b.id, [a1.id, a1b.id]),
    ]
    assert path[1].content == "answer, regenerated" and path[1].role == "assistant"
    assert Message.model_validate(path[0].model_dump(exclude={"sibling_ids"})) == u1

    await repos.conversations.update(c.id, active_leaf_id=a2b.id)
    path = await repos.messages.active_path(c.id)
    assert [(m.id, m.sibling_ids) for m in path] == [
        (u1.id, [u1.id]),
        (a1.id, [a1.id, a1b.id]),
        (u2b.id, [u2.id, u2b.id]),
        (a2b.id, [a2b.id]),
    ]

    # Editing the first message makes a second root; roots are each other's siblings.
    u1b = await add(repos, c.id, None, "question, edited")
    assert [(m.id, m.sibling_ids) for m in await repos.messages.active_path(c.id)] == [
        (u1b.id, [u1.id, u1b.id])
    ]
    assert await repos.messages.active_path("missing") == []
    empty = await repos.conversations.create()
    assert await repos.messages.active_path(empty.id) == []


async def test_newest_leaf_under(repos: Repositories) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(repos)
    assert await repos.messages.newest_leaf_under(u1.id) == a1b.id
    assert await repos.messages.newest_leaf_under(a1.id) == a2b.id
    assert await repos.messages.newest_leaf_under(u2.id) == a2.id
    assert await repos.messages.newest_leaf_under(a2.id) == a2.id
    assert await repos.messages.newest_leaf_under("missing") is None


async def test_tree_lists_every_message_with_previews(repos: Repositories) -> None:
    c, *messages = await build_tree(repos)
    long = await add(repos, c.id, messages[-1].id, "  line one\n\n\tline   two " + "x" * 200)
    nodes = await repos.messages.tree(c.id)
    assert [n.id for n in nodes] == [m.id for m in messages] + [long.id]
    assert [(n.parent_id, n.role, n.status) for n in nodes[:2]] == [
        (None, "user", "complete"),
        (messages[0].id, "assistant", "complete"),
    ]
    assert nodes[0].preview == "question"
    assert nodes[0].created_at == messages[0].created_at
    assert nodes[-1].preview == ("line one line two " + "x" * 200)[:80]
    assert len(nodes[-1].preview) == 80
    assert await repos.messages.tree("missing") == []


def test_preview_collapses_whitespace() -> None:
    assert preview("  a \n b\t\tc  ") == "a b c"
    assert preview(" " * 1000 + "late   start " + "y" * 100) == ("late start " + "y" * 100)[:80]
    assert preview("") == ""


async def test_branches_forks_names_and_active(repos: Repositories) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(repos)
    branches = await repos.messages.branches(c.id)
    assert [
        (b.leaf_id, b.fork_message_id, b.message_count, b.name, b.active) for b in branches
    ] == [
        (a2.id, u1.id, 4, "Main", False),
        (a2b.id, u2b.id, 4, None, False),
        (a1b.id, a1b.id, 2, None, True),
    ]
    assert [b.updated_at for b in branches] == [a2.updated_at, a2b.updated_at, a1b.updated_at]

    # A second root (the first message edited) is a branch of its own.
    u1b = await add(repos, c.id, None, "question, edited")
    branches = await repos.messages.branches(c.id)
    assert [(b.leaf_id, b.fork_message_id, b.message_count, b.name, b.active) for b in branches][
        ::3
    ] == [(a2.id, u1.id, 4, "Main", False), (u1b.id, u1b.id, 1, None, True)]
    assert await repos.messages.branches("missing") == []


async def test_rename_branch_and_the_name_follows_growth(repos: Repositories) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(repos)
    renamed = await repos.messages.rename_branch(c.id, a2b.id, "Alt")
    assert (renamed.leaf_id, renamed.name, renamed.fork_message_id) == (a2b.id, "Alt", u2b.id)
    assert (await repos.messages.rename_branch(c.id, a2b.id, "Alt 2")).name == "Alt 2"

    assert await repos.messages.rename_branch(c.id, u2b.id, "not a leaf") is None
    other = await repos.conversations.create()
    assert await repos.messages.rename_branch(other.id, a2b.id, "wrong conversation") is None
    assert await repos.messages.rename_branch(c.id, "missing", "x") is None

    # The branch grows: its name moves to the new leaf.
    u3b = await add(repos, c.id, a2b.id, "more")
    by_leaf = {b.leaf_id: b for b in await repos.messages.branches(c.id)}
    assert a2b.id not in by_leaf
    assert (by_leaf[u3b.id].name, by_leaf[u3b.id].message_count) == ("Alt 2", 5)
    assert by_leaf[u3b.id].active is True

    # A new sibling under a non-leaf starts an unnamed branch; the name stays put.
    side = await add(repos, c.id, a2b.id, "side")
    by_leaf = {b.leaf_id: b for b in await repos.messages.branches(c.id)}
    assert (by_leaf[u3b.id].name, by_leaf[side.id].name) == ("Alt 2", None)
    assert by_leaf[side.id].fork_message_id == side.id  # not u2b: the "Alt 2" branch shares that
    assert by_leaf[u3b.id].fork_message_id == u2b.id

    # The main branch can be named, and clearing the name brings "Main" back.
    assert (await repos.messages.rename_branch(c.id, a2.id, "Trunk")).name == "Trunk"
    assert (await repos.messages.rename_branch(c.id, a2.id, None)).name == "Main"
    with raw(repos.database.path) as conn:
        assert conn.execute("SELECT leaf_id, name FROM branch_names").fetchall() == [
            (u3b.id, "Alt 2")
        ]


async def test_delete_cascades_to_messages_and_branch_names(repos: Repositories) -> None:
    c, u1, *_rest, a1b = await build_tree(repos)
    await repos.messages.rename_branch(c.id, a1b.id, "named")
    keep = await repos.conversations.create(title="keep")
    kept = await add(repos, keep.id, None, "stays")

    assert await repos.conversations.delete(c.id) is True
    assert await repos.messages.get(u1.id) is None
    assert await repos.messages.tree(c.id) == []
    assert await repos.messages.branches(c.id) == []
    assert await repos.messages.get(kept.id) == kept
    with raw(repos.database.path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM branch_names").fetchone()[0] == 0
    assert await repos.database.integrity_check() == "ok"


async def test_deleting_a_long_conversation_works(repos: Repositories) -> None:
    c = await repos.conversations.create()
    chain: list[Message] = []
    for i in range(1200):  # deeper than SQLite's trigger recursion limit
        chain.append(message(c.id, chain[-1].id if chain else None, f"m{i}"))
    with raw(repos.database.path) as conn:  # bulk insert: 1200 add_message calls would be slow
        conn.executemany(MESSAGES.insert_sql, [MESSAGES.params(m) for m in chain])
    await repos.conversations.update(c.id, active_leaf_id=chain[-1].id)
    assert await repos.messages.newest_leaf_under(chain[0].id) == chain[-1].id
    assert len(await repos.messages.active_path(c.id)) == 1200
    assert (await repos.messages.branches(c.id))[0].message_count == 1200
    assert await repos.conversations.delete(c.id) is True
    assert await repos.messages.tree(c.id) == []


async def test_concurrent_calls_do_not_interleave(repos: Repositories) -> None:
    c = await repos.conversations.create()
    root = await add(repos, c.id, None, "root")
    children = [message(c.id, root.id, f"child {i}") for i in range(20)]
    await asyncio.gather(
        *(add_message(repos.database, m) for m in children),
        *(update_message(repos.database, root.id, content=f"root {i}") for i in range(20)),
        *(repos.messages.branches(c.id) for _ in range(5)),
    )
    assert len(await repos.messages.branches(c.id)) == 20
    assert (await repos.messages.get(root.id)).content.startswith("root ")


# -- system prompts and settings ----------------------------------------------------


async def test_system_prompt_crud(repos: Repositories) -> None:
    assert await repos.library.list_system_prompts() == []
    first = await repos.library.create_system_prompt("Coder", "You write code.")
    second = await repos.library.create_system_prompt("Poet", "You rhyme.")
    assert await repos.library.list_system_prompts() == [first, second]

    renamed = await repos.library.update_system_prompt(first.id, name="Engineer")
    assert (renamed.name, renamed.content) == ("Engineer", "You write code.")
    assert renamed.updated_at >= first.updated_at
    edited = await repos.library.update_system_prompt(first.id, content="You write tests.")
    assert (edited.name, edited.content) == ("Engineer", "You write tests.")
    assert await repos.library.update_system_prompt(first.id) == edited
    assert await repos.library.update_system_prompt("missing", name="x") is None

    assert await repos.library.delete_system_prompt(first.id) is True
    assert await repos.library.delete_system_prompt(first.id) is False
    assert await repos.library.list_system_prompts() == [second]


async def test_settings_defaults_and_round_trip(repos: Repositories, db_path: Path) -> None:
    assert await repos.library.get_settings() == Settings()
    settings = Settings(
        provider_routes={"openai": "sidecar", "legacy": "frontend"},
        default_model_id="gpt",
        title_model_id=None,
        last_model_id="claude",
        default_system_prompt="Be nice.",
        preferences={"theme": "dark", "fontSize": 14, "nested": {"a": [1, None, True]}},
    )
    await repos.library.save_settings(settings)
    assert await repos.library.get_settings() == settings
    with raw(db_path) as conn:
        rows = dict(conn.execute("SELECT key, value FROM settings"))
    assert set(rows) == set(Settings.model_fields)
    assert rows["default_model_id"] == '"gpt"'

    changed = settings.model_copy(update={"default_model_id": None, "provider_routes": {}})
    await repos.library.save_settings(changed)
    assert await repos.library.get_settings() == changed
