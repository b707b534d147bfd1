"""The fake provider servers, checked byte by byte over real sockets (raw httpx and sockets)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sidecar.dev.fakes import PROXY_SECRET, FakeProvider, Script, ToolCallScript, Usage

ROOT = Path(__file__).resolve().parent.parent
USER = [{"role": "user", "content": "Say hello"}]
ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-test"}


# --- helpers -----------------------------------------------------------------------


def chat_url(fake: FakeProvider) -> str:
    if fake.kind == "anthropic":
        return f"{fake.base_url}/v1/messages"
    return f"{fake.base_url}/chat/completions"


async def post(
    fake: FakeProvider,
    *,
    stream: bool = True,
    include_usage: bool = True,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
    **extra,
) -> httpx.Response:
    body = {"model": "test-model", "messages": USER, "stream": stream, **extra}
    if stream and include_usage and fake.kind != "anthropic":
        body["stream_options"] = {"include_usage": True}
    if headers is None:
        headers = ANTHROPIC_HEADERS if fake.kind == "anthropic" else {}
    async with httpx.AsyncClient(timeout=timeout) as client:
        return await client.post(chat_url(fake), json=body, headers=headers)


def blocks(raw: str) -> list[str]:
    """The SSE events of a body, checking each ends with a blank line."""
    assert raw.endswith("\n\n"), raw[-80:]
    return raw[:-2].split("\n\n")


def data_chunks(raw: str) -> list[dict]:
    """OpenAI-style: the JSON of every data: line (comments skipped), checking [DONE] ends it."""
    events = [b for b in blocks(raw) if not b.startswith(":")]
    assert events[-1] == "data: [DONE]"
    out = []
    for event in events[:-1]:
        assert event.startswith("data: ") and "\n" not in event, event
        out.append(json.loads(event[len("data: ") :]))
    return out


def named_events(raw: str) -> list[tuple[str, dict]]:
    """Anthropic: (event name, data) pairs, checking the data's type repeats the name."""
    out = []
    for block in blocks(raw):
        name_line, data_line = block.split("\n")
        assert name_line.startswith("event: ") and data_line.startswith("data: "), block
        name, data = name_line[len("event: ") :], json.loads(data_line[len("data: ") :])
        assert data["type"] == name
        out.append((name, data))
    return out


def deltas(chunks: list[dict]) -> list[dict]:
    return [c["choices"][0]["delta"] for c in chunks if c.get("choices")]


def text_of(chunks: list[dict]) -> str:
    return "".join(d.get("content") or "" for d in deltas(chunks))


@pytest.fixture
async def openai_fake():
    async with FakeProvider("openai") as fake:
        yield fake


@pytest.fixture
async def anthropic_fake():
    async with FakeProvider("anthropic") as fake:
        yield fake


# --- OpenAI --------------------------------------------------------------------------


async def test_base_urls_have_the_sidecar_forms():
    async with FakeProvider("openai") as a, FakeProvider("anthropic") as b:
        assert a.base_url == f"http://127.0.0.1:{a.port}/v1"
        assert b.base_url == f"http://127.0.0.1:{b.port}"


