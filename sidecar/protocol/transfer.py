"""Moving conversations in and out: `conversations.export`, `conversations.import`.

The JSON export is a versioned document (`ConversationDocument`): the whole message
tree with every stored field, the branch names and the active leaf, so an import
rebuilds the same conversation under new ids. The models here are that format's
contract; they are strict (unknown members and loose types are refused) because
they are also what `conversations.import` accepts.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.objects import (
    Attachment,
    Conversation,
    ErrorInfo,
    MessageStatus,
    Role,
    Step,
    ToolCall,
    Usage,
)

DOCUMENT_FORMAT = "chat-sidecar.conversation"
DOCUMENT_VERSION = 1

_STRICT = ConfigDict(extra="forbid", strict=True)
DocId = Field(min_length=1, max_length=100)


# --- the document format (version 1) --------------------------------------------------


class DocumentToolCall(ToolCall):
    model_config = _STRICT


class DocumentStep(Step):
    model_config = _STRICT


class DocumentUsage(Usage):
    model_config = _STRICT


class DocumentError(ErrorInfo):
    model_config = _STRICT


class DocumentAttachment(Attachment):
    """An attachment as stored, plus an image's bytes (base64), which live beside the
    database rather than in the message."""

    model_config = _STRICT

    data: str | None = Field(
        default=None,
        max_length=16_000_000,
        description="Base64 bytes of an image attachment; null for text ones (see `text`) "
        "and for an image whose file is gone.",
    )


class DocumentConversation(Conversation):
    """The conversation as stored; `id` and `activeLeafId` are the exporting side's ids."""

    model_config = _STRICT


class DocumentMessage(Params):
    """Every stored field of a message except its conversation (the document's)."""

    id: str = DocId
    parent_id: str | None = Field(
        max_length=100, description="Null for a root; else another message of the document."
    )
    role: Role
    content: str
    status: MessageStatus = Field(
        description="`pending` and `streaming` are imported as `interrupted`."
    )
    model_id: str | None = None
    provider: str | None = None
    thinking: str | None = None
    tool_calls: list[DocumentToolCall] = Field(default_factory=list)
    steps: list[DocumentStep] = Field(default_factory=list)
    attachments: list[DocumentAttachment] = Field(default_factory=list)
    usage: DocumentUsage | None = None
    error: DocumentError | None = None
    created_at: str
    updated_at: str
    finish_reason: str | None = Field(default=None, max_length=100)


class ConversationDocument(Params):
    """A conversation exported as JSON (format `chat-sidecar.conversation`, version 1)."""

    format: Literal["chat-sidecar.conversation"]
    version: Literal[1] = Field(description="Grows when the format changes incompatibly.")
    exported_at: str | None = Field(default=None, description="RFC 3339 UTC.")
    conversation: DocumentConversation
    messages: list[DocumentMessage] = Field(
        description="Every message of the tree (all branches), oldest first (any order "
        "is accepted on import)."
    )
    branch_names: dict[str, str] = Field(
        default_factory=dict, description="Leaf message id -> the name of the branch it ends."
    )


# --- methods ------------------------------------------------------------------------


def _one_of(schema: dict[str, Any]) -> None:
    """An object-or-string union is either one, never both: say `oneOf`."""
    if "anyOf" in schema:
        schema["oneOf"] = schema.pop("anyOf")


def _document_or_text(schema: dict[str, Any]) -> None:
    ref = {k: schema.pop(k) for k in ("$ref", "allOf") if k in schema}
    schema["oneOf"] = [
        ref,
        {"type": "string", "description": "The same document as JSON text (a file's content)."},
    ]


def _parse_text(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ValueError(
                f"not a JSON document ({exc.msg} at line {exc.lineno} column {exc.colno}); "
                "only the JSON export can be imported"
            ) from None
    return value


class ConversationsExportParams(Params):
    conversation_id: str = Field(min_length=1, max_length=100)
    format: Literal["json", "markdown"] = Field(
        default="json",
        description="`json`: the whole tree as a ConversationDocument, for import; "
        "`markdown`: the active branch as readable text.",
    )


class ConversationsExportResult(Wire):
    document: ConversationDocument | str = Field(
        description="A ConversationDocument for `json`, a Markdown string for `markdown`.",
        json_schema_extra=_one_of,
    )


class ConversationsImportParams(Params):
    document: Annotated[ConversationDocument, BeforeValidator(_parse_text)] = Field(
        description="A `json` export, as an object or as its JSON text.",
        json_schema_extra=_document_or_text,
    )


class ConversationsImportResult(Wire):
    conversation: Conversation = Field(description="The new conversation, with new ids.")
    seq: int = Field(description="The last event reflected in this snapshot.")
