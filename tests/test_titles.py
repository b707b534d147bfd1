"""Conversation titles: made in the background after the first reply by a cheap model,
cleaned, recorded as usage of kind "title", never over a title the user set, and
never before the chat's own events. A real sidecar, the fake provider (which answers
the non-streamed title request too) and real sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sidecar.dev.fakes import Script, Usage
from sidecar.engine.titles import INPUT_CHARS, MAX_OUTPUT_TOKENS, SYSTEM_PROMPT, clean_title
from sidecar.engine.titles import fallback_title as fallback
from tests.chat_env import ChatEnv, chat_env
from tests.harness import RpcFailure

LONG_QUESTION = "Plan a trip to Lisbon in spring for two people. " + "x" * 5000
LONG_ANSWER = "Day 1: Alfama and the castle. " + "y" * 5000


async def add_models(env: ChatEnv) -> None:
    """Cheaper models beside the chat's (priced 2 + 8): a reasoning one even cheaper and a
    disabled one cheapest of all; the title must go to "cheap"."""
    for model in (
        {
            "id": "cheap",
            "providerModel": "cheap-upstream",
            "pricing": {"input": 0.1, "output": 0.4},
        },
        {
            "id": "thinker",
            "capabilities": {"reasoning": True},
            "pricing": {"input": 0.01, "output": 0.01},
        },
        {"id": "off", "enabled": False, "pricing": {"input": 0, "output": 0}},
        {"id": "unpriced"},
    ):
        await env.client.request("models.upsert", {"model": {"provider": env.provider_id, **model}})


async def untitled(env: ChatEnv) -> None:
    """chat_env titles its conversation (so other tests get no title calls): undo that."""
    await env.client.request(
        "conversations.update", {"conversationId": env.conversation_id, "title": None}
    )


async def titled(env: ChatEnv, conversation_id: str | None = None) -> dict[str, Any]:
    """The conversation.updated that carries a generated title."""
    cid = conversation_id or env.conversation_id
    return await env.client.wait_for(
        lambda e: (
            e["type"] == "conversation.updated"
            and e["conversation"]["id"] == cid
            and e["conversation"]["titleSource"] == "generated"
        )
    )


def title_usage(env: ChatEnv) -> list[dict[str, Any]]:
    return [
        e
        for e in env.client.events
        if e["type"] == "usage.recorded" and e["usage"]["kind"] == "title"
    ]


def title_requests(env: ChatEnv) -> list[Any]:
    return [r for r in env.fake.requests if not (r.body or {}).get("stream")]


async def test_first_reply_gets_a_cleaned_title_from_the_cheap_model(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        await untitled(env)
        await add_models(env)
        env.fake.enqueue(
            Script(text=LONG_ANSWER, chunk_size=500),
            Script(text='"Trip To Lisbon In Spring Time Now."', usage=Usage(50, 9)),
        )
        ids = await env.send(LONG_QUESTION)
        event = await titled(env)
        assert event["conversation"]["title"] == "Trip To Lisbon In Spring"

        # Titles never delay the chat: every event of the reply comes first...
        mine = env.events_of(ids["assistantMessageId"])
        completed = next(e for e in mine if e["type"] == "assistant.stream.completed")
        updated = mine[-1]
        assert updated["type"] == "message.updated" and updated["message"]["status"] == "complete"
        [usage] = title_usage(env)
        assert completed["seq"] < updated["seq"] < usage["seq"] < event["seq"]
        # ...and the fake hears the title request after the chat request.
        chat_request, title_request = env.fake.requests
        assert chat_request.body["stream"] is True and "stream" not in title_request.body
        assert chat_request.received_at < title_request.received_at

        body = title_request.body
        assert body["model"] == "cheap-upstream" and body["max_tokens"] == MAX_OUTPUT_TOKENS
        [system, user] = body["messages"]
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert user["role"] == "user"
        # The first exchange only, each side cut to INPUT_CHARS.
        assert user["content"] == (
            f"User: {LONG_QUESTION[:INPUT_CHARS]}…\n\nAssistant: {LONG_ANSWER[:INPUT_CHARS]}…"
        )

        record = usage["usage"]
        assert record | {"id": None, "createdAt": None} == {
            "id": None,
            "createdAt": None,
            "conversationId": env.conversation_id,
            "messageId": None,
            "modelId": "cheap",
            "provider": env.provider_id,
            "kind": "title",
            "inputTokens": 50,
            "outputTokens": 9,
            "reasoningTokens": 0,
            "cacheReadTokens": 0,
            "cacheWriteTokens": 0,
            "costUsd": pytest.approx((50 * 0.1 + 9 * 0.4) / 1e6),
        }
        # Title usage counts like any other: it is in the usage summary's totals.
        summary = await env.client.request("usage.summary", {"kind": "title"})
        assert summary["totals"]["calls"] == 1 and summary["totals"]["outputTokens"] == 9

        # Later replies leave the title alone and ask for none.
        again = await env.send("And in autumn?")
        await env.settled(again["assistantMessageId"])
        await asyncio.sleep(0.3)
        assert len(title_requests(env)) == 1
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["conversation"]["title"] == "Trip To Lisbon In Spring"
        found = await env.client.request("conversations.list", {"query": "lisbon spring"})
        assert [c["id"] for c in found["items"]] == [env.conversation_id]


async def test_title_model_setting_wins(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        await untitled(env)
        await add_models(env)
        await env.client.request("settings.update", {"titleModelId": "unpriced"})
        env.fake.enqueue(Script(text="Hello"), Script(text="**Title:** Greetings"))
        await env.send("Hi")
        event = await titled(env)
        assert event["conversation"]["title"] == "Greetings"
        assert title_requests(env)[0].body["model"] == "unpriced"
        assert title_usage(env)[0]["usage"]["costUsd"] is None  # no price, no cost


@pytest.mark.parametrize(
    "script",
    [Script(fault="http_401"), Script(text=""), Script(text=' "…" '), Script(fault="http_400")],
    ids=["auth", "empty", "punctuation", "bad-request"],
)
async def test_fallback_is_the_first_user_message_cut_short(tmp_path, script):
    question = "Could you please help me plan a weekend trip to Lisbon with my friends?"
    async with chat_env(tmp_path) as env:
        await untitled(env)
        env.fake.enqueue(Script(text="Sure."), script)
        await env.send(question)
        event = await titled(env)
        title = event["conversation"]["title"]
        assert title == "Could you please help me plan a weekend trip to…"
        assert len(title) <= 50
        recorded = title_usage(env)
        assert len(recorded) == (0 if script.fault else 1)  # a failed call spent nothing


async def test_a_user_title_is_never_overwritten(tmp_path):
    async with chat_env(tmp_path) as env:
        await untitled(env)
        # A slow title call: the user names the conversation while it runs.
        env.fake.enqueue(Script(text="Sure."), Script(text="Generated Name", chunk_size=1, rate=8))
        ids = await env.send("Hi")
        await env.settled(ids["assistantMessageId"])
        await asyncio.sleep(0.3)
        assert len(title_requests(env)) == 1, "the title call is under way"
        await env.client.request(
            "conversations.update", {"conversationId": env.conversation_id, "title": "Mine"}
        )
        usage = await env.client.wait_for(
            lambda e: e["type"] == "usage.recorded" and e["usage"]["kind"] == "title"
        )
        await asyncio.sleep(0.3)
        later = [e for e in env.client.events if e["seq"] > usage["seq"]]
        assert not [e for e in later if e["type"] == "conversation.updated"]
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert (got["conversation"]["title"], got["conversation"]["titleSource"]) == (
            "Mine",
            "user",
        )
        # Forcing one answers CONFLICT and changes nothing.
        with pytest.raises(RpcFailure) as err:
            await env.client.request("titles.generate", {"conversationId": env.conversation_id})
        assert err.value.reason == "CONFLICT" and len(title_requests(env)) == 1

        # A conversation titled from the start never asks for one.
        other = await env.client.request(
            "conversations.create", {"title": "Named", "modelId": env.model_id}
        )
        sent = await env.client.request(
            "chat.send", {"conversationId": other["conversation"]["id"], "content": "Hi"}
        )
        await env.settled(sent["assistantMessageId"])
        await asyncio.sleep(0.3)
        assert len(title_requests(env)) == 1


async def test_titles_generate(tmp_path):
    async with chat_env(tmp_path) as env:
        await untitled(env)
        c = env.client
        cid = env.conversation_id
        with pytest.raises(RpcFailure) as err:
            await c.request("titles.generate", {"conversationId": cid})
        assert err.value.reason == "CONFLICT", "nothing to make a title from yet"
        with pytest.raises(RpcFailure) as err:
            await c.request("titles.generate", {"conversationId": "nope"})
        assert err.value.reason == "NOT_FOUND"

        env.fake.enqueue(Script(text="Weather talk."), Script(text="Weather Talk"))
        await env.send("How is the weather in Lisbon?")
        await titled(env)

        # Forced: replaces the generated title, from the first exchange of the active branch.
        env.fake.enqueue(Script(text="Lisbon weather, today!"))
        seen = len(c.events)
        result = await c.request("titles.generate", {"conversationId": cid})
        assert result == {"title": "Lisbon weather, today"}
        events = c.events[seen:]
        assert [e["type"] for e in events] == ["usage.recorded", "conversation.updated"]
        assert events[1]["conversation"]["title"] == "Lisbon weather, today"
        assert events[1]["conversation"]["titleSource"] == "generated"
        request = title_requests(env)[-1].body
        assert request["messages"][-1]["content"] == (
            "User: How is the weather in Lisbon?\n\nAssistant: Weather talk."
        )
        # A cleared user title can be generated again.
        await c.request("conversations.update", {"conversationId": cid, "title": "Mine"})
        await c.request("conversations.update", {"conversationId": cid, "title": None})
        env.fake.enqueue(
            Script(fault="http_500"), Script(fault="http_500"), Script(fault="http_500")
        )
        result = await c.request("titles.generate", {"conversationId": cid})
        assert result == {"title": "How is the weather in Lisbon?"}  # the fallback


@pytest.mark.parametrize(
    "raw, title",
    [
        ('"Trip To Lisbon In Spring Time Now."', "Trip To Lisbon In Spring"),
        ("**Title:** Lisbon Trip", "Lisbon Trip"),
        ("# Lisbon Trip\n\nMore text", "Lisbon Trip"),
        ("Title: «Viagem a Lisboa»", "Viagem a Lisboa"),
        ("`Python Tips`!", "Python Tips"),
        ("\n\n  'Why?'  \n", "Why"),
        ("Supercalifragilisticexpialidocious " * 3, "Supercalifragilisticexpialidocious"),
        ("A" * 80, "A" * 50),
        ("…", ""),
        ("", ""),
    ],
)
def test_clean_title(raw, title):
    assert clean_title(raw) == title


@pytest.mark.parametrize(
    "text, title",
    [
        ("Hi", "Hi"),
        ("  Plan   a\ntrip  ", "Plan a trip"),
        ("x" * 50, "x" * 50),
        ("x" * 60, "x" * 49 + "…"),
        (
            "Could you please help me plan a weekend trip to Lisbon?",
            "Could you please help me plan a weekend trip to…",
        ),
        (
            "Tell me, in detail, everything, please: really everything",
            "Tell me, in detail, everything, please: really…",
        ),
        ("", ""),
    ],
)
def test_fallback_title(text, title):
    assert fallback(text) == title
    assert len(fallback(text)) <= 50
