"""Provider adapters: a normalized ChatRequest in, normalized parts out.

    provider = create_provider(config, http)      # http: the engine's shared AsyncClient
    async for part in provider.stream(request):   # TextDelta, ThinkingDelta, ToolCall*, UsagePart,
        ...                                       # Retrying, …, and one Finish last
    text, usage = await provider.complete(request)  # non-streamed (titles)

Both raise ProviderError (see types.py); nothing else escapes except CancelledError
and programming errors.
"""

from __future__ import annotations

import httpx

from .anthropic import AnthropicProvider
from .base import Provider
from .ollama import OllamaProvider
from .openai_chat import DIALECTS, Dialect, OpenAIChatProvider
from .openai_responses import OpenAIResponsesProvider
from .types import (
    KINDS,
    RESPONSES_KINDS,
    ChatMessage,
    ChatRequest,
    ContentOrder,
    Finish,
    Part,
    ProviderApi,
    ProviderConfig,
    ProviderError,
    ProviderKind,
    ReasoningItem,
    RedactedThinking,
    Retrying,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallRef,
    ToolCallStart,
    ToolSpec,
    UsagePart,
    default_api,
)


def create_provider(
    config: ProviderConfig, http: httpx.AsyncClient, api: ProviderApi | None = None
) -> Provider:
    """The adapter for `config.kind` and the API: `api` (a model whose profile needs one),
    else `config.api`, else the kind's default. Cheap: make one per call or keep it,
    either is fine."""
    if config.kind == "anthropic":
        return AnthropicProvider(config, http)
    if config.kind == "ollama":
        return OllamaProvider(config, http)
    api = api or config.api or default_api(config.kind)
    if api == "responses" and config.kind in RESPONSES_KINDS:
        return OpenAIResponsesProvider(config, http)
    if config.kind in DIALECTS:
        return OpenAIChatProvider(config, http, DIALECTS[config.kind])
    raise ValueError(f"unknown provider kind {config.kind!r} (expected one of {', '.join(KINDS)})")


__all__ = [
    "AnthropicProvider",
    "ChatMessage",
    "ChatRequest",
    "ContentOrder",
    "DIALECTS",
    "Dialect",
    "Finish",
    "KINDS",
    "OllamaProvider",
    "OpenAIChatProvider",
    "OpenAIResponsesProvider",
    "Part",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderKind",
    "ReasoningItem",
    "RedactedThinking",
    "Retrying",
    "TextDelta",
    "ThinkingDelta",
    "ThinkingSignature",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallRef",
    "ToolCallStart",
    "ToolSpec",
    "UsagePart",
    "create_provider",
]
