"""A script resolved against one request: the exact chunks, fragments and token counts to send."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from typing import Any

from sidecar.dev.fakes.script import Script, Usage


@dataclass
class ToolCallReply:
    index: int
    id: str
    name: str
    arguments: str
    fragments: list[str]  # `arguments` cut in pieces


@dataclass
class Reply:
    script: Script
    model: str
    stream: bool
    include_usage: bool
    text: str
    text_chunks: list[str]
    thinking: str  # "" when none
    thinking_chunks: list[str]
    signature: str
    tool_calls: list[ToolCallReply]
    usage: Usage
    finish_reason: str | None  # None: the dialect's default
    body: dict[str, Any]  # the request's

    @classmethod
    def resolve(cls, script: Script, body: dict[str, Any], stream_default: bool = False) -> Reply:
        size = script.chunk_size
        text_chunks = list(script.chunks) if script.chunks is not None else split(script.text, size)
        thinking = script.thinking or ""
        thinking_chunks = split(thinking, size)
        tools = [
            ToolCallReply(i, call.id, call.name, call.arguments, split(call.arguments, size))
            for i, call in enumerate(script.tool_calls)
        ]
        usage = script.usage
        if usage is None:
            pieces = len(text_chunks) + len(thinking_chunks) + sum(len(t.fragments) for t in tools)
            usage = Usage(
                input_tokens=len(prompt_text(body)) // 4 or 12,
                output_tokens=max(pieces, 1),
                reasoning_tokens=len(thinking_chunks),
            )
        stream_options = body.get("stream_options")
        return cls(
            script=script,
            model=str(body.get("model") or "fake-model"),
            stream=body.get("stream", stream_default) is True,
            include_usage=isinstance(stream_options, dict)
            and stream_options.get("include_usage") is True,
            text="".join(text_chunks),
            text_chunks=text_chunks,
            thinking=thinking,
            thinking_chunks=thinking_chunks,
            signature=script.signature or signature_for(thinking),
            tool_calls=tools,
            usage=usage,
            finish_reason=script.finish_reason,
            body=body,
        )


def split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def signature_for(thinking: str) -> str:
    """A stable, opaque stand-in for Anthropic's thinking signature."""
    return base64.b64encode(
        b"fake-signature:" + hashlib.sha256(thinking.encode()).digest()
    ).decode()


def echo_script(body: dict[str, Any] | None, template: Script) -> Script:
    """The reply used when no script is queued: "You said: <last user message>"."""
    return replace(template, text=f"You said: {last_user_text(body or {})}", chunks=None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text")
        )
    return ""


def _conversation(body: dict[str, Any]) -> list[Any]:
    """The messages (chat completions, Anthropic) or the input items (Responses)."""
    given = body.get("input")
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    if isinstance(given, list):
        return given
    return body.get("messages") or []


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(_conversation(body)):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def prompt_text(body: dict[str, Any]) -> str:
    """All the prompt's text (system or instructions, and messages or input items), for
    computed input token counts."""
    parts = [_text_of(body.get("system")), _text_of(body.get("instructions"))]
    for message in _conversation(body):
        if isinstance(message, dict):
            parts.append(_text_of(message.get("content")))
    return "".join(parts)
