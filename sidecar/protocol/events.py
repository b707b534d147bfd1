"""Every event: a JSON-RPC notification whose method is `type` and whose params are the model.

`seq` and `ts` are filled by the bus when it publishes; `type` is repeated inside
params so a client can hand params straight to a reducer as a tagged union.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from sidecar.protocol.base import Wire
from sidecar.protocol.objects import Branch, Conversation, Settings, SystemPrompt


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


class SystemPromptsUpdated(Event):
    """The saved system prompts changed; carries the whole new list."""

    type: Literal["systemPrompts.updated"] = "systemPrompts.updated"
    system_prompts: list[SystemPrompt]


class SettingsUpdated(Event):
    type: Literal["settings.updated"] = "settings.updated"
    settings: Settings


EVENT_TYPES: tuple[type[Event], ...] = (
    ConversationCreated,
    ConversationUpdated,
    ConversationDeleted,
    BranchUpdated,
    SystemPromptsUpdated,
    SettingsUpdated,
)

AnyEvent = Annotated[
    ConversationCreated
    | ConversationUpdated
    | ConversationDeleted
    | BranchUpdated
    | SystemPromptsUpdated
    | SettingsUpdated,
    Field(discriminator="type"),
]

EVENTS: dict[str, type[Event]] = {cls.model_fields["type"].default: cls for cls in EVENT_TYPES}


def event_adapter() -> TypeAdapter[AnyEvent]:
    """Validates any event's params (tests and the recorder use it)."""
    return TypeAdapter(AnyEvent)
