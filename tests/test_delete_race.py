"""Deleting a conversation is one step: once accepted, no new reply starts in it, every
running one ends with its terminal event first, and nothing of it follows
`conversation.deleted` (no delta, no usage, no title)."""

from __future__ import annotations

import asyncio

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import chat_env
from tests.harness import RpcFailure
from tests.test_tools import call


def _of(conversation_id: str, event: dict) -> bool:
    return (
        event.get("conversationId") == conversation_id
        or event.get("message", {}).get("conversationId") == conversation_id
        or event.get("conversation", {}).get("id") == conversation_id
        or event.get("usage", {}).get("conversationId") == conversation_id
    )


async def _settle_elsewhere(env) -> None:
    """A full reply in another conversation: everything published before it is in. Titled,
    or its generated title would be one more provider call, racing the count below (with
    the connection reused it often wins)."""
    other = await env.client.request(
        "conversations.create", {"modelId": env.model_id, "title": "Elsewhere"}
    )
    env.fake.enqueue(Script(text="elsewhere"))
    ids = await env.client.request(
        "chat.send", {"conversationId": other["conversation"]["id"], "content": "hi"}
    )
    await env.settled(ids["assistantMessageId"])


@pytest.mark.parametrize("method", ["chat.regenerate", "chat.send", "chat.edit"])
async def test_no_reply_starts_in_a_conversation_being_deleted(tmp_path, method):
    async with chat_env(tmp_path) as env:
        cid = env.conversation_id
        env.fake.enqueue(Script(text="First answer."))
        first = await env.send("First")
        await env.settled(first["assistantMessageId"])
        env.fake.enqueue(Script(text="a slow second answer that streams for a while", rate=10))
        second = await env.send("Second")
        await env.client.wait_for(
            lambda e: (
                e["type"] == "assistant.stream.delta"
                and e["messageId"] == second["assistantMessageId"]
            )
        )
        env.fake.enqueue(Script(text="must never stream"))
        requests_before = len(env.fake.requests)
        params = {
            "chat.regenerate": {"messageId": first["assistantMessageId"]},
            "chat.send": {
                "conversationId": cid,
                "content": "Another",
                "parentId": first["assistantMessageId"],
            },
            "chat.edit": {"messageId": first["userMessageId"], "content": "First, again"},
        }[method]
        deleted, racing = await asyncio.gather(
            env.client.call("conversations.delete", {"conversationId": cid}),
            env.client.call(method, params),
        )
        assert "result" in deleted
        assert racing["error"]["data"]["reason"] == "NOT_FOUND", racing

        await _settle_elsewhere(env)
        events = env.client.events
        gone = next(i for i, e in enumerate(events) if e["type"] == "conversation.deleted")
        terminal = next(
            i
            for i, e in enumerate(events)
            if e["type"] == "assistant.stream.cancelled"
            and e["messageId"] == second["assistantMessageId"]
        )
        assert terminal < gone, "the running reply ends before the conversation goes"
        late = [e["type"] for e in events[gone + 1 :] if _of(cid, e)]
        assert late == [], f"published after conversation.deleted: {late}"
        assert len(env.fake.requests) == requests_before + 1, "no provider call for it"


async def test_a_title_being_made_never_lands_after_the_delete(tmp_path):
    async with chat_env(tmp_path) as env:
        untitled = await env.client.request("conversations.create", {"modelId": env.model_id})
        cid = untitled["conversation"]["id"]
        env.fake.enqueue(Script(text="An answer."), Script(text="Slow Title Words", rate=4))
        ids = await env.client.request("chat.send", {"conversationId": cid, "content": "Hi"})
        await env.settled(ids["assistantMessageId"])
        deadline = asyncio.get_running_loop().time() + 20
        while len(env.fake.requests) < 2:  # the title call is under way
            assert asyncio.get_running_loop().time() < deadline, "no title call"
            await asyncio.sleep(0.01)
        await env.client.request("conversations.delete", {"conversationId": cid})
        gone = await env.client.wait_for(lambda e: e["type"] == "conversation.deleted")
        with pytest.raises(TimeoutError):  # the slow title would answer within about a second
            await env.client.wait_for(lambda e: e["seq"] > gone["seq"] and _of(cid, e), timeout=3)
        with pytest.raises(RpcFailure) as err:
            await env.client.request("conversations.get", {"conversationId": cid})
        assert err.value.reason == "NOT_FOUND"


async def test_a_waiting_tool_call_ends_with_its_turn_when_deleted(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(Script(text="", tool_calls=[call("read_file", {"path": "/x"})]))
        ids = await env.send("read", tools=["read_file"])
        mid = ids["assistantMessageId"]
        proposed = await env.client.wait_for(lambda e: e["type"] == "tool.execution.proposed")
        await env.client.request("conversations.delete", {"conversationId": env.conversation_id})
        kinds = [
            e["type"]
            for e in env.client.events
            if e.get("messageId") == mid or e["type"] == "conversation.deleted"
        ]
        assert kinds[-3:] == [
            "tool.execution.failed",
            "assistant.stream.cancelled",
            "conversation.deleted",
        ], kinds
        with pytest.raises(RpcFailure) as err:  # a late answer changes nothing
            await env.client.request(
                "tools.approve", {"callId": proposed["callId"], "approved": True}
            )
        assert err.value.reason == "CONFLICT"
