"""The event bus on its own: seq, replay window, resync."""

from __future__ import annotations

import json

import pytest

from sidecar.bus import EventBus, ResyncRequired
from sidecar.protocol.events import ConversationDeleted
from sidecar.rpc.frames import notification
from tests import contract


class Sink:
    def __init__(self) -> None:
        self.frames: list[dict] = []

    def deliver(self, frame: bytes) -> None:
        self.frames.append(json.loads(frame))


def publish(bus: EventBus, n: int) -> None:
    for i in range(n):
        bus.publish(ConversationDeleted(conversation_id=f"c{i}"))


def test_seq_grows_by_one_and_frames_are_valid_notifications():
    bus, sink = EventBus(notification, 10), Sink()
    bus.subscribe(sink, None)
    publish(bus, 5)
    assert [f["params"]["seq"] for f in sink.frames] == [1, 2, 3, 4, 5]
    for frame in sink.frames:
        contract.validate_message(frame)
        assert frame["method"] == frame["params"]["type"] == "conversation.deleted"
        assert frame["params"]["ts"].endswith("Z")


def test_replay_window_edges():
    bus = EventBus(notification, 4)
    publish(bus, 10)  # holds 7..10
    assert bus.oldest_seq == 7 and bus.last_seq == 10
    replay = bus.subscribe(Sink(), 6)
    assert [json.loads(f)["params"]["seq"] for f in replay] == [7, 8, 9, 10]
    assert bus.subscribe(Sink(), 10) == []
    for since in (5, 0, 11):
        with pytest.raises(ResyncRequired) as err:
            bus.subscribe(Sink(), since)
        assert (err.value.oldest_seq, err.value.last_seq) == (7, 10)


def test_empty_bus_accepts_since_zero_and_unsubscribe_stops_delivery():
    bus, sink = EventBus(notification, 3), Sink()
    assert bus.subscribe(sink, 0) == []
    publish(bus, 1)
    bus.unsubscribe(sink)
    publish(bus, 1)
    assert [f["params"]["seq"] for f in sink.frames] == [1]
    assert bus.session_id != EventBus(notification, 3).session_id
