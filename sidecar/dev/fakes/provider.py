"""`FakeProvider`: a real HTTP server on 127.0.0.1 that answers chat requests from scripts."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from sidecar.dev.fakes import audio
from sidecar.dev.fakes.dialects import (
    PACED,
    RESPONSES_KINDS,
    FakeDialect,
    ResponsesDialect,
    dialect_for,
    split_awkwardly,
)
from sidecar.dev.fakes.dialects.common import Frame, HttpError, dumps
from sidecar.dev.fakes.http import Exchange, HttpRequest, HttpServer
from sidecar.dev.fakes.reply import Reply, echo_script
from sidecar.dev.fakes.script import (
    HTTP_FAULTS,
    PROXY_FAULTS,
    RecordedRequest,
    Script,
    script_from_json,
)

KINDS = ("openai", "anthropic", "deepseek", "openai-compatible", "ollama")
_ROOT_KINDS = ("anthropic", "ollama")  # base URL without /v1
_MID_STREAM_FAULTS = ("error_event", "drop", "stall", "keepalive_only", "trickle", "huge_line")
_ENDLESS_FAULTS = ("keepalive_only", "trickle")
CONTROL_PREFIX = "/_fake/"
_SPLIT_PAUSE = 0.002  # between the pieces of a split write, so they arrive as separate reads
_ENDLESS_PAUSE = 0.05  # between the writes of an endless fault, unless keepalive_interval is set
_HUGE_PIECE = 64 * 1024  # the huge line is written in pieces: the fake never holds it whole
# In the proxy faults' redirect target and login page: it must never reach an error message.
PROXY_SECRET = "sess-7f3a9c1e5b2d4f6a8c0e"


class FakeProvider:
    """A fake of one provider kind. Queue `Script`s with `enqueue` (one per request, in
    order); with none queued it answers with `default`, else echoes the last user message.

    `requests` records every request; `disconnects` the time.monotonic() at which a client
    left while a response was in progress. When `api_key` is set, requests without it get
    the dialect's real 401. `rate` paces scripts that set none (chunks per second).
    """

    def __init__(
        self,
        kind: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        default: Script | None = None,
        echo: Script | None = None,
        api_key: str | None = None,
        rate: float | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown provider kind {kind!r}; one of {', '.join(KINDS)}")
        self.kind = kind
        self.host = host
        self.port = port
        self.default = default
        self.echo = echo or Script()  # the echo reply's shape (chunk size, usage, ...)
        self.api_key = api_key
        self.rate = rate
        self.requests: list[RecordedRequest] = []
        self.disconnects: list[float] = []
        self._queue: deque[Script] = deque()
        self._dialect = dialect_for(kind)
        self._responses = ResponsesDialect(kind) if kind in RESPONSES_KINDS else None
        self._server: HttpServer | None = None
        self._base_url: str | None = None
        self._disconnects_taken = 0
        self._disconnected = asyncio.Event()

    # --- life ------------------------------------------------------------------------

    async def start(self) -> str:
        if self._server is not None:
            return self.base_url
        server = HttpServer(self._handle, on_disconnect=self._on_disconnect)
        self.port = await server.start(self.host, self.port)
        self._server = server
        host = f"[{self.host}]" if ":" in self.host else self.host
        root = f"http://{host}:{self.port}"
        self._base_url = root if self.kind in _ROOT_KINDS else f"{root}/v1"
        return self._base_url

    async def close(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.close()

    async def __aenter__(self) -> FakeProvider:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the fake provider is not started")
        return self._base_url

    # --- scripting -------------------------------------------------------------------

    def enqueue(self, *scripts: Script) -> None:
        for script in scripts:
            if script.quirk is not None and self.kind != "openai-compatible":
                raise ValueError(
                    f"quirk {script.quirk!r} is for openai-compatible, not {self.kind}"
                )
        self._queue.extend(scripts)

    def _next_script(self, body: dict[str, Any]) -> Script:
        if self._queue:
            return self._queue.popleft()
        if self.default is not None:
            return self.default
        return echo_script(body, self.echo)

    # --- disconnects -----------------------------------------------------------------

    def _on_disconnect(self, at: float) -> None:
        self.disconnects.append(at)
        self._disconnected.set()

    async def wait_disconnect(self, timeout: float) -> float:  # noqa: ASYNC109
        """The time of the next disconnect not yet returned by this method (waiting for it
        up to `timeout` seconds; TimeoutError after that)."""

        async def next_one() -> float:
            while len(self.disconnects) <= self._disconnects_taken:
                self._disconnected.clear()
                await self._disconnected.wait()
            self._disconnects_taken += 1
            return self.disconnects[self._disconnects_taken - 1]

        return await asyncio.wait_for(next_one(), timeout)

    # --- control (for clients in another process: the TypeScript tests, the demo) -----

    async def _control(
        self, request: HttpRequest, body: dict[str, Any] | None, exchange: Exchange
    ) -> None:
        """`POST /_fake/scripts {"scripts": [...]}` queues scripts given as JSON (Script's
        fields; `tool_calls` and `usage` as objects); `GET /_fake/requests` lists the
        recorded chat requests' paths and bodies (never their headers: they hold keys)."""
        if request.method == "POST" and request.path == CONTROL_PREFIX + "scripts":
            try:
                scripts = [script_from_json(item) for item in (body or {})["scripts"]]
                self.enqueue(*scripts)
            except (KeyError, TypeError, ValueError) as exc:
                return await _send_json(exchange, 400, {"error": str(exc)}, [])
            return await _send_json(exchange, 200, {"queued": len(self._queue)}, [])
        if request.method == "GET" and request.path == CONTROL_PREFIX + "requests":
            recorded = [{"path": r.path, "body": r.body} for r in self.requests]
            return await _send_json(exchange, 200, {"requests": recorded}, [])
        await _send_json(exchange, 404, {"error": "unknown control path"}, [])

    # --- answering -------------------------------------------------------------------

    async def _handle(self, request: HttpRequest, exchange: Exchange) -> None:
        headers = dict(request.headers)
        body = _parse(request.body)
        if request.path.startswith(CONTROL_PREFIX):
            return await self._control(request, body, exchange)
        form = None
        if self.kind in audio.KINDS and request.path in audio.PATHS:
            form = audio.parse_form(headers.get("content-type"), request.body)
            body = audio.record_of(form)
        self.requests.append(
            RecordedRequest(request.method, request.path, headers, body, time.monotonic())
        )
        dialect = self._dialect
        if self._responses is not None and request.path in self._responses.paths:
            dialect = self._responses
        if self.api_key is not None and not dialect.authorized(headers, self.api_key):
            return await _send_error(exchange, dialect.http_error("http_401", Script()))
        if self.kind in audio.KINDS and request.path in audio.PATHS and request.method == "POST":
            return await self._transcribe(headers.get("content-type"), form, dialect, exchange)
        if request.method == "GET" and request.path in dialect.models_paths:
            return await _send_json(exchange, 200, dialect.models(), _ids(dialect))
        answer = dialect.info(request.method, request.path, body)
        if answer is not None:
            return await _send_error(exchange, answer)
        if request.method != "POST" or request.path not in dialect.paths:
            return await _send_error(exchange, dialect.not_found(request.path))
        refused = dialect.precheck(headers)
        if refused is not None:
            return await _send_error(exchange, refused)
        if body is None:
            return await _send_error(
                exchange, dialect.bad_request("We could not parse the JSON body of your request.")
            )
        refused = dialect.refuse(body)
        if refused is not None:
            return await _send_error(exchange, refused)
        script = self._next_script(body)
        if script.quirk is not None and dialect is self._dialect:
            dialect = dialect_for(self.kind, script.quirk)
            refused = dialect.refuse(body)  # what that server refuses (llama.cpp: tools)
            if refused is not None:
                return await _send_error(exchange, refused)
        extra = list(script.headers.items())
        if script.fault in HTTP_FAULTS:
            return await _send_error(exchange, dialect.http_error(script.fault, script), extra)
        if script.fault in PROXY_FAULTS:
            return await _proxy_answer(exchange, script.fault)
        reply = Reply.resolve(script, body, dialect.stream_default)
        rate = script.rate if script.rate is not None else self.rate
        if reply.stream:
            await _stream(exchange, dialect, reply, rate, extra)
        else:
            await _answer(exchange, dialect, reply, rate, extra)

    async def _transcribe(
        self,
        content_type: str | None,
        form: dict[str, audio.FormPart] | None,
        dialect: FakeDialect,
        exchange: Exchange,
    ) -> None:
        """`POST /v1/audio/transcriptions` (see `sidecar.dev.fakes.audio`)."""
        refused = audio.refusal(self.kind, content_type, form)
        if refused is not None:
            status, error = refused
            return await _send_json(exchange, status, error, _ids(dialect))
        assert form is not None
        script = self._queue.popleft() if self._queue else None
        if script is not None and script.fault in HTTP_FAULTS:
            extra = list(script.headers.items())
            return await _send_error(exchange, dialect.http_error(script.fault, script), extra)
        ctype, answer = audio.transcription(self.kind, form, script and script.text)
        raw = answer.encode() if isinstance(answer, str) else dumps(answer).encode()
        await exchange.respond(200, [("content-type", ctype), *_ids(dialect)], raw)


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _ids(dialect: FakeDialect) -> list[tuple[str, str]]:
    return [(dialect.request_id_header, dialect.new_request_id())]


