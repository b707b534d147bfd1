"""The wire formats the fake providers speak."""

from __future__ import annotations

from sidecar.dev.fakes.dialects.anthropic import MessagesDialect
from sidecar.dev.fakes.dialects.common import KEEPALIVE, PACED, FakeDialect, Frame, split_awkwardly
from sidecar.dev.fakes.dialects.ollama import OllamaDialect
from sidecar.dev.fakes.dialects.openai import ChatCompletionsDialect
from sidecar.dev.fakes.dialects.responses import ResponsesDialect

# The kinds whose fakes answer the Responses API too (on its own paths).
RESPONSES_KINDS = ("openai", "openai-compatible")


def dialect_for(kind: str, quirk: str | None = None) -> FakeDialect:
    if kind == "anthropic":
        return MessagesDialect()
    if kind == "ollama":
        return OllamaDialect()
    return ChatCompletionsDialect(kind, quirk)


__all__ = [
    "KEEPALIVE",
    "PACED",
    "RESPONSES_KINDS",
    "FakeDialect",
    "Frame",
    "ResponsesDialect",
    "dialect_for",
    "split_awkwardly",
]
