"""One delta per read, not per upstream event: text that arrived together leaves together.

A provider writes each token as its own SSE event, but a socket read often brings
several (a fast model, a busy machine, 50 streams at once). Each delta event costs
a state step, a frame, a replay slot and a WebSocket message; joined, they cost one.

The batch holds consecutive text (or thinking) parts while the turn's task keeps
running without waiting, and hands the joined part to the turn's state machine as
soon as the task yields to the event loop: the flush is a `call_soon` callback, so it
runs before anything the loop does next. No timer: a lone token is not delayed by
more than the rest of the current loop step, and one that comes alone is sent alone.
Any other part flushes the held text first, so the order of events never changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from sidecar.protocol.events import Event
from sidecar.providers.types import Part, TextDelta, ThinkingDelta

_JOINABLE = (TextDelta, ThinkingDelta)


class DeltaBatch:
    """Joins consecutive text (or thinking) parts of one turn until its task yields."""

    __slots__ = ("_feed", "_publish", "_loop", "_kind", "_texts", "_scheduled")

    def __init__(
        self, feed: Callable[[Part], Iterable[Event]], publish: Callable[[Event], object]
    ) -> None:
        self._feed = feed
        self._publish = publish
        self._loop = asyncio.get_running_loop()
        self._kind: type[TextDelta] | type[ThinkingDelta] = TextDelta
        self._texts: list[str] = []
        self._scheduled = False

    def add(self, part: Part) -> None:
        """Take the next part of the reply, in order (the hot path)."""
        kind = type(part)
        if kind in _JOINABLE:
            if kind is not self._kind:
                self.flush()
                self._kind = kind  # type: ignore[assignment]
            self._texts.append(part.text)  # type: ignore[union-attr]
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self.flush)
            return
        self.flush()
        for event in self._feed(part):
            self._publish(event)

    def flush(self) -> None:
        """Publish what is held (as one part); nothing when nothing is."""
        self._scheduled = False
        texts = self._texts
        if not texts:
            return
        text = texts[0] if len(texts) == 1 else "".join(texts)
        texts.clear()
        for event in self._feed(self._kind(text)):
            self._publish(event)
