"""MCP servers for the tests: real ones nobody here wrote (pinned, installed by
`make mcp-servers` into .venv-mcp and tests/mcp_servers/node_modules), a misbehaving one
(tests/mcp_servers/misbehaving.py) and a small HTTP one made with the SDK
(tests/mcp_servers/http_server.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "mcp_servers"
VENV = ROOT / ".venv-mcp"
TIME_SERVER = VENV / "bin" / "mcp-server-time"
EVERYTHING = (
    HERE / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "index.js"
)
MISBEHAVING = HERE / "misbehaving.py"
HTTP_SERVER = HERE / "http_server.py"
MARKER = "SIDECAR_MCP_SERVER"


def install() -> None:
    """`make mcp-servers` (a no-op when they are there): a fresh checkout's pytest works."""
    if (VENV / ".installed").exists() and (HERE / "node_modules" / ".installed").exists():
        return
    subprocess.run(["make", "-s", "mcp-servers"], cwd=ROOT, check=True, timeout=600)


def time_server(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Time",
        "transport": "stdio",
        "command": str(TIME_SERVER),
        "args": ["--local-timezone", "UTC"],
        **extra,
    }


def everything_server(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Everything",
        "transport": "stdio",
        "command": "node",
        "args": [str(EVERYTHING), "stdio"],
        **extra,
    }


def misbehaving_server(*args: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "Misbehaving",
        "transport": "stdio",
        "command": sys.executable,
        "args": [str(MISBEHAVING), *args],
        **extra,
    }


def processes_of(server_id: str) -> list[int]:
    """Pids of live processes whose environment names the server (the sidecar's marker)."""
    needle = f"{MARKER}={server_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if needle in environ.split(b"\0") and "State:\tZ" not in status:
            found.append(int(entry.name))
    return found


def wait_until(predicate: Any, timeout: float = 20.0) -> None:
    """Poll a condition of the outside world (processes) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)


def ready_event(server_id: str):
    def match(e: dict[str, Any]) -> bool:
        return (
            e["type"] == "mcp.server.updated"
            and e["server"]["id"] == server_id
            and e["server"]["state"] == "ready"
        )

    return match


def state_event(server_id: str, state: str):
    def match(e: dict[str, Any]) -> bool:
        return (
            e["type"] == "mcp.server.updated"
            and e["server"]["id"] == server_id
            and e["server"]["state"] == state
        )

    return match


def env_with_path() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "")}


class HttpServer:
    """tests/mcp_servers/http_server.py in a process of its own (.venv-mcp's Python)."""

    def __init__(self, key: str, port: int = 0) -> None:
        self.key = key
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HttpServer:
        self.proc = subprocess.Popen(
            [str(VENV / "bin" / "python"), str(HTTP_SERVER), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "EXPECTED_KEY": self.key},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        assert line.startswith("PORT "), line
        self.port = int(line.split()[1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
