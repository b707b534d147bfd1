"""WebSocket transport: who may connect, and one ordered outbound queue per connection.

The handshake is judged before the upgrade (Host against DNS rebinding, Origin
against the allowlist, then the token in constant time). After it, every frame
a connection receives is dispatched in its own task, so a slow method never
holds up the next frame, and everything the connection sends (responses and
event notifications alike) leaves through one queue in the order it was
produced. A reader too slow for that queue is cut off with 4008 instead of
slowing anyone else.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from websockets.http11 import Request, Response

    from sidecar.app import App

log = logging.getLogger("sidecar.server")

CLOSE_OVERFLOW = 4008
CLOSE_GOING_AWAY = 1001
CLOSE_TIMEOUT = 2.0
OVERFLOW_CLOSE_TIMEOUT = 30.0
WRITE_BATCH = 256  # frames joined into one socket write


class Connection:
    """One client: its outbound queue, its session flags and its in-flight requests."""

    def __init__(self, ws: ServerConnection, app: App) -> None:
        self.ws = ws
        self.app = app
        self.key = str(ws.id)  # names this connection's client tools
        self.initialized = False
        self.subscribed = False
        self.closed = False
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._limit = app.config.send_queue
        self._replay_pending = 0  # replayed frames at the queue's head, exempt from the limit
        self._replaying = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight = 0  # requests being answered, a batch counting each of its elements
        self._closing = False

    # -- outbound -------------------------------------------------------------

    def deliver(self, frame: bytes) -> None:
        """Queue a frame (bus subscriber interface); never blocks, never awaits."""
        if self.closed:
            return
        if not self._replaying and len(self._queue) - self._replay_pending >= self._limit:
            self._overflow()
            return
        self._queue.append(frame)
        self._wakeup.set()

    async def write_loop(self) -> None:
        queue, ws = self._queue, self.ws
        try:
            while not self.closed:
                while queue:
                    batch = [queue.popleft() for _ in range(min(len(queue), WRITE_BATCH))]
                    self._replay_pending = max(self._replay_pending - len(batch), 0)
                    await self._write(batch)
                if self._closing:
                    await ws.close(CLOSE_GOING_AWAY, "sidecar shutting down")
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
        except ConnectionClosed:
            pass

    async def _write(self, frames: list[bytes]) -> None:
        """Send frames, each its own WebSocket message, in one socket write.

        A burst (many streams' deltas, a replay) would otherwise cost one system
        call per frame. This uses websockets' documented `send_context` pattern
        (`protocol.send_text` inside it), joining the encoded frames itself.
        """
        ws = self.ws
        if len(frames) == 1:
            await ws.send(frames[0], text=True)
            return
        async with ws.send_context():
            for frame in frames:
                ws.protocol.send_text(frame)
            ws.transport.write(b"".join(ws.protocol.data_to_send()))

    def _overflow(self) -> None:
        log.warning(
            "connection %s: send queue over %d frames; closing with 4008", self.ws.id, self._limit
        )
        self._shutdown()
        self._queue.clear()
        # The close frame waits behind what the socket already holds: give the client time
        # to read up to it, or it sees the connection cut (1006) instead of 4008.
        self.ws.close_timeout = OVERFLOW_CLOSE_TIMEOUT
        asyncio.get_running_loop().create_task(self.ws.close(CLOSE_OVERFLOW, "send queue overflow"))

    def flush_and_close(self) -> None:
        """Send what is queued, then close with 1001 (shutdown)."""
        self._closing = True
        self._wakeup.set()

    def _shutdown(self) -> None:
        self.closed = True
        self.app.bus.unsubscribe(self)
        self._wakeup.set()

    # -- session --------------------------------------------------------------

    def subscribe(self, since: int | None) -> int:
        """Replay after `since` and go live, atomically (see EventBus.subscribe).

        A refused `since` (RESYNC_REQUIRED) leaves an existing subscription as it was.
        """
        self._replaying = True
        before = len(self._queue)
        try:
            self.app.bus.subscribe(self, since)
        finally:
            self._replaying = False
        replayed = len(self._queue) - before
        self._replay_pending += replayed
        self.subscribed = True
        return replayed

    # -- inbound --------------------------------------------------------------

    async def read_loop(self) -> None:
        from sidecar.rpc import dispatch

        limit = self.app.config.max_inflight
        async for frame in self.ws:
            request, cost = dispatch.read(frame)
            if cost > limit:
                self._send(dispatch.too_large(limit))
                continue
            if self._inflight + cost > limit:
                self._send(dispatch.refuse(request))
                continue
            self._inflight += cost
            task = asyncio.create_task(self._handle(dispatch, request, cost))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, dispatch, request: object, cost: int) -> None:  # noqa: ANN001
        try:
            self._send(await dispatch.answer(request, self))
        finally:
            self._inflight -= cost

    def _send(self, response: bytes | None) -> None:
        if response is not None:
            self.deliver(response)

    async def run(self) -> None:
        writer = asyncio.create_task(self.write_loop())
        try:
            await self.read_loop()
        except ConnectionClosed:
            pass
        finally:
            self._shutdown()
            if self.app.engine_started:
                self.app.engine.tools.forget(self.key)
            # In-flight requests finish (a dropped client never stops a stream or a write);
            # their responses just have nowhere to go.
            writer.cancel()


class Transport:
    """The listening server plus the live connections it must close on shutdown."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.port = 0
        self._server: Server | None = None
        self._hosts: frozenset[str] = frozenset()
        self._token = app.config.token.encode()
        self.connections: set[Connection] = set()

    async def start(self) -> int:
        cfg = self.app.config
        self._server = await serve(
            self._handler,
            cfg.host,
            cfg.port,
            process_request=self._check_handshake,
            compression=None,
            max_size=cfg.max_frame_bytes,
            server_header=None,
            close_timeout=CLOSE_TIMEOUT,
            # No keepalive pings. On loopback a dead client's socket closes by itself,
            # and a slow one is the send queue's business (4008, then resume with
            # `since`): a ping answered from behind a long backlog timed out and cut a
            # client that was only catching up, with no close code to act on.
            ping_interval=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._hosts = frozenset(f"{h}:{self.port}" for h in ("127.0.0.1", "localhost", "[::1]"))
        return self.port

    def stop_accepting(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=False)

    async def stop(self) -> None:
        """Send each connection what is queued, then close it with 1001. A client that
        does not finish the close handshake within CLOSE_TIMEOUT is cut off: shutdown
        never waits on a client."""
        if self._server is None:
            return
        self.stop_accepting()
        for conn in list(self.connections):
            conn.flush_and_close()
        try:
            await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT + 1)
        except TimeoutError:
            for conn in list(self.connections):
                conn.ws.transport.abort()

    def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        hosts = headers.get_all("Host")
        if len(hosts) != 1 or hosts[0].lower() not in self._hosts:
            log.info("refused a connection: Host header not allowed")
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden: Host not allowed\n")
        origins = headers.get_all("Origin")
        if origins and (len(origins) != 1 or origins[0] not in self.app.config.origins):
            log.info("refused a connection: Origin %r not allowed", origins[0][:200])
            return connection.respond(HTTPStatus.FORBIDDEN, "Forbidden: Origin not allowed\n")
        if not self._token_ok(headers.get_all("Authorization"), request.path):
            log.info("refused a connection: missing or wrong token")
            return connection.respond(HTTPStatus.UNAUTHORIZED, "Unauthorized: token required\n")
        return None

    def _token_ok(self, authorizations: list[str], path: str) -> bool:
        candidates = [a[7:].strip() for a in authorizations if a[:7].lower() == "bearer "]
        query = urlsplit(path).query
        if query:
            candidates += parse_qs(query).get("token", [])
        # Compare against every candidate so timing says nothing about which one matched.
        ok = False
        for candidate in candidates:
            ok |= hmac.compare_digest(candidate.encode(), self._token)
        return ok

    async def _handler(self, ws: ServerConnection) -> None:
        conn = Connection(ws, self.app)
        self.connections.add(conn)
        log.info("connection %s opened", ws.id)
        try:
            await conn.run()
        finally:
            self.connections.discard(conn)
            log.info("connection %s closed (%s)", ws.id, ws.close_code)
