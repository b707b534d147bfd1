"""The engine's one HTTP client for provider calls, shared by turns and titles.

One connection pool means one TLS handshake per provider host, not one per
call. It is made on first use, so a launch reaches its ready line (and an
engine is built) without importing httpx.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

    import httpx

_ssl: list[ssl.SSLContext] = []
_ssl_lock = threading.Lock()


def ssl_context() -> ssl.SSLContext:
    """The verifying TLS context every client shares, made once: building one (the CA
    bundle) costs ~50 ms, which the launch's warm-up thread pays instead of the first chat."""
    with _ssl_lock:
        if not _ssl:
            import httpx

            _ssl.append(httpx.create_ssl_context())  # httpx's default: certifi, SSL_CERT_* env
        return _ssl[0]


def warm() -> None:
    """What the first provider call would load: httpcore (httpx imports it only when a
    client is made), anyio (httpcore's network layer and pool locks, on first request)
    and the TLS context."""
    import anyio._backends._asyncio  # noqa: F401
    import httpcore  # noqa: F401  (and h11)
    import httpcore._backends.anyio  # noqa: F401  (anyio's streams and sockets)

    ssl_context()


class SharedHttp:
    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    def get(self) -> httpx.AsyncClient:
        """The client, made now if this is the first provider call. After `close` it
        stays closed: a call then fails instead of opening a pool nobody closes."""
        if self._client is None:
            import httpx  # start-up time: httpx loads with the first provider call

            self._client = httpx.AsyncClient(
                verify=ssl_context(),
                limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
