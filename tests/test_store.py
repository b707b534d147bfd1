"""The SQLite store against a real database file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import aiosqlite
import pytest

import sidecar.store.db as store_db
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
from sidecar.store import SCHEMA_VERSION, SchemaTooNewError, Store, StoreOpenError
from sidecar.store.migrations import MIGRATIONS, migrate, split_statements
from sidecar.store.paging import decode_cursor, encode_cursor
from sidecar.store.rows import MESSAGES
from sidecar.store.tree import preview

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
async def store(db_path: Path):
    store = await Store.open(db_path)
    yield store
    await store.close()


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


async def add(store: Store, conversation_id: str, parent_id: str | None, content: str = "", **kw):
    m = message(conversation_id, parent_id, content, **kw)
    await store.add_message(m)
    return m


# -- opening, migrations, pragmas ---------------------------------------------


async def test_open_creates_schema_with_pragmas(store: Store, db_path: Path) -> None:
    with raw(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert (
            conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == len(MIGRATIONS)
        )
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        columns = [r[1] for r in conn.execute("PRAGMA table_info(messages)")]
    assert TABLES <= tables
    assert columns == list(Message.model_fields)
    db = store._db
    async with db.execute("PRAGMA foreign_keys") as cur:
        assert (await cur.fetchone())[0] == 1
    async with db.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 1  # NORMAL
    async with db.execute("PRAGMA busy_timeout") as cur:
        assert (await cur.fetchone())[0] == store_db.BUSY_TIMEOUT_MS
    assert store.interrupted_at_start == 0
    assert await store.integrity_check() == "ok"


async def test_reopen_keeps_schema_and_data(db_path: Path) -> None:
    store = await Store.open(db_path)
    conversation = await store.create_conversation(title="kept")
    await store.close()
    with raw(db_path) as conn:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()

    store = await Store.open(db_path)
    try:
        assert await store.get_conversation(conversation.id) == conversation
    finally:
        await store.close()
    with raw(db_path) as conn:
        assert (
            conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
            == schema
        )
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_close_folds_the_wal_back(db_path: Path) -> None:
    store = await Store.open(db_path)
    await store.create_conversation(title="x")
    await store.close()
    await store.close()  # a second close is a no-op
    wal = db_path.with_name(db_path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


async def test_newer_schema_is_refused_and_left_alone(db_path: Path) -> None:
    await (await Store.open(db_path)).close()
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaTooNewError, match=rf"version {SCHEMA_VERSION + 1} is newer"):
        await Store.open(db_path)
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1


async def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreOpenError, match="does not exist"):
        await Store.open(tmp_path / "nope" / "chat.db")
    assert not (tmp_path / "nope").exists()


@pytest.fixture
def garbage_file(db_path: Path) -> Path:
    db_path.write_bytes(b"this is not sqlite" * 100)
    return db_path


async def test_a_file_that_is_not_a_database_is_refused(garbage_file: Path) -> None:
    with pytest.raises(StoreOpenError, match="not a database"):
        await Store.open(garbage_file)


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
    store = await Store.open(db_path)
    conversation = await store.create_conversation()
    done = await add(store, conversation.id, None, "hi", usage=Usage(input_tokens=3))
    pending = await add(store, conversation.id, done.id, "", role="assistant", status="pending")
    streaming = await add(
        store, conversation.id, done.id, "par", role="assistant", status="streaming"
    )
    failed = await add(store, conversation.id, done.id, "x", role="assistant", status="failed")
    await store.close()

    store = await Store.open(db_path)
    try:
        assert store.interrupted_at_start == 2
        assert await store.get_message(done.id) == done
        assert await store.get_message(failed.id) == failed
        for before in (pending, streaming):
            after = await store.get_message(before.id)
            assert after.status == "interrupted"
            assert after.content == before.content
            assert after.updated_at >= before.updated_at
    finally:
        await store.close()

    store = await Store.open(db_path)
    try:
        assert store.interrupted_at_start == 0
    finally:
        await store.close()


# -- conversations ---------------------------------------------------------------


async def test_conversation_crud(store: Store) -> None:
    settings = ConversationSettings(temperature=0.5, max_output_tokens=100)
    created = await store.create_conversation(
        title="Trip",
        title_source="user",
        model_id="m1",
        system_prompt="Be brief.",
        settings=settings,
    )
    assert created.settings == settings
    assert created.active_leaf_id is None
    assert created.created_at == created.updated_at
    assert await store.get_conversation(created.id) == created

    updated = await store.update_conversation(
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
    assert await store.get_conversation(created.id) == updated

    assert await store.update_conversation(created.id) == updated  # nothing to change
    with pytest.raises(TypeError, match="created_at"):
        await store.update_conversation(created.id, created_at="2000-01-01T00:00:00.000Z")
    assert await store.update_conversation("missing", title="x") is None
    assert await store.get_conversation("missing") is None

    assert await store.delete_conversation(created.id) is True
    assert await store.get_conversation(created.id) is None
    assert await store.delete_conversation(created.id) is False


async def test_update_conversation_validates_values(store: Store) -> None:
    a = await store.create_conversation(title="a")
    b = await store.create_conversation(title="b")
    other = await add(store, b.id, None, "in b")
    with pytest.raises(ValueError, match="not in conversation"):
        await store.update_conversation(a.id, active_leaf_id=other.id)
    with pytest.raises(ValueError):
        await store.update_conversation(a.id, title_source="robot")
    assert (await store.get_conversation(a.id)).title_source is None

    mine = await add(store, a.id, None, "in a")
    await add(store, a.id, mine.id, "child")
    changed = await store.update_conversation(a.id, active_leaf_id=mine.id)
    assert changed.active_leaf_id == mine.id


async def test_updated_at_never_goes_back(store: Store, monkeypatch) -> None:
    conversation = await store.create_conversation(title="t")
    past = "2000-01-01T00:00:00.000Z"
    monkeypatch.setattr(store_rows, "now_iso", lambda: past)
    monkeypatch.setattr(store_db, "now_iso", lambda: past)
    updated = await store.update_conversation(conversation.id, title="t2")
    assert updated.updated_at == conversation.updated_at
    m = await add(store, conversation.id, None, "x")
    assert (await store.get_conversation(conversation.id)).updated_at == conversation.updated_at
    assert (await store.update_message(m.id, content="y")).updated_at == m.updated_at


async def test_list_pages_through_everything_once_in_order(store: Store) -> None:
    created = [await store.create_conversation(title=f"c{i}") for i in range(25)]
    # Touch a few so updated_at order differs from creation order.
    await asyncio.sleep(0.005)  # timestamps have millisecond resolution
    for c in created[3:6]:
        await store.update_conversation(c.id, title=c.title + "!")
    everything = [await store.get_conversation(c.id) for c in created]
    expected = sorted(everything, key=lambda c: (c.updated_at, c.id), reverse=True)

    pages, cursor = [], None
    while True:
        page, cursor = await store.list_conversations(limit=10, cursor=cursor)
        pages.append(page)
        if cursor is None:
            break
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [c for p in pages for c in p] == expected
    assert expected[0].id in {c.id for c in created[3:6]}

    exact, cursor = await store.list_conversations(limit=25)
    assert exact == expected and cursor is None


async def test_list_orders_by_last_activity(store: Store) -> None:
    old = await store.create_conversation(title="old")
    new = await store.create_conversation(title="new")
    assert [c.id for c in (await store.list_conversations(limit=5))[0]] == [new.id, old.id]
    await asyncio.sleep(0.005)  # timestamps have millisecond resolution
    m = await add(store, old.id, None, "bump")
    page, _ = await store.list_conversations(limit=5)
    assert [c.id for c in page] == [old.id, new.id]
    assert page[0].active_leaf_id == m.id
    assert page[0].updated_at > new.updated_at


async def test_list_query_matches_title_and_content_literally(store: Store) -> None:
    hello = await store.create_conversation(title="Hello World")
    percent = await store.create_conversation(title="100% sure")
    snake = await store.create_conversation(title="snake_case name")
    slash = await store.create_conversation(title=r"C:\temp")
    body = await store.create_conversation(title=None)
    await add(store, body.id, None, "find the NEEDLE in here")
    decoy = await store.create_conversation(title="plain 100 percent snakeXcase")

    async def ids(query: str) -> set[str]:
        page, cursor = await store.list_conversations(limit=50, query=query)
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
    accents = await store.create_conversation(title="Straße nach Évora")
    assert await ids("STRASSE") == {accents.id}  # full Unicode case folding
    assert await ids("évora") == {accents.id}
    everyone = {hello.id, percent.id, snake.id, slash.id, body.id, decoy.id, accents.id}
    assert await ids("") == everyone  # an empty query does not filter

    page, cursor = await store.list_conversations(limit=1, query="e")
    rest, end = await store.list_conversations(limit=10, cursor=cursor, query="e")
    assert len(page) == 1 and {c.id for c in page + rest} == everyone
    assert end is None


async def test_malformed_cursor_and_bad_limit(store: Store) -> None:
    await store.create_conversation(title="x")
    for bad in ("garbage!", "", "a", "W10", "WzEsMl0", "é", encode_cursor("a", "b") + "x"):
        with pytest.raises(ValueError, match="invalid cursor"):
            await store.list_conversations(limit=5, cursor=bad)
    with pytest.raises(ValueError, match="limit"):
        await store.list_conversations(limit=0)


def test_cursor_round_trip() -> None:
    token = encode_cursor("2026-01-01T00:00:00.000Z", "0190-id")
    assert token.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(token) == ("2026-01-01T00:00:00.000Z", "0190-id")


# -- messages and the tree ----------------------------------------------------------


async def test_message_round_trip_and_update(store: Store) -> None:
    conversation = await store.create_conversation()
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
    await store.add_message(full)
    assert await store.get_message(full.id) == full

    error = ErrorInfo(code="rate_limited", message="slow down", retryable=True, http_status=429)
    updated = await store.update_message(
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
    assert await store.get_message(full.id) == updated

    with pytest.raises(TypeError, match="parent_id"):
        await store.update_message(full.id, parent_id=None)
    with pytest.raises(ValueError):
        await store.update_message(full.id, status="exploded")
    assert await store.update_message("missing", content="x") is None
    assert await store.get_message("missing") is None


async def test_add_message_refuses_bad_links(store: Store) -> None:
    a = await store.create_conversation()
    b = await store.create_conversation()
    root = await add(store, a.id, None, "root")
    with pytest.raises(ValueError, match="cannot add message"):
        await store.add_message(message("no-such-conversation", None, "x"))
    with pytest.raises(ValueError, match="cannot add message"):
        await store.add_message(message(b.id, root.id, "parent in another conversation"))
    with pytest.raises(ValueError, match="cannot add message"):
        await store.add_message(root)
    assert (await store.get_conversation(b.id)).active_leaf_id is None
    assert await store.tree(b.id) == []
    assert (await store.get_conversation(a.id)).active_leaf_id == root.id


async def build_tree(store: Store):
    """u1 -> a1 -> u2 -> a2 (main), then u2b -> a2b under a1, then a1b under u1."""
    c = await store.create_conversation(title="tree")
    u1 = await add(store, c.id, None, "question")
    a1 = await add(store, c.id, u1.id, "answer", role="assistant")
    u2 = await add(store, c.id, a1.id, "follow up")
    a2 = await add(store, c.id, u2.id, "second answer", role="assistant")
    u2b = await add(store, c.id, a1.id, "follow up, edited")
    a2b = await add(store, c.id, u2b.id, "edited answer", role="assistant")
    a1b = await add(store, c.id, u1.id, "answer, regenerated", role="assistant")
    return c, u1, a1, u2, a2, u2b, a2b, a1b


async def test_active_path_with_siblings(store: Store) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(store)
    assert (await store.get_conversation(c.id)).active_leaf_id == a1b.id

    path = await store.active_path(c.id)
    assert all(isinstance(m, BranchMessage) for m in path)
    assert [(m.id, m.sibling_ids) for m in path] == [
        (u1.id, [u1.id]),
        (a1b.id, [a1.id, a1b.id]),
    ]
    assert path[1].content == "answer, regenerated" and path[1].role == "assistant"
    assert Message.model_validate(path[0].model_dump(exclude={"sibling_ids"})) == u1

    await store.update_conversation(c.id, active_leaf_id=a2b.id)
    path = await store.active_path(c.id)
    assert [(m.id, m.sibling_ids) for m in path] == [
        (u1.id, [u1.id]),
        (a1.id, [a1.id, a1b.id]),
        (u2b.id, [u2.id, u2b.id]),
        (a2b.id, [a2b.id]),
    ]

    # Editing the first message makes a second root; roots are each other's siblings.
    u1b = await add(store, c.id, None, "question, edited")
    assert [(m.id, m.sibling_ids) for m in await store.active_path(c.id)] == [
        (u1b.id, [u1.id, u1b.id])
    ]
    assert await store.active_path("missing") == []
    empty = await store.create_conversation()
    assert await store.active_path(empty.id) == []


async def test_newest_leaf_under(store: Store) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(store)
    assert await store.newest_leaf_under(u1.id) == a1b.id
    assert await store.newest_leaf_under(a1.id) == a2b.id
    assert await store.newest_leaf_under(u2.id) == a2.id
    assert await store.newest_leaf_under(a2.id) == a2.id
    assert await store.newest_leaf_under("missing") is None


async def test_tree_lists_every_message_with_previews(store: Store) -> None:
    c, *messages = await build_tree(store)
    long = await add(store, c.id, messages[-1].id, "  line one\n\n\tline   two " + "x" * 200)
    nodes = await store.tree(c.id)
    assert [n.id for n in nodes] == [m.id for m in messages] + [long.id]
    assert [(n.parent_id, n.role, n.status) for n in nodes[:2]] == [
        (None, "user", "complete"),
        (messages[0].id, "assistant", "complete"),
    ]
    assert nodes[0].preview == "question"
    assert nodes[0].created_at == messages[0].created_at
    assert nodes[-1].preview == ("line one line two " + "x" * 200)[:80]
    assert len(nodes[-1].preview) == 80
    assert await store.tree("missing") == []


def test_preview_collapses_whitespace() -> None:
    assert preview("  a \n b\t\tc  ") == "a b c"
    assert preview(" " * 1000 + "late   start " + "y" * 100) == ("late start " + "y" * 100)[:80]
    assert preview("") == ""


async def test_branches_forks_names_and_active(store: Store) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(store)
    branches = await store.branches(c.id)
    assert [
        (b.leaf_id, b.fork_message_id, b.message_count, b.name, b.active) for b in branches
    ] == [
        (a2.id, u1.id, 4, "Main", False),
        (a2b.id, u2b.id, 4, None, False),
        (a1b.id, a1b.id, 2, None, True),
    ]
    assert [b.updated_at for b in branches] == [a2.updated_at, a2b.updated_at, a1b.updated_at]

    # A second root (the first message edited) is a branch of its own.
    u1b = await add(store, c.id, None, "question, edited")
    branches = await store.branches(c.id)
    assert [(b.leaf_id, b.fork_message_id, b.message_count, b.name, b.active) for b in branches][
        ::3
    ] == [(a2.id, u1.id, 4, "Main", False), (u1b.id, u1b.id, 1, None, True)]
    assert await store.branches("missing") == []


async def test_rename_branch_and_the_name_follows_growth(store: Store) -> None:
    c, u1, a1, u2, a2, u2b, a2b, a1b = await build_tree(store)
    renamed = await store.rename_branch(c.id, a2b.id, "Alt")
    assert (renamed.leaf_id, renamed.name, renamed.fork_message_id) == (a2b.id, "Alt", u2b.id)
    assert (await store.rename_branch(c.id, a2b.id, "Alt 2")).name == "Alt 2"

    assert await store.rename_branch(c.id, u2b.id, "not a leaf") is None
    other = await store.create_conversation()
    assert await store.rename_branch(other.id, a2b.id, "wrong conversation") is None
    assert await store.rename_branch(c.id, "missing", "x") is None

    # The branch grows: its name moves to the new leaf.
    u3b = await add(store, c.id, a2b.id, "more")
    by_leaf = {b.leaf_id: b for b in await store.branches(c.id)}
    assert a2b.id not in by_leaf
    assert (by_leaf[u3b.id].name, by_leaf[u3b.id].message_count) == ("Alt 2", 5)
    assert by_leaf[u3b.id].active is True

    # A new sibling under a non-leaf starts an unnamed branch; the name stays put.
    side = await add(store, c.id, a2b.id, "side")
    by_leaf = {b.leaf_id: b for b in await store.branches(c.id)}
    assert (by_leaf[u3b.id].name, by_leaf[side.id].name) == ("Alt 2", None)
    assert by_leaf[side.id].fork_message_id == side.id  # not u2b: the "Alt 2" branch shares that
    assert by_leaf[u3b.id].fork_message_id == u2b.id

    # The main branch can be named, and clearing the name brings "Main" back.
    assert (await store.rename_branch(c.id, a2.id, "Trunk")).name == "Trunk"
    assert (await store.rename_branch(c.id, a2.id, None)).name == "Main"
    with raw(store.path) as conn:
        assert conn.execute("SELECT leaf_id, name FROM branch_names").fetchall() == [
            (u3b.id, "Alt 2")
        ]


async def test_delete_cascades_to_messages_and_branch_names(store: Store) -> None:
    c, u1, *_rest, a1b = await build_tree(store)
    await store.rename_branch(c.id, a1b.id, "named")
    keep = await store.create_conversation(title="keep")
    kept = await add(store, keep.id, None, "stays")

    assert await store.delete_conversation(c.id) is True
    assert await store.get_message(u1.id) is None
    assert await store.tree(c.id) == []
    assert await store.branches(c.id) == []
    assert await store.get_message(kept.id) == kept
    with raw(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM branch_names").fetchone()[0] == 0
    assert await store.integrity_check() == "ok"


async def test_deleting_a_long_conversation_works(store: Store) -> None:
    c = await store.create_conversation()
    chain: list[Message] = []
    for i in range(1200):  # deeper than SQLite's trigger recursion limit
        chain.append(message(c.id, chain[-1].id if chain else None, f"m{i}"))
    with raw(store.path) as conn:  # bulk insert: 1200 add_message calls would be slow
        conn.executemany(MESSAGES.insert_sql, [MESSAGES.params(m) for m in chain])
    await store.update_conversation(c.id, active_leaf_id=chain[-1].id)
    assert await store.newest_leaf_under(chain[0].id) == chain[-1].id
    assert len(await store.active_path(c.id)) == 1200
    assert (await store.branches(c.id))[0].message_count == 1200
    assert await store.delete_conversation(c.id) is True
    assert await store.tree(c.id) == []


async def test_concurrent_calls_do_not_interleave(store: Store) -> None:
    c = await store.create_conversation()
    root = await add(store, c.id, None, "root")
    children = [message(c.id, root.id, f"child {i}") for i in range(20)]
    await asyncio.gather(
        *(store.add_message(m) for m in children),
        *(store.update_message(root.id, content=f"root {i}") for i in range(20)),
        *(store.branches(c.id) for _ in range(5)),
    )
    assert len(await store.branches(c.id)) == 20
    assert (await store.get_message(root.id)).content.startswith("root ")


# -- system prompts and settings ----------------------------------------------------


async def test_system_prompt_crud(store: Store) -> None:
    assert await store.list_system_prompts() == []
    first = await store.create_system_prompt("Coder", "You write code.")
    second = await store.create_system_prompt("Poet", "You rhyme.")
    assert await store.list_system_prompts() == [first, second]

    renamed = await store.update_system_prompt(first.id, name="Engineer")
    assert (renamed.name, renamed.content) == ("Engineer", "You write code.")
    assert renamed.updated_at >= first.updated_at
    edited = await store.update_system_prompt(first.id, content="You write tests.")
    assert (edited.name, edited.content) == ("Engineer", "You write tests.")
    assert await store.update_system_prompt(first.id) == edited
    assert await store.update_system_prompt("missing", name="x") is None

    assert await store.delete_system_prompt(first.id) is True
    assert await store.delete_system_prompt(first.id) is False
    assert await store.list_system_prompts() == [second]


async def test_settings_defaults_and_round_trip(store: Store, db_path: Path) -> None:
    assert await store.get_settings() == Settings()
    settings = Settings(
        provider_routes={"openai": "sidecar", "legacy": "frontend"},
        default_model_id="gpt",
        title_model_id=None,
        last_model_id="claude",
        default_system_prompt="Be nice.",
        preferences={"theme": "dark", "fontSize": 14, "nested": {"a": [1, None, True]}},
    )
    await store.save_settings(settings)
    assert await store.get_settings() == settings
    with raw(db_path) as conn:
        rows = dict(conn.execute("SELECT key, value FROM settings"))
    assert set(rows) == set(Settings.model_fields)
    assert rows["default_model_id"] == '"gpt"'

    changed = settings.model_copy(update={"default_model_id": None, "provider_routes": {}})
    await store.save_settings(changed)
    assert await store.get_settings() == changed
