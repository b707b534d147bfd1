"""Search (`conversations.list` with `query`): the FTS5 index over message text and
titles, kept in step by triggers, plus the literal substring match for what words
cannot express. The store against a real file, then end to end through a sidecar."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from sidecar.dev.fakes import Script
from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import Message
from sidecar.store import Repositories
from sidecar.store.migrations import MIGRATIONS, migrate
from tests.chat_env import chat_env
from tests.seed import add_message, open_repos, update_message


@pytest.fixture
async def repos(tmp_path: Path):
    repos = await open_repos(tmp_path / "chat.db")
    yield repos
    await repos.database.close()


async def add(
    repos: Repositories,
    conversation_id: str,
    content: str,
    parent: str | None = None,
    status: str = "complete",
) -> str:
    now = now_iso()
    message = Message(
        id=new_id(),
        conversation_id=conversation_id,
        parent_id=parent,
        role="user",
        content=content,
        status=status,
        created_at=now,
        updated_at=now,
    )
    await add_message(repos.database, message)
    return message.id


async def found(repos: Repositories, query: str) -> set[str]:
    items, cursor = await repos.conversations.page(limit=500, query=query)
    assert cursor is None
    return {c.id for c in items}


async def index_is_in_step(repos: Repositories) -> None:
    """FTS5's own check of the index against the text it was built from."""
    async with repos.database.locked() as db:
        await db.execute("INSERT INTO search (search, rank) VALUES ('integrity-check', 1)")
        async with db.execute("SELECT count(*) FROM search_docs") as cur:
            docs = (await cur.fetchone())[0]
        async with db.execute(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM conversations)"
        ) as cur:
            rows = (await cur.fetchone())[0]
    assert docs == rows


async def old_database(
    db: aiosqlite.Connection, version: int, title: str, message: tuple[str, str, str]
) -> None:
    """A database at schema `version` holding conversation c1 (`title`) and its message m1
    (role, content, status), written as that version's code wrote it."""
    assert await migrate(db, MIGRATIONS[:version]) == version
    now = now_iso()
    await db.execute(
        "INSERT INTO conversations (id, title, settings, created_at, updated_at) "
        "VALUES ('c1', ?, '{}', ?, ?)",
        (title, now, now),
    )
    await db.execute(
        "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
        "updated_at) VALUES ('m1', 'c1', ?, ?, ?, ?, ?)",
        (*message, now, now),
    )


async def test_words_in_any_order_prefix_case_and_diacritics(repos: Repositories) -> None:
    trip = await repos.conversations.create(title="Trip planning")
    await add(repos, trip.id, "We could visit Lisbon and then Évora in the spring.")
    food = await repos.conversations.create(title=None)
    await add(repos, food.id, "Try the PASTÉIS de nata at Belém!")
    other = await repos.conversations.create(title="Groceries")
    await add(repos, other.id, "milk, eggs, bread")

    assert await found(repos, "lisbon") == {trip.id}
    assert await found(repos, "spring lisbon") == {trip.id}  # any order
    assert await found(repos, "Évora LISBON") == {trip.id}
    assert await found(repos, "evora") == {trip.id}  # diacritics ignored
    assert await found(repos, "EVORA") == {trip.id}
    assert await found(repos, "lisb ev") == {trip.id}  # prefixes
    assert await found(repos, "planning spring") == {trip.id}  # title and message together
    assert await found(repos, "pasteis belem") == {food.id}
    assert await found(repos, "pastéis") == {food.id}
    assert await found(repos, "nata lisbon") == set()  # every word must be there
    assert await found(repos, "isbon") == {trip.id}  # inside a word: the substring match
    assert await found(repos, "  milk,   BREAD!  ") == {other.id}  # punctuation between words
    await index_is_in_step(repos)


async def test_punctuation_falls_back_to_the_literal_text(repos: Repositories) -> None:
    sale = await repos.conversations.create(title="Discount 50% off")
    snake = await repos.conversations.create(title="snake_case names")
    path = await repos.conversations.create(title=None)
    await add(repos, path.id, r"Open C:\temp\notes.txt please")
    quote = await repos.conversations.create(title='He said "nope" AND left')
    fifty = await repos.conversations.create(title="50 ways")

    assert await found(repos, "50%") == {sale.id, fifty.id}  # the word 50, and "50%" literally
    assert await found(repos, "%") == {sale.id}
    assert await found(repos, "0% o") == {sale.id}
    assert await found(repos, "_") == {snake.id}
    assert await found(repos, "e_c") == {snake.id}
    assert await found(repos, "\\temp\\") == {path.id}
    assert await found(repos, '"nope"') == {quote.id}
    # FTS syntax in a query is just text: never an error, never an operator.
    for query in ('"', "AND", "OR NOT", "NEAR(a b)", "*", "a*b", "-x", "col:x", "^x", "(", "{a}"):
        await found(repos, query)
    assert await found(repos, "and") == {quote.id}
    assert await found(repos, "snake OR ways") == set()


