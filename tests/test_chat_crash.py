"""Never lose a word across a crash or a stop: what was flushed survives, nothing stays streaming."""

from __future__ import annotations

import asyncio
import json
import signal

from sidecar.dev.fakes import Script
from tests.chat_env import TOKEN, chat_env
from tests.harness import Client, launch


async def stream_until(env, deltas: int) -> tuple[str, list[str]]:
    env.fake.enqueue(Script(text="z" * 4000, chunk_size=4, rate=50))
    ids = await env.send("A long answer please")
    mid = ids["assistantMessageId"]
    await env.client.wait_for(
        lambda e: (
            e["type"] == "assistant.stream.delta" and e["messageId"] == mid and e["index"] == deltas
        ),
        timeout=20,
    )
    return mid, [e["text"] for e in env.client.events if e["type"] == "assistant.stream.delta"]


async def test_sigkill_mid_stream_leaves_interrupted_with_flushed_text(tmp_path):
    async with chat_env(tmp_path) as env:
        mid, _ = await stream_until(env, 20)
        await asyncio.sleep(0.6)  # at least two flush intervals
        seen = "".join(
            e["text"] for e in env.client.events if e["type"] == "assistant.stream.delta"
        )
        env.sidecar.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(env.sidecar.proc.wait, 10)
        env.client.events.clear()  # the recording of the killed session ends mid-stream by design
        restarted = launch(tmp_path / "data", "--token", TOKEN)
        try:
            client = await Client.open(restarted)
            got = await client.request("conversations.get", {"conversationId": env.conversation_id})
            message = next(m for m in got["messages"] if m["id"] == mid)
            assert message["status"] == "interrupted"
            assert message["content"] and seen.startswith(message["content"][: len(seen)])
            assert len(message["content"]) >= len(seen) - 4 * 20, (
                "at most ~one flush window may be lost"
            )
            assert set(message["content"]) == {"z"}
            await client.close()
        finally:
            restarted.terminate()


async def test_sigterm_mid_stream_stores_everything_as_interrupted(tmp_path):
    async with chat_env(tmp_path) as env:
        mid, _ = await stream_until(env, 10)
        env.sidecar.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(env.sidecar.proc.wait, 10) == 0
        seen = "".join(
            e["text"] for e in env.client.events if e["type"] == "assistant.stream.delta"
        )
        # Clients still connected hear how the stream ended before the socket closes.
        failed = next(e for e in env.client.events if e["type"] == "assistant.stream.failed")
        assert (
            failed["error"]["code"] == "interrupted"
            and failed["message"]["status"] == "interrupted"
        )
        assert failed["message"]["content"] == seen
        env.client.events.clear()
        restarted = launch(tmp_path / "data", "--token", TOKEN)
        try:
            client = await Client.open(restarted)
            got = await client.request("conversations.get", {"conversationId": env.conversation_id})
            message = next(m for m in got["messages"] if m["id"] == mid)
            assert message["status"] == "interrupted"
            assert message["error"]["code"] == "interrupted"
            assert message["content"].startswith(seen) and set(message["content"]) == {"z"}
            assert json.dumps(message).count("streaming") == 0
            await client.close()
        finally:
            restarted.terminate()
