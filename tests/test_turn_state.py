"""The turn's state machine in process: provider parts in, events out.

No sidecar, socket or database: a `TurnState` is built from a message and a
model, fed the normalized parts an adapter yields, and every event it returns
is compared whole, as the pydantic event model a client would receive.
"""

from __future__ import annotations

import pytest

from sidecar.engine.turn_state import (
    MAX_TOOL_STEPS,
    NO_EVENTS,
    Final,
    StreamingCall,
    Thinking,
    TurnState,
)
from sidecar.protocol import events as ev
from sidecar.protocol.events import EVENT_TYPES, event_adapter
from sidecar.protocol.objects import (
    ErrorInfo,
    Message,
    Model,
    Pricing,
    Step,
    ToolCall,
    Usage,
    UsageRecord,
)
from sidecar.providers import types as parts

T0 = "2000-01-01T00:00:00.000Z"
CID, MID = "conv-1", "msg-1"
IDS = {"conversation_id": CID, "message_id": MID}
PRICED = Model(
    id="m-priced",
    provider="openai",
    provider_model="gpt-x",
    display_name="X",
    pricing=Pricing(input=1.0, output=2.0, cache_read=0.5),
)
UNPRICED = Model(id="m-free", provider="local", provider_model="llama", display_name="L")
ADAPTER = event_adapter()
Text, Think, Finish, UsagePart = parts.TextDelta, parts.ThinkingDelta, parts.Finish, parts.UsagePart
Start, Args = parts.ToolCallStart, parts.ToolCallDelta


def new_state(model: Model = PRICED, omitted: int = 0) -> TurnState:
    message = Message(
        id=MID,
        conversation_id=CID,
        parent_id="user-1",
        role="assistant",
        content="",
        status="pending",
        model_id=model.id,
        provider=model.provider,
        created_at=T0,
        updated_at=T0,
    )
    state = TurnState(message, model, omitted)
    state.start()
    return state


def checked(events: tuple[ev.Event, ...]) -> list[ev.Event]:
    """`events` as a list, each one an event model that survives the wire unchanged."""
    assert isinstance(events, tuple)
    for event in events:
        assert type(event) in EVENT_TYPES
        wire = event.model_dump(mode="json")
        assert ADAPTER.validate_python(wire) == event, wire
    return list(events)


def feed_all(state: TurnState, *stream: parts.Part) -> list[ev.Event]:
    out: list[ev.Event] = []
    for part in stream:
        out += checked(state.feed(part))
    return out


def final_message(state: TurnState, final: Final, **fields) -> Message:
    """The assistant message as `end` must have made it, with `fields` over the defaults."""
    assert final.message.updated_at > T0
    expected = {
        "content": "",
        "thinking": None,
        "usage": None,
        "error": None,
        "tool_calls": [],
        "steps": [],
        "finish_reason": "stop" if fields.get("status") == "complete" else None,
        "updated_at": final.message.updated_at,
        **fields,
    }
    return state.message.model_copy(update=expected)


def record_of(got: UsageRecord, usage: Usage, model: Model = PRICED) -> UsageRecord:
    """The record `usage_record` makes for one chat call of the turn (`got` gives its id)."""
    assert got.created_at > T0
    return UsageRecord(
        **usage.model_dump(by_alias=False),
        id=got.id,
        conversation_id=CID,
        message_id=MID,
        model_id=model.id,
        provider=model.provider,
        kind="chat",
        created_at=got.created_at,
    )


def ending(final: Final, terminal: ev.Event) -> list[ev.Event]:
    return [terminal, ev.MessageUpdated(message=final.message)]


def completed(final: Final, reason: str, usage: Usage | None) -> list[ev.Event]:
    m = final.message
    return ending(final, ev.StreamCompleted(**IDS, finish_reason=reason, usage=usage, message=m))


def proposed(got: ToolCall, provider_id: str, name: str, arguments: dict, step: int = 0):
    """The call as a step proposes it, with its own id (`got`'s)."""
    return ToolCall(
        id=got.id,
        provider_call_id=provider_id,
        name=name,
        arguments=arguments,
        status="proposed",
        step=step,
    )


# -- start and parts --------------------------------------------------------------------


def test_start_announces_the_stream_and_marks_it_streaming():
    message = new_state().message
    state = TurnState(message, PRICED, omitted=3)
    assert state.status == "pending" and not state.unwritten
    [started] = checked((state.start(),))
    assert started == ev.StreamStarted(
        **IDS, model_id="m-priced", provider="openai", omitted_messages=3
    )
    assert state.status == "streaming" and state.unwritten


