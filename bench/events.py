"""Hot-path costs, in process: publishing an event to subscribers, and dispatching a request.

Prints one JSON object with the median microseconds per operation over several
rounds (medians, because these machines are noisy):
- publishMicros: EventBus.publish of a conversation event fanned out to 3 subscribers
  (serialize once, keep for replay, hand the same frame to each);
- dispatchMicros: one JSON-RPC frame through parse -> checks -> jsonrpcserver ->
  pydantic params -> handler -> response bytes (`initialize`, no database);
- replayMillis: replaying 100,000 buffered events into a resuming subscriber.
Usage: python bench/events.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from types import SimpleNamespace

from sidecar.bus import EventBus
from sidecar.protocol.events import ConversationDeleted
from sidecar.rpc.frames import notification


class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def deliver(self, frame: bytes) -> None:
        self.frames.append(frame)


def bench_publish(n: int) -> float:
    bus = EventBus(notification, 100_000)
    sinks = [Sink() for _ in range(3)]
    for sink in sinks:
        bus.subscribe(sink, None)
    start = time.perf_counter()
    for i in range(n):
        bus.publish(ConversationDeleted(conversation_id=f"c{i}"))
    return (time.perf_counter() - start) / n * 1e6


def bench_replay() -> float:
    bus = EventBus(notification, 100_000)
    for i in range(100_000):
        bus.publish(ConversationDeleted(conversation_id=f"c{i}"))
    start = time.perf_counter()
    replay = bus.subscribe(Sink(), 0)
    assert len(replay) == 100_000
    return (time.perf_counter() - start) * 1e3


async def bench_dispatch(n: int) -> float:
    from sidecar.rpc import dispatch
    from sidecar.rpc.session import Session

    services = SimpleNamespace(
        bus=EventBus(notification, 10),
        config=SimpleNamespace(max_frame_bytes=1 << 24, max_inflight=256),
    )
    conn = Session(services, SimpleNamespace(key="bench"))
    frame = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1,"clientInfo":{"name":"bench"}}}'
    assert b'"result"' in await dispatch.dispatch(frame, conn)
    start = time.perf_counter()
    for _ in range(n):
        await dispatch.dispatch(frame, conn)
    return (time.perf_counter() - start) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    publish = [bench_publish(20_000) for _ in range(args.rounds)]
    dispatch = [asyncio.run(bench_dispatch(5_000)) for _ in range(args.rounds)]
    replay = [bench_replay() for _ in range(3)]
    print(
        json.dumps(
            {
                "bench": "events",
                "rounds": args.rounds,
                "publishMicrosMedian": round(statistics.median(publish), 2),
                "dispatchMicrosMedian": round(statistics.median(dispatch), 2),
                "replay100kMillisMedian": round(statistics.median(replay), 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
