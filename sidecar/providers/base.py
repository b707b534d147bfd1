"""What every adapter shares: the HTTP call, SSE reading, retries, error mapping.

An adapter supplies only what differs: the URL path, auth headers, the request body,
a per-response `StreamParser` (SSE event -> parts) and the non-streamed reply parser.

The streaming loop lives in one async generator on purpose: the engine cancels the
task iterating it (or calls `aclose()`), and because the HTTP response is opened with
`async with` inside the generator, that closes the upstream connection at once, so
the provider stops generating (and billing).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from asyncio import sleep as _sleep
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx
import orjson
from httpx_sse import EventSource

from .errors import (
    MAX_ERROR_BODY,
    error_from_payload,
    error_from_response,
    error_from_transport,
    scrub,
)
from .retry import retry_delay
from .types import (
    DEFAULT_BASE_URLS,
    ChatRequest,
    Finish,
    Part,
    ProviderConfig,
    ProviderError,
    RedactedThinking,
    Retrying,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsagePart,
)

log = logging.getLogger(__name__)

WRITE_TIMEOUT = 30.0  # per write; a large prompt with images on a slow uplink still fits
MAX_JSON_BODY = 16 * 1024 * 1024  # a non-streamed reply larger than this is not a chat reply

# Parts that carry reply content: once one was yielded, nothing is retried any more.
CONTENT_PARTS = frozenset(
    {
        TextDelta,
        ThinkingDelta,
        ThinkingSignature,
        RedactedThinking,
        ToolCallStart,
        ToolCallDelta,
        ToolCallEnd,
    }
)


def loads(data: str | bytes) -> Any:
    """Lenient JSON: None for anything that is not JSON (keep-alive junk, HTML, truncation)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def as_int(value: Any) -> int:
    """Token counts arrive as ints, nulls, or (rarely) floats and strings."""
    if type(value) is int:
        return value
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def is_error_payload(obj: Any) -> bool:
    """`{"error": ...}` (OpenAI, OpenRouter, Anthropic) or vLLM's `{"object": "error"}`."""
    return isinstance(obj, dict) and (bool(obj.get("error")) or obj.get("object") == "error")


