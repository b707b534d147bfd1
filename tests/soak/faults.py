"""Faults: every fault the fake providers can play, against every provider kind.

HTTP errors (each one's real status, body and headers), a mid-stream error event, a
dropped connection, a stall, a stream without a finish reason; the stream faults both
before the first word and after three chunks. Retryable faults before the first word
are retried (once here) and the retry gets the fake's default reply. Every message
must end (no stuck one), its stored content must equal its deltas, and must hold
every word the fake sent before the fault (or the whole retried reply).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from sidecar.dev.fakes import HTTP_FAULTS, STREAM_FAULTS, Script
from tests.soak.common import Feed, Run, configure, fakes, lost_words, stored, words

PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "deepseek": "deepseek",
    "local": "openai-compatible",
}
SUCCESS = Script(text=words(25, "ok"), chunk_size=7)
CHUNK = 6


def cases() -> list[tuple[str, int]]:
    return [(f, 0) for f in HTTP_FAULTS] + [(f, n) for f in STREAM_FAULTS for n in (0, 3)]


async def run(run: Run) -> dict[str, Any]:
    data = run.root / "faults"
    async with fakes(run, {p: (k, SUCCESS) for p, k in PROVIDERS.items()}) as fake:
        sidecar = run.launch(data)
        feed = await Feed.connect(run, sidecar)
        await configure(feed, run, fake, idleTimeoutSeconds=1.0, maxRetries=1)
        results = await asyncio.gather(
            *(one_kind(feed, provider, fake[provider]) for provider in PROVIDERS)
        )
        await asyncio.sleep(0.3)
        await feed.close()
        assert sidecar.terminate() == 0
    rows = stored(data / "sidecar.db")
    outcomes: Counter[str] = Counter()
    figures = {"lostWords": 0, "stuckMessages": 0, "storedNotEqualToDeltas": 0}
    losses = []
    for case, mid, expected, final in (r for kind in results for r in kind):
        if mid is None or rows[mid][0] in ("pending", "streaming"):
            figures["stuckMessages"] += 1
            continue
        outcomes[final["status"]] += 1
        content = rows[mid][1]
        lost = lost_words(expected, content)
        if lost:
            error = final.get("error") or {}
            losses.append(
                {**case, "lost": lost, "status": final["status"], "error": error.get("code")}
            )
        figures["lostWords"] += lost
        figures["storedNotEqualToDeltas"] += int(content != feed.text(mid))
    problems = feed.problems()
    figures["feedProblems"] = len(problems)
    return {
        "kinds": len(PROVIDERS),
        "faults": len(HTTP_FAULTS) + len(STREAM_FAULTS),
        "cases": sum(len(r) for r in results),
        "outcomes": dict(outcomes),
        "losses": losses,
        "mustBeZero": figures,
    }


async def one_kind(
    feed: Feed, provider: str, fake: Any
) -> list[tuple[dict[str, Any], str | None, str, dict[str, Any]]]:
    """(the case, message id or None if it never ended, the text it must hold, the
    settled message)."""
    conv = await feed.request(
        "conversations.create", {"modelId": f"{provider}-model", "title": f"faults {provider}"}
    )
    out = []
    for fault, after in cases():
        case = {"provider": provider, "fault": fault, "after": after}
        script = Script(
            text=words(40, "f"), chunk_size=CHUNK, fault=fault, fault_after=after, retry_after=0.05
        )
        fake.enqueue(script)
        ids = await feed.request(
            "chat.send", {"conversationId": conv["conversation"]["id"], "content": fault}
        )
        mid = ids["assistantMessageId"]
        try:
            final = await feed.settled(mid, timeout=30)
        except TimeoutError:
            out.append((case, None, "", {"status": "stuck"}))
            continue
        if final["status"] == "complete":
            expected = SUCCESS.text  # the retry got the default reply
        elif fault in HTTP_FAULTS:
            expected = ""
        elif fault == "no_finish":
            expected = script.text
        else:
            expected = script.text[: after * CHUNK]
        out.append((case, mid, expected, final))
    return out
