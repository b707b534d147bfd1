"""What every dialect shares: SSE and NDJSON framing, ids, error answers and the
`FakeDialect` interface."""

from __future__ import annotations

import json
import secrets
import string
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sidecar.dev.fakes.reply import Reply
from sidecar.dev.fakes.script import Script

KEEPALIVE = b": keep-alive\n\n"

# Frame kinds, which the stream driver treats differently:
#   open    the stream's opening (role chunk, message_start, ping): never a fault point
#   text    a text fragment: counted for `fault_after`, paced by `rate`
#   delta   any other fragment (thinking, tool arguments): paced by `rate`
#   event   structure (block start/stop, comments)
#   finish  what says the response is complete: left out by the `no_finish` fault
#   end     what closes the stream ([DONE], a separate usage chunk)
PACED = frozenset({"text", "delta"})


@dataclass(frozen=True)
class Frame:
    data: bytes
    kind: str


@dataclass
class HttpError:
    """An answer other than a chat reply: an error, or (`FakeDialect.info`) a small JSON
    answer; a `str` body is sent as it is (a plain-text 404)."""

    status: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]] = field(default_factory=list)


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def data_frame(obj: Any, kind: str) -> Frame:
    return Frame(f"data: {dumps(obj)}\n\n".encode(), kind)


def event_frame(name: str, obj: Any, kind: str) -> Frame:
    return Frame(f"event: {name}\ndata: {dumps(obj)}\n\n".encode(), kind)


def line_frame(obj: Any, kind: str) -> Frame:
    """One object of a newline-delimited JSON stream (Ollama's)."""
    return Frame(f"{dumps(obj)}\n".encode(), kind)


def comment_frame(text: str, kind: str = "event") -> Frame:
    return Frame(f": {text}\n\n".encode(), kind)


def split_awkwardly(data: bytes) -> list[bytes]:
    """Cut one SSE event in three: inside its first multi-byte UTF-8 character (else in the
    middle of the line), and between the two newlines that end it."""
    if len(data) < 4:
        return [data]
    first = next((i + 1 for i, byte in enumerate(data) if byte >= 0xC0), len(data) // 2)
    cuts = sorted({c for c in (first, len(data) - 1) if 0 < c < len(data)})
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


_ALNUM = string.ascii_letters + string.digits


def random_id(prefix: str, length: int = 24, alphabet: str = _ALNUM) -> str:
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def seconds_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class FakeDialect(ABC):
    """One provider's wire format."""

    kind: str
    paths: tuple[str, ...]  # where chat requests go
    models_paths: tuple[str, ...]  # GET: the model list
    request_id_header: str
    error_event_fault: str = "http_500"  # what `error_event` becomes on a non-streamed request
    stream_content_type: str = "text/event-stream"
    keepalive: bytes = KEEPALIVE  # what `keepalive` and `keepalive_only` send
    stream_default: bool = False  # a request that leaves `stream` out is streamed

    @abstractmethod
    def authorized(self, headers: dict[str, str], api_key: str) -> bool: ...

    def precheck(self, headers: dict[str, str]) -> HttpError | None:
        """A request the real API would refuse before looking at it."""
        return None

    def refuse(self, body: dict[str, Any]) -> HttpError | None:
        """A request body the real API would refuse (beyond what the adapters' tests check)."""
        return None

    @abstractmethod
    def http_error(self, fault: str, script: Script) -> HttpError:
        """The answer for an `http_*` fault (and for `api_key` mismatches: "http_401")."""

    @abstractmethod
    def bad_request(self, message: str) -> HttpError: ...

    @abstractmethod
    def not_found(self, path: str) -> HttpError: ...

    @abstractmethod
    def stream(self, reply: Reply) -> Iterator[Frame]:
        """The whole stream, from the opening to the end."""

    @abstractmethod
    def error_frames(self, reply: Reply) -> list[Frame]:
        """What the `error_event` fault sends mid-stream."""

    @abstractmethod
    def idle_frame(self, reply: Reply) -> Frame:
        """A well-formed event that carries no content (what the `trickle` fault repeats)."""

    @abstractmethod
    def message(self, reply: Reply, *, finished: bool = True) -> dict[str, Any]:
        """The non-streamed answer; `finished` False leaves out the stop/finish reason."""

    def models(self) -> dict[str, Any]:
        """GET {base}/models: a small model list."""
        return {"object": "list", "data": []}

    def info(self, method: str, path: str, body: dict[str, Any] | None) -> HttpError | None:
        """An answer to a request that is not a chat (a model's details, the version): a
        status and body like an error's; None when the path is not one."""
        return None

    def new_request_id(self) -> str:
        return "req_" + secrets.token_hex(16)

    def error_headers(self, fault: str, script: Script) -> list[tuple[str, str]]:
        headers = [("content-type", "application/json")]
        if script.retry_after is not None:
            headers.append(("retry-after", seconds_header(script.retry_after)))
        return headers
