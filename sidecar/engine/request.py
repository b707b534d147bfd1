"""From a conversation's active path to the normalized request an adapter sends.

The prompt is exactly the active path, never another branch's messages. It is
fitted to the model's context window by leaving out the oldest turns first;
the system prompt and the newest user message are always kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from sidecar.engine.attachments import is_image
from sidecar.engine.mcp_results import images_of
from sidecar.engine.tools import result_text
from sidecar.providers.types import ChatMessage, ChatRequest, ToolCallRef

if TYPE_CHECKING:
    from sidecar.protocol.objects import Conversation, Message, Model, Step, ToolCall

CHARS_PER_TOKEN = 4  # a deliberately rough estimate: cheap, and conservative for English
MESSAGE_OVERHEAD = 8
IMAGE_TOKENS = 1_600
SAFETY_MARGIN = 256
DEFAULT_OUTPUT_RESERVE = 4_096


def build_request(
    model: Model,
    conversation: Conversation,
    system: str | None,
    path: list[Message],
    images: dict[str, str] | None = None,
) -> tuple[ChatRequest, int]:
    """The request for the reply after `path`, and how many path messages were left out."""
    images = images or {}
    vision = model.capabilities.vision
    messages = [cm for m in path if _sendable(m) for cm in _messages(m, images, model.id, vision)]
    settings = conversation.settings
    max_output = settings.max_output_tokens or model.max_output_tokens
    window = settings.context_window or model.context_window
    kept = fit(messages, system, window, max_output)
    request = ChatRequest(
        model=model.provider_model,
        messages=kept,
        system=system or None,
        max_output_tokens=max_output,
        context_window=window,
        temperature=settings.temperature,
        top_p=settings.top_p,
        send_reasoning_back=model.send_reasoning_back,
        profile=model.profile,
        effort=settings.effort,
        prompt_caching=settings.prompt_caching,
    )
    return request, len(messages) - len(kept)


def _sendable(message: Message) -> bool:
    """Replies that produced nothing (failed before any text) are left out; partial
    replies the user saw (cancelled, interrupted) stay in."""
    return message.role == "user" or bool(message.content or message.tool_calls)


def _messages(
    message: Message, images: dict[str, str], model_id: str, vision: bool
) -> list[ChatMessage]:
    """A stored message as the provider saw it: a tool loop replays step by step. Opaque
    reasoning (Responses items, Anthropic signatures and redacted blocks) goes back only to
    the model that made it: another cannot decrypt or verify it."""
    if message.role == "user":
        content = message.content
        for a in message.attachments:
            if a.text is not None:
                content += f"\n\n[Attachment: {a.name} ({a.mime_type})]\n{a.text}"
        pictures = [
            (a.mime_type, images[a.id])
            for a in message.attachments
            if is_image(a.mime_type) and a.id in images
        ]
        return [ChatMessage(role="user", content=content, images=pictures)]
    out: list[ChatMessage] = []
    content_start = thinking_start = 0
    thinking = message.thinking or ""
    for index, step in enumerate(message.steps):
        calls = [c for c in message.tool_calls if c.step == index]
        out += step_messages(
            message.content[content_start : step.content_end],
            thinking[thinking_start : step.thinking_end] or None,
            step,
            calls,
            same_model=message.model_id == model_id,
            vision=vision,
        )
        content_start, thinking_start = step.content_end, step.thinking_end
    rest = message.content[content_start:]
    if rest or not out:  # calls the loop never ran (no tools enabled) are not replayed
        out.append(
            ChatMessage(role="assistant", content=rest, thinking=thinking[thinking_start:] or None)
        )
    return out


def step_messages(
    content: str,
    thinking: str | None,
    step: Step,
    calls: list[ToolCall],
    *,
    same_model: bool = True,
    vision: bool = False,
) -> list[ChatMessage]:
    """One provider call: the assistant's text, thinking and calls, then each call's result.

    Calls go back under the provider's own ids (the sidecar's ids are for clients only).
    The images of MCP tool results go to vision models only."""
    out = [
        ChatMessage(
            role="assistant",
            content=content,
            tool_calls=[_ref(c) for c in calls],
            thinking=thinking,
            **(_opaque_reasoning(step) if same_model else {}),
        )
    ]
    out += [
        ChatMessage(
            role="tool",
            content=result_text(c),
            tool_call_id=upstream_id(c),
            images=images_of(c.result)
            if vision and c.executor == "mcp" and c.status == "completed"
            else [],
        )
        for c in calls
    ]
    return out


def _opaque_reasoning(step: Step) -> dict[str, Any]:
    """What only the model that wrote a step can take back: signed and redacted thinking,
    encrypted reasoning items, and the block order those signatures belong to."""
    return {
        "thinking_signature": step.thinking_signature,
        "redacted_thinking": list(step.redacted_thinking),
        "reasoning_items": list(step.reasoning_items),
        "content_order": [b.model_dump(exclude_none=True) for b in step.content_order],
    }


def upstream_id(call: ToolCall) -> str:
    return call.provider_call_id or call.id


def _ref(call: ToolCall) -> ToolCallRef:
    return ToolCallRef(
        id=upstream_id(call), name=call.name, arguments=orjson.dumps(call.arguments).decode()
    )


def estimate_tokens(message: ChatMessage) -> int:
    text = len(message.content) + sum(len(c.arguments) + len(c.name) for c in message.tool_calls)
    return text // CHARS_PER_TOKEN + MESSAGE_OVERHEAD + IMAGE_TOKENS * len(message.images)


def fit(
    messages: list[ChatMessage],
    system: str | None,
    context_window: int | None,
    max_output: int | None,
) -> list[ChatMessage]:
    """The newest messages that fit the window, starting with a user message."""
    if not context_window or not messages:
        return messages
    budget = (
        context_window
        - (max_output or DEFAULT_OUTPUT_RESERVE)
        - len(system or "") // CHARS_PER_TOKEN
        - SAFETY_MARGIN
    )
    start = len(messages) - 1  # the newest user message is always sent
    used = estimate_tokens(messages[start])
    while start > 0 and used + estimate_tokens(messages[start - 1]) <= budget:
        start -= 1
        used += estimate_tokens(messages[start])
    while start < len(messages) - 1 and messages[start].role != "user":
        start += 1  # a prompt opens with the user's turn (Anthropic requires it)
    return messages[start:]
