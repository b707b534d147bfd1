"""`make dist`: the PyInstaller one-folder build keeps the launch contract.

The build takes about a minute, so it happens once per session, into a temp dir,
unless `dist/` already holds a build of exactly these sources (then that one is
tested). A missing PyInstaller or a failed build fails the test: never a skip.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sidecar
from sidecar.dev.fakes import Script
from tests.chat_env import chat_env

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "packaging" / "build.py"
sys.path.insert(0, str(ROOT / "packaging"))
import triple  # noqa: E402  (packaging/ is scripts, not a package)

# The first test to need the binary pays for the build (about a minute on 2 cores).
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Path:
    """The output folder of a build of the current sources."""
    dist = ROOT / "dist"
    check = [sys.executable, str(BUILD), "--check", "--out", str(dist)]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return dist
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    subprocess.run([sys.executable, str(BUILD), "--out", str(out)], check=True, timeout=900)
    print(f"built the sidecar in {time.monotonic() - started:.0f} s")
    return out


@pytest.fixture(scope="session")
def binary(built) -> Path:
    return built / json.loads(next(built.glob("sidecar-*.build.json")).read_text())["executable"]


def test_folder_is_named_for_tauri_and_every_checksum_matches(built, binary):
    name = f"sidecar-{triple.target_triple()}"
    assert binary == built / name / triple.executable_name(triple.target_triple())
    assert (built / name / "_internal").is_dir(), "one-folder build: libraries beside the binary"
    lines = (built / f"{name}.sha256").read_text().splitlines()
    files = {p.relative_to(built).as_posix() for p in (built / name).rglob("*") if p.is_file()}
    assert {line.split("  ", 1)[1] for line in lines} == files
    for line in lines:
        digest, rel = line.split("  ", 1)
        assert hashlib.sha256((built / rel).read_bytes()).hexdigest() == digest, rel
    info = json.loads((built / f"{name}.build.json").read_text())
    assert info["version"] == sidecar.__version__
    assert info["protocolVersion"] == sidecar.PROTOCOL_VERSION


def test_lazily_imported_modules_are_bundled_and_test_tools_are_not(binary):
    listing = subprocess.run(
        [str(Path(sys.executable).parent / "pyi-archive_viewer"), "-b", "-r", str(binary)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    modules = {line.strip() for line in listing.splitlines()}
    for needed in (
        "sidecar.engine.turns",
        "sidecar.rpc.dispatch",
        "sidecar.providers.anthropic",
        "sidecar.providers.openai_chat",
        "sidecar.store.usage",
        "sidecar.legacy",
        "jsonrpcserver",
        "httpx_sse",
        "aiosqlite",
        "orjson",
        "sidecar.guard",
        "mcp.client.stdio",
        "mcp.client.streamable_http",
    ):
        assert needed in modules, needed
    assert not {m for m in modules if m == "sidecar.dev" or m.startswith("sidecar.dev.")}
    assert not {m for m in modules if ".tests" in m}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_binary_chats_through_a_fake_provider_and_exits_when_stdin_closes(
    tmp_path, binary, kind
):
    async with chat_env(
        tmp_path, kind, command=[str(binary)], args=("--watch-stdin",), stdin=subprocess.PIPE
    ) as env:
        ready = env.sidecar.ready
        assert ready["version"] == sidecar.__version__
        assert ready["protocolVersion"] == sidecar.PROTOCOL_VERSION
        assert ready["pid"] == env.sidecar.proc.pid, "one process: the binary is the sidecar"
        ids = await env.send("Hello from the binary")
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete" and final["content"]
        assert final["usage"]["costUsd"] is not None
        env.sidecar.proc.stdin.close()
        started = time.monotonic()
        # Waited for off the loop, so the client can answer the server's closing handshake.
        assert await asyncio.to_thread(env.sidecar.proc.wait, 5) == 0
        assert time.monotonic() - started < 2.0
    assert "stopped" in env.sidecar.stderr()


async def test_binary_runs_an_mcp_server_under_its_own_guard(tmp_path, binary):
    """The frozen executable is its own watchdog (`<binary> mcp-guard -- ...`)."""
    from tests import mcp_env
    from tests.test_tools import call

    async with chat_env(tmp_path, command=[str(binary)]) as env:
        added = await env.client.request(
            "mcp.servers.add", mcp_env.misbehaving_server(approval="never")
        )
        sid = added["server"]["id"]
        await env.client.wait_for(mcp_env.ready_event(sid), 60)
        guards = [
            p
            for p in mcp_env.processes_of(sid)
            if Path(f"/proc/{p}/cmdline").read_bytes().startswith(str(binary).encode() + b"\0")
        ]
        assert guards, "the guard is the binary itself"
        env.fake.enqueue(
            Script(text="", tool_calls=[call("misbehaving__echo", {"text": "frozen"})]),
            Script(text="ok"),
        )
        ids = await env.send("echo", tools=["misbehaving__echo"])
        final = await env.settled(ids["assistantMessageId"], 60)
        assert final["toolCalls"][0]["result"] == "echo: frozen"
        env.sidecar.proc.kill()
        env.sidecar.proc.wait(10)
        mcp_env.wait_until(lambda: not mcp_env.processes_of(sid), 20)


def test_binary_refuses_bad_flags_in_one_line(binary, tmp_path):
    done = subprocess.run(
        [str(binary), "serve", "--port", "70000", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("system", "machine", "libc", "expected"),
    [
        ("Linux", "x86_64", "glibc", "x86_64-unknown-linux-gnu"),
        ("Linux", "aarch64", "glibc", "aarch64-unknown-linux-gnu"),
        ("Linux", "x86_64", "musl", "x86_64-unknown-linux-musl"),
        ("Darwin", "arm64", "", "aarch64-apple-darwin"),
        ("Darwin", "x86_64", "", "x86_64-apple-darwin"),
        ("Windows", "AMD64", "", "x86_64-pc-windows-msvc"),
        ("Windows", "ARM64", "", "aarch64-pc-windows-msvc"),
    ],
)
def test_triple_without_rust(system, machine, libc, expected):
    assert triple.from_platform(system, machine, libc) == expected


def test_triple_agrees_with_rustc_where_rust_is_installed():
    from_rustc = triple.from_rustc()
    assert triple.target_triple() == (from_rustc or triple.from_platform())
    if from_rustc is not None:
        assert triple.from_platform() == from_rustc
    assert triple.executable_name("x86_64-pc-windows-msvc") == "sidecar-x86_64-pc-windows-msvc.exe"
