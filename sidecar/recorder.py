"""Record a running sidecar's event feed as JSON lines, and check a recording.

    sidecar record --url ws://127.0.0.1:PORT --token ... --out run.jsonl [--since N] [--duration S]
    sidecar check-recording run.jsonl

`record` connects like an app would (bearer token, `initialize`, then
`events.subscribe`) and appends the params of every notification as one JSON
line, flushed per line, until the duration ends, a predicate says stop, the
connection closes, or SIGINT/SIGTERM arrives. The file is appended to: use a
fresh path per recording or the checker will see the seq restart.

`check_recording` is the replay checker. It works on plain dicts, so it can
check events the models do not describe yet. It verifies:

- `seq` grows by exactly 1 from line to line (gaps, duplicates and reordering
  are problems);
- every assistant message seen starting (`assistant.stream.started`, or
  `message.created` whose `message.role` is "assistant") gets exactly one
  terminal event among `assistant.stream.completed|cancelled|failed`. Two or
  more is a problem; none is a problem only if a later event shows the message
  in a terminal status, otherwise the recording just ended mid-stream and the
  message is listed in `open_streams`;
- `assistant.stream.delta` events of a message carry `index` 0, 1, 2, ...
  without holes (when the recording starts mid-stream, from the first index seen)
  and none comes after the message's terminal event;
- when a terminal event carries `message.content` and every delta of the
  message is in the recording, the content equals the deltas' text joined.

Assumed stream event shapes (camelCase like every event): the message id is
`messageId` or `message.id`; a delta's text is `text` (or `delta`/`content`).

Importing this module is cheap (the CLI imports it to build its parser):
websockets and orjson are imported by the functions that use them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sidecar import PROTOCOL_VERSION

if TYPE_CHECKING:
    import asyncio

STREAM_STARTED = "assistant.stream.started"
STREAM_DELTA = "assistant.stream.delta"
STREAM_TERMINALS = frozenset(
    {"assistant.stream.completed", "assistant.stream.cancelled", "assistant.stream.failed"}
)
MESSAGE_CREATED = "message.created"
# = sidecar.protocol.objects.TERMINAL_STATUSES, copied so importing this module stays cheap
TERMINAL_STATUSES = frozenset({"complete", "cancelled", "failed", "interrupted"})
DELTA_TEXT_KEYS = ("text", "delta", "content")
MAX_PROBLEMS = 1000

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
        import orjson

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
    import asyncio

    import orjson
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

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
    import asyncio

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
    from websockets.exceptions import ConnectionClosed

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


# --- checking -------------------------------------------------------------------------


@dataclass
class RecordingReport:
    path: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    gaps: list[dict[str, int]] = field(default_factory=list)
    """One entry per hole: {"after": seq, "next": seq, "missing": count}."""
    duplicates: list[int] = field(default_factory=list)
    """Every seq seen again (once per extra occurrence)."""
    terminals: dict[str, int] = field(default_factory=dict)
    """Assistant message id -> how many terminal stream events it got."""
    open_streams: list[str] = field(default_factory=list)
    """Messages still streaming when the recording ended: not a failure."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


@dataclass
class _Stream:
    first_line: int
    started: bool = False
    terminal_types: list[str] = field(default_factory=list)
    next_index: int | None = None
    deltas_complete: bool = False
    """Every delta since index 0 is in the recording, in order."""
    texts: list[str] = field(default_factory=list)
    terminal_status: str | None = None
    """A terminal status reported by some other event (e.g. message.updated)."""


