"""What every soak phase shares: the run's secrets and folder, sidecars started with the
loop probe, fake providers for every kind, and a client that checks its feed as it
arrives instead of keeping it (hundreds of thousands of events would not fit)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sidecar.dev.fakes import FakeProvider, Script
from sidecar.dev.feed_check import FeedChecker, RecordingReport
from tests import contract
from tests.harness import Client, Sidecar, launch

TERMINALS = frozenset(
    {"assistant.stream.completed", "assistant.stream.cancelled", "assistant.stream.failed"}
)
BUILTIN = ("openai", "anthropic", "deepseek")
PRICING = {"input": 2.0, "output": 8.0, "cacheRead": 0.5, "cacheWrite": 2.5}
VALIDATE_EVERY = 25  # every event but deltas is checked against schema/, and one delta in 25


def words(n: int, tag: str = "w") -> str:
    """Distinct words, so a lost or repeated piece of text shows."""
    return "".join(f"{tag}{i} " for i in range(n))


def lost_words(expected: str, stored: str) -> int:
    """Words of `expected` past the longest common prefix with `stored`."""
    i = 0
    for a, b in zip(expected, stored, strict=False):
        if a != b:
            break
        i += 1
    return len(expected[i:].split())


class Scanner:
    """Counts where the run's secrets show up, by source (frames, stderr, database...)."""

    def __init__(self, needles: Iterable[str]) -> None:
        self.needles = [n.encode() for n in needles]
        self.hits: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()

    def scan(self, source: str, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.bytes[source] += len(raw)
        for needle in self.needles:
            if needle in raw:
                self.hits[source] += raw.count(needle)

    def append(self, frame: bytes | str) -> None:
        """A frame a client received (Scanner stands in for Client.raw)."""
        self.scan("frames", frame)


@dataclass
class Run:
    """One soak run: its folder, its secrets, and every sidecar it started (to scan)."""

    root: Path
    token: str = field(default_factory=lambda: f"soak-token-DISTINCTIVE-{secrets.token_hex(12)}")
    keys: dict[str, str] = field(default_factory=dict)
    sidecars: list[Sidecar] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scanner = Scanner([self.token])

    def key(self, provider_id: str) -> str:
        if provider_id not in self.keys:
            self.keys[provider_id] = f"sk-soak-{provider_id}-DISTINCTIVE-{secrets.token_hex(10)}"
            self.scanner.needles.append(self.keys[provider_id].encode())
        return self.keys[provider_id]

    def launch(self, data_dir: Path, *args: str) -> Sidecar:
        """A sidecar with the run's token, the loop probe on, keys in the 0600 file (never
        the machine's real keychain) and no provider keys from the environment."""
        sidecar = launch(
            data_dir,
            "--token",
            self.token,
            *args,
            env={
                "SIDECAR_LOOP_STATS": str(data_dir / "loop-stats.json"),
                "SIDECAR_KEY_STORE": "file",
                "OPENAI_API_KEY": "",
                "ANTHROPIC_API_KEY": "",
                "DEEPSEEK_API_KEY": "",
            },
        )
        self.sidecars.append(sidecar)
        return sidecar


@contextlib.asynccontextmanager
async def fakes(run: Run, kinds: dict[str, tuple[str, Script]]) -> AsyncIterator[dict[str, Any]]:
    """Fake providers by provider id: {id: (kind, default script)}, each requiring its key.

    They serve from their own thread and event loop. The driver's loop is saturated
    (it parses and checks every frame of several clients); fakes sharing it answered
    seconds late on a busy machine, tripping the sidecar's idle timeout, so the suite
    measured the driver instead of the sidecar. `enqueue` stays safe to call from here
    (a deque append)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="soak-fakes", daemon=True)
    thread.start()

    def there(coro: Any) -> Any:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))

    async def start(kind: str, script: Script, key: str) -> FakeProvider:
        fake = FakeProvider(kind, default=script, api_key=key)
        await fake.start()
        return fake

    started: dict[str, FakeProvider] = {}
    try:
        for provider_id, (kind, script) in kinds.items():
            started[provider_id] = await there(start(kind, script, run.key(provider_id)))
        yield started
    finally:
        for fake in started.values():
            await there(fake.close())
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()


async def configure(
    client: Client, run: Run, fakes: dict[str, FakeProvider], **provider: Any
) -> None:
    """Point a provider (built-in id, or a custom backend) and a model `<id>-model` at each fake."""
    for provider_id, fake in fakes.items():
        await client.request(
            "providers.configure",
            {
                "id": provider_id,
                **({} if provider_id in BUILTIN else {"kind": fake.kind}),
                "baseUrl": fake.base_url,
                "apiKey": run.key(provider_id),
                **provider,
            },
        )
        await client.request(
            "models.upsert",
            {
                "model": {
                    "id": f"{provider_id}-model",
                    "provider": provider_id,
                    "providerModel": f"upstream-{provider_id}",
                    "pricing": PRICING,
                    "capabilities": {"tools": True, "vision": False, "reasoning": False},
                }
            },
        )


@dataclass(eq=False)
class Feed(Client):
    """A client that checks its feed as it arrives: seq gap-free and without duplicates,
    each message's deltas contiguous and equal to its terminal message (the recorder's
    checker), one terminal each; every frame is searched for the run's secrets. Deltas
    are not kept as events; their text is, per message."""

    checker: FeedChecker = field(default_factory=lambda: FeedChecker(RecordingReport(path="live")))
    received: int = 0
    arrivals: dict[str, list[tuple[float, int]]] | None = None
    """Per message, (arrival time, text length so far) of each delta, when asked for."""
    _settled: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    async def connect(
        cls,
        run: Run,
        sidecar: Sidecar,
        *,
        since: int | None = None,
        checker: FeedChecker | None = None,
        arrivals: bool = False,
        **kw: Any,
    ) -> Feed:
        feed = await cls.open(sidecar, subscribe=False, **kw)
        for frame in feed.raw:
            run.scanner.append(frame)
        feed.raw = run.scanner  # type: ignore[assignment]
        if checker is not None:
            feed.checker = checker
        if arrivals:
            feed.arrivals = {}
        await feed.request("events.subscribe", {} if since is None else {"since": since})
        return feed

    @property
    def last_seq(self) -> int:
        return self.checker.prev or 0

    def text(self, message_id: str) -> str:
        stream = self.checker.streams.get(message_id)
        return "".join(stream.texts) if stream else ""

    def problems(self) -> list[str]:
        """What the checker found so far (call once the feed is done)."""
        self.checker.finish()
        return self.checker.report.problems

    async def settled(self, message_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """The `message.updated` that follows the message's terminal event."""
        fut = self._settled.get(message_id)
        if fut is None:
            fut = self._settled[message_id] = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    def _route(self, item: dict[str, Any]) -> None:
        if "method" not in item:
            super()._route(item)
            return
        params = item["params"]
        self.received += 1
        kind = params["type"]
        delta = kind == "assistant.stream.delta"
        if not delta or self.received % VALIDATE_EVERY == 0:
            contract.validate_message(item)
        self.checker.line(self.received, params)
        if delta:
            if self.arrivals is not None:
                marks = self.arrivals.setdefault(params["messageId"], [])
                total = (marks[-1][1] if marks else 0) + len(params["text"])
                marks.append((time.monotonic(), total))
            return
        self.events.append(params)
        self._event_signal.set()
        if kind == "message.updated" and params["message"]["status"] not in (
            "pending",
            "streaming",
        ):
            fut = self._settled.setdefault(
                params["message"]["id"], asyncio.get_running_loop().create_future()
            )
            if not fut.done():
                fut.set_result(params["message"])


