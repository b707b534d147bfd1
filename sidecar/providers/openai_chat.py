"""OpenAI Chat Completions, and everything that imitates it (DeepSeek, Ollama, vLLM,
LM Studio, OpenRouter): one adapter, configured by a small Dialect per kind.

The parser is written against the quirks listed in PROVIDERS.md: tool calls are
assembled by `index` (ids and names only arrive on first fragments, and some
servers repeat `name` as null or ""), reasoning comes as `reasoning_content`
(DeepSeek), `reasoning` (Ollama, OpenRouter), `thinking` parts in a `content` list
(Mistral) or an inline leading `<think>` block, and usage comes either on its own last
chunk or on the finish chunk, with reasoning inside completion_tokens or (xAI) beside them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from .base import (
    Provider,
    StreamParser,
    as_int,
    bearer_auth,
    data_url,
    effort_level,
    function_tools,
    loads,
    sampling,
)
from .errors import error_from_payload
from .think import ThinkSplitter
from .types import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsagePart,
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """What differs between the OpenAI-style kinds."""

    max_tokens_field: str = "max_tokens"  # OpenAI deprecated max_tokens for max_completion_tokens
    think_tags: bool = False  # split a leading <think>…</think> out of content


DIALECTS: dict[str, Dialect] = {
    "openai": Dialect(max_tokens_field="max_completion_tokens"),
    "deepseek": Dialect(),
    "openai-compatible": Dialect(think_tags=True),
}

# Normalized finish reasons; anything else is passed through as the provider said it.
_FINISH = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "function_call": "tool_calls",  # legacy functions API
    "eos": "stop",  # some local servers
    "eos_token": "stop",
    "end_turn": "stop",  # proxies passing Anthropic's words through
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


def openai_usage(u: dict[str, Any]) -> UsagePart:
    """OpenAI / DeepSeek / compatible usage -> contract convention (prompt_tokens already
    includes cached tokens; output includes reasoning, see `_output_tokens`)."""
    hit = u.get("prompt_cache_hit_tokens")  # DeepSeek
    prompt = u.get("prompt_tokens")
    if prompt is None:
        prompt = as_int(hit) + as_int(u.get("prompt_cache_miss_tokens"))
    cached: Any = None
    cache_write: Any = None
    details = u.get("prompt_tokens_details")
    if type(details) is dict:
        cached = details.get("cached_tokens")
        cache_write = details.get("cache_write_tokens")  # OpenRouter, for Anthropic models
    reasoning: Any = None
    cdetails = u.get("completion_tokens_details")
    if type(cdetails) is dict:
        reasoning = cdetails.get("reasoning_tokens")
    input_tokens = as_int(prompt)
    reasoning_tokens = as_int(reasoning)
    return UsagePart(
        input_tokens=input_tokens,
        output_tokens=_output_tokens(u, input_tokens, reasoning_tokens),
        reasoning_tokens=reasoning_tokens,
        cache_read_tokens=as_int(cached or hit),
        cache_write_tokens=as_int(cache_write),
    )


def _output_tokens(u: dict[str, Any], prompt: int, reasoning: int) -> int:
    """completion_tokens, plus the reasoning when the server left it out of them.

    OpenAI counts reasoning inside completion_tokens (prompt + completion == total); xAI
    counts it beside them (prompt + completion + reasoning == total). Told apart by the
    numbers, not the host, so proxies that normalize xAI's usage are read right too.
    """
    completion = as_int(u.get("completion_tokens"))
    total = u.get("total_tokens")
    if reasoning > 0 and type(total) is int and prompt + completion + reasoning == total:
        return completion + reasoning
    return completion


def _content_parts(content: Any) -> Iterator[tuple[bool, str]]:
    """(is thinking, text) for each non-empty piece of `content`: a string, or (Mistral and a
    few others) a list of typed parts, where Mistral's reasoning models put their thinking in
    `{"type": "thinking", "thinking": [<text parts>]}`."""
    if type(content) is str:
        if content:
            yield False, content
        return
    if type(content) is not list:
        return
    for part in content:
        if type(part) is not dict:
            continue
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if text and type(text) is str:
                yield False, text
        elif kind == "thinking":
            thinking = "".join(text for _, text in _content_parts(part.get("thinking")))
            if thinking:
                yield True, thinking


def _text_of(content: Any) -> str:
    """The answer's text in `content`, without its thinking parts."""
    return "".join(text for thinking, text in _content_parts(content) if not thinking)


class _Call:
    """A tool call being assembled. Its Start is held back until a name is known."""

    __slots__ = ("id", "name", "started", "pending")

    def __init__(self, call_id: str, name: str) -> None:
        self.id = call_id
        self.name = name
        self.started = False
        self.pending: list[str] = []  # argument fragments that came before the name


