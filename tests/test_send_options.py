"""chat.send's per-turn system prompt: given as text or as a saved prompt's id, used for
that turn only; a wrong one is refused before anything is stored."""

from __future__ import annotations

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import chat_env
from tests.harness import RpcFailure


def system_sent(env) -> str | None:
    first = env.fake.requests[-1].body["messages"][0]
    return first["content"] if first["role"] == "system" else None


async def test_a_system_prompt_for_one_turn_as_text_or_saved(tmp_path):
    async with chat_env(tmp_path) as env:
        await env.client.request(
            "conversations.update", {"conversationId": env.conversation_id, "title": "Prompts"}
        )
        saved = await env.client.request(
            "systemPrompts.create", {"name": "Pirate", "content": "Talk like a pirate."}
        )
        turns = [
            ({"systemPrompt": "Answer in French."}, "Answer in French."),
            ({"systemPromptId": saved["systemPrompt"]["id"]}, "Talk like a pirate."),
            ({"systemPrompt": ""}, None),
            ({}, "Be brief."),  # the conversation's own, untouched by the turns before
        ]
        for params, expected in turns:
            env.fake.enqueue(Script(text="ok"))
            ids = await env.send("Hi", **params)
            assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
            assert system_sent(env) == expected, params
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["conversation"]["systemPrompt"] == "Be brief."


async def test_a_wrong_per_turn_prompt_stores_nothing(tmp_path):
    async with chat_env(tmp_path) as env:
        before = await env.client.request(
            "conversations.tree", {"conversationId": env.conversation_id}
        )
        with pytest.raises(RpcFailure) as err:
            await env.send("Hi", systemPromptId="no-such-prompt")
        assert err.value.reason == "NOT_FOUND" and err.value.data["kind"] == "systemPrompt"
        with pytest.raises(RpcFailure) as err:
            await env.send("Hi", systemPrompt="a", systemPromptId="b")
        assert err.value.code == -32602 and "at most one" in str(err.value.data["errors"])
        after = await env.client.request(
            "conversations.tree", {"conversationId": env.conversation_id}
        )
        assert after["messages"] == before["messages"] == [] and env.fake.requests == []