async def test_openai_stream_framing_and_usage_chunk(openai_fake):
    openai_fake.enqueue(
        Script(text="Hello there, world!", chunk_size=6, usage=Usage(30, 4, 10, 0, 2))
    )
    r = await post(openai_fake)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["x-request-id"].startswith("req_")
    assert "event:" not in r.text
    chunks = data_chunks(r.text)
    first, *middle, finish, usage = chunks
    for c in chunks:
        assert c["id"] == first["id"] and c["id"].startswith("chatcmpl-")
        assert c["object"] == "chat.completion.chunk"
        assert c["model"] == "test-model"
        assert isinstance(c["created"], int) and c["system_fingerprint"].startswith("fp_")
    assert first["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    assert [c["choices"][0]["delta"] for c in middle] == [
        {"content": "Hello "},
        {"content": "there,"},
        {"content": " world"},
        {"content": "!"},
    ]
    assert all(c["usage"] is None for c in [first, *middle, finish])
    assert finish["choices"][0]["delta"] == {} and finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == []
    assert usage["usage"] == {
        "prompt_tokens": 30,
        "completion_tokens": 4,
        "total_tokens": 34,
        "prompt_tokens_details": {"cached_tokens": 10, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 2,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


async def test_openai_without_include_usage_has_no_usage_at_all(openai_fake):
    r = await post(openai_fake, include_usage=False)
    chunks = data_chunks(r.text)
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_openai_parallel_tool_calls(openai_fake):
    openai_fake.enqueue(
        Script(
            text="",
            chunk_size=5,
            tool_calls=[
                ToolCallScript("call_a", "get_weather", '{"city": "Paris"}'),
                ToolCallScript("call_b", "get_time", '{"tz": "UTC"}'),
            ],
        )
    )
    chunks = data_chunks((await post(openai_fake)).text)
    tool_deltas = [d["tool_calls"] for d in deltas(chunks) if "tool_calls" in d]
    assert all(len(t) == 1 for t in tool_deltas)
    fragments = [t[0] for t in tool_deltas]
    assert fragments[0] == {
        "index": 0,
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    starts = [f for f in fragments if "id" in f]
    assert [(s["index"], s["id"], s["function"]["name"]) for s in starts] == [
        (0, "call_a", "get_weather"),
        (1, "call_b", "get_time"),
    ]
    later = [f for f in fragments if "id" not in f]
    assert all(
        set(f) == {"index", "function"} and set(f["function"]) == {"arguments"} for f in later
    )
    args = {0: "", 1: ""}
    for f in fragments:
        args[f["index"]] += f["function"]["arguments"]
    assert args == {0: '{"city": "Paris"}', 1: '{"tz": "UTC"}'}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_openai_ignores_thinking(openai_fake):
    openai_fake.enqueue(Script(text="Hi", thinking="secret reasoning"))
    r = await post(openai_fake)
    assert "secret" not in r.text and "reasoning_content" not in r.text
    assert text_of(data_chunks(r.text)) == "Hi"


async def test_openai_non_streamed_completion(openai_fake):
    openai_fake.enqueue(Script(text="A short title", usage=Usage(50, 3)))
    r = await post(openai_fake, stream=False)
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "test-model"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"] == "A short title"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 50 and body["usage"]["completion_tokens"] == 3


async def test_explicit_chunks_and_finish_reason(openai_fake):
    openai_fake.enqueue(Script(chunks=["a", "bc", "def"], finish_reason="length"))
    chunks = data_chunks((await post(openai_fake)).text)
    assert [d.get("content") for d in deltas(chunks)[1:-1]] == ["a", "bc", "def"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_computed_usage(openai_fake):
    openai_fake.enqueue(Script(text="x" * 20, chunk_size=5))
    prompt = "p" * 400
    async with httpx.AsyncClient() as client:
        r = await client.post(
            chat_url(openai_fake),
            json={
                "model": "m",
                "stream": True,
                "stream_options": {"include_usage": True},
                "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
            },
        )
    usage = data_chunks(r.text)[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (100, 4)
    r = await post(openai_fake)  # "Say hello" is 9 characters: 9 // 4 = 2
    assert data_chunks(r.text)[-1]["usage"]["prompt_tokens"] == 2


# --- DeepSeek ------------------------------------------------------------------------


async def test_deepseek_reasoning_usage_on_finish_and_keepalives():
    async with FakeProvider("deepseek") as fake:
        fake.enqueue(
            Script(
                text="Answer.",
                thinking="Thinking hard",
                chunk_size=5,
                keepalive=3,
                usage=Usage(100, 20, cached_tokens=64, reasoning_tokens=12),
            )
        )
        r = await post(fake)
    assert r.text.startswith(": keep-alive\n\n: keep-alive\n\n: keep-alive\n\ndata: {")
    chunks = data_chunks(r.text)
    assert all("usage" in c for c in chunks)
    *body, finish = chunks
    assert all(c["usage"] is None for c in body)
    assert body[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "content": None,
        "reasoning_content": "",
    }
    reasoning = [d for d in deltas(body) if d.get("reasoning_content")]
    assert all(d["content"] is None for d in reasoning)
    assert "".join(d["reasoning_content"] for d in reasoning) == "Thinking hard"
    kinds = ["r" if d.get("reasoning_content") else "c" for d in deltas(body)[1:]]
    assert kinds == sorted(kinds, reverse=True)  # all reasoning before any content
    assert text_of(body) == "Answer."
    assert finish["choices"][0]["finish_reason"] == "stop"  # usage rides on the finish chunk
    assert finish["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 64},
        "completion_tokens_details": {"reasoning_tokens": 12},
        "prompt_cache_hit_tokens": 64,
        "prompt_cache_miss_tokens": 36,
    }


async def test_deepseek_without_include_usage_still_sends_usage_null():
    async with FakeProvider("deepseek") as fake:
        chunks = data_chunks((await post(fake, include_usage=False)).text)
    assert all(c["usage"] is None for c in chunks)


async def test_keepalive_interval_spaces_the_comments(openai_fake):
    openai_fake.enqueue(Script(keepalive=3, keepalive_interval=0.1))
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST", chat_url(openai_fake), json={"model": "m", "messages": USER, "stream": True}
        ) as r,
    ):
        seen = []
        async for line in r.aiter_lines():
            seen.append((line, time.monotonic()))
    comments = [t for line, t in seen if line == ": keep-alive"]
    first_data = next(t for line, t in seen if line.startswith("data:"))
    assert len(comments) == 3
    assert first_data - comments[0] >= 0.25


# --- Anthropic -----------------------------------------------------------------------


async def test_anthropic_event_sequence(anthropic_fake):
    anthropic_fake.enqueue(
        Script(
            text="Sunny.",
            thinking="Check the weather",
            chunk_size=6,
            tool_calls=[ToolCallScript("toolu_01abc", "get_weather", '{"city":"Paris"}')],
            usage=Usage(
                input_tokens=100, output_tokens=30, cached_tokens=60, cache_write_tokens=15
            ),
        )
    )
    r = await post(anthropic_fake, system="be brief", max_tokens=100)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["request-id"].startswith("req_")
    events = named_events(r.text)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",  # signature
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",  # partial_json ""
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"].startswith("msg_") and start["model"] == "test-model"
    assert (start["type"], start["role"], start["content"]) == ("message", "assistant", [])
    assert start["stop_reason"] is None and start["stop_sequence"] is None
    assert start["usage"] == {
        "input_tokens": 25,
        "cache_creation_input_tokens": 15,
        "cache_read_input_tokens": 60,
        "output_tokens": 1,
    }
    data = [d for _, d in events]
    assert data[2]["content_block"] == {"type": "thinking", "thinking": "", "signature": ""}
    assert "".join(d["delta"]["thinking"] for d in data[3:6]) == "Check the weather"
    assert data[6]["delta"]["type"] == "signature_delta" and data[6]["delta"]["signature"]
    assert data[8] == {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "text", "text": ""},
    }
    assert data[9]["delta"] == {"type": "text_delta", "text": "Sunny."}
    assert data[11]["content_block"] == {
        "type": "tool_use",
        "id": "toolu_01abc",
        "name": "get_weather",
        "input": {},
    }
    partial = [d["delta"]["partial_json"] for d in data[12:16]]
    assert partial[0] == "" and "".join(partial) == '{"city":"Paris"}'
    assert all(d["delta"]["type"] == "input_json_delta" and d["index"] == 2 for d in data[12:16])
    assert data[17] == {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 30},
    }
    body = anthropic_fake.requests[-1].body
    assert body["system"] == "be brief"


async def test_anthropic_non_streamed_message(anthropic_fake):
    anthropic_fake.enqueue(
        Script(
            text="Title here", thinking="hm", tool_calls=[ToolCallScript("toolu_1", "f", '{"a":1}')]
        )
    )
    r = await post(anthropic_fake, stream=False)
    body = r.json()
    assert body["type"] == "message" and body["stop_reason"] == "tool_use"
    assert [b["type"] for b in body["content"]] == ["thinking", "text", "tool_use"]
    assert body["content"][2]["input"] == {"a": 1}
    assert set(body["usage"]) == {
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
        "output_tokens",
    }


async def test_anthropic_requires_the_version_header(anthropic_fake):
    r = await post(anthropic_fake, headers={"x-api-key": "k"})
    assert r.status_code == 400
    body = r.json()
    assert body["type"] == "error"
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "anthropic-version: header is required",
    }
    assert body["request_id"] == r.headers["request-id"]
    assert anthropic_fake.requests[-1].path == "/v1/messages"


