"""Anthropic prompt caching: breakpoints in the request, the fake's cache, and cached usage
through a real sidecar."""

from __future__ import annotations

import json

import anthropic
import pytest

from sidecar.dev.fakes import FakeProvider, Script
from sidecar.providers import ChatMessage, ToolCallRef, ToolSpec
from sidecar.providers.anthropic import MAX_CACHE_BREAKPOINTS, mark_cache_breakpoints
from tests.chat_env import PRICING, chat_env
from tests.test_fakes_sdk import anthropic_client
from tests.test_providers import Upstream, collect, make_provider, request, stream_response
from tests.test_providers_anthropic import TEXT_STREAM
from tests.test_tools import call

EPHEMERAL = {"type": "ephemeral"}
LONG = "The quick brown fox jumps over the lazy dog. " * 120  # ~1350 tokens at 4 chars a token


def marked(body: dict) -> list[str]:
    """Where the body's breakpoints are, in the API's order."""
    out = [f"tools.{i}" for i, t in enumerate(body.get("tools") or []) if "cache_control" in t]
    system = body.get("system")
    if isinstance(system, list):
        out += [f"system.{i}" for i, b in enumerate(system) if "cache_control" in b]
    for i, m in enumerate(body["messages"]):
        content = m["content"]
        if isinstance(content, list):
            out += [f"messages.{i}.{j}" for j, b in enumerate(content) if "cache_control" in b]
    return out


# --- the adapter -------------------------------------------------------------------------


async def test_adapter_marks_system_tools_prefix_and_newest_user():
    up = Upstream(stream_response(TEXT_STREAM))
    messages = [
        ChatMessage(role="user", content="First"),
        ChatMessage(
            role="assistant",
            content="Checking.",
            thinking="Think.",
            thinking_signature="sig",
            tool_calls=[ToolCallRef(id="toolu_1", name="lookup", arguments='{"q": "a"}')],
        ),
        ChatMessage(role="tool", content="A", tool_call_id="toolu_1"),
    ]
    tools = [
        ToolSpec("lookup", "Look up", {"type": "object"}),
        ToolSpec("other", "Other", {"type": "object"}),
    ]
    req = request(system="Be kind.", messages=messages, tools=tools, prompt_caching=True)
    await collect(make_provider("anthropic", up), req)
    body = up.body()
    assert body["system"] == [{"type": "text", "text": "Be kind.", "cache_control": EPHEMERAL}]
    assert marked(body) == ["tools.1", "system.0", "messages.1.2", "messages.2.0"]
    assert body["messages"][1]["content"][2]["type"] == "tool_use"
    assert "cache_control" not in body["messages"][1]["content"][0], "never on thinking"


async def test_adapter_without_prompt_caching_sends_no_cache_control():
    up = Upstream(stream_response(TEXT_STREAM))
    req = request(system="Be kind.", tools=[ToolSpec("t", "d", {"type": "object"})])
    await collect(make_provider("anthropic", up), req)
    body = up.body()
    assert body["system"] == "Be kind." and "cache_control" not in json.dumps(body)


def test_breakpoints_beyond_the_limit_drop_tools_then_system():
    def body() -> dict:
        return {
            "system": "S",
            "tools": [{"name": "t", "input_schema": {}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
                {"role": "user", "content": [{"type": "text", "text": "c"}]},
            ],
        }

    full = body()
    assert mark_cache_breakpoints(full) == MAX_CACHE_BREAKPOINTS == 4
    import sidecar.providers.anthropic as adapter

    original = adapter.MAX_CACHE_BREAKPOINTS
    try:
        adapter.MAX_CACHE_BREAKPOINTS = 3
        three = body()
        mark_cache_breakpoints(three)
        assert marked(three) == ["system.0", "messages.1.0", "messages.2.0"]
        adapter.MAX_CACHE_BREAKPOINTS = 2
        two = body()
        mark_cache_breakpoints(two)
        assert marked(two) == ["messages.1.0", "messages.2.0"]
    finally:
        adapter.MAX_CACHE_BREAKPOINTS = original


# --- the fake ----------------------------------------------------------------------------


def cached_body(*turns: str, tools: bool = False) -> dict:
    messages = []
    for i, text in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    last = messages[-1]
    last["content"] = [{"type": "text", "text": last["content"], "cache_control": EPHEMERAL}]
    body = {
        "model": "claude-sonnet-fake",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL}],
        "messages": messages,
    }
    if tools:
        body["tools"] = [
            {"name": "t", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL}
        ]
    return body


async def test_anthropic_sdk_reads_cache_usage_from_the_fake():
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        first = await client.messages.create(**cached_body(LONG))
        second = await client.messages.create(**cached_body(LONG, "Sure.", "And then?"))
        async with client.messages.stream(**cached_body(LONG, "Sure.", "And then?")) as stream:
            streamed = (await stream.get_final_message()).usage
    u1, u2 = first.usage, second.usage
    prefix = len("Be brief." + LONG) // 4
    assert (u1.cache_read_input_tokens, u1.cache_creation_input_tokens) == (0, prefix)
    assert u1.input_tokens == 0, "everything up to the breakpoint was written"
    assert u2.cache_read_input_tokens == prefix
    whole = len("Be brief." + LONG + "Sure." + "And then?") // 4
    assert u2.cache_creation_input_tokens == whole - prefix
    assert u2.input_tokens == 0
    assert (streamed.cache_read_input_tokens, streamed.cache_creation_input_tokens) == (whole, 0)


