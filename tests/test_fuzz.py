"""Hostile input, generated: every answer is a valid JSON-RPC error, the process stays up,
and the stored state does not change."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from sidecar.rpc.api import METHODS
from tests import contract
from tests.harness import Client

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=20),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
ids = st.one_of(st.integers(-(10**25), 10**25), st.text(max_size=12), st.none())
known = st.sampled_from(sorted(METHODS))


@st.composite
def wrong_params_request(draw):
    """A known method whose params can never validate (an unknown member is always refused)."""
    params = draw(st.dictionaries(st.text(max_size=12), json_value, max_size=3))
    params["zz" + draw(st.text(max_size=5))] = draw(json_value)
    return {"jsonrpc": "2.0", "id": draw(ids), "method": draw(known), "params": params}


@st.composite
def typed_wrong_request(draw):
    """Right member names, wrong types or ranges (huge numbers included)."""
    method = draw(
        st.sampled_from(
            [
                "conversations.list",
                "conversations.get",
                "conversations.update",
                "conversations.delete",
                "branches.switch",
                "events.subscribe",
                "systemPrompts.update",
                "settings.update",
            ]
        )
    )
    bad = st.one_of(
        st.just(10**40),
        st.just(-1),
        st.just(1e308),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
        st.booleans(),
    )
    member = {
        "conversations.list": "limit",
        "conversations.get": "conversationId",
        "conversations.update": "conversationId",
        "conversations.delete": "conversationId",
        "branches.switch": "messageId",
        "events.subscribe": "since",
        "systemPrompts.update": "id",
        "settings.update": "providerRoutes",
    }[method]
    params = {member: draw(bad)}
    if method == "branches.switch":
        params["conversationId"] = "x"
    return {"jsonrpc": "2.0", "id": draw(ids), "method": method, "params": params}


def unknown_method_request():
    return st.builds(
        lambda m, i, p: {"jsonrpc": "2.0", "id": i, "method": m, "params": p},
        st.text(max_size=30).filter(lambda m: m not in METHODS),
        ids,
        st.dictionaries(st.text(max_size=5), json_value, max_size=3),
    )


request_like = st.one_of(
    wrong_params_request(), typed_wrong_request(), unknown_method_request(), json_value
)
frames = st.one_of(
    request_like.map(json.dumps),
    st.lists(request_like, min_size=1, max_size=6).map(json.dumps),
    st.text(max_size=200),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.just('{"jsonrpc":"2.0","id":1,"method":"conversations.list","params":{"limit":1e400}}'),
    st.just('{"jsonrpc":"2.0","id":99999999999999999999999999999,"method":"x"}'),
)


def dump_state(db) -> list[str]:
    con = sqlite3.connect(db)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def test_hostile_frames(shared_sidecar):
    sc = shared_sidecar

    async def setup() -> None:
        c = await Client.open(sc)
        conv = await c.request("conversations.create", {"title": "keep me"})
        await c.request("systemPrompts.create", {"name": "p", "content": "be brief"})
        await c.request("settings.update", {"providerRoutes": {"openai": "sidecar"}})
        assert conv["conversation"]["title"] == "keep me"
        await c.close()

    asyncio.run(setup())
    db = sc.data_dir / "sidecar.db"
    before = dump_state(db)

    async def one(frame: str) -> None:
        async with connect(
            sc.url, additional_headers={"Authorization": f"Bearer {sc.token}"}, max_size=None
        ) as ws:
            await ws.send(
                '{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":1}}'
            )
            await ws.recv()
            await ws.send(frame)
            await ws.send('{"jsonrpc":"2.0","id":"marker","method":"settings.get"}')
            marker = False
            while True:
                try:  # answers may overtake each other: after the marker, wait briefly for stragglers
                    message = json.loads(await asyncio.wait_for(ws.recv(), 0.05 if marker else 10))
                except TimeoutError:
                    assert marker, "no answer to the marker request"
                    return
                if isinstance(message, dict) and message.get("id") == "marker":
                    assert message["result"]["settings"]["providerRoutes"] == {"openai": "sidecar"}
                    marker = True
                    continue
                for item in message if isinstance(message, list) else [message]:
                    assert "error" in item, f"hostile frame {frame[:200]!r} got a result: {item}"
                    contract.validate_message(item)
                    assert "Traceback" not in json.dumps(item)

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(frames)
    def check(frame: str) -> None:
        asyncio.run(one(frame))

    check()
    assert sc.proc.poll() is None, "the sidecar died"
    assert dump_state(db) == before, "hostile input changed stored state"