# --- split writes, rate, keep-alive connections ------------------------------------------


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_split_writes_arrive_in_pieces_and_still_parse(kind):
    async with FakeProvider(kind) as fake:
        script = Script(text="héllo wörld, ça va?", chunk_size=4, thinking="ünïcode")
        fake.enqueue(script)
        whole = (await post(fake)).text
        fake.enqueue(Script(**{**script.__dict__, "split_writes": True}))
        async with (
            httpx.AsyncClient() as client,
            client.stream(
                "POST",
                chat_url(fake),
                json={"model": "test-model", "messages": USER, "stream": True},
                headers=ANTHROPIC_HEADERS if kind == "anthropic" else {},
            ) as r,
        ):
            pieces = [p async for p in r.aiter_raw()]
    raw = b"".join(pieces)
    assert any(not p.endswith(b"\n\n") for p in pieces)
    assert any(p.endswith(b"\n") and not p.endswith(b"\n\n") for p in pieces)

    def undecodable(piece: bytes) -> bool:
        try:
            piece.decode()
        except UnicodeDecodeError:
            return True
        return False

    assert any(undecodable(p) for p in pieces)
    if kind == "anthropic":
        strip = lambda events: [(n, d["type"], d.get("delta")) for n, d in events]  # noqa: E731
        assert strip(named_events(raw.decode())) == strip(named_events(whole))
    else:
        assert deltas(data_chunks(raw.decode())) == deltas(data_chunks(whole))


async def test_rate_paces_the_chunks(openai_fake):
    openai_fake.enqueue(Script(text="abcdef", chunk_size=1, rate=50))
    started = time.monotonic()
    r = await post(openai_fake)
    assert time.monotonic() - started >= 5 / 50 * 0.9
    assert text_of(data_chunks(r.text)) == "abcdef"


async def test_provider_rate_applies_to_scripts_without_one():
    async with FakeProvider("openai", rate=40) as fake:
        fake.enqueue(Script(text="abcde", chunk_size=1))
        started = time.monotonic()
        await post(fake)
        assert time.monotonic() - started >= 4 / 40 * 0.9


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return head, await reader.readexactly(length)


async def test_keep_alive_serves_several_requests_on_one_connection(openai_fake):
    reader, writer = await asyncio.open_connection("127.0.0.1", openai_fake.port)
    body = json.dumps({"model": "m", "messages": USER}).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    for _ in range(3):
        writer.write(request)
        await writer.drain()
        head, payload = await _read_response(reader)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert json.loads(payload)["choices"][0]["message"]["content"] == "You said: Say hello"
    writer.close()
    assert len(openai_fake.requests) == 3