async def _send_json(
    exchange: Exchange, status: int, body: Any, headers: list[tuple[str, str]]
) -> None:
    headers = [("content-type", "application/json"), *headers]
    await exchange.respond(status, headers, dumps(body).encode())


async def _send_error(
    exchange: Exchange, error: HttpError, extra: list[tuple[str, str]] | None = None
) -> None:
    body = error.body if isinstance(error.body, str) else dumps(error.body)
    await exchange.respond(error.status, [*error.headers, *(extra or [])], body.encode())


async def _proxy_answer(exchange: Exchange, fault: str) -> None:
    """What a captive portal or SSO proxy answers in the API's place: a 302 to its login
    page, or the page itself with status 200."""
    page = (
        "<!doctype html><html><head><title>Sign in</title></head><body>"
        '<form method="post" action="/login">'
        f'<input type="hidden" name="csrf" value="{PROXY_SECRET}">'
        "</form></body></html>"
    ).encode()
    headers = [("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store")]
    if fault == "redirect":
        location = f"https://login.corp.example/sso?session={PROXY_SECRET}"
        return await exchange.respond(302, [*headers, ("location", location)], page)
    await exchange.respond(200, headers, page)


async def _forever(exchange: Exchange, pieces: list[bytes], pause: float) -> None:
    """Write the pieces in turn, `pause` apart, until the client leaves."""
    while True:
        for piece in pieces:
            await exchange.write(piece)
            await exchange.sleep(pause)


