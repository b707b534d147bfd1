"""The wire formats the fake providers speak."""

from __future__ import annotations

from sidecar.dev.fakes.dialects.anthropic import MessagesDialect
from sidecar.dev.fakes.dialects.common import KEEPALIVE, PACED, FakeDialect, Frame, split_awkwardly
from sidecar.dev.fakes.dialects.openai import ChatCompletionsDialect


def dialect_for(kind: str, quirk: str | None = None) -> FakeDialect:
    if kind == "anthropic":
        return MessagesDialect()
    return ChatCompletionsDialect(kind, quirk)


__all__ = ["KEEPALIVE", "PACED", "FakeDialect", "Frame", "dialect_for", "split_awkwardly"]