async def test_streams_use_chunked_encoding_on_the_wire(openai_fake):
    reader, writer = await asyncio.open_connection("127.0.0.1", openai_fake.port)
    body = json.dumps({"model": "m", "messages": USER, "stream": True}).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    raw = await reader.read(-1)
    writer.close()
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert rest.endswith(b"0\r\n\r\n")
    size, _, chunk = rest.partition(b"\r\n")
    assert chunk[: int(size, 16)].startswith(b"data: {")


# --- quirks ------------------------------------------------------------------------------


async def quirk_chunks(quirk: str, **script) -> tuple[str, list[dict]]:
    async with FakeProvider("openai-compatible") as fake:
        fake.enqueue(Script(quirk=quirk, **script))
        r = await post(fake)
    return r.text, data_chunks(r.text)


TOOLS = [
    ToolCallScript("call_1", "search", '{"query": "fake servers"}'),
    ToolCallScript("call_2", "open", '{"url": "http://x"}'),
]


async def test_quirk_ollama():
    _, chunks = await quirk_chunks(
        "ollama", text="Hi there", thinking="Hmm, let me think", tool_calls=TOOLS
    )
    ds = deltas(chunks)
    assert all(d["role"] == "assistant" for d in ds)
    reasoning = [d for d in ds if "reasoning" in d]
    assert "".join(d["reasoning"] for d in reasoning) == "Hmm, let me think"
    assert all(d["tool_calls"] == [] for d in reasoning)
    assert "reasoning_content" not in json.dumps(chunks)
    with_calls = [d for d in ds if d.get("tool_calls")]
    assert len(with_calls) == 1  # every call whole, in one chunk
    assert with_calls[0]["tool_calls"] == [
        {
            "id": "call_1",
            "index": 0,
            "type": "function",
            "function": {"name": "search", "arguments": '{"query": "fake servers"}'},
        },
        {
            "id": "call_2",
            "index": 1,
            "type": "function",
            "function": {"name": "open", "arguments": '{"url": "http://x"}'},
        },
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"


async def test_quirk_vllm():
    _, chunks = await quirk_chunks("vllm", text="", thinking="Reasoning", tool_calls=TOOLS[:1])
    usage_chunk = chunks[-1]
    assert usage_chunk["choices"] is None and usage_chunk["usage"]["prompt_tokens"] > 0
    ds = deltas(chunks)
    reasoning = [d for d in ds if "reasoning_content" in d]
    assert reasoning and all(d["tool_calls"] == [] and "content" not in d for d in reasoning)
    fragments = [d["tool_calls"][0] for d in ds if d.get("tool_calls")]
    assert fragments[0]["function"]["name"] == "search"
    assert all(f["function"]["name"] is None for f in fragments[1:])
    assert "".join(f["function"]["arguments"] for f in fragments) == '{"query": "fake servers"}'


async def test_quirk_lmstudio():
    _, chunks = await quirk_chunks("lmstudio", tool_calls=TOOLS[:1])
    fragments = [d["tool_calls"][0] for d in deltas(chunks) if d.get("tool_calls")]
    assert fragments[0]["function"]["name"] == "search"
    assert len(fragments) > 2 and all(f["function"]["name"] == "" for f in fragments[1:])


async def test_quirk_openrouter_comments_and_error_with_http_200():
    raw, chunks = await quirk_chunks("openrouter", text="abcdefgh", chunk_size=2)
    assert raw.startswith(": OPENROUTER PROCESSING\n\ndata: {")
    events = blocks(raw)
    assert events.count(": OPENROUTER PROCESSING") >= 4
    assert text_of(chunks) == "abcdefgh"
    async with FakeProvider("openai-compatible") as fake:
        fake.enqueue(Script(quirk="openrouter", fault="error_event", fault_after=1, chunk_size=2))
        r = await post(fake)
    assert r.status_code == 200
    last = json.loads(blocks(r.text)[-1][len("data: ") :])
    assert last["error"]["message"] and last["error"]["code"] == 502
    assert "[DONE]" not in r.text


async def test_quirk_think_tags():
    _, chunks = await quirk_chunks(
        "think_tags", text="The answer.", thinking="Let me reason.", chunk_size=4
    )
    pieces = [d.get("content") or "" for d in deltas(chunks)]
    assert "".join(pieces) == "<think>Let me reason.</think>The answer."
    assert not any("<think>" in p or "</think>" in p for p in pieces)  # tags split across chunks
    assert all(set(d) <= {"role", "content", "refusal"} for d in deltas(chunks))


async def test_compatible_without_quirk_is_plain_openai():
    async with FakeProvider("openai-compatible") as fake:
        r = await post(fake)
    chunks = data_chunks(r.text)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert chunks[-1]["choices"] == [] and "usage" in chunks[-1]


def test_quirks_only_for_openai_compatible():
    fake = FakeProvider("openai")
    with pytest.raises(ValueError, match="quirk"):
        fake.enqueue(Script(quirk="ollama"))
    with pytest.raises(ValueError, match="unknown quirk"):
        Script(quirk="nope")
    with pytest.raises(ValueError, match="unknown fault"):
        Script(fault="nope")
    with pytest.raises(ValueError, match="kind"):
        FakeProvider("gemini")


# --- HTTP faults -------------------------------------------------------------------------

OPENAI_401 = {
    "error": {
        "message": "Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
}


@pytest.mark.parametrize(
    ("kind", "fault", "status", "error_type", "code"),
    [
        ("openai", "http_400_context", 400, "invalid_request_error", "context_length_exceeded"),
        ("openai", "http_401", 401, "invalid_request_error", "invalid_api_key"),
        ("openai", "http_429", 429, "requests", "rate_limit_exceeded"),
        ("openai", "http_429_quota", 429, "insufficient_quota", "insufficient_quota"),
        ("openai", "http_500", 500, "server_error", None),
        ("openai", "http_503", 503, "server_error", None),
        ("deepseek", "http_401", 401, "authentication_error", "invalid_request_error"),
        ("deepseek", "http_402", 402, "unknown_error", "invalid_request_error"),
        ("openai-compatible", "http_404", 404, "invalid_request_error", "model_not_found"),
        ("anthropic", "http_400_context", 400, "invalid_request_error", None),
        ("anthropic", "http_401", 401, "authentication_error", None),
        ("anthropic", "http_402", 402, "billing_error", None),
        ("anthropic", "http_403", 403, "permission_error", None),
        ("anthropic", "http_429", 429, "rate_limit_error", None),
        ("anthropic", "http_500", 500, "api_error", None),
        ("anthropic", "http_529", 529, "overloaded_error", None),
    ],
)
async def test_http_faults(kind, fault, status, error_type, code):
    async with FakeProvider(kind) as fake:
        fake.enqueue(Script(fault=fault))
        r = await post(fake)
        assert r.status_code == status
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        if kind == "anthropic":
            assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
            assert body["request_id"] == r.headers["request-id"]
            assert body["error"]["type"] == error_type and body["error"]["message"]
        else:
            assert set(body["error"]) == {"message", "type", "param", "code"}
            assert (body["error"]["type"], body["error"]["code"]) == (error_type, code)
            assert r.headers["x-request-id"].startswith("req_")
        # the fault was one response: the next request gets the echo
        assert (await post(fake, stream=False)).status_code == 200


async def test_openai_401_body_is_the_real_one(openai_fake):
    openai_fake.enqueue(Script(fault="http_401"))
    r = await post(openai_fake)
    assert r.json() == OPENAI_401


async def test_deepseek_402_body():
    async with FakeProvider("deepseek") as fake:
        fake.enqueue(Script(fault="http_402"))
        r = await post(fake)
    assert r.json() == {
        "error": {
            "message": "Insufficient Balance",
            "type": "unknown_error",
            "param": None,
            "code": "invalid_request_error",
        }
    }


async def test_rate_limit_headers(openai_fake, anthropic_fake):
    openai_fake.enqueue(Script(fault="http_429", retry_after=2))
    r = await post(openai_fake)
    assert r.headers["retry-after"] == "2"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.headers["x-ratelimit-reset-requests"] == "2s"
    anthropic_fake.enqueue(
        Script(fault="http_529", retry_after=1.5, headers={"x-should-retry": "true"})
    )
    r = await post(anthropic_fake)
    assert (r.status_code, r.headers["retry-after"], r.headers["x-should-retry"]) == (
        529,
        "1.5",
        "true",
    )
    assert r.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    anthropic_fake.enqueue(Script(fault="http_429"))
    r = await post(anthropic_fake)
    assert "retry-after" not in r.headers
    assert r.headers["anthropic-ratelimit-requests-remaining"] == "0"


async def test_extra_headers_on_streams(openai_fake):
    openai_fake.enqueue(Script(headers={"x-should-retry": "false", "openai-processing-ms": "12"}))
    r = await post(openai_fake)
    assert r.headers["x-should-retry"] == "false" and r.headers["openai-processing-ms"] == "12"


# --- mid-stream faults -------------------------------------------------------------------


async def test_openai_error_event(openai_fake):
    openai_fake.enqueue(Script(text="abcdefgh", chunk_size=2, fault="error_event", fault_after=2))
    r = await post(openai_fake)
    assert r.status_code == 200
    events = blocks(r.text)
    assert "[DONE]" not in r.text and 'finish_reason":"stop' not in r.text
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert text_of(chunks) == "abcd"
    assert json.loads(events[-1][6:]) == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


async def test_vllm_error_event():
    async with FakeProvider("openai-compatible") as fake:
        fake.enqueue(Script(quirk="vllm", fault="error_event"))
        r = await post(fake)
    error = json.loads(blocks(r.text)[-1][6:])
    assert error["object"] == "error" and error["message"]


async def test_anthropic_error_event(anthropic_fake):
    anthropic_fake.enqueue(
        Script(text="abcdefgh", chunk_size=2, fault="error_event", fault_after=1)
    )
    events = named_events((await post(anthropic_fake)).text)
    names = [n for n, _ in events]
    assert names[-1] == "error" and "message_stop" not in names and "message_delta" not in names
    assert events[-1][1] == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }
    assert [d["delta"]["text"] for n, d in events if n == "content_block_delta"] == ["ab"]


@pytest.mark.parametrize("kind", ["openai", "anthropic", "deepseek"])
async def test_drop_leaves_an_incomplete_body(kind):
    async with FakeProvider(kind) as fake:
        fake.enqueue(Script(text="abcdefgh", chunk_size=2, fault="drop", fault_after=2))
        got = bytearray()
        with pytest.raises(httpx.RemoteProtocolError):
            async with (
                httpx.AsyncClient(timeout=5) as client,
                client.stream(
                    "POST",
                    chat_url(fake),
                    json={"model": "m", "messages": USER, "stream": True},
                    headers=ANTHROPIC_HEADERS,
                ) as r,
            ):
                async for piece in r.aiter_raw():
                    got += piece
        assert b'"ab"' in got and b'"cd"' in got and b'"ef"' not in got
        assert not fake.disconnects  # the server closed it, not the client
        assert (await post(fake, stream=False)).status_code == 200  # still serving


async def test_stall_times_out_the_client_and_records_the_disconnect(openai_fake):
    openai_fake.enqueue(Script(text="abcdefgh", chunk_size=2, fault="stall", fault_after=1))
    got = []
    with pytest.raises(httpx.ReadTimeout):
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.3)) as client,
            client.stream(
                "POST", chat_url(openai_fake), json={"model": "m", "messages": USER, "stream": True}
            ) as r,
        ):
            async for line in r.aiter_lines():
                got.append(line)
    left = time.monotonic()
    assert text_of([json.loads(x[6:]) for x in got if x.startswith("data: {")]) == "ab"
    at = await openai_fake.wait_disconnect(2)
    assert at <= time.monotonic() and at - left < 1