def test_text_deltas_are_numbered_and_empty_ones_make_nothing():
    state = new_state()
    state.unwritten = False
    assert state.feed(Text("")) is NO_EVENTS
    assert not state.unwritten and state.index == 0
    got = feed_all(state, Text("Hel"), Text(""), Text("lo"), Text("!"))
    assert got == [
        ev.StreamDelta(**IDS, index=0, text="Hel"),
        ev.StreamDelta(**IDS, index=1, text="lo"),
        ev.StreamDelta(**IDS, index=2, text="!"),
    ]
    assert state.index == 3 and state.content == ["Hel", "lo", "!"] and state.unwritten


def test_thinking_opens_once_and_closes_before_text():
    state = new_state()
    stream = (Think(""), Think("hmm"), Think(""), Think(" ok"), Text("Answer"), Text(" two"))
    got = feed_all(state, *stream, Think("again"), Text("."))  # an empty Think opens nothing
    assert got == [
        ev.ThinkingStarted(**IDS),
        ev.ThinkingDelta(**IDS, text="hmm"),
        ev.ThinkingDelta(**IDS, text=" ok"),
        ev.ThinkingCompleted(**IDS),
        ev.StreamDelta(**IDS, index=0, text="Answer"),
        ev.StreamDelta(**IDS, index=1, text=" two"),
        ev.ThinkingStarted(**IDS),
        ev.ThinkingDelta(**IDS, text="again"),
        ev.ThinkingCompleted(**IDS),
        ev.StreamDelta(**IDS, index=2, text="."),
    ]
    assert state.thinking == Thinking(text=["hmm", " ok", "again"], open=False)
    assert state.thinking_text == "hmm okagain" and state.text == "Answer two."


def test_parts_without_events_only_change_the_state():
    state = new_state()
    state.unwritten = False
    usage = UsagePart(input_tokens=10, output_tokens=2)
    for part in (
        Start(1, "call_b", "read_file"),
        Args(1, '{"path":'),
        Args(0, "[1,"),  # no start for index 0
        Args(1, ' "a"}'),
        parts.ToolCallEnd(index=1),
        parts.ThinkingSignature("sig-1"),
        parts.RedactedThinking("opaque-1"),
        parts.RedactedThinking(""),  # nothing to send back
        UsagePart(input_tokens=5),
        usage,  # cumulative: the last one counts
        Finish("tool_calls"),
    ):
        assert state.feed(part) is NO_EVENTS, part
    assert state.tools == {
        1: StreamingCall("call_b", "read_file", ['{"path":', ' "a"}']),
        0: StreamingCall("", "", ["[1,"]),
    }
    assert state.thinking == Thinking(signature="sig-1", redacted=["opaque-1"])
    assert state.usage is usage and state.finish == "tool_calls"
    assert not state.unwritten and state.index == 0


def test_a_second_start_of_one_index_starts_its_arguments_over():
    state = new_state()
    feed_all(state, Start(0, "x", "first"), Args(0, '{"a": 1}'), Start(0, "y", "second"))
    assert state.tools == {0: StreamingCall("y", "second")}


def test_retrying_is_announced():
    state = new_state()
    got = feed_all(state, parts.Retrying(attempt=2, delay_ms=1500, reason="rate_limited"))
    assert got == [ev.StreamRetrying(**IDS, attempt=2, delay_ms=1500, reason="rate_limited")]


def test_live_shows_what_streamed_so_far():
    state = new_state()
    stored = state.message.model_copy(update={"content": "He"})
    assert state.live(stored) == stored.model_copy(update={"status": "streaming", "content": ""})
    feed_all(state, Think("t"), Text("Hel"), Text("lo"))
    assert state.live(stored) == stored.model_copy(
        update={"content": "Hello", "thinking": "t", "status": "streaming"}
    )


# -- endings ------------------------------------------------------------------------------


def test_complete():
    state = new_state()
    feed_all(state, Text("Hi"), UsagePart(input_tokens=1000, output_tokens=500), Finish("stop"))
    assert state.call_ended(tools_enabled=True) is False
    final = state.end("complete", None)
    usage = Usage(input_tokens=1000, output_tokens=500, cost_usd=0.002)
    assert final.message == final_message(
        state, final, content="Hi", status="complete", usage=usage
    )
    assert final.records == [record_of(final.records[0], usage)]
    assert final.finish_reason == "stop"
    assert checked(final.events) == [
        ev.UsageRecorded(usage=final.records[0]),
        *completed(final, "stop", usage),
    ]
    assert not state.unwritten
    assert state.status == "streaming", "the driver sets it once the write is done"


