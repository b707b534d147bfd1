"""Real sidecar processes and real WebSocket clients for the end-to-end tests.

Every message a `Client` receives is validated against the checked-in schema/
before a test sees it, so each test is also a contract test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

from tests import contract

READY_TIMEOUT = 15.0


@dataclass
class Sidecar:
    proc: subprocess.Popen[bytes]
    ready: dict[str, Any]
    data_dir: Path
    stderr_path: Path

    @property
    def url(self) -> str:
        return self.ready["url"]

    @property
    def port(self) -> int:
        return self.ready["port"]

    @property
    def token(self) -> str:
        return self.ready["token"]

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


SIDECAR = (sys.executable, "-m", "sidecar")


def launch(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: int | None = None,
    command: Sequence[str] = SIDECAR,
) -> Sidecar:
    """Start `python -m sidecar serve` (or `command serve`, e.g. a built binary) and wait
    for its ready line."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir / f"stderr-{time.monotonic_ns()}.log"
    full_env = {**os.environ, **(env or {})}
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [
                *command,
                "serve",
                "--data-dir",
                str(data_dir),
                "--log-level",
                "debug",
                # exits with the test run even when a test is killed before its cleanup
                "--parent-pid",
                str(os.getpid()),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            env=full_env,
        )
    line = _read_line(proc, READY_TIMEOUT)
    if not line:
        proc.kill()
        raise RuntimeError(f"no ready line; stderr:\n{stderr_path.read_text()}")
    return Sidecar(proc, json.loads(line), data_dir, stderr_path)


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    import selectors

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf and time.monotonic() < deadline:
        if sel.select(deadline - time.monotonic()):
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
    return buf.split(b"\n", 1)[0]


class RpcFailure(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')} {error.get('message')} {error.get('data')}")
        self.error = error
        self.code = error["code"]
        self.reason = (error.get("data") or {}).get("reason")
        self.data = error.get("data") or {}


@dataclass
class Client:
    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _pending: dict[Any, tuple[str, asyncio.Future[Any]]] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _reader: asyncio.Task[None] | None = None
    _event_signal: asyncio.Event = field(default_factory=asyncio.Event)
    order: list[tuple[str, Any]] = field(default_factory=list)
    raw: list[str | bytes] = field(default_factory=list)  # every frame received, for secret scans

    @classmethod
    async def open(
        cls, sidecar: Sidecar, *, initialize: bool = True, subscribe: bool | int = True, **kw: Any
    ) -> Client:
        ws = await connect(
            sidecar.url,
            additional_headers={"Authorization": f"Bearer {sidecar.token}"},
            compression=None,
            max_size=None,
            ping_interval=None,  # like the app's webview, which cannot ping
            **kw,
        )
        client = cls(ws)
        client._reader = asyncio.create_task(client._read())
        if initialize:
            await client.request(
                "initialize", {"protocolVersion": 1, "clientInfo": {"name": "tests"}}
            )
        if subscribe is not False:
            params = {} if subscribe is True else {"since": subscribe}
            await client.request("events.subscribe", params)
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.raw.append(raw)
                msg = json.loads(raw)
                for item in msg if isinstance(msg, list) else [msg]:
                    self._route(item)
        except websockets.ConnectionClosed:
            pass
        finally:
            for _, fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection closed"))

    def _route(self, item: dict[str, Any]) -> None:
        if "method" in item:
            contract.validate_message(item)
            self.events.append(item["params"])
            self.order.append(("event", item["params"]["seq"]))
            self._event_signal.set()
            return
        method, fut = self._pending.pop(item.get("id"), (None, None))
        contract.validate_message(item, method=method)
        self.order.append(("response", item.get("id")))
        if fut is not None and not fut.done():
            fut.set_result(item)

    async def call(
        self, method: str, params: Any = None, *, timeout: float = 15.0
    ) -> dict[str, Any]:
        """Send a request and return the raw response object (result or error)."""
        ident = next(self._ids)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = (method, fut)
        frame: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            frame["params"] = params
        await self.ws.send(json.dumps(frame))
        return await asyncio.wait_for(fut, timeout)

    async def request(self, method: str, params: Any = None, **kw: Any) -> Any:
        response = await self.call(method, params, **kw)
        if "error" in response:
            raise RpcFailure(response["error"])
        return response["result"]

    async def send_raw(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def recv_raw(self, timeout: float = 10.0) -> Any:
        """For tests that bypass routing: read one frame directly (only without a reader)."""
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def wait_for(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first event (seen so far or arriving) matching predicate(params)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("event not seen")
            self._event_signal.clear()
            try:
                await asyncio.wait_for(self._event_signal.wait(), remaining)
            except TimeoutError:
                pass

    async def close(self) -> None:
        await self.ws.close()
        if self._reader:
            await self._reader


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]
