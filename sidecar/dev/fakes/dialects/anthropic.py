"""Anthropic Messages: `event:` + `data:` SSE, content blocks, cumulative usage, and a
prompt cache: `cache_control` breakpoints (at most 4, type "ephemeral") on tool
definitions, system text blocks and message content blocks; a prefix is written at a
breakpoint when it reaches the model's minimum (1024 tokens, 2048 for Haiku models) and
read back when a later breakpoint sits at, or up to 20 blocks after, a prefix seen before."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sidecar.dev.fakes.dialects.common import FakeDialect, Frame, HttpError, event_frame, random_id
from sidecar.dev.fakes.model_rules import refuse_claude
from sidecar.dev.fakes.reply import Reply, signature_for, split
from sidecar.dev.fakes.script import Script, Usage

_HTTP_ERRORS: dict[str, tuple[int, str, str]] = {
    "http_400": (400, "invalid_request_error", "max_tokens: Field required"),
    "http_400_context": (
        400,
        "invalid_request_error",
        "prompt is too long: 215313 tokens > 200000 maximum",
    ),
    "http_401": (401, "authentication_error", "invalid x-api-key"),
    "http_402": (
        402,
        "billing_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
    ),
    "http_403": (
        403,
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    "http_404": (404, "not_found_error", "model: claude-fake"),
    "http_429": (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
    ),
    "http_429_quota": (
        429,
        "rate_limit_error",
        "This request would exceed your organization's rate limit of 1,000,000 input tokens per day. Please try again later.",
    ),
    "http_500": (500, "api_error", "Internal server error"),
    "http_503": (503, "api_error", "Service unavailable"),
    "http_529": (529, "overloaded_error", "Overloaded"),
}

MAX_BREAKPOINTS = 4
CACHE_TTLS = ("5m", "1h")
LOOKBACK_BLOCKS = 20  # how far before a breakpoint the API looks for an earlier cached prefix


class MessagesDialect(FakeDialect):
    kind = "anthropic"
    paths = ("/v1/messages",)
    models_paths = ("/v1/models",)
    request_id_header = "request-id"
    error_event_fault = "http_529"
    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self) -> None:
        # tool_use id -> the shape of the response it came in (`_shape`)
        self._issued: dict[str, list[dict[str, Any]]] = {}
        self._redacted: set[str] = set()  # every redacted_thinking data sent
        self._cache: dict[str, int] = {}  # hash of a cached prompt prefix -> its tokens

    # --- requests and errors ---------------------------------------------------

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        # x-api-key is the documented header; the official SDK (2.x) sends the key as a
        # bearer token instead, which the API accepts too.
        return (
            headers.get("x-api-key") == api_key
            or headers.get("authorization") == f"Bearer {api_key}"
        )

    def precheck(self, headers: dict[str, str]) -> HttpError | None:
        if "anthropic-version" not in headers:
            return self._error(
                400, "invalid_request_error", "anthropic-version: header is required"
            )
        return None

    def refuse(self, body: dict[str, Any]) -> HttpError | None:
        """As the API does: redacted data it never issued, and a tool-use turn whose
        thinking blocks did not come back exactly as they were sent; what the model's
        rules refuse (`model_rules`: thinking types, efforts, sampling)."""
        rule = refuse_claude(body)
        if rule is not None:
            return self.bad_request(rule)
        refused = self._refuse_cache_control(body)
        if refused is not None:
            return refused
        messages = body.get("messages")
        if type(messages) is not list:
            return None
        latest = max(
            (i for i, m in enumerate(messages) if type(m) is dict and m.get("role") == "assistant"),
            default=None,
        )
        for i, message in enumerate(messages):
            content = message.get("content") if type(message) is dict else None
            if type(content) is not list:
                continue
            for j, block in enumerate(content):
                if type(block) is not dict:
                    continue
                if block.get("type") == "redacted_thinking" and block.get("data") not in (
                    self._redacted
                ):
                    return self.bad_request(
                        f"messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
                    )
                issued = self._issued.get(block.get("id")) if i == latest else None
                if block.get("type") == "tool_use" and issued is not None:
                    if _shape(content) != issued:
                        return self.bad_request(
                            f"messages.{i}.content.{j}: `thinking` or `redacted_thinking` blocks "
                            "in the latest assistant message cannot be modified. These blocks "
                            "must remain as they were in the original response."
                        )
        return None

    def _refuse_cache_control(self, body: dict[str, Any]) -> HttpError | None:
        found = 0
        for where, block in _prompt_blocks(body):
            control = block.get("cache_control")
            if control is None:
                continue
            if (
                type(control) is not dict
                or control.get("type") != "ephemeral"
                or control.get("ttl", "5m") not in CACHE_TTLS
            ):
                return self.bad_request(
                    f"{where}.cache_control.type: Input tag {control.get('type') if type(control) is dict else control!r} "
                    "found using 'type' does not match any of the expected tags: 'ephemeral'"
                )
            if block.get("type") in ("thinking", "redacted_thinking"):
                return self.bad_request(
                    f"{where}.cache_control: cache_control cannot be set for {block['type']} blocks"
                )
            found += 1
        if found > MAX_BREAKPOINTS:
            return self.bad_request(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
                f"Found {found}."
            )
        return None

    def _cached_usage(self, reply: Reply) -> Usage:
        """The reply's usage with the prompt cache applied (only when the usage was computed,
        not scripted, and the request carries breakpoints)."""
        usage = reply.usage
        if reply.script.usage is not None:
            return usage
        blocks = [block for _, block in _prompt_blocks(reply.body)]
        marks = [i for i, block in enumerate(blocks) if block.get("cache_control") is not None]
        if not marks:
            return usage
        model = str(reply.body.get("model") or "")
        minimum = 2048 if "haiku" in model else 1024
        digest = hashlib.sha256(model.encode())
        keys: list[str] = []
        tokens: list[int] = []
        chars = 0
        for block in blocks:  # the prefix hash and token count at every block
            plain = {k: v for k, v in block.items() if k != "cache_control"}
            digest.update(json.dumps(plain, sort_keys=True).encode())
            keys.append(digest.copy().hexdigest())
            chars += len(_block_text(block))
            tokens.append(chars // 4)
        read = 0
        for mark in marks:
            for i in range(mark, max(mark - LOOKBACK_BLOCKS, -1), -1):
                if keys[i] in self._cache:
                    read = max(read, self._cache[keys[i]])
                    break
        written = 0
        for mark in marks:
            if tokens[mark] >= minimum:
                self._cache[keys[mark]] = tokens[mark]
                written = max(written, tokens[mark])
        write = max(written - read, 0)
        total = max(tokens[-1], 12)
        return replace(usage, input_tokens=total, cached_tokens=read, cache_write_tokens=write)

    def new_request_id(self) -> str:
        return random_id("req_011C", 20)

    def _error(
        self, status: int, type_: str, message: str, headers: list[tuple[str, str]] | None = None
    ) -> HttpError:
        rid = self.new_request_id()
        body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": rid}
        return HttpError(
            status,
            body,
            [(self.request_id_header, rid), *(headers or [("content-type", "application/json")])],
        )

    def http_error(self, fault: str, script: Script) -> HttpError:
        status, type_, message = _HTTP_ERRORS[fault]
        headers = self.error_headers(fault, script)
        if status == 429:
            wait = script.retry_after if script.retry_after is not None else 1.0
            reset = datetime.now(UTC) + timedelta(seconds=wait)
            headers += [
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset", reset.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ]
        return self._error(status, type_, message, headers)

    def bad_request(self, message: str) -> HttpError:
        return self._error(400, "invalid_request_error", message)

    def not_found(self, path: str) -> HttpError:
        return self._error(404, "not_found_error", "Not Found")

    def models(self) -> dict[str, Any]:
        data = [
            {
                "type": "model",
                "id": name,
                "display_name": name,
                "created_at": "2025-01-01T00:00:00Z",
            }
            for name in ("claude-haiku-fake", "claude-sonnet-fake")
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        }

    # --- the stream --------------------------------------------------------------

    def stream(self, reply: Reply) -> Iterator[Frame]:
        message = self._envelope(reply)
        message["usage"]["output_tokens"] = 1
        yield event_frame("message_start", {"type": "message_start", "message": message}, "open")
        yield event_frame("ping", {"type": "ping"}, "open")
        for index, (block, deltas) in enumerate(self._blocks(reply)):
            yield event_frame(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
                "event",
            )
            for kind, delta in deltas:
                yield event_frame(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                    kind,
                )
            yield event_frame(
                "content_block_stop", {"type": "content_block_stop", "index": index}, "event"
            )
        yield event_frame(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop_reason(reply), "stop_sequence": None},
                "usage": {"output_tokens": reply.usage.output_tokens},
            },
            "finish",
        )
        yield event_frame("message_stop", {"type": "message_stop"}, "finish")

    def _blocks(
        self, reply: Reply
    ) -> Iterator[tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]]:
        """(content_block_start block, [(frame kind, delta)]) per content block."""
        calls = iter(reply.tool_calls)
        for block in self._content(reply):
            kind = block["type"]
            if kind == "thinking":
                deltas = [
                    ("delta", {"type": "thinking_delta", "thinking": p})
                    for p in split(block["thinking"], reply.script.chunk_size)
                ]
                deltas.append(
                    ("event", {"type": "signature_delta", "signature": block["signature"]})
                )
                yield {"type": "thinking", "thinking": "", "signature": ""}, deltas
            elif kind == "text":
                yield (
                    {"type": "text", "text": ""},
                    [("text", {"type": "text_delta", "text": p}) for p in reply.text_chunks],
                )
            elif kind == "tool_use":
                pieces = ["", *next(calls).fragments]
                yield (
                    {**block, "input": {}},
                    [("delta", {"type": "input_json_delta", "partial_json": p}) for p in pieces],
                )
            else:
                yield block, []  # redacted_thinking: whole in its start event, no deltas

    def error_frames(self, reply: Reply) -> list[Frame]:
        body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return [event_frame("error", body, "event")]

    def idle_frame(self, reply: Reply) -> Frame:
        return event_frame("ping", {"type": "ping"}, "event")

    # --- the non-streamed answer -----------------------------------------------------

    def message(self, reply: Reply, *, finished: bool = True) -> dict[str, Any]:
        message = self._envelope(reply)
        message["content"] = self._content(reply)
        message["stop_reason"] = self._stop_reason(reply) if finished else None
        return message

    # --- shared ----------------------------------------------------------------------

    def _envelope(self, reply: Reply) -> dict[str, Any]:
        u = self._cached_usage(reply)
        return {
            "id": random_id("msg_01", 22),
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                # Anthropic's input_tokens leaves out cache reads and writes.
                "input_tokens": max(u.input_tokens - u.cached_tokens - u.cache_write_tokens, 0),
                "cache_creation_input_tokens": u.cache_write_tokens,
                "cache_read_input_tokens": u.cached_tokens,
                "output_tokens": u.output_tokens,
            },
        }

    def _content(self, reply: Reply) -> list[dict[str, Any]]:
        """The response's content blocks, whole and in order (`Script.block_order`, else
        thinking, redacted thinking, text, tool calls); remembers, per tool call, the
        blocks a request must bring back with it."""
        script = reply.script
        thoughts = [{"type": "thinking", "thinking": reply.thinking, "signature": reply.signature}]
        thoughts = thoughts if reply.thinking else []
        thoughts += [
            {"type": "thinking", "thinking": t, "signature": signature_for(t)}
            for t in script.thinking_blocks
        ]
        pools: dict[str, list[dict[str, Any]]] = {
            "thinking": thoughts,
            "redacted_thinking": [
                {"type": "redacted_thinking", "data": d} for d in script.redacted_thinking
            ],
            "text": [{"type": "text", "text": reply.text}] if reply.text else [],
            "tool_use": [
                {
                    "type": "tool_use",
                    "id": call.id or random_id("toolu_01", 22),
                    "name": call.name,
                    "input": _parsed(call.arguments),
                }
                for call in reply.tool_calls
            ],
        }
        order = script.block_order or [kind for kind, blocks in pools.items() for _ in blocks]
        content = [pools[kind].pop(0) for kind in order]
        self._redacted.update(b["data"] for b in content if b["type"] == "redacted_thinking")
        shape = _shape(content)
        for block in content:
            if block["type"] == "tool_use":
                self._issued[block["id"]] = shape
        return content

    @staticmethod
    def _stop_reason(reply: Reply) -> str:
        if reply.finish_reason is not None:
            return reply.finish_reason
        return "tool_use" if reply.tool_calls else "end_turn"


def _prompt_blocks(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The prompt's blocks in the order the API caches them: tools, system, messages
    (a string system or message content counts as one text block)."""
    out: list[tuple[str, dict[str, Any]]] = []
    tools = body.get("tools")
    if type(tools) is list:
        out += [(f"tools.{i}", t) for i, t in enumerate(tools) if type(t) is dict]
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(("system", {"type": "text", "text": system}))
    elif type(system) is list:
        out += [(f"system.{i}", b) for i, b in enumerate(system) if type(b) is dict]
    messages = body.get("messages")
    for i, message in enumerate(messages if type(messages) is list else ()):
        content = message.get("content") if type(message) is dict else None
        if isinstance(content, str):
            out.append((f"messages.{i}.content", {"type": "text", "text": content}))
        elif type(content) is list:
            out += [
                (f"messages.{i}.content.{j}", b) for j, b in enumerate(content) if type(b) is dict
            ]
    return out


def _block_text(block: dict[str, Any]) -> str:
    """What a block weighs in the token estimate (4 characters a token)."""
    if block.get("type") == "text":
        return str(block.get("text") or "")
    if "input_schema" in block:  # a tool definition
        return json.dumps({k: v for k, v in block.items() if k != "cache_control"})
    if block.get("type") == "tool_use":
        return json.dumps(block.get("input"))
    if block.get("type") == "tool_result":
        content = block.get("content")
        return content if isinstance(content, str) else json.dumps(content)
    return str(block.get("thinking") or "")


def _shape(content: list[Any]) -> list[dict[str, Any]]:
    """What an assistant message must bring back unchanged: its thinking blocks whole,
    its text and tool calls, in order (cache_control and whitespace-only text aside)."""
    out: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "thinking":
            out.append({k: block.get(k) for k in ("type", "thinking", "signature")})
        elif kind == "redacted_thinking":
            out.append({"type": kind, "data": block.get("data")})
        elif kind == "text" and str(block.get("text") or "").strip():
            out.append({"type": kind, "text": block.get("text")})
        elif kind == "tool_use":
            out.append({"type": kind, "id": block.get("id")})
    return out


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments else {}
    except ValueError:
        return {}