def test_complete_keeps_the_providers_finish_reason_and_closes_open_thinking():
    state = new_state(UNPRICED)
    feed_all(state, Think("deep"), Finish("length"))
    assert state.call_ended(tools_enabled=False) is False
    final = state.end("complete", None)
    assert final.message == final_message(
        state, final, thinking="deep", status="complete", content="", finish_reason="length"
    )
    assert final.records == []
    assert checked(final.events) == [
        ev.ThinkingCompleted(**IDS),
        *completed(final, "length", None),
    ]
    assert state.thinking.open is False


def test_a_stream_without_a_finish_is_a_retryable_error():
    state = new_state()
    feed_all(state, Text("cut"))
    with pytest.raises(parts.ProviderError) as err:
        state.call_ended(tools_enabled=True)
    assert (err.value.code, err.value.message, err.value.retryable) == (
        "incomplete_stream",
        "the stream ended without a finish reason",
        True,
    )


def test_cancelled():
    state = new_state()
    feed_all(state, Think("half"), Text("Part"), UsagePart(input_tokens=7, output_tokens=1))
    final = state.end("cancelled", None)
    usage = Usage(input_tokens=7, output_tokens=1, cost_usd=0.000009)
    assert final.message == final_message(
        state, final, content="Part", thinking="half", status="cancelled", usage=usage
    )
    assert checked(final.events) == [
        ev.UsageRecorded(usage=record_of(final.records[0], usage)),
        *ending(final, ev.StreamCancelled(**IDS, message=final.message)),
    ]


def test_failed():
    state = new_state()
    feed_all(state, Text("so far"))
    error = ErrorInfo(code="overloaded", message="try later", retryable=True, http_status=529)
    final = state.end("failed", error)
    assert final.message == final_message(
        state, final, content="so far", status="failed", error=error
    )
    assert final.records == []
    assert checked(final.events) == ending(
        final, ev.StreamFailed(**IDS, error=error, message=final.message)
    )


def test_interrupted_fails_with_the_interrupted_error():
    state = new_state()
    feed_all(state, Think("th"))
    final = state.end("interrupted", None)
    error = ErrorInfo(code="interrupted", message="the sidecar stopped mid-stream", retryable=True)
    assert final.message == final_message(
        state, final, thinking="th", status="interrupted", error=error
    )
    assert checked(final.events) == [
        ev.ThinkingCompleted(**IDS),
        *ending(final, ev.StreamFailed(**IDS, error=error, message=final.message)),
    ]


def test_an_unsaved_ending_fails_with_a_storage_error():
    state = new_state()
    feed_all(state, Text("Kept"), UsagePart(input_tokens=1, output_tokens=1), Finish("stop"))
    final = state.end("complete", None)
    unsaved = final.unsaved("the disk is full")
    error = ErrorInfo(
        code="storage", message="the reply could not be saved: the disk is full", retryable=True
    )
    failed = {"status": "failed", "error": error, "finish_reason": None}
    assert unsaved.message == final.message.model_copy(update=failed)
    assert unsaved.records is final.records
    assert checked(unsaved.events) == [
        final.events[0],  # usage.recorded: the record stays and is written with the retry
        *ending(unsaved, ev.StreamFailed(**IDS, error=error, message=unsaved.message)),
    ]


# -- the tool loop -------------------------------------------------------------------------


def ask_for_tools(state: TurnState, text: str, *calls: tuple[str, str, str]) -> None:
    """One provider call: `text`, then (provider id, name, arguments) calls, `tool_calls`."""
    feed_all(state, Text(text))
    for index, (call_id, name, arguments) in enumerate(calls):
        feed_all(state, Start(index, call_id, name), Args(index, arguments))
    feed_all(state, Finish("tool_calls"))


