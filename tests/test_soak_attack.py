"""Regression tests for what the soak's attack phase found: frames that broke or stalled
the dispatcher before it was fixed."""

from __future__ import annotations

import asyncio
import json
import time

from tests.harness import Client

CALL = '{"jsonrpc":"2.0","id":1,"method":"settings.get"}'


async def answer_to(client: Client, frame: str, timeout: float = 30) -> object:
    """Send a frame outside the client's request bookkeeping and return the next frame
    it receives (only use while nothing else is in flight)."""
    seen = len(client.raw)
    await client.send_raw(frame)
    deadline = time.monotonic() + timeout
    while len(client.raw) == seen:
        assert time.monotonic() < deadline, "no answer"
        await asyncio.sleep(0.01)
    return json.loads(client.raw[seen])


async def test_a_frame_of_a_thousand_nested_arrays_is_answered_and_the_connection_stays(sidecar):
    """The float-id check recursed into nested arrays: 1,000 levels (which orjson parses)
    raised RecursionError in the read loop and the connection died with 1011."""
    client = await Client.open(sidecar)
    for depth in (1000, 1023):
        answer = await answer_to(client, "[" * depth + "]" * depth)
        assert answer[0]["error"]["data"]["reason"] == "INVALID_REQUEST"
    assert (await client.request("settings.get"))["settings"] is not None
    await client.close()
    assert "RecursionError" not in sidecar.stderr()


async def test_a_huge_batch_is_refused_whole_while_another_client_is_answered(sidecar):
    """A 16 MiB batch of 300,000 calls used to run whole, every other client waiting
    behind it for minutes. A batch now counts as its number of requests against the
    in-flight limit (256), and a larger one is one Invalid Request."""
    sender = await Client.open(sidecar)
    other = await Client.open(sidecar)
    started = time.monotonic()
    refused = asyncio.create_task(answer_to(sender, "[" + ",".join([CALL] * 300_000) + "]"))
    await other.request("settings.get")
    assert time.monotonic() - started < 5, "another client waited behind the batch"
    answer = await refused
    assert answer["id"] is None and answer["error"]["data"]["reason"] == "INVALID_REQUEST"
    assert "at most 256" in answer["error"]["data"]["detail"]
    full = await answer_to(sender, "[" + ",".join([CALL] * 256) + "]")
    assert len(full) == 256 and all("result" in a for a in full)
    await sender.close()
    await other.close()