class _Checker:
    def __init__(self, report: RecordingReport) -> None:
        self.report = report
        self.streams: dict[str, _Stream] = {}
        self.seen: set[int] = set()
        self.prev: int | None = None
        self.dropped = 0

    def problem(self, text: str) -> None:
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(text)
        else:
            self.dropped += 1

    def line(self, lineno: int, event: dict[str, Any]) -> None:
        report = self.report
        report.events += 1
        seq = event.get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool):
            self.problem(f"line {lineno}: no integer seq")
        elif not self._seq(lineno, seq):
            return  # a duplicate: already counted once, do not count its stream events twice
        event_type = event.get("type")
        if not isinstance(event_type, str):
            self.problem(f"line {lineno}: no string type")
            return
        self._stream_event(lineno, event_type, event)

    def _seq(self, lineno: int, seq: int) -> bool:
        report = self.report
        if seq in self.seen:
            report.duplicates.append(seq)
            self.problem(f"line {lineno}: seq {seq} duplicated")
            return False
        self.seen.add(seq)
        if report.first_seq is None:
            report.first_seq = seq
        prev = self.prev
        if prev is not None:
            if seq > prev + 1:
                report.gaps.append({"after": prev, "next": seq, "missing": seq - prev - 1})
                self.problem(f"line {lineno}: seq gap {prev} -> {seq} ({seq - prev - 1} missing)")
            elif seq < prev:
                self.problem(f"line {lineno}: seq {seq} after {prev} (out of order)")
        self.prev = seq if prev is None else max(prev, seq)
        report.last_seq = self.prev
        return True

    def _stream(self, lineno: int, message_id: str) -> _Stream:
        stream = self.streams.get(message_id)
        if stream is None:
            stream = self.streams[message_id] = _Stream(first_line=lineno)
        return stream

    def _stream_event(self, lineno: int, event_type: str, event: dict[str, Any]) -> None:
        message = event.get("message") if isinstance(event.get("message"), dict) else None
        message_id = _message_id(event)

        if event_type == STREAM_STARTED or (
            event_type == MESSAGE_CREATED
            and message is not None
            and message.get("role") == "assistant"
        ):
            if message_id is None:
                self.problem(f"line {lineno}: {event_type} without a message id")
                return
            stream = self._stream(lineno, message_id)
            if not stream.started and stream.next_index is None:
                stream.deltas_complete = True
                stream.next_index = 0
            stream.started = True
            return

        if event_type == STREAM_DELTA:
            if message_id is None:
                self.problem(f"line {lineno}: {event_type} without a message id")
                return
            stream = self._stream(lineno, message_id)
            if stream.terminal_types:
                self.problem(
                    f"line {lineno}: delta for message {message_id} after its {stream.terminal_types[0]}"
                )
            index = event.get("index")
            if not isinstance(index, int) or isinstance(index, bool):
                self.problem(
                    f"line {lineno}: delta for message {message_id} without an integer index"
                )
                stream.deltas_complete = False
            else:
                expected = stream.next_index
                if expected is not None and index != expected:
                    self.problem(
                        f"line {lineno}: delta index {index} for message {message_id}, expected {expected}"
                    )
                    stream.deltas_complete = False
                stream.next_index = index + 1
            stream.texts.append(_delta_text(event))
            return

        if event_type in STREAM_TERMINALS:
            if message_id is None:
                self.problem(f"line {lineno}: {event_type} without a message id")
                return
            stream = self._stream(lineno, message_id)
            stream.terminal_types.append(event_type)
            if len(stream.terminal_types) == 1 and message is not None and stream.deltas_complete:
                content = message.get("content")
                joined = "".join(stream.texts)
                if isinstance(content, str) and content != joined:
                    self.problem(
                        f"line {lineno}: {event_type} content of message {message_id} differs from its "
                        f"deltas ({len(content)} chars vs {len(joined)} from {len(stream.texts)} deltas; "
                        f"first difference at {_first_difference(content, joined)})"
                    )
            return

        # any other event that carries a known message in a terminal status
        if message is not None and message_id in self.streams:
            status = message.get("status")
            if status in TERMINAL_STATUSES:
                self.streams[message_id].terminal_status = status

    def finish(self) -> None:
        report = self.report
        for message_id, stream in self.streams.items():
            count = len(stream.terminal_types)
            report.terminals[message_id] = count
            if count == 0:
                if stream.terminal_status is not None:
                    self.problem(
                        f"message {message_id} (line {stream.first_line}) became "
                        f"{stream.terminal_status} without a terminal stream event"
                    )
                else:
                    report.open_streams.append(message_id)
            elif count > 1:
                self.problem(
                    f"message {message_id} (line {stream.first_line}) has {count} terminal events: "
                    + ", ".join(stream.terminal_types)
                )
        if self.dropped:
            report.problems.append(f"... and {self.dropped} more problems")


def _message_id(event: Mapping[str, Any]) -> str | None:
    value = event.get("messageId")
    if isinstance(value, str):
        return value
    message = event.get("message")
    if isinstance(message, dict) and isinstance(message.get("id"), str):
        return message["id"]
    return None


def _delta_text(event: Mapping[str, Any]) -> str:
    for key in DELTA_TEXT_KEYS:
        value = event.get(key)
        if isinstance(value, str):
            return value
    return ""


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def check_recording(path: Path | str) -> RecordingReport:
    """Check a JSONL recording (one event's params per line); see the module docstring."""
    path = Path(path)
    report = RecordingReport(path=str(path))
    checker = _Checker(report)
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                report.events += 1
                checker.problem(f"line {lineno}: not JSON")
                continue
            if not isinstance(event, dict):
                report.events += 1
                checker.problem(f"line {lineno}: not a JSON object")
                continue
            checker.line(lineno, event)
    checker.finish()
    return report


# --- command line -----------------------------------------------------------------------


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
    """`sidecar record`: 0 when recording ended normally, 1 on failure, 2 without a token."""
    try:
        token = _token(args)
    except RecorderError as exc:
        print(f"sidecar record: error: {exc}", file=sys.stderr)
        return 1
    if not token:
        print(
            f"sidecar record: error: no token: pass --token or --token-file, or set ${TOKEN_ENV}",
            file=sys.stderr,
        )
        return 2

    import asyncio

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
        print(f"sidecar record: error: {_redact(str(exc), token)}", file=sys.stderr)
        return 1
    except OSError as exc:  # the output file
        detail = _redact(str(exc.strerror or exc), token)
        print(f"sidecar record: error: cannot write {args.out}: {detail}", file=sys.stderr)
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
    """`sidecar check-recording`: prints the report as JSON; 0 if ok, 1 if not, 2 if unreadable."""
    try:
        report = check_recording(args.path)
    except OSError as exc:
        print(
            f"sidecar check-recording: error: cannot read {args.path}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m sidecar.recorder record ...` / `... check PATH`."""
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.recorder", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_record_arguments(sub.add_parser("record", help="record a sidecar's events as JSON lines"))
    add_check_arguments(sub.add_parser("check", help="check a recording"))
    args = parser.parse_args(argv)
    if args.command == "record":
        import asyncio

        try:
            return asyncio.run(run_record(args))
        except KeyboardInterrupt:
            return 0
    return run_check(args)


if __name__ == "__main__":
    raise SystemExit(main())
