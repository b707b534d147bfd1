"""chat.record over a real process: a turn the app's own provider code ran joins the
conversation with its events, usage and title, at most once, and a refused call
stores nothing."""

from __future__ import annotations

import pytest

from tests.harness import Client, RpcFailure, launch

NO_ENV_KEYS = {"OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "", "DEEPSEEK_API_KEY": ""}


@pytest.fixture
async def client(tmp_path):
    sidecar = launch(tmp_path, env=NO_ENV_KEYS)
    client = await Client.open(sidecar)
    await client.request(
        "models.upsert",
        {
            "model": {
                "id": "old-path",
                "provider": "openai",
                "pricing": {"input": 1.0, "output": 2.0},
            }
        },
    )
    yield client
    await client.close()
    assert sidecar.terminate() == 0


async def test_a_recorded_turn_is_stored_published_counted_and_titled(client):
    conv = (await client.request("conversations.create", {}))["conversation"]
    first = len(client.events)
    ids = await client.request(
        "chat.record",
        {
            "conversationId": conv["id"],
            "content": "Plan a picnic for Saturday",
            "reply": {
                "content": "Bring bread.",
                "thinking": "Short list.",
                "modelId": "old-path",
                "status": "complete",
                "usage": {"inputTokens": 1000, "outputTokens": 500},
            },
        },
    )
    titled = await client.wait_for(
        lambda e: e["type"] == "conversation.updated" and e["conversation"]["title"]
    )
    assert titled["conversation"]["title"] == "Plan a picnic for Saturday"

    kinds = [e["type"] for e in client.events[first:]]
    assert kinds[:4] == [
        "message.created",
        "message.created",
        "usage.recorded",
        "conversation.updated",
    ]
    user, reply = (e["message"] for e in client.events[first : first + 2])
    assert (user["id"], reply["id"]) == (ids["userMessageId"], ids["assistantMessageId"])
    assert reply["parentId"] == user["id"] and user["parentId"] is None
    assert client.events[first + 2]["usage"]["messageId"] == reply["id"]
    assert client.events[first + 3]["conversation"]["activeLeafId"] == reply["id"]

    got = await client.request("conversations.get", {"conversationId": conv["id"]})
    stored = got["messages"][-1]
    assert [m["content"] for m in got["messages"]] == ["Plan a picnic for Saturday", "Bring bread."]
    assert stored["status"] == "complete" and stored["thinking"] == "Short list."
    assert stored["provider"] == "openai" and stored["modelId"] == "old-path"
    assert stored["usage"]["costUsd"] == pytest.approx(0.002)  # 1000 × $1 + 500 × $2 per M

    summary = await client.request("usage.summary", {"groupBy": "model"})
    row = next(r for r in summary["rows"] if r["key"] == "old-path")
    assert (
        row["calls"] == 1 and row["inputTokens"] == 1000 and row["costUsd"] == pytest.approx(0.002)
    )


async def test_a_stopped_or_failed_turn_keeps_its_partial_text_and_a_repeat_records_nothing(client):
    conv = (await client.request("conversations.create", {}))["conversation"]
    failed = {
        "conversationId": conv["id"],
        "content": "Tell me everything",
        "reply": {
            "content": "Once upon",
            "modelId": "old-path",
            "status": "failed",
            "error": {"code": "network", "message": "the connection dropped", "retryable": True},
        },
        "clientRequestId": "legacy-42",
    }
    ids = await client.request("chat.record", failed)
    assert await client.request("chat.record", failed) == ids
    stopped = await client.request(
        "chat.record",
        {
            "conversationId": conv["id"],
            "parentId": None,  # a new root: a sibling of the first turn
            "content": "Tell me less",
            "reply": {"content": "Once", "modelId": "old-path", "status": "cancelled"},
        },
    )
    tree = await client.request("conversations.tree", {"conversationId": conv["id"]})
    by_id = {m["id"]: m for m in tree["messages"]}
    assert len(by_id) == 4, "the repeat recorded nothing"
    assert by_id[ids["assistantMessageId"]]["status"] == "failed"
    assert by_id[stopped["assistantMessageId"]]["status"] == "cancelled"
    assert by_id[stopped["userMessageId"]]["parentId"] is None
    assert tree["activeLeafId"] == stopped["assistantMessageId"]
    shown = await client.request("conversations.get", {"conversationId": conv["id"]})
    assert [m["content"] for m in shown["messages"]] == ["Tell me less", "Once"]
    await client.request(
        "branches.switch", {"conversationId": conv["id"], "messageId": ids["assistantMessageId"]}
    )
    shown = await client.request("conversations.get", {"conversationId": conv["id"]})
    assert [m["content"] for m in shown["messages"]] == ["Tell me everything", "Once upon"]
    assert shown["messages"][-1]["error"]["code"] == "network"


async def test_a_regenerate_and_an_edit_the_app_ran_become_siblings(client):
    conv = (await client.request("conversations.create", {}))["conversation"]

    def reply(text: str) -> dict:
        return {"content": text, "modelId": "old-path", "status": "complete"}

    first = await client.request(
        "chat.record",
        {"conversationId": conv["id"], "content": "Name a fruit", "reply": reply("Apple")},
    )
    again = await client.request(
        "chat.record",
        {"conversationId": conv["id"], "parentId": first["userMessageId"], "reply": reply("Pear")},
    )
    assert again["userMessageId"] == first["userMessageId"], "no new user message"
    edited = await client.request(
        "chat.record",
        {
            "conversationId": conv["id"],
            "parentId": None,
            "content": "Name a vegetable",
            "reply": reply("Leek"),
        },
    )
    shown = await client.request("conversations.get", {"conversationId": conv["id"]})
    assert [m["content"] for m in shown["messages"]] == ["Name a vegetable", "Leek"]
    assert sorted(shown["messages"][0]["siblingIds"]) == sorted(
        [first["userMessageId"], edited["userMessageId"]]
    )
    await client.request(
        "branches.switch", {"conversationId": conv["id"], "messageId": again["assistantMessageId"]}
    )
    shown = await client.request("conversations.get", {"conversationId": conv["id"]})
    assert [m["content"] for m in shown["messages"]] == ["Name a fruit", "Pear"]
    assert sorted(shown["messages"][1]["siblingIds"]) == sorted(
        [first["assistantMessageId"], again["assistantMessageId"]]
    )


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        ({"conversationId": "nope"}, -32001, "NOT_FOUND"),
        (
            {"reply": {"content": "x", "modelId": "no-such-model", "status": "complete"}},
            -32001,
            "NOT_FOUND",
        ),
        ({"parentId": "no-such-message"}, -32001, "NOT_FOUND"),
        (
            {"content": None},
            -32602,
            "INVALID_PARAMS",
        ),  # no content: parentId must be a user message
        (
            {"reply": {"content": "x", "modelId": "old-path", "status": "streaming"}},
            -32602,
            "INVALID_PARAMS",
        ),
        (
            {"reply": {"content": "x", "modelId": "old-path", "status": "complete", "extra": 1}},
            -32602,
            "INVALID_PARAMS",
        ),
    ],
)
async def test_a_refused_record_stores_nothing(client, change, code, reason):
    conv = (await client.request("conversations.create", {}))["conversation"]
    params = {
        "conversationId": conv["id"],
        "content": "Hi",
        "reply": {"content": "Hello", "modelId": "old-path", "status": "complete"},
        **change,
    }
    before = len(client.events)
    with pytest.raises(RpcFailure) as refused:
        await client.request("chat.record", params)
    assert refused.value.code == code and refused.value.reason == reason
    assert "Traceback" not in str(refused.value)
    tree = await client.request("conversations.tree", {"conversationId": conv["id"]})
    assert tree["messages"] == [] and client.events[before:] == []
