"""The event bus: one `seq` for the whole process, a bounded replay buffer, fan-out.

Publishing is synchronous on purpose: between assigning a seq, keeping the frame
for replay and handing it to every subscriber there is no await, so no other
task can observe a half-published event and replay + subscribe is atomic.
Each event is encoded once (by the encoder the composition root gives: the
JSON-RPC notification); every subscriber gets the same frame bytes.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Protocol

from sidecar.ids import now_iso

if TYPE_CHECKING:
    from sidecar.protocol.events import Event


class Subscriber(Protocol):
    def deliver(self, frame: bytes) -> None: ...


class ResyncRequired(Exception):
    """The requested `since` is older than the replay buffer (or newer than anything seen)."""

    def __init__(self, oldest_seq: int, last_seq: int) -> None:
        super().__init__("events before the replay window are gone; reload state")
        self.oldest_seq = oldest_seq
        self.last_seq = last_seq


class EventBus:
    def __init__(self, encode: Callable[[Event], bytes], replay_size: int = 100_000) -> None:
        if replay_size < 1:
            raise ValueError("replay buffer must hold at least one event")
        self.session_id = secrets.token_hex(8) + "-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.replay_size = replay_size
        self._encode = encode
        self.last_seq = 0
        self._buffer: deque[bytes] = deque(maxlen=replay_size)
        self._subscribers: dict[int, Subscriber] = {}
        self._listeners: list[Callable[[Event], None]] = []

    @property
    def oldest_seq(self) -> int:
        """The seq of the oldest event still held (last_seq + 1 when none is)."""
        return self.last_seq - len(self._buffer) + 1

    def publish(self, event: Event) -> int:
        """Stamp `event` with the next seq and the time, keep it for replay, fan it out."""
        seq = self.last_seq + 1
        event.seq = seq
        event.ts = now_iso()
        frame = self._encode(event)
        self.last_seq = seq
        self._buffer.append(frame)
        for sub in tuple(self._subscribers.values()):
            sub.deliver(frame)
        for listener in self._listeners:
            listener(event)
        return seq

    def subscribe(self, subscriber: Subscriber, since: int | None) -> list[bytes]:
        """Feed `subscriber` every event from now on; returns the held frames after `since`,
        which it must send before any live one (nothing is published in between).

        Raises ResyncRequired, subscribing nothing, when an event after `since` is no
        longer held (or `since` is from the future: another session).
        """
        replay = list(self._replay_after(since)) if since is not None else []
        self._subscribers[id(subscriber)] = subscriber
        return replay

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.pop(id(subscriber), None)

    def add_listener(self, listener: Callable[[Event], None]) -> None:
        """In-process observers (e.g. the engine) that want the event objects, not frames."""
        self._listeners.append(listener)

    def _replay_after(self, since: int) -> Iterator[bytes]:
        if since > self.last_seq or since + 1 < self.oldest_seq:
            raise ResyncRequired(self.oldest_seq, self.last_seq)
        yield from islice(self._buffer, since + 1 - self.oldest_seq, None)