def test_a_tool_step_then_complete():
    state = new_state()
    feed_all(
        state,
        Think("plan"),
        parts.ThinkingSignature("sig-1"),
        parts.RedactedThinking("opaque-1"),
        Text("Let me look."),
        Start(0, "call_0", "read_file"),
        Args(0, '{"path": '),
        Args(0, '"a.txt"}'),
        Start(1, "call_1", "current_time"),
        UsagePart(input_tokens=1000, output_tokens=500),
        Finish("tool_calls"),
    )
    assert state.call_ended(tools_enabled=False) is False, "no tools enabled: the turn is over"
    assert state.call_ended(tools_enabled=True) is True
    step = state.end_tool_step()
    first = Step(
        content_end=12, thinking_end=4, thinking_signature="sig-1", redacted_thinking=["opaque-1"]
    )
    assert step.step == first
    read, clock = step.calls
    assert read == proposed(read, "call_0", "read_file", {"path": "a.txt"})
    assert clock == proposed(clock, "call_1", "current_time", {})
    assert {c.id for c in step.calls}.isdisjoint({"call_0", "call_1"})
    assert step.calls[0].id != step.calls[1].id
    assert (step.content, step.thinking) == ("Let me look.", "plan")
    assert step.events == (), "thinking was closed by the text"
    assert state.finish is None and state.tools == {} and state.usage is None
    assert state.thinking == Thinking(text=["plan"])  # the signature went with the step
    for call in step.calls:  # what engine.tools.run does with each
        call.executor, call.status, call.result = "sidecar", "completed", "done"

    got = feed_all(
        state,
        Think("more"),
        Text("It says hi."),
        UsagePart(input_tokens=3000, output_tokens=100, cache_read_tokens=1000),
        Finish("stop"),
    )
    assert got == [
        ev.ThinkingStarted(**IDS),
        ev.ThinkingDelta(**IDS, text="more"),
        ev.ThinkingCompleted(**IDS),
        ev.StreamDelta(**IDS, index=1, text="It says hi."),
    ]
    assert state.call_ended(tools_enabled=True) is False
    final = state.end("complete", None)
    calls = [c.model_copy() for c in step.calls]
    usage = Usage(
        input_tokens=4000, output_tokens=600, cache_read_tokens=1000, cost_usd=0.0047
    )  # 0.002 + (2000 * 1 + 1000 * 0.5 + 100 * 2) / 1e6
    assert final.message == final_message(
        state,
        final,
        content="Let me look.It says hi.",
        thinking="planmore",
        status="complete",
        usage=usage,
        tool_calls=calls,
        steps=[first],
    )
    one = Usage(input_tokens=1000, output_tokens=500, cost_usd=0.002)
    two = Usage(input_tokens=3000, output_tokens=100, cache_read_tokens=1000, cost_usd=0.0027)
    assert final.records == [record_of(final.records[0], one), record_of(final.records[1], two)]
    assert checked(final.events) == [
        ev.UsageRecorded(usage=final.records[0]),
        ev.UsageRecorded(usage=final.records[1]),
        *completed(final, "stop", usage),
    ]


def test_a_tool_step_closes_open_thinking_and_slices_its_own_text():
    state = new_state()
    ask_for_tools(state, "one", ("c", "t", "{}"))
    state.end_tool_step()
    feed_all(state, Text("two"), Think("why"), Start(0, "c", "t"), Finish("tool_calls"))
    assert state.call_ended(tools_enabled=True) is True
    step = state.end_tool_step()
    assert checked(step.events) == [ev.ThinkingCompleted(**IDS)]
    assert (step.content, step.thinking) == ("two", "why")
    assert step.step == Step(content_end=6, thinking_end=3)
    assert [c.step for c in step.calls] == [1]
    assert [c.step for c in state.calls] == [0, 1]


def test_tool_calls_need_calls_to_continue():
    state = new_state()
    feed_all(state, Text("none"), Finish("tool_calls"))
    assert state.call_ended(tools_enabled=True) is False
    final = state.end("complete", None)
    assert final.finish_reason == "tool_calls"
    assert checked(final.events) == completed(final, "tool_calls", None)


def test_arguments_are_parsed_or_kept():
    state = new_state()
    feed_all(
        state,
        Start(3, "d", "last"),
        Args(3, '"just a string"'),
        Start(0, "a", "broken"),
        Args(0, '{"x": '),
        Start(1, "b", "list"),
        Args(1, "[1, 2]"),
        Start(2, "", "no_id"),
        Args(2, ""),
        Finish("tool_calls"),
    )
    assert state.call_ended(tools_enabled=True) is True
    calls = state.end_tool_step().calls
    assert [(c.name, c.provider_call_id, c.arguments) for c in calls] == [
        ("broken", "a", {"_unparsed": '{"x": '}),
        ("list", "b", {"_value": [1, 2]}),
        ("no_id", None, {}),
        ("last", "d", {"_value": "just a string"}),
    ]
    assert len({c.id for c in calls}) == 4


