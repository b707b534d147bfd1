"""conversations.export and conversations.import end to end: a conversation with
branches, thinking, a tool loop, attachments (an image included), usage, a failed
reply and a named branch is seeded through real chats with the fake provider, then
exported, imported and exported again: nothing may be lost but ids and timestamps.
"""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest

from sidecar.dev.fakes import Script, ToolCallScript, Usage
from sidecar.protocol.objects import Message
from sidecar.protocol.transfer import DocumentMessage
from tests.chat_env import ChatEnv, chat_env
from tests.harness import RpcFailure

IMAGE = bytes(range(256)) * 4


async def chat(env: ChatEnv, content: str, *scripts: Script, **params: Any) -> dict[str, str]:
    env.fake.enqueue(*scripts)
    ids = await env.send(content, **params)
    await env.settled(ids["assistantMessageId"])
    return ids


async def seed(env: ChatEnv) -> dict[str, str]:
    """The tree (active leaf a3, not the newest):

    u1 ─ a1 ─ u3 ─ a3                          "Day two" (named), active
            └ u2 ─ a2 ─ u4 ─ a4 ─ u5 ─ a5      tool loop, image, a failed reply
    """
    c = env.client
    await c.request(
        "conversations.update", {"conversationId": env.conversation_id, "title": "Lisbon trip"}
    )
    await c.request(
        "models.upsert",
        {
            "model": {
                "id": "vision",
                "provider": env.provider_id,
                "providerModel": "upstream-vision",
                "capabilities": {"vision": True},
            }
        },
    )
    ids: dict[str, str] = {}

    def keep(n: int, sent: dict[str, str]) -> None:
        ids[f"u{n}"], ids[f"a{n}"] = sent["userMessageId"], sent["assistantMessageId"]

    keep(
        1,
        await chat(
            env,
            "Plan a trip to Lisbon",
            Script(
                text="Day 1: Alfama.",
                thinking="Plan the days.",
                usage=Usage(input_tokens=120, output_tokens=20, cached_tokens=100),
            ),
            attachments=[{"name": "notes.txt", "mimeType": "text/plain", "text": "pastéis!"}],
        ),
    )
    keep(3, await chat(env, "And day 2?", Script(text="Day 2: Belém.")))
    keep(
        2,
        await chat(
            env,
            "What is 6 times 7?",
            Script(
                text="Let me compute. ",
                thinking="Use the calculator.",
                tool_calls=[
                    ToolCallScript(id="", name="calculate", arguments='{"expression": "6*7"}')
                ],
            ),
            Script(text="It is 42."),
            parentId=ids["a1"],
            tools=["calculate"],
        ),
    )
    image = {"name": "view.png", "mimeType": "image/png", "data": base64.b64encode(IMAGE).decode()}
    keep(
        4,
        await chat(env, "Look", Script(text="A nice view."), attachments=[image], modelId="vision"),
    )
    keep(5, await chat(env, "More", Script(fault="http_401")))
    await c.request(
        "branches.rename",
        {"conversationId": env.conversation_id, "leafId": ids["a3"], "name": "Day two"},
    )
    await c.request(
        "branches.switch", {"conversationId": env.conversation_id, "messageId": ids["a3"]}
    )
    return ids


async def export(env: ChatEnv, conversation_id: str, fmt: str = "json") -> Any:
    result = await env.client.request(
        "conversations.export", {"conversationId": conversation_id, "format": fmt}
    )
    return result["document"]


def normalized(document: dict[str, Any]) -> dict[str, Any]:
    """The document with ids replaced by their rank (an import hands out new ids in the
    order of the old ones) and without what an import may change: the conversation's
    id and updatedAt, and the export time."""
    doc = copy.deepcopy(document)
    rank = {old: f"m{i}" for i, old in enumerate(sorted(m["id"] for m in doc["messages"]))}
    attachments = sorted(a["id"] for m in doc["messages"] for a in m["attachments"])
    arank = {old: f"f{i}" for i, old in enumerate(attachments)}
    del doc["exportedAt"], doc["conversation"]["id"], doc["conversation"]["updatedAt"]
    doc["conversation"]["activeLeafId"] = rank[doc["conversation"]["activeLeafId"]]
    for m in doc["messages"]:
        m["id"] = rank[m["id"]]
        m["parentId"] = rank.get(m["parentId"])
        for a in m["attachments"]:
            a["id"] = arank[a["id"]]
    doc["branchNames"] = {rank[k]: v for k, v in doc["branchNames"].items()}
    return doc


