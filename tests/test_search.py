"""Search (`conversations.list` with `query`): the FTS5 index over message text and
titles, kept in step by triggers, plus the literal substring match for what words
cannot express. The store against a real file, then end to end through a sidecar."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import aiosqlite
import pytest

from sidecar.fakes import Script
from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import Message
from sidecar.store import Store
from sidecar.store.migrations import MIGRATIONS, migrate
from tests.chat_env import chat_env


@pytest.fixture
async def store(tmp_path: Path):
    store = await Store.open(tmp_path / "chat.db")
    yield store
    await store.close()


async def add(
    store: Store,
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
    await store.add_message(message)
    return message.id


async def found(store: Store, query: str) -> set[str]:
    items, cursor = await store.list_conversations(limit=500, query=query)
    assert cursor is None
    return {c.id for c in items}


async def index_is_in_step(store: Store) -> None:
    """FTS5's own check of the index against the text it was built from."""
    async with store._locked() as db:
        await db.execute("INSERT INTO search (search, rank) VALUES ('integrity-check', 1)")
        async with db.execute("SELECT count(*) FROM search_docs") as cur:
            docs = (await cur.fetchone())[0]
        async with db.execute(
            "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM conversations)"
        ) as cur:
            rows = (await cur.fetchone())[0]
    assert docs == rows


async def test_words_in_any_order_prefix_case_and_diacritics(store: Store) -> None:
    trip = await store.create_conversation(title="Trip planning")
    await add(store, trip.id, "We could visit Lisbon and then Évora in the spring.")
    food = await store.create_conversation(title=None)
    await add(store, food.id, "Try the PASTÉIS de nata at Belém!")
    other = await store.create_conversation(title="Groceries")
    await add(store, other.id, "milk, eggs, bread")

    assert await found(store, "lisbon") == {trip.id}
    assert await found(store, "spring lisbon") == {trip.id}  # any order
    assert await found(store, "Évora LISBON") == {trip.id}
    assert await found(store, "evora") == {trip.id}  # diacritics ignored
    assert await found(store, "EVORA") == {trip.id}
    assert await found(store, "lisb ev") == {trip.id}  # prefixes
    assert await found(store, "planning spring") == {trip.id}  # title and message together
    assert await found(store, "pasteis belem") == {food.id}
    assert await found(store, "pastéis") == {food.id}
    assert await found(store, "nata lisbon") == set()  # every word must be there
    assert await found(store, "isbon") == {trip.id}  # inside a word: the substring match
    assert await found(store, "  milk,   BREAD!  ") == {other.id}  # punctuation between words
    await index_is_in_step(store)


async def test_punctuation_falls_back_to_the_literal_text(store: Store) -> None:
    sale = await store.create_conversation(title="Discount 50% off")
    snake = await store.create_conversation(title="snake_case names")
    path = await store.create_conversation(title=None)
    await add(store, path.id, r"Open C:\temp\notes.txt please")
    quote = await store.create_conversation(title='He said "nope" AND left')
    fifty = await store.create_conversation(title="50 ways")

    assert await found(store, "50%") == {sale.id, fifty.id}  # the word 50, and "50%" literally
    assert await found(store, "%") == {sale.id}
    assert await found(store, "0% o") == {sale.id}
    assert await found(store, "_") == {snake.id}
    assert await found(store, "e_c") == {snake.id}
    assert await found(store, "\\temp\\") == {path.id}
    assert await found(store, '"nope"') == {quote.id}
    # FTS syntax in a query is just text: never an error, never an operator.
    for query in ('"', "AND", "OR NOT", "NEAR(a b)", "*", "a*b", "-x", "col:x", "^x", "(", "{a}"):
        await found(store, query)
    assert await found(store, "and") == {quote.id}
    assert await found(store, "snake OR ways") == set()


async def test_index_follows_updates_and_deletes(store: Store) -> None:
    conversation = await store.create_conversation(title="Alpha")
    first = await add(store, conversation.id, "bravo")
    second = await add(store, conversation.id, "charlie", parent=first, status="streaming")
    assert await found(store, "bravo") == await found(store, "alpha") == {conversation.id}

    await store.update_conversation(conversation.id, title="Delta")
    assert await found(store, "alpha") == set() and await found(store, "delta") == {conversation.id}
    await store.update_conversation(conversation.id, title=None)
    assert await found(store, "delta") == set()

    # A streaming reply's text is written again and again: only the last counts.
    await store.flush_streams([("echo fox", None, "streaming", now_iso(), second)])
    await store.flush_streams([("echo foxtrot golf", None, "streaming", now_iso(), second)])
    assert await found(store, "charlie") == set()
    assert await found(store, "foxtrot golf") == {conversation.id}
    await store.update_message(second, status="complete")  # no text change: nothing reindexed
    assert await found(store, "foxtrot") == {conversation.id}
    await index_is_in_step(store)

    # Deleted messages leave the index (a deleted conversation takes its messages along).
    async with store._locked() as db:
        await db.execute("DELETE FROM messages WHERE id = ?", (second,))
    assert await found(store, "foxtrot") == set() and await found(store, "bravo") == {
        conversation.id
    }
    keep = await store.create_conversation(title="Keep bravo")
    assert await store.delete_conversation(conversation.id)
    assert await found(store, "bravo") == {keep.id}
    await index_is_in_step(store)
    async with store._locked() as db:
        async with db.execute("SELECT count(*) FROM search_docs") as cur:
            assert (await cur.fetchone())[0] == 1  # only the kept title


async def test_paging_through_search_results(store: Store) -> None:
    made = []
    for i in range(7):
        c = await store.create_conversation(title=f"Report {i}")
        await add(store, c.id, f"quarterly numbers {i}")
        made.append(c.id)
    await store.create_conversation(title="Unrelated")
    seen, cursor = [], None
    while True:
        page, cursor = await store.list_conversations(limit=3, cursor=cursor, query="quart num")
        seen += [c.id for c in page]
        if cursor is None:
            break
    assert seen == list(reversed(made))


async def test_migration_indexes_what_the_database_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, MIGRATIONS[:1]) == 1  # a database from before search
        now = now_iso()
        await db.execute(
            "INSERT INTO conversations (id, title, settings, created_at, updated_at) "
            "VALUES ('c1', 'Old Évora notes', '{}', ?, ?)",
            (now, now),
        )
        await db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, status, created_at, "
            "updated_at) VALUES ('m1', 'c1', 'user', 'saudade and fado', 'complete', ?, ?)",
            (now, now),
        )
    store = await Store.open(path)
    try:
        assert await found(store, "evora") == {"c1"}
        assert await found(store, "fado saud") == {"c1"}
        await index_is_in_step(store)
    finally:
        await store.close()
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
