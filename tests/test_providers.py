"""Provider adapters: shared machinery (errors, scrubbing, retries, cancellation, timeouts).

The dialect-specific parsing is in test_providers_openai.py and test_providers_anthropic.py;
the helpers here (mock transports serving exact upstream byte shapes) are shared by them.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import orjson
import pytest

from sidecar.providers import (
    AnthropicProvider,
    ChatMessage,
    ChatRequest,
    Finish,
    OpenAIChatProvider,
    Part,
    Provider,
    ProviderConfig,
    ProviderError,
    Retrying,
    TextDelta,
    UsagePart,
    create_provider,
)
from sidecar.providers import base as base_module
from sidecar.providers.errors import error_from_response, scrub
from sidecar.providers.retry import backoff_delay, parse_retry_after, retry_delay

KEY = "sk-test-CONFIGURED-key-0123456789"
ODD_KEY = "my-own-backend-secret"  # a key without the sk- shape: scrubbed by value

# --- helpers shared by the provider test modules -----------------------------------------


class Chunks(httpx.AsyncByteStream):
    """A response body delivered in the given chunks; then optionally an error or a hang.
    Records whether the client closed it."""

    def __init__(
        self, chunks: Iterable[bytes], *, error: Exception | None = None, hang: bool = False
    ) -> None:
        self.chunks = list(chunks)
        self.error = error
        self.hang = hang
        self.closed = False
        self.sent = 0

    async def __aiter__(self):
        for chunk in self.chunks:
            self.sent += 1
            yield chunk
        if self.error is not None:
            raise self.error
        if self.hang:
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


def sse(*objs: Any, done: bool = True) -> bytes:
    """OpenAI-style SSE: `data: <json>` blocks, then `data: [DONE]`."""
    out = [b"data: " + (o if isinstance(o, bytes) else orjson.dumps(o)) + b"\n\n" for o in objs]
    if done:
        out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def events(*pairs: tuple[str, Any]) -> bytes:
    """Anthropic-style SSE: `event: <name>` + `data: <json>` blocks."""
    return b"".join(
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"
        for name, obj in pairs
    )


def split(body: bytes, size: int) -> list[bytes]:
    return [body[i : i + size] for i in range(0, len(body), size)]


class Reply:
    """A canned upstream reply; each call builds a fresh httpx.Response (a streamed
    response can be read once). `streams` records the bodies handed out."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        chunks: list[bytes],
        error: Exception | None = None,
        hang: bool = False,
    ) -> None:
        self.status, self.headers, self.chunks = status, headers, chunks
        self.error, self.hang = error, hang
        self.streams: list[Chunks] = []

    def __call__(self) -> httpx.Response:
        body = Chunks(self.chunks, error=self.error, hang=self.hang)
        self.streams.append(body)
        return httpx.Response(self.status, headers=self.headers, stream=body)


def stream_response(
    body: bytes = b"",
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    chunk: int | None = None,
    error: Exception | None = None,
    hang: bool = False,
    content_type: str = "text/event-stream",
) -> Reply:
    parts = split(body, chunk) if chunk else ([body] if body else [])
    return Reply(status, {"content-type": content_type, **(headers or {})}, parts, error, hang)


