"""Tool calls are the sidecar's own: a provider that repeats its call ids (`call_0` in
every response) never mixes two turns up, an answer resolves one call once, only from
a connection allowed to give it, and no waiting call strands its turn."""

from __future__ import annotations

import json

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import chat_env
from tests.harness import Client, RpcFailure
from tests.test_tools import call, tool_events


async def _new_conversation(env) -> str:
    got = await env.client.request("conversations.create", {"modelId": env.model_id})
    return got["conversation"]["id"]


def _continuation(env, secret: str) -> dict:
    """The provider request that carried the result `secret` back upstream."""
    [request] = [r for r in env.fake.requests if secret in json.dumps(r.body["messages"])]
    return request.body


@pytest.mark.parametrize("order", ["first-proposed-first", "last-proposed-first"])
async def test_repeated_provider_ids_never_cross_turns(tmp_path, order):
    folder = tmp_path / "allowed"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha-contents")
    (folder / "b.txt").write_text("bravo-contents")
    async with chat_env(tmp_path) as env:
        await env.client.request("settings.update", {"toolFolders": [str(folder)]})
        other = await _new_conversation(env)
        proposals = {}
        for conversation, name in ((env.conversation_id, "a.txt"), (other, "b.txt")):
            env.fake.enqueue(
                Script(
                    text="", tool_calls=[call("read_file", {"path": str(folder / name)}, "call_0")]
                )
            )
            ids = await env.client.request(
                "chat.send",
                {"conversationId": conversation, "content": f"read {name}", "tools": ["read_file"]},
            )
            mid = ids["assistantMessageId"]
            proposals[name] = (
                mid,
                await env.client.wait_for(
                    lambda e, mid=mid: (
                        e["type"] == "tool.execution.proposed" and e["messageId"] == mid
                    )
                ),
            )
        (a_mid, a), (b_mid, b) = proposals["a.txt"], proposals["b.txt"]
        assert a["callId"] != b["callId"], "the provider's repeated id is not the call's id"
        assert "call_0" not in (a["callId"], b["callId"])
        with pytest.raises(RpcFailure) as err:  # the provider's id names nothing here
            await env.client.request("tools.approve", {"callId": "call_0", "approved": True})
        assert err.value.reason == "NOT_FOUND"

        env.fake.enqueue(Script(text="Done."), Script(text="Done."))
        first, second = (a, b) if order == "first-proposed-first" else (b, a)
        await env.client.request("tools.approve", {"callId": first["callId"], "approved": True})
        await env.client.request("tools.approve", {"callId": second["callId"], "approved": True})
        a_final, b_final = await env.settled(a_mid), await env.settled(b_mid)

        for final, mine, theirs, proposal in (
            (a_final, "alpha-contents", "bravo-contents", a),
            (b_final, "bravo-contents", "alpha-contents", b),
        ):
            assert final["status"] == "complete" and final["content"] == "Done."
            [tool_call] = final["toolCalls"]
            assert tool_call["id"] == proposal["callId"] and tool_call["providerCallId"] == "call_0"
            assert tool_call["result"]["content"] == mine
            body = _continuation(env, mine)
            assert theirs not in json.dumps(body), "each turn reads back its own result only"
            assistant, result = body["messages"][-2], body["messages"][-1]
            assert assistant["tool_calls"][0]["id"] == "call_0", "upstream gets its own id back"
            assert result["tool_call_id"] == "call_0"
        for mid, proposal in ((a_mid, a), (b_mid, b)):
            assert tool_events(env, mid) == [
                ("proposed", proposal["callId"]),
                ("started", proposal["callId"]),
                ("completed", proposal["callId"]),
            ]
            with pytest.raises(RpcFailure) as err:
                await env.client.request(
                    "tools.approve", {"callId": proposal["callId"], "approved": False}
                )
            assert err.value.reason == "CONFLICT", "answered once; a second answer changes nothing"
        assert (await env.stored(a_mid))["toolCalls"][0]["status"] == "completed"