def _inflated(frame: Frame, piece: str, size: int) -> Iterator[bytes]:
    """`frame`, a text fragment carrying `piece`, with `size` bytes more text, in pieces."""
    end = dumps(piece).encode()[1:]  # the piece's JSON text up to its closing quote
    head, found, tail = frame.data.rpartition(end)
    if not found:
        raise ValueError("huge_line strikes at a plain text fragment")
    yield head + end[:-1]
    for start in range(0, size, _HUGE_PIECE):
        yield b"x" * min(_HUGE_PIECE, size - start)
    yield b'"' + tail


async def _answer(
    exchange: Exchange,
    dialect: FakeDialect,
    reply: Reply,
    rate: float | None,
    extra: list[tuple[str, str]],
) -> None:
    """A non-streamed request: the whole message as one JSON body (after the time it
    would have taken to stream, when a rate is set)."""
    fault = reply.script.fault
    if fault == "drop":
        return await exchange.drop()
    if fault == "stall":
        return await exchange.stall()
    if fault in _ENDLESS_FAULTS:  # whitespace, which JSON allows before the body that never comes
        await exchange.start(200, [("content-type", "application/json"), *_ids(dialect), *extra])
        return await _forever(exchange, [b" "], reply.script.keepalive_interval or _ENDLESS_PAUSE)
    if fault == "error_event":
        error = dialect.http_error(dialect.error_event_fault, reply.script)
        return await _send_error(exchange, error, extra)
    if rate:
        await exchange.sleep(len(reply.text_chunks) / rate)
    message = dialect.message(reply, finished=fault != "no_finish")
    await _send_json(exchange, 200, message, [*_ids(dialect), *extra])


async def _stream(
    exchange: Exchange,
    dialect: FakeDialect,
    reply: Reply,
    rate: float | None,
    extra: list[tuple[str, str]],
) -> None:
    script = reply.script
    headers = [
        ("content-type", dialect.stream_content_type),
        ("cache-control", "no-cache"),
        *_ids(dialect),
        *extra,
    ]
    await exchange.start(200, headers)

    async def emit(data: bytes) -> None:
        if not script.split_writes:
            return await exchange.write(data)
        for i, piece in enumerate(split_awkwardly(data)):
            if i:
                await exchange.sleep(_SPLIT_PAUSE)
            await exchange.write(piece)

    interval = script.keepalive_interval
    if interval is None:
        interval = 1 / rate if rate else 0.0
    for _ in range(script.keepalive):
        await emit(dialect.keepalive)
        await exchange.sleep(interval)

    fault = script.fault if script.fault in _MID_STREAM_FAULTS else None
    pause = script.keepalive_interval or _ENDLESS_PAUSE
    texts = 0
    paced = False
    for frame in dialect.stream(reply):
        if fault and frame.kind != "open" and texts >= script.fault_after:
            if fault == "drop":
                return await exchange.drop()
            if fault == "stall":
                return await exchange.stall()
            if fault == "keepalive_only":
                return await _forever(exchange, [dialect.keepalive], pause)
            if fault == "trickle":
                data = dialect.idle_frame(reply).data
                return await _forever(exchange, [data[i : i + 1] for i in range(len(data))], pause)
            if fault == "error_event":
                for error in dialect.error_frames(reply):
                    await emit(error.data)
                return await exchange.end()
            if frame.kind == "text":  # huge_line: one huge fragment, then the stream goes on
                fault = None
                for piece in _inflated(frame, reply.text_chunks[texts], script.huge_line_bytes):
                    await exchange.write(piece)
                texts += 1
                continue
        if frame.kind == "finish" and script.fault == "no_finish":
            continue
        if frame.kind in PACED:
            if paced and rate:
                await exchange.sleep(1 / rate)
            paced = True
        await emit(frame.data)
        if frame.kind == "text":
            texts += 1
    await exchange.end()
