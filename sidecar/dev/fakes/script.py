"""What a fake provider should answer: scripts, usage and the requests it recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HTTP_FAULTS = (
    "http_400",
    "http_400_context",
    "http_401",
    "http_402",
    "http_403",
    "http_404",
    "http_429",
    "http_429_quota",
    "http_500",
    "http_503",
    "http_529",
)
STREAM_FAULTS = ("error_event", "drop", "stall", "no_finish")
# What a proxy or captive portal answers in the API's place.
PROXY_FAULTS = ("redirect", "html")
# Streams that never end or lines without end: they test the client's limits.
LIMIT_FAULTS = ("keepalive_only", "trickle", "huge_line")
FAULTS = HTTP_FAULTS + STREAM_FAULTS + PROXY_FAULTS + LIMIT_FAULTS
QUIRKS = ("ollama", "vllm", "lmstudio", "openrouter", "think_tags", "xai", "mistral", "llamacpp")


@dataclass
class Usage:
    """Token counts in OpenAI's convention: `input_tokens` includes cached ones and
    `output_tokens` includes reasoning. Each dialect converts (Anthropic subtracts the
    cache reads and writes from its `input_tokens`)."""

    input_tokens: int = 12
    output_tokens: int = 5
    cached_tokens: int = 0  # cache reads
    cache_write_tokens: int = 0  # Anthropic cache_creation_input_tokens
    reasoning_tokens: int = 0


@dataclass
class ToolCallScript:
    id: str  # "" for a generated one in the dialect's style
    name: str
    arguments: str  # JSON text; streamed in fragments of the script's chunk_size


@dataclass
class Script:
    """One scripted response; see the package docstring for every field."""

    text: str = "Hello from the fake provider."
    chunks: list[str] | None = None
    chunk_size: int = 8
    thinking: str | None = None
    tool_calls: list[ToolCallScript] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: str | None = None
    rate: float | None = None
    keepalive: int = 0
    keepalive_interval: float | None = None  # None: 1/rate when rate is set, else 0
    fault: str | None = None
    fault_after: int = 0
    retry_after: float | None = None
    huge_line_bytes: int = 50 * 1024 * 1024  # what the `huge_line` fault adds to one text fragment
    quirk: str | None = None
    split_writes: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    signature: str | None = None  # Anthropic thinking signature; None: derived from `thinking`
    redacted_thinking: list[str] = field(default_factory=list)  # Anthropic: opaque blocks' data
    # Anthropic interleaved thinking: more signed thinking blocks after `thinking`, and the
    # order of the response's blocks ("thinking", "redacted_thinking", "text", "tool_use",
    # each taking the next of its kind; "text" at most once). None: that plain order.
    thinking_blocks: list[str] = field(default_factory=list)
    block_order: list[str] | None = None
    # Responses API: what the `error_event` fault sends, a `response.failed` event ("failed")
    # or an `error` event ("error").
    responses_error: str = "failed"

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")
        if self.quirk is not None and self.quirk not in QUIRKS:
            raise ValueError(f"unknown quirk {self.quirk!r}; one of {', '.join(QUIRKS)}")
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be positive")
        if self.responses_error not in ("failed", "error"):
            raise ValueError('responses_error must be "failed" or "error"')
        if self.huge_line_bytes < 1:
            raise ValueError("huge_line_bytes must be at least 1")
        if self.block_order is not None:
            thoughts = [self.thinking] if self.thinking else []
            wanted = {
                "thinking": len(thoughts) + len(self.thinking_blocks),
                "redacted_thinking": len(self.redacted_thinking),
                "text": 1
                if ("".join(self.chunks) if self.chunks is not None else self.text)
                else 0,
                "tool_use": len(self.tool_calls),
            }
            given = {kind: self.block_order.count(kind) for kind in wanted}
            if given != wanted or len(self.block_order) != sum(wanted.values()):
                raise ValueError(f"block_order must name each block once: {wanted}")


def script_from_json(data: dict[str, Any]) -> Script:
    """A Script from its JSON form (the fields by name, `tool_calls` and `usage` as objects);
    how a fake in another process is scripted over its control endpoint."""
    if not isinstance(data, dict):
        raise TypeError("a script is a JSON object")
    fields = dict(data)
    fields["tool_calls"] = [ToolCallScript(**call) for call in fields.get("tool_calls", [])]
    if fields.get("usage") is not None:
        fields["usage"] = Usage(**fields["usage"])
    return Script(**fields)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: dict[str, Any] | None  # the parsed JSON object; None when absent or not an object
    received_at: float  # time.monotonic()
