"""Isolation: a client that stops reading delays nobody, is cut off with 4008, and resumes
with `since` without losing an event.

Two windows of STREAMS streams each: first client A reads along with client B, then A
stops reading (its socket's receive buffer made small, so the stall reaches the
sidecar quickly). B's deltas must keep their pace: the p99 gap between two deltas of
one stream may grow by at most ADDED_GAP_BOUND_MS from the first window to the
second (streams are paced at one 4 KB chunk every 50 ms). The sidecar runs with
`--send-queue SEND_QUEUE` so the overflow comes in seconds. Once the sidecar has cut
A off, A reads what reached it, sees close code 4008, reconnects with `since` = its
last seq, and its whole feed must be gap-free and hold every delta B saw.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from sidecar.dev.fakes import Script
from tests.harness import Sidecar
from tests.soak.common import Feed, Run, configure, fakes, stored, words

SEND_QUEUE = 500
ADDED_GAP_BOUND_MS = 100.0  # p99 gap with a stalled client minus without
OVERFLOW_LOGGED = "closing with 4008"  # the sidecar's warning when it cuts a connection off


async def run(
    run: Run, *, streams: int = 40, send_queue: int = SEND_QUEUE, timing: bool = True
) -> dict[str, Any]:
    """`timing` False (the quick run, inside `make test` beside other phases) skips the
    first window and the gap bound: CI checks the cut and the resume, not the clock."""
    data = run.root / "isolation"
    script = Script(text=words(40000, "i"), chunk_size=4000, rate=20)  # ~11 MB per 40 streams
    async with fakes(run, {"openai": ("openai", script)}) as fake:
        sidecar = run.launch(data, "--send-queue", str(send_queue))
        reader = await Feed.connect(run, sidecar, arrivals=True)
        await configure(reader, run, fake)
        conv = await reader.request(
            "conversations.create", {"modelId": "openai-model", "title": "iso"}
        )
        baseline: list[str] = []
        if timing:
            other = await Feed.connect(run, sidecar, sock=_small_buffer_socket(sidecar.port))
            baseline = await window(reader, conv["conversation"]["id"], streams)  # both read
            await other.close()
        stalled = await Feed.connect(
            run, sidecar, sock=_small_buffer_socket(sidecar.port), max_queue=4
        )
        assert stalled._reader is not None
        stalled._reader.cancel()  # stops reading: what arrives piles up, then the sidecar's queue
        streaming = asyncio.create_task(window(reader, conv["conversation"]["id"], streams))
        # A reads on once the sidecar has cut it off (it waits a bounded time for A to
        # read up to the close frame; on a slow machine the window outlasts that wait).
        await _first(streaming, _logged(sidecar, OVERFLOW_LOGGED))
        stalled._reader = asyncio.create_task(stalled._read())
        await asyncio.wait_for(stalled._reader, 60)
        ids = await streaming
        close_code = stalled.ws.close_code
        cut_after = stalled.last_seq
        resumed = await Feed.connect(run, sidecar, since=cut_after, checker=stalled.checker)
        await asyncio.sleep(0.5)
        await resumed.close()
        await reader.close()
        assert sidecar.terminate() == 0
    rows = stored(data / "sidecar.db")
    stall = gap_figures(reader, ids)
    calm = gap_figures(reader, baseline) if baseline else None
    lost = sum(
        1
        for mid in ids
        if resumed.text(mid) != reader.text(mid) or reader.text(mid) != rows[mid][1]
    )
    problems = resumed.problems()
    added = round(stall["p99"] - calm["p99"], 1) if calm else None
    return {
        "streams": streams,
        "sendQueue": send_queue,
        "stalledClientCloseCode": close_code,
        "stalledClientEventsBeforeCut": cut_after,
        "readerDeltaGapMs": {"nominal": 50.0, "bothReading": calm, "otherStalled": stall},
        "addedP99GapMs": added,
        "addedP99GapBoundMs": ADDED_GAP_BOUND_MS if timing else None,
        "problems": problems[:5],
        "mustBeZero": {
            "notClosedWith4008": int(close_code != 4008),
            "addedGapOverBound": int(added is not None and added > ADDED_GAP_BOUND_MS),
            "resumedFeedProblems": len(problems),
            "messagesDifferingAfterResume": lost,
        },
    }


async def window(reader: Feed, conversation_id: str, streams: int) -> list[str]:
    """Run `streams` streams at once to the end; their message ids."""
    ids = [
        (
            await reader.request(
                "chat.send", {"conversationId": conversation_id, "content": "go", "parentId": None}
            )
        )["assistantMessageId"]
        for _ in range(streams)
    ]
    await asyncio.gather(*(reader.settled(mid, timeout=120) for mid in ids))
    return ids


async def _logged(sidecar: Sidecar, text: str) -> None:
    """Return once the sidecar's log holds `text`, reading only what it appends (the
    debug log grows by megabytes, and this runs while gaps are being timed)."""
    tail = ""
    with open(sidecar.stderr_path, errors="replace") as log:
        while text not in (tail := tail[-len(text) :] + log.read()):  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # another process writes the file: nothing to await


async def _first(task: asyncio.Task[Any], waiting: Any) -> None:
    """Wait for `task` or for `waiting`, whichever ends first; never cancel `task`."""
    other = asyncio.ensure_future(waiting)
    try:
        await asyncio.wait({task, other}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        other.cancel()


def gap_figures(reader: Feed, ids: list[str]) -> dict[str, float]:
    """p50/p99/max of the time between consecutive deltas of each stream, in ms."""
    marks = reader.arrivals or {}
    gaps = sorted(
        (b[0] - a[0]) * 1000
        for mid in ids
        for a, b in zip(marks[mid], marks[mid][1:], strict=False)
    )
    return {
        q: round(gaps[min(int(f * len(gaps)), len(gaps) - 1)], 1)
        for q, f in (("p50", 0.5), ("p99", 0.99), ("max", 1.0))
    }


def _small_buffer_socket(port: int) -> socket.socket:
    """A client socket whose receive buffer is tiny, so a stalled reader backs up at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    return sock
