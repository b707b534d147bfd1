"""What every adapter shares: the HTTP call, SSE reading, retries, error mapping.

An adapter supplies only what differs: the URL path, auth headers, the request body,
a per-response `StreamParser` (SSE event -> parts) and the non-streamed reply parser.

The streaming loop lives in one async generator on purpose: the engine cancels the
task iterating it (or calls `aclose()`), and because the HTTP response is opened and
closed (`try`/`finally`) inside the generator, that closes the upstream connection at
once, so the provider stops generating (and billing).

Every call has limits, so no reply stays `streaming` forever: progress is counted in
content parts, not bytes (an upstream sending only keep-alive comments or empty events
times out after `idle_timeout`), a total deadline (`total_timeout`, retries included),
and a cap on one SSE line or event (`max_event_bytes`), enforced as the bytes come in.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from asyncio import sleep as _sleep
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import httpx
import orjson

from .errors import (
    MAX_ERROR_BODY,
    deadline_error,
    error_from_payload,
    error_from_response,
    error_from_transport,
    idle_timeout_error,
    scrub,
    unexpected_answer,
)
from .retry import retry_delay
from .sse import NDJSONParser, SSEParser
from .types import (
    DEFAULT_BASE_URLS,
    ChatRequest,
    ContentOrder,
    Finish,
    Part,
    Probe,
    ProviderConfig,
    ProviderError,
    ReasoningItem,
    RedactedThinking,
    Retrying,
    ServerModel,
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

T = TypeVar("T")

# Parts that carry reply content: once one was yielded, nothing is retried any more; and
# only these are progress against the idle timeout.
CONTENT_PARTS = frozenset(
    {
        TextDelta,
        ThinkingDelta,
        ThinkingSignature,
        RedactedThinking,
        ContentOrder,
        ReasoningItem,
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


def bearer_auth(api_key: str | None) -> dict[str, str]:
    """`Authorization: Bearer` (OpenAI and everything that imitates it), when there is a key."""
    return {"authorization": f"Bearer {api_key}"} if api_key else {}


def sampling(request: ChatRequest) -> dict[str, float]:
    """The sampling parameters the request sets (temperature, top_p) that the model's
    profile accepts, for a body."""
    values = {"temperature": request.temperature, "top_p": request.top_p}
    accepted = request.profile.sampling
    return {k: v for k, v in values.items() if v is not None and k in accepted}


# Effort values as providers name them, lowest first ("none" and "minimal" are OpenAI's,
# "xhigh" OpenAI's and Anthropic's): how a conversation's effort finds the model's level.
_EFFORT_RANK = {"none": 0, "minimal": 1, "low": 2, "medium": 3, "high": 4, "xhigh": 5, "max": 6}


def effort_level(request: ChatRequest) -> str | None:
    """The effort value to send for the conversation's `effort`: the same level when the
    model takes it, else the lowest level above it (a model that merges levels rounds up,
    as DeepSeek's API does), `max` the model's highest; None for `auto` or a model with
    no levels (nothing sent: the model's default)."""
    wanted, levels = request.effort, request.profile.efforts
    if wanted == "auto" or not levels:
        return None
    if wanted in levels:
        return wanted
    if wanted == "max":
        return levels[-1]
    rank = _EFFORT_RANK[wanted]
    above = [lv for lv in levels if _EFFORT_RANK.get(lv, -1) >= rank]
    return min(above, key=_EFFORT_RANK.__getitem__) if above else levels[-1]


def function_tools(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's tools as chat completions (and Ollama) take them:
    `{type: function, function: {name, description, parameters}}`."""
    return [
        {
            "type": "function",
            "function": {
                "name": t.name,
                "description": t.description,
                "parameters": t.input_schema,
            },
        }
        for t in request.tools
    ]


def data_url(mime: str, data: str) -> str:
    """An image (base64 `data`) inline, as the OpenAI APIs take it."""
    return f"data:{mime};base64,{data}"


def is_error_payload(obj: Any) -> bool:
    """`{"error": ...}` (OpenAI, OpenRouter, Anthropic) or vLLM's `{"object": "error"}`."""
    return isinstance(obj, dict) and (bool(obj.get("error")) or obj.get("object") == "error")


class _Clock:
    """The time limits of one call: `idle` seconds without a content part (None: no such
    limit) and the total deadline, retries included. They end a wait on the provider,
    never the consumer's handling of a part.

    One timer per call, not one per read: progress only moves `_until`, and the timer,
    when it fires before that, re-arms itself there (a timer per read cost ~4 µs of the
    ~50 a delta costs). A timer left when the call ends finds no wait, and stops."""

    __slots__ = ("_loop", "_idle", "_total", "_deadline", "_until", "_timer", "_wait", "expired")

    def __init__(self, total: float, idle: float | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle = idle
        self._total = total
        self._deadline = self._loop.time() + total
        self._timer: asyncio.TimerHandle | None = None
        self._wait: asyncio.Timeout | None = None  # the wait in progress, if any
        self.expired: ProviderError | None = None  # the error `within` raised, once it did
        self.progress()

    def progress(self) -> None:
        """Content arrived (or an attempt begins): the idle allowance starts again."""
        idle = self._idle
        self._until = (
            self._deadline if idle is None else min(self._loop.time() + idle, self._deadline)
        )

    def left(self) -> float:
        return self._deadline - self._loop.time()

    async def within(self, awaitable: Awaitable[T]) -> T:
        """`awaitable`'s result, or ProviderError `timeout` when a limit passes first."""
        timeout = self._wait = asyncio.Timeout(None)
        if self._timer is None:
            self._timer = self._loop.call_at(self._until, self._check)
        try:
            async with timeout:
                return await awaitable
        except TimeoutError:
            if not timeout.expired():
                raise
        finally:
            self._wait = None
        idle = self._idle
        if idle is None or self._until >= self._deadline:
            self.expired = deadline_error(self._total)
        else:
            self.expired = idle_timeout_error(idle)
        raise self.expired

    def _check(self) -> None:
        """The timer: end the wait in progress if its limit has passed, else wait on."""
        self._timer = None
        wait = self._wait
        if wait is None:
            return  # the next wait arms it again
        if self._loop.time() < self._until:
            self._timer = self._loop.call_at(self._until, self._check)
        else:
            wait.reschedule(self._loop.time())


BODY_END_WAIT = 0.1  # s: how long the end of a body may take after the stream's own end
BODY_END_BYTES = 64 * 1024


async def _body_end(chunks: AsyncIterator[bytes], left: float) -> None:
    """Read past the stream's own end marker ([DONE], message_stop) to the end of the HTTP
    body, which usually came with it: a body read to its end lets the connection go back
    to the pool, where closing it early cost the next call a new TCP (and TLS) handshake.
    Bounded: a server that holds the body open after its end marker is closed on."""
    size = 0
    try:
        async with asyncio.timeout(min(BODY_END_WAIT, max(left, 0.0))):
            async for chunk in chunks:
                size += len(chunk)
                if size > BODY_END_BYTES:
                    return
    except (TimeoutError, httpx.HTTPError):
        pass


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
    models_path = "/models"  # where the model list is, appended to the base URL
    stream_type = "text/event-stream"  # the streamed reply's media type (`_events` reads it)

    def __init__(self, config: ProviderConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self._http = http
        base = (config.base_url or DEFAULT_BASE_URLS.get(config.kind, "")).rstrip("/")
        self._base = base
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
        self._stream_headers = {**common, "accept": self.stream_type, **extra}
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

    def _framing(self) -> SSEParser | NDJSONParser:
        """A parser of the streamed reply's framing, each line or event capped: SSE unless
        an adapter reads another (`sse.py`)."""
        return SSEParser(self.config.max_event_bytes)

    # --- the shared machinery -------------------------------------------------

    def _transport_error(self, exc: Exception) -> ProviderError:
        return error_from_transport(exc, self.config.api_key, self.config.idle_timeout)

    async def _answer_error(self, response: httpx.Response, expected: str) -> ProviderError | None:
        """Why `response` is not the answer `expected`: an HTTP error, a redirect, a web page."""
        if response.status_code < 400:
            ctype = response.headers.get("content-type", "")
            return unexpected_answer(response.status_code, ctype, expected)
        try:
            body = await read_bounded(response, MAX_ERROR_BODY)
        except httpx.HTTPError:
            body = b""  # the status says enough
        return error_from_response(
            response.status_code, response.headers, body, self.config.api_key
        )

    def _send(self, content: bytes, headers: dict[str, str]) -> Awaitable[httpx.Response]:
        """The response, its body not read yet: the caller closes it."""
        request = self._http.build_request(
            "POST", self._url, content=content, headers=headers, timeout=self._timeout
        )
        return self._http.send(request, stream=True)

    async def stream(self, request: ChatRequest) -> AsyncIterator[Part]:
        """The reply as normalized parts, ending with UsagePart(s) and one Finish.

        Raises ProviderError. Before any content part was yielded, retryable errors
        are retried (up to config.max_retries), each announced by a Retrying part."""
        content = orjson.dumps(self._body(request, stream=True))
        clock = _Clock(self.config.total_timeout, self.config.idle_timeout)
        retries = 0
        started = False  # a content part was yielded: no more retries
        while True:
            parser = self._parser(request)
            out = parser.out
            clock.progress()  # each attempt has the whole idle allowance
            try:
                failure: ProviderError | None = None
                try:
                    response = await clock.within(self._send(content, self._stream_headers))
                    try:
                        error = await clock.within(self._answer_error(response, "a streamed reply"))
                        if error is not None:
                            raise error
                        ctype = response.headers.get("content-type", "")
                        if "json" in ctype and self.stream_type not in ctype:
                            obj = loads(await clock.within(read_bounded(response, MAX_JSON_BODY)))
                            if is_error_payload(obj):
                                raise error_from_payload(obj, self.config.api_key)
                            parser.feed_json(obj)
                        else:
                            # per read, not per event: one timeout, one wake-up
                            framing = self._framing()
                            coded = "content-encoding" in response.headers  # gzip, say
                            chunks = response.aiter_bytes() if coded else response.aiter_raw()
                            async with aclosing(chunks):  # type: ignore[type-var]
                                while True:
                                    chunk = await clock.within(anext(chunks, None))
                                    if chunk is None:
                                        events = framing.end()
                                    else:
                                        events = framing.feed(chunk)
                                    for event, data in events:
                                        try:
                                            parser.feed(event, data)
                                        except ProviderError as exc:
                                            failure = exc  # deliver what came before it first
                                            break
                                        if parser.done:
                                            break
                                    if out:
                                        progress = any(type(p) in CONTENT_PARTS for p in out)
                                        for part in out:
                                            yield part
                                        out.clear()
                                        if progress:
                                            started = True
                                            clock.progress()
                                    if failure is not None:
                                        raise failure
                                    if chunk is None:
                                        break
                                    if parser.done:
                                        await _body_end(chunks, clock.left())
                                        break
                    finally:
                        await response.aclose()
                except (httpx.HTTPError, httpx.InvalidURL) as exc:
                    if parser.finish_reason is None:
                        raise self._transport_error(exc) from None
                    # The answer was finished; only its tail (usage, [DONE]) was lost.
                except ProviderError as exc:
                    if exc is not clock.expired or parser.finish_reason is None:
                        raise
                    # The same: the answer was finished; its tail did not come in time.
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
            delay = self._next_retry(err, retries, clock)
            retries += 1
            yield Retrying(retries, round(delay * 1000), err.code)
            await _sleep(delay)

    async def complete(self, request: ChatRequest) -> tuple[str, UsagePart]:
        """A non-streamed reply: (text, usage). Same retry policy and deadline, silently
        (no idle limit beyond httpx's between bytes: such a reply has no parts)."""
        content = orjson.dumps(self._body(request, stream=False))

        async def once() -> tuple[str, UsagePart]:
            obj = await self._post_json(self._url, content, self._plain_headers)
            return self._parse_complete(obj)

        return await self._retried(once)

    async def post(self, path: str, content: bytes, content_type: str) -> dict[str, Any]:
        """POST `content` to `path` under the base URL and read one JSON object back, with
        `complete`'s retry policy, deadline and error mapping (e.g. a multipart upload to
        /audio/transcriptions)."""
        headers = {**self._plain_headers, "content-type": content_type}
        url = self._base + path
        return await self._retried(lambda: self._post_json(url, content, headers))

    async def _retried(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call()`'s result, retried on retryable ProviderErrors per the policy, silently,
        within the call's total deadline."""
        clock = _Clock(self.config.total_timeout, None)
        retries = 0
        while True:
            try:
                return await clock.within(call())
            except ProviderError as exc:
                err = exc
            delay = self._next_retry(err, retries, clock)
            retries += 1
            await _sleep(delay)

    async def _post_json(self, url: str, content: bytes, headers: dict[str, str]) -> dict[str, Any]:
        obj, _ = await self._json_request("POST", url, headers, self._timeout, content, True)
        return obj

    async def probe(self) -> Probe:
        """The server's model list, asked once (no retries): what `providers.models` and
        `providers.check` show. A ProviderError says why there is none."""
        obj, response = await self._get_json(self._base + self.models_path)
        return Probe(self._parse_models(obj), server=response.headers.get("server"))

    def _parse_models(self, obj: dict[str, Any]) -> list[ServerModel]:
        """OpenAI's and Anthropic's list shape: `data: [{id, display_name?}]`."""
        data = obj.get("data")
        if not isinstance(data, list):
            raise ProviderError(
                "invalid_response", "the model list has no `data` array", retryable=False
            )
        return [
            ServerModel(item["id"], display_name=item.get("display_name"))
            for item in data
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]

    async def _get_json(
        self, url: str, body: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], httpx.Response]:
        """A GET (a POST of `body`, when given) answered with a JSON object, within the
        connect and idle limits, not retried."""
        timeout = httpx.Timeout(self.config.idle_timeout, connect=self.config.connect_timeout)
        if body is None:
            return await self._json_request("GET", url, self._plain_headers, timeout, None, False)
        content = orjson.dumps(body)
        return await self._json_request("POST", url, self._plain_headers, timeout, content, False)

    async def _json_request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        limits: httpx.Timeout,
        content: bytes | None,
        retryable: bool,
    ) -> tuple[dict[str, Any], httpx.Response]:
        """One request answered with a JSON object (and the response, read); ProviderError
        for an HTTP error, an error payload or anything that is not a JSON object
        (`retryable` says whether that last one may be retried)."""
        try:
            async with self._http.stream(
                method, url, content=content, headers=headers, timeout=limits
            ) as response:
                error = await self._answer_error(response, "a JSON reply")
                if error is not None:
                    raise error
                body = await read_bounded(response, MAX_JSON_BODY)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise self._transport_error(exc) from None
        obj = loads(body)
        if is_error_payload(obj):
            raise error_from_payload(obj, self.config.api_key)
        if not isinstance(obj, dict):
            snippet = scrub(body[:200].decode("utf-8", "replace"), self.config.api_key)
            raise ProviderError(
                "invalid_response", f"not a JSON object: {snippet!r}", retryable=retryable
            )
        return obj, response

    def _next_retry(self, err: ProviderError, retries: int, clock: _Clock) -> float:
        """The delay before retry number `retries + 1`, or `err` re-raised when the
        policy says not to retry (not retryable, retries used up, or the retry could not
        start before the call's deadline)."""
        if not err.retryable or retries >= self.config.max_retries:
            raise err
        delay = retry_delay(err.retry_after, retries)
        if delay >= clock.left():
            raise err
        log.info(
            "provider %s: retry %d in %.2fs after %s (HTTP %s)",
            self.config.id,
            retries + 1,
            delay,
            err.code,
            err.http_status,
        )
        return delay