async def test_index_follows_updates_and_deletes(repos: Repositories) -> None:
    conversation = await repos.conversations.create(title="Alpha")
    first = await add(repos, conversation.id, "bravo")
    second = await add(repos, conversation.id, "charlie", parent=first, status="streaming")
    assert await found(repos, "bravo") == await found(repos, "alpha") == {conversation.id}

    await repos.conversations.update(conversation.id, title="Delta")
    assert await found(repos, "alpha") == set() and await found(repos, "delta") == {conversation.id}
    await repos.conversations.update(conversation.id, title=None)
    assert await found(repos, "delta") == set()

    # A streaming reply's text is written again and again; its words are indexed once,
    # when it ends (its text so far is found by the literal match only: "golf foxtrot"
    # is not in it as written), and the index agrees with its content table throughout.
    await repos.messages.flush_streams([("echo fox", None, "streaming", now_iso(), second)])
    await repos.messages.flush_streams(
        [("echo foxtrot golf", None, "streaming", now_iso(), second)]
    )
    assert await found(repos, "charlie") == set()
    assert await found(repos, "golf foxtrot") == set()
    assert await found(repos, "foxtrot golf") == {conversation.id}  # the literal match
    await index_is_in_step(repos)
    await update_message(repos.database, second, status="complete")  # it ended: indexed
    assert await found(repos, "golf foxtrot") == {conversation.id}
    assert await found(repos, "echo fox") == {conversation.id}
    await index_is_in_step(repos)

    # Deleted messages leave the index (a deleted conversation takes its messages along).
    async with repos.database.locked() as db:
        await db.execute("DELETE FROM messages WHERE id = ?", (second,))
    assert await found(repos, "foxtrot") == set() and await found(repos, "bravo") == {
        conversation.id
    }
    keep = await repos.conversations.create(title="Keep bravo")
    assert await repos.conversations.delete(conversation.id)
    assert await found(repos, "bravo") == {keep.id}
    await index_is_in_step(repos)
    async with repos.database.locked() as db:
        async with db.execute("SELECT count(*) FROM search_docs") as cur:
            assert (await cur.fetchone())[0] == 1  # only the kept title


async def test_a_reply_deleted_or_interrupted_while_streaming_keeps_the_index_in_step(
    tmp_path: Path,
) -> None:
    path = tmp_path / "chat.db"
    repos = await open_repos(path)
    try:
        conversation = await repos.conversations.create(title="Notes")
        first = await add(repos, conversation.id, "question")
        gone = await add(repos, conversation.id, "", parent=first, status="streaming")
        cut = await add(repos, conversation.id, "", parent=first, status="pending")
        rows = [
            ("half a sentence about kiwis", None, "streaming", now_iso(), gone),
            ("the start of mango facts", None, "streaming", now_iso(), cut),
        ]
        await repos.messages.flush_streams(rows)
        async with repos.database.locked() as db:
            await db.execute("DELETE FROM messages WHERE id = ?", (gone,))
        await index_is_in_step(repos)
    finally:
        await repos.database.close()
    repos = await open_repos(path)  # the next start: the cut reply ends `interrupted`
    try:
        assert await found(repos, "facts mango") == {conversation.id}
        assert await found(repos, "kiwis") == set()
        await index_is_in_step(repos)
    finally:
        await repos.database.close()


async def test_migration_9_puts_replies_streaming_at_the_upgrade_in_step(tmp_path: Path) -> None:
    """Under version 8 a streaming reply was indexed with its text so far; version 9
    indexes it when it ends, and the upgrade leaves no entry the new triggers would not
    remove exactly."""
    path = tmp_path / "v8.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        await old_database(db, 8, "Fruit", ("assistant", "papaya so far", "streaming"))
        assert await migrate(db) == len(MIGRATIONS)
        await db.execute("INSERT INTO search (search, rank) VALUES ('integrity-check', 1)")
    repos = await open_repos(path)  # the start's sweep ends it `interrupted`: indexed
    try:
        assert await found(repos, "far papaya") == {"c1"}
        await index_is_in_step(repos)
    finally:
        await repos.database.close()


async def test_paging_through_search_results(repos: Repositories) -> None:
    made = []
    for i in range(7):
        c = await repos.conversations.create(title=f"Report {i}")
        await add(repos, c.id, f"quarterly numbers {i}")
        made.append(c.id)
    await repos.conversations.create(title="Unrelated")
    seen, cursor = [], None
    while True:
        page, cursor = await repos.conversations.page(limit=3, cursor=cursor, query="quart num")
        seen += [c.id for c in page]
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def test_migration_indexes_what_the_database_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        # a database from before search
        await old_database(db, 1, "Old Évora notes", ("user", "saudade and fado", "complete"))
    repos = await open_repos(path)
    try:
        assert await found(repos, "evora") == {"c1"}
        assert await found(repos, "fado saud") == {"c1"}
        await index_is_in_step(repos)
    finally:
        await repos.database.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_search_over_the_socket(tmp_path):
    async with chat_env(tmp_path) as env:
        c = env.client
        await c.request(
            "conversations.update", {"conversationId": env.conversation_id, "title": "Holidays"}
        )
        env.fake.enqueue(Script(text="Então, visite Évora e coma pastéis."))
        ids = await env.send("Where should I go near Lisbon?")
        await env.settled(ids["assistantMessageId"])
        other = (await c.request("conversations.create", {"title": "Lisbon 50% deals"}))[
            "conversation"
        ]["id"]

        async def query(text: str) -> set[str]:
            result = await c.request("conversations.list", {"query": text})
            return {item["id"] for item in result["items"]}

        me = env.conversation_id
        assert await query("lisbon") == {me, other}
        assert await query("PASTEIS evora") == {me}  # the reply's words, any order
        assert await query("holi") == {me}  # the title, by prefix
        assert await query("50%") == {other}
        assert await query("lisbon deals") == {other}
        await c.request("conversations.update", {"conversationId": other, "title": "Porto"})
        assert await query("deals") == set() and await query("porto") == {other}
        await c.request("conversations.delete", {"conversationId": me})
        assert await query("pasteis") == set()
