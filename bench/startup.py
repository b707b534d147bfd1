"""Time from process start to the ready line, and idle memory, over several launches.

Prints one JSON object: median/min/max milliseconds to ready and the median idle
RSS (MiB) one second after ready, when the background warm-up has finished.
Usage: python bench/startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def one_run(command: list[str]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as data_dir:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*command, "--data-dir", data_dir], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf = b""
        while b"\n" not in buf:
            if not sel.select(20):
                proc.kill()
                raise RuntimeError("no ready line within 20 s")
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError("exited before ready")
            buf += chunk
        ready_ms = (time.perf_counter() - start) * 1000
        json.loads(buf.split(b"\n", 1)[0])
        time.sleep(1.0)
        rss = rss_mib(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        return ready_ms, rss


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    command = [sys.executable, "-m", "sidecar", "serve"]
    one_run(command)  # warm the OS page cache and __pycache__
    results = [one_run(command) for _ in range(args.runs)]
    ready = [r[0] for r in results]
    rss = [r[1] for r in results]
    print(
        json.dumps(
            {
                "bench": "startup",
                "runs": args.runs,
                "readyMsMedian": round(statistics.median(ready), 1),
                "readyMsMin": round(min(ready), 1),
                "readyMsMax": round(max(ready), 1),
                "idleRssMiBMedian": round(statistics.median(rss), 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
