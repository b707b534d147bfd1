"""One assistant turn as a state machine: provider parts in, events out, no I/O.

The driver (`turns.py`) reads parts from the adapter and publishes what this
returns; keeping the machine free of the bus, the store and the clock's awaits
lets a test build a turn in process and check every event it makes. `feed` is
the hot path (one provider chunk -> its event on the socket): no awaits, and
no allocation beyond the events themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from sidecar.engine.usage import usage_record
from sidecar.ids import new_id, now_iso
from sidecar.protocol.events import (
    Event,
    MessageUpdated,
    StreamCancelled,
    StreamCompleted,
    StreamDelta,
    StreamFailed,
    StreamRetrying,
    StreamStarted,
    ThinkingCompleted,
    ThinkingStarted,
    ToolFailed,
    UsageRecorded,
)
from sidecar.protocol.events import ThinkingDelta as ThinkingDeltaEvent
from sidecar.protocol.objects import (
    ErrorInfo,
    Message,
    OrderedBlock,
    Step,
    ToolCall,
    Usage,
    UsageRecord,
)
from sidecar.providers import types as parts

if TYPE_CHECKING:
    from sidecar.protocol.objects import MessageStatus, Model

MAX_TOOL_STEPS = 8  # provider calls that may ask for tools in one turn

NO_EVENTS: tuple[Event, ...] = ()
"""What most parts make; shared so the hot path allocates nothing for them."""


@dataclass(slots=True)
class StreamingCall:
    """A tool call as the provider streams it: its id and name, then argument fragments."""

    provider_id: str
    name: str
    fragments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Thinking:
    """The turn's thinking text, and the current step's parts the provider needs back
    unchanged on later calls (Anthropic's signature, redacted blocks and the blocks'
    order, OpenAI's reasoning items)."""

    text: list[str] = field(default_factory=list)
    open: bool = False  # ThinkingStarted went out, ThinkingCompleted not yet
    signature: str | None = None
    redacted: list[str] = field(default_factory=list)
    items: list[dict] = field(default_factory=list)
    order: list[dict] = field(default_factory=list)

    def kept(self) -> bool:
        """The current step left something the provider needs back."""
        return (
            self.signature is not None
            or bool(self.redacted)
            or bool(self.items)
            or bool(self.order)
        )


@dataclass(frozen=True, slots=True)
class ToolStep:
    """A provider call that asked for tools: its calls to run, where it ended, its own
    text (what the next call sends back) and the events closing it."""

    calls: list[ToolCall]
    step: Step
    content: str
    thinking: str | None
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Final:
    """How a turn ended: the message to store, one usage record per provider call, and
    the events to publish, in order, once the write is done."""

    message: Message
    records: list[UsageRecord]
    events: tuple[Event, ...]
    finish_reason: str = "stop"

    def unsaved(self, problem: str) -> Final:
        """The same ending when the final write failed: the reply is `failed` with a
        retryable `storage` error (the driver keeps it in memory and retries the write)."""
        error = ErrorInfo(
            code="storage", message=f"the reply could not be saved: {problem}", retryable=True
        )
        message = self.message.model_copy(
            update={"status": "failed", "error": error, "finish_reason": None}
        )
        events = self.events[:-2] + _ending(message, self.finish_reason)
        return Final(message, self.records, events, self.finish_reason)


class TurnState:
    """The live state of one streaming assistant message, across its provider calls."""

    __slots__ = (
        "message",
        "model",
        "omitted",
        "status",
        "content",
        "index",
        "thinking",
        "tools",
        "usage",
        "finish",
        "calls",
        "steps",
        "step_usages",
        "unwritten",
        "_ids",
    )

    def __init__(self, message: Message, model: Model, omitted: int = 0) -> None:
        self.message = message
        self.model = model
        self.omitted = omitted  # path messages left out of the prompt (context budget)
        self.status: MessageStatus = "pending"
        self.content: list[str] = []
        self.index = 0  # of the next StreamDelta
        self.thinking = Thinking()
        self.tools: dict[int, StreamingCall] = {}  # the current call's, by the provider's index
        self.usage: parts.UsagePart | None = None  # the current call's (cumulative: the last)
        self.finish: str | None = None  # the current call's finish reason
        self.calls: list[ToolCall] = []  # every tool call of every step
        self.steps: list[Step] = []  # where each tool-calling step ended
        self.step_usages: list[parts.UsagePart] = []
        self.unwritten = False  # text streamed since the batch writer last took it
        self._ids = {"conversation_id": message.conversation_id, "message_id": message.id}

    # -- streaming --------------------------------------------------------------------

    def start(self) -> StreamStarted:
        """The provider call is about to be made: the message is streaming."""
        self.status = "streaming"
        self.unwritten = True  # the status change itself is worth a batch write
        return StreamStarted(
            **self._ids,
            model_id=self.model.id,
            provider=self.model.provider,
            omitted_messages=self.omitted,
        )

    def feed(self, part: parts.Part) -> tuple[Event, ...]:
        """One provider part -> the events it makes (often none). The hot path."""
        kind = type(part)
        if kind is parts.TextDelta:
            text = part.text
            if not text:
                return NO_EVENTS
            self.content.append(text)
            self.unwritten = True
            index = self.index
            self.index = index + 1
            delta = StreamDelta(**self._ids, index=index, text=text)
            if self.thinking.open:
                return (self._close_thinking(), delta)
            return (delta,)
        if kind is parts.ThinkingDelta:
            text = part.text
            if not text:
                return NO_EVENTS
            thinking = self.thinking
            thinking.text.append(text)
            self.unwritten = True
            delta = ThinkingDeltaEvent(**self._ids, text=text)
            if not thinking.open:
                thinking.open = True
                return (ThinkingStarted(**self._ids), delta)
            return (delta,)
        if kind is parts.ToolCallStart:
            self.tools[part.index] = StreamingCall(part.id, part.name)
        elif kind is parts.ToolCallDelta:
            call = self.tools.get(part.index)
            if call is None:  # arguments before (or without) the call's start
                call = self.tools[part.index] = StreamingCall("", "")
            call.fragments.append(part.arguments)
        elif kind is parts.UsagePart:
            self.usage = part
        elif kind is parts.ThinkingSignature:
            self.thinking.signature = part.signature
        elif kind is parts.RedactedThinking:
            if part.data:
                self.thinking.redacted.append(part.data)
        elif kind is parts.ReasoningItem:
            self.thinking.items.append(part.item)
        elif kind is parts.ContentOrder:
            self.thinking.order = part.blocks
        elif kind is parts.Finish:
            self.finish = part.reason
        elif kind is parts.Retrying:
            return (
                StreamRetrying(
                    **self._ids, attempt=part.attempt, delay_ms=part.delay_ms, reason=part.reason
                ),
            )
        return NO_EVENTS

    def call_ended(self, tools_enabled: bool) -> bool:
        """A provider call's stream is over: True when it asked for tools that are to run
        (another call follows), False when the turn is done. A stream that never said
        how it ended is an error, retryable."""
        if self.finish is None:
            raise parts.ProviderError(
                "incomplete_stream", "the stream ended without a finish reason", retryable=True
            )
        if self.finish != "tool_calls" or not tools_enabled or not self.tools:
            return False
        if len(self.steps) >= MAX_TOOL_STEPS:
            self.finish = "max_tool_steps"
            return False
        return True

    def end_tool_step(self) -> ToolStep:
        """Close the provider call that asked for tools: its calls (numbered with this
        step's index, with our own ids) and the step the next request replays."""
        start_c = self.steps[-1].content_end if self.steps else 0
        start_t = self.steps[-1].thinking_end if self.steps else 0
        events = (self._close_thinking(),) if self.thinking.open else NO_EVENTS
        calls = self._end_call()
        step = self._close_step()
        self.finish = None
        content, thinking = "".join(self.content), "".join(self.thinking.text)
        return ToolStep(
            calls=calls,
            step=step,
            content=content[start_c : step.content_end],
            thinking=thinking[start_t : step.thinking_end] or None,
            events=events,
        )

    # -- the end ----------------------------------------------------------------------

    def end(self, status: MessageStatus, error: ErrorInfo | None) -> Final:
        """The turn is over: the final message, its usage records and every event after
        the last delta. Calls still waiting end failed; a last step with thinking the
        provider needs back (a signature, redacted blocks, reasoning items) is kept for
        later turns."""
        m = self.message
        events: list[Event] = []
        if self.thinking.open:
            events.append(self._close_thinking())
        self._end_call()
        if self.thinking.kept():
            self._close_step()
        records = [
            usage_record(self.model, u, "chat", m.conversation_id, m.id) for u in self.step_usages
        ]
        unfinished = [c for c in self.calls if c.status in ("proposed", "running")]
        for call in unfinished:
            call.status, call.error = "failed", "the turn ended before the call finished"
        if status == "interrupted":
            error = ErrorInfo(
                code="interrupted", message="the sidecar stopped mid-stream", retryable=True
            )
        finish_reason = self.finish or "stop"
        final = m.model_copy(
            update={
                "finish_reason": finish_reason if status == "complete" else None,
                "content": self.text,
                "thinking": self.thinking_text,
                "status": status,
                "usage": _summed(records) if records else None,
                "error": error,
                "tool_calls": self.calls,
                "steps": self.steps,
                "updated_at": max(now_iso(), m.updated_at),
            }
        )
        self.unwritten = False  # the final write carries everything
        events.extend(UsageRecorded(usage=record) for record in records)
        for call in unfinished:  # a call the UI shows as waiting ends too
            if call.executor is not None:  # its proposed/started event went out
                events.append(ToolFailed(**self._ids, call_id=call.id, error=call.error or ""))
        return Final(final, records, (*events, *_ending(final, finish_reason)), finish_reason)

    # -- reading ----------------------------------------------------------------------

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def thinking_text(self) -> str | None:
        return "".join(self.thinking.text) or None

    def live(self, stored: Message) -> Message:
        """`stored` with what has streamed so far (for snapshots)."""
        return stored.model_copy(
            update={"content": self.text, "thinking": self.thinking_text, "status": self.status}
        )

    # -- steps ------------------------------------------------------------------------

    def _close_thinking(self) -> ThinkingCompleted:
        self.thinking.open = False
        return ThinkingCompleted(**self._ids)

    def _end_call(self) -> list[ToolCall]:
        """Close the current provider call: keep its usage, turn its tool parts into calls."""
        if self.usage is not None:
            self.step_usages.append(self.usage)
            self.usage = None
        calls = _tool_calls(self.tools, len(self.steps))
        self.tools = {}
        self.calls.extend(calls)
        return calls

    def _close_step(self) -> Step:
        """Record where the provider call that just ended stopped, with the thinking the
        provider needs back unchanged (its signature, redacted blocks, reasoning items, the
        blocks' order)."""
        thinking = self.thinking
        step = Step(
            content_end=sum(map(len, self.content)),
            thinking_end=sum(map(len, thinking.text)),
            thinking_signature=thinking.signature,
            redacted_thinking=thinking.redacted,
            reasoning_items=thinking.items,
            content_order=[OrderedBlock.model_validate(b) for b in thinking.order],
        )
        self.steps.append(step)
        thinking.signature, thinking.redacted, thinking.items, thinking.order = None, [], [], []
        return step


def _ending(final: Message, finish_reason: str) -> tuple[Event, Event]:
    """The terminal event that `final.status` calls for, then the final message."""
    ids = {"conversation_id": final.conversation_id, "message_id": final.id}
    end: Event
    if final.status == "complete":
        end = StreamCompleted(**ids, finish_reason=finish_reason, usage=final.usage, message=final)
    elif final.status == "cancelled":
        end = StreamCancelled(**ids, message=final)
    else:
        assert final.error is not None
        end = StreamFailed(**ids, error=final.error, message=final)
    return end, MessageUpdated(message=final)


def _summed(records: list[UsageRecord]) -> Usage:
    """A message's usage: its provider calls added up (cost null if any call had no price)."""
    costs = [r.cost_usd for r in records]
    return Usage(
        input_tokens=sum(r.input_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        reasoning_tokens=sum(r.reasoning_tokens for r in records),
        cache_read_tokens=sum(r.cache_read_tokens for r in records),
        cache_write_tokens=sum(r.cache_write_tokens for r in records),
        cost_usd=None if None in costs else round(sum(costs), 10),  # type: ignore[arg-type]
    )


def _tool_calls(tools: dict[int, StreamingCall], step: int = 0) -> list[ToolCall]:
    """The streamed calls as ToolCalls in the provider's order, with our own ids (the
    provider's are not unique) and their arguments parsed: not JSON -> `_unparsed`,
    not an object -> `_value`."""
    calls = []
    for index in sorted(tools):
        streamed = tools[index]
        text = "".join(streamed.fragments)
        try:
            arguments = orjson.loads(text) if text else {}
        except orjson.JSONDecodeError:
            arguments = {"_unparsed": text}
        if not isinstance(arguments, dict):
            arguments = {"_value": arguments}
        calls.append(
            ToolCall(
                id=new_id(),
                provider_call_id=streamed.provider_id or None,
                name=streamed.name,
                arguments=arguments,
                status="proposed",
                step=step,
            )
        )
    return calls
