"""The commands around `serve`: the recorder and checker on a live sidecar, and the demo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

from tests.harness import Client


async def test_record_then_check_a_live_feed(sidecar, tmp_path):
    out = tmp_path / "events.jsonl"
    recorder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sidecar.dev.recorder",
        "record",
        "--url",
        sidecar.url,
        "--out",
        str(out),
        "--since",
        "0",  # however late it subscribes, it replays from the start
        env={**os.environ, "SIDECAR_TOKEN": sidecar.token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    client = await Client.open(sidecar)
    conv = await client.request("conversations.create", {"title": "recorded"})
    cid = conv["conversation"]["id"]
    await client.request("conversations.update", {"conversationId": cid, "title": "renamed"})
    await client.request("conversations.delete", {"conversationId": cid})
    async with asyncio.timeout(60):  # a last guard: the recorder writes each event as it comes
        # Another process writes the file: reading it again is the only signal there is.
        while not out.exists() or len(out.read_text().splitlines()) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    recorder.send_signal(signal.SIGINT)
    stdout, stderr = await recorder.communicate()
    assert recorder.returncode == 0, stderr
    assert sidecar.token.encode() not in stdout + stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["type"] for e in lines] == [
        "conversation.created",
        "conversation.updated",
        "conversation.deleted",
    ]
    assert [e["seq"] for e in lines] == [1, 2, 3]
    check = subprocess.run(
        [sys.executable, "-m", "sidecar.dev.recorder", "check", str(out)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and json.loads(check.stdout)["ok"] is True
    # A recording with a hole fails the check.
    out.write_text("\n".join(json.dumps(e) for e in (lines[0], lines[2])) + "\n")
    check = subprocess.run(
        [sys.executable, "-m", "sidecar.dev.recorder", "check", str(out)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and json.loads(check.stdout)["ok"] is False
    await client.close()


def test_demo_chats_through_a_fake_provider_and_stops_by_itself():
    proc = subprocess.run(
        [sys.executable, "-m", "sidecar.dev.demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "DEMO_SECONDS": "0.5",
            "OPENAI_API_KEY": "",
            "ANTHROPIC_API_KEY": "",
            "DEEPSEEK_API_KEY": "",
        },
    )
    assert proc.returncode == 0, proc.stderr
    assert "sidecar ready: ws://127.0.0.1:" in proc.stdout
    assert "assistant: You said: Hello! In one sentence, what is a sidecar process?" in proc.stdout
    assert "[complete, " in proc.stdout
    assert "Traceback" not in proc.stderr
