"""`python -m tests.soak [--quick] [--out FILE] [--keep]`: run every phase, print the report.

The report is one JSON object: each phase's figures, the secret scan, and `mustBeZero`
(every figure that must be 0, flattened); the exit code is 1 when one is not. Full
size takes 5-10 minutes on two cores; `--quick` is the size `make test` runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.soak import attack, crash, faults, isolation, load
from tests.soak.common import Run
from tests.soak.scan import scan_run

FULL = {
    "crash": {"rounds": 50},
    "load": {"streams": 100, "conversations": 20, "seconds": 120.0},
    "isolation": {"streams": 40},
    "faults": {},
    "attack": {"rounds": 10, "frames": 100_000},
}
# Inside `make test` (tests/test_soak.py), on machines as busy as CI's: the figures that
# must be 0 are checked there, the one timing bound is not.
QUICK = {
    "crash": {"rounds": 2},
    "load": {"streams": 20, "conversations": 5, "seconds": 5.0},
    "isolation": {"streams": 20, "send_queue": 100, "timing": False},
    "faults": {},
    "attack": {"rounds": 1, "frames": 3_000},
}
PHASES = {
    "crash": crash.run,
    "load": load.run,
    "isolation": isolation.run,
    "faults": faults.run,
    "attack": attack.run,
}


async def soak(root: Path, sizes: dict[str, dict[str, Any]]) -> dict:
    """Run the phases one after the other and report.

    Never all at once: on two cores the phases' clients then starve each other (and
    the fakes), and the figures measure the test driver instead of the sidecar."""
    run = Run(root)
    started = time.monotonic()
    report: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "loadAverage1mAtStart": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "system": platform.system(),
        },
    }

    async def phase(name: str) -> None:
        began = time.monotonic()
        try:
            report[name] = await PHASES[name](run, **sizes[name])
        except Exception as exc:  # a phase that breaks is a failure, never a silent pass
            report[name] = {
                "error": f"{type(exc).__name__}: {exc}"[:500],
                "mustBeZero": {"phaseFailed": 1},
            }
        report[name]["phaseSeconds"] = round(time.monotonic() - began, 1)

    for name in PHASES:
        await phase(name)
    report["secrets"] = scan_run(run)
    report["seconds"] = round(time.monotonic() - started, 1)
    must = {
        f"{name}.{key}": value
        for name in (*PHASES, "secrets")
        for key, value in report[name]["mustBeZero"].items()
    }
    report["mustBeZero"] = must
    report["ok"] = not any(must.values())
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the small sizes `make test` runs")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep the run's folder")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        report = asyncio.run(soak(root, QUICK if args.quick else FULL))
        report = {
            "command": "make soak" if not args.quick else "python -m tests.soak --quick",
            **report,
        }
    finally:
        if args.keep:
            print(f"run folder kept: {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
