"""conversations.*, branches.*, systemPrompts.*, settings.* over a real process and a real file.

Messages are seeded straight into the SQLite file through the store (chat.send
arrives with the streaming work); everything else goes through the socket.
"""

from __future__ import annotations

import asyncio

import pytest

from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import ConversationSettings, Message
from tests.harness import Client, RpcFailure, launch
from tests.seed import add_message, open_repos


async def seed(db_path) -> dict[str, str]:
    """A conversation whose tree is:

    u1 ─ a1 ─ u2 ─ a2              (Main: oldest reply everywhere)
       └ a1b ─ u3 ─ a3 (streaming)  (a regenerated reply, then a turn left mid-stream)
    """
    repos = await open_repos(db_path)
    conv = await repos.conversations.create(
        title=None,
        title_source=None,
        model_id="gpt-4o",
        system_prompt="Be brief.",
        settings=ConversationSettings(),
    )
    ids: dict[str, str] = {"conversation": conv.id}

    async def add(
        name: str, parent: str | None, role: str, content: str, status: str = "complete"
    ) -> None:
        ts = now_iso()
        ids[name] = new_id()
        await add_message(
            repos.database,
            Message(
                id=ids[name],
                conversation_id=conv.id,
                parent_id=ids.get(parent) if parent else None,
                role=role,
                content=content,
                status=status,
                created_at=ts,
                updated_at=ts,
            ),
        )

    await add("u1", None, "user", "Plan a trip to Lisbon")
    await add("a1", "u1", "assistant", "Day 1: Alfama.")
    await add("u2", "a1", "user", "And day 2?")
    await add("a2", "u2", "assistant", "Day 2: Belém.")
    await add("a1b", "u1", "assistant", "Start in Baixa.")
    await add("u3", "a1b", "user", "What about food?")
    await add("a3", "u3", "assistant", "Try pastéis de", status="streaming")
    await repos.database.close()
    return ids


