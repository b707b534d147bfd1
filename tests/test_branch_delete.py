"""branches.path and branches.delete end to end: any branch read without switching to it,
and a branch deleted with exactly the messages only it has, whatever runs in it."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import chat_env
from tests.harness import RpcFailure


async def two_branches(env) -> dict[str, str]:
    """A, a1, B, then b1 and its regenerated sibling b2 (active): ids by name."""
    first = await env.send("A")
    await env.settled(first["assistantMessageId"])
    second = await env.send("B")
    await env.settled(second["assistantMessageId"])
    regen = await env.client.request("chat.regenerate", {"messageId": second["assistantMessageId"]})
    await env.settled(regen["assistantMessageId"])
    return {
        "A": first["userMessageId"],
        "a1": first["assistantMessageId"],
        "B": second["userMessageId"],
        "b1": second["assistantMessageId"],
        "b2": regen["assistantMessageId"],
    }


async def request(env, method: str, **params: Any) -> dict[str, Any]:
    return await env.client.request(method, {"conversationId": env.conversation_id, **params})


async def active_ids(env) -> list[str]:
    return [m["id"] for m in (await request(env, "conversations.get"))["messages"]]


async def test_path_reads_any_branch_and_changes_no_view(tmp_path):
    async with chat_env(tmp_path) as env:
        ids = await two_branches(env)
        seen = len(env.client.events)
        other = await request(env, "branches.path", leafId=ids["b1"])
        assert [m["id"] for m in other["messages"]] == [ids["A"], ids["a1"], ids["B"], ids["b1"]]
        assert other["messages"][-1]["siblingIds"] == [ids["b1"], ids["b2"]]
        assert other["seq"] == env.client.events[-1]["seq"]
        up_to = await request(env, "branches.path", leafId=ids["a1"])
        assert [m["id"] for m in up_to["messages"]] == [ids["A"], ids["a1"]], "any message"
        assert await active_ids(env) == [ids["A"], ids["a1"], ids["B"], ids["b2"]]
        assert env.client.events[seen:] == [], "a read: no event, nobody's view changes"
        for params in ({"leafId": "nope"}, {"conversationId": "nope", "leafId": ids["b1"]}):
            with pytest.raises(RpcFailure) as err:
                await request(env, "branches.path", **params)
            assert err.value.reason == "NOT_FOUND"


async def test_deleting_the_active_branch_removes_only_its_own_messages(tmp_path):
    async with chat_env(tmp_path) as env:
        ids = await two_branches(env)
        seen = len(env.client.events)
        result = await request(env, "branches.delete", leafId=ids["b2"])
        assert result == {"deletedMessageIds": [ids["b2"]], "activeLeafId": ids["b1"]}
        events = env.client.events[seen:]
        assert [e["type"] for e in events] == [
            "message.deleted",
            "branch.deleted",
            "conversation.updated",
        ]
        assert events[0]["messageId"] == ids["b2"] and events[1]["leafId"] == ids["b2"]
        assert events[2]["conversation"]["activeLeafId"] == ids["b1"]
        assert await active_ids(env) == [ids["A"], ids["a1"], ids["B"], ids["b1"]]
        listed = (await request(env, "branches.list"))["branches"]
        assert [b["leafId"] for b in listed] == [ids["b1"]]

        env.fake.enqueue(Script(text="Next."))
        more = await env.send("C")
        await env.settled(more["assistantMessageId"])
        sent = [m["content"] for m in env.fake.requests[-1].body["messages"]]
        assert sent[-3:] == ["B", "You said: B", "C"], "the next turn follows b1"


async def test_deleting_an_edited_root_branch_and_the_only_branch(tmp_path):
    async with chat_env(tmp_path) as env:
        ids = await two_branches(env)
        edited = await env.client.request("chat.edit", {"messageId": ids["A"], "content": "A2"})
        await env.settled(edited["assistantMessageId"])
        result = await request(env, "branches.delete", leafId=edited["assistantMessageId"])
        assert result["deletedMessageIds"] == [
            edited["assistantMessageId"],
            edited["userMessageId"],
        ], "up to the root: no other branch has them"
        assert result["activeLeafId"] == ids["b2"], "the newest leaf of the other root"
        tree = (await request(env, "conversations.tree"))["messages"]
        assert {n["id"] for n in tree} == set(ids.values())

        await request(env, "branches.delete", leafId=ids["b1"])
        before = await request(env, "conversations.tree")
        with pytest.raises(RpcFailure) as err:
            await request(env, "branches.delete", leafId=ids["b2"])
        assert err.value.reason == "CONFLICT" and "only branch" in err.value.error["message"]
        with pytest.raises(RpcFailure) as err:
            await request(env, "branches.delete", leafId=ids["B"])
        assert err.value.reason == "NOT_FOUND", "B ends no branch"
        after = await request(env, "conversations.tree")
        assert after["messages"] == before["messages"], "refused: nothing changed"


async def test_a_reply_streaming_in_the_branch_is_cancelled_then_deleted(tmp_path):
    async with chat_env(tmp_path) as env:
        ids = await two_branches(env)
        env.fake.enqueue(Script(text="word " * 400, chunk_size=5, rate=50))
        running = await env.client.request("chat.regenerate", {"messageId": ids["b2"]})
        reply = running["assistantMessageId"]
        await env.client.wait_for(
            lambda e: e["type"] == "assistant.stream.delta" and e["messageId"] == reply
        )
        result = await request(env, "branches.delete", leafId=reply)
        assert result["deletedMessageIds"] == [reply]
        assert result["activeLeafId"] == ids["b2"]
        kinds = [e["type"] for e in env.events_of(reply)]
        assert kinds.count("assistant.stream.cancelled") == 1, "exactly one terminal event"
        assert kinds.index("assistant.stream.cancelled") < kinds.index("message.deleted")
        assert reply not in {
            n["id"] for n in (await request(env, "conversations.tree"))["messages"]
        }
        usage = await env.client.request(
            "usage.summary", {"conversationId": env.conversation_id, "groupBy": "conversation"}
        )
        assert usage["totals"]["calls"] >= 3, "money spent stays counted"


async def test_deleting_a_named_branch_inside_the_tree_drops_only_its_name(tmp_path):
    """The old app's branches end inside the tree (its importer keeps their names there):
    deleting one leaves every message, which other branches go on from."""
    async with chat_env(tmp_path) as env:
        ids = await two_branches(env)
        with sqlite3.connect(env.sidecar.data_dir / "sidecar.db") as db:  # as an import does
            db.execute(
                "INSERT INTO branch_names (conversation_id, leaf_id, name) VALUES (?, ?, ?)",
                (env.conversation_id, ids["a1"], "Before B"),
            )
        listed = (await request(env, "branches.list"))["branches"]
        (inner,) = [b for b in listed if not b["endsAtLeaf"]]
        assert inner["leafId"] == ids["a1"] and inner["name"] == "Before B"
        before = await request(env, "conversations.tree")
        seen = len(env.client.events)
        result = await request(env, "branches.delete", leafId=ids["a1"])
        assert result == {"deletedMessageIds": [], "activeLeafId": ids["b2"]}
        assert [e["type"] for e in env.client.events[seen:]] == ["branch.deleted"]
        assert (await request(env, "conversations.tree"))["messages"] == before["messages"]
        listed = (await request(env, "branches.list"))["branches"]
        assert [b["leafId"] for b in listed] == [ids["b1"], ids["b2"]]