def stored(db: Path, where: str = "role = 'assistant'") -> dict[str, tuple[str, str]]:
    """Message id -> (status, content), read straight from the file (the sidecar may run)."""
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        rows = con.execute(f"SELECT id, status, content FROM messages WHERE {where}").fetchall()
    return {mid: (status, content) for mid, status, content in rows}


def integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        return "\n".join(row[0] for row in con.execute("PRAGMA integrity_check"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def loop_histogram(data_dir: Path) -> Counter[float]:
    """The sidecar's cumulative event-loop lag histogram (ms -> wake-ups), as last written."""
    path = data_dir / "loop-stats.json"
    if not path.exists():
        return Counter()
    return Counter({float(k): v for k, v in json.loads(path.read_text())["histogram"].items()})


def lag_figures(histogram: Counter[float]) -> dict[str, float | int]:
    """p50, p99 and max (ms) of a lag histogram (or of the difference of two)."""
    total = sum(histogram.values())
    if not total:
        return {"samples": 0}
    out: dict[str, float | int] = {"samples": total}
    seen = 0
    marks = iter(((0.5, "p50Ms"), (0.99, "p99Ms")))
    mark, name = next(marks)
    for lag in sorted(histogram):
        seen += histogram[lag]
        while seen >= mark * total:
            out[name] = lag
            mark, name = next(marks, (2.0, ""))
    out["maxMs"] = max(lag for lag, n in histogram.items() if n > 0)
    return out