class _LenientEventSource(EventSource):
    """httpx-sse refuses a stream whose content-type is not text/event-stream; some
    OpenAI-compatible servers mislabel theirs (text/plain, octet-stream), so read it anyway."""

    def _check_content_type(self) -> None:
        return None


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """At most `limit` bytes of the body: an error page is not worth megabytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


class StreamParser(ABC):
    """Per-response state. `feed` appends parts to `out` (the caller drains it);
    it raises ProviderError for an error event. `end` appends the trailing parts
    (open tool calls' ends, the Finish) and returns the error if the stream was cut short."""

    __slots__ = ("out", "done", "finish_reason")

    def __init__(self) -> None:
        self.out: list[Part] = []
        self.done = False  # the stream's own end marker was seen ([DONE], message_stop)
        self.finish_reason: str | None = None  # normalized

    @abstractmethod
    def feed(self, event: str, data: str) -> None:
        """Take one SSE event (its `event:` name, possibly empty, and its data)."""

    def feed_json(self, obj: Any) -> None:
        """A 200 reply that is one JSON document instead of an event stream."""
        raise ProviderError(
            "invalid_response", "expected an event stream, got a JSON body", retryable=False
        )

    def end(self) -> ProviderError | None:
        if self.finish_reason is None:
            return ProviderError(
                "incomplete_stream",
                "the provider's stream ended without a finish reason",
                retryable=True,
            )
        self.out.append(Finish(self.finish_reason))
        return None


class Provider(ABC):
    """One configured provider. Stateless between calls: safe to share across tasks."""

    path = ""  # appended to the base URL

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http
        base = (config.base_url or DEFAULT_BASE_URLS.get(config.kind, "")).rstrip("/")
        self._url = base + self.path
        self._timeout = httpx.Timeout(
            connect=config.connect_timeout,
            read=config.idle_timeout,
            write=WRITE_TIMEOUT,
            pool=config.connect_timeout,
        )
        # Config headers are applied last and win, even over auth: a custom backend may
        # need its own auth scheme (e.g. `api-key` or a different `Authorization`).
        common = {"content-type": "application/json", **self._auth_headers()}
        extra = {name.lower(): value for name, value in config.headers}
        self._stream_headers = {**common, "accept": "text/event-stream", **extra}
        self._plain_headers = {**common, "accept": "application/json", **extra}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    # --- what an adapter provides ---------------------------------------------

    @abstractmethod
    def _auth_headers(self) -> dict[str, str]:
        """The headers that carry the key."""

    @abstractmethod
    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        """The JSON body of a request."""

    @abstractmethod
    def _parser(self, request: ChatRequest) -> StreamParser:
        """A fresh parser for one streamed response."""

    @abstractmethod
    def _parse_complete(self, obj: Any) -> tuple[str, UsagePart]:
        """Text and usage of a non-streamed response."""

    # --- the shared machinery -------------------------------------------------

    def _transport_error(self, exc: Exception) -> ProviderError:
        return error_from_transport(exc, self.config.api_key, self.config.idle_timeout)

    async def _http_error(self, response: httpx.Response) -> ProviderError:
        try:
            body = await read_bounded(response, MAX_ERROR_BODY)
        except httpx.HTTPError:
            body = b""  # the status says enough
        return error_from_response(
            response.status_code, response.headers, body, self.config.api_key
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[Part]:
        """The reply as normalized parts, ending with UsagePart(s) and one Finish.

        Raises ProviderError. Before any content part was yielded, retryable errors
        are retried (up to config.max_retries), each announced by a Retrying part."""
        content = orjson.dumps(self._body(request, stream=True))
        retries = 0
        started = False  # a content part was yielded: no more retries
        while True:
            parser = self._parser(request)
            out = parser.out
            try:
                failure: ProviderError | None = None
                try:
                    async with self._http.stream(
                        "POST",
                        self._url,
                        content=content,
                        headers=self._stream_headers,
                        timeout=self._timeout,
                    ) as response:
                        if response.status_code >= 400:
                            raise await self._http_error(response)
                        ctype = response.headers.get("content-type", "")
                        if "json" in ctype and "event-stream" not in ctype:
                            obj = loads(await read_bounded(response, MAX_JSON_BODY))
                            if is_error_payload(obj):
                                raise error_from_payload(obj, self.config.api_key)
                            parser.feed_json(obj)
                        else:
                            events = _LenientEventSource(response).aiter_sse()
                            async with aclosing(events):
                                async for sse in events:
                                    try:
                                        parser.feed(sse.event, sse.data)
                                    except ProviderError as exc:
                                        failure = exc  # deliver what came before it first
                                    if out:
                                        if not started:
                                            started = any(type(p) in CONTENT_PARTS for p in out)
                                        for part in out:
                                            yield part
                                        out.clear()
                                    if failure is not None:
                                        raise failure
                                    if parser.done:
                                        break
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    if parser.finish_reason is None:
                        raise self._transport_error(exc) from None
                    # The answer was finished; only its tail (usage, [DONE]) was lost.
                failure = parser.end()
                if out:
                    if not started:
                        started = any(type(p) in CONTENT_PARTS for p in out)
                    for part in out:
                        yield part
                    out.clear()
                if failure is None:
                    return
                raise failure
            except ProviderError as exc:
                err = exc
            if started:
                raise err
            delay = self._next_retry(err, retries)
            retries += 1
            yield Retrying(retries, round(delay * 1000), err.code)
            await _sleep(delay)

    async def complete(self, request: ChatRequest) -> tuple[str, UsagePart]:
        """A non-streamed reply: (text, usage). Same retry policy, silently."""
        content = orjson.dumps(self._body(request, stream=False))
        retries = 0
        while True:
            try:
                try:
                    async with self._http.stream(
                        "POST",
                        self._url,
                        content=content,
                        headers=self._plain_headers,
                        timeout=self._timeout,
                    ) as response:
                        if response.status_code >= 400:
                            raise await self._http_error(response)
                        body = await read_bounded(response, MAX_JSON_BODY)
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    raise self._transport_error(exc) from None
                obj = loads(body)
                if is_error_payload(obj):
                    raise error_from_payload(obj, self.config.api_key)
                if not isinstance(obj, dict):
                    snippet = scrub(body[:200].decode("utf-8", "replace"), self.config.api_key)
                    raise ProviderError(
                        "invalid_response", f"not a JSON reply: {snippet!r}", retryable=True
                    )
                return self._parse_complete(obj)
            except ProviderError as exc:
                err = exc
            delay = self._next_retry(err, retries)
            retries += 1
            await _sleep(delay)

    def _next_retry(self, err: ProviderError, retries: int) -> float:
        """The delay before retry number `retries + 1`, or `err` re-raised when the
        policy says not to retry (not retryable, or retries used up)."""
        if not err.retryable or retries >= self.config.max_retries:
            raise err
        delay = retry_delay(err.retry_after, retries)
        log.info(
            "provider %s: retry %d in %.2fs after %s (HTTP %s)",
            self.config.id,
            retries + 1,
            delay,
            err.code,
            err.http_status,
        )
        return delay
