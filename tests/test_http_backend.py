"""The asyncio network backend under the provider client (engine/http_backend.py): plain
HTTP and TLS, keep-alive reuse, a server's close noticed on an idle connection, timeouts
and errors as httpx's own exceptions, and the same bytes as httpx's default backend."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from sidecar.engine.http_backend import AsyncioBackend, install
from sidecar.engine.http_client import SharedHttp

BODY = b"data: hello\n\n" * 1000


async def serve(
    *, close_after: bool = False, stall: bool = False, tls: ssl.SSLContext | None = None
) -> tuple[asyncio.Server, list[asyncio.Event]]:
    connections: list[asyncio.Event] = []  # one per connection, set once it is closed

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed = asyncio.Event()
        connections.append(closed)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                if stall:
                    await asyncio.Event().wait()
                head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                writer.write(head + b"content-length: %d\r\n\r\n" % len(BODY))
                for i in range(0, len(BODY), 700):  # many small writes
                    writer.write(BODY[i : i + 700])
                    await writer.drain()
                if close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()
        await writer.wait_closed()
        closed.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    return server, connections


def client(**kw) -> httpx.AsyncClient:
    c = httpx.AsyncClient(**kw)
    assert install(c)
    return c


async def read_all(c: httpx.AsyncClient, url: str) -> bytes:
    async with c.stream("GET", url) as r:
        return b"".join([chunk async for chunk in r.aiter_bytes()])


async def test_the_shared_client_uses_it():
    shared = SharedHttp()
    try:
        pool = shared.get()._transport._pool  # type: ignore[attr-defined]
        assert isinstance(pool._network_backend, AsyncioBackend)
    finally:
        await shared.close()


async def test_streams_a_body_and_reuses_the_connection():
    server, connections = await serve()
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with server, client() as c, httpx.AsyncClient() as plain:
        for _ in range(3):
            assert await read_all(c, url) == BODY
        assert len(connections) == 1
        assert await read_all(plain, url) == await read_all(c, url)


async def test_a_connection_the_server_closed_is_not_reused():
    server, connections = await serve(close_after=True)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with server, client() as c:
        assert await read_all(c, url) == BODY
        await connections[0].wait()  # the server's close is in the client's socket
        assert await read_all(c, url) == BODY
        assert len(connections) == 2


async def test_timeouts_and_refusals_are_httpx_exceptions():
    server, _ = await serve(stall=True)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    async with server, client() as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.get(url, timeout=httpx.Timeout(5, read=0.05))
    async with client() as c:
        with pytest.raises(httpx.ConnectError):
            await c.get(url)  # the server is gone


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls_with_a_verified_certificate(tmp_path: Path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server, _ = await serve(tls=server_ctx)
    port = server.sockets[0].getsockname()[1]
    trusted = ssl.create_default_context(cafile=str(cert))
    async with server:
        async with client(verify=trusted) as c:
            assert await read_all(c, f"https://localhost:{port}/") == BODY
            response = await c.get(f"https://127.0.0.1:{port}/")
            assert response.extensions["network_stream"].get_extra_info("ssl_object") is not None
        async with client() as c:  # the default trust store does not know this certificate
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get(f"https://localhost:{port}/")
