"""The examples in docs/ run: every `rpc-example` block is replayed against a real sidecar."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from websockets.asyncio.client import connect

from sidecar.dev.fakes import FakeProvider, Script
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
    """Replay a doc's examples. `FAKE_BASE_URL` stands for a fake provider started here;
    a `"…"` value in a request is the id of the last conversation created."""
    blocks = BLOCK.findall(doc.read_text())
    sc = launch(tmp_path)
    try:
        async with (
            # one chunk per reply: how many deltas two chunks make depends on the reads
            FakeProvider("openai-compatible", echo=Script(chunk_size=64)) as fake,
            connect(sc.url, additional_headers={"Authorization": f"Bearer {sc.token}"}) as ws,
        ):
            methods: dict[object, str] = {}
            conversation_id = None
            expected: list[dict] = []

            async def drain() -> None:
                """Receive what the last request's lines expect: events in order,
                its response wherever it arrives among them (requests run concurrently)."""
                nonlocal conversation_id
                notifications = [e for e in expected if "method" in e]
                responses = {e["id"]: e for e in expected if "method" not in e}
                expected.clear()
                while notifications or responses:
                    actual = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    contract.validate_message(actual, method=methods.get(actual.get("id")))
                    if "method" in actual:
                        assert notifications, f"unexpected event {actual}"
                        matches(notifications.pop(0), actual)
                    else:
                        assert actual["id"] in responses, f"unexpected response {actual}"
                        matches(responses.pop(actual["id"]), actual)
                        if methods.get(actual["id"]) == "conversations.create":
                            conversation_id = actual["result"]["conversation"]["id"]

            for block in blocks:
                for line in block.strip().splitlines():
                    arrow, text = line[0], line[1:].strip().replace("FAKE_BASE_URL", fake.base_url)
                    if arrow == "→":
                        await drain()
                        frame = json.loads(text)
                        for key, value in frame.get("params", {}).items():
                            if value == ANY:
                                frame["params"][key] = conversation_id
                        methods[frame.get("id")] = frame["method"]
                        await ws.send(json.dumps(frame))
                    else:
                        assert arrow == "←", line
                        expected.append(json.loads(text))
                await drain()
        return len(blocks)
    finally:
        sc.terminate()


async def test_protocol_guide_examples_run(tmp_path):
    assert await run_examples(DOCS / "protocol.md", tmp_path) >= 5
