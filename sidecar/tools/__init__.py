"""Tools the sidecar runs itself: a small registry of safe, genuinely useful ones.

A tool is a name, a description, a JSON Schema for its input and an async
function. Tools that touch the user's files ask for approval first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


@dataclass(frozen=True, slots=True)
class SidecarTool:
    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[[dict[str, Any], ToolContext], Awaitable[Any]]
    requires_approval: bool = False


@dataclass(frozen=True, slots=True)
class ToolContext:
    allowed_folders: tuple[str, ...]


def builtin_tools() -> dict[str, SidecarTool]:
    from sidecar.tools.builtin import TOOLS  # a circle otherwise: builtin uses the types above

    return {tool.name: tool for tool in TOOLS}
