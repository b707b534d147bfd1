"""The framings of a streamed reply, parsed as bytes, one read at a time.

`feed(chunk)` takes what one socket read brought and returns every event it completed,
so the stream loop pays its per-read costs (a timeout, a wake-up, generator hops) once
per read, not once per event. Both keep what is held near the cap however long a line
grows: a line or event past `limit` bytes raises ProviderError as the bytes come in.

SSE follows the WHATWG event-stream interpretation: lines end with CRLF, LF or CR (a
CRLF cut between two reads is still one ending); a leading BOM is dropped; a line
starting with ":" is a comment; `field: value` loses one space after the colon, a line
without a colon is a field with an empty value; `data` lines join with "\\n"; `event`
names the event (empty when unset); `id` (without NUL) and `retry` (digits only) are
kept; a blank line dispatches the event when it has data; an event the stream ends
inside (no blank line after it) is dropped. Ollama's newline-delimited JSON gives
each non-blank line as an event's data, with no name.
"""

from __future__ import annotations

from .errors import oversized_event_error

_BOM = b"\xef\xbb\xbf"

Event = tuple[str, str]  # (its `event:` name, possibly empty; its data)


class _Lines:
    """Splits reads into lines, their endings stripped; holds an unended line."""

    __slots__ = ("_limit", "_held", "_skip_lf")

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._held = bytearray()  # the line not ended yet
        self._skip_lf = False  # the last read ended with CR: a LF opening this one ends nothing

    def end(self) -> bytes:
        """The body ended: the line it ended inside (empty when none)."""
        held, self._held = bytes(self._held), bytearray()
        return held

    def split(self, chunk: bytes) -> list[bytes]:
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if b"\n" not in chunk and b"\r" not in chunk:
            self._held += chunk
            if len(self._held) > self._limit:
                raise oversized_event_error(self._limit)
            return []
        if self._held:
            self._held += chunk
            chunk = bytes(self._held)
            self._held = bytearray()
        lines = chunk.splitlines()  # bytes split on \r\n, \r and \n only
        last = chunk[-1]
        if last == 13:  # "\r": maybe the first half of "\r\n"
            self._skip_lf = True
        elif last != 10:
            self._held += lines.pop()
        limit = self._limit
        if len(self._held) > limit or any(len(line) > limit for line in lines):
            raise oversized_event_error(limit)
        return lines


class SSEParser:
    """Server-sent events, bytes in, (event, data) out."""

    __slots__ = ("_lines", "_limit", "_first", "_data", "_event", "_size", "last_id", "retry")

    def __init__(self, limit: int) -> None:
        self._lines = _Lines(limit)
        self._limit = limit
        self._first = True  # the stream's first line (which may carry a BOM) is still to come
        self._data: list[bytes] = []
        self._event = b""
        self._size = 0  # bytes of the lines of the event being read
        self.last_id = ""
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event]:
        lines = self._lines.split(chunk)
        if not lines:
            return []
        if self._first:
            self._first = False
            if lines[0].startswith(_BOM):
                lines[0] = lines[0][3:]
        events: list[Event] = []
        data = self._data
        size = self._size
        for line in lines:
            if not line:
                size = 0
                if data:
                    text = data[0] if len(data) == 1 else b"\n".join(data)
                    name = self._event.decode("utf-8", "replace") if self._event else ""
                    events.append((name, text.decode("utf-8", "replace")))
                    data.clear()
                self._event = b""
                continue
            size += len(line) + 1
            if size > self._limit:
                raise oversized_event_error(self._limit)
            if line[0] == 58:  # ":" a comment
                continue
            field, colon, value = line.partition(b":")
            if colon and value[:1] == b" ":
                value = value[1:]
            if field == b"data":
                data.append(value)
            elif field == b"event":
                self._event = value
            elif field == b"id":
                if b"\0" not in value:
                    self.last_id = value.decode("utf-8", "replace")
            elif field == b"retry":
                if value.isdigit():
                    self.retry = int(value)
        self._size = size
        return events

    def end(self) -> list[Event]:
        """The body ended: an event it ended inside is dropped (no blank line, no event)."""
        self._lines.end()
        return []


class NDJSONParser:
    """Newline-delimited JSON (Ollama): each non-blank line as an event's data."""

    __slots__ = ("_lines",)

    def __init__(self, limit: int) -> None:
        self._lines = _Lines(limit)

    def feed(self, chunk: bytes) -> list[Event]:
        return [
            ("", ln.decode("utf-8", "replace")) for ln in self._lines.split(chunk) if ln.strip()
        ]

    def end(self) -> list[Event]:
        """The body ended: its last line counts even without a newline."""
        line = self._lines.end()
        return [("", line.decode("utf-8", "replace"))] if line.strip() else []
