"""Anthropic Messages API.

What differs from the OpenAI shape: typed SSE events per content block, usage that
is cumulative across `message_start` and `message_delta` (taken, never summed),
thinking blocks with signatures (and redacted ones) that must travel back unchanged
on tool turns, in the order they came (interleaved thinking puts several in one
response, between text and tool calls: `ContentOrder`), a top-level `system`, a
required `max_tokens`, and strictly alternating roles with tool results as user
content blocks.
"""

from __future__ import annotations

from typing import Any

import orjson

from .base import Provider, StreamParser, as_int, effort_level, loads, sampling
from .errors import error_from_payload
from .types import (
    ChatMessage,
    ChatRequest,
    ContentOrder,
    ProviderError,
    RedactedThinking,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallRef,
    ToolCallStart,
    UsagePart,
)

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
# Effort -> budget_tokens for models with manual thinking only (`budget` profiles); `auto`
# leaves thinking off there, as the API's default is.
THINKING_BUDGETS = {"low": 2_048, "medium": 8_192, "high": 16_384, "max": 32_000}
MIN_THINKING_BUDGET = 1_024  # the API's minimum
_ADAPTIVE = frozenset({"adaptive", "adaptive-only"})
MAX_CACHE_BREAKPOINTS = 4  # the API refuses a request with more blocks carrying cache_control
# Blocks that cannot carry cache_control themselves (they are cached as part of the prefix).
_UNMARKABLE = frozenset({"thinking", "redacted_thinking"})
THINKING_SEPARATOR = "\n\n"  # between two thinking blocks of one response, as shown

_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",  # the window filled before max_tokens
    "tool_use": "tool_calls",
    "refusal": "refusal",
}


