"""Who may connect, frame limits, ordering, resume and backpressure, over real sockets."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import pytest
import websockets
from websockets.asyncio.client import connect

from tests.harness import Client, RpcFailure, launch, seqs


def handshake(port: int, headers: dict[str, str], path: str = "/") -> int:
    """Send a raw WebSocket upgrade and return the HTTP status code."""
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall("\r\n".join(lines).encode())
        status = s.recv(4096).split(b"\r\n", 1)[0]
    return int(status.split()[1])


def test_handshake_rules(sidecar):
    port, token = sidecar.port, sidecar.token
    host = f"127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    assert handshake(port, {"Host": host}) == 401
    assert handshake(port, {"Host": host, "Authorization": "Bearer wrong"}) == 401
    assert handshake(port, {"Host": host, "Authorization": f"Basic {token}"}) == 401
    assert handshake(port, {"Host": host}, path="/?token=nope") == 401
    assert handshake(port, {"Host": host, **auth}) == 101
    assert handshake(port, {"Host": host}, path=f"/?token={token}") == 101
    assert handshake(port, {"Host": f"localhost:{port}", **auth}) == 101
    assert handshake(port, {"Host": f"[::1]:{port}", **auth}) == 101
    # Origins: browsers always send one; only the Tauri webview's are allowed by default.
    assert handshake(port, {"Host": host, "Origin": "https://evil.example", **auth}) == 403
    assert handshake(port, {"Host": host, "Origin": "https://evil.example"}) == 403
    assert handshake(port, {"Host": host, "Origin": "null", **auth}) == 403
    for origin in ("tauri://localhost", "http://tauri.localhost", "https://tauri.localhost"):
        assert handshake(port, {"Host": host, "Origin": origin, **auth}) == 101
    # DNS rebinding: a page on attacker.example resolving to 127.0.0.1.
    assert handshake(port, {"Host": "attacker.example", **auth}) == 403
    assert handshake(port, {"Host": f"attacker.example:{port}", **auth}) == 403
    assert handshake(port, {"Host": f"127.0.0.1:{port + 1}", **auth}) == 403
    log = sidecar.stderr()
    assert token not in log and "token=" not in log


def test_allow_origin_flag(tmp_path):
    sc = launch(tmp_path, "--allow-origin", "http://localhost:1420")
    try:
        host = f"127.0.0.1:{sc.port}"
        auth = {"Authorization": f"Bearer {sc.token}"}
        assert handshake(sc.port, {"Host": host, "Origin": "http://localhost:1420", **auth}) == 101
        assert handshake(sc.port, {"Host": host, "Origin": "http://localhost:5174", **auth}) == 403
    finally:
        sc.terminate()


async def test_not_initialized_before_initialize(sidecar):
    client = await Client.open(sidecar, initialize=False, subscribe=False)
    with pytest.raises(RpcFailure) as err:
        await client.request("settings.get")
    assert err.value.code == -32005 and err.value.reason == "NOT_INITIALIZED"
    with pytest.raises(RpcFailure) as err:
        await client.request("events.subscribe", {})
    assert err.value.reason == "NOT_INITIALIZED"
    result = await client.request("initialize", {"protocolVersion": 1, "clientInfo": {"name": "t"}})
    assert result["protocolVersion"] == 1 and result["lastSeq"] == 0
    assert "conversations.create" in result["capabilities"]["methods"]
    assert (await client.request("settings.get"))["settings"]["providerRoutes"] == {}
    await client.close()


async def test_oversized_frame_closes_with_1009_and_server_stays_up(tmp_path):
    sc = launch(tmp_path, "--max-frame-bytes", "4096")
    try:
        big = await Client.open(sc)
        other = await Client.open(sc)
        await big.send_raw(
            '{"jsonrpc":"2.0","id":1,"method":"settings.get","params":{"x":"' + "a" * 5000 + '"}}'
        )
        await asyncio.wait_for(big._reader, 5)
        assert big.ws.close_code == 1009
        assert (await other.request("conversations.create", {"title": "still here"}))[
            "conversation"
        ]["title"] == "still here"
        await other.close()
    finally:
        assert sc.terminate() == 0


async def test_events_go_out_before_the_response_of_the_request_that_caused_them(sidecar):
    client = await Client.open(sidecar)
    result = await client.request("conversations.create", {"title": "ordered"})
    event = client.events[-1]
    assert event["type"] == "conversation.created" and event["seq"] == result["seq"]
    assert client.order[-2:] == [("event", result["seq"]), ("response", 3)]
    await client.close()


async def test_seq_is_gap_free_across_clients_and_snapshots_carry_it(sidecar):
    a = await Client.open(sidecar)
    b = await Client.open(sidecar)
    created = await asyncio.gather(
        *(a.request("conversations.create", {"title": f"c{i}"}) for i in range(20))
    )
    await b.wait_for(lambda e: e["seq"] == 20)
    assert seqs(a.events) == list(range(1, 21)) == seqs(b.events)
    assert sorted(r["seq"] for r in created) == list(range(1, 21))
    listing = await a.request("conversations.list", {"limit": 5})
    assert listing["seq"] == 20
    got = await a.request("conversations.get", {"conversationId": created[0]["conversation"]["id"]})
    assert got["seq"] == 20
    await a.close()
    await b.close()


async def test_resume_with_since_gets_exactly_the_missed_events(sidecar):
    a = await Client.open(sidecar)
    for i in range(3):
        await a.request("conversations.create", {"title": f"before {i}"})
    last_seen = a.events[-1]["seq"]
    await a.close()
    writer = await Client.open(sidecar, subscribe=False)
    missed = [
        await writer.request("conversations.create", {"title": f"missed {i}"}) for i in range(4)
    ]
    back = await Client.open(sidecar, subscribe=False)
    result = await back.request("events.subscribe", {"since": last_seen})
    assert result == {"lastSeq": last_seen + 4, "replayed": 4}
    assert seqs(back.events) == [r["seq"] for r in missed]
    assert [e["conversation"]["title"] for e in back.events] == [f"missed {i}" for i in range(4)]
    live = await writer.request("conversations.create", {"title": "live"})
    event = await back.wait_for(lambda e: e["seq"] == live["seq"])
    assert event["conversation"]["title"] == "live"
    assert seqs(back.events) == list(range(last_seen + 1, live["seq"] + 1))
    # Subscribing from the current seq replays nothing and duplicates nothing.
    again = await Client.open(sidecar, subscribe=live["seq"])
    assert again.events == []
    for c in (writer, back, again):
        await c.close()


async def test_since_outside_the_replay_window_is_resync_required(tmp_path):
    sc = launch(tmp_path, "--replay-buffer", "5")
    try:
        c = await Client.open(sc)
        for i in range(10):
            await c.request("conversations.create", {"title": str(i)})
        late = await Client.open(sc, subscribe=False)
        with pytest.raises(RpcFailure) as err:
            await late.request("events.subscribe", {"since": 4})
        assert err.value.code == -32003 and err.value.reason == "RESYNC_REQUIRED"
        assert err.value.data["oldestSeq"] == 6 and err.value.data["lastSeq"] == 10
        with pytest.raises(RpcFailure) as err:
            await late.request("events.subscribe", {"since": 11})  # a seq from another session
        assert err.value.reason == "RESYNC_REQUIRED"
        # A refused resubscribe leaves the live feed of an already subscribed client alone.
        with pytest.raises(RpcFailure):
            await c.request("events.subscribe", {"since": 1})
        await late.request("conversations.create", {"title": "still live"})
        assert (await c.wait_for(lambda e: e["seq"] == 11))["conversation"]["title"] == "still live"
        ok = await late.request("events.subscribe", {"since": 6})
        assert ok == {"lastSeq": 11, "replayed": 5} and seqs(late.events) == [7, 8, 9, 10, 11]
        await c.close()
        await late.close()
    finally:
        sc.terminate()


async def test_slow_reader_is_closed_with_4008_while_others_keep_receiving(tmp_path):
    sc = launch(tmp_path, "--send-queue", "8")
    try:
        slow = await connect(
            sc.url,
            additional_headers={"Authorization": f"Bearer {sc.token}"},
            max_queue=1,
            max_size=None,
        )
        await slow.send(
            '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}'
        )
        await slow.recv()
        await slow.send('{"jsonrpc":"2.0","id":2,"method":"events.subscribe","params":{}}')
        await slow.recv()
        fast = await Client.open(sc)
        writer = await Client.open(sc, subscribe=False)
        prompt = "x" * 400_000  # big events fill the socket buffers quickly
        for i in range(60):
            await writer.request("conversations.create", {"title": str(i), "systemPrompt": prompt})
        await fast.wait_for(lambda e: e["seq"] == 60, timeout=30)
        assert seqs(fast.events) == list(range(1, 61))
        # Now the slow client drains what it has: the stream ends with 4008.
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(slow.recv(), 15)
        assert slow.close_code == 4008
        assert "4008" in sc.stderr()
        # The fast client is untouched and a resumed client catches up.
        resumed = await Client.open(sc, subscribe=30)
        assert seqs(resumed.events) == list(range(31, 61))
        for c in (fast, writer, resumed):
            await c.close()
    finally:
        assert sc.terminate() == 0


async def test_a_slow_request_does_not_block_the_next_frame(sidecar):
    """A write held up by another process's lock on the database; a later frame still answers."""
    import sqlite3

    client = await Client.open(sidecar)
    blocker = sqlite3.connect(sidecar.data_dir / "sidecar.db", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        slow = asyncio.create_task(client.call("conversations.create", {"title": "waits"}))
        await asyncio.sleep(0.2)
        fast = await client.request("initialize", {"protocolVersion": 1})
        assert fast["protocolVersion"] == 1
        assert not slow.done()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert (await slow)["result"]["conversation"]["title"] == "waits"
    await client.close()
