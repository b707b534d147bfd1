"""OpenAI's Responses API (`POST /v1/responses`), as the openai and openai-compatible fakes
speak it next to chat completions.

The stream is the documented event sequence, one `event:` + `data:` SSE event per write:
response.created, response.in_progress, then per output item output_item.added, its
content (reasoning summary parts and deltas, output_text parts and deltas, function-call
argument deltas), its done events and output_item.done, and last response.completed (or
response.incomplete) carrying the whole response and its usage. There is no [DONE].

A script's `thinking` becomes a reasoning item: its summary streams when the request asks
`reasoning.summary`, its `encrypted_content` is filled when the request includes
`reasoning.encrypted_content`. The fake refuses what the API refuses: unknown top-level
parameters (`messages` among them), a missing `input`, a `function_call_output` whose
`call_id` has no `function_call` before it, content types a role cannot carry, and
reasoning items sent back with encrypted content it never issued (or, with `store: false`,
without any).
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from typing import Any

from sidecar.dev.fakes.dialects.common import Frame, HttpError, event_frame, random_id
from sidecar.dev.fakes.dialects.openai import ChatCompletionsDialect, _error
from sidecar.dev.fakes.model_rules import refuse_openai
from sidecar.dev.fakes.reply import Reply

# ResponseCreateParams' fields (openai-python, types/responses/response_create_params.py).
PARAMS = frozenset(
    {
        "background",
        "conversation",
        "include",
        "input",
        "instructions",
        "max_output_tokens",
        "max_tool_calls",
        "metadata",
        "model",
        "parallel_tool_calls",
        "previous_response_id",
        "prompt",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning",
        "safety_identifier",
        "service_tier",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
        "user",
    }
)
_CONTENT_TYPES = {
    "user": ("input_text", "input_image", "input_file"),
    "system": ("input_text",),
    "developer": ("input_text",),
    "assistant": ("output_text", "refusal"),
}
_INCOMPLETE = {"length": "max_output_tokens", "max_output_tokens": "max_output_tokens"}


def _invalid(message: str, param: str | None, code: str | None = None) -> dict[str, Any]:
    return _error(message, "invalid_request_error", code, param)


class ResponsesDialect(ChatCompletionsDialect):
    paths = ("/v1/responses", "/responses")

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._issued: set[str] = set()  # every encrypted_content sent

    # --- what the API refuses ------------------------------------------------------

    def refuse(self, body: dict[str, Any]) -> HttpError | None:
        for name in body:
            if name not in PARAMS:
                return self._bad(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
        if self.kind == "openai":
            reasoning = body.get("reasoning")
            effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
            rule = refuse_openai(body, effort, "reasoning.effort")
            if rule is not None:
                return self._bad(rule, "reasoning.effort" if "effort" in rule else None)
        if "input" not in body and not body.get("previous_response_id") and not body.get("prompt"):
            return self._bad(
                "Missing required parameter: 'input'.", "input", "missing_required_parameter"
            )
        for i, tool in enumerate(body.get("tools") or []):
            if isinstance(tool, dict) and tool.get("type") == "function" and not tool.get("name"):
                return self._bad(
                    f"Missing required parameter: 'tools[{i}].name'.",
                    f"tools[{i}].name",
                    "missing_required_parameter",
                )
        given = body.get("input")
        return self._refuse_items(given, body.get("store")) if isinstance(given, list) else None

    def _refuse_items(self, items: list[Any], store: Any) -> HttpError | None:
        calls: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                return self._bad(f"Invalid type for 'input[{i}]'.", f"input[{i}]", "invalid_type")
            kind = item.get("type", "message")
            if kind == "function_call":
                calls.add(str(item.get("call_id")))
            elif kind == "function_call_output":
                call_id = item.get("call_id")
                if call_id not in calls:
                    return self._bad(
                        f"No tool call found for function call output with call_id {call_id}.",
                        "input",
                    )
            elif kind == "reasoning":
                encrypted = item.get("encrypted_content")
                if encrypted is None and store is False:
                    return HttpError(
                        404,
                        _invalid(
                            f"Item with id '{item.get('id')}' not found. Items are not "
                            "persisted when `store` is set to false. Try again with `store` "
                            "set to true, or remove this item from your input.",
                            "input",
                        ),
                        self._id_headers(),
                    )
                if encrypted is not None and encrypted not in self._issued:
                    return self._bad(
                        f"The encrypted content for item {item.get('id')} could not be verified.",
                        None,
                        "invalid_encrypted_content",
                    )
            elif kind == "message":
                allowed = _CONTENT_TYPES.get(str(item.get("role")))
                if allowed is None:
                    return self._bad(f"Invalid value: '{item.get('role')}'.", f"input[{i}].role")
                content = item.get("content")
                for j, part in enumerate(content if isinstance(content, list) else []):
                    ptype = part.get("type") if isinstance(part, dict) else None
                    if ptype not in allowed:
                        supported = " and ".join(f"'{t}'" for t in allowed)
                        return self._bad(
                            f"Invalid value: '{ptype}'. Supported values are: {supported}.",
                            f"input[{i}].content[{j}]",
                            "invalid_value",
                        )
        return None

    def _bad(self, message: str, param: str | None, code: str | None = None) -> HttpError:
        return HttpError(400, _invalid(message, param, code), self._id_headers())

    # --- the stream --------------------------------------------------------------------

    def stream(self, reply: Reply) -> Iterator[Frame]:
        state = _Responding(self, reply)
        yield state.event("response.created", "open", response=state.response("in_progress"))
        yield state.event("response.in_progress", "open", response=state.response("in_progress"))
        yield from state.items()
        end, status = state.ending()
        yield state.event(end, "finish", response=state.response(status, finished=True))

    def error_frames(self, reply: Reply) -> list[Frame]:
        state = _Responding(self, reply)
        if reply.script.responses_error == "error":
            frame = state.event(
                "error",
                "event",
                code="server_error",
                message="The server had an error processing your request. Sorry about that!",
                param=None,
            )
            return [frame]
        response = state.response("failed")
        response["error"] = {
            "code": "server_error",
            "message": "The server had an error processing your request. Sorry about that!",
        }
        return [state.event("response.failed", "event", response=response)]

    def idle_frame(self, reply: Reply) -> Frame:
        state = _Responding(self, reply)
        return state.event("response.in_progress", "event", response=state.response("in_progress"))

    def message(self, reply: Reply, *, finished: bool = True) -> dict[str, Any]:
        state = _Responding(self, reply)
        for _ in state.items():
            pass
        _, status = state.ending()
        return state.response(status if finished else "in_progress", finished=True)

    def issue(self, thinking: str) -> str:
        encrypted = (
            "gAAAAB" + base64.b64encode(thinking.encode()[:48] + secrets.token_bytes(24)).decode()
        )
        self._issued.add(encrypted)
        return encrypted


class _Responding:
    """One response being written: its ids, its sequence numbers, its finished items."""

    def __init__(self, dialect: ResponsesDialect, reply: Reply) -> None:
        self.dialect = dialect
        self.reply = reply
        self.id = random_id("resp_", 48, "0123456789abcdef")
        self.created = int(time.time())
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        reasoning = reply.body.get("reasoning")
        self.summaries = isinstance(reasoning, dict) and bool(reasoning.get("summary"))
        include = reply.body.get("include")
        self.encrypted = isinstance(include, list) and "reasoning.encrypted_content" in include

    def event(self, name: str, kind: str, **fields: Any) -> Frame:
        obj = {"type": name, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event_frame(name, obj, kind)

    def response(self, status: str, *, finished: bool = False) -> dict[str, Any]:
        body = self.reply.body
        reasoning = body.get("reasoning") if isinstance(body.get("reasoning"), dict) else {}
        incomplete = _INCOMPLETE.get(self.reply.finish_reason or "")
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": {"reason": incomplete} if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": self.reply.model,
            "output": list(self.output) if finished else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": "disabled",
            "usage": self.usage() if finished and status != "in_progress" else None,
            "user": None,
            "metadata": {},
        }

    def usage(self) -> dict[str, Any]:
        u = self.reply.usage
        return {
            "input_tokens": u.input_tokens,
            "input_tokens_details": {"cached_tokens": u.cached_tokens},
            "output_tokens": u.output_tokens,
            "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
            "total_tokens": u.input_tokens + u.output_tokens,
        }

    def ending(self) -> tuple[str, str]:
        if self.reply.finish_reason in _INCOMPLETE:
            return "response.incomplete", "incomplete"
        return "response.completed", "completed"

    def items(self) -> Iterator[Frame]:
        reply = self.reply
        if reply.thinking:
            yield from self._reasoning()
        if reply.text_chunks or not (reply.thinking or reply.tool_calls):
            yield from self._message()
        for call in reply.tool_calls:
            yield from self._function_call(call.id, call.name, call.arguments, call.fragments)

    def _added(self, item: dict[str, Any]) -> Frame:
        return self.event(
            "response.output_item.added", "event", output_index=len(self.output), item=item
        )

    def _done(self, item: dict[str, Any]) -> Frame:
        frame = self.event(
            "response.output_item.done", "event", output_index=len(self.output), item=item
        )
        self.output.append(item)
        return frame

    def _reasoning(self) -> Iterator[Frame]:
        reply = self.reply
        item_id = random_id("rs_", 48, "0123456789abcdef")
        where = {"item_id": item_id, "output_index": len(self.output)}
        yield self._added({"id": item_id, "type": "reasoning", "summary": []})
        summary: list[dict[str, Any]] = []
        if self.summaries:
            part = {"type": "summary_text", "text": ""}
            yield self.event(
                "response.reasoning_summary_part.added",
                "event",
                **where,
                summary_index=0,
                part=part,
            )
            for piece in reply.thinking_chunks:
                yield self.event(
                    "response.reasoning_summary_text.delta",
                    "delta",
                    **where,
                    summary_index=0,
                    delta=piece,
                )
            yield self.event(
                "response.reasoning_summary_text.done",
                "event",
                **where,
                summary_index=0,
                text=reply.thinking,
            )
            summary = [{"type": "summary_text", "text": reply.thinking}]
            yield self.event(
                "response.reasoning_summary_part.done",
                "event",
                **where,
                summary_index=0,
                part=summary[0],
            )
        item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": summary}
        if self.encrypted:
            item["encrypted_content"] = self.dialect.issue(reply.thinking)
        yield self._done(item)

    def _message(self) -> Iterator[Frame]:
        reply = self.reply
        item_id = random_id("msg_", 48, "0123456789abcdef")
        where = {"item_id": item_id, "output_index": len(self.output), "content_index": 0}
        item = {"id": item_id, "type": "message", "status": "in_progress", "content": []}
        yield self._added({**item, "role": "assistant"})
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        yield self.event("response.content_part.added", "event", **where, part=part)
        for piece in reply.text_chunks:
            yield self.event(
                "response.output_text.delta", "text", **where, logprobs=[], delta=piece
            )
        yield self.event(
            "response.output_text.done", "event", **where, logprobs=[], text=reply.text
        )
        part = {**part, "text": reply.text}
        yield self.event("response.content_part.done", "event", **where, part=part)
        yield self._done({**item, "status": "completed", "content": [part], "role": "assistant"})

    def _function_call(
        self, call_id: str, name: str, arguments: str, fragments: list[str]
    ) -> Iterator[Frame]:
        item_id = random_id("fc_", 48, "0123456789abcdef")
        item = {
            "id": item_id,
            "type": "function_call",
            "status": "in_progress",
            "arguments": "",
            "call_id": call_id or random_id("call_", 24),
            "name": name,
        }
        where = {"item_id": item_id, "output_index": len(self.output)}
        yield self._added(item)
        for piece in fragments:
            yield self.event(
                "response.function_call_arguments.delta", "delta", **where, delta=piece
            )
        yield self.event(
            "response.function_call_arguments.done", "event", **where, arguments=arguments
        )
        yield self._done({**item, "status": "completed", "arguments": arguments})
