"""The built-in tools: the current time, arithmetic, and reading a file the user allowed."""

from __future__ import annotations

import ast
import asyncio
import math
import operator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sidecar.tools import SidecarTool, ToolContext, ToolError

MAX_FILE_BYTES = 256 * 1024


async def current_time(args: dict[str, Any], ctx: ToolContext) -> dict[str, str]:
    zone = args.get("timezone") or "UTC"
    try:
        tz = UTC if zone == "UTC" else ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"unknown time zone {zone!r}; use an IANA name like Europe/Lisbon"
        ) from None
    now = datetime.now(tz)
    return {
        "iso": now.isoformat(timespec="seconds"),
        "timezone": str(zone),
        "weekday": now.strftime("%A"),
    }


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "log": math.log,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "min": min,
    "max": max,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


def evaluate(expression: str) -> float | int:
    """Arithmetic only: numbers, + - * / // % **, parentheses and a few math functions."""
    if len(expression) > 500:
        raise ToolError("expression too long")

    def walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and (abs(right) > 1000 or abs(left) > 1e100):
                raise ToolError("exponent too large")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(walk(a) for a in node.args))
        raise ToolError(f"not allowed in an expression: {ast.dump(node)[:60]}")

    try:
        return walk(ast.parse(expression, mode="eval"))
    except SyntaxError:
        raise ToolError("not a valid arithmetic expression") from None
    except (ZeroDivisionError, OverflowError, ValueError, TypeError) as exc:
        raise ToolError(f"cannot compute: {exc}") from None


async def calculate(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    expression = str(args.get("expression", ""))
    return {"expression": expression, "result": evaluate(expression)}


def _read(path_text: str, folders: tuple[str, ...]) -> dict[str, Any]:
    if not folders:
        raise ToolError("no folder is allowed for reading: add one to settings.toolFolders")
    path = Path(path_text).expanduser().resolve()
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        if path.is_relative_to(root):
            break
    else:
        raise ToolError("that file is outside the folders the user allowed")
    if not path.is_file():
        raise ToolError("no such file")
    data = path.read_bytes()[: MAX_FILE_BYTES + 1]
    try:
        text = data[:MAX_FILE_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError("not a UTF-8 text file") from None
    return {"path": str(path), "content": text, "truncated": len(data) > MAX_FILE_BYTES}


async def read_file(args: dict[str, Any], ctx: ToolContext) -> dict[str, Any]:
    return await asyncio.to_thread(_read, str(args.get("path", "")), ctx.allowed_folders)


TOOLS = (
    SidecarTool(
        "current_time",
        "The current date and time, in a time zone (IANA name, default UTC).",
        {
            "type": "object",
            "properties": {"timezone": {"type": "string"}},
            "additionalProperties": False,
        },
        current_time,
    ),
    SidecarTool(
        "calculate",
        "Evaluate an arithmetic expression exactly (+ - * / // % **, sqrt, log, sin, pi...).",
        {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
            "additionalProperties": False,
        },
        calculate,
    ),
    SidecarTool(
        "read_file",
        "Read a UTF-8 text file the user named, from a folder they allowed (up to 256 KiB).",
        {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
            "additionalProperties": False,
        },
        read_file,
        requires_approval=True,
    ),
)
