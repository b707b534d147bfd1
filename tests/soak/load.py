"""Load: STREAMS concurrent streams across CONVERSATIONS conversations and three clients,
for a bounded time, every provider kind at once.

Each worker keeps one stream going: it sends (through one of the three clients, in
turn), waits for the reply to settle and sends again, until the deadline. Every client
sees every event: its feed must have no gap and no duplicate, and each message's deltas
must equal its stored content. The sidecar measures its own event-loop lag
(`SIDECAR_LOOP_STATS`); RSS is read at the start, at the end of the first minute (or
third of the run, for short runs) and at the end. The replay buffer is set to
REPLAY_BUFFER events, so that it is full after the first minute: what RSS gains after
that is not the (bounded) buffer filling up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sidecar.dev.fakes import Script
from tests.soak.common import (
    Feed,
    Run,
    configure,
    cpu_seconds,
    fakes,
    lag_figures,
    loop_histogram,
    rss_mib,
    stored,
    words,
)

PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "local": "openai-compatible",
}
REPLAY_BUFFER = 20_000  # full within the first minute: later growth is not the buffer filling
RSS_GROWTH_BOUND_MIB = 16.0  # after the first minute


async def run(
    run: Run, *, streams: int = 100, conversations: int = 20, seconds: float = 120.0
) -> dict[str, Any]:
    data = run.root / "load"
    script = Script(text=words(120), chunk_size=8, rate=20)  # ~2 deltas a second... x streams
    kinds = {pid: (kind, script) for pid, kind in PROVIDERS.items()}
    async with fakes(run, kinds) as fake:
        sidecar = run.launch(data, "--replay-buffer", str(REPLAY_BUFFER))
        clients = [await Feed.connect(run, sidecar) for _ in range(3)]
        await configure(clients[0], run, fake, idleTimeoutSeconds=30.0)
        providers = list(PROVIDERS)
        convs = []
        for i in range(conversations):
            created = await clients[i % 3].request(
                "conversations.create",
                {"modelId": f"{providers[i % len(providers)]}-model", "title": f"load {i}"},
            )
            convs.append(created["conversation"]["id"])
        warm = [  # one reply per kind, off the clock: first-use costs (imports, TLS setup)
            await clients[0].request(
                "chat.send", {"conversationId": convs[i], "content": "warm up", "parentId": None}
            )
            for i in range(len(providers))
        ]
        await asyncio.gather(*(clients[0].settled(w["assistantMessageId"]) for w in warm))
        await asyncio.sleep(1.1)  # the probe writes its file every second
        lag_before = loop_histogram(data)
        rss = {"startMiB": rss_mib(sidecar.proc.pid)}
        cpu = (cpu_seconds(sidecar.proc.pid), time.process_time())
        started = time.monotonic()
        deadline = started + seconds
        settled: list[int] = [0]
        errors: list[str] = []
        workers = [
            asyncio.create_task(
                worker(i, clients, convs[i % conversations], deadline, settled, errors)
            )
            for i in range(streams)
        ]
        first = min(60.0, seconds / 3)
        await asyncio.sleep(first)
        rss["afterFirstMinuteMiB"] = rss_mib(sidecar.proc.pid)
        await asyncio.gather(*workers)
        elapsed = time.monotonic() - started
        rss["endMiB"] = rss_mib(sidecar.proc.pid)
        busy = {  # who the bottleneck was: two cores for the sidecar and this driver
            "sidecarCpuPct": round(100 * (cpu_seconds(sidecar.proc.pid) - cpu[0]) / elapsed),
            "driverCpuPct": round(100 * (time.process_time() - cpu[1]) / elapsed),
        }
        await asyncio.sleep(1.1)  # the last events reach every client; the probe writes
        lag = lag_figures(loop_histogram(data) - lag_before)
        for client in clients:
            await client.close()
        assert sidecar.terminate() == 0
    rows = stored(data / "sidecar.db")
    feed_problems = [p for c in clients for p in c.problems()]
    mismatched = 0
    deltas = 0
    for mid, (_, content) in rows.items():
        for client in clients:
            stream = client.checker.streams.get(mid)
            deltas += len(stream.texts) if stream else 0
            if client.text(mid) != content:
                mismatched += 1
    growth = round(rss["endMiB"] - rss["afterFirstMinuteMiB"], 1)
    return {
        "streams": streams,
        "conversations": conversations,
        "clients": 3,
        "seconds": round(elapsed, 1),
        "messagesSettled": settled[0],
        "deltaEventsReceived": deltas,
        "deltaEventsPerSecondPerClient": round(deltas / 3 / elapsed),
        "eventLoopLagMs": lag,
        **busy,
        "rss": rss,
        "rssGrowthAfterFirstMinuteMiB": growth,
        "rssGrowthBoundMiB": RSS_GROWTH_BOUND_MIB,
        "problems": feed_problems[:5] + errors[:5],
        "mustBeZero": {
            "feedGapsOrDuplicates": len(feed_problems),
            "storedNotEqualToDeltas": mismatched,
            "stuckMessages": sum(1 for s, _ in rows.values() if s in ("pending", "streaming")),
            "requestErrors": len(errors),
            "rssGrowthOverBound": int(growth > RSS_GROWTH_BOUND_MIB),
        },
    }


async def worker(
    n: int,
    clients: list[Feed],
    conversation_id: str,
    deadline: float,
    settled: list[int],
    errors: list[str],
) -> None:
    parent = None  # each worker grows its own branch of the conversation
    turn = 0
    while time.monotonic() < deadline:
        client = clients[(n + turn) % len(clients)]
        turn += 1
        try:
            ids = await client.request(
                "chat.send",
                {"conversationId": conversation_id, "content": f"worker {n}", "parentId": parent},
                timeout=60,
            )
            message = await client.settled(ids["assistantMessageId"], timeout=120)
        except Exception as exc:  # counted, reported, and the worker goes on
            errors.append(f"worker {n}: {type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(1)
            continue
        if message["status"] != "complete":
            errors.append(f"worker {n}: reply ended {message['status']}")
        settled[0] += 1
        parent = message["id"]
