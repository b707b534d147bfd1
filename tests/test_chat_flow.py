"""docs/chat-flow.md names only real methods and events, each in the right place.

Its Mermaid diagrams are prose about the wire, so they are checked against the
generated contract (schema/openrpc.json), not against the models: a method or
event renamed without the docs following fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.contract import SCHEMA_DIR

DOC = Path(__file__).resolve().parents[1] / "docs" / "chat-flow.md"
FLOWS = {
    "Send",
    "Stream",
    "Save",
    "Cancel",
    "Retry",
    "Branch: edit, regenerate, switch",
    "Title",
    "Tool call with approval",
    "Reconnect and resume",
    "Crash and restart",
    "A turn the app ran itself",
}
ARROW = re.compile(r"^(\w+)\s*(->>|-->>|-\)|--\))\s*(\w+)\s*:\s*(.+)$")
PARTICIPANT = re.compile(r"^participant (\w+)(?: as .+)?$")
NAME = re.compile(r"(?<![\w./-])[a-z][A-Za-z]*(?:\.[a-z][A-Za-z]*)+(?![\w/-])")


def _contract() -> tuple[set[str], set[str]]:
    doc = json.loads((SCHEMA_DIR / "openrpc.json").read_text())
    return {m["name"] for m in doc["methods"]}, {n["name"] for n in doc["x-notifications"]}


METHODS, EVENTS = _contract()


def diagrams() -> dict[str, list[str]]:
    """Section title -> the lines of its Mermaid block."""
    out: dict[str, list[str]] = {}
    section = None
    block: list[str] | None = None
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.strip() == "```mermaid":
            block = []
        elif line.strip() == "```" and block is not None:
            assert section is not None and section not in out, f"one diagram per section: {section}"
            out[section] = block
            block = None
        elif block is not None:
            block.append(line.strip())
    return out


def test_every_flow_has_a_sequence_diagram():
    found = diagrams()
    assert set(found) == FLOWS
    for title, lines in found.items():
        assert lines[0] == "sequenceDiagram", title


@pytest.mark.parametrize("title", sorted(FLOWS))
def test_arrows_name_methods_events_and_results_where_they_belong(title):
    lines = diagrams()[title]
    participants = {m.group(1) for line in lines if (m := PARTICIPANT.match(line))}
    arrows = [m.groups() for line in lines if (m := ARROW.match(line))]
    assert arrows, title
    for line in lines[1:]:
        known = PARTICIPANT.match(line) or ARROW.match(line)
        structural = line.startswith(("Note ", "loop ", "end", "alt ", "else", "opt "))
        assert known or structural or not line, f"{title}: not Mermaid this test knows: {line}"
        assert ";" not in line and "#" not in line, f"{title}: ';' and '#' break Mermaid: {line}"
    for source, arrow, target, text in arrows:
        assert {source, target} <= participants, f"{title}: undeclared participant in {text}"
        first = text.split()[0]
        if (source, target) == ("App", "SC"):
            assert arrow == "->>" and first in METHODS, f"{title}: a request names a method: {text}"
        elif (source, target) == ("SC", "App") and arrow == "--)":
            assert first in EVENTS, f"{title}: an event arrow names an event: {text}"
        elif (source, target) == ("SC", "App"):
            assert arrow == "-->>" and first in ("result", "error"), f"{title}: {text}"
    for line in lines:
        for name in NAME.findall(line):
            assert name in METHODS | EVENTS, f"{title}: {name!r} is neither a method nor an event"


def test_the_diagrams_show_every_stream_thinking_and_tool_event():
    used = {name for lines in diagrams().values() for line in lines for name in NAME.findall(line)}
    lifecycle = {
        e for e in EVENTS if e.startswith(("assistant.stream.", "agent.thinking.", "tool."))
    }
    assert lifecycle <= used, sorted(lifecycle - used)
    assert {"chat.send", "chat.cancel", "chat.edit", "chat.regenerate", "chat.record"} <= used
    assert "branches.switch" in used
    assert {"tools.approve", "tools.submitResult", "events.subscribe", "titles.generate"} <= used