def json_response(obj: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    hdrs = {"content-type": "application/json", **(headers or {})}
    return Reply(status, hdrs, [orjson.dumps(obj)])


class Upstream:
    """A MockTransport handler serving queued responses (or raising queued errors)
    and recording every request."""

    def __init__(self, *responses: Reply | Exception):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await request.aread()
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item()

    def body(self, i: int = -1) -> dict[str, Any]:
        return orjson.loads(self.requests[i].content)


def make_provider(
    kind: str, upstream: Upstream, *, base_url: str | None = None, **config: Any
) -> Provider:
    defaults = {
        "openai": "https://api.openai.com/v1",
        "deepseek": "https://api.deepseek.com",
        "anthropic": "https://api.anthropic.com",
        "openai-compatible": "http://localhost:11434/v1",
    }
    config.setdefault("api_key", KEY)
    config.setdefault("api", "chat")  # these tests are chat completions'; see test_responses
    cfg = ProviderConfig(id="p1", kind=kind, base_url=base_url or defaults[kind], **config)  # type: ignore[arg-type]
    http = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    return create_provider(cfg, http)


def request(**kw: Any) -> ChatRequest:
    kw.setdefault("model", "m")
    kw.setdefault("messages", [ChatMessage(role="user", content="hi")])
    return ChatRequest(**kw)


async def collect(provider: Provider, req: ChatRequest | None = None) -> list[Part]:
    return [p async for p in provider.stream(req or request())]


async def collect_error(
    provider: Provider, req: ChatRequest | None = None
) -> tuple[list[Part], ProviderError]:
    parts: list[Part] = []
    with pytest.raises(ProviderError) as info:
        async for p in provider.stream(req or request()):
            parts.append(p)
    return parts, info.value


def text_of(parts: list[Part]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextDelta))


OPENAI_OK = sse(
    {
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
        ]
    },
    {"choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": None}]},
    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}},
)


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    """Retries sleep instantly; the delays asked for are recorded."""
    recorded: list[float] = []

    async def fake_sleep(delay: float) -> None:
        recorded.append(delay)

    monkeypatch.setattr(base_module, "_sleep", fake_sleep)
    return recorded


# --- construction ----------------------------------------------------------------------


def test_create_provider_picks_the_adapter_and_dialect():
    up = Upstream(stream_response(OPENAI_OK))
    openai = make_provider("openai", up)
    deepseek = make_provider("deepseek", up)
    compat = make_provider("openai-compatible", up)
    assert isinstance(openai, OpenAIChatProvider) and isinstance(compat, OpenAIChatProvider)
    assert openai.dialect.max_tokens_field == "max_completion_tokens"
    assert deepseek.dialect.max_tokens_field == "max_tokens"
    assert compat.dialect.think_tags and not openai.dialect.think_tags
    assert isinstance(make_provider("anthropic", up), AnthropicProvider)
    with pytest.raises(ValueError):
        create_provider(
            ProviderConfig(id="x", kind="nope", base_url="http://x"), httpx.AsyncClient()
        )  # type: ignore[arg-type]


def test_reprs_never_show_the_key():
    provider = make_provider("openai", Upstream(stream_response(OPENAI_OK)))
    assert KEY not in repr(provider)
    assert KEY not in repr(provider.config)
    err = ProviderError("auth", "nope", retryable=False, http_status=401)
    assert "auth" in repr(err)


async def test_timeouts_are_set_per_request_with_read_as_idle_timeout():
    up = Upstream(stream_response(OPENAI_OK))
    provider = make_provider("openai", up, connect_timeout=3.0, idle_timeout=45.0)
    await collect(provider)
    timeout = up.requests[0].extensions["timeout"]
    assert timeout["connect"] == 3.0
    assert timeout["read"] == 45.0
    assert timeout["write"] and timeout["pool"]


async def test_base_url_trailing_slash_and_default():
    up = Upstream(stream_response(OPENAI_OK))
    await collect(make_provider("openai-compatible", up, base_url="http://h:8000/v1/"))
    assert str(up.requests[-1].url) == "http://h:8000/v1/chat/completions"
    await collect(make_provider("deepseek", up))
    assert str(up.requests[-1].url) == "https://api.deepseek.com/chat/completions"


