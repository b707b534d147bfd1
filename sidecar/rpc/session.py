"""One client's session: its state, its requests in flight, and what its handlers may use.

The transport hands the session every frame it reads and offers it a `Peer`
(send a frame; subscribe to the event bus with replay). Each frame is answered
in its own task, so a slow method never holds up the next frame; a connection
may have at most `max_inflight` requests running (a batch counts each element).
Handlers get the session itself: the engine, the services, this client's key
and the two session steps (`initialize`, `events.subscribe`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from sidecar.rpc import dispatch

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.rpc.method import Services


class SessionState(Enum):
    NEW = "new"  # only `initialize` is served
    READY = "ready"  # initialized: every method is served
    SUBSCRIBED = "subscribed"  # and events flow to the client
    CLOSED = "closed"  # the connection ended; requests in flight still finish


class Peer(Protocol):
    """What the transport offers a session."""

    @property
    def key(self) -> str: ...

    def send(self, frame: bytes) -> None: ...

    def subscribe(self, since: int | None) -> int:
        """Replay the bus after `since` and go live; returns how many were replayed."""
        ...


class Session:
    """One connection's session; the `Context` every handler of it gets."""

    __slots__ = ("services", "state", "_peer", "_limit", "_inflight", "_tasks")

    def __init__(self, services: Services, peer: Peer) -> None:
        self.services = services
        self.state = SessionState.NEW
        self._peer = peer
        self._limit = services.config.max_inflight
        self._inflight = 0  # requests being answered, a batch counting each of its elements
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what handlers use ------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self.services.engine

    @property
    def key(self) -> str:
        return self._peer.key

    @property
    def methods(self) -> Collection[str]:
        return dispatch.TABLE.keys()

    @property
    def initialized(self) -> bool:
        return self.state is not SessionState.NEW

    def initialize(self) -> None:
        if self.state is SessionState.NEW:
            self.state = SessionState.READY

    def subscribe(self, since: int | None) -> int:
        """Replay after `since` and go live, atomically; raises ResyncRequired (and leaves
        an existing subscription as it was) when those events are gone."""
        replayed = self._peer.subscribe(since)
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.SUBSCRIBED
        return replayed

    # -- what the transport uses ----------------------------------------------------

    def receive(self, frame: str | bytes) -> None:
        """Admit a frame (or refuse it at once) and answer it in a task of its own."""
        request, cost = dispatch.read(frame)
        if cost > self._limit:
            self._peer.send(dispatch.too_large(self._limit))
            return
        if self._inflight + cost > self._limit:
            self._send(dispatch.refuse(request))
            return
        self._inflight += cost
        task = asyncio.create_task(self._answer(request, cost))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """The connection ended. Requests in flight finish (a dropped client never stops a
        stream or a write); their answers just have nowhere to go."""
        if self.state is not SessionState.CLOSED:
            self.state = SessionState.CLOSED
            self.services.disconnected(self.key)

    async def _answer(self, request: Any, cost: int) -> None:
        try:
            self._send(await dispatch.answer(request, self))
        finally:
            self._inflight -= cost

    def _send(self, frame: bytes | None) -> None:
        if frame is not None:
            self._peer.send(frame)
