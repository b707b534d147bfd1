"""Crash safety: SIGKILL at a random moment while several streams run (plain ones, one in a
tool loop, one whose conversation is getting its title), restart, and compare the file
with what the client had seen.

After every restart: `PRAGMA integrity_check` is ok; no message is `pending` or
`streaming`; every message a client saw finish (this round or any earlier one) is
stored exactly as it finished; every interrupted message holds at least the text that
reached the client GRACE seconds before the kill (the flusher writes every 250 ms),
and nothing that was not streamed.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from sidecar.dev.fakes import Script, ToolCallScript
from tests.soak.common import Feed, Run, configure, fakes, integrity, lost_words, stored, words

GRACE = 1.0  # seconds: four flush intervals, for a loaded two-core machine
PLAIN = ("openai", "anthropic", "deepseek", "local")


def scripts() -> dict[str, tuple[str, Script]]:
    long = Script(text=words(400), chunk_size=12, rate=40)
    return {
        "openai": ("openai", long),
        "anthropic": ("anthropic", long),
        "deepseek": ("deepseek", long),
        "local": ("openai-compatible", long),
        # Every step streams text then asks for a calculation: the loop runs until the
        # turn's step limit, so a kill lands mid-loop.
        "tools": (
            "openai-compatible",
            Script(
                text=words(30, "t"),
                chunk_size=10,
                rate=40,
                tool_calls=[ToolCallScript("", "calculate", '{"expression": "6*7"}')],
            ),
        ),
        # Short, slow replies; the title call after the first one is as slow.
        "titles": ("openai-compatible", Script(text="A short title", chunk_size=2, rate=6)),
    }


async def run(run: Run, rounds: int, seed: int = 6) -> dict[str, Any]:
    rng = random.Random(seed)
    data = run.root / "crash"
    db = data / "sidecar.db"
    known: dict[str, tuple[str, str]] = {}  # message id -> (status, content) it must keep
    figures = {
        "rounds": rounds,
        "killedStreams": 0,
        "killedMidToolLoop": 0,
        "killedMidTitle": 0,
        "integrityFailures": 0,
        "stuckMessages": 0,
        "finishedMessagesChanged": 0,
        "lostFlushedWords": 0,
        "foreignText": 0,
        "checkedFinishedMessages": 0,
        "interruptedCharsKeptPct": [],
    }
    async with fakes(run, scripts()) as fake:
        sidecar = run.launch(data)
        setup = await Feed.connect(run, sidecar)
        await configure(setup, run, fake, idleTimeoutSeconds=10.0, maxRetries=0)
        await setup.request("settings.update", {"titleModelId": "titles-model"})
        await setup.close()
        for _ in range(rounds):
            feed = await Feed.connect(run, sidecar, arrivals=True)
            streams = await start_streams(feed, rng)
            await asyncio.sleep(rng.uniform(0.2, 2.5))
            killed_at = time.monotonic()
            sidecar.kill()
            await feed.close()
            sidecar = run.launch(data)
            check_round(feed, streams, killed_at, db, known, figures)
        sidecar.terminate()
    kept = figures.pop("interruptedCharsKeptPct")
    figures["interruptedCharsKeptMedianPct"] = sorted(kept)[len(kept) // 2] if kept else None
    figures["mustBeZero"] = {
        k: figures[k]
        for k in (
            "integrityFailures",
            "stuckMessages",
            "finishedMessagesChanged",
            "lostFlushedWords",
            "foreignText",
        )
    }
    return figures


async def start_streams(feed: Feed, rng: random.Random) -> dict[str, str]:
    """Message id -> what it is: three plain streams, one tool loop, one untitled chat."""
    started = {}
    for provider in rng.sample(PLAIN, 3) + ["tools", "titles"]:
        conv = await feed.request(
            "conversations.create",
            {
                "modelId": f"{provider}-model",
                **({} if provider == "titles" else {"title": f"soak {provider}"}),
            },
        )
        ids = await feed.request(
            "chat.send",
            {
                "conversationId": conv["conversation"]["id"],
                "content": f"Go on, {provider}",
                **({"tools": ["calculate"]} if provider == "tools" else {}),
            },
        )
        started[ids["assistantMessageId"]] = provider
    return started


def check_round(
    feed: Feed,
    streams: dict[str, str],
    killed_at: float,
    db: Path,
    known: dict[str, tuple[str, str]],
    figures: dict[str, Any],
) -> None:
    if integrity(db) != "ok":
        figures["integrityFailures"] += 1
    rows = stored(db)
    figures["stuckMessages"] += sum(1 for s, _ in rows.values() if s in ("pending", "streaming"))
    updates = [
        e["message"]
        for e in feed.events
        if e["type"] == "message.updated"
        and e["message"]["role"] == "assistant"
        and e["message"]["status"] not in ("pending", "streaming")
    ]
    finished = {m["id"]: (m["status"], m["content"]) for m in updates}
    conversation_of = {m["id"]: m["conversationId"] for m in updates}
    titled = {
        e["conversation"]["id"]
        for e in feed.events
        if e["type"] == "conversation.updated" and e["conversation"]["titleSource"] == "generated"
    }
    known.update(finished)
    for mid, want in known.items():
        figures["checkedFinishedMessages"] += 1
        if rows.get(mid) != want:
            figures["finishedMessagesChanged"] += 1
    for mid, kind in streams.items():
        if mid in finished:
            if kind == "titles" and conversation_of[mid] not in titled:
                figures["killedMidTitle"] += 1
            continue
        figures["killedStreams"] += 1
        if kind == "tools" and any(
            e.get("messageId") == mid for e in feed.events if "tool." in e["type"]
        ):
            figures["killedMidToolLoop"] += 1
        status, content = rows[mid]
        seen = feed.text(mid)
        early = max(
            (n for t, n in (feed.arrivals or {}).get(mid, []) if t <= killed_at - GRACE), default=0
        )
        flushed = seen[:early]
        figures["lostFlushedWords"] += lost_words(flushed, content)
        if not (content.startswith(seen) or seen.startswith(content)):
            figures["foreignText"] += 1
        if seen:
            figures["interruptedCharsKeptPct"].append(
                round(100 * min(len(content), len(seen)) / len(seen))
            )
        known[mid] = (status, content)  # from now on it must stay exactly so