async def test_no_finish_openai_and_anthropic(openai_fake, anthropic_fake):
    openai_fake.enqueue(Script(text="abc", fault="no_finish"))
    chunks = data_chunks((await post(openai_fake, include_usage=False)).text)  # ends with [DONE]
    assert text_of(chunks) == "abc"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    anthropic_fake.enqueue(Script(text="abc", fault="no_finish"))
    names = [n for n, _ in named_events((await post(anthropic_fake)).text)]
    assert names[-1] == "content_block_stop"
    assert "message_delta" not in names and "message_stop" not in names


async def test_non_streamed_faults(openai_fake, anthropic_fake):
    openai_fake.enqueue(Script(fault="error_event"), Script(fault="no_finish"))
    assert (await post(openai_fake, stream=False)).status_code == 500
    assert (await post(openai_fake, stream=False)).json()["choices"][0]["finish_reason"] is None
    anthropic_fake.enqueue(Script(fault="error_event"), Script(fault="drop"))
    assert (await post(anthropic_fake, stream=False)).status_code == 529
    with pytest.raises(httpx.RemoteProtocolError):
        await post(anthropic_fake, stream=False)


async def _read_until(fake: FakeProvider, done, *, stream: bool = True) -> tuple[int, bytes]:
    """POST a chat request and read raw body chunks until `done(chunks)`; then leave.
    Returns the status and the chunks read (a list)."""
    chunks: list[bytes] = []
    async with (
        httpx.AsyncClient(timeout=5) as client,
        client.stream(
            "POST",
            chat_url(fake),
            json={"model": "m", "messages": USER, "stream": stream},
            headers=ANTHROPIC_HEADERS,
        ) as r,
    ):
        async for piece in r.aiter_raw():
            chunks.append(piece)
            if done(chunks):
                break
    await fake.wait_disconnect(2)
    return r.status_code, chunks


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_keepalive_only_sends_comments_forever_after_the_words(kind):
    async with FakeProvider(kind) as fake:
        fake.enqueue(Script(text="abcdefgh", chunk_size=2, fault="keepalive_only", fault_after=2))
        _, chunks = await _read_until(fake, lambda c: b"".join(c).count(b": keep-alive") >= 5)
        body = b"".join(chunks).decode()
        head, _, rest = body.partition(": keep-alive\n\n")
        assert '"ab"' in head and '"cd"' in head and '"ef"' not in head
        assert rest.replace(": keep-alive\n\n", "") == ""  # nothing but comments after them
        assert 'finish_reason":"stop' not in body and "message_stop" not in body


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_trickle_sends_contentless_events_a_byte_at_a_time(kind):
    async with FakeProvider(kind) as fake:
        fake.enqueue(
            Script(text="abcdefgh", chunk_size=2, fault="trickle", keepalive_interval=0.003)
        )
        _, chunks = await _read_until(fake, lambda c: b"".join(c).count(b"\n\n") >= 4)
        body = b"".join(chunks).decode()
        events = blocks(body[: body.rindex("\n\n") + 2])
        idle = events[-1]  # the opening, then the same contentless event over and over
        assert events[-2] == idle and len(chunks) >= 10  # in small pieces
        data = json.loads(idle.split("data: ", 1)[1])
        if kind == "anthropic":
            assert data == {"type": "ping"}
        else:
            assert data["choices"][0]["delta"] == {"content": ""}
        assert '"ab"' not in body