# --- HTTP error mapping --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (
            400,
            {"error": {"message": "bad param", "type": "invalid_request_error"}},
            "bad_request",
            False,
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 128000 tokens.",
                    "code": "context_length_exceeded",
                }
            },
            "context_length",
            False,
        ),
        (
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                },
            },
            "context_length",
            False,
        ),
        (
            401,
            {
                "error": {
                    "message": "Incorrect API key",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            },
            "auth",
            False,
        ),
        (
            402,
            {"error": {"message": "Insufficient Balance", "type": "unknown_error"}},
            "payment_required",
            False,
        ),
        (
            403,
            {"type": "error", "error": {"type": "permission_error", "message": "no"}},
            "permission",
            False,
        ),
        (404, {"error": "model 'llama9' not found"}, "not_found", False),
        (408, {"error": {"message": "timeout"}}, "timeout", True),
        (409, {"error": {"message": "conflict"}}, "conflict", True),
        (422, {"detail": "Unprocessable"}, "bad_request", False),
        (
            429,
            {
                "error": {
                    "message": "Rate limit reached",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                }
            },
            "rate_limited",
            True,
        ),
        (
            429,
            {
                "error": {
                    "message": "You exceeded your current quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
            "payment_required",
            False,
        ),
        (500, {"error": {"message": "boom", "type": "server_error"}}, "server_error", True),
        (502, None, "server_error", True),
        (503, {"error": {"message": "Service Unavailable"}}, "server_error", True),
        (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            "overloaded",
            True,
        ),
    ],
)
def test_http_status_mapping(status, body, code, retryable):
    raw = orjson.dumps(body) if body is not None else b"<html>Bad Gateway</html>"
    err = error_from_response(status, httpx.Headers({}), raw, KEY)
    assert (err.code, err.retryable, err.http_status) == (code, retryable, status)
    assert err.message
    if body is None:
        assert "<html>" not in err.message  # an HTML page is replaced by the status phrase


def test_x_should_retry_overrides_but_never_for_quota():
    assert not error_from_response(
        500, httpx.Headers({"x-should-retry": "false"}), b"", None
    ).retryable
    assert error_from_response(400, httpx.Headers({"x-should-retry": "true"}), b"", None).retryable
    quota = orjson.dumps({"error": {"type": "insufficient_quota", "message": "quota"}})
    assert not error_from_response(
        429, httpx.Headers({"x-should-retry": "true"}), quota, None
    ).retryable


def test_error_keeps_retry_hint_and_request_id():
    headers = httpx.Headers({"retry-after": "3", "x-request-id": "req_123"})
    err = error_from_response(429, headers, b"{}", None)
    assert err.retry_after == 3.0 and err.request_id == "req_123"


async def test_401_body_quoting_a_key_is_scrubbed():
    leaked = "sk-proj-abc123def456ghi789jkl"
    body = {
        "error": {
            "message": f"Incorrect API key provided: {leaked}. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    up = Upstream(json_response(body, status=401))
    _, err = await collect_error(make_provider("openai", up))
    assert err.code == "auth" and err.http_status == 401 and not err.retryable
    for text in (str(err), repr(err), err.message):
        assert leaked not in text and "abc123" not in text and KEY not in text
    assert "[redacted]" in err.message
    assert len(up.requests) == 1


async def test_configured_key_of_any_shape_never_appears_in_errors():
    body = {"error": {"message": f"key {ODD_KEY} rejected; header was Bearer {ODD_KEY}"}}
    up = Upstream(json_response(body, status=403))
    _, err = await collect_error(make_provider("openai-compatible", up, api_key=ODD_KEY))
    assert ODD_KEY not in str(err) and ODD_KEY not in repr(err)
    assert err.code == "permission"


@pytest.mark.parametrize(
    "secret",
    [
        "sk-ant-api03-AbCdEf_123-xyz",
        "sk-or-v1-0123456789abcdef",
        "sk-proj-****...abcd",
        "Bearer abcdefghijklmnop.qrstu",
        "AIzaSyA1234567890abcdefghijklmnopqrstu",
        "a" * 20 + "B" * 20 + "0123456789",
    ],
)
def test_scrub_removes_key_shaped_strings(secret):
    out = scrub(f"error near {secret} here", None)
    assert secret not in out and "[redacted]" in out and out.startswith("error near ")


def test_scrub_keeps_ordinary_text():
    text = "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM)."
    assert scrub(text, None) == text


async def test_transport_errors_are_mapped_and_scrubbed(sleeps):
    up = Upstream(httpx.ConnectError(f"failed to reach host with {KEY}"))
    _, err = await collect_error(make_provider("openai", up, max_retries=1))
    assert err.code == "connection" and err.retryable and err.http_status is None
    assert KEY not in str(err)
    assert err.__cause__ is None  # the httpx error (it holds the request headers) is not chained
    assert len(up.requests) == 2

    up = Upstream(httpx.ConnectTimeout("slow"))
    _, err = await collect_error(make_provider("openai", up, max_retries=0))
    assert err.code == "timeout" and err.retryable


async def test_error_body_read_is_bounded():
    huge = b'{"error": {"message": "' + b"x" * (1024 * 1024) + b'"}}'
    up = Upstream(stream_response(huge, status=400, chunk=4096, content_type="application/json"))
    _, err = await collect_error(make_provider("openai", up))
    assert err.code == "bad_request" and len(err.message) <= 2001


# --- retries -------------------------------------------------------------------------------


async def test_500_then_success_yields_retrying_then_content(sleeps):
    up = Upstream(
        json_response({"error": {"message": "boom", "type": "server_error"}}, status=500),
        stream_response(OPENAI_OK),
    )
    parts = await collect(make_provider("openai", up))
    assert isinstance(parts[0], Retrying)
    assert parts[0].attempt == 1 and parts[0].reason == "server_error"
    assert 375 <= parts[0].delay_ms <= 500  # 0.5 s minus up to 25 % jitter
    assert sleeps == [pytest.approx(parts[0].delay_ms / 1000, abs=0.001)]
    assert text_of(parts) == "ok" and parts[-1] == Finish("stop")
    assert len(up.requests) == 2


async def test_429_retry_after_is_honored():
    # Real sleep: 10 ms.
    up = Upstream(
        json_response(
            {"error": {"message": "slow down"}}, status=429, headers={"retry-after": "0.01"}
        ),
        stream_response(OPENAI_OK),
    )
    parts = await collect(make_provider("openai", up))
    assert parts[0] == Retrying(attempt=1, delay_ms=10, reason="rate_limited")
    assert text_of(parts) == "ok"


async def test_retry_after_ms_wins_over_retry_after(sleeps):
    up = Upstream(
        json_response({}, status=503, headers={"retry-after-ms": "20", "retry-after": "5"}),
        stream_response(OPENAI_OK),
    )
    parts = await collect(make_provider("openai", up))
    assert parts[0].delay_ms == 20 and sleeps == [0.02]


async def test_x_should_retry_false_is_not_retried(sleeps):
    up = Upstream(
        json_response({"error": {"message": "no"}}, status=500, headers={"x-should-retry": "false"})
    )
    parts, err = await collect_error(make_provider("openai", up))
    assert parts == [] and err.code == "server_error" and not err.retryable
    assert len(up.requests) == 1 and sleeps == []


async def test_insufficient_quota_is_not_retried(sleeps):
    body = {
        "error": {
            "message": "You exceeded your current quota",
            "type": "insufficient_quota",
            "code": "insufficient_quota",
        }
    }
    up = Upstream(json_response(body, status=429))
    parts, err = await collect_error(make_provider("openai", up))
    assert err.code == "payment_required" and not err.retryable and err.http_status == 429
    assert parts == [] and len(up.requests) == 1


async def test_max_retries_is_respected(sleeps):
    up = Upstream(json_response({"error": {"message": "down"}}, status=503))
    parts, err = await collect_error(make_provider("openai", up, max_retries=3))
    assert [p.attempt for p in parts if isinstance(p, Retrying)] == [1, 2, 3]
    assert err.code == "server_error" and err.http_status == 503
    assert len(up.requests) == 4
    # exponential backoff: 0.5, 1, 2 (each minus up to 25 %)
    for delay, base in zip(sleeps, (0.5, 1.0, 2.0), strict=True):
        assert base * 0.75 <= delay <= base


async def test_default_max_retries_is_two(sleeps):
    up = Upstream(json_response({}, status=502))
    await collect_error(make_provider("openai", up))
    assert len(up.requests) == 3


async def test_no_retry_after_content_was_yielded(sleeps):
    body = sse(
        {"choices": [{"index": 0, "delta": {"content": "partial "}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "answer"}, "finish_reason": None}]},
        {"error": {"message": "The server had an error", "type": "server_error"}},
        done=False,
    )
    up = Upstream(stream_response(body), stream_response(OPENAI_OK))
    parts, err = await collect_error(make_provider("openai", up))
    assert text_of(parts) == "partial answer"
    assert err.code == "server_error" and err.retryable and err.http_status is None
    assert len(up.requests) == 1 and not any(isinstance(p, Retrying) for p in parts)


async def test_mid_stream_error_before_content_is_retried(sleeps):
    first = sse(
        {
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ]
        },
        {"error": {"message": "overloaded", "type": "server_error"}},
        done=False,
    )
    up = Upstream(stream_response(first), stream_response(OPENAI_OK))
    parts = await collect(make_provider("openai", up))
    assert isinstance(parts[0], Retrying) and text_of(parts) == "ok"


async def test_drop_before_content_is_retried_and_after_content_is_raised(sleeps):
    head = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    drop = httpx.RemoteProtocolError("peer closed connection without sending complete message body")
    up = Upstream(stream_response(head, error=drop), stream_response(OPENAI_OK))
    parts = await collect(make_provider("openai", up))
    assert parts[0] == Retrying(1, parts[0].delay_ms, "connection") and text_of(parts) == "ok"

    body = sse({"choices": [{"index": 0, "delta": {"content": "half"}}]}, done=False)
    up = Upstream(stream_response(body, error=httpx.ReadError("reset")), stream_response(OPENAI_OK))
    parts, err = await collect_error(make_provider("openai", up))
    assert text_of(parts) == "half" and err.code == "connection" and err.retryable
    assert len(up.requests) == 1


async def test_drop_after_finish_reason_is_a_success():
    body = sse(
        {"choices": [{"index": 0, "delta": {"content": "done"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        done=False,
    )
    up = Upstream(stream_response(body, error=httpx.RemoteProtocolError("closed")))
    parts = await collect(make_provider("openai", up))
    assert text_of(parts) == "done" and parts[-1] == Finish("stop")


async def test_idle_timeout_from_transport_is_a_retryable_timeout(sleeps):
    up = Upstream(stream_response(b": keep-alive\n\n", error=httpx.ReadTimeout("idle")))
    parts, err = await collect_error(make_provider("deepseek", up, max_retries=0, idle_timeout=7))
    assert err.code == "timeout" and err.retryable and "7" in err.message


async def test_incomplete_stream_is_retried_before_content(sleeps):
    no_finish = sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})
    up = Upstream(stream_response(no_finish), stream_response(OPENAI_OK))
    parts = await collect(make_provider("openai", up))
    assert parts[0].reason == "incomplete_stream" and parts[-1] == Finish("stop")


async def test_complete_retries_silently(sleeps):
    ok = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A title"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    }
    up = Upstream(json_response({}, status=500), json_response(ok))
    text, usage = await make_provider("openai", up).complete(request())
    assert text == "A title" and usage == UsagePart(input_tokens=9, output_tokens=2)
    assert len(up.requests) == 2 and len(sleeps) == 1


async def test_complete_raises_mapped_errors():
    up = Upstream(json_response({"error": {"message": "bad key"}}, status=401))
    with pytest.raises(ProviderError) as info:
        await make_provider("openai", up).complete(request())
    assert info.value.code == "auth"


# --- retry delay computation ---------------------------------------------------------------


def test_parse_retry_after_variants():
    assert parse_retry_after({"retry-after-ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 10, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=lambda: now) == pytest.approx(10, abs=1)
    # out of range or junk: no hint (backoff applies)
    assert parse_retry_after({"retry-after": "120"}) is None
    assert parse_retry_after({"retry-after": "0"}) is None
    assert parse_retry_after({"retry-after": "-1"}) is None
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert (
        parse_retry_after(
            {"retry-after": email.utils.formatdate(now - 10, usegmt=True)}, now=lambda: now
        )
        is None
    )
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "3"}) == 3.0
    assert parse_retry_after({}) is None


def test_backoff_delay():
    assert backoff_delay(0, rand=lambda: 0.0) == 0.5
    assert backoff_delay(1, rand=lambda: 0.0) == 1.0
    assert backoff_delay(2, rand=lambda: 0.0) == 2.0
    assert backoff_delay(10, rand=lambda: 0.0) == 8.0
    assert backoff_delay(10_000, rand=lambda: 0.0) == 8.0
    assert backoff_delay(0, rand=lambda: 1.0) == 0.375


def test_retry_delay_uses_hint_else_backoff():
    assert retry_delay(1.5, 3) == 1.5
    assert retry_delay(None, 0, rand=lambda: 0.0) == 0.5
    assert retry_delay(parse_retry_after({"retry-after": "999"}), 1, rand=lambda: 0.0) == 1.0


# --- cancellation --------------------------------------------------------------------------


async def test_cancelling_the_consumer_closes_the_response():
    head = sse({"choices": [{"index": 0, "delta": {"content": "streaming"}}]}, done=False)
    response = stream_response(head, hang=True)
    provider = make_provider("openai", Upstream(response))
    got = asyncio.Event()

    async def consume() -> None:
        async for part in provider.stream(request()):
            if isinstance(part, TextDelta):
                got.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got.wait(), 5)
    chunks = response.streams[0]
    assert not chunks.closed
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert chunks.closed


async def test_aclose_of_the_stream_closes_the_response():
    head = sse({"choices": [{"index": 0, "delta": {"content": "x"}}]}, done=False)
    response = stream_response(head, hang=True)
    provider = make_provider("openai", Upstream(response))
    gen = provider.stream(request())
    assert await gen.__anext__() == TextDelta("x")
    await gen.aclose()
    assert response.streams[0].closed


async def test_cancel_during_retry_sleep_propagates():
    up = Upstream(json_response({}, status=500, headers={"retry-after": "30"}))
    gen = make_provider("openai", up).stream(request())
    assert isinstance(await gen.__anext__(), Retrying)
    task = asyncio.create_task(gen.__anext__())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(up.requests) == 1


# --- a real socket: the idle timeout counts reply parts, not bytes -------------------------


async def _serve(script: Callable[[asyncio.StreamWriter], Any]) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        )
        try:
            await script(writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def test_parts_reset_the_idle_timeout_on_a_real_socket():
    async def script(writer: asyncio.StreamWriter) -> None:
        for _ in range(6):  # 1.2 s of words, each gap well under the 0.6 s idle timeout
            writer.write(sse({"choices": [{"index": 0, "delta": {"content": "w"}}]}, done=False))
            writer.write(b": keep-alive\n\n")
            await writer.drain()
            await asyncio.sleep(0.2)
        writer.write(OPENAI_OK)
        await writer.drain()

    server, url = await _serve(script)
    async with server, httpx.AsyncClient() as http:
        cfg = ProviderConfig(
            id="ds", kind="deepseek", base_url=url, idle_timeout=0.6, max_retries=0
        )
        parts = [p async for p in create_provider(cfg, http).stream(request())]
    assert text_of(parts) == "wwwwwwok"


async def test_silence_beyond_the_idle_timeout_fails_on_a_real_socket():
    async def script(writer: asyncio.StreamWriter) -> None:
        writer.write(b": keep-alive\n\n")
        await writer.drain()
        await asyncio.sleep(2)

    server, url = await _serve(script)
    async with server, httpx.AsyncClient() as http:
        cfg = ProviderConfig(
            id="ds", kind="deepseek", base_url=url, idle_timeout=0.2, max_retries=0
        )
        with pytest.raises(ProviderError) as info:
            async for _ in create_provider(cfg, http).stream(request()):
                pass
    assert info.value.code == "timeout" and info.value.retryable
