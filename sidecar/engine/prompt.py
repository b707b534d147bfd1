"""From a conversation's active path to the normalized request an adapter sends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from sidecar.providers.types import ChatMessage, ChatRequest, ToolCallRef

if TYPE_CHECKING:
    from sidecar.protocol.objects import Conversation, Message, Model


def build_request(
    model: Model, conversation: Conversation, system: str | None, path: list[Message]
) -> ChatRequest:
    """The prompt is exactly the active path (never another branch's messages).

    Assistant replies that produced nothing (failed before any text) are left
    out; partial replies the user saw (cancelled, interrupted) stay in.
    """
    messages: list[ChatMessage] = []
    for message in path:
        if message.role == "assistant" and not message.content and not message.tool_calls:
            continue
        messages.append(
            ChatMessage(
                role=message.role,
                content=message.content,
                tool_calls=[
                    ToolCallRef(id=c.id, name=c.name, arguments=orjson.dumps(c.arguments).decode())
                    for c in message.tool_calls
                ],
            )
        )
    settings = conversation.settings
    return ChatRequest(
        model=model.provider_model,
        messages=messages,
        system=system or None,
        max_output_tokens=settings.max_output_tokens or model.max_output_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
    )