async def test_trickle_on_a_non_streamed_request_sends_whitespace(openai_fake):
    openai_fake.enqueue(Script(fault="trickle", keepalive_interval=0.001))
    status, chunks = await _read_until(openai_fake, lambda c: len(c) >= 5, stream=False)
    assert status == 200 and set(b"".join(chunks)) == {ord(" ")}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_huge_line_grows_one_text_fragment_and_the_stream_goes_on(kind):
    async with FakeProvider(kind) as fake:
        fake.enqueue(
            Script(
                text="abcdef",
                chunk_size=2,
                fault="huge_line",
                fault_after=1,
                huge_line_bytes=300_000,
            )
        )
        body = (await post(fake, include_usage=False)).text
        if kind == "anthropic":
            texts = [
                d["delta"]["text"] for n, d in named_events(body) if n == "content_block_delta"
            ]
            assert named_events(body)[-1][0] == "message_stop"
        else:
            texts = [d["content"] for d in deltas(data_chunks(body)) if d.get("content")]
        assert texts == ["ab", "cd" + "x" * 300_000, "ef"]


@pytest.mark.parametrize("fault", ["redirect", "html"])
async def test_proxy_faults_answer_with_a_login_page(openai_fake, fault):
    openai_fake.enqueue(Script(fault=fault))
    r = await post(openai_fake)
    assert r.status_code == (302 if fault == "redirect" else 200)
    assert r.headers["content-type"].startswith("text/html")
    assert PROXY_SECRET in r.text and "<form" in r.text
    if fault == "redirect":
        assert PROXY_SECRET in r.headers["location"]
    assert (await post(openai_fake)).status_code == 200  # the next request is served again


