"""One MCP server's connection, kept up by one task: start, initialize, list its tools,
wait; after a crash or a cut, start again with backoff; stop on request.

A stdio server runs under the sidecar's watchdog (`sidecar mcp-guard`, see
`sidecar.guard`) in a process group of its own, so it never outlives the sidecar,
however the sidecar ends. The SDK's stdio transport closes its stdin on stop, then
takes the whole group down. An HTTP server (streamable HTTP) is reached again after a
cut; a request cut on the way is re-issued once on the new session, or fails
(`McpLink.call`), never left waiting: no stream resumption is relied on.

The `mcp` SDK is imported on first use, in a thread: it costs ~0.6 s and the launch
never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sidecar import __version__, logs

if TYPE_CHECKING:
    from mcp import ClientSession

log = logging.getLogger("sidecar.mcp")

INIT_TIMEOUT = 30.0
LIST_TIMEOUT = 30.0
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
GIVE_UP_AFTER = 8  # consecutive failed starts; the next use tries again
STABLE = 60.0  # seconds ready after which a crash counts as the first again
MARKER = "SIDECAR_MCP_SERVER"  # in every stdio server's environment: its server id
CUT = -32000  # the SDK's CONNECTION_CLOSED


class McpFailure(Exception):
    """A call or request that could not be served; the message says why, for the user."""


@dataclass(slots=True)
class Target:
    """How to reach a server (secrets included: never logged, never on the wire)."""

    server_id: str
    transport: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def load_sdk() -> None:
    """Import the SDK off the event loop (once)."""
    if "mcp.client.session" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "mcp.client.streamable_http")
        await asyncio.to_thread(importlib.import_module, "mcp.client.stdio")


def guard_command(command: str, args: list[str]) -> tuple[str, list[str]]:
    """The watchdog's command line around a server's (see `sidecar.guard`). Not on
    Windows: there the SDK starts the server in a Job Object that ends with the sidecar."""
    if sys.platform == "win32":
        return command, args
    if getattr(sys, "frozen", False):  # the one-folder build: the executable is the sidecar
        return sys.executable, ["mcp-guard", "--", command, *args]
    return sys.executable, ["-m", "sidecar", "mcp-guard", "--", command, *args]


class McpLink:
    def __init__(self, target: Target, on_change: Callable[[McpLink], None]) -> None:
        self.target = target
        self.state = "stopped"
        self.error: str | None = None
        self.tools: list[Any] = []  # mcp_types.Tool of the live session
        self.session: ClientSession | None = None
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._broken = asyncio.Event()
        self._changed = asyncio.Event()

    # -- life -----------------------------------------------------------------

    def start(self) -> None:
        """Start (or restart after it gave up) unless it is running."""
        if self._task is None or self._task.done():
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name=f"mcp-{self.target.server_id}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Close the session and end the server (its whole process group); waits for it."""
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            if self.state == "starting":
                # Still connecting (a server may never answer `initialize`): cancel. The SDK's
                # stdio shutdown runs shielded and bounded, so the group still goes.
                task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(task), 15)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = None

    def _set(self, state: str, error: str | None = None) -> None:
        self.state, self.error = state, error
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        self._on_change(self)

    async def _run(self) -> None:
        fails = 0
        while not self._stop.is_set():
            self._set("starting")
            self._broken = asyncio.Event()
            began = time.monotonic()
            try:
                why = await self._session_once()
            except asyncio.CancelledError:
                if not self._stop.is_set():
                    raise
                break
            except McpFailure as exc:
                why = str(exc)
            except Exception as exc:  # the SDK and the transports raise many kinds
                why = _describe(exc)
                log.debug("mcp server %s: %s", self.target.server_id, why, exc_info=True)
            self.session = None
            if self._stop.is_set():
                break
            fails = 1 if self.state == "ready" and time.monotonic() - began > STABLE else fails + 1
            if self._broken.is_set() and fails < GIVE_UP_AFTER:
                continue  # a request found the connection cut: reconnect at once
            if fails >= GIVE_UP_AFTER:
                self._set("failed", f"{why} (gave up after {fails} attempts)")
                return
            self._set("failed", why)
            log.warning("mcp server %s: %s", self.target.server_id, logs.scrub(why))
            delay = BACKOFF[min(fails, len(BACKOFF)) - 1]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        self.session = None
        self.tools = []
        self._set("stopped")

    async def _session_once(self) -> str:
        """One session, from start to its end; returns why it ended (raises if it never got
        ready)."""
        await load_sdk()
        import anyio
        import mcp_types
        from mcp import ClientSession

        errlog = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    read, write = await stack.enter_async_context(self._transport(errlog))
                    ended = asyncio.Event()
                    group = await stack.enter_async_context(anyio.create_task_group())
                    stack.callback(group.cancel_scope.cancel)
                    inner_send, inner_read = anyio.create_memory_object_stream[Any](0)
                    group.start_soon(_forward, read, inner_send, ended)
                    session = await stack.enter_async_context(
                        ClientSession(
                            inner_read,
                            write,
                            client_info=mcp_types.Implementation(
                                name="chat-sidecar", version=__version__
                            ),
                        )
                    )
                    with anyio.fail_after(INIT_TIMEOUT):
                        await session.initialize()
                    with anyio.fail_after(LIST_TIMEOUT):
                        tools = await list_tools(session)
                except Exception as exc:
                    raise McpFailure(_with_stderr(_describe(exc), errlog)) from exc
                self.session, self.tools = session, tools
                self._set("ready")
                waits = [asyncio.ensure_future(e.wait()) for e in (self._stop, ended, self._broken)]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waits:
                        w.cancel()
                self.session = None
                if self._broken.is_set():
                    return "the connection to the server was cut"
                return _with_stderr("the server closed the connection", errlog)
        finally:
            errlog.close()

    def _transport(self, errlog: Any) -> contextlib.AbstractAsyncContextManager[Any]:
        t = self.target
        if t.transport == "http":
            import httpx2
            from mcp.client.streamable_http import streamable_http_client

            client = httpx2.AsyncClient(headers=t.headers, timeout=httpx2.Timeout(30.0, read=300.0))
            return _http(client, streamable_http_client(t.url or "", http_client=client))
        from mcp.client.stdio import StdioServerParameters, stdio_client

        command = t.command or ""
        path = t.env.get("PATH") or os.environ.get("PATH")
        if shutil.which(command, path=path) is None and not os.path.isfile(command):
            raise McpFailure(f"command not found: {command}")
        program, args = guard_command(command, t.args)
        env = {**t.env, MARKER: t.server_id}
        if not getattr(sys, "frozen", False):  # `python -m sidecar` must find the package
            env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
        params = StdioServerParameters(command=program, args=args, env=env, cwd=t.cwd or None)
        return stdio_client(params, errlog=errlog)

    # -- use ------------------------------------------------------------------

    async def ready(self, limit: float) -> ClientSession:
        """The live session, starting the server if needed and waiting up to `limit` s."""
        deadline = time.monotonic() + limit
        self.start()
        while True:
            if self.state == "ready" and self.session is not None:
                return self.session
            if self.state == "failed" and not self.running:
                self.start()  # it gave up earlier: this use tries again
            elif self.state == "failed":
                raise McpFailure(f"the MCP server is not available: {self.error}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise McpFailure("the MCP server did not get ready in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def request(self, name: str, call: Callable[[ClientSession], Any], limit: float) -> Any:
        """Run `call(session)` within `limit` seconds; an HTTP request cut on the way is sent
        again once, on the next session."""
        deadline = time.monotonic() + limit
        for attempt in (1, 2):
            session = await self.ready(max(0.1, deadline - time.monotonic()))
            try:
                return await asyncio.wait_for(call(session), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                raise McpFailure(f"the MCP server did not answer {name} in time") from None
            except Exception as exc:
                if not _is_cut(exc, self.target.transport == "http"):
                    raise
                if self.target.transport != "http" or attempt == 2:
                    raise McpFailure(
                        f"the MCP server stopped before answering {name}"
                        if self._stop.is_set() or self.target.transport != "http"
                        else f"the connection to the MCP server was cut during {name}"
                    ) from None
                if self.session is session:
                    self._broken.set()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._left_session(session), 5)
        raise AssertionError("unreachable")

    async def _left_session(self, session: ClientSession) -> None:
        while self.session is session:
            await self._changed.wait()


async def list_tools(session: ClientSession) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    for _ in range(50):  # pages
        import mcp_types

        page = await session.list_tools(
            params=mcp_types.PaginatedRequestParams(cursor=cursor) if cursor else None
        )
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


@contextlib.asynccontextmanager
async def _http(client: Any, transport: Any) -> Any:
    async with client, transport as streams:
        yield streams


async def _forward(read: Any, send: Any, ended: asyncio.Event) -> None:
    """Pass the transport's messages on; `ended` tells that the server side is gone."""
    import anyio

    try:
        async with send:
            async for item in read:
                await send.send(item)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
        pass
    finally:
        ended.set()


def _is_cut(exc: BaseException, http: bool) -> bool:
    """The request's connection broke (it may not have reached the server): for HTTP also
    a session the server no longer knows (it restarted)."""
    from mcp import MCPError

    if isinstance(exc, MCPError):
        return exc.code == CUT or (http and "session" in exc.error.message.lower())
    return isinstance(exc, OSError | ConnectionError) or type(exc).__module__.startswith(
        ("httpx2", "httpcore2", "anyio")
    )


def _describe(exc: BaseException) -> str:
    """One line for the user, secrets scrubbed."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, McpFailure):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "the server did not answer in time"
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    return logs.scrub(text)[:500]


def _with_stderr(why: str, errlog: Any) -> str:
    """`why`, with the last line the server wrote on stderr (scrubbed) when there is one."""
    try:
        errlog.flush()
        errlog.seek(0)
        lines = [line.strip() for line in errlog.read()[-4000:].splitlines() if line.strip()]
    except (OSError, ValueError):
        lines = []
    if not lines:
        return why
    return f"{why}: {logs.scrub(lines[-1])[:300]}"
