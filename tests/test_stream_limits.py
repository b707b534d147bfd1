"""Streams that never end and lines without end, against the fake providers over real HTTP
(SSE, and Ollama's newline-delimited JSON).

Progress is counted in reply parts (text, thinking, tool calls), not bytes: keep-alive
comments and contentless events do not keep a reply alive past the idle timeout. Every
call has a total deadline, one SSE line or event has a size cap, and a redirect or a web
page in the API's place is refused at once. The limits are short (idle 0.5 s, deadlines of
1-2 s) and each test waits for the outcome under a generous guard, so a slow machine
changes how long a test takes, not what it sees.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from sidecar.dev.fakes import PROXY_SECRET, FakeProvider, Script
from sidecar.providers import (
    ChatMessage,
    ChatRequest,
    Finish,
    Part,
    Provider,
    ProviderConfig,
    ProviderError,
    Retrying,
    TextDelta,
    create_provider,
)
from tests.chat_env import chat_env
from tests.test_chat import assert_lifecycle

TEXT = "The quick brown fox jumps over the lazy dog, twice."
GUARD = 30.0  # seconds; only a reply that never ends (the defect) takes this long
KEY = "sk-test-LIMITS-key-0123456789abcdef"
MIB = 1024 * 1024


@asynccontextmanager
async def provider_for(kind: str, **config: Any) -> AsyncIterator[tuple[FakeProvider, Provider]]:
    config.setdefault("api", "chat")
    if kind == "responses":  # OpenAI's Responses API, on the openai fake
        kind, config["api"] = "openai", "responses"
    async with FakeProvider(kind, api_key=KEY) as fake, httpx.AsyncClient() as http:
        cfg = ProviderConfig(id="p", kind=kind, base_url=fake.base_url, api_key=KEY, **config)  # type: ignore[arg-type]
        yield fake, create_provider(cfg, http)


# a model each fake takes (a fake Ollama refuses a model it has not pulled)
MODELS = {"ollama": "llama3.2"}


def request(model: str = "m") -> ChatRequest:
    return ChatRequest(model=model, messages=[ChatMessage(role="user", content="hi")])


async def outcome(provider: Provider) -> tuple[list[Part], ProviderError | None]:
    """Every part of one streamed call and the error it ended with (None: it finished)."""
    parts: list[Part] = []

    async def run() -> None:
        async for part in provider.stream(request(MODELS.get(provider.config.kind, "m"))):
            parts.append(part)

    try:
        await asyncio.wait_for(run(), GUARD)
    except ProviderError as exc:
        return parts, exc
    return parts, None


def text_of(parts: list[Part]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextDelta))


def assert_safe(err: ProviderError) -> None:
    for text in (err.message, str(err), repr(err)):
        assert KEY not in text and PROXY_SECRET not in text


# --- progress is counted in parts ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic", "responses", "ollama"])
@pytest.mark.parametrize("fault", ["keepalive_only", "trickle"])
async def test_an_upstream_that_sends_no_parts_after_words_times_out_keeping_them(kind, fault):
    script = Script(text=TEXT, chunk_size=5, fault=fault, fault_after=3, keepalive_interval=0.02)
    async with provider_for(kind, idle_timeout=0.5) as (fake, provider):
        fake.enqueue(script)
        parts, err = await outcome(provider)
    assert err is not None and err.code == "timeout", err
    assert "no reply content" in err.message and "0.5 s" in err.message
    assert text_of(parts) == TEXT[:15]  # every word streamed before the silence
    assert len(fake.requests) == 1 and not any(isinstance(p, Retrying) for p in parts)
    assert_safe(err)


async def test_a_keepalive_only_upstream_before_words_is_retried():
    async with provider_for("openai", idle_timeout=0.5) as (fake, provider):
        fake.enqueue(Script(text="lost", fault="keepalive_only"), Script(text="ok"))
        parts, err = await outcome(provider)
    assert err is None
    assert [p.reason for p in parts if isinstance(p, Retrying)] == ["timeout"]
    assert text_of(parts) == "ok" and parts[-1] == Finish("stop")


async def test_parts_keep_a_slow_reply_alive_past_the_idle_timeout():
    # 11 fragments 0.2 s apart: 2 s in all, each gap well under the 1 s idle timeout.
    async with provider_for("anthropic", idle_timeout=1.0) as (fake, provider):
        fake.enqueue(Script(text=TEXT, chunk_size=5, rate=5))
        parts, err = await outcome(provider)
    assert err is None and text_of(parts) == TEXT


# --- the total deadline --------------------------------------------------------------------


async def test_the_deadline_ends_a_reply_that_streams_on_keeping_its_words():
    long = "word " * 100  # 100 fragments at 10 a second: 10 s, past the 1.5 s deadline
    async with provider_for("openai", idle_timeout=5.0, total_timeout=1.5) as (fake, provider):
        fake.enqueue(Script(text=long, chunk_size=5, rate=10))
        parts, err = await outcome(provider)
    assert err is not None and err.code == "timeout" and not err.retryable, err
    assert "1.5 s" in err.message
    text = text_of(parts)
    assert text and long.startswith(text) and text != long
    assert len(fake.requests) == 1


async def test_the_deadline_stops_retries_that_would_outlast_it():
    async with provider_for("openai", total_timeout=2.0) as (fake, provider):
        fake.enqueue(*[Script(fault="http_503", retry_after=30)] * 3)
        parts, err = await outcome(provider)
    assert err is not None and err.code == "server_error" and err.http_status == 503
    assert parts == [] and len(fake.requests) == 1  # a 30 s wait would end past the deadline


async def test_the_deadline_bounds_a_non_streamed_call():
    # Whitespace (valid before a JSON body) every 20 ms: the byte-level timeout never trips.
    async with provider_for("openai", idle_timeout=0.5, total_timeout=1.0) as (fake, provider):
        fake.enqueue(Script(fault="trickle", keepalive_interval=0.02))
        with pytest.raises(ProviderError) as info:
            await asyncio.wait_for(provider.complete(request()), GUARD)
    assert info.value.code == "timeout" and "1 s" in info.value.message
    assert len(fake.requests) == 1


# --- one line or event is capped -----------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic", "responses", "ollama"])
async def test_a_huge_line_fails_the_reply_without_being_held_in_memory(kind):
    script = Script(
        text=TEXT, chunk_size=5, fault="huge_line", fault_after=1, huge_line_bytes=32 * MIB
    )
    async with provider_for(kind, max_event_bytes=MIB) as (fake, provider):
        fake.enqueue(script)
        tracemalloc.start()
        try:
            parts, err = await outcome(provider)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert err is not None and err.code == "invalid_response" and not err.retryable, err
    assert "1 MiB" in err.message
    assert text_of(parts) == TEXT[:5] and len(fake.requests) == 1
    assert peak < 8 * MIB, f"peak {peak / MIB:.1f} MiB for a 1 MiB cap"  # fake and client together


async def test_the_default_cap_is_8_mib_and_a_line_under_it_passes():
    async with provider_for("openai") as (fake, provider):
        fake.enqueue(
            Script(text=TEXT, chunk_size=5, fault="huge_line", huge_line_bytes=7 * MIB),
            Script(text=TEXT, chunk_size=5, fault="huge_line", huge_line_bytes=9 * MIB),
        )
        parts, err = await outcome(provider)
        assert err is None and len(text_of(parts)) == len(TEXT) + 7 * MIB
        parts, err = await outcome(provider)
    assert err is not None and err.code == "invalid_response" and "8 MiB" in err.message
    assert text_of(parts) == "" and len(fake.requests) == 2


# --- a redirect or a web page is not an event stream ---------------------------------------


@pytest.mark.parametrize(("fault", "status"), [("redirect", 302), ("html", 200)])
@pytest.mark.parametrize("call", ["stream", "complete"])
async def test_a_proxy_answer_is_an_invalid_response_not_retried(fault, status, call):
    async with provider_for("openai", max_retries=2) as (fake, provider):
        fake.enqueue(Script(fault=fault))
        if call == "stream":
            parts, err = await outcome(provider)
            assert parts == []
        else:
            with pytest.raises(ProviderError) as info:
                await asyncio.wait_for(provider.complete(request()), GUARD)
            err = info.value
    assert err is not None and err.code == "invalid_response" and not err.retryable, err
    assert err.http_status == status
    assert f"HTTP {status}" in err.message and "text/html" in err.message
    assert "login.corp.example" not in err.message and "<" not in err.message
    assert len(fake.requests) == 1
    assert_safe(err)


# --- end to end: a real sidecar turn -------------------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_a_keepalive_only_upstream_fails_the_reply_with_timeout_keeping_its_words(
    tmp_path, kind
):
    async with chat_env(tmp_path, kind, idle_timeout=0.5) as env:
        env.fake.enqueue(Script(text=TEXT, chunk_size=5, fault="keepalive_only", fault_after=3))
        mid = (await env.send("Go"))["assistantMessageId"]
        final = await env.settled(mid, timeout=GUARD)
        events = env.events_of(mid)
        deltas = assert_lifecycle(events, mid, "assistant.stream.failed")
        assert final["status"] == "failed" and final["error"]["code"] == "timeout"
        assert final["content"] == TEXT[:15] and 1 <= len(deltas) <= 3
        assert not any(e["type"] == "assistant.stream.retrying" for e in events)
        assert (await env.stored(mid))["content"] == TEXT[:15]
        assert len(env.fake.requests) == 1


async def test_the_total_timeout_is_configured_per_provider(tmp_path):
    async with chat_env(tmp_path, "deepseek") as env:
        listed = await env.client.request("providers.list", {})
        assert {p["totalTimeoutSeconds"] for p in listed["providers"]} == {600.0}
        got = await env.client.request(
            "providers.configure", {"id": env.provider_id, "totalTimeoutSeconds": 1.5}
        )
        assert got["provider"]["totalTimeoutSeconds"] == 1.5
        long = "word " * 100  # 10 s at 10 fragments a second
        env.fake.enqueue(Script(text=long, chunk_size=5, rate=10))
        mid = (await env.send("Go"))["assistantMessageId"]
        final = await env.settled(mid, timeout=GUARD)
        assert final["status"] == "failed" and final["error"]["code"] == "timeout"
        assert final["content"] and long.startswith(final["content"])
