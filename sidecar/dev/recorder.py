"""Record a running sidecar's event feed as JSON lines, and check a recording.

    python -m sidecar.dev.recorder record --url ws://127.0.0.1:PORT --token ... --out run.jsonl
        [--since N] [--duration S]
    python -m sidecar.dev.recorder check run.jsonl

`record` connects like an app would (bearer token, `initialize`, then
`events.subscribe`) and appends the params of every notification as one JSON
line, flushed per line, until the duration ends, a predicate says stop, the
connection closes, or SIGINT/SIGTERM arrives. The file is appended to: use a
fresh path per recording or the checker will see the seq restart.

`check` runs the feed checker (`sidecar.dev.feed_check`) on a recording.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from sidecar import PROTOCOL_VERSION
from sidecar.dev.feed_check import check_recording

if TYPE_CHECKING:
    import asyncio


CLIENT_NAME = "recorder"
TOKEN_ENV = "SIDECAR_TOKEN"

EventPredicate = Callable[[dict[str, Any]], bool]


# --- recording ------------------------------------------------------------------------


class RecorderError(Exception):
    """The recording could not start or the server refused it; the message never holds the token."""


@dataclass
class RecordSummary:
    out: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    stopped: str = "closed"
    """Why recording ended: "duration", "predicate", "signal" or "closed" (by the server)."""
    session_id: str | None = None
    subscribe_result: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _JsonlWriter:
    def __init__(self, path: Path) -> None:
        self._dumps = orjson.dumps
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO = path.open("ab")

    def write(self, obj: Any) -> None:
        try:
            line = self._dumps(obj)
        except TypeError:  # e.g. an integer beyond 64 bits: keep it rather than lose the event
            line = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        self._file.write(line + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()


async def record(
    url: str,
    token: str,
    out: Path,
    *,
    since: int | None = None,
    stop_after: float | None = None,
    stop_when: EventPredicate | None = None,
    stop_event: asyncio.Event | None = None,
    open_timeout: float = 10.0,
) -> RecordSummary:
    """Append the params of every event notification from `url` to `out`, one JSON line each.

    Stops after `stop_after` seconds (counted from the call), after the first event for
    which `stop_when(params)` is true (that event is written), when `stop_event` is set,
    or when the server closes the connection. Raises RecorderError if the connection,
    `initialize` or `events.subscribe` fails.
    """
    loop = asyncio.get_running_loop()
    deadline = None if stop_after is None else loop.time() + stop_after
    summary = RecordSummary(out=str(out))
    writer = _JsonlWriter(out)
    try:
        try:
            ws = await connect(
                url,
                additional_headers={"Authorization": f"Bearer {token}"},
                compression=None,
                max_size=None,
                open_timeout=open_timeout,
            )
        except InvalidURI as exc:
            raise RecorderError(f"invalid url: {exc.msg}") from None
        except InvalidHandshake as exc:
            raise RecorderError(f"the server refused the connection: {exc}") from None
        except TimeoutError:
            raise RecorderError("cannot connect: timed out") from None
        except OSError as exc:
            raise RecorderError(f"cannot connect: {exc.strerror or exc}") from None

        stop_reason: list[str] = []  # filled by the stopper before it closes the socket
        stopper = asyncio.create_task(_stopper(ws, deadline, stop_event, stop_reason))
        try:
            ended = await _pump(ws, writer, summary, since, stop_when, orjson.loads, orjson.dumps)
        except ConnectionClosed as exc:
            if not stop_reason:
                raise RecorderError(
                    f"the connection closed before the subscription started ({_close_detail(exc)})"
                ) from None
            ended = None
        finally:
            stopper.cancel()
            await ws.close()
        summary.stopped = stop_reason[0] if stop_reason else (ended or "closed")
        return summary
    finally:
        writer.close()


def _close_detail(exc: Any) -> str:
    rcvd = exc.rcvd
    if rcvd is None:
        return "no close frame"
    return f"code {rcvd.code}" + (f": {rcvd.reason}" if rcvd.reason else "")


async def _stopper(
    ws: Any, deadline: float | None, stop_event: asyncio.Event | None, reason: list[str]
) -> None:
    """Close the socket at the deadline or when `stop_event` is set."""
    loop = asyncio.get_running_loop()
    timeout = None if deadline is None else max(0.0, deadline - loop.time())
    if stop_event is None:
        if timeout is None:
            return
        await asyncio.sleep(timeout)
        reason.append("duration")
    else:
        try:
            async with asyncio.timeout(timeout):
                await stop_event.wait()
            reason.append("signal")
        except TimeoutError:
            reason.append("duration")
    await ws.close()


async def _pump(
    ws: Any,
    writer: _JsonlWriter,
    summary: RecordSummary,
    since: int | None,
    stop_when: EventPredicate | None,
    loads: Callable[[Any], Any],
    dumps: Callable[[Any], bytes],
) -> str | None:
    """Run the handshake and write events until the socket closes; "predicate" if stop_when fired.

    Raises ConnectionClosed only when the socket closes before `events.subscribe` answered.
    """
    pending = {1: "initialize"}
    await ws.send(
        dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL_VERSION,
                    "clientInfo": {"name": CLIENT_NAME},
                },
            }
        ).decode()
    )
    subscribed = False
    while True:
        try:
            raw = await ws.recv()
        except ConnectionClosed:
            if subscribed:
                return None
            raise
        try:
            msg = loads(raw)
        except ValueError:
            continue  # not JSON: nothing to record
        for item in msg if isinstance(msg, list) else [msg]:
            if not isinstance(item, dict):
                continue
            if "method" in item and "id" not in item:
                params = item.get("params")
                event = params if isinstance(params, dict) else item
                writer.write(event)
                _count(summary, event)
                if stop_when is not None and stop_when(event):
                    return "predicate"
                continue
            method = pending.pop(item.get("id"), None)
            if method is None:
                continue
            if "error" in item:
                error = item["error"] if isinstance(item["error"], dict) else {}
                data = error.get("data") if isinstance(error.get("data"), dict) else {}
                reason = data.get("reason")
                raise RecorderError(
                    f"{method} failed: {error.get('code')} {error.get('message')}"
                    + (f" ({reason})" if reason else "")
                )
            result = item.get("result")
            if method == "initialize":
                if isinstance(result, dict):
                    summary.session_id = result.get("sessionId")
                sub_params: dict[str, Any] = {} if since is None else {"since": since}
                pending[2] = "events.subscribe"
                await ws.send(
                    dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": 2,
                            "method": "events.subscribe",
                            "params": sub_params,
                        }
                    ).decode()
                )
            else:
                summary.subscribe_result = result if isinstance(result, dict) else None
                subscribed = True


def _count(summary: RecordSummary, event: Mapping[str, Any]) -> None:
    summary.events += 1
    seq = event.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool):
        if summary.first_seq is None:
            summary.first_seq = seq
        summary.last_seq = seq


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def add_record_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", required=True, help="the sidecar's ws:// URL (from its ready line)"
    )
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token", help=f"bearer token (default: ${TOKEN_ENV}); never printed")
    token.add_argument("--token-file", type=Path, metavar="PATH", help="read the token from a file")
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to append events to")
    parser.add_argument(
        "--since", type=_non_negative_int, metavar="N", help="replay events with seq > N first"
    )
    parser.add_argument(
        "--duration",
        type=_positive_float,
        metavar="SECONDS",
        help="stop after this long (default: until closed or Ctrl-C)",
    )


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, metavar="PATH", help="a JSONL recording")


def _token(args: argparse.Namespace) -> str | None:
    if getattr(args, "token_file", None) is not None:
        try:
            return args.token_file.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise RecorderError(
                f"cannot read the token file {args.token_file}: {exc.strerror or exc}"
            ) from None
    return getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None


def _redact(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


async def run_record(args: argparse.Namespace) -> int:
    """`record`: 0 when recording ended normally, 1 on failure, 2 without a token."""
    try:
        token = _token(args)
    except RecorderError as exc:
        print(f"recorder record: error: {exc}", file=sys.stderr)
        return 1
    if not token:
        print(
            f"recorder record: error: no token: pass --token or --token-file, or set ${TOKEN_ENV}",
            file=sys.stderr,
        )
        return 2

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        summary = await record(
            args.url, token, args.out, since=args.since, stop_after=args.duration, stop_event=stop
        )
    except RecorderError as exc:
        print(f"recorder record: error: {_redact(str(exc), token)}", file=sys.stderr)
        return 1
    except OSError as exc:  # the output file
        detail = _redact(str(exc.strerror or exc), token)
        print(f"recorder record: error: cannot write {args.out}: {detail}", file=sys.stderr)
        return 1
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
    span = "" if summary.first_seq is None else f" (seq {summary.first_seq}..{summary.last_seq})"
    print(
        f"recorded {summary.events} events{span} to {summary.out}; stopped: {summary.stopped}",
        file=sys.stderr,
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    """`check`: prints the report as JSON; 0 if ok, 1 if not, 2 if unreadable."""
    try:
        report = check_recording(args.path)
    except OSError as exc:
        print(
            f"recorder check: error: cannot read {args.path}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sidecar.dev.recorder record ...` / `... check PATH`."""
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.dev.recorder", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_record_arguments(sub.add_parser("record", help="record a sidecar's events as JSON lines"))
    add_check_arguments(sub.add_parser("check", help="check a recording"))
    args = parser.parse_args(argv)
    if args.command == "record":
        try:
            return asyncio.run(run_record(args))
        except KeyboardInterrupt:
            return 0
    return run_check(args)


if __name__ == "__main__":
    raise SystemExit(main())
