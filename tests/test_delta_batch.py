"""Text that arrives alone leaves at once; text that arrives with it leaves as one more delta.

In process, on a real event loop: a `DeltaBatch` over a real `TurnState`, fed parts
the way the turn driver feeds them, its events validated as a client receives them.
What "arrived together" means here is "fed within one step of the task", which is what
a socket read that brought several SSE events is for the reading task.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sidecar.dev.fakes import Script
from sidecar.engine.delta_batch import DeltaBatch
from sidecar.engine.turn_state import TurnState
from sidecar.engine.turns import Turn, Turns
from sidecar.protocol.events import Event, event_adapter
from sidecar.providers import types as parts
from tests.chat_env import chat_env
from tests.test_chat import assert_lifecycle
from tests.test_turn_state import UNPRICED, new_state

ADAPTER = event_adapter()
GUARD = 30.0  # seconds; only a defect makes the test wait this long


class Published(list[dict[str, Any]]):
    """What the bus would send: each event as the client sees it (validated)."""

    def __call__(self, event: Event) -> None:
        wire = event.model_dump(mode="json", by_alias=True)
        ADAPTER.validate_python(wire)
        self.append(wire)

    def kinds(self) -> list[str]:
        return [e["type"] for e in self]


def started() -> tuple[TurnState, Published, DeltaBatch]:
    """A turn that has started, what it published, and its batch."""
    state, out = new_state(UNPRICED), Published()
    out(state.start())
    return state, out, DeltaBatch(state.feed, out)


def texts(out: Published) -> list[tuple[int, str]]:
    return [(e["index"], e["text"]) for e in out if e["type"] == "assistant.stream.delta"]


async def test_the_first_text_of_a_step_leaves_at_once_and_the_rest_of_it_as_one_delta() -> None:
    state, out, batch = started()
    batch.add(parts.TextDelta("The "))
    assert texts(out) == [(0, "The ")]  # no waiting for more: a lone token is not delayed
    for text in ("quick ", "brown "):
        batch.add(parts.TextDelta(text))
    assert texts(out) == [(0, "The ")]  # held: the step goes on
    await asyncio.sleep(0)  # the task yields: what it held leaves, joined
    assert texts(out) == [(0, "The "), (1, "quick brown ")]
    batch.add(parts.TextDelta("fox"))  # a new step: at once again
    assert texts(out) == [(0, "The "), (1, "quick brown "), (2, "fox")]
    await asyncio.sleep(0)
    assert len(texts(out)) == 3
    assert state.live(state.message).content == "The quick brown fox"


async def test_another_kind_of_part_sends_the_held_text_first_in_order() -> None:
    state, out, batch = started()
    batch.add(parts.ThinkingDelta("Let me "))
    batch.add(parts.ThinkingDelta("think "))
    batch.add(parts.ThinkingDelta("first."))
    batch.add(parts.TextDelta("Hi"))
    batch.add(parts.TextDelta(" there"))
    batch.add(parts.Retrying(1, 10, "rate_limited"))  # any part that is not text
    assert out.kinds() == [
        "assistant.stream.started",
        "agent.thinking.started",
        "agent.thinking.delta",
        "agent.thinking.delta",
        "agent.thinking.completed",
        "assistant.stream.delta",
        "assistant.stream.retrying",
    ]
    assert [e.get("text") for e in out[2:4]] == ["Let me ", "think first."]
    assert out[5]["text"] == "Hi there"
    await asyncio.sleep(0)  # the end of the step finds nothing more to send
    assert len(out) == 7


async def test_flush_sends_what_is_held_when_the_turn_stops_mid_step() -> None:
    state, out, batch = started()
    batch.add(parts.TextDelta("cut "))
    batch.add(parts.TextDelta("short "))
    batch.add(parts.TextDelta("here"))
    batch.flush()  # what the driver does before the terminal event
    final = state.end("cancelled", None)
    for event in final.events:
        out(event)
    assert texts(out) == [(0, "cut "), (1, "short here")]
    assert final.message.content == "cut short here"
    await asyncio.sleep(0)
    assert len(texts(out)) == 2


# --- the opening of a reply: its parts wait for the turn to be stored; its first words
# leave before the rest of their read ------------------------------------------------------


def opening() -> tuple[Turn, Published, DeltaBatch, list[str]]:
    """A started turn, what it published, its batch, and what the connections' writers
    sent: a writer runs when the loop does, as the server's write loop wakes up."""
    state, out, batch = started()
    turn, sent = Turn(state), []
    loop = asyncio.get_running_loop()

    def publish(event: Event) -> None:
        out(event)
        loop.call_soon(sent.append, out[-1]["type"])

    return turn, out, DeltaBatch(state.feed, publish), sent


async def test_the_first_words_leave_before_the_rest_of_their_read_is_parsed() -> None:
    turn, out, batch, sent = opening()
    turn.stored.set_result(True)
    assert await Turns._opening(turn, parts.Retrying(1, 10, "rate_limited"), batch.add)
    assert not await Turns._opening(turn, parts.TextDelta("Hi"), batch.add)  # opening over
    # the task yielded once: the writers sent the first words before it parses on
    assert sent == ["assistant.stream.retrying", "assistant.stream.delta"]
    assert texts(out) == [(0, "Hi")]


async def test_an_opening_part_waits_for_the_turn_to_be_stored() -> None:
    turn, out, batch, _ = opening()
    waiting = asyncio.ensure_future(Turns._opening(turn, parts.TextDelta("Hi"), batch.add))
    await asyncio.sleep(0)
    assert not waiting.done() and texts(out) == []  # the call started while the turn is stored
    turn.stored.set_result(True)
    assert not await asyncio.wait_for(waiting, GUARD)
    assert texts(out) == [(0, "Hi")]


async def test_a_turn_that_could_not_be_stored_publishes_nothing() -> None:
    turn, out, batch, sent = opening()
    turn.stored.set_result(False)
    before = len(out)
    with pytest.raises(asyncio.CancelledError):
        await Turns._opening(turn, parts.TextDelta("Hi"), batch.add)
    await asyncio.sleep(0)
    assert len(out) == before and sent == []


# --- end to end: a sidecar reading a provider that goes quiet ------------------------------

TEXT = "The quick brown fox jumps over the lazy dog, twice."


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_text_that_came_is_sent_without_waiting_for_more(tmp_path, kind) -> None:
    """Three chunks, then the upstream says nothing (for longer than this test waits): the
    three reach the client all the same, in one or more deltas, while the stream is still
    open, since nothing holds text for more to come. Cancelling then stores exactly them."""
    async with chat_env(tmp_path, kind, idle_timeout=GUARD) as env:
        env.fake.enqueue(Script(text=TEXT, chunk_size=5, fault="stall", fault_after=3))
        mid = (await env.send("Go"))["assistantMessageId"]

        def shown() -> str:
            return "".join(
                e["text"] for e in env.events_of(mid) if e["type"] == "assistant.stream.delta"
            )

        await env.client.wait_for(lambda e: shown() == TEXT[:15], GUARD)
        assert not any(e["type"].startswith("assistant.stream.c") for e in env.events_of(mid))
        assert await env.client.request("chat.cancel", {"messageId": mid}) == {"cancelled": True}
        final = await env.settled(mid)
        deltas = assert_lifecycle(env.events_of(mid), mid, "assistant.stream.cancelled")
        assert 1 <= len(deltas) <= 3 and final["content"] == TEXT[:15]
        assert (await env.stored(mid))["content"] == TEXT[:15]
