"""The feed checker: a recording (or a live feed) of events against the contract's promises.

It works on plain dicts, so it can check events the models do not describe yet;
the event names and terminal statuses it knows come from `sidecar.protocol`.
It verifies:

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

The message id is `messageId` or `message.id`; a delta's text is `text` (or
`delta`/`content`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sidecar.protocol.events import TERMINAL_EVENTS, MessageCreated, StreamDelta, StreamStarted
from sidecar.protocol.objects import TERMINAL_STATUSES


def _type(event: type) -> str:
    return event.model_fields["type"].default  # type: ignore[attr-defined]


STREAM_STARTED = _type(StreamStarted)
STREAM_DELTA = _type(StreamDelta)
STREAM_TERMINALS = TERMINAL_EVENTS
MESSAGE_CREATED = _type(MessageCreated)
DELTA_TEXT_KEYS = ("text", "delta", "content")
MAX_PROBLEMS = 1000


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


class FeedChecker:
    """Checks events one at a time, as a recording is read or as a live feed arrives."""

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
    checker = FeedChecker(report)
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
