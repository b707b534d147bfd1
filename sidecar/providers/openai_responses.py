"""OpenAI's Responses API (`POST /responses`, `stream: true`), for the openai kind and
OpenAI-compatible servers that speak it.

What differs from chat completions: the prompt is a list of typed input items (messages,
`function_call` and `function_call_output` items matched by `call_id`, and the
`reasoning` items of earlier calls sent back), the system prompt is `instructions`, tools
are flat, and the stream is typed events (`response.output_text.delta`, …) that end with
`response.completed`, `response.incomplete` or `response.failed` (there is no [DONE]).
Nothing is stored upstream (`store: false`): a reasoning model's thinking travels back as
its encrypted reasoning items, which the engine keeps with the step that made them.
"""

from __future__ import annotations

from typing import Any

from .base import (
    Provider,
    StreamParser,
    as_int,
    bearer_auth,
    data_url,
    effort_level,
    loads,
    sampling,
)
from .errors import error_from_payload
from .types import (
    ChatMessage,
    ChatRequest,
    ProviderError,
    ReasoningItem,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsagePart,
)

# `incomplete_details.reason` -> the normalized finish reason.
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_usage(u: dict[str, Any]) -> UsagePart:
    """Already the contract's convention: input includes cached, output includes reasoning."""
    details = u.get("input_tokens_details")
    odetails = u.get("output_tokens_details")
    details = details if type(details) is dict else {}
    odetails = odetails if type(odetails) is dict else {}
    return UsagePart(
        input_tokens=as_int(u.get("input_tokens")),
        output_tokens=as_int(u.get("output_tokens")),
        reasoning_tokens=as_int(odetails.get("reasoning_tokens")),
        cache_read_tokens=as_int(details.get("cached_tokens")),
        cache_write_tokens=as_int(details.get("cache_write_tokens")),
    )


def _kept_reasoning(item: dict[str, Any]) -> dict[str, Any]:
    """What of a reasoning output item goes back as input: its id, summary and encrypted
    content (the status is output-only)."""
    summary = item.get("summary")
    return {
        "type": "reasoning",
        "id": item.get("id") or "",
        "summary": summary if type(summary) is list else [],
        "encrypted_content": item["encrypted_content"],
    }


def _summary_text(item: dict[str, Any]) -> str:
    summary = item.get("summary")
    if type(summary) is not list:
        return ""
    texts = [s.get("text") for s in summary if type(s) is dict]
    return "\n\n".join(t for t in texts if t and type(t) is str)


class _Call:
    __slots__ = ("ordinal", "streamed")

    def __init__(self, ordinal: int) -> None:
        self.ordinal = ordinal
        self.streamed = False  # argument deltas arrived


