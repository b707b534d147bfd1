"""WebSocket transport: who may connect, and one ordered outbound queue per connection.

The handshake is judged before the upgrade (Host against DNS rebinding, Origin
against the allowlist, then the token in constant time). After it, the
transport knows no methods: every frame it reads goes to the connection's
`Receiver`, which the composition root opens for it (the JSON-RPC session), and
everything the connection sends (responses and event notifications alike)
leaves through one queue in the order it was produced. A reader too slow for
that queue is cut off with 4008 instead of slowing anyone else.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import deque
from collections.abc import Callable
from enum import Enum
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

if TYPE_CHECKING:
    from websockets.http11 import Request, Response

    from sidecar.bus import EventBus
    from sidecar.config import ServeConfig

log = logging.getLogger("sidecar.server")

CLOSE_OVERFLOW = 4008
CLOSE_GOING_AWAY = 1001
CLOSE_TIMEOUT = 2.0
OVERFLOW_CLOSE_TIMEOUT = 30.0
WRITE_BATCH = 256  # frames joined into one socket write


class Receiver(Protocol):
    """What a connection hands every frame it reads (the session the root opened for it)."""

    def receive(self, frame: str | bytes) -> None: ...

    def close(self) -> None:
        """The connection ended."""
        ...


OpenReceiver = Callable[["Connection"], Receiver]


class State(Enum):
    OPEN = "open"
    CLOSING = "closing"  # shutdown: send what is queued, then close with 1001
    CLOSED = "closed"  # nothing more is queued or sent


class Connection:
    """One client: its outbound queue. It is the `Peer` its session sends through."""

    def __init__(self, ws: ServerConnection, bus: EventBus, send_queue: int) -> None:
        self.ws = ws
        self.key = str(ws.id)  # names this client to the session (its tools, its calls)
        self.state = State.OPEN
        self._bus = bus
        self._queue: deque[bytes] = deque()
        self._wakeup = asyncio.Event()
        self._limit = send_queue
        self._replay_pending = 0  # replayed frames at the queue's head, exempt from the limit

    # -- outbound -------------------------------------------------------------

    def deliver(self, frame: bytes) -> None:
        """Queue a frame (the bus's subscriber interface); never blocks, never awaits."""
        if self.state is State.CLOSED:
            return
        if len(self._queue) - self._replay_pending >= self._limit:
            self._overflow()
            return
        self._queue.append(frame)
        self._wakeup.set()

    send = deliver  # a response leaves by the same queue, in order with the events

    async def write_loop(self) -> None:
        queue, ws = self._queue, self.ws
        try:
            while self.state is not State.CLOSED:
                while queue:
                    batch = [queue.popleft() for _ in range(min(len(queue), WRITE_BATCH))]
                    self._replay_pending = max(self._replay_pending - len(batch), 0)
                    await self._write(batch)
                if self.state is State.CLOSING:
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
        if self.state is State.OPEN:
            self.state = State.CLOSING
        self._wakeup.set()

    def _shutdown(self) -> None:
        self.state = State.CLOSED
        self._bus.unsubscribe(self)
        self._wakeup.set()

    # -- what the session uses ------------------------------------------------

    def subscribe(self, since: int | None) -> int:
        """Replay after `since` and go live, atomically (see EventBus.subscribe); the
        replayed frames are exempt from the queue limit. A refused `since`
        (ResyncRequired) leaves an existing subscription as it was."""
        replay = self._bus.subscribe(self, since)
        if self.state is not State.CLOSED and replay:
            self._queue.extend(replay)
            self._replay_pending += len(replay)
            self._wakeup.set()
        return len(replay)

    # -- the connection's life ---------------------------------------------------

    async def run(self, receiver: Receiver) -> None:
        writer = asyncio.create_task(self.write_loop())
        try:
            async for frame in self.ws:
                receiver.receive(frame)
        except ConnectionClosed:
            pass
        finally:
            self._shutdown()
            receiver.close()
            writer.cancel()


class Transport:
    """The listening server plus the live connections it must close on shutdown."""

    def __init__(self, config: ServeConfig, bus: EventBus, open_receiver: OpenReceiver) -> None:
        self.config = config
        self.port = 0
        self._bus = bus
        self._open_receiver = open_receiver
        self._server: Server | None = None
        self._hosts: frozenset[str] = frozenset()
        self._token = config.token.encode()
        self.connections: set[Connection] = set()

    async def start(self) -> int:
        cfg = self.config
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
        if origins and (len(origins) != 1 or origins[0] not in self.config.origins):
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
        conn = Connection(ws, self._bus, self.config.send_queue)
        self.connections.add(conn)
        log.info("connection %s opened", ws.id)
        try:
            await conn.run(self._open_receiver(conn))
        finally:
            self.connections.discard(conn)
            log.info("connection %s closed (%s)", ws.id, ws.close_code)
