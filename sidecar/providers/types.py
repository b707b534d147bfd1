"""The normalized provider interface: a request in, a stream of parts out.

Every adapter (OpenAI, Anthropic, DeepSeek, OpenAI-compatible) speaks only
these types to the engine, so the engine never sees a provider's wire format,
and adapters never see events, sockets or SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sidecar.protocol.objects import Effort, ErrorInfo, ModelProfile, ProviderApi, ProviderKind

KINDS: tuple[str, ...] = get_args(ProviderKind)
APIS: tuple[str, ...] = get_args(ProviderApi)
# The kinds whose servers may speak OpenAI's Responses API (`api: "responses"`).
RESPONSES_KINDS = frozenset({"openai", "openai-compatible"})
# The kinds that may be called without a key (local servers; a key, when set, is sent).
KEYLESS_KINDS = frozenset({"openai-compatible", "ollama"})


def default_api(kind: str) -> ProviderApi:
    """The wire API a provider speaks when its `api` setting is not given."""
    return "responses" if kind == "openai" else "chat"


DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "deepseek": "https://api.deepseek.com",
    "ollama": "http://127.0.0.1:11434",
}
KEY_ENV_VARS: dict[str, str] = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}


# --- request -----------------------------------------------------------------


@dataclass(slots=True)
class ToolCallRef:
    """A tool call the assistant made earlier in the conversation (sent back on later turns)."""

    id: str
    name: str
    arguments: str  # the JSON text, exactly as the model produced it


@dataclass(slots=True)
class ChatMessage:
    """One turn of the prompt. `role` "tool" carries a tool result for `tool_call_id`."""

    role: Literal["user", "assistant", "tool"]
    content: str
    tool_calls: list[ToolCallRef] = field(default_factory=list)
    tool_call_id: str | None = None
    thinking: str | None = None
    thinking_signature: str | None = None  # Anthropic: must be sent back unchanged
    images: list[tuple[str, str]] = field(default_factory=list)  # (mime type, base64 data)
    # Anthropic redacted_thinking blocks (their opaque `data`), sent back unchanged like thinking.
    redacted_thinking: list[str] = field(default_factory=list)
    # OpenAI Responses `reasoning` output items (opaque JSON objects), sent back as input items.
    reasoning_items: list[dict[str, Any]] = field(default_factory=list)
    # Anthropic: the blocks' order where it is not the plain one (`ContentOrder.blocks`).
    content_order: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ServerModel:
    """A model a server says it has (its model list)."""

    name: str  # what a request names it
    display_name: str | None = None
    context_window: int | None = None
    size_bytes: int | None = None
    family: str | None = None  # Ollama's details: the model family, e.g. "llama"
    parameter_size: str | None = None  # e.g. "8.0B"
    quantization: str | None = None  # e.g. "Q4_K_M"


@dataclass(slots=True)
class Probe:
    """What a server said when asked for its models: they, and who answered."""

    models: list[ServerModel]
    server: str | None = None  # its `server` response header
    version: str | None = None  # where the API tells it


@dataclass(slots=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    model: str  # the name sent upstream
    messages: list[ChatMessage]
    system: str | None = None
    max_output_tokens: int | None = None
    # The model's context window in tokens (the conversation's `contextWindow`, else the
    # catalog's): Ollama sizes its context by it (`num_ctx`); other APIs know their own.
    context_window: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    # OpenAI-style dialects: send assistant `thinking` back as `reasoning_content` (a model
    # option: DeepSeek's legacy reasoner rejects it, its newer thinking modes need it on tool turns).
    send_reasoning_back: bool = False
    # What the model's API accepts (thinking style, effort levels, sampling): adapters
    # decide every request field from it, never from the model's name.
    profile: ModelProfile = field(default_factory=ModelProfile)
    effort: Effort = "auto"  # the conversation's setting, mapped by each adapter
    # Anthropic: mark prompt-cache breakpoints (conversation setting `promptCaching`). Other
    # adapters ignore it (OpenAI-style APIs cache prefixes automatically).
    prompt_caching: bool = False


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Where and how to call one provider. `api_key` never leaves the process."""

    id: str
    kind: ProviderKind
    base_url: str
    api_key: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    connect_timeout: float = 10.0
    # The longest wait for reply content (a text, thinking or tool-call part): keep-alive
    # comments and contentless events are not progress. Also httpx's read timeout.
    idle_timeout: float = 120.0
    total_timeout: float = 600.0  # one call, retries included
    max_event_bytes: int = 8 * 1024 * 1024  # one SSE line or event; a chat reply needs far less
    max_retries: int = 2
    api: ProviderApi | None = None  # None: the kind's default (`default_api`)

    def __repr__(self) -> str:  # never print the key
        return f"ProviderConfig(id={self.id!r}, kind={self.kind!r}, base_url={self.base_url!r}, has_key={self.api_key is not None})"