class ResponsesStreamParser(StreamParser):
    __slots__ = ("_api_key", "_calls", "_count", "_summaries", "_refused")

    def __init__(self, api_key: str | None) -> None:
        super().__init__()
        self._api_key = api_key
        self._calls: dict[Any, _Call] = {}  # open function calls, by output_index and item_id
        self._count = 0  # function calls seen
        self._summaries: dict[Any, Any] = {}  # reasoning item -> the summary_index last streamed
        self._refused = False

    def feed(self, event: str, data: str) -> None:
        obj = loads(data) if data else None
        if type(obj) is not dict:
            return  # keep-alives, junk a proxy slipped in
        kind = obj.get("type") or event.strip()
        out = self.out
        if kind == "response.output_text.delta":
            delta = obj.get("delta")
            if delta and type(delta) is str:
                out.append(TextDelta(delta))
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            delta = obj.get("delta")
            if delta and type(delta) is str:
                item = obj.get("item_id")
                index = obj.get("summary_index", obj.get("content_index"))
                last = self._summaries.get(item, index)
                if last != index:  # a new summary part: a new paragraph
                    delta = "\n\n" + delta
                self._summaries[item] = index
                out.append(ThinkingDelta(delta))
        elif kind == "response.function_call_arguments.delta":
            call = self._call(obj)
            delta = obj.get("delta")
            if call is not None and delta and type(delta) is str:
                call.streamed = True
                out.append(ToolCallDelta(call.ordinal, delta))
        elif kind == "response.output_item.added":
            item = obj.get("item")
            if type(item) is dict and item.get("type") == "function_call":
                self._start(obj, item)
        elif kind == "response.output_item.done":
            item = obj.get("item")
            if type(item) is dict:
                self._item_done(obj, item)
        elif kind == "response.refusal.delta":
            delta = obj.get("delta")
            if delta and type(delta) is str:
                self._refused = True
                out.append(TextDelta(delta))
        elif kind in ("response.completed", "response.incomplete"):
            self._ended(obj.get("response"), kind == "response.incomplete")
        elif kind == "response.failed":
            response = obj.get("response")
            error = response.get("error") if type(response) is dict else None
            raise error_from_payload(error if type(error) is dict else {}, self._api_key)
        elif kind == "error" or obj.get("error"):
            raise error_from_payload(obj, self._api_key)
        # response.created, in_progress, content_part.*, *.done and anything newer: ignored

    def feed_json(self, obj: Any) -> None:
        """A server that ignored `stream: true` and sent the whole response."""
        if type(obj) is not dict or type(obj.get("output")) is not list:
            raise ProviderError("invalid_response", "unexpected JSON reply", retryable=False)
        for position, item in enumerate(obj["output"]):
            if type(item) is not dict:
                continue
            if item.get("type") == "message":
                text = _message_text(item)
                if text:
                    self.out.append(TextDelta(text))
            else:
                where = {"output_index": position, "item_id": item.get("id")}
                if item.get("type") == "function_call":
                    self._start(where, item)
                self._item_done(where, item)
        status = obj.get("status")
        self._ended(obj, status == "incomplete")
        self.done = True

    def _start(self, where: dict[str, Any], item: dict[str, Any]) -> _Call:
        call = _Call(self._count)
        self._count += 1
        self._calls[where.get("output_index")] = call
        if item.get("id"):
            self._calls[item["id"]] = call
        call_id = item.get("call_id") or item.get("id") or f"call_{call.ordinal}"
        self.out.append(ToolCallStart(call.ordinal, str(call_id), str(item.get("name") or "")))
        return call

    def _call(self, where: dict[str, Any]) -> _Call | None:
        calls = self._calls
        return calls.get(where.get("output_index")) or calls.get(where.get("item_id"))

    def _item_done(self, where: dict[str, Any], item: dict[str, Any]) -> None:
        itype = item.get("type")
        if itype == "function_call":
            call = self._call({**where, "item_id": item.get("id")}) or self._start(where, item)
            args = item.get("arguments")
            if not call.streamed and args and type(args) is str:
                self.out.append(ToolCallDelta(call.ordinal, args))  # sent whole
            self.out.append(ToolCallEnd(call.ordinal))
            self._forget(call)
        elif itype == "reasoning":
            if item.get("id") not in self._summaries:  # nothing streamed: the summary whole
                summary = _summary_text(item)
                if summary:
                    self.out.append(ThinkingDelta(summary))
            # Without its encrypted content (not asked for) an item cannot go back with
            # `store: false`: the API would look it up by id and not find it.
            if item.get("encrypted_content"):
                self.out.append(ReasoningItem(_kept_reasoning(item)))

    def _forget(self, call: _Call) -> None:
        for key in [k for k, c in self._calls.items() if c is call]:
            del self._calls[key]

    def _ended(self, response: Any, incomplete: bool) -> None:
        response = response if type(response) is dict else {}
        usage = response.get("usage")
        if type(usage) is dict:
            self.out.append(responses_usage(usage))
        if incomplete:
            details = response.get("incomplete_details")
            raw = details.get("reason") if type(details) is dict else None
            reason = _INCOMPLETE.get(raw, raw) if raw and type(raw) is str else "length"
        elif self._count:
            reason = "tool_calls"
        else:
            reason = "refusal" if self._refused else "stop"
        self._close_calls()
        self.finish_reason = reason
        self.done = True

    def _close_calls(self) -> None:
        ended: set[int] = set()
        for call in self._calls.values():
            if call.ordinal not in ended:
                ended.add(call.ordinal)
                self.out.append(ToolCallEnd(call.ordinal))
        self._calls.clear()

    def end(self) -> ProviderError | None:
        if self.finish_reason is not None:
            self._close_calls()
        return super().end()


