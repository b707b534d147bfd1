"""Chat Completions, as OpenAI, DeepSeek and the OpenAI-compatible backends send it.

One encoder; a `Flavor` holds every way the variants differ (usage placement, the
reasoning field, how tool-call fragments look, comments, the mid-stream error).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sidecar.dev.fakes.dialects.common import (
    FakeDialect,
    Frame,
    HttpError,
    comment_frame,
    data_frame,
    random_id,
)
from sidecar.dev.fakes.model_rules import refuse_deepseek, refuse_openai
from sidecar.dev.fakes.reply import Reply
from sidecar.dev.fakes.script import Script

_OMIT: Any = object()  # a field left out of the JSON (as opposed to null)


@dataclass(frozen=True)
class Flavor:
    name: str
    fingerprint: str = "fp_f33640a400"
    uuid_ids: bool = False  # DeepSeek's ids are bare UUIDs
    refusal_field: bool = True  # the opening delta carries "refusal": null
    usage_null_always: bool = (
        False  # every chunk carries "usage": null (else only with include_usage)
    )
    usage_on_finish: bool = False  # usage rides on the finish_reason chunk
    deepseek_usage: bool = False  # prompt_cache_hit_tokens / prompt_cache_miss_tokens
    xai_usage: bool = False  # completion_tokens leaves reasoning out; total_tokens adds it back
    usage_choices_null: bool = False  # the separate usage chunk has "choices": null (vLLM)
    # delta field for thinking; "think_tags", "content_parts" (Mistral's typed parts in
    # `content`), or None to drop it
    reasoning: str | None = None
    reasoning_content: Any = None  # "content" on reasoning deltas (_OMIT to leave it out)
    tool_calls_on_reasoning: bool = False  # "tool_calls": [] on reasoning deltas
    repeat_role: bool = False  # every delta repeats "role": "assistant"
    whole_tool_calls: bool = False  # every tool call in one chunk, arguments complete
    later_tool_name: Any = _OMIT  # "name" in later tool fragments: None (vLLM), "" (LM Studio)
    processing_comments: bool = False  # ": OPENROUTER PROCESSING" before and between chunks
    stream_error: str = "openai"  # the error_event payload: openai | vllm | openrouter
    deepseek_errors: bool = False
    tools_need_jinja: bool = False  # llama-server started without --jinja refuses `tools`


OPENAI = Flavor("openai")
DEEPSEEK = replace(
    OPENAI,
    name="deepseek",
    fingerprint="fp_8802369eaa_prod0623_fp8_kvcache",
    uuid_ids=True,
    refusal_field=False,
    usage_null_always=True,
    usage_on_finish=True,
    deepseek_usage=True,
    reasoning="reasoning_content",
    deepseek_errors=True,
)
COMPATIBLE = replace(OPENAI, name="openai-compatible", reasoning="reasoning_content")
QUIRK_FLAVORS = {
    "ollama": replace(
        COMPATIBLE,
        name="ollama",
        fingerprint="fp_ollama",
        refusal_field=False,
        reasoning="reasoning",
        reasoning_content="",
        tool_calls_on_reasoning=True,
        repeat_role=True,
        whole_tool_calls=True,
    ),
    "vllm": replace(
        COMPATIBLE,
        name="vllm",
        refusal_field=False,
        reasoning_content=_OMIT,
        tool_calls_on_reasoning=True,
        later_tool_name=None,
        usage_choices_null=True,
        stream_error="vllm",
    ),
    "lmstudio": replace(COMPATIBLE, name="lmstudio", later_tool_name=""),
    "openrouter": replace(
        COMPATIBLE,
        name="openrouter",
        reasoning="reasoning",
        reasoning_content="",
        processing_comments=True,
        stream_error="openrouter",
    ),
    "think_tags": replace(COMPATIBLE, name="think_tags", reasoning="think_tags"),
    "xai": replace(COMPATIBLE, name="xai", xai_usage=True),
    "mistral": replace(COMPATIBLE, name="mistral", reasoning="content_parts"),
    "llamacpp": replace(COMPATIBLE, name="llamacpp", tools_need_jinja=True),
}


def flavor_for(kind: str, quirk: str | None) -> Flavor:
    if quirk is not None:
        return QUIRK_FLAVORS[quirk]
    return {"openai": OPENAI, "deepseek": DEEPSEEK}.get(kind, COMPATIBLE)


def _error(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
_OVERLOADED = "The server is overloaded or not ready yet."
_HTTP_ERRORS: dict[str, tuple[int, dict]] = {
    "http_400": (
        400,
        _error(
            "Invalid value for 'temperature': must be a number.",
            "invalid_request_error",
            None,
            "temperature",
        ),
    ),
    "http_400_context": (
        400,
        _error(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130412 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
    ),
    "http_401": (
        401,
        _error(
            "Incorrect API key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
    ),
    "http_402": (402, _error("Insufficient Balance", "unknown_error", "invalid_request_error")),
    "http_403": (
        403,
        _error(
            "Project does not have access to model `gpt-fake`",
            "invalid_request_error",
            "model_not_found",
        ),
    ),
    "http_404": (
        404,
        _error(
            "The model `gpt-fake` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
    ),
    "http_429": (
        429,
        _error(
            "Rate limit reached for gpt-4o-mini in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms. Visit https://platform.openai.com/account/rate-limits to learn more.",
            "requests",
            "rate_limit_exceeded",
        ),
    ),
    "http_429_quota": (
        429,
        _error(
            "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
            "insufficient_quota",
            "insufficient_quota",
        ),
    ),
    "http_500": (500, _error(_SERVER_ERROR, "server_error")),
    "http_503": (503, _error(_OVERLOADED, "server_error")),
    "http_529": (529, _error(_OVERLOADED, "server_error")),
}
_DEEPSEEK_HTTP_ERRORS = {
    **_HTTP_ERRORS,
    "http_401": (
        401,
        _error(
            "Authentication Fails, Your api key: ****abcd is invalid",
            "authentication_error",
            "invalid_request_error",
        ),
    ),
}


def _duration(seconds: float) -> str:
    """OpenAI's x-ratelimit-reset-* format: 120ms, 1.5s, 6m0s."""
    if seconds < 1:
        return f"{int(seconds * 1000)}ms"
    if seconds < 60:
        return f"{seconds:g}s"
    return f"{int(seconds // 60)}m{seconds % 60:g}s"


