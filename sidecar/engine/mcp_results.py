"""What MCP servers answer, turned into what the sidecar keeps and sends on.

A tool result becomes the call's `result`: a string when the server answered with text
only, else `{"content": [...], "structuredContent": ...}` where each block is
`{"type": "text", "text"}` or `{"type": "image", "mimeType", "data"}` (base64); audio,
binary resources and links become short text notes. `isError` results fail the call
with their text. Text is capped at MAX_TEXT characters and images at MAX_IMAGES of at
most MAX_IMAGE_BYTES each (a larger one becomes a note): a server cannot flood the
conversation or the provider request. `engine.request` hands the images to the
providers in the form each accepts (see `model_text` and `images_of`).
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_TEXT = 100_000
MAX_IMAGES = 4
MAX_IMAGE_BYTES = 4 * 1024 * 1024  # base64 characters
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _blocks(content: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    images = 0
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "text":
            out.append({"type": "text", "text": block.text})
        elif kind == "image":
            if (
                images < MAX_IMAGES
                and len(block.data) <= MAX_IMAGE_BYTES
                and block.mime_type in IMAGE_TYPES
            ):
                out.append({"type": "image", "mimeType": block.mime_type, "data": block.data})
                images += 1
            else:
                out.append({"type": "text", "text": f"[an image ({block.mime_type}) left out]"})
        elif kind == "audio":
            out.append({"type": "text", "text": f"[audio ({block.mime_type}) left out]"})
        elif kind == "resource":
            res = block.resource
            text = getattr(res, "text", None)
            if text is not None:
                out.append({"type": "text", "text": f"[resource {res.uri}]\n{text}"})
            else:
                out.append({"type": "text", "text": f"[binary resource {res.uri} left out]"})
        elif kind == "resource_link":
            out.append({"type": "text", "text": f"[resource link: {block.uri} ({block.name})]"})
        else:
            out.append({"type": "text", "text": f"[{kind or 'unknown'} content left out]"})
    return out


def _cap(text: str) -> str:
    if len(text) <= MAX_TEXT:
        return text
    return text[:MAX_TEXT] + f"\n[... cut: {len(text) - MAX_TEXT} more characters]"


def tool_result(result: Any) -> tuple[Any, str | None]:
    """(the call's result, None) or (None, the error) for a CallToolResult."""
    blocks = _blocks(list(getattr(result, "content", None) or []))
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    if getattr(result, "is_error", False):
        return None, _cap("\n".join(texts).strip() or "the tool reported an error")
    structured = getattr(result, "structured_content", None)
    if structured is None and len(texts) == len(blocks):
        return _cap("\n".join(texts)), None
    budget = MAX_TEXT
    for b in blocks:
        if b["type"] == "text":
            b["text"] = b["text"][: max(budget, 0)]
            budget -= len(b["text"])
    out: dict[str, Any] = {"content": blocks}
    if structured is not None:
        if len(orjson.dumps(structured)) > MAX_TEXT:
            out["structuredContent"] = {"note": "left out: larger than the result size cap"}
        else:
            out["structuredContent"] = structured
    return out, None


def is_mcp_result(result: Any) -> bool:
    return isinstance(result, dict) and isinstance(result.get("content"), list)


def model_text(result: dict[str, Any]) -> str:
    """What the model reads of a rich result: its text and a note per image; the structured
    content as JSON only when there is no text (servers send its text form beside it)."""
    parts = []
    for b in result["content"]:
        if b.get("type") == "image":
            parts.append(f"[image ({b.get('mimeType')})]")
        else:
            parts.append(str(b.get("text", "")))
    if "structuredContent" in result and not any(
        b.get("type") == "text" for b in result["content"]
    ):
        parts.append(orjson.dumps(result["structuredContent"]).decode())
    return "\n".join(parts)


def images_of(result: Any) -> list[tuple[str, str]]:
    """The images of a rich result, as (mime type, base64)."""
    if not is_mcp_result(result):
        return []
    return [
        (b["mimeType"], b["data"])
        for b in result["content"]
        if b.get("type") == "image" and "data" in b
    ]


def prompt_text(result: Any) -> str:
    """A prompt's messages as one text: each message's text, a resource's text, in order."""
    parts = []
    for message in result.messages:
        block = message.content
        if getattr(block, "type", None) == "text":
            parts.append(block.text)
        elif getattr(block, "type", None) == "resource":
            text = getattr(block.resource, "text", None)
            if text is not None:
                parts.append(text)
    return _cap("\n\n".join(parts))


def resource_contents(result: Any) -> list[Any]:
    from sidecar.protocol.mcp import McpResourceContent

    out = []
    for item in result.contents:
        text = getattr(item, "text", None)
        blob = getattr(item, "blob", None)
        out.append(
            McpResourceContent(
                uri=str(item.uri),
                mime_type=item.mime_type,
                text=_cap(text) if text is not None else None,
                data=blob,
            )
        )
    return out