def _message_text(item: dict[str, Any]) -> str:
    content = item.get("content")
    if type(content) is not list:
        return ""
    return "".join(
        c.get("text") or c.get("refusal") or ""
        for c in content
        if type(c) is dict and c.get("type") in ("output_text", "refusal")
    )


def responses_input(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The conversation as input items: a reply's reasoning items, its text, its calls, then
    each call's output (by the call's `call_id`)."""
    items: list[dict[str, Any]] = []
    pending: list[tuple[str, str]] = []  # images of tool results (MCP tools), sent after them
    for m in messages:
        if m.role != "tool" and pending:
            items.append(_images_message(pending))
            pending = []
        if m.role == "tool":
            items.append(
                {
                    "type": "function_call_output",
                    "call_id": m.tool_call_id or "",
                    "output": m.content,
                }
            )
            pending += m.images
        elif m.role == "assistant":
            items.extend(m.reasoning_items)
            if m.content:
                items.append(
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": m.content}],
                    }
                )
            for c in m.tool_calls:
                items.append(
                    {
                        "type": "function_call",
                        "call_id": c.id,
                        "name": c.name,
                        "arguments": c.arguments or "{}",
                    }
                )
        else:
            content: list[dict[str, Any]] = []
            if m.content or not m.images:
                content.append({"type": "input_text", "text": m.content})
            for mime, data in m.images:
                content.append(
                    {"type": "input_image", "image_url": data_url(mime, data), "detail": "auto"}
                )
            items.append({"type": "message", "role": "user", "content": content})
    if pending:
        items.append(_images_message(pending))
    return items


def _images_message(images: list[tuple[str, str]]) -> dict[str, Any]:
    content: list[dict[str, Any]] = [
        {"type": "input_text", "text": "The images the tool results above refer to:"}
    ]
    content += [
        {"type": "input_image", "image_url": data_url(mime, data), "detail": "auto"}
        for mime, data in images
    ]
    return {"type": "message", "role": "user", "content": content}


class OpenAIResponsesProvider(Provider):
    """Kinds openai (by default) and openai-compatible, with `api: "responses"`."""

    path = "/responses"

    def _auth_headers(self) -> dict[str, str]:
        return bearer_auth(self.config.api_key)

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "input": responses_input(request.messages),
            "store": False,
        }
        if stream:
            body["stream"] = True
        if request.system:
            body["instructions"] = request.system
        if request.max_output_tokens is not None:
            body["max_output_tokens"] = request.max_output_tokens
        if request.profile.thinking != "none":
            reasoning = {"summary": "auto"}
            effort = effort_level(request)
            if effort is not None:
                reasoning["effort"] = effort
            body["reasoning"] = reasoning
            body["include"] = ["reasoning.encrypted_content"]
        body |= sampling(request)  # the profile knows the reasoning models that refuse them
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.input_schema,
                    # strict (the API's default) needs every property required and no
                    # additional ones: the tools' schemas are not written for that.
                    "strict": False,
                }
                for t in request.tools
            ]
        return body

    def _parser(self, request: ChatRequest) -> ResponsesStreamParser:
        return ResponsesStreamParser(self.config.api_key)

    def _parse_complete(self, obj: Any) -> tuple[str, UsagePart]:
        output = obj.get("output")
        text = "".join(
            _message_text(item)
            for item in (output if type(output) is list else ())
            if type(item) is dict and item.get("type") == "message"
        )
        usage = obj.get("usage")
        return text, responses_usage(usage) if type(usage) is dict else UsagePart()
