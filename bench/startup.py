"""Time from process start to the ready line, and idle memory, over several launches.

Prints one JSON object: median/min/max milliseconds to ready and the median idle
RSS (MiB) one second after ready, when the background warm-up has finished.
With `--binary PATH` (a `make dist` executable) the same figures for it go under
"binary"; the two are launched alternately, so both see the same machine load.
"importsMsMedian" is the time, in the same run, for a process that only imports what a
launch imports before its ready line (`sidecar.cli`, `sidecar.logs`, `sidecar.process`:
the store and its models, websockets, aiosqlite, pydantic) and exits; `readyOverImports`
the ratio: what the launch spends beyond its imports (the database, the socket).
Usage: python bench/startup.py [--runs N] [--binary dist/sidecar-<triple>/sidecar-<triple>]
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


IMPORTS = "import os, sidecar.cli, sidecar.logs, sidecar.process; os._exit(0)"  # no teardown


def imports_ms() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORTS], check=True)
    return (time.perf_counter() - start) * 1000


def figures(results: list[tuple[float, float]]) -> dict[str, float]:
    ready = [r[0] for r in results]
    return {
        "readyMsMedian": round(statistics.median(ready), 1),
        "readyMsMin": round(min(ready), 1),
        "readyMsMax": round(max(ready), 1),
        "idleRssMiBMedian": round(statistics.median(r[1] for r in results), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--binary", help="also time this built executable (make dist)")
    args = parser.parse_args()
    commands = {"python": [sys.executable, "-m", "sidecar", "serve"]}
    if args.binary:
        commands["binary"] = [args.binary, "serve"]
    for command in commands.values():
        one_run(command)  # warm the OS page cache and __pycache__
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    imports = []
    for _ in range(args.runs):
        imports.append(imports_ms())
        for name, command in commands.items():
            results[name].append(one_run(command))
    report = {
        "bench": "startup",
        "runs": args.runs,
        "loadAvg1m": os.getloadavg()[0],
        **figures(results["python"]),
        "importsMsMedian": round(statistics.median(imports), 1),
    }
    report["readyOverImports"] = round(report["readyMsMedian"] / report["importsMsMedian"], 2)
    if args.binary:
        report["binary"] = {"path": args.binary, **figures(results["binary"])}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
