"""Ollama's native chat API: `POST {base}/api/chat`.

What differs from the OpenAI shape: the stream is newline-delimited JSON (one object a
line, no SSE), each object carrying a `message` fragment (`content`, `thinking`, and
`tool_calls` that arrive whole, with object arguments and no call id); the last object
says `done: true` with `done_reason` and the token counters (`prompt_eval_count`,
`eval_count`); an error is `{"error": "..."}`, as an HTTP error body or as a line of a
stream already under way. Requests put sampling, the output cap and the context size
(`num_ctx`: Ollama's own default is far below most models' windows) in `options`, ask
for thinking with `think` (a boolean, or a level for models that take levels), and carry
tool results as `{role: tool, content, tool_name}`.

The model list is `GET /api/tags` (name, size, details), each model's context length
comes from `POST /api/show`, and `GET /api/version` says which Ollama answered.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from .base import (
    Provider,
    StreamParser,
    as_int,
    bearer_auth,
    effort_level,
    function_tools,
    loads,
    sampling,
)
from .errors import error_from_payload
from .sse import NDJSONParser
from .types import (
    ChatMessage,
    ChatRequest,
    Probe,
    ProviderError,
    ServerModel,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsagePart,
)

# done_reason -> finish reason; "stop" with tool calls is a tool-calling step. Anything
# else ("load", "unload", newer words) is passed through as Ollama said it.
_DONE = {"stop": "stop", "length": "length"}
SHOW_CONCURRENCY = 4  # /api/show requests at once while listing models


def _usage(obj: dict[str, Any]) -> UsagePart:
    """The final object's counters: prompt_eval_count (input; Ollama leaves out the
    prompt prefix it had cached, so this may be smaller than the prompt) and eval_count
    (output, thinking included)."""
    return UsagePart(
        input_tokens=as_int(obj.get("prompt_eval_count")),
        output_tokens=as_int(obj.get("eval_count")),
    )


class OllamaStreamParser(StreamParser):
    __slots__ = ("_api_key", "_calls")

    def __init__(self, api_key: str | None) -> None:
        super().__init__()
        self._api_key = api_key
        self._calls = 0  # tool calls seen in this response

    def feed(self, event: str, data: str) -> None:
        obj = loads(data)
        if type(obj) is not dict:
            return  # junk a proxy slipped in
        self.feed_json(obj)

    def feed_json(self, obj: Any) -> None:
        """One object of the stream, or a whole non-streamed reply (the same shape)."""
        if type(obj) is not dict:
            raise ProviderError("invalid_response", "unexpected JSON reply", retryable=False)
        if obj.get("error"):
            raise error_from_payload(obj, self._api_key)
        message = obj.get("message")
        if type(message) is dict:
            self._message(message)
        if obj.get("done") is True:
            self.out.append(_usage(obj))
            raw = obj.get("done_reason")
            reason = _DONE.get(raw, raw) if type(raw) is str and raw else "stop"
            if reason == "stop" and self._calls:
                reason = "tool_calls"
            self.finish_reason = reason
            self.done = True

    def _message(self, message: dict[str, Any]) -> None:
        out = self.out
        thinking = message.get("thinking")
        if thinking and type(thinking) is str:
            out.append(ThinkingDelta(thinking))
        content = message.get("content")
        if content and type(content) is str:
            out.append(TextDelta(content))
        calls = message.get("tool_calls")
        if calls and type(calls) is list:
            for call in calls:
                if type(call) is dict:
                    self._tool_call(call)

    def _tool_call(self, call: dict[str, Any]) -> None:
        """A whole call: start, its arguments as JSON text, end. Ollama gives no id (newer
        versions may): `call_<n>`, its place in the response, is stable and enough, since
        results go back by the tool's name."""
        fn = call.get("function")
        if type(fn) is not dict:
            fn = {}
        index = self._calls
        self._calls += 1
        given = call.get("id")
        name = fn.get("name")
        self.out.append(
            ToolCallStart(
                index,
                given if type(given) is str and given else f"call_{index}",
                name if type(name) is str else "",
            )
        )
        args = fn.get("arguments")
        text = args if type(args) is str else orjson.dumps(args or {}).decode()
        self.out.append(ToolCallDelta(index, text))
        self.out.append(ToolCallEnd(index))


def think_value(request: ChatRequest) -> bool | str | None:
    """`think` for the model's profile: a level for models that take levels (the
    conversation's effort, mapped; `auto` leaves the model's default), else true for a
    model that reasons (so its thinking comes apart from the answer), nothing for one that
    does not (Ollama refuses `think` for a model without the capability)."""
    profile = request.profile
    if profile.thinking == "none":
        return None
    if profile.efforts:
        return effort_level(request)
    return True


