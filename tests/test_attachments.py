"""`attachments.get`: a stored attachment's bytes, from any message of any conversation
or branch, end to end through a real sidecar and the fake provider (every response is
checked against schema/ by the harness); then the store's index under it, kept in step
by triggers and backfilled by its migration."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import Attachment, Message
from sidecar.rpc.api import METHODS
from sidecar.store.migrations import MIGRATIONS, migrate
from sidecar.store.rows import to_json
from tests.chat_env import ChatEnv, chat_env
from tests.harness import RpcFailure
from tests.seed import add_message, open_repos

IMAGE = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # every byte value
NOTES = "Olá, café ☕\nsecond line\n"
JSON = b'{"city": "Lisboa", "days": [1, 2]}'


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


async def use_vision(env: ChatEnv) -> None:
    await env.client.request(
        "models.upsert",
        {
            "model": {
                "id": env.model_id,
                "provider": env.provider_id,
                "providerModel": "upstream-openai",
                "capabilities": {"vision": True},
            }
        },
    )


async def send_with_files(env: ChatEnv, content: str = "Look at these") -> list[dict[str, Any]]:
    """One chat.send with an image, a text and a JSON file; their stored attachments."""
    ids = await env.send(
        content,
        attachments=[
            {"name": "cat.png", "mimeType": "image/png", "data": b64(IMAGE)},
            {"name": "notes.txt", "mimeType": "text/plain", "text": NOTES},
            {"name": "trip.json", "mimeType": "application/json", "data": b64(JSON)},
        ],
    )
    await env.settled(ids["assistantMessageId"])
    return (await env.stored(ids["userMessageId"]))["attachments"]


async def get(env: ChatEnv, attachment_id: str) -> dict[str, Any]:
    return await env.client.request("attachments.get", {"attachmentId": attachment_id})


async def not_found(env: ChatEnv, attachment_id: str) -> dict[str, Any]:
    with pytest.raises(RpcFailure) as err:
        await get(env, attachment_id)
    assert err.value.code == -32001 and err.value.reason == "NOT_FOUND"
    return err.value.error


def test_declared_as_a_read():
    method = METHODS["attachments.get"]
    assert method.safe_to_resend and not method.deduplicated
    assert [r.value for r in method.errors] == ["NOT_FOUND"]


async def test_attachments_get_returns_each_files_bytes(tmp_path):
    async with chat_env(tmp_path) as env:
        await use_vision(env)
        image, notes, trip = await send_with_files(env)

        got = await get(env, image["id"])
        assert got == {
            "attachmentId": image["id"],
            "name": "cat.png",
            "mimeType": "image/png",
            "size": len(IMAGE),
            "data": b64(IMAGE),
        }
        assert base64.b64decode(got["data"]) == IMAGE

        got = await get(env, notes["id"])
        assert (got["name"], got["mimeType"]) == ("notes.txt", "text/plain")
        assert base64.b64decode(got["data"]) == NOTES.encode("utf-8")
        assert got["size"] == len(NOTES.encode("utf-8")) == notes["size"]

        got = await get(env, trip["id"])  # sent as base64 data, stored inline as text
        assert (got["name"], got["mimeType"]) == ("trip.json", "application/json")
        assert base64.b64decode(got["data"]) == JSON and got["size"] == len(JSON)


async def test_unknown_id_is_not_found(tmp_path):
    async with chat_env(tmp_path) as env:
        error = await not_found(env, "nope")
        assert error["message"] == "attachment not found"
        assert error["data"] == {"reason": "NOT_FOUND", "kind": "attachment", "id": "nope"}
        # a message id is not an attachment id
        ids = await env.send("plain")
        await env.settled(ids["assistantMessageId"])
        assert (await not_found(env, ids["userMessageId"]))["data"]["kind"] == "attachment"


async def test_a_file_gone_from_disk_is_not_found_with_its_own_kind(tmp_path):
    async with chat_env(tmp_path) as env:
        await use_vision(env)
        image, notes, _ = await send_with_files(env)
        path = env.sidecar.data_dir / "attachments" / image["id"]
        assert path.read_bytes() == IMAGE
        path.unlink()

        error = await not_found(env, image["id"])
        assert error["message"] == "the attachment's file is missing from disk"
        assert error["data"] == {"reason": "NOT_FOUND", "kind": "attachmentFile", "id": image["id"]}
        # The rest of the message is unharmed: its text attachment, the stored metadata.
        assert base64.b64decode((await get(env, notes["id"]))["data"]) == NOTES.encode()
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["messages"][0]["attachments"][0] == image
    assert "is missing" in env.sidecar.stderr()


async def test_any_branch_and_any_conversation(tmp_path):
    async with chat_env(tmp_path) as env:
        await use_vision(env)
        image, notes, _ = await send_with_files(env)
        user_id = (
            await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        )["messages"][0]["id"]
        # An edit makes a sibling without the files; the original is off the active branch.
        edited = await env.client.request(
            "chat.edit", {"messageId": user_id, "content": "Never mind"}
        )
        await env.settled(edited["assistantMessageId"])
        path = await env.client.request(
            "conversations.get", {"conversationId": env.conversation_id}
        )
        assert [m["id"] for m in path["messages"]][0] == edited["userMessageId"]
        assert all(m["attachments"] == [] for m in path["messages"])
        assert base64.b64decode((await get(env, image["id"]))["data"]) == IMAGE
        assert base64.b64decode((await get(env, notes["id"]))["data"]) == NOTES.encode()

        # Another conversation is current now: the first one's files still come back.
        other = await env.client.request("conversations.create", {"modelId": env.model_id})
        env.conversation_id = other["conversation"]["id"]
        second, _, _ = await send_with_files(env, "More")
        assert second["id"] != image["id"]
        assert base64.b64decode((await get(env, second["id"]))["data"]) == IMAGE
        assert (await get(env, image["id"]))["attachmentId"] == image["id"]


async def test_imported_and_deleted_conversations(tmp_path):
    async with chat_env(tmp_path) as env:
        await use_vision(env)
        image, notes, _ = await send_with_files(env)
        first = env.conversation_id
        exported = await env.client.request(
            "conversations.export", {"conversationId": first, "format": "json"}
        )
        imported = await env.client.request(
            "conversations.import", {"document": exported["document"]}
        )
        copy_id = imported["conversation"]["id"]
        copy = await env.client.request("conversations.get", {"conversationId": copy_id})
        copied_image, copied_notes, _ = copy["messages"][0]["attachments"]
        assert copied_image["id"] != image["id"]
        assert base64.b64decode((await get(env, copied_image["id"]))["data"]) == IMAGE
        assert base64.b64decode((await get(env, copied_notes["id"]))["data"]) == NOTES.encode()

        await env.client.request("conversations.delete", {"conversationId": first})
        for attachment in (image, notes):
            assert (await not_found(env, attachment["id"]))["data"]["kind"] == "attachment"
        assert (await get(env, copied_image["id"]))["name"] == "cat.png"


# -- the store's index -------------------------------------------------------------------


def attachment(name: str = "a.txt", text: str | None = "abc") -> Attachment:
    return Attachment(
        id=new_id(), name=name, mime_type="text/plain", size=len(text or ""), text=text
    )


def user_message(conversation_id: str, attachments: list[Attachment]) -> Message:
    now = now_iso()
    return Message(
        id=new_id(),
        conversation_id=conversation_id,
        parent_id=None,
        role="user",
        content="x",
        status="complete",
        attachments=attachments,
        created_at=now,
        updated_at=now,
    )


def index_rows(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as conn:
        return set(conn.execute("SELECT attachment_id, message_id FROM attachment_index"))


async def test_the_index_follows_inserts_updates_and_deletes(tmp_path):
    path = tmp_path / "chat.db"
    repos = await open_repos(path)
    try:
        conversation = await repos.conversations.create(title="t")
        a, b = attachment("a.txt"), attachment("b.txt", "bee")
        m = user_message(conversation.id, [a, b])
        await add_message(repos.database, m)
        await add_message(repos.database, user_message(conversation.id, []))
        assert index_rows(path) == {(a.id, m.id), (b.id, m.id)}
        assert await repos.messages.attachment(b.id) == (b, conversation.id)
        assert await repos.messages.attachment("nope") is None

        c = attachment("c.txt")
        async with repos.database.locked() as db:
            await db.execute(
                "UPDATE messages SET attachments = ? WHERE id = ?", (to_json([c]), m.id)
            )
        assert index_rows(path) == {(c.id, m.id)}
        assert await repos.messages.attachment(a.id) is None
        assert await repos.messages.attachment(c.id) == (c, conversation.id)

        await repos.conversations.delete(conversation.id)
        assert index_rows(path) == set()
        assert await repos.messages.attachment(c.id) is None
    finally:
        await repos.database.close()


async def test_migration_indexes_the_attachments_already_stored(tmp_path):
    path = tmp_path / "old.db"
    a, b = attachment("old.txt"), attachment("old.png", None)
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, MIGRATIONS[:3]) == 3  # a database from before the index
        now = now_iso()
        await db.execute(
            "INSERT INTO conversations (id, title, settings, created_at, updated_at) "
            "VALUES ('c1', 'Old', '{}', ?, ?)",
            (now, now),
        )
        await db.execute(
            "INSERT INTO messages (id, conversation_id, role, content, status, attachments, "
            "created_at, updated_at) VALUES ('m1', 'c1', 'user', 'hi', 'complete', ?, ?, ?)",
            (to_json([a, b]), now, now),
        )
        await db.execute(
            "INSERT INTO messages (id, conversation_id, parent_id, role, content, status, "
            "created_at, updated_at) VALUES ('m2', 'c1', 'm1', 'assistant', 'yo', 'complete', ?, ?)",
            (now, now),
        )
    repos = await open_repos(path)
    try:
        assert await repos.messages.attachment(a.id) == (a, "c1")
        assert await repos.messages.attachment(b.id) == (b, "c1")
    finally:
        await repos.database.close()
    assert index_rows(path) == {(a.id, "m1"), (b.id, "m1")}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