class AnthropicStreamParser(StreamParser):
    __slots__ = (
        "_api_key",
        "_tools",
        "_whole",
        "_count",
        "_in",
        "_read",
        "_write",
        "_out",
        "_order",
        "_open",
        "_text",
        "_thought",
    )

    def __init__(self, api_key: str | None) -> None:
        super().__init__()
        self._api_key = api_key
        self._tools: dict[Any, int] = {}  # open tool_use block index -> tool call ordinal
        self._whole: set[int] = set()  # tool calls whose input came whole in the block start
        self._count = 0  # tool calls seen
        self._in = self._read = self._write = self._out = 0
        self._order: list[dict[str, Any]] = []  # the content blocks so far (`ContentOrder`)
        self._open: dict[Any, dict[str, Any]] = {}  # open block index -> its entry
        self._text = self._thought = 0  # characters of text and of thinking so far

    def feed(self, event: str, data: str) -> None:
        obj = loads(data) if data else None
        if type(obj) is not dict:
            return
        kind = obj.get("type") or event.strip()
        if kind == "content_block_delta":
            delta = obj.get("delta")
            if type(delta) is not dict:
                return
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                if text:
                    self._text += len(text)
                    self.out.append(TextDelta(text))
            elif dtype == "input_json_delta":
                partial = delta.get("partial_json")
                ordinal = self._tools.get(obj.get("index"))
                if partial and ordinal is not None and ordinal not in self._whole:
                    self.out.append(ToolCallDelta(ordinal, partial))
            elif dtype == "thinking_delta":
                text = delta.get("thinking")
                if text:
                    self._thought += len(text)
                    self.out.append(ThinkingDelta(text))
            elif dtype == "signature_delta":
                signature = delta.get("signature")
                if signature:
                    self._signed(obj.get("index"), signature)
            # citations_delta and anything newer: ignored
        elif kind == "content_block_start":
            block = obj.get("content_block")
            if type(block) is dict:
                self._block_start(obj.get("index"), block)
        elif kind == "content_block_stop":
            self._block_stop(obj.get("index"))
        elif kind == "message_delta":
            delta = obj.get("delta")
            if type(delta) is dict:
                stop = delta.get("stop_reason")
                if stop:
                    self.finish_reason = _STOP.get(stop, stop)
            self._usage(obj.get("usage"))
        elif kind == "message_start":
            message = obj.get("message")
            if type(message) is dict:
                self._usage(message.get("usage"))
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            raise error_from_payload(obj, self._api_key)
        # ping and unknown events: ignored

    def _block_start(self, index: Any, block: dict[str, Any]) -> None:
        btype = block.get("type")
        out = self.out
        entry: dict[str, Any]
        if btype == "text":
            entry = {"type": "text", "start": self._text}
            text = block.get("text")
            if text:
                self._text += len(text)
                out.append(TextDelta(text))
        elif btype == "thinking":
            if self._thought:  # a later thinking block of the same response
                self._thought += len(THINKING_SEPARATOR)
                out.append(ThinkingDelta(THINKING_SEPARATOR))
            entry = {"type": "thinking", "start": self._thought}
            text = block.get("thinking")
            if text:
                self._thought += len(text)
                out.append(ThinkingDelta(text))
            self._open[index] = entry
            signature = block.get("signature")
            if signature:
                self._signed(index, signature)
        elif btype == "redacted_thinking":
            data = block.get("data") or ""
            entry = {"type": "redacted_thinking", "data": data}
            out.append(RedactedThinking(data))
        elif btype == "tool_use":
            ordinal = self._count
            self._count += 1
            self._tools[index] = ordinal
            entry = {"type": "tool_use", "index": ordinal}
            out.append(
                ToolCallStart(
                    ordinal, block.get("id") or f"toolu_{ordinal}", block.get("name") or ""
                )
            )
            given = block.get("input")
            if given and type(given) is dict:  # a proxy that sends the input whole
                self._whole.add(ordinal)
                out.append(ToolCallDelta(ordinal, orjson.dumps(given).decode()))
        else:  # server_tool_use, web_search_tool_result, …: run upstream, nothing for us
            return
        self._order.append(entry)
        self._open[index] = entry

    def _signed(self, index: Any, signature: str) -> None:
        entry = self._open.get(index)
        if entry is not None and entry["type"] == "thinking":
            entry["signature"] = signature
        self.out.append(ThinkingSignature(signature))

    def _block_stop(self, index: Any) -> None:
        """Close a block; once the blocks' order is not the plain one, say it (again)."""
        ordinal = self._tools.pop(index, None)
        if ordinal is not None:
            self.out.append(ToolCallEnd(ordinal))
        entry = self._open.pop(index, None)
        if entry is None:
            return
        if entry["type"] == "text":
            entry["end"] = self._text
        elif entry["type"] == "thinking":
            entry["end"] = self._thought
        if not _plain(self._order):
            self.out.append(ContentOrder([dict(e) for e in self._order if _whole(e)]))

    def _usage(self, usage: Any) -> None:
        """Cumulative: every field present replaces the previous value."""
        if type(usage) is not dict:
            return
        value = usage.get("input_tokens")
        if value is not None:
            self._in = as_int(value)
        value = usage.get("cache_read_input_tokens")
        if value is not None:
            self._read = as_int(value)
        value = usage.get("cache_creation_input_tokens")
        if value is not None:
            self._write = as_int(value)
        value = usage.get("output_tokens")
        if value is not None:
            self._out = as_int(value)
        self.out.append(
            UsagePart(
                input_tokens=self._in + self._read + self._write,
                output_tokens=self._out,
                cache_read_tokens=self._read,
                cache_write_tokens=self._write,
            )
        )

    def feed_json(self, obj: Any) -> None:
        """A whole (non-streamed) message where a stream was expected."""
        if type(obj) is not dict or obj.get("type") != "message":
            raise ProviderError("invalid_response", "unexpected JSON reply", retryable=False)
        for i, block in enumerate(obj.get("content") or ()):
            if type(block) is not dict:
                continue
            self._block_start(i, block)
            ordinal = self._tools.get(i)
            if ordinal is not None and ordinal not in self._whole:
                self.out.append(ToolCallDelta(ordinal, "{}"))
            self._block_stop(i)
        self._usage(obj.get("usage"))
        stop = obj.get("stop_reason")
        self.finish_reason = _STOP.get(stop, stop) if stop else "stop"
        self.done = True

    def end(self) -> ProviderError | None:
        if self.finish_reason is not None:
            for index in list(self._tools):  # blocks the stream never closed
                self.out.append(ToolCallEnd(self._tools.pop(index)))
        return super().end()


