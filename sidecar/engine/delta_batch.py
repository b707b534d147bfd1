"""Deltas per read, not per upstream event: text that arrived together leaves together.

A provider writes each token as its own SSE event, but a socket read often brings
several (a fast model, a busy machine, 50 streams at once). Each delta event costs
a state step, a frame, a replay slot and a WebSocket message; joined, they cost one.

The first text of a step of the turn's task (a read) leaves at once, as a lone token
always did: no added latency. Any more text in the same step is held and joined, and
leaves when the task yields to the event loop: the end of the step is a `call_soon`
callback, so it runs before anything the loop does next. No timer. Any other part
sends the held text first, so the order of events never changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from sidecar.protocol.events import Event
from sidecar.providers.types import Part, TextDelta, ThinkingDelta

_JOINABLE = (TextDelta, ThinkingDelta)


class DeltaBatch:
    """Joins the text (or thinking) parts a turn's task takes in one step, after the first."""

    __slots__ = ("_feed", "_publish", "_loop", "_kind", "_texts", "_in_step")

    def __init__(
        self, feed: Callable[[Part], Iterable[Event]], publish: Callable[[Event], object]
    ) -> None:
        self._feed = feed
        self._publish = publish
        self._loop = asyncio.get_running_loop()
        self._kind: type[TextDelta] | type[ThinkingDelta] = TextDelta
        self._texts: list[str] = []
        self._in_step = False  # text was sent in this step: more is held until its end

    def add(self, part: Part) -> None:
        """Take the next part of the reply, in order (the hot path)."""
        kind = type(part)
        if kind in _JOINABLE:
            if self._in_step:
                if kind is not self._kind:
                    self.flush()
                    self._kind = kind  # type: ignore[assignment]
                self._texts.append(part.text)  # type: ignore[union-attr]
                return
            self._in_step = True
            self._loop.call_soon(self._step_over)
            self._kind = kind  # type: ignore[assignment]
        else:
            self.flush()
        for event in self._feed(part):
            self._publish(event)

    def flush(self) -> None:
        """Publish what is held (as one part); nothing when nothing is."""
        texts = self._texts
        if not texts:
            return
        text = texts[0] if len(texts) == 1 else "".join(texts)
        texts.clear()
        for event in self._feed(self._kind(text)):
            self._publish(event)

    def _step_over(self) -> None:
        self._in_step = False
        self.flush()