def _arguments(text: str) -> dict[str, Any]:
    """A call's arguments as the object Ollama takes back (its JSON text, parsed)."""
    obj = loads(text) if text else None
    return obj if type(obj) is dict else {}


def _messages(request: ChatRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    names: dict[str, str] = {}  # call id -> tool name, for the results that follow
    for m in request.messages:
        out.append(_message(m, names))
    return out


def _message(m: ChatMessage, names: dict[str, str]) -> dict[str, Any]:
    if m.role == "tool":
        msg: dict[str, Any] = {"role": "tool", "content": m.content}
        if m.images:  # an MCP tool's images
            msg["images"] = [data for _, data in m.images]
        name = names.get(m.tool_call_id or "")
        if name:
            msg["tool_name"] = name
        return msg
    msg = {"role": m.role, "content": m.content}
    if m.images:
        msg["images"] = [data for _, data in m.images]
    if m.role == "assistant":
        if m.thinking:
            msg["thinking"] = m.thinking
        if m.tool_calls:
            msg["tool_calls"] = [
                {"function": {"name": c.name, "arguments": _arguments(c.arguments)}}
                for c in m.tool_calls
            ]
            names.update((c.id, c.name) for c in m.tool_calls)
    return msg


class OllamaProvider(Provider):
    """Kind ollama."""

    path = "/api/chat"
    models_path = "/api/tags"
    stream_type = "application/x-ndjson"

    def _auth_headers(self) -> dict[str, str]:
        # Ollama needs none; a proxy in front of it (or ollama.com) may.
        return bearer_auth(self.config.api_key)

    def _framing(self) -> NDJSONParser:
        return NDJSONParser(self.config.max_event_bytes)

    def _body(self, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": _messages(request),
            "stream": stream,
        }
        options: dict[str, Any] = dict(sampling(request))
        if request.context_window is not None:
            options["num_ctx"] = request.context_window
        if request.max_output_tokens is not None:
            options["num_predict"] = request.max_output_tokens
        if options:
            body["options"] = options
        think = think_value(request)
        if think is not None:
            body["think"] = think
        if request.tools:
            body["tools"] = function_tools(request)
        return body

    def _parser(self, request: ChatRequest) -> OllamaStreamParser:
        return OllamaStreamParser(self.config.api_key)

    def _parse_complete(self, obj: Any) -> tuple[str, UsagePart]:
        message = obj.get("message")
        content = message.get("content") if type(message) is dict else None
        return (content if type(content) is str else ""), _usage(obj)

    # --- what the server has ------------------------------------------------------

    async def probe(self) -> Probe:
        """The version first (the one answer only Ollama gives: anything else at the base
        URL fails here), then the models, each with its context length from /api/show."""
        answer, response = await self._get_json(self._base + "/api/version")
        version = answer.get("version")
        if type(version) is not str:
            raise ProviderError(
                "invalid_response",
                "the server at the base URL is not Ollama (GET /api/version has no version)",
                retryable=False,
            )
        tags, _ = await self._get_json(self._base + self.models_path)
        models = self._parse_models(tags)
        gate = asyncio.Semaphore(SHOW_CONCURRENCY)
        await asyncio.gather(*(self._context_length(m, gate) for m in models))
        return Probe(models, server=response.headers.get("server"), version=version)

    def _parse_models(self, obj: dict[str, Any]) -> list[ServerModel]:
        """/api/tags: `models: [{name, model, size, details: {family, parameter_size,
        quantization_level, ...}}]`."""
        data = obj.get("models")
        if not isinstance(data, list):
            raise ProviderError(
                "invalid_response", "the model list has no `models` array", retryable=False
            )
        out: list[ServerModel] = []
        for item in data:
            if not isinstance(item, dict):
                continue
            name = item.get("name") or item.get("model")
            if not isinstance(name, str) or not name:
                continue
            details = item.get("details")
            details = details if isinstance(details, dict) else {}
            size = item.get("size")
            out.append(
                ServerModel(
                    name,
                    size_bytes=size if type(size) is int else None,
                    family=_text(details.get("family")),
                    parameter_size=_text(details.get("parameter_size")),
                    quantization=_text(details.get("quantization_level")),
                )
            )
        return out

    async def _context_length(self, model: ServerModel, gate: asyncio.Semaphore) -> None:
        """`model_info["<architecture>.context_length"]` from /api/show; left unknown when
        the server will not say."""
        async with gate:
            try:
                info, _ = await self._get_json(self._base + "/api/show", {"model": model.name})
            except ProviderError:
                return
        model_info = info.get("model_info")
        if not isinstance(model_info, dict):
            return
        arch = model_info.get("general.architecture")
        length = model_info.get(f"{arch}.context_length") if isinstance(arch, str) else None
        if type(length) is int and length > 0:
            model.context_window = length


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
