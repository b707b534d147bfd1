"""A small HTTP/1.1 server on asyncio streams and h11: keep-alive, chunked streams, faults.

The handler gets each request and an `Exchange` to answer it with: a whole response,
or a chunked stream it writes piece by piece. While a response is in progress the
server watches the socket, so a client that leaves mid-stream is noticed at once
(even when nothing is being written, as in a stall) and reported as `ClientGone`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

import h11

log = logging.getLogger("sidecar.dev.fakes")

_READ_SIZE = 65536


class ClientGone(Exception):
    """The client closed the connection before the response was complete."""

    def __init__(self, at: float) -> None:
        super().__init__("client disconnected")
        self.at = at


class ServerClosing(Exception):
    """The server is shutting down; the exchange stops where it is."""


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: list[tuple[str, str]]  # lower-case names, in order
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


def _response(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = {529: "Overloaded"}.get(status, "")
    return h11.Response(status_code=status, headers=headers, reason=reason)


Handler = Callable[[HttpRequest, "Exchange"], Awaitable[None]]


class Exchange:
    """One response on one connection."""

    def __init__(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        closing: asyncio.Event,
    ) -> None:
        self._conn = conn
        self._reader = reader
        self._writer = writer
        self._closing = closing
        self._gone = asyncio.Event()
        self.gone_at: float | None = None
        self.started = False
        self.finished = False
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Read while the response is in progress: EOF or a reset means the client left."""
        try:
            while True:
                data = await self._reader.read(_READ_SIZE)
                if not data:
                    break
                self._conn.receive_data(data)  # a pipelined next request waits in h11
        except (ConnectionError, OSError):
            pass
        except h11.RemoteProtocolError:
            return
        self.gone_at = time.monotonic()
        self._gone.set()

    def _check(self) -> None:
        if self.gone_at is not None:
            raise ClientGone(self.gone_at)
        if self._writer.is_closing():
            raise ClientGone(time.monotonic())

    async def _send(self, *events: h11.Event) -> None:
        self._check()
        for event in events:
            data = self._conn.send(event)
            if data:
                self._writer.write(data)
        try:
            await self._writer.drain()
        except (ConnectionError, OSError):
            self._gone_now()
            self._check()

    def _gone_now(self) -> None:
        if self.gone_at is None:
            self.gone_at = time.monotonic()
            self._gone.set()

    async def respond(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """A whole response with a content-length."""
        headers = [*headers, ("content-length", str(len(body)))]
        self.started = True
        await self._send(_response(status, headers), h11.Data(data=body))
        await self._send(h11.EndOfMessage())
        self.finished = True

    async def start(self, status: int, headers: list[tuple[str, str]]) -> None:
        """Begin a chunked response; then `write`, and `end` (or `drop` / `stall`)."""
        headers = [*headers, ("transfer-encoding", "chunked")]
        self.started = True
        await self._send(_response(status, headers))

    async def write(self, data: bytes) -> None:
        """One HTTP chunk, flushed."""
        if data:
            await self._send(h11.Data(data=data))

    async def end(self) -> None:
        await self._send(h11.EndOfMessage())
        self.finished = True

    async def drop(self) -> None:
        """Close the TCP connection now, without finishing the response."""
        self._writer.close()  # flushes what was written, then FIN: an incomplete chunked body
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()

    async def sleep(self, seconds: float) -> None:
        """Wait, but stop early if the client leaves or the server closes."""
        if seconds <= 0:
            self._check()
            return
        await self._wait(seconds)

    async def stall(self) -> None:
        """Send nothing more until the client leaves (ClientGone) or the server closes."""
        await self._wait(None)

    async def _wait(self, limit: float | None) -> None:
        gone = asyncio.ensure_future(self._gone.wait())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({gone, closing}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            closing.cancel()
        self._check()
        if self._closing.is_set():
            raise ServerClosing

    async def finish(self) -> None:
        """Stop watching the socket (the exchange is over)."""
        self._watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watcher


class HttpServer:
    def __init__(self, handler: Handler, *, on_disconnect: Callable[[float], None]) -> None:
        self._handler = handler
        self._on_disconnect = on_disconnect
        self._server: asyncio.Server | None = None
        self._closing = asyncio.Event()
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._serve_connection, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = h11.Connection(h11.SERVER)
        try:
            while not self._closing.is_set():
                request = await self._read_request(conn, reader)
                if request is None:
                    break
                if not await self._exchange(conn, reader, writer, request):
                    break
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            await self._bad_request(conn, writer, exc)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            # the task ends normally even when close() cancels it here (asyncio logs
            # connection tasks that end cancelled)
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> HttpRequest | None:
        head: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(_READ_SIZE))
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return HttpRequest(
                    method=head.method.decode("ascii"),
                    target=head.target.decode("ascii", "replace"),
                    headers=[
                        (name.decode("latin-1").lower(), value.decode("latin-1"))
                        for name, value in head.headers
                    ],
                    body=bytes(body),
                )

    async def _exchange(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: HttpRequest,
    ) -> bool:
        """Answer one request; False when the connection must not be reused."""
        exchange = Exchange(conn, reader, writer, self._closing)
        try:
            await self._handler(request, exchange)
            if not exchange.started:
                await exchange.respond(500, [("content-type", "text/plain")], b"no response\n")
            elif not exchange.finished:
                return False
            return True
        except ClientGone as gone:
            self._on_disconnect(gone.at)
            return False
        except ServerClosing:
            return False
        except Exception:
            log.exception("fake provider handler failed")
            if not exchange.started:
                with contextlib.suppress(Exception):
                    await exchange.respond(500, [("content-type", "text/plain")], b"fake failed\n")
                    return True
            return False
        finally:
            await exchange.finish()

    async def _bad_request(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, exc: h11.RemoteProtocolError
    ) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        body = f"bad request: {exc}\n".encode()
        with contextlib.suppress(Exception):
            writer.write(
                conn.send(
                    h11.Response(
                        status_code=exc.error_status_hint,
                        headers=[
                            ("content-type", "text/plain"),
                            ("content-length", str(len(body))),
                        ],
                    )
                )
                + conn.send(h11.Data(data=body))
                + conn.send(h11.EndOfMessage())
            )
            await writer.drain()
