"""`python -m sidecar.dev.fakes`: one fake provider as a separate process (for the demo and benchmarks).

Prints one JSON line, {"type":"ready","baseUrl":...,"kind":...,"port":...,"pid":...}, on
stdout once it listens, then serves until SIGTERM, SIGINT, or end of stdin (stdin is
watched only when it is a pipe or socket, so `stdin=DEVNULL` does not stop it at once).
With no scripts to play, every request gets the echo reply ("You said: ...").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import stat
import sys

from sidecar.dev.fakes.provider import KINDS, FakeProvider
from sidecar.process import watch_stdin


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.dev.fakes", description="Serve a fake LLM provider over HTTP."
    )
    parser.add_argument("--kind", required=True, choices=KINDS)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 (the default) picks a free port")
    parser.add_argument(
        "--rate", type=float, default=None, help="chunks per second (default: unpaced)"
    )
    parser.add_argument("--api-key", default=None, help="refuse requests without this key (401)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.rate is not None and args.rate <= 0:
        _parser().error("--rate must be positive")
    return asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> int:
    fake = FakeProvider(
        args.kind, host=args.host, port=args.port, api_key=args.api_key, rate=args.rate
    )
    try:
        base_url = await fake.start()
    except OSError as exc:
        sys.stderr.write(
            f"sidecar.dev.fakes: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}\n"
        )
        return 1
    stop = asyncio.Event()
    _watch(stop)
    ready = {
        "type": "ready",
        "baseUrl": base_url,
        "kind": args.kind,
        "port": fake.port,
        "pid": os.getpid(),
    }
    sys.stdout.write(json.dumps(ready, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    await stop.wait()
    await fake.close()
    return 0


def _watch(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    if _stdin_is_pipe():
        watch_stdin(lambda: loop.call_soon_threadsafe(stop.set))


def _stdin_is_pipe() -> bool:
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