# --- parts -------------------------------------------------------------------


@dataclass(slots=True)
class TextDelta:
    text: str


@dataclass(slots=True)
class ThinkingDelta:
    text: str


@dataclass(slots=True)
class ThinkingSignature:
    """Anthropic's signature for the thinking just streamed (sent back on tool turns)."""

    signature: str


@dataclass(slots=True)
class RedactedThinking:
    """Anthropic's encrypted thinking block: opaque, kept only to send back on later turns."""

    data: str


@dataclass(slots=True)
class ContentOrder:
    """Anthropic: the order of the call's content blocks so far, where the plain order
    (one thinking block, redacted ones, text, tool calls) would not rebuild it, as with
    interleaved thinking. Each entry: `{type: thinking, start, end, signature}` and
    `{type: text, start, end}` (offsets into the call's thinking and text),
    `{type: redacted_thinking, data}`, `{type: tool_use, index}`. A later one replaces it."""

    blocks: list[dict[str, Any]]


@dataclass(slots=True)
class ReasoningItem:
    """An OpenAI Responses `reasoning` output item (id, summary, encrypted_content):
    opaque, kept only to send back on later calls to the same model."""

    item: dict[str, Any]


@dataclass(slots=True)
class ToolCallStart:
    index: int  # position of the call in this response
    id: str
    name: str


@dataclass(slots=True)
class ToolCallDelta:
    index: int
    arguments: str  # a fragment of the JSON text


@dataclass(slots=True)
class ToolCallEnd:
    index: int


@dataclass(slots=True)
class UsagePart:
    """Token counts, in the contract's convention (inputTokens includes cached ones,
    outputTokens includes reasoning). Cumulative: a later UsagePart replaces an earlier one."""

    input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class Finish:
    """The provider said the response is over; `reason` is normalized:
    stop, length, tool_calls, content_filter, refusal, or the provider's own word."""

    reason: str


@dataclass(slots=True)
class Retrying:
    """The adapter is about to retry (nothing was streamed yet)."""

    attempt: int  # 1 for the first retry
    delay_ms: int
    reason: str


Part = (
    TextDelta
    | ThinkingDelta
    | ThinkingSignature
    | RedactedThinking
    | ContentOrder
    | ReasoningItem
    | ToolCallStart
    | ToolCallDelta
    | ToolCallEnd
    | UsagePart
    | Finish
    | Retrying
)


# --- errors ------------------------------------------------------------------


class ProviderError(Exception):
    """A provider call failed. `message` is safe to show: no key, no auth header.

    code: auth, permission, payment_required, rate_limited, overloaded, server_error,
    bad_request, not_found, conflict, context_length, timeout, connection, stream_error,
    incomplete_stream, invalid_response.

    `retry_after` (seconds) is the server's own retry hint when it gave a usable one;
    `request_id` is the provider's id for the failed request (for support tickets).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.http_status = http_status
        self.retry_after = retry_after
        self.request_id = request_id

    def info(self) -> ErrorInfo:
        """As the contract shows it."""
        return ErrorInfo(
            code=self.code,
            message=self.message,
            retryable=self.retryable,
            http_status=self.http_status,
        )

    def __repr__(self) -> str:
        return f"ProviderError(code={self.code!r}, message={self.message!r}, retryable={self.retryable}, http_status={self.http_status})"