# --- disconnects, recording, auth, routing ----------------------------------------------


async def test_client_disconnect_mid_stream_is_recorded(anthropic_fake):
    anthropic_fake.enqueue(Script(text="x" * 100, chunk_size=1, rate=50))
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST",
            chat_url(anthropic_fake),
            json={"model": "m", "messages": USER, "stream": True},
            headers=ANTHROPIC_HEADERS,
        ) as r,
    ):
        async for line in r.aiter_lines():
            if "text_delta" in line:
                break
        closed = time.monotonic()
    at = await anthropic_fake.wait_disconnect(2)
    assert closed - 0.05 <= at <= closed + 0.5
    assert anthropic_fake.disconnects == [at]
    with pytest.raises(TimeoutError):
        await anthropic_fake.wait_disconnect(0.1)
    assert (await post(anthropic_fake)).status_code == 200


async def test_requests_are_recorded(openai_fake):
    before = time.monotonic()
    await post(
        openai_fake, headers={"Authorization": "Bearer sk-x", "X-Custom": "1"}, temperature=0.5
    )
    [rec] = openai_fake.requests
    assert (rec.method, rec.path) == ("POST", "/v1/chat/completions")
    assert rec.headers["authorization"] == "Bearer sk-x" and rec.headers["x-custom"] == "1"
    assert rec.headers["content-type"] == "application/json"
    assert rec.body["temperature"] == 0.5 and rec.body["messages"] == USER
    assert before <= rec.received_at <= time.monotonic()


async def test_queue_default_and_echo():
    async with FakeProvider("openai", default=Script(text="default!")) as fake:
        fake.enqueue(Script(text="one"), Script(text="two"))
        got = [
            (await post(fake, stream=False)).json()["choices"][0]["message"]["content"]
            for _ in range(3)
        ]
        assert got == ["one", "two", "default!"]
    async with FakeProvider("anthropic") as fake:
        r = await post(fake, stream=False)
        assert r.json()["content"] == [{"type": "text", "text": "You said: Say hello"}]


@pytest.mark.parametrize("kind", ["openai", "deepseek", "anthropic"])
async def test_api_key_check(kind):
    async with FakeProvider(kind, api_key="sk-right") as fake:
        good = {"authorization": "Bearer sk-right"}
        bad = {"authorization": "Bearer sk-wrong"}
        if kind == "anthropic":
            good = {"x-api-key": "sk-right", "anthropic-version": "2023-06-01"}
            bad = {"x-api-key": "sk-wrong", "anthropic-version": "2023-06-01"}
        fake.enqueue(Script(text="ok"))
        for headers in (bad, {}):
            r = await post(fake, headers=headers)
            assert r.status_code == 401
            error = r.json()["error"]
            if kind == "anthropic":
                assert error == {"type": "authentication_error", "message": "invalid x-api-key"}
            elif kind == "openai":
                assert r.json() == OPENAI_401
        r = await post(fake, headers=good, stream=False)
        assert r.status_code == 200  # the queued script was not used up by the refusals
        content = (
            r.json()["content"][0]["text"]
            if kind == "anthropic"
            else r.json()["choices"][0]["message"]["content"]
        )
        assert content == "ok"
        assert len(fake.requests) == 3
        if kind == "anthropic":  # the 2.x SDK sends the key as a bearer token: accepted too
            bearer = {"authorization": "Bearer sk-right", "anthropic-version": "2023-06-01"}
            assert (await post(fake, headers=bearer)).status_code == 200


