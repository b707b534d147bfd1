"""MCP servers as tool sources, end to end over a real WebSocket, with real servers."""

from __future__ import annotations

import json

import pytest

from sidecar.dev.fakes import Script
from tests import mcp_env
from tests.chat_env import chat_env
from tests.test_tools import call, tool_events

ENV_SECRET = "mcp-env-SECRET-7d1c9e0b4a"


@pytest.fixture(scope="module", autouse=True)
def _servers_installed():
    mcp_env.install()


async def test_a_stdio_server_s_tool_runs_in_the_loop_with_approval(tmp_path):
    async with chat_env(tmp_path) as env:
        added = await env.client.request(
            "mcp.servers.add", mcp_env.time_server(env={"TIME_TOKEN": ENV_SECRET})
        )
        server = added["server"]
        assert server["envNames"] == ["TIME_TOKEN"] and server["transport"] == "stdio"
        ready = await env.client.wait_for(mcp_env.ready_event(server["id"]), 60)
        names = [t["name"] for t in ready["server"]["tools"]]
        assert "time__get_current_time" in names, names
        listed = await env.client.request("tools.list")
        [tool] = [t for t in listed["tools"] if t["name"] == "time__get_current_time"]
        assert tool["executor"] == "mcp" and tool["serverId"] == server["id"]
        assert tool["requiresApproval"] is True
        assert "timezone" in json.dumps(tool["inputSchema"])

        env.fake.enqueue(
            Script(
                text="", tool_calls=[call("time__get_current_time", {"timezone": "Asia/Tokyo"})]
            ),
            Script(text="It is late in Tokyo."),
        )
        ids = await env.send("time in Tokyo?", tools=["time__get_current_time"])
        mid = ids["assistantMessageId"]
        proposed = await env.client.wait_for(lambda e: e["type"] == "tool.execution.proposed")
        await env.client.request("tools.approve", {"callId": proposed["callId"], "approved": True})
        final = await env.settled(mid, 60)
        assert final["status"] == "complete", (final, env.sidecar.stderr()[-3000:])
        assert final["content"] == "It is late in Tokyo."
        [tc] = final["toolCalls"]
        assert tc["status"] == "completed" and tc["executor"] == "mcp"
        assert "Asia/Tokyo" in json.dumps(tc["result"])
        back = env.fake.requests[-1].body["messages"][-1]
        assert back["role"] == "tool" and "Asia/Tokyo" in back["content"]
        assert tool_events(env, mid) == [
            ("proposed", proposed["callId"]),
            ("started", proposed["callId"]),
            ("completed", proposed["callId"]),
        ]
        assert ENV_SECRET not in env.sidecar.stderr()
        received = "".join(r if isinstance(r, str) else r.decode() for r in env.client.raw)
        assert ENV_SECRET not in received
        db = (env.sidecar.data_dir / "sidecar.db").read_bytes()
        assert ENV_SECRET.encode() not in db