async def test_json_round_trip_loses_nothing(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        ids = await seed(env)
        c = env.client
        doc = await export(env, env.conversation_id)
        assert doc["format"] == "chat-sidecar.conversation" and doc["version"] == 1
        by_id = {m["id"]: m for m in doc["messages"]}
        assert list(by_id) == sorted(by_id) and len(by_id) == 10  # every branch, oldest first
        assert doc["conversation"]["activeLeafId"] == ids["a3"]
        assert doc["conversation"]["title"] == "Lisbon trip"
        assert doc["branchNames"] == {ids["a3"]: "Day two"}
        assert by_id[ids["u2"]]["parentId"] == by_id[ids["u3"]]["parentId"] == ids["a1"]
        a1 = by_id[ids["a1"]]
        assert a1["thinking"] == "Plan the days." and a1["usage"]["cacheReadTokens"] == 100
        assert by_id[ids["u1"]]["attachments"][0] | {"id": None} == {
            "id": None,
            "name": "notes.txt",
            "mimeType": "text/plain",
            "size": len("pastéis!".encode()),
            "text": "pastéis!",
            "transcript": None,
            "data": None,
        }
        a2 = by_id[ids["a2"]]
        assert a2["content"] == "Let me compute. It is 42." and len(a2["steps"]) == 1
        [call] = a2["toolCalls"]
        assert call["name"] == "calculate" and call["result"] == {
            "expression": "6*7",
            "result": 42,
        }
        [picture] = by_id[ids["u4"]]["attachments"]
        assert base64.b64decode(picture["data"]) == IMAGE and picture["size"] == len(IMAGE)
        a5 = by_id[ids["a5"]]
        assert a5["status"] == "failed" and a5["error"]["code"] == "auth"

        seen = len(c.events)
        imported = await c.request("conversations.import", {"document": doc})
        new = imported["conversation"]
        assert new["id"] != env.conversation_id and new["title"] == "Lisbon trip"
        assert new["titleSource"] == "user" and new["activeLeafId"] not in by_id
        events = c.events[seen:]
        assert [e["type"] for e in events] == ["conversation.created"]
        assert events[0]["conversation"] == new and events[0]["seq"] == imported["seq"]

        again = await export(env, new["id"])
        assert not {m["id"] for m in again["messages"]} & set(by_id), "all new message ids"
        assert normalized(again) == normalized(doc)

        # The rebuilt tree behaves like the original: same branches, same active path.
        for method in ("branches.list", "conversations.get"):
            before = await c.request(method, {"conversationId": env.conversation_id})
            after = await c.request(method, {"conversationId": new["id"]})
            if method == "branches.list":
                shape = [(b["name"], b["messageCount"], b["active"]) for b in before["branches"]]
                assert shape == [
                    (b["name"], b["messageCount"], b["active"]) for b in after["branches"]
                ]
                assert ("Day two", 4, True) in shape
            else:
                assert [m["content"] for m in before["messages"]] == [
                    m["content"] for m in after["messages"]
                ]
        # The imported image is readable by the next turn (its file was written).
        tree = await c.request("conversations.tree", {"conversationId": new["id"]})
        leaf = tree["messages"][-1]["id"]  # a5's copy, the newest
        await c.request("branches.switch", {"conversationId": new["id"], "messageId": leaf})
        env.fake.enqueue(Script(text="Still a nice view."))
        sent = await c.request(
            "chat.send", {"conversationId": new["id"], "content": "Again?", "modelId": "vision"}
        )
        await env.settled(sent["assistantMessageId"])
        body = json.dumps(env.fake.requests[-1].body)
        assert base64.b64encode(IMAGE).decode() in body
        # And it is searchable like any conversation.
        found = await c.request("conversations.list", {"query": "belem"})
        assert {x["id"] for x in found["items"]} == {env.conversation_id, new["id"]}


async def test_import_accepts_json_text_and_interrupts_unfinished_replies(tmp_path):
    async with chat_env(tmp_path) as env:
        sent = await chat(env, "Hi", Script(text="Hello!"))
        doc = await export(env, env.conversation_id)
        doc["messages"][1]["status"] = "streaming"
        imported = await env.client.request("conversations.import", {"document": json.dumps(doc)})
        new_id = imported["conversation"]["id"]
        got = await env.client.request("conversations.get", {"conversationId": new_id})
        assert [m["status"] for m in got["messages"]] == ["complete", "interrupted"]
        assert [m["content"] for m in got["messages"]] == ["Hi", "Hello!"]
        assert got["messages"][0]["id"] != sent["userMessageId"]
        # an empty conversation travels too
        empty = await env.client.request("conversations.create", {"title": "Empty"})
        doc = await export(env, empty["conversation"]["id"])
        assert doc["messages"] == [] and doc["conversation"]["activeLeafId"] is None
        copy_ = await env.client.request("conversations.import", {"document": doc})
        assert copy_["conversation"]["title"] == "Empty"


async def test_markdown_shows_the_active_branch(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        ids = await seed(env)
        c = env.client
        text = await export(env, env.conversation_id, "markdown")
        assert text.startswith("# Lisbon trip\n")
        assert "Day 2: Belém." in text and "It is 42" not in text  # only the active branch
        await c.request(
            "branches.switch", {"conversationId": env.conversation_id, "messageId": ids["a2"]}
        )
        text = await export(env, env.conversation_id, "markdown")
        assert "Belém" not in text
        assert text.count("## User") == 4 and text.count("## Assistant (anthropic-model)") == 3
        assert "## Assistant (vision)" in text
        assert (
            "<details>\n<summary>Thinking</summary>\n\nPlan the days.\n\n</details>\n\nDay 1: Alfama."
            in text
        )
        assert (
            '- `calculate` `{"expression": "6*7"}`: completed → `{"expression": "6*7", "result": 42}`'
            in text
        )
        assert "> Attachment: view.png (image/png, 1024 bytes)" in text
        assert "_(failed: " in text
        assert text.index("Plan a trip") < text.index("What is 6") < text.index("More")


async def test_untitled_markdown_and_unknown_conversation(tmp_path):
    async with chat_env(tmp_path) as env:
        empty = await env.client.request("conversations.create", {})
        text = await export(env, empty["conversation"]["id"], "markdown")
        assert text == "# Untitled conversation\n"
        for fmt in ("json", "markdown"):
            with pytest.raises(RpcFailure) as err:
                await export(env, "nope", fmt)
            assert err.value.code == -32001 and err.value.data["kind"] == "conversation"
        with pytest.raises(RpcFailure) as err:
            await export(env, env.conversation_id, "pdf")
        assert err.value.code == -32602 and err.value.data["errors"][0]["loc"] == ["format"]


def breakages(doc: dict[str, Any], ids: dict[str, str]) -> list[tuple[str, Any, list[Any]]]:
    """(what, broken document, the error location expected)."""
    out: list[tuple[str, Any, list[Any]]] = []

    def case(what: str, change, loc: list[Any]) -> None:
        broken = copy.deepcopy(doc)
        change(broken)
        out.append((what, broken, loc))

    def at(broken: dict[str, Any], name: str) -> dict[str, Any]:
        return next(m for m in broken["messages"] if m["id"] == ids[name])

    out.append(("not JSON", "# Lisbon trip\n", ["document"]))
    out.append(("not an object", "[1, 2]", ["document"]))
    case("format", lambda d: d.update(format="other"), ["document", "format"])
    case("version", lambda d: d.update(version=2), ["document", "version"])
    case("no messages", lambda d: d.pop("messages"), ["document", "messages"])
    case(
        "unknown member",
        lambda d: d["messages"][0].update(colour="red"),
        ["document", "messages", 0, "colour"],
    )
    case(
        "role", lambda d: d["messages"][0].update(role="robot"), ["document", "messages", 0, "role"]
    )
    case(
        "loose type",
        lambda d: d["messages"][1]["usage"].update(inputTokens="12"),
        ["document", "messages", 1, "usage", "inputTokens"],
    )
    case(
        "unknown parent",
        lambda d: d["messages"][1].update(parentId="ghost"),
        ["document", "messages", 1, "parentId"],
    )
    case(
        "duplicate id",
        lambda d: d["messages"][2].update(id=d["messages"][0]["id"]),
        ["document", "messages", 2, "id"],
    )
    case(
        "cycle",
        lambda d: d["messages"][0].update(parentId=d["messages"][1]["id"]),
        ["document", "messages", 0, "parentId"],
    )
    case(
        "active leaf",
        lambda d: d["conversation"].update(activeLeafId="ghost"),
        ["document", "conversation", "activeLeafId"],
    )
    case(
        "named non-leaf",
        lambda d: d.update(branchNames={ids["u1"]: "x"}),
        ["document", "branchNames", ids["u1"]],
    )
    case(
        "bad image data",
        lambda d: d["messages"][0]["attachments"].append(
            {"id": "f", "name": "a.png", "mimeType": "image/png", "size": 1, "data": "!!"}
        ),
        ["document", "messages", 0, "attachments", 0, "data"],
    )
    return out


async def test_invalid_documents_are_refused_with_details(tmp_path):
    async with chat_env(tmp_path) as env:
        c = env.client
        ids = {}
        sent = await chat(env, "One", Script(text="Two"))
        ids["u1"], ids["a1"] = sent["userMessageId"], sent["assistantMessageId"]
        sent = await chat(env, "Three", Script(text="Four"))
        doc = await export(env, env.conversation_id)
        before = await c.request("conversations.list", {})
        seen = len(c.events)
        for what, broken, loc in breakages(doc, ids):
            with pytest.raises(RpcFailure) as err:
                await c.request("conversations.import", {"document": broken})
            assert err.value.code == -32602, what
            locs = [e["loc"] for e in err.value.data["errors"]]
            assert loc in locs, (what, err.value.data)
            assert all(e["msg"] for e in err.value.data["errors"])
        with pytest.raises(RpcFailure) as err:
            await c.request("conversations.import", {})
        assert err.value.code == -32602
        assert await c.request("conversations.list", {}) | {"seq": 0} == before | {"seq": 0}
        assert len(c.events) == seen, "a refused import publishes nothing"


def test_document_messages_carry_every_message_field():
    """A field added to Message must reach the export format too (or be left out here
    on purpose): the round trip promises to lose nothing."""
    assert set(DocumentMessage.model_fields) == set(Message.model_fields) - {"conversation_id"}