async def test_fake_caches_nothing_below_the_minimum_or_without_breakpoints():
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        for _ in range(2):
            short = await client.messages.create(**cached_body("Hi there"))
        assert short.usage.cache_read_input_tokens == 0
        assert short.usage.cache_creation_input_tokens == 0
        plain = await client.messages.create(
            model="claude-sonnet-fake", max_tokens=10, messages=[{"role": "user", "content": LONG}]
        )
        assert plain.usage.cache_read_input_tokens == 0
        assert plain.usage.input_tokens == len(LONG) // 4


async def test_fake_refuses_too_many_breakpoints_and_unknown_types():
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        body = cached_body(LONG, "Sure.", "And then?", tools=True)
        body["messages"][0]["content"] = [
            {"type": "text", "text": LONG, "cache_control": EPHEMERAL}
        ]
        body["messages"][1]["content"] = [
            {"type": "text", "text": "Sure.", "cache_control": EPHEMERAL}
        ]
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(**body)
        assert info.value.status_code == 400
        error = info.value.body["error"]
        assert error["type"] == "invalid_request_error"
        assert "maximum of 4 blocks with cache_control" in error["message"]
        assert "Found 5" in error["message"]
        bad = cached_body(LONG)
        bad["system"][0]["cache_control"] = {"type": "persistent"}
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(**bad)
        assert info.value.body["type"] == "error"
        assert "ephemeral" in info.value.body["error"]["message"]
        four = cached_body(LONG, "Sure.", "And then?", tools=True)
        four["messages"][1]["content"] = [
            {"type": "text", "text": "Sure.", "cache_control": EPHEMERAL}
        ]
        assert (await client.messages.create(**four)).content


# --- through a sidecar ---------------------------------------------------------------------


async def test_second_turn_reads_the_cache_and_costs_the_cache_price(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        first = await env.send(LONG)
        one = await env.settled(first["assistantMessageId"])
        second = await env.send("Tell me more")
        two = await env.settled(second["assistantMessageId"])
        bodies = [r.body for r in env.fake.requests if r.path == "/v1/messages"]
    assert marked(bodies[0]) == ["system.0", "messages.0.0"]
    assert marked(bodies[1]) == ["system.0", "messages.1.0", "messages.2.0"]
    assert one["usage"]["cacheReadTokens"] == 0 and one["usage"]["cacheWriteTokens"] > 0
    usage = two["usage"]
    assert usage["cacheReadTokens"] == one["usage"]["cacheWriteTokens"] > 1000
    assert usage["inputTokens"] >= usage["cacheReadTokens"] + usage["cacheWriteTokens"]
    uncached = usage["inputTokens"] - usage["cacheReadTokens"] - usage["cacheWriteTokens"]
    expected = (
        uncached * PRICING["input"]
        + usage["cacheReadTokens"] * PRICING["cacheRead"]
        + usage["cacheWriteTokens"] * PRICING["cacheWrite"]
        + usage["outputTokens"] * PRICING["output"]
    ) / 1e6
    assert usage["costUsd"] == pytest.approx(expected)
    recorded = [e["usage"] for e in env.client.events if e["type"] == "usage.recorded"]
    assert recorded[-1]["cacheReadTokens"] == usage["cacheReadTokens"]
    assert recorded[-1]["costUsd"] == usage["costUsd"]


async def test_prompt_caching_off_sends_no_cache_control(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["conversation"]["settings"]["promptCaching"] is True
        await env.client.request(
            "conversations.update",
            {"conversationId": env.conversation_id, "settings": {"promptCaching": False}},
        )
        for text in (LONG, "Tell me more"):
            ids = await env.send(text)
            final = await env.settled(ids["assistantMessageId"])
            assert final["usage"]["cacheReadTokens"] == 0
        bodies = [r.body for r in env.fake.requests if r.path == "/v1/messages"]
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
    assert got["conversation"]["settings"]["promptCaching"] is False
    assert len(bodies) == 2
    assert all("cache_control" not in json.dumps(b) for b in bodies)
    assert bodies[0]["system"] == "Be brief."


async def test_tool_loop_keeps_at_most_four_breakpoints(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        env.fake.enqueue(
            Script(
                text="Let me compute. ",
                tool_calls=[call("calculate", {"expression": "6*7"})],
            ),
            Script(text="It is 42."),
        )
        ids = await env.send(LONG + " What is 6 times 7?", tools=["calculate"])
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete"
        ids = await env.send("Thanks", tools=["calculate"])
        await env.settled(ids["assistantMessageId"])
        bodies = [r.body for r in env.fake.requests if r.path == "/v1/messages"]
    assert len(bodies) == 3
    for body in bodies:
        assert len(marked(body)) <= 4
        assert body["tools"][-1]["cache_control"] == EPHEMERAL
    assert marked(bodies[1]) == ["tools.0", "system.0", "messages.1.1", "messages.2.0"]
    assert bodies[1]["messages"][1]["content"][-1]["type"] == "tool_use"
    assert bodies[1]["messages"][2]["content"][0]["type"] == "tool_result"