_NO_JINJA = {
    "error": {"code": 500, "message": "tools param requires --jinja flag", "type": "server_error"}
}


class ChatCompletionsDialect(FakeDialect):
    paths = ("/v1/chat/completions", "/chat/completions")
    models_paths = ("/v1/models", "/models")
    request_id_header = "x-request-id"

    def __init__(self, kind: str, quirk: str | None = None) -> None:
        self.kind = kind
        self.flavor = flavor_for(kind, quirk)

    # --- requests and errors ---------------------------------------------------

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        return headers.get("authorization") == f"Bearer {api_key}"

    def refuse(self, body: dict[str, Any]) -> HttpError | None:
        """What the named model refuses (`model_rules`); OpenAI-compatible servers vary too
        much to hold to one rule."""
        if self.flavor.tools_need_jinja and body.get("tools"):
            return HttpError(500, _NO_JINJA, self._id_headers())  # llama.cpp's own words
        if self.kind == "deepseek":
            message = refuse_deepseek(body)
        elif self.kind == "openai":
            message = refuse_openai(body, body.get("reasoning_effort"), "reasoning_effort")
        else:
            message = None
        return None if message is None else self.bad_request(message)

    def http_error(self, fault: str, script: Script) -> HttpError:
        table = _DEEPSEEK_HTTP_ERRORS if self.flavor.deepseek_errors else _HTTP_ERRORS
        status, body = table[fault]
        headers = [
            (self.request_id_header, self.new_request_id()),
            *self.error_headers(fault, script),
        ]
        if status == 429:
            reset = _duration(script.retry_after if script.retry_after is not None else 0.12)
            headers += [
                ("x-ratelimit-limit-requests", "500"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", reset),
            ]
        return HttpError(status, body, headers)

    def bad_request(self, message: str) -> HttpError:
        return HttpError(400, _error(message, "invalid_request_error"), self._id_headers())

    def not_found(self, path: str) -> HttpError:
        return HttpError(
            404, _error(f"Invalid URL (POST {path})", "invalid_request_error"), self._id_headers()
        )

    def _id_headers(self) -> list[tuple[str, str]]:
        return [
            (self.request_id_header, self.new_request_id()),
            ("content-type", "application/json"),
        ]

    def models(self) -> dict[str, Any]:
        names = (
            ["deepseek-flash", "deepseek-v4-pro"]
            if self.kind == "deepseek"
            else ["gpt-4o-mini", "gpt-4o"]
        )
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 1700000000, "owned_by": "system"}
                for n in names
            ],
        }

    # --- the stream --------------------------------------------------------------

    def stream(self, reply: Reply) -> Iterator[Frame]:
        f = self.flavor
        chunk = self._chunker(reply)
        if f.processing_comments:
            yield comment_frame("OPENROUTER PROCESSING", "open")
        yield data_frame(chunk(self._opening(reply)), "open")
        for kind, delta in self._deltas(reply):
            if f.processing_comments:
                yield comment_frame("OPENROUTER PROCESSING")
            yield data_frame(chunk(delta), kind)
        usage = self._usage(reply) if f.usage_on_finish and reply.include_usage else _OMIT
        finish = {"role": "assistant", "content": ""} if f.repeat_role else {}
        yield data_frame(chunk(finish, self._finish_reason(reply), usage=usage), "finish")
        if reply.include_usage and not f.usage_on_finish:
            choices = None if f.usage_choices_null else []
            yield data_frame(chunk(None, usage=self._usage(reply), choices=choices), "end")
        yield Frame(b"data: [DONE]\n\n", "end")

    def _chunker(self, reply: Reply):
        f = self.flavor
        ident = str(uuid.uuid4()) if f.uuid_ids else random_id("chatcmpl-", 29)
        created = int(time.time())
        usage_null = f.usage_null_always or reply.include_usage

        def chunk(
            delta: Any, finish: str | None = None, *, usage: Any = _OMIT, choices: Any = _OMIT
        ) -> dict:
            obj: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": reply.model,
                "system_fingerprint": f.fingerprint,
            }
            if choices is _OMIT:
                choices = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            obj["choices"] = choices
            if usage is not _OMIT:
                obj["usage"] = usage
            elif usage_null:
                obj["usage"] = None
            return obj

        return chunk

    def _opening(self, reply: Reply) -> dict[str, Any]:
        f = self.flavor
        if f.deepseek_usage and reply.thinking_chunks:
            return {"role": "assistant", "content": None, "reasoning_content": ""}
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        if f.refusal_field:
            delta["refusal"] = None
        return delta

    def _delta(self, **fields: Any) -> dict[str, Any]:
        delta = {"role": "assistant"} if self.flavor.repeat_role else {}
        delta.update((k, v) for k, v in fields.items() if v is not _OMIT)
        return delta

    def _deltas(self, reply: Reply) -> Iterator[tuple[str, dict[str, Any]]]:
        """(frame kind, delta) for every fragment after the opening."""
        f = self.flavor
        if f.reasoning == "think_tags":
            for piece in _with_think_tags(reply.thinking_chunks, reply.text_chunks):
                yield "text", self._delta(content=piece)
        elif f.reasoning == "content_parts":
            for kind, content in _with_content_parts(reply.thinking_chunks, reply.text_chunks):
                yield kind, self._delta(content=content)
        else:
            if f.reasoning is not None:
                for piece in reply.thinking_chunks:
                    extra = {"tool_calls": []} if f.tool_calls_on_reasoning else {}
                    yield (
                        "delta",
                        self._delta(content=f.reasoning_content, **{f.reasoning: piece}, **extra),
                    )
            for piece in reply.text_chunks:
                yield "text", self._delta(content=piece)
        if f.whole_tool_calls and reply.tool_calls:
            calls = [
                {
                    "id": self._tool_id(call.id),
                    "index": call.index,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in reply.tool_calls
            ]
            yield "delta", self._delta(content="", tool_calls=calls)
            return
        for call in reply.tool_calls:
            first = {
                "index": call.index,
                "id": self._tool_id(call.id),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield "delta", self._delta(tool_calls=[first])
            for piece in call.fragments:
                function = {"name": f.later_tool_name, "arguments": piece}
                if f.later_tool_name is _OMIT:
                    del function["name"]
                yield "delta", self._delta(tool_calls=[{"index": call.index, "function": function}])

    @staticmethod
    def _tool_id(given: str) -> str:
        return given or random_id("call_", 24)

    @staticmethod
    def _finish_reason(reply: Reply) -> str:
        if reply.finish_reason is not None:
            return reply.finish_reason
        return "tool_calls" if reply.tool_calls else "stop"

    def _usage(self, reply: Reply) -> dict[str, Any]:
        u = reply.usage
        usage: dict[str, Any] = {
            "prompt_tokens": u.input_tokens,
            "completion_tokens": u.output_tokens,
            "total_tokens": u.input_tokens + u.output_tokens,
        }
        if self.flavor.xai_usage:
            usage["completion_tokens"] = max(u.output_tokens - u.reasoning_tokens, 0)
            usage["prompt_tokens_details"] = {
                "text_tokens": u.input_tokens,
                "audio_tokens": 0,
                "image_tokens": 0,
                "cached_tokens": u.cached_tokens,
            }
            usage["completion_tokens_details"] = {
                "reasoning_tokens": u.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
            usage["num_sources_used"] = 0
        elif self.flavor.deepseek_usage:
            usage["prompt_tokens_details"] = {"cached_tokens": u.cached_tokens}
            usage["completion_tokens_details"] = {"reasoning_tokens": u.reasoning_tokens}
            usage["prompt_cache_hit_tokens"] = u.cached_tokens
            usage["prompt_cache_miss_tokens"] = max(u.input_tokens - u.cached_tokens, 0)
        else:
            usage["prompt_tokens_details"] = {"cached_tokens": u.cached_tokens, "audio_tokens": 0}
            usage["completion_tokens_details"] = {
                "reasoning_tokens": u.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
        return usage

    def error_frames(self, reply: Reply) -> list[Frame]:
        kind = self.flavor.stream_error
        if kind == "vllm":
            body: dict[str, Any] = {
                "object": "error",
                "message": "The model ran out of KV cache blocks while generating.",
                "type": "InternalServerError",
                "param": None,
                "code": 500,
            }
        elif kind == "openrouter":
            body = {
                "error": {
                    "code": 502,
                    "message": "Provider returned error",
                    "metadata": {"provider_name": "Fake"},
                }
            }
        else:
            body = _error(_SERVER_ERROR, "server_error")
        return [data_frame(body, "event")]

    def idle_frame(self, reply: Reply) -> Frame:
        return data_frame(self._chunker(reply)(self._delta(content="")), "event")

    # --- the non-streamed answer -----------------------------------------------------

    def message(self, reply: Reply, *, finished: bool = True) -> dict[str, Any]:
        f = self.flavor
        content = reply.text
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if f.reasoning == "think_tags" and reply.thinking:
            message["content"] = f"<think>{reply.thinking}</think>{content}"
        elif f.reasoning == "content_parts" and reply.thinking:
            parts = [_thinking_part(reply.thinking)]
            message["content"] = [*parts, _text_part(content)] if content else parts
        elif f.reasoning is not None and reply.thinking:
            message[f.reasoning] = reply.thinking
        if f.refusal_field:
            message["refusal"] = None
            message["annotations"] = []
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._tool_id(call.id),
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in reply.tool_calls
            ]
        return {
            "id": str(uuid.uuid4()) if f.uuid_ids else random_id("chatcmpl-", 29),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self._finish_reason(reply) if finished else None,
                }
            ],
            "usage": self._usage(reply),
            "system_fingerprint": f.fingerprint,
        }


def _with_think_tags(thinking: list[str], text: list[str]) -> list[str]:
    """Content pieces with the thinking inline as <think>…</think>, the tags cut across pieces."""
    if not thinking:
        return list(text)
    pieces = ["<thi", "nk>" + thinking[0], *thinking[1:]]
    pieces[-1] += "</th"
    rest = list(text) or [""]
    return [*pieces, "ink>" + rest[0], *rest[1:]]


def _thinking_part(text: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": [_text_part(text)]}


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _with_content_parts(thinking: list[str], text: list[str]) -> list[tuple[str, Any]]:
    """(frame kind, content) as Mistral streams a reasoning reply: each thinking piece as a
    list holding one thinking part, the last one sharing its list with the first text part,
    then the rest of the text as plain strings."""
    if not thinking:
        return [("text", piece) for piece in text]
    out: list[tuple[str, Any]] = [("delta", [_thinking_part(piece)]) for piece in thinking]
    if text:
        out[-1] = ("text", [_thinking_part(thinking[-1]), _text_part(text[0])])
        out += [("text", piece) for piece in text[1:]]
    return out