def test_max_tool_steps():
    state = new_state()
    for step in range(MAX_TOOL_STEPS):
        ask_for_tools(state, f"s{step}", ("call_0", "current_time", "{}"))
        assert state.call_ended(tools_enabled=True) is True
        for call in state.end_tool_step().calls:
            call.executor, call.status = "sidecar", "completed"
    ask_for_tools(state, "more?", ("call_0", "current_time", "{}"))
    assert state.call_ended(tools_enabled=True) is False
    assert state.finish == "max_tool_steps"
    final = state.end("complete", None)
    assert len(final.message.steps) == MAX_TOOL_STEPS
    assert [c.step for c in final.message.tool_calls] == list(range(MAX_TOOL_STEPS + 1))
    last = final.message.tool_calls[-1]
    assert (last.status, last.error, last.executor) == (
        "failed",
        "the turn ended before the call finished",
        None,
    )
    assert final.message.content == "".join(f"s{i}" for i in range(MAX_TOOL_STEPS)) + "more?"
    # the last call never ran (no executor): nothing announced it, nothing ends it
    assert checked(final.events) == completed(final, "max_tool_steps", None)


def test_unfinished_tool_calls_fail_when_the_turn_ends():
    state = new_state()
    ask_for_tools(
        state,
        "Working",
        ("c0", "done", "{}"),
        ("c1", "waiting", "{}"),
        ("c2", "approval", "{}"),
        ("c3", "not_reached", "{}"),
    )
    assert state.call_ended(tools_enabled=True) is True
    done, waiting, approval, not_reached = state.end_tool_step().calls
    done.executor, done.status, done.result = "sidecar", "completed", 1
    waiting.executor, waiting.status = "client", "running"
    approval.executor, approval.status = "sidecar", "proposed"
    final = state.end("cancelled", None)
    reason = "the turn ended before the call finished"
    assert [(c.id, c.status, c.error) for c in final.message.tool_calls] == [
        (done.id, "completed", None),
        (waiting.id, "failed", reason),
        (approval.id, "failed", reason),
        (not_reached.id, "failed", reason),
    ]
    assert final.message.steps == [Step(content_end=7, thinking_end=0)]
    assert checked(final.events) == [
        ev.ToolFailed(**IDS, call_id=waiting.id, error=reason),
        ev.ToolFailed(**IDS, call_id=approval.id, error=reason),
        *ending(final, ev.StreamCancelled(**IDS, message=final.message)),
    ]


def test_usage_of_several_steps_is_summed_and_unpriced_stays_unpriced():
    state = new_state(UNPRICED)
    ask_for_tools(state, "a", ("c", "t", "{}"))
    feed_all(state, UsagePart(input_tokens=10, output_tokens=4, reasoning_tokens=3))
    state.call_ended(tools_enabled=True)
    state.end_tool_step()
    ask_for_tools(state, "b", ("c", "t", "{}"))  # a step without usage: no record
    state.call_ended(tools_enabled=True)
    state.end_tool_step()
    feed_all(
        state,
        UsagePart(input_tokens=1),
        UsagePart(input_tokens=20, output_tokens=6, cache_write_tokens=5),
        Finish("stop"),
    )
    error = ErrorInfo(code="x", message="y", retryable=False)
    final = state.end("failed", error)
    one = Usage(input_tokens=10, output_tokens=4, reasoning_tokens=3)
    two = Usage(input_tokens=20, output_tokens=6, cache_write_tokens=5)
    assert final.records == [
        record_of(final.records[0], one, UNPRICED),
        record_of(final.records[1], two, UNPRICED),
    ]
    assert final.message.usage == Usage(
        input_tokens=30, output_tokens=10, reasoning_tokens=3, cache_write_tokens=5
    )
    assert final.message.usage.cost_usd is None
    assert checked(final.events) == [
        *(ev.UsageRecorded(usage=r) for r in final.records),
        *ending(final, ev.StreamFailed(**IDS, error=error, message=final.message)),
    ]


# -- thinking sent back ---------------------------------------------------------------------

ENDS = {"content_end": 2, "thinking_end": 1}


@pytest.mark.parametrize(
    "extra, steps",
    [
        (parts.ThinkingSignature("sig"), [Step(**ENDS, thinking_signature="sig")]),
        (parts.RedactedThinking("blob"), [Step(**ENDS, redacted_thinking=["blob"])]),
        (parts.RedactedThinking(""), []),  # nothing to send back: a plain reply keeps no step
    ],
)
def test_a_last_step_with_a_signature_or_redacted_thinking_is_kept(extra, steps):
    state = new_state()
    feed_all(state, Think("t"), extra, Text("ok"), Finish("stop"))
    assert state.end("complete", None).message.steps == steps
    assert state.thinking == Thinking(text=["t"])
