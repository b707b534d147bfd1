"""The JSON-RPC 2.0 specification's own examples, with this server's methods in place of
`subtract`, `sum` and `get_data` (https://www.jsonrpc.org/specification#examples)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests import contract


@pytest.fixture
async def ws(shared_sidecar):
    sc = shared_sidecar
    async with connect(sc.url, additional_headers={"Authorization": f"Bearer {sc.token}"}) as ws:
        await ws.send(
            '{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":1}}'
        )
        assert json.loads(await ws.recv())["id"] == "init"
        yield ws


async def exchange(ws, frame: str, reply: bool = True) -> object:
    """Send a frame and return its one answer; with reply=False, prove there is none.

    Requests on one connection run concurrently, so answers may come in any order;
    a marker request sent after the frame shows when everything has been answered.
    """
    await ws.send(frame)
    await ws.send('{"jsonrpc":"2.0","id":"marker","method":"settings.get"}')
    answers, marker = [], False
    while not marker or (reply and not answers):
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if isinstance(message, dict) and message.get("id") == "marker":
            marker = True
            continue
        contract.validate_message(message)
        answers.append(message)
    assert len(answers) == (1 if reply else 0), answers
    return answers[0] if answers else None


def is_error(message, code, ident=None):
    return (
        message["jsonrpc"] == "2.0" and message["error"]["code"] == code and message["id"] == ident
    )


async def test_call_with_named_params(ws):
    reply = await exchange(
        ws, '{"jsonrpc":"2.0","method":"conversations.list","params":{"limit":3},"id":3}'
    )
    assert reply["id"] == 3 and "items" in reply["result"]
    contract.validate_result("conversations.list", reply["result"])


async def test_call_with_positional_params_is_invalid_params(ws):
    reply = await exchange(
        ws, '{"jsonrpc":"2.0","method":"conversations.list","params":[3],"id":1}'
    )
    assert is_error(reply, -32602, 1)


async def test_notification_gets_no_reply(ws):
    assert await exchange(ws, '{"jsonrpc":"2.0","method":"settings.get"}', reply=False) is None
    assert await exchange(ws, '{"jsonrpc":"2.0","method":"no.such.method"}', reply=False) is None


async def test_non_existent_method(ws):
    reply = await exchange(ws, '{"jsonrpc":"2.0","method":"foobar","id":"1"}')
    assert is_error(reply, -32601, "1")
    assert reply["error"]["data"]["reason"] == "METHOD_NOT_FOUND"


async def test_invalid_json(ws):
    reply = await exchange(ws, '{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]')
    assert is_error(reply, -32700)


async def test_invalid_request_object(ws):
    reply = await exchange(ws, '{"jsonrpc":"2.0","method":1,"params":"bar"}')
    assert is_error(reply, -32600)


async def test_batch_invalid_json(ws):
    reply = await exchange(
        ws, '[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},{"jsonrpc":"2.0","method"]'
    )
    assert is_error(reply, -32700)


async def test_empty_array(ws):
    reply = await exchange(ws, "[]")
    assert is_error(reply, -32600)


async def test_invalid_batch_but_not_empty(ws):
    reply = await exchange(ws, "[1]")
    assert isinstance(reply, list) and len(reply) == 1 and is_error(reply[0], -32600)


async def test_invalid_batch(ws):
    reply = await exchange(ws, "[1,2,3]")
    assert isinstance(reply, list) and len(reply) == 3
    assert all(is_error(r, -32600) for r in reply)


async def test_mixed_batch(ws):
    batch = [
        {"jsonrpc": "2.0", "method": "conversations.list", "params": {"limit": 1}, "id": "1"},
        {"jsonrpc": "2.0", "method": "settings.get"},
        {"jsonrpc": "2.0", "method": "systemPrompts.list", "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "settings.get", "id": "9"},
    ]
    reply = await exchange(ws, json.dumps(batch))
    by_id = {r["id"]: r for r in reply if r["id"] is not None}
    assert len(reply) == 5, reply
    assert set(by_id) == {"1", "2", "5", "9"}
    contract.validate_result("conversations.list", by_id["1"]["result"])
    contract.validate_result("systemPrompts.list", by_id["2"]["result"])
    contract.validate_result("settings.get", by_id["9"]["result"])
    assert is_error(by_id["5"], -32601, "5")
    assert [r for r in reply if r["id"] is None][0]["error"]["code"] == -32600


async def test_batch_of_notifications_returns_nothing(ws):
    batch = '[{"jsonrpc":"2.0","method":"settings.get"},{"jsonrpc":"2.0","method":"systemPrompts.list"}]'
    assert await exchange(ws, batch, reply=False) is None


async def test_id_types_are_echoed(ws):
    for ident in ('"abc"', "7", "null", "1.5", "123456789012345678901234567890"):
        reply = await exchange(ws, f'{{"jsonrpc":"2.0","method":"settings.get","id":{ident}}}')
        assert reply["id"] == json.loads(ident)
        assert "result" in reply


async def test_wrong_version_and_extra_members_are_invalid_requests(ws):
    assert is_error(
        await exchange(ws, '{"jsonrpc":"1.0","method":"settings.get","id":1}'), -32600, 1
    )
    assert is_error(await exchange(ws, '{"method":"settings.get","id":1}'), -32600, 1)
    assert is_error(
        await exchange(ws, '{"jsonrpc":"2.0","method":"settings.get","id":1,"x":0}'), -32600, 1
    )
    assert is_error(
        await exchange(ws, '{"jsonrpc":"2.0","method":"settings.get","id":true}'), -32600
    )
