"""Every event: a JSON-RPC notification whose method is `type` and whose params are the model.

`seq` and `ts` are filled by the bus when it publishes; `type` is repeated inside
params so a client can hand params straight to a reducer as a tagged union.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, JsonValue, TypeAdapter

from sidecar.protocol.base import Wire
from sidecar.protocol.mcp import McpServer
from sidecar.protocol.objects import (
    Branch,
    Conversation,
    ErrorInfo,
    Message,
    Model,
    Provider,
    Settings,
    SystemPrompt,
    Usage,
    UsageRecord,
)


class Event(Wire):
    type: str
    seq: int = Field(default=0, description="Process-wide, grows by exactly 1 per event.")
    ts: str = Field(default="", description="RFC 3339 UTC time of publication.")


class ConversationCreated(Event):
    type: Literal["conversation.created"] = "conversation.created"
    conversation: Conversation


class ConversationUpdated(Event):
    type: Literal["conversation.updated"] = "conversation.updated"
    conversation: Conversation


class ConversationDeleted(Event):
    type: Literal["conversation.deleted"] = "conversation.deleted"
    conversation_id: str


class BranchUpdated(Event):
    """A branch was named or renamed."""

    type: Literal["branch.updated"] = "branch.updated"
    conversation_id: str
    branch: Branch


class BranchDeleted(Event):
    """A branch was deleted (`branches.delete`); its own messages went first, each with
    `message.deleted`."""

    type: Literal["branch.deleted"] = "branch.deleted"
    conversation_id: str
    leaf_id: str


class SystemPromptsUpdated(Event):
    """The saved system prompts changed; carries the whole new list."""

    type: Literal["systemPrompts.updated"] = "systemPrompts.updated"
    system_prompts: list[SystemPrompt]


class SettingsUpdated(Event):
    type: Literal["settings.updated"] = "settings.updated"
    settings: Settings


class MessageCreated(Event):
    type: Literal["message.created"] = "message.created"
    message: Message


class MessageUpdated(Event):
    """The stored message changed (the last event of every assistant turn carries the final one)."""

    type: Literal["message.updated"] = "message.updated"
    message: Message


class MessageDeleted(Event):
    type: Literal["message.deleted"] = "message.deleted"
    conversation_id: str
    message_id: str


class StreamEvent(Event):
    conversation_id: str
    message_id: str


class StreamStarted(StreamEvent):
    type: Literal["assistant.stream.started"] = "assistant.stream.started"
    model_id: str
    provider: str
    omitted_messages: int = Field(
        default=0,
        description="Oldest messages of the branch left out of the prompt to fit the model's context window.",
    )


class StreamDelta(StreamEvent):
    type: Literal["assistant.stream.delta"] = "assistant.stream.delta"
    index: int = Field(description="0, 1, 2, ... per message: a gap means a lost delta.")
    text: str


class StreamRetrying(StreamEvent):
    """The provider call failed before any text and is tried again after `delayMs`."""

    type: Literal["assistant.stream.retrying"] = "assistant.stream.retrying"
    attempt: int
    delay_ms: int
    reason: str


class StreamCompleted(StreamEvent):
    type: Literal["assistant.stream.completed"] = "assistant.stream.completed"
    finish_reason: str
    usage: Usage | None
    message: Message = Field(description="The final stored message: authoritative over the deltas.")


class StreamCancelled(StreamEvent):
    type: Literal["assistant.stream.cancelled"] = "assistant.stream.cancelled"
    message: Message


class StreamFailed(StreamEvent):
    type: Literal["assistant.stream.failed"] = "assistant.stream.failed"
    error: ErrorInfo
    message: Message


class ThinkingStarted(StreamEvent):
    type: Literal["agent.thinking.started"] = "agent.thinking.started"


class ThinkingDelta(StreamEvent):
    type: Literal["agent.thinking.delta"] = "agent.thinking.delta"
    text: str


class ThinkingCompleted(StreamEvent):
    type: Literal["agent.thinking.completed"] = "agent.thinking.completed"


class ToolProposed(StreamEvent):
    """The model wants a tool that needs approval: nothing runs until `tools.approve`."""

    type: Literal["tool.execution.proposed"] = "tool.execution.proposed"
    call_id: str
    name: str
    arguments: dict[str, JsonValue]


class ToolStarted(StreamEvent):
    """A tool call runs; with executor `client`, the client runs it and answers `tools.submitResult`."""

    type: Literal["tool.execution.started"] = "tool.execution.started"
    call_id: str
    name: str
    arguments: dict[str, JsonValue]
    executor: Literal["sidecar", "client", "mcp"]


class ToolCompleted(StreamEvent):
    type: Literal["tool.execution.completed"] = "tool.execution.completed"
    call_id: str
    result: JsonValue


class ToolFailed(StreamEvent):
    """The call failed, timed out or was denied; the model is told and the loop goes on."""

    type: Literal["tool.execution.failed"] = "tool.execution.failed"
    call_id: str
    error: str


class UsageRecorded(Event):
    type: Literal["usage.recorded"] = "usage.recorded"
    usage: UsageRecord


class ProvidersUpdated(Event):
    type: Literal["providers.updated"] = "providers.updated"
    providers: list[Provider]


class ModelsUpdated(Event):
    type: Literal["models.updated"] = "models.updated"
    models: list[Model]


class McpServerUpdated(Event):
    """An MCP server was added or changed, or its state changed (`starting`, `ready` with
    its tools, `failed` with why, `stopped`)."""

    type: Literal["mcp.server.updated"] = "mcp.server.updated"
    server: McpServer


class McpServerRemoved(Event):
    type: Literal["mcp.server.removed"] = "mcp.server.removed"
    server_id: str


EVENT_TYPES: tuple[type[Event], ...] = (
    ConversationCreated,
    ConversationUpdated,
    ConversationDeleted,
    BranchUpdated,
    BranchDeleted,
    SystemPromptsUpdated,
    SettingsUpdated,
    MessageCreated,
    MessageUpdated,
    MessageDeleted,
    StreamStarted,
    StreamDelta,
    StreamRetrying,
    StreamCompleted,
    StreamCancelled,
    StreamFailed,
    ThinkingStarted,
    ThinkingDelta,
    ThinkingCompleted,
    ToolProposed,
    ToolStarted,
    ToolCompleted,
    ToolFailed,
    UsageRecorded,
    ProvidersUpdated,
    ModelsUpdated,
    McpServerUpdated,
    McpServerRemoved,
)

AnyEvent = Annotated[Union[EVENT_TYPES], Field(discriminator="type")]  # noqa: UP007

EVENTS: dict[str, type[Event]] = {cls.model_fields["type"].default: cls for cls in EVENT_TYPES}

TERMINAL_EVENTS = frozenset(
    {"assistant.stream.completed", "assistant.stream.cancelled", "assistant.stream.failed"}
)


def event_adapter() -> TypeAdapter[AnyEvent]:
    """Validates any event's params (tests and the recorder use it)."""
    return TypeAdapter(AnyEvent)