class OpenAIStreamParser(StreamParser):
    __slots__ = ("_api_key", "_think", "_calls", "_ids", "_refused")

    def __init__(self, api_key: str | None, think_tags: bool) -> None:
        super().__init__()
        self._api_key = api_key
        self._think = ThinkSplitter() if think_tags else None
        self._calls: dict[int, _Call] = {}
        self._ids: dict[str, int] = {}
        self._refused = False

    def feed(self, event: str, data: str) -> None:
        if not data:
            return
        if data[0] != "{":
            stripped = data.strip()
            if stripped == "[DONE]":
                self.done = True
                return
            if not stripped.startswith("{"):
                if event == "error":
                    raise error_from_payload({"message": stripped}, self._api_key)
                return  # junk a proxy slipped in
        obj = loads(data)
        if type(obj) is not dict:
            return
        if obj.get("error") or obj.get("object") == "error" or event == "error":
            raise error_from_payload(obj, self._api_key)
        choices = obj.get("choices")
        if choices and type(choices) is list:
            choice = choices[0]
            if type(choice) is dict:
                delta = choice.get("delta")
                if delta and type(delta) is dict:
                    self._delta(delta)
                reason = choice.get("finish_reason")
                if reason:
                    self._finish(reason)
        usage = obj.get("usage")
        if usage and type(usage) is dict:
            self.out.append(openai_usage(usage))

    def feed_json(self, obj: Any) -> None:
        """A server that ignored `stream: true` and sent the whole completion."""
        if type(obj) is not dict:
            raise ProviderError("invalid_response", "unexpected JSON reply", retryable=False)
        choices = obj.get("choices")
        if choices and type(choices) is list and type(choices[0]) is dict:
            choice = choices[0]
            message = choice.get("message")
            if type(message) is dict:
                self._delta(message)
            self._finish(choice.get("finish_reason") or "stop")
        usage = obj.get("usage")
        if usage and type(usage) is dict:
            self.out.append(openai_usage(usage))
        self.done = True

    def _delta(self, delta: dict[str, Any]) -> None:
        out = self.out
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if reasoning and type(reasoning) is str:
            out.append(ThinkingDelta(reasoning))
        content = delta.get("content")
        if content:
            if type(content) is str:
                self._text(content)
            else:
                for thinking, text in _content_parts(content):
                    if thinking:
                        out.append(ThinkingDelta(text))
                    else:
                        self._text(text)
        refusal = delta.get("refusal")
        if refusal and type(refusal) is str:
            self._refused = True
            out.append(TextDelta(refusal))
        calls = delta.get("tool_calls")
        if calls and type(calls) is list:
            for call in calls:
                if type(call) is dict:
                    self._tool_fragment(call)

    def _text(self, text: str) -> None:
        """Answer text; with think_tags, a leading <think> block in it is thinking."""
        if self._think is not None:
            thinking, text = self._think.feed(text)
            if thinking:
                self.out.append(ThinkingDelta(thinking))
        if text:
            self.out.append(TextDelta(text))

    def _tool_fragment(self, tc: dict[str, Any]) -> None:
        call_id = tc.get("id")
        if type(call_id) is not str:
            call_id = ""
        index = tc.get("index")
        if type(index) is not int:  # servers that send whole calls without an index
            if call_id in self._ids:
                index = self._ids[call_id]
            elif call_id or not self._calls:
                index = max(self._calls, default=-1) + 1
            else:
                index = max(self._calls)
        fn = tc.get("function")
        if type(fn) is not dict:
            fn = {}
        name = fn.get("name")
        args = fn.get("arguments")
        if args is not None and type(args) is not str:
            args = orjson.dumps(args).decode()  # Ollama may send the arguments as an object
        call = self._calls.get(index)
        if call is None:
            call = self._calls[index] = _Call(call_id, name if type(name) is str else "")
            if call_id:
                self._ids[call_id] = index
        else:  # later fragments: `name` null (vLLM) or "" (LM Studio) is not a rename
            if call_id and not call.id:
                call.id = call_id
            if name and type(name) is str and not call.name:
                call.name = name
        if not call.started:
            if not call.name:
                if args:
                    call.pending.append(args)
                return
            self._start(index, call)
        if args:
            self.out.append(ToolCallDelta(index, args))

    def _start(self, index: int, call: _Call) -> None:
        call.started = True
        self.out.append(ToolCallStart(index, call.id or f"call_{index}", call.name))
        if call.pending:
            self.out.append(ToolCallDelta(index, "".join(call.pending)))
            call.pending.clear()

    def _flush_think(self) -> None:
        if self._think is not None:
            thinking, text = self._think.flush()
            if thinking:
                self.out.append(ThinkingDelta(thinking))
            if text:
                self.out.append(TextDelta(text))

    def _finish(self, raw: Any) -> None:
        if raw == "insufficient_system_resource":
            # DeepSeek gave up mid-reply for lack of capacity: an overload, not an answer.
            raise ProviderError(
                "overloaded",
                "the provider ran out of capacity mid-reply (insufficient_system_resource)",
                retryable=True,
            )
        reason = _FINISH.get(raw, raw) if type(raw) is str else str(raw)
        if reason == "stop" and self._refused:
            reason = "refusal"
        self._flush_think()
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call.started:
                self._start(index, call)  # never named: deliver it anyway, the engine reports it
            self.out.append(ToolCallEnd(index))
        self._calls.clear()
        self.finish_reason = reason

    def end(self) -> ProviderError | None:
        if self.finish_reason is None:
            self._flush_think()  # the partial reply should be stored whole
        return super().end()


