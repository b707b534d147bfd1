"""The examples in docs/ run: every `rpc-example` block is replayed against a real sidecar."""

from __future__ import annotations

import json
import re
from pathlib import Path

from websockets.asyncio.client import connect

from tests import contract
from tests.harness import launch

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"```rpc-example\n(.*?)```", re.S)
ANY = "…"


def matches(expected, actual, path="$") -> None:
    if expected == ANY:
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        assert set(expected) == set(actual), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            matches(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            matches(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


async def run_examples(doc: Path, tmp_path: Path) -> int:
    blocks = BLOCK.findall(doc.read_text())
    sc = launch(tmp_path)
    try:
        async with connect(
            sc.url, additional_headers={"Authorization": f"Bearer {sc.token}"}
        ) as ws:
            methods: dict[object, str] = {}
            for block in blocks:
                for line in block.strip().splitlines():
                    arrow, text = line[0], line[1:].strip()
                    if arrow == "→":
                        frame = json.loads(text)
                        methods[frame.get("id")] = frame["method"]
                        await ws.send(text)
                    else:
                        assert arrow == "←", line
                        actual = json.loads(await ws.recv())
                        contract.validate_message(actual, method=methods.get(actual.get("id")))
                        matches(json.loads(text), actual)
        return len(blocks)
    finally:
        sc.terminate()


async def test_protocol_guide_examples_run(tmp_path):
    assert await run_examples(DOCS / "protocol.md", tmp_path) >= 5
