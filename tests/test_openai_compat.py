"""OpenAI-compatible servers whose reasoning takes another shape than OpenAI's, against the
fake over real HTTP and once through a real turn:

- xAI counts reasoning outside `completion_tokens` (prompt + completion + reasoning ==
  total), where OpenAI counts it inside (prompt + completion == total); our outputTokens
  must include it either way, or reasoning replies are under-priced.
- Mistral's reasoning models stream thinking as typed parts in `content`
  (`{"type": "thinking", "thinking": [{"type": "text", ...}]}`), which must become thinking,
  not silence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from sidecar.dev.fakes import FakeProvider, Script, Usage
from sidecar.providers import (
    Finish,
    Provider,
    ProviderConfig,
    TextDelta,
    ThinkingDelta,
    UsagePart,
    create_provider,
)
from tests.chat_env import PRICING, chat_env
from tests.test_providers import collect, request

KEY = "sk-compat-test-key"
THINKING = "Six times seven; no tricks here."
TEXT = "The answer is 42."


@asynccontextmanager
async def compat_provider() -> AsyncIterator[tuple[FakeProvider, Provider]]:
    """The openai-compatible adapter pointed at a fake over loopback HTTP."""
    async with FakeProvider("openai-compatible", api_key=KEY) as fake, httpx.AsyncClient() as http:
        config = ProviderConfig(
            id="compat", kind="openai-compatible", base_url=fake.base_url, api_key=KEY
        )
        yield fake, create_provider(config, http)


def xai_script(**fields) -> Script:
    # OpenAI's convention in the script: output (400) includes reasoning (300), so the xAI
    # fake sends completion_tokens 100, reasoning_tokens 300, total_tokens 1400.
    usage = Usage(input_tokens=1000, output_tokens=400, cached_tokens=200, reasoning_tokens=300)
    return Script(quirk="xai", usage=usage, **fields)


XAI_USAGE = UsagePart(
    input_tokens=1000, output_tokens=400, reasoning_tokens=300, cache_read_tokens=200
)


# --- xAI usage -----------------------------------------------------------------------------


async def test_xai_stream_usage_counts_reasoning_in_output_tokens():
    async with compat_provider() as (fake, provider):
        fake.enqueue(xai_script(text=TEXT, thinking=THINKING))
        parts = await collect(provider)
    assert [p for p in parts if isinstance(p, UsagePart)] == [XAI_USAGE]
    assert parts[-1] == Finish("stop")


async def test_xai_non_streamed_usage_counts_reasoning_in_output_tokens():
    async with compat_provider() as (fake, provider):
        fake.enqueue(xai_script(text=TEXT))
        text, usage = await provider.complete(request())
    assert (text, usage) == (TEXT, XAI_USAGE)


# --- Mistral thinking parts ------------------------------------------------------------------


def split_parts(parts: list) -> tuple[str, str, list[type]]:
    """(thinking, text, the order of thinking and text parts without repeats)."""
    thinking = "".join(p.text for p in parts if isinstance(p, ThinkingDelta))
    text = "".join(p.text for p in parts if isinstance(p, TextDelta))
    order: list[type] = []
    for p in parts:
        if type(p) in (ThinkingDelta, TextDelta) and (not order or order[-1] is not type(p)):
            order.append(type(p))
    return thinking, text, order


@pytest.mark.parametrize("chunk_size", [4, 100], ids=["pieces", "one-list-with-both"])
async def test_mistral_thinking_parts_stream_as_thinking_then_text(chunk_size):
    async with compat_provider() as (fake, provider):
        fake.enqueue(Script(quirk="mistral", text=TEXT, thinking=THINKING, chunk_size=chunk_size))
        parts = await collect(provider)
    assert split_parts(parts) == (THINKING, TEXT, [ThinkingDelta, TextDelta])
    assert parts[-1] == Finish("stop")


async def test_mistral_thinking_without_text_is_still_thinking():
    async with compat_provider() as (fake, provider):
        fake.enqueue(Script(quirk="mistral", text="", thinking=THINKING, finish_reason="length"))
        parts = await collect(provider)
    assert split_parts(parts) == (THINKING, "", [ThinkingDelta])
    assert parts[-1] == Finish("length")


async def test_mistral_non_streamed_complete_keeps_only_the_text():
    """Titles use complete(): the thinking part must not leak into the title."""
    async with compat_provider() as (fake, provider):
        fake.enqueue(Script(quirk="mistral", text=TEXT, thinking=THINKING))
        text, _ = await provider.complete(request())
    assert text == TEXT


# --- end to end --------------------------------------------------------------------------------


async def test_xai_usage_and_mistral_thinking_through_a_turn(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        # (a) xAI: outputTokens = completion + reasoning, and the cost is priced on it.
        env.fake.enqueue(xai_script(text=TEXT, thinking=THINKING))
        xai = (await env.send("What is six times seven?"))["assistantMessageId"]
        stored = (await env.settled(xai))["usage"]
        recorded = next(e for e in env.events_of(xai) if e["type"] == "usage.recorded")["usage"]
        expected_cost = (
            800 * PRICING["input"] + 200 * PRICING["cacheRead"] + 400 * PRICING["output"]
        ) / 1e6
        for usage in (stored, recorded):
            assert (usage["inputTokens"], usage["outputTokens"], usage["reasoningTokens"]) == (
                1000,
                400,
                300,
            )
            assert usage["costUsd"] == pytest.approx(expected_cost)

        # (b) Mistral: thinking parts are agent.thinking.* events and the message's thinking.
        env.fake.enqueue(Script(quirk="mistral", text=TEXT, thinking=THINKING, chunk_size=6))
        mistral = (await env.send("And again?"))["assistantMessageId"]
        final = await env.settled(mistral)
        events = env.events_of(mistral)
        kinds = [e["type"] for e in events]
        thought = "".join(e["text"] for e in events if e["type"] == "agent.thinking.delta")
        assert thought == final["thinking"] == THINKING
        assert final["content"] == TEXT and final["status"] == "complete"
        assert kinds.count("agent.thinking.started") == kinds.count("agent.thinking.completed") == 1
        assert kinds.index("agent.thinking.completed") < kinds.index("assistant.stream.delta")
        assert (await env.stored(mistral))["thinking"] == THINKING


# --- llama.cpp without --jinja ----------------------------------------------------------


async def test_llamacpp_without_jinja_refuses_tools_once_and_says_how_to_fix_it(tmp_path):
    """llama-server started without --jinja answers a request with `tools` by a 500; that is
    a refusal no retry changes, so the reply fails at once, saying what to do."""
    async with chat_env(tmp_path, "openai-compatible") as env:
        env.fake.enqueue(Script(quirk="llamacpp", text="unused"))
        mid = (await env.send("What time is it?", tools=["calculate"]))["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "failed"
        assert final["error"]["code"] == "bad_request" and not final["error"]["retryable"]
        assert final["error"]["httpStatus"] == 500
        assert "requires --jinja flag" in final["error"]["message"]
        assert "start llama-server with --jinja" in final["error"]["message"]
        assert len(env.fake.requests) == 1, "not retried"
        assert not any(e["type"] == "assistant.stream.retrying" for e in env.events_of(mid))

        env.fake.enqueue(Script(quirk="llamacpp", text="It is noon."))
        plain = await env.settled((await env.send("Without tools, then"))["assistantMessageId"])
        assert plain["status"] == "complete" and plain["content"] == "It is noon."