async def test_an_approval_cannot_answer_a_client_result_nor_the_reverse(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(Script(text="", tool_calls=[call("read_file", {"path": "/x"})]))
        ids = await env.send("read", tools=["read_file"])
        proposed = await env.client.wait_for(lambda e: e["type"] == "tool.execution.proposed")
        with pytest.raises(RpcFailure) as err:
            await env.client.request(
                "tools.submitResult", {"callId": proposed["callId"], "result": "forged"}
            )
        assert err.value.reason == "CONFLICT" and "approval" in err.value.error["message"]
        await env.client.request("chat.cancel", {"messageId": ids["assistantMessageId"]})
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "cancelled"
        assert final["toolCalls"][0]["status"] == "failed"
        assert tool_events(env, ids["assistantMessageId"]) == [
            ("proposed", proposed["callId"]),
            ("failed", proposed["callId"]),
        ], "a proposal the user saw ends too, once"


LOOKUP = {
    "name": "lookup_contact",
    "description": "Find a contact",
    "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
}


async def test_a_client_result_comes_only_from_the_tools_connection_while_it_is_open(tmp_path):
    async with chat_env(tmp_path) as env:
        await env.client.request("tools.register", LOOKUP)
        env.fake.enqueue(
            Script(text="", tool_calls=[call("lookup_contact", {"name": "Ana"})]),
            Script(text="Found."),
        )
        ids = await env.send("Call Ana", tools=["lookup_contact"])
        started = await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        window = await Client.open(env.sidecar)
        try:
            with pytest.raises(RpcFailure) as err:
                await window.request(
                    "tools.submitResult", {"callId": started["callId"], "result": {"phone": "0"}}
                )
            assert err.value.reason == "CONFLICT"
        finally:
            await window.close()
        await env.client.request(
            "tools.submitResult", {"callId": started["callId"], "result": {"phone": "123"}}
        )
        final = await env.settled(ids["assistantMessageId"])
        assert final["toolCalls"][0]["result"] == {"phone": "123"}


async def test_a_client_call_whose_client_never_returns_fails_and_the_turn_ends(tmp_path):
    async with chat_env(tmp_path, args=("--client-tool-grace", "0.5")) as env:
        tools_client = await Client.open(env.sidecar)
        await tools_client.request("tools.register", LOOKUP)
        env.fake.enqueue(
            Script(text="", tool_calls=[call("lookup_contact", {"name": "Ana"})]),
            Script(text="I could not look that up."),
        )
        ids = await tools_client.request(
            "chat.send",
            {
                "conversationId": env.conversation_id,
                "content": "Call Ana",
                "tools": ["lookup_contact"],
            },
        )
        mid = ids["assistantMessageId"]
        started = await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        await tools_client.close()
        final = await env.settled(mid)
        assert final["status"] == "complete" and final["content"] == "I could not look that up."
        assert final["toolCalls"][0]["status"] == "failed"
        assert "disconnected" in final["toolCalls"][0]["error"]
        assert tool_events(env, mid) == [
            ("started", started["callId"]),
            ("failed", started["callId"]),
        ]
        assert "disconnected" in json.dumps(env.fake.requests[-1].body["messages"][-1])


async def test_a_string_result_reaches_the_model_verbatim(tmp_path):
    async with chat_env(tmp_path) as env:
        await env.client.request(
            "tools.register",
            {"name": "ping", "description": "ping", "inputSchema": {"type": "object"}},
        )
        env.fake.enqueue(Script(text="", tool_calls=[call("ping", {})]), Script(text="ok"))
        ids = await env.send("ping", tools=["ping"])
        started = await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        await env.client.request(
            "tools.submitResult", {"callId": started["callId"], "result": "pong"}
        )
        await env.settled(ids["assistantMessageId"])
        result = env.fake.requests[-1].body["messages"][-1]
        assert result["role"] == "tool" and result["content"] == "pong"
