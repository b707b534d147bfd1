"""Ollama's native API: `POST /api/chat` streamed as newline-delimited JSON (one object a
line, each written alone), or one object with `stream: false`; `GET /api/tags`,
`POST /api/show`, `GET /api/ps` and `GET /api/version`, in the shapes Ollama's API docs
give. Streams are the default: a request that leaves `stream` out is streamed.

A reply streams its thinking (`message.thinking`), then its text (`message.content`),
then its tool calls whole, in one object (`message.tool_calls`: `{function: {index, name,
arguments}}` with the arguments as an object, no call id), then the final object: empty
content, `done: true`, `done_reason` ("stop", or the script's `finish_reason`) and the
counters and durations. Errors are `{"error": "..."}`: the HTTP error bodies, and the line
`error_event` sends mid-stream. The fake refuses what Ollama refuses (`model_rules`): no
model, a model not pulled (404), malformed messages, `think` for a model that does not
think, tools for one without them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sidecar.dev.fakes.dialects.common import FakeDialect, Frame, HttpError, line_frame
from sidecar.dev.fakes.model_rules import (
    OLLAMA_MODELS,
    OllamaModel,
    ollama_model,
    refuse_ollama,
)
from sidecar.dev.fakes.reply import Reply
from sidecar.dev.fakes.script import Script

VERSION = "0.13.5"
_MODIFIED = "2026-10-02T09:14:05.118216+02:00"
_HTTP_ERRORS: dict[str, tuple[int, str]] = {
    "http_400": (400, 'option "temperature" must be of type float32'),
    "http_400_context": (400, "the input length exceeds the context length"),
    "http_401": (401, "unauthorized"),
    "http_402": (402, "payment required"),
    "http_403": (403, "forbidden"),
    "http_404": (404, 'model "fake-model" not found, try pulling it first'),
    "http_429": (429, "too many requests"),
    "http_500": (500, "llama runner process has terminated: exit status 2"),
    "http_503": (503, "server busy, please try again.  maximum pending requests exceeded"),
    "http_529": (529, "overloaded"),
}
_STREAM_ERROR = "an error was encountered while running the model: unexpected EOF"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _details(model: OllamaModel) -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": model.parameter_size,
        "quantization_level": model.quantization_level,
    }


def _digest(model: OllamaModel) -> str:
    return hashlib.sha256(model.name.encode()).hexdigest()


class OllamaDialect(FakeDialect):
    kind = "ollama"
    paths = ("/api/chat",)
    models_paths = ("/api/tags",)
    request_id_header = "x-request-id"  # Ollama sends none; the fake's own, for tests
    stream_content_type = "application/x-ndjson"
    keepalive = b"\n"  # a blank line: Ollama sends none, a proxy might
    stream_default = True

    def __init__(self) -> None:
        self.loaded: dict[str, int] = {}  # model name -> num_ctx it was last run with

    # --- requests and errors ---------------------------------------------------------

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        return headers.get("authorization") == f"Bearer {api_key}"

    def refuse(self, body: dict[str, Any]) -> HttpError | None:
        refused = refuse_ollama(body)
        if refused is not None:
            return _error(*refused)
        model = ollama_model(body["model"])
        assert model is not None
        options = body.get("options") or {}
        self.loaded[model.name] = options.get("num_ctx", 4096)
        return None

    def http_error(self, fault: str, script: Script) -> HttpError:
        status, message = _HTTP_ERRORS[fault]
        return HttpError(status, {"error": message}, self.error_headers(fault, script))

    def bad_request(self, message: str) -> HttpError:
        return _error(400, message)

    def not_found(self, path: str) -> HttpError:
        # Go's router: plain text, not JSON
        return HttpError(404, "404 page not found", [("content-type", "text/plain")])

    # --- what the server has -----------------------------------------------------------

    def models(self) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": m.name,
                    "model": m.name,
                    "modified_at": _MODIFIED,
                    "size": m.size,
                    "digest": _digest(m),
                    "details": _details(m),
                }
                for m in OLLAMA_MODELS
            ]
        }

    def info(self, method: str, path: str, body: dict[str, Any] | None) -> HttpError | None:
        if method == "GET" and path == "/api/version":
            return HttpError(200, {"version": VERSION}, _json())
        if method == "GET" and path == "/api/ps":
            return HttpError(200, self._running(), _json())
        if method == "POST" and path == "/api/show":
            return self._show(body or {})
        return None

    def _show(self, body: dict[str, Any]) -> HttpError:
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            return _error(400, "model is required")
        model = ollama_model(name)
        if model is None:
            return _error(404, f"model '{name}' not found")
        arch = model.family
        info = {
            "general.architecture": arch,
            "general.parameter_count": int(float(model.parameter_size[:-1]) * 1e9),
            "general.quantization_version": 2,
            f"{arch}.context_length": model.context_length,
            f"{arch}.embedding_length": 4096,
            f"{arch}.block_count": 32,
        }
        return HttpError(
            200,
            {
                "license": "",
                "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
                "parameters": 'stop                           "<|eot_id|>"',
                "template": "{{ .Prompt }}",
                "details": _details(model),
                "model_info": info,
                "capabilities": list(model.capabilities),
                "modified_at": _MODIFIED,
            },
            _json(),
        )

    def _running(self) -> dict[str, Any]:
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        out = []
        for name, num_ctx in self.loaded.items():
            model = ollama_model(name)
            assert model is not None
            out.append(
                {
                    "name": model.name,
                    "model": model.name,
                    "size": model.size,
                    "digest": _digest(model),
                    "details": _details(model),
                    "expires_at": expires,
                    "size_vram": model.size,
                    "context_length": num_ctx,
                }
            )
        return {"models": out}

    # --- the stream ----------------------------------------------------------------------

    def _chunk(self, reply: Reply, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": reply.model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": "", **message},
            "done": False,
        }

    def stream(self, reply: Reply) -> Iterator[Frame]:
        for piece in reply.thinking_chunks:
            yield line_frame(self._chunk(reply, {"thinking": piece}), "delta")
        for piece in reply.text_chunks:
            yield line_frame(self._chunk(reply, {"content": piece}), "text")
        if reply.tool_calls:
            yield line_frame(self._chunk(reply, {"tool_calls": _tool_calls(reply)}), "delta")
        yield line_frame(self._final(reply, {"role": "assistant", "content": ""}), "finish")

    def _final(self, reply: Reply, message: dict[str, Any], finished: bool = True) -> dict:
        u = reply.usage
        obj: dict[str, Any] = {
            "model": reply.model,
            "created_at": _now(),
            "message": message,
            "done": finished,
        }
        if finished:
            obj["done_reason"] = reply.finish_reason or "stop"
        return obj | {
            "total_duration": 4883583458,
            "load_duration": 1334875,
            "prompt_eval_count": u.input_tokens,
            "prompt_eval_duration": 342546000,
            "eval_count": u.output_tokens,
            "eval_duration": 4535599000,
        }

    def error_frames(self, reply: Reply) -> list[Frame]:
        return [line_frame({"error": _STREAM_ERROR}, "event")]

    def idle_frame(self, reply: Reply) -> Frame:
        return line_frame(self._chunk(reply, {}), "event")

    # --- the non-streamed answer -----------------------------------------------------------

    def message(self, reply: Reply, *, finished: bool = True) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.thinking:
            message["thinking"] = reply.thinking
        if reply.tool_calls:
            message["tool_calls"] = _tool_calls(reply)
        return self._final(reply, message, finished)


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    calls = []
    for call in reply.tool_calls:
        try:
            arguments = json.loads(call.arguments) if call.arguments else {}
        except ValueError:
            arguments = {}
        calls.append({"function": {"index": call.index, "name": call.name, "arguments": arguments}})
    return calls


def _json() -> list[tuple[str, str]]:
    return [("content-type", "application/json; charset=utf-8")]


def _error(status: int, message: str) -> HttpError:
    return HttpError(status, {"error": message}, _json())
