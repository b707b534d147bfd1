"""A reply cut by the output limit or the context window ends with `finishReason:
"length"` on every provider kind and API, and says so where it is kept: the completed
event, the stored message (also after a restart), the legacy path's record and the
Markdown export. A normal end says `stop`."""

from __future__ import annotations

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import chat_env

# (kind, wire API, the provider's own word for "cut at a limit")
CUT = [
    ("openai", "chat", "length"),
    ("openai", None, "max_output_tokens"),  # Responses: response.incomplete
    ("anthropic", None, "max_tokens"),
    ("anthropic", None, "model_context_window_exceeded"),
    ("deepseek", None, "length"),
    ("openai-compatible", None, "length"),
]


@pytest.mark.parametrize(("kind", "api", "word"), CUT)
async def test_a_reply_cut_at_a_limit_finishes_with_length(tmp_path, kind, api, word):
    async with chat_env(tmp_path, kind, api=api) as env:
        env.fake.enqueue(Script(text="The story goes on and o", finish_reason=word))
        ids = await env.send("A long story, please")
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "complete" and final["content"] == "The story goes on and o"
        completed = next(e for e in env.events_of(mid) if e["type"] == "assistant.stream.completed")
        assert completed["finishReason"] == "length"
        assert completed["message"]["finishReason"] == final["finishReason"] == "length"
        assert (await env.stored(mid))["finishReason"] == "length"

        env.fake.enqueue(Script(text="The end."))
        whole = await env.settled((await env.send("Thanks"))["assistantMessageId"])
        assert whole["finishReason"] == "stop"
        user = await env.stored(ids["userMessageId"])
        assert user["finishReason"] is None


async def test_the_cut_is_kept_across_a_restart_and_in_the_markdown_export(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(Script(text="Cut sh", finish_reason="length"))
        mid = (await env.send("Go"))["assistantMessageId"]
        await env.settled(mid)
        markdown = await env.client.request(
            "conversations.export", {"conversationId": env.conversation_id, "format": "markdown"}
        )
        assert "_(cut off at the model's length limit)_" in markdown["document"]
        conversation_id = env.conversation_id
    async with chat_env(tmp_path) as env:  # the same data dir: a new sidecar process
        got = await env.client.request("conversations.get", {"conversationId": conversation_id})
        assert [m["finishReason"] for m in got["messages"]] == [None, "length"]


async def test_the_legacy_path_records_how_its_reply_ended(tmp_path):
    async with chat_env(tmp_path) as env:
        recorded = await env.client.request(
            "chat.record",
            {
                "conversationId": env.conversation_id,
                "content": "Hi",
                "reply": {
                    "content": "Hel",
                    "modelId": env.model_id,
                    "status": "complete",
                    "finishReason": "length",
                },
            },
        )
        plain = await env.client.request(
            "chat.record",
            {
                "conversationId": env.conversation_id,
                "content": "Again",
                "reply": {"content": "Hello.", "modelId": env.model_id, "status": "complete"},
            },
        )
        got = {
            m["id"]: m
            for m in (
                await env.client.request(
                    "conversations.get", {"conversationId": env.conversation_id}
                )
            )["messages"]
        }
        assert got[recorded["assistantMessageId"]]["finishReason"] == "length"
        assert got[plain["assistantMessageId"]]["finishReason"] == "stop"