def _message(m: ChatMessage, send_reasoning: bool) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content}
    if m.role == "assistant":
        msg: dict[str, Any] = {
            "role": "assistant",
            "content": m.content if m.content or not m.tool_calls else None,
        }
        if m.tool_calls:
            msg["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments or "{}"},
                }
                for c in m.tool_calls
            ]
        if send_reasoning and (m.thinking or m.tool_calls):
            # DeepSeek's thinking modes answer 400 when a tool-call turn comes back
            # without the field, even when that turn's reasoning was empty.
            msg["reasoning_content"] = m.thinking or ""
        return msg
    if not m.images:
        return {"role": "user", "content": m.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
    for mime, data in m.images:
        parts.append({"type": "image_url", "image_url": {"url": data_url(mime, data)}})
    return {"role": "user", "content": parts}


def _with_tool_images(messages: list[ChatMessage], send_reasoning: bool) -> list[dict[str, Any]]:
    """The messages; tool messages take text only, so the images of a step's tool results
    (MCP tools) follow its last tool message as one user message."""
    out: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []
    for m in messages:
        if m.role != "tool" and pending:
            out.append(tool_images_message(pending))
            pending = []
        out.append(_message(m, send_reasoning))
        if m.role == "tool":
            pending += m.images
    if pending:
        out.append(tool_images_message(pending))
    return out


def tool_images_message(images: list[tuple[str, str]]) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": TOOL_IMAGES_NOTE}]
    parts += [
        {"type": "image_url", "image_url": {"url": data_url(mime, data)}} for mime, data in images
    ]
    return {"role": "user", "content": parts}


TOOL_IMAGES_NOTE = "The images the tool results above refer to:"


class OpenAIChatProvider(Provider):
    """Kinds openai, deepseek and openai-compatible."""

    path = "/chat/completions"

    def __init__(self, config: Any, http: Any, dialect: Dialect | None = None) -> None:
        self.dialect = dialect or DIALECTS.get(config.kind, DIALECTS["openai-compatible"])
        super().__init__(config, http)

    def _auth_headers(self) -> dict[str, str]:
        # Also for openai-compatible: the old app forgot it, and OpenRouter/vLLM need it.
        return bearer_auth(self.config.api_key)

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        send_reasoning = request.send_reasoning_back
        messages.extend(_with_tool_images(request.messages, send_reasoning))
        body: dict[str, Any] = {"model": request.model, "messages": messages}
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if request.max_output_tokens is not None:
            body[self.dialect.max_tokens_field] = request.max_output_tokens
        effort = effort_level(request)
        if effort is not None:
            body["reasoning_effort"] = effort
        if request.profile.thinking != "effort":  # DeepSeek ignores them while it thinks
            body |= sampling(request)
        if request.tools:
            body["tools"] = function_tools(request)
        return body

    def _parser(self, request: ChatRequest) -> OpenAIStreamParser:
        return OpenAIStreamParser(self.config.api_key, self.dialect.think_tags)

    def _parse_complete(self, obj: Any) -> tuple[str, UsagePart]:
        text = ""
        choices = obj.get("choices")
        if choices and type(choices) is list and type(choices[0]) is dict:
            message = choices[0].get("message")
            if type(message) is dict:
                text = _text_of(message.get("content"))
        if text and self.dialect.think_tags:
            splitter = ThinkSplitter()
            _, head = splitter.feed(text)
            text = head + splitter.flush()[1]
        usage = obj.get("usage")
        return text, openai_usage(usage) if type(usage) is dict else UsagePart()
