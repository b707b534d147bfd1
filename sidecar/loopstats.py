"""An opt-in probe of the event loop's lag, for the soak suite (`python -m tests.soak`).

Every other task waits behind whatever holds the loop, so how late a timer fires is
what a stream, a snapshot or a handshake waits too. With `SIDECAR_LOOP_STATS=PATH`
set, a task sleeps INTERVAL again and again and records how late it woke; PATH gets
the stats as one JSON object every second and at shutdown, with a cumulative
histogram (lag in ms, 0.1 ms steps below 10 ms, 1 ms steps above), so a reader
can take the difference of two readings for the lag of a window. Without the variable
nothing runs. It is an environment variable, not a method or a flag: it measures
the process and adds nothing to the contract.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

ENV = "SIDECAR_LOOP_STATS"
INTERVAL = 0.01
WRITE_EVERY = 1.0


class LoopStats:
    def __init__(self, path: str) -> None:
        self.path = path
        self.lags: list[float] = []  # seconds late, one per wake-up
        self.histogram: dict[float, int] = {}  # lag in ms, rounded -> wake-ups
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_env(cls) -> LoopStats | None:
        path = os.environ.get(ENV)
        if not path:
            return None
        stats = cls(path)
        stats._task = asyncio.create_task(stats._run(), name="loop-stats")
        return stats

    async def _run(self) -> None:
        clock = time.perf_counter
        written = clock()
        while True:
            before = clock()
            await asyncio.sleep(INTERVAL)
            now = clock()
            lag = max(now - before - INTERVAL, 0.0)
            self.lags.append(lag)
            key = round(lag * 1000, 1) if lag < 0.01 else float(round(lag * 1000))
            self.histogram[key] = self.histogram.get(key, 0) + 1
            if now - written >= WRITE_EVERY:
                self.write()
                written = now

    def summary(self) -> dict[str, float | int]:
        lags = sorted(self.lags)
        if not lags:
            return {"samples": 0}

        def ms(q: float) -> float:
            return round(lags[min(int(q * len(lags)), len(lags) - 1)] * 1000, 2)

        return {
            "samples": len(lags),
            "intervalMs": INTERVAL * 1000,
            "p50Ms": ms(0.50),
            "p99Ms": ms(0.99),
            "maxMs": round(lags[-1] * 1000, 2),
        }

    def write(self) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w") as f:
            json.dump({"pid": os.getpid(), **self.summary(), "histogram": self.histogram}, f)
        os.replace(tmp, self.path)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.write()