@pytest.fixture
async def seeded(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    ids = await seed(data / "sidecar.db")
    sc = launch(data)
    client = await Client.open(sc)
    yield sc, client, ids
    await client.close()
    assert sc.terminate() == 0
    assert sc.token not in sc.stderr()


async def test_get_returns_the_active_path_with_siblings_and_interrupted_stream(seeded):
    sc, client, ids = seeded
    got = await client.request("conversations.get", {"conversationId": ids["conversation"]})
    path = got["messages"]
    assert [m["id"] for m in path] == [ids["u1"], ids["a1b"], ids["u3"], ids["a3"]]
    assert path[1]["siblingIds"] == [ids["a1"], ids["a1b"]]
    assert path[0]["siblingIds"] == [ids["u1"]]
    assert path[3]["status"] == "interrupted" and path[3]["content"] == "Try pastéis de"
    assert got["conversation"]["activeLeafId"] == ids["a3"]
    assert got["seq"] == 0
    assert "marked interrupted" in sc.stderr()


async def test_tree_and_branches(seeded):
    _, client, ids = seeded
    tree = await client.request("conversations.tree", {"conversationId": ids["conversation"]})
    assert [n["id"] for n in tree["messages"]] == [
        ids[k] for k in ("u1", "a1", "u2", "a2", "a1b", "u3", "a3")
    ]
    assert tree["activeLeafId"] == ids["a3"]
    assert tree["messages"][1] | {"createdAt": None} == {
        "id": ids["a1"],
        "parentId": ids["u1"],
        "role": "assistant",
        "status": "complete",
        "preview": "Day 1: Alfama.",
        "createdAt": None,
    }
    branches = (await client.request("branches.list", {"conversationId": ids["conversation"]}))[
        "branches"
    ]
    assert [
        (b["leafId"], b["forkMessageId"], b["name"], b["messageCount"], b["active"])
        for b in branches
    ] == [
        (ids["a2"], ids["u1"], "Main", 4, False),
        (ids["a3"], ids["a1b"], None, 4, True),
    ]


async def test_switch_follows_newest_descendants_and_publishes(seeded):
    _, client, ids = seeded
    cid = ids["conversation"]
    result = await client.request(
        "branches.switch", {"conversationId": cid, "messageId": ids["a1"]}
    )
    assert result == {"activeLeafId": ids["a2"]}
    event = client.events[-1]
    assert (
        event["type"] == "conversation.updated"
        and event["conversation"]["activeLeafId"] == ids["a2"]
    )
    got = await client.request("conversations.get", {"conversationId": cid})
    assert [m["id"] for m in got["messages"]] == [ids["u1"], ids["a1"], ids["u2"], ids["a2"]]
    assert got["seq"] == event["seq"]
    # Switching never hides another branch: the tree still holds everything.
    tree = await client.request("conversations.tree", {"conversationId": cid})
    assert len(tree["messages"]) == 7
    # Switching to the message that is already the active leaf changes nothing.
    before = len(client.events)
    assert (
        await client.request("branches.switch", {"conversationId": cid, "messageId": ids["a2"]})
    )["activeLeafId"] == ids["a2"]
    assert len(client.events) == before
    for bad in (
        {"conversationId": cid, "messageId": "nope"},
        {"conversationId": "nope", "messageId": ids["a1"]},
    ):
        with pytest.raises(RpcFailure) as err:
            await client.request("branches.switch", bad)
        assert err.value.reason == "NOT_FOUND"


async def test_rename_branch(seeded):
    _, client, ids = seeded
    cid = ids["conversation"]
    renamed = await client.request(
        "branches.rename", {"conversationId": cid, "leafId": ids["a3"], "name": "Food"}
    )
    assert renamed["branch"]["name"] == "Food" and renamed["branch"]["leafId"] == ids["a3"]
    event = client.events[-1]
    assert event["type"] == "branch.updated" and event["branch"]["name"] == "Food"
    names = {
        b["leafId"]: b["name"]
        for b in (await client.request("branches.list", {"conversationId": cid}))["branches"]
    }
    assert names == {ids["a2"]: "Main", ids["a3"]: "Food"}
    with pytest.raises(RpcFailure) as err:  # not a leaf
        await client.request(
            "branches.rename", {"conversationId": cid, "leafId": ids["u1"], "name": "x"}
        )
    assert err.value.reason == "NOT_FOUND"


async def test_update_title_model_prompt_and_settings(seeded):
    _, client, ids = seeded
    cid = ids["conversation"]
    conv = (
        await client.request("conversations.update", {"conversationId": cid, "title": "Lisbon"})
    )["conversation"]
    assert conv["title"] == "Lisbon" and conv["titleSource"] == "user"
    conv = (
        await client.request(
            "conversations.update", {"conversationId": cid, "settings": {"temperature": 0.2}}
        )
    )["conversation"]
    conv = (
        await client.request(
            "conversations.update", {"conversationId": cid, "settings": {"maxOutputTokens": 512}}
        )
    )["conversation"]
    assert conv["settings"]["temperature"] == 0.2 and conv["settings"]["maxOutputTokens"] == 512
    assert conv["modelId"] == "gpt-4o" and conv["systemPrompt"] == "Be brief."
    conv = (
        await client.request(
            "conversations.update", {"conversationId": cid, "title": None, "modelId": "claude"}
        )
    )["conversation"]
    assert conv["title"] is None and conv["titleSource"] is None and conv["modelId"] == "claude"
    assert [e["type"] for e in client.events] == ["conversation.updated"] * 4
    with pytest.raises(RpcFailure) as err:
        await client.request(
            "conversations.update", {"conversationId": cid, "settings": {"temperature": 9}}
        )
    assert err.value.code == -32602 and err.value.data["errors"][0]["loc"] == [
        "settings",
        "temperature",
    ]


async def test_delete(seeded):
    _, client, ids = seeded
    cid = ids["conversation"]
    assert await client.request("conversations.delete", {"conversationId": cid}) == {}
    assert client.events[-1] == client.events[-1] | {
        "type": "conversation.deleted",
        "conversationId": cid,
    }
    for method in (
        "conversations.get",
        "conversations.delete",
        "conversations.tree",
        "branches.list",
    ):
        with pytest.raises(RpcFailure) as err:
            await client.request(method, {"conversationId": cid})
        assert err.value.code == -32001 and err.value.data == {
            "reason": "NOT_FOUND",
            "kind": "conversation",
            "id": cid,
        }


async def test_list_pages_and_searches(sidecar):
    client = await Client.open(sidecar)
    made = [
        await client.request("conversations.create", {"title": f"Chat {i:02d}"}) for i in range(23)
    ]
    await client.request("conversations.create", {"title": "Discount 50% off"})
    await client.request("conversations.create", {"title": "under_score"})
    seen, cursor = [], None
    while True:
        page = await client.request(
            "conversations.list", {"limit": 10, **({"cursor": cursor} if cursor else {})}
        )
        seen += [c["title"] for c in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == 25 and len(set(seen)) == 25
    assert seen[:3] == ["under_score", "Discount 50% off", "Chat 22"]
    # Updating a conversation moves it to the top.
    await client.request(
        "conversations.update",
        {"conversationId": made[0]["conversation"]["id"], "title": "Chat 00 renamed"},
    )
    top = await client.request("conversations.list", {"limit": 1})
    assert top["items"][0]["title"] == "Chat 00 renamed" and top["seq"] == 26
    found = await client.request("conversations.list", {"query": "50%"})
    assert [c["title"] for c in found["items"]] == ["Discount 50% off"]
    found = await client.request("conversations.list", {"query": "_"})
    assert [c["title"] for c in found["items"]] == ["under_score"]
    found = await client.request("conversations.list", {"query": "chat 1"})
    assert len(found["items"]) == 10
    with pytest.raises(RpcFailure) as err:
        await client.request("conversations.list", {"cursor": "garbage!"})
    assert err.value.code == -32602 and err.value.data["errors"][0]["loc"] == ["cursor"]
    await client.close()


async def test_search_finds_message_text(seeded):
    _, client, ids = seeded
    found = await client.request("conversations.list", {"query": "PASTÉIS"})
    assert [c["id"] for c in found["items"]] == [ids["conversation"]]
    found = await client.request("conversations.list", {"query": "belém"})
    assert [c["id"] for c in found["items"]] == [ids["conversation"]]
    found = await client.request("conversations.list", {"query": "alfama"})
    assert [c["id"] for c in found["items"]] == [ids["conversation"]]


async def test_system_prompts(sidecar):
    client = await Client.open(sidecar)
    assert (await client.request("systemPrompts.list"))["systemPrompts"] == []
    p = (
        await client.request(
            "systemPrompts.create", {"name": "Editor", "content": "Fix my grammar."}
        )
    )["systemPrompt"]
    assert client.events[-1]["type"] == "systemPrompts.updated" and client.events[-1][
        "systemPrompts"
    ] == [p]
    p2 = (
        await client.request(
            "systemPrompts.update", {"id": p["id"], "content": "Fix grammar only."}
        )
    )["systemPrompt"]
    assert p2["name"] == "Editor" and p2["content"] == "Fix grammar only."
    assert (await client.request("systemPrompts.list"))["systemPrompts"] == [p2]
    assert await client.request("systemPrompts.delete", {"id": p["id"]}) == {}
    assert client.events[-1]["systemPrompts"] == []
    for method, params in (
        ("systemPrompts.update", {"id": p["id"], "name": "x"}),
        ("systemPrompts.delete", {"id": p["id"]}),
    ):
        with pytest.raises(RpcFailure) as err:
            await client.request(method, params)
        assert err.value.reason == "NOT_FOUND"
    with pytest.raises(RpcFailure) as err:
        await client.request("systemPrompts.create", {"name": "", "content": "x"})
    assert err.value.code == -32602
    await client.close()


async def test_settings_merge_persist_and_survive_restart(tmp_path):
    sc = launch(tmp_path)
    client = await Client.open(sc)
    s = (
        await client.request(
            "settings.update",
            {
                "providerRoutes": {"openai": "sidecar", "anthropic": "frontend"},
                "preferences": {"theme": "dark", "fontSize": 14},
            },
        )
    )["settings"]
    assert s["providerRoutes"] == {"openai": "sidecar", "anthropic": "frontend"}
    s = (
        await client.request(
            "settings.update",
            {
                "providerRoutes": {"anthropic": None, "deepseek": "sidecar"},
                "preferences": {"theme": None},
                "lastModelId": "gpt-4o",
            },
        )
    )["settings"]
    assert s["providerRoutes"] == {"openai": "sidecar", "deepseek": "sidecar"}
    assert s["preferences"] == {"fontSize": 14} and s["lastModelId"] == "gpt-4o"
    assert client.events[-1] == client.events[-1] | {"type": "settings.updated", "settings": s}
    with pytest.raises(RpcFailure) as err:
        await client.request("settings.update", {"providerRoutes": {"openai": "elsewhere"}})
    assert err.value.code == -32602
    await client.close()
    assert sc.terminate() == 0
    sc = launch(tmp_path)
    client = await Client.open(sc)
    assert (await client.request("settings.get"))["settings"] == s
    await client.close()
    sc.terminate()


async def test_concurrent_writers_keep_snapshots_consistent(sidecar):
    """Snapshots taken while others write always carry the seq of the last event they reflect."""
    writer = await Client.open(sidecar, subscribe=False)
    reader = await Client.open(sidecar)

    async def write() -> None:
        for i in range(30):
            await writer.request("conversations.create", {"title": f"w{i}"})

    async def read() -> list[tuple[int, int]]:
        out = []
        for _ in range(30):
            page = await reader.request("conversations.list", {"limit": 500})
            out.append((page["seq"], len(page["items"])))
        return out

    _, snapshots = await asyncio.gather(write(), read())
    for seq, count in snapshots:
        assert seq == count, "a snapshot's seq must equal the number of creations it reflects"
    await writer.close()
    await reader.close()