async def test_unknown_paths_and_bad_json(openai_fake, anthropic_fake):
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{openai_fake.base_url}/completions", json={})
        assert (
            r.status_code == 404
            and r.json()["error"]["message"] == "Invalid URL (POST /v1/completions)"
        )
        r = await client.post(
            chat_url(openai_fake), content=b"{nope", headers={"content-type": "application/json"}
        )
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
        r = await client.get(f"{openai_fake.base_url}/models")
        assert r.status_code == 200 and r.json()["data"]
        r = await client.get(f"{anthropic_fake.base_url}/v1/nothing")
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"


async def test_close_ends_a_stalled_stream():
    fake = FakeProvider("openai")
    await fake.start()
    fake.enqueue(Script(fault="stall"))
    stalled = asyncio.Event()

    async def consume() -> None:
        async with (
            httpx.AsyncClient(timeout=10) as client,
            client.stream(
                "POST", chat_url(fake), json={"model": "m", "messages": USER, "stream": True}
            ) as r,
        ):
            async for _ in r.aiter_raw():  # the opening chunk, then nothing
                stalled.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(stalled.wait(), 2)
    started = time.monotonic()
    await asyncio.wait_for(fake.close(), 2)
    assert time.monotonic() - started < 1
    with pytest.raises(httpx.RemoteProtocolError):
        await asyncio.wait_for(task, 2)


# --- the CLI -----------------------------------------------------------------------------


def _start_cli(*args: str, stdin=subprocess.DEVNULL) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sidecar.dev.fakes", *args],
        cwd=ROOT,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline()
    assert line, proc.stderr.read().decode()
    return proc, json.loads(line)


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def test_cli_serves_until_sigterm():
    proc, ready = _start_cli("--kind", "anthropic", "--rate", "200", "--api-key", "sk-cli")
    try:
        assert ready["type"] == "ready" and ready["pid"] == proc.pid
        assert ready["baseUrl"] == f"http://127.0.0.1:{ready['port']}"
        r = httpx.post(
            f"{ready['baseUrl']}/v1/messages",
            json={"model": "m", "max_tokens": 10, "stream": True, "messages": USER},
            headers={"x-api-key": "sk-cli", "anthropic-version": "2023-06-01"},
        )
        texts = [d["delta"]["text"] for n, d in named_events(r.text) if n == "content_block_delta"]
        assert "".join(texts) == "You said: Say hello"
        assert httpx.post(f"{ready['baseUrl']}/v1/messages", json={}).status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert proc.stdout.read() == b""  # nothing but the ready line
    finally:
        _stop(proc)


def test_cli_stops_at_stdin_eof():
    proc, ready = _start_cli("--kind", "openai", stdin=subprocess.PIPE)
    try:
        assert ready["baseUrl"] == f"http://127.0.0.1:{ready['port']}/v1"
        r = httpx.post(
            f"{ready['baseUrl']}/chat/completions", json={"model": "m", "messages": USER}
        )
        assert r.json()["choices"][0]["message"]["content"] == "You said: Say hello"
        proc.stdin.close()
        assert proc.wait(5) == 0
    finally:
        _stop(proc)


async def test_control_endpoint_scripts_a_fake_in_another_process():
    """Clients outside this process (TypeScript tests, the demo) script the fake over HTTP."""
    async with FakeProvider("openai") as fake, httpx.AsyncClient() as http:
        root = fake.base_url.removesuffix("/v1")
        script = {
            "text": "Hi there",
            "chunk_size": 3,
            "tool_calls": [{"id": "call_1", "name": "calc", "arguments": '{"x":1}'}],
            "usage": {"input_tokens": 9, "output_tokens": 4},
        }
        queued = await http.post(f"{root}/_fake/scripts", json={"scripts": [script]})
        assert queued.json() == {"queued": 1}
        bad = await http.post(f"{root}/_fake/scripts", json={"scripts": [{"bogus": 1}]})
        assert bad.status_code == 400 and "bogus" in bad.json()["error"]
        body = {"model": "m", "messages": [{"role": "user", "content": "yo"}]}
        reply = (await http.post(f"{fake.base_url}/chat/completions", json=body)).json()
        message = reply["choices"][0]["message"]
        assert message["content"] == "Hi there"
        assert message["tool_calls"][0]["function"] == {"name": "calc", "arguments": '{"x":1}'}
        assert reply["usage"]["prompt_tokens"] == 9
        recorded = (await http.get(f"{root}/_fake/requests")).json()["requests"]
        assert recorded == [{"path": "/v1/chat/completions", "body": body}]
        assert len(fake.requests) == 1  # control calls are not recorded as chat requests
