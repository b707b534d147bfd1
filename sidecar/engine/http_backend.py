"""httpcore's network layer on asyncio's own streams, for the provider client.

httpx reaches the socket through httpcore's network backend; its default goes through
anyio, which per read opens a cancel scope, looks up the current task and resumes and
pauses the transport's reading (two epoll_ctl calls). A streamed reply arrives one
event per read, so that was most of what one delta cost (docs/performance.md). This
backend reads from an asyncio StreamReader: a read that finds data returns it, one
that waits arms one timer. Same interface, same exceptions (httpcore's, which httpx
maps to its own), TLS by `StreamWriter.start_tls`.

`install(client)` puts it under an httpx.AsyncClient's default transport; a proxy
transport (from the environment) keeps httpx's default backend.
"""

from __future__ import annotations

import asyncio
import select
import socket
import ssl
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import httpcore

if TYPE_CHECKING:
    import httpx

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
_LIMIT = 1 << 20  # bytes a StreamReader holds before it pauses the socket


# httpcore names the parameter `timeout`: its interface, not an asyncio choice
# ruff: noqa: ASYNC109


class AsyncioStream(httpcore.AsyncNetworkStream):
    __slots__ = ("_reader", "_writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            if timeout is None:
                return await self._reader.read(max_bytes)
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout("timed out reading") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            if timeout is None:
                await self._writer.drain()
            else:
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout("timed out writing") from None
        except (OSError, ssl.SSLError, RuntimeError) as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()  # no wait for the peer: closing never blocks a cancelled reply

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError:
            self._writer.close()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._writer.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        writer = self._writer
        if info == "ssl_object":
            return writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return writer.get_extra_info("sockname")
        if info == "server_addr":
            return writer.get_extra_info("peername")
        if info == "socket":
            return writer.get_extra_info("socket")
        if info == "is_readable":
            # An idle pooled connection with anything to read (data, or the server's close)
            # is not reused; the loop may have read it into the buffer already.
            reader = self._reader
            if reader.at_eof() or writer.is_closing() or getattr(reader, "_buffer", b""):
                return True
            return _socket_readable(writer.get_extra_info("socket"))
        return None


def _socket_readable(sock: Any) -> bool:
    if sock is None:
        return True
    fd = sock.fileno()
    if fd < 0:
        return True
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])  # Windows


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        opening = asyncio.open_connection(host, port, local_addr=local, limit=_LIMIT)
        return await _open(opening, timeout, f"{host}:{port}", socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        opening = asyncio.open_unix_connection(path, limit=_LIMIT)
        return await _open(opening, timeout, path, socket_options)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _open(
    opening: Coroutine[Any, Any, tuple[asyncio.StreamReader, asyncio.StreamWriter]],
    timeout: float | None,
    where: str,
    options: Iterable[SocketOption] | None,
) -> AsyncioStream:
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await opening
    except TimeoutError:
        raise httpcore.ConnectTimeout(f"timed out connecting to {where}") from None
    except OSError as exc:
        raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
    _apply(writer, options)
    return AsyncioStream(reader, writer)


def _apply(writer: asyncio.StreamWriter, options: Iterable[SocketOption] | None) -> None:
    sock: socket.socket | None = writer.get_extra_info("socket")
    if sock is not None:
        for option in options or ():
            sock.setsockopt(*option)  # type: ignore[arg-type]


def install(client: httpx.AsyncClient) -> bool:
    """Put the asyncio backend under `client`'s default (direct) transport; False, changing
    nothing, when httpx's internals are not the ones this was written against."""
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if type(pool) is not httpcore.AsyncConnectionPool or not hasattr(pool, "_network_backend"):
        return False
    pool._network_backend = AsyncioBackend()
    return True
