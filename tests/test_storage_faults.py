"""Storage faults: a full or read-only disk, a locked or damaged database.

Each one gives a clear error (one line at start; a JSON-RPC error with
`data.storage` or a `storage` stream failure at run time), loses nothing
already stored, and never leaves the process crashed or a message stuck.
Full and read-only disks are real: a small tmpfs mounted for the test (root
only, as on this project's machines and CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.dev.fakes import Script
from tests.chat_env import TOKEN, chat_env
from tests.harness import Client, RpcFailure, launch

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a tmpfs needs root (this project's CI runs as root)"
)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path) -> Path:
    """Take every free byte of the file system holding `directory`."""
    filler = directory / "filler"
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    return filler


def serve_once(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """A launch expected to fail: its exit code and what it printed."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "serve", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("sidecar: error: ")
    for word in words:
        assert word in result.stderr, result.stderr


def rows(db: Path) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(db)) as con:
        return con.execute("SELECT id, status, content FROM messages ORDER BY id").fetchall()


async def stored_chat(tmp_path: Path) -> list[tuple]:
    """A data dir holding one complete exchange; returns its stored messages."""
    async with chat_env(tmp_path) as env:
        ids = await env.send("Keep this")
        await env.settled(ids["assistantMessageId"])
    return rows(tmp_path / "data" / "sidecar.db")


async def test_damaged_database_at_start_is_one_line_and_left_as_it_was(tmp_path):
    await stored_chat(tmp_path)
    db = tmp_path / "data" / "sidecar.db"
    good = db.read_bytes()
    for name, damaged in (
        ("garbage", os.urandom(len(good))),
        ("truncated", good[: len(good) // 2]),
    ):
        db.write_bytes(damaged)
        for _ in range(2):  # the same clear answer every time: no crash loop, no repair attempt
            result = serve_once("--data-dir", str(db.parent))
            assert_one_line_error(result, str(db), "cannot open database")
            assert "Traceback" not in result.stderr
            assert db.read_bytes() == damaged, f"{name}: the damaged file was changed"


async def test_locked_database_at_start_is_one_line_then_starts_once_free(tmp_path):
    kept = await stored_chat(tmp_path)
    db = tmp_path / "data" / "sidecar.db"
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        result = serve_once("--data-dir", str(db.parent))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert_one_line_error(result, "database is locked")
    sc = launch(db.parent, "--token", TOKEN)
    try:
        assert rows(db) == kept
    finally:
        assert sc.terminate() == 0


async def test_locked_database_at_run_time_answers_a_storage_error(tmp_path):
    async with chat_env(tmp_path) as env:
        kept = rows(env.sidecar.data_dir / "sidecar.db")
        seen = len(env.client.events)
        # The request leaves while the turn is stored: the reply streams in meanwhile.
        env.fake.enqueue(Script(text="word " * 400, chunk_size=5, rate=20))  # 20 s
        blocker = sqlite3.connect(env.sidecar.data_dir / "sidecar.db", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # held past the sidecar's 5 s busy timeout
        try:
            with pytest.raises(RpcFailure) as err:
                await env.client.request(
                    "chat.send",
                    {"conversationId": env.conversation_id, "content": "Blocked"},
                    timeout=30,
                )
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert err.value.code == -32603 and err.value.data["storage"] == "locked"
        assert "locked" in err.value.error["message"]
        # Nothing stored, nothing told, and the provider call that had started is closed.
        assert rows(env.sidecar.data_dir / "sidecar.db") == kept
        assert env.client.events[seen:] == []
        assert len(env.fake.requests) == 1
        await env.fake.wait_disconnect(10.0)
        ids = await env.send("Free again")
        assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
        assert "Traceback" not in env.sidecar.stderr()


@needs_root
async def test_read_only_disk_at_start_is_one_line(tmp_path):
    await stored_chat(tmp_path)
    with tmpfs(tmp_path / "ro") as mnt:
        (mnt / "sidecar.db").write_bytes((tmp_path / "data" / "sidecar.db").read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        result = serve_once("--data-dir", str(mnt))
        assert_one_line_error(result, str(mnt), "not writable")
        result = serve_once("--data-dir", str(tmp_path / "elsewhere"), "--db", str(mnt / "x.db"))
        assert_one_line_error(result, str(mnt), "not writable")


@needs_root
async def test_full_disk_at_start_is_one_line(tmp_path):
    with tmpfs(tmp_path / "full") as mnt:
        fill(mnt)
        result = serve_once("--data-dir", str(tmp_path / "logs"), "--db", str(mnt / "new.db"))
        assert_one_line_error(result, "database or disk is full")


@needs_root
async def test_full_disk_mid_stream_fails_the_stream_clearly_and_saves_it_once_freed(tmp_path):
    """The reply that was streaming when the disk filled ends `failed` (code `storage`)
    with every word; a send answers a storage error; once space is back the reply is
    saved as it was published, and a restart finds everything."""
    with tmpfs(tmp_path / "disk") as mnt:
        db = mnt / "sidecar.db"
        async with chat_env(tmp_path, args=("--db", str(db))) as env:
            first = await env.send("Before")
            kept = await env.settled(first["assistantMessageId"])
            env.fake.enqueue(Script(text="word " * 400, chunk_size=10, rate=100))
            ids = await env.send("A long one")
            mid = ids["assistantMessageId"]
            await env.client.wait_for(
                lambda e: e["type"] == "assistant.stream.delta" and e["index"] == 20
            )
            filler = fill(mnt)
            terminal = await env.terminal(mid)
            deltas = "".join(
                e["text"] for e in env.events_of(mid) if e["type"] == "assistant.stream.delta"
            )
            assert terminal["type"] == "assistant.stream.failed"
            assert terminal["error"]["code"] == "storage" and terminal["error"]["retryable"]
            assert "disk is full" in terminal["error"]["message"]
            assert terminal["message"]["content"] == deltas == "word " * 400
            with pytest.raises(RpcFailure) as err:
                await env.send("While full")
            assert err.value.code == -32603 and err.value.data["storage"] == "full"
            snapshot = await env.stored(mid)  # what was published, though not yet on disk
            assert snapshot["content"] == deltas and snapshot["status"] == "failed"

            filler.unlink()
            for _ in range(50):  # saved within a retry interval or two
                if (mid, "failed", deltas) in rows(db):
                    break
                await asyncio.sleep(0.1)
            assert (mid, "failed", deltas) in rows(db)
            ids = await env.send("After")
            assert (await env.settled(ids["assistantMessageId"]))["status"] == "complete"
            log = env.sidecar.stderr()
            assert "Traceback" not in log and log.count("disk is full") <= 4
        sc = launch(tmp_path / "data", "--db", str(db), "--token", TOKEN)
        try:
            client = await Client.open(sc)
            got = await client.request("conversations.get", {"conversationId": env.conversation_id})
            by_id = {m["id"]: m for m in got["messages"]}
            assert by_id[kept["id"]]["content"] == kept["content"]
            assert by_id[kept["id"]]["status"] == "complete"
            assert not [r for r in rows(db) if r[1] in ("pending", "streaming")]
            await client.close()
        finally:
            assert sc.terminate() == 0