def _plain(order: list[dict[str, Any]]) -> bool:
    """True when the plain order rebuilds these blocks: at most one thinking block, then
    the redacted ones, all before any text or tool call."""
    thinking = redacted = other = False
    for entry in order:
        kind = entry["type"]
        if kind == "thinking":
            if thinking or redacted or other:
                return False
            thinking = True
        elif kind == "redacted_thinking":
            if other:
                return False
            redacted = True
        else:
            other = True
    return True


def _whole(entry: dict[str, Any]) -> bool:
    """A block that can go back: text and thinking once closed, thinking only if signed."""
    if entry["type"] == "thinking":
        return "end" in entry and "signature" in entry
    return entry["type"] != "text" or "end" in entry


def _tool_input(arguments: str) -> dict[str, Any]:
    """Anthropic wants the parsed object back; a call with broken JSON goes back empty."""
    parsed = loads(arguments) if arguments and arguments.strip() else None
    return parsed if type(parsed) is dict else {}


def _blocks(m: ChatMessage) -> tuple[str, list[dict[str, Any]]]:
    if m.role == "tool":
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id or ""}
        if m.images:  # an MCP tool's images: tool_result takes image blocks beside the text
            result["content"] = ([{"type": "text", "text": m.content}] if m.content else []) + [
                {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
                for mime, data in m.images
            ]
        elif m.content:
            result["content"] = m.content
        return "user", [result]
    blocks: list[dict[str, Any]] = []
    if m.role == "assistant" and m.content_order:
        return "assistant", _ordered_blocks(m)
    if m.role == "assistant":
        # Thinking first, unchanged, with its signature (an unsigned one cannot go back).
        if m.thinking and m.thinking_signature:
            blocks.append(
                {"type": "thinking", "thinking": m.thinking, "signature": m.thinking_signature}
            )
        for data in m.redacted_thinking:
            blocks.append({"type": "redacted_thinking", "data": data})
        if m.content.strip():  # the API rejects empty and whitespace-only text blocks
            blocks.append({"type": "text", "text": m.content})
        blocks += [_tool_use(call) for call in m.tool_calls]
        return "assistant", blocks
    for mime, data in m.images:
        blocks.append(
            {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
        )
    if m.content.strip():
        blocks.append({"type": "text", "text": m.content})
    return "user", blocks


def _tool_use(call: ToolCallRef) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": call.id,
        "name": call.name,
        "input": _tool_input(call.arguments),
    }


def _ordered_blocks(m: ChatMessage) -> list[dict[str, Any]]:
    """An assistant turn's blocks in the order the response had them (`ContentOrder`):
    each thinking block with its own signature, exactly as the API wants them back."""
    thinking, blocks, named = m.thinking or "", [], set()
    for entry in m.content_order:
        kind = entry.get("type")
        start, end, index = entry.get("start", 0), entry.get("end", 0), entry.get("index", -1)
        if kind == "thinking" and entry.get("signature"):
            text = thinking[start:end]
            blocks.append({"type": "thinking", "thinking": text, "signature": entry["signature"]})
        elif kind == "redacted_thinking" and entry.get("data"):
            blocks.append({"type": "redacted_thinking", "data": entry["data"]})
        elif kind == "text":
            text = m.content[start:end]
            if text.strip():  # the API rejects empty and whitespace-only text blocks
                blocks.append({"type": "text", "text": text})
        elif kind == "tool_use" and 0 <= index < len(m.tool_calls):
            named.add(index)
            blocks.append(_tool_use(m.tool_calls[index]))
    rest = [c for i, c in enumerate(m.tool_calls) if i not in named]  # none, normally
    return blocks + [_tool_use(call) for call in rest]


def anthropic_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Strictly alternating roles: consecutive same-role turns (e.g. several tool results,
    or a tool result followed by the user's next message) are merged into one."""
    out: list[dict[str, Any]] = []
    for m in messages:
        role, blocks = _blocks(m)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for msg in out:  # tool_result blocks must lead their user message
        content = msg["content"]
        if msg["role"] == "user" and len(content) > 1:
            content.sort(key=lambda b: b["type"] != "tool_result")
    return out


def _last_markable(content: list[dict[str, Any]]) -> dict[str, Any] | None:
    for block in reversed(content):
        if block.get("type") not in _UNMARKABLE:
            return block
    return None


def mark_cache_breakpoints(body: dict[str, Any]) -> int:
    """Put `cache_control: {"type": "ephemeral"}` breakpoints on the request's stable parts;
    returns how many were placed (never more than MAX_CACHE_BREAKPOINTS).

    The prompt is cached in the API's order, tools -> system -> messages, and a breakpoint
    caches everything up to and including its block. Candidates, most valuable first:
    1. the newest user message's last block (the next turn reads the whole prompt from there);
    2. the last block of the message before it (this turn reads the previous turn's prefix);
    3. the system prompt (survives edits and branches of the conversation);
    4. the last tool definition (survives a changed system prompt).
    Beyond the limit the least valuable go first: the tools one, then the system one.
    Thinking blocks cannot carry a breakpoint; the nearest earlier block does instead."""
    candidates: list[dict[str, Any]] = []
    messages = body.get("messages") or []
    newest = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if newest is not None:
        block = _last_markable(messages[newest]["content"])
        if block is not None:
            candidates.append(block)
        if newest > 0:
            block = _last_markable(messages[newest - 1]["content"])
            if block is not None:
                candidates.append(block)
    system = body.get("system")
    if isinstance(system, str) and system:
        body["system"] = [{"type": "text", "text": system}]
    if body.get("system"):
        candidates.append(body["system"][-1])
    if body.get("tools"):
        candidates.append(body["tools"][-1])
    kept = candidates[:MAX_CACHE_BREAKPOINTS]
    for block in kept:
        block["cache_control"] = {"type": "ephemeral"}
    return len(kept)


def _thinking(style: str, budget: int | None) -> dict[str, Any] | None:
    """The `thinking` parameter for the model's profile: adaptive models always think
    (the model decides how much); adaptive-only ones omit the thinking text unless asked,
    so summaries are asked for; budget models think only with a budget."""
    if style == "adaptive":
        return {"type": "adaptive"}
    if style == "adaptive-only":
        return {"type": "adaptive", "display": "summarized"}
    if budget is not None:
        return {"type": "enabled", "budget_tokens": budget}
    return None


class AnthropicProvider(Provider):
    path = "/v1/messages"
    models_path = "/v1/models"

    def _auth_headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self.config.api_key:
            headers["x-api-key"] = self.config.api_key
        return headers

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        style = request.profile.thinking
        budget = THINKING_BUDGETS.get(request.effort) if style == "budget" else None
        max_tokens = request.max_output_tokens
        if max_tokens is None:
            # Required by the API; a thinking budget counts against it.
            max_tokens = DEFAULT_MAX_TOKENS + (budget or 0)
        if budget is not None:
            budget = min(budget, max_tokens - 1)  # the API wants max_tokens > budget_tokens
            if budget < MIN_THINKING_BUDGET:
                budget = None
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": max_tokens,
            "messages": anthropic_messages(request.messages),
        }
        if request.system:
            body["system"] = request.system
        thinking = _thinking(style, budget)
        if thinking is not None:
            body["thinking"] = thinking
            effort = effort_level(request) if style in _ADAPTIVE else None
            if effort is not None:
                body["output_config"] = {"effort": effort}
            # The API refuses temperature with thinking, and top_p below 0.95.
            top_p = sampling(request).get("top_p")
            if top_p is not None and top_p >= 0.95:
                body["top_p"] = top_p
        else:
            body |= sampling(request)
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in request.tools
            ]
        if request.prompt_caching:
            mark_cache_breakpoints(body)
        if stream:
            body["stream"] = True
        return body

    def _parser(self, request: ChatRequest) -> AnthropicStreamParser:
        return AnthropicStreamParser(self.config.api_key)

    def _parse_complete(self, obj: Any) -> tuple[str, UsagePart]:
        text = "".join(
            b.get("text") or ""
            for b in obj.get("content") or ()
            if type(b) is dict and b.get("type") == "text"
        )
        parser = AnthropicStreamParser(None)
        parser._usage(obj.get("usage"))
        usage = parser.out[-1] if parser.out else UsagePart()
        return text, usage  # type: ignore[return-value]
