"""MCP servers as tool sources, end to end over a real WebSocket, with real servers."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from sidecar.dev.fakes import Script
from tests import mcp_env
from tests.chat_env import chat_env
from tests.harness import Client, RpcFailure, launch
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


async def _add_ready(env, params: dict) -> dict:
    server = (await env.client.request("mcp.servers.add", params))["server"]
    ready = await env.client.wait_for(mcp_env.ready_event(server["id"]), 60)
    return ready["server"]


async def _run_call(env, tool: str, arguments: dict, reply: str = "Done.") -> tuple[str, dict]:
    env.fake.enqueue(Script(text="", tool_calls=[call(tool, arguments)]), Script(text=reply))
    ids = await env.send(f"use {tool}", tools=[tool])
    return ids["assistantMessageId"], ids


async def test_a_server_that_never_answers_fails_that_call_and_the_reply_goes_on(tmp_path):
    async with chat_env(tmp_path) as env:
        server = await _add_ready(
            env, mcp_env.misbehaving_server(approval="never", timeoutSeconds=1.5)
        )
        assert server["tools"][0]["requiresApproval"] is False
        mid, _ = await _run_call(env, "misbehaving__hang", {}, "It did not answer.")
        final = await env.settled(mid, 30)
        assert final["status"] == "complete" and final["content"] == "It did not answer."
        [tc] = final["toolCalls"]
        assert tc["status"] == "failed" and "did not answer" in tc["error"], tc
        assert "did not answer" in env.fake.requests[-1].body["messages"][-1]["content"]

        mid, _ = await _run_call(env, "misbehaving__garbage", {}, "Garbage.")
        final = await env.settled(mid, 30)
        assert final["status"] == "complete"
        assert final["toolCalls"][0]["status"] == "failed"
        assert final["toolCalls"][0]["error"], final["toolCalls"][0]

        mid, _ = await _run_call(env, "misbehaving__echo", {"text": "still here"})
        final = await env.settled(mid, 30)
        assert final["toolCalls"][0]["result"] == "echo: still here", "the server still serves"


async def test_a_server_that_dies_mid_call_fails_that_call_and_comes_back(tmp_path):
    async with chat_env(tmp_path) as env:
        server = await _add_ready(env, mcp_env.misbehaving_server(approval="never"))
        seen = len(env.client.events)
        mid, _ = await _run_call(env, "misbehaving__die", {}, "It crashed.")
        final = await env.settled(mid, 30)
        assert final["status"] == "complete" and final["content"] == "It crashed."
        [tc] = final["toolCalls"]
        assert tc["status"] == "failed" and "stopped before answering" in tc["error"], tc
        # it restarts with backoff: failed (why), starting, ready again
        states = []

        def back(e):
            if e["type"] == "mcp.server.updated" and e["server"]["id"] == server["id"]:
                states.append(e["server"]["state"])
                return e["server"]["state"] == "ready"
            return False

        await env.client.wait_for(
            lambda e: e["seq"] > env.client.events[seen - 1]["seq"] and back(e), 30
        )
        assert states[-3:] == ["failed", "starting", "ready"], states
        mid, _ = await _run_call(env, "misbehaving__echo", {"text": "again"})
        assert (await env.settled(mid, 30))["toolCalls"][0]["result"] == "echo: again"


async def test_a_real_server_killed_mid_call(tmp_path):
    async with chat_env(tmp_path) as env:
        server = await _add_ready(env, mcp_env.everything_server(approval="never"))
        tool = "everything__trigger-long-running-operation"
        assert tool in [t["name"] for t in server["tools"]]
        mid, _ = await _run_call(env, tool, {"duration": 30, "steps": 30}, "Interrupted.")
        await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        pids = mcp_env.processes_of(server["id"])
        assert pids, "the server runs under the sidecar's marker"
        node = [p for p in pids if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"node\0")]
        os.kill(node[0], signal.SIGKILL)
        final = await env.settled(mid, 30)
        assert final["status"] == "complete" and final["content"] == "Interrupted."
        assert final["toolCalls"][0]["status"] == "failed"
        assert "stopped before answering" in final["toolCalls"][0]["error"]
        await env.client.wait_for(
            lambda e: mcp_env.ready_event(server["id"])(e) and e["seq"] > final_seq(env, mid), 60
        )


def final_seq(env, mid: str) -> int:
    return max(e["seq"] for e in env.events_of(mid))


async def test_removing_a_server_while_its_call_runs(tmp_path):
    async with chat_env(tmp_path) as env:
        server = await _add_ready(env, mcp_env.misbehaving_server(approval="never"))
        mid, _ = await _run_call(env, "misbehaving__hang", {}, "Gone.")
        await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        assert mcp_env.processes_of(server["id"])
        await env.client.request("mcp.servers.remove", {"id": server["id"]})
        final = await env.settled(mid, 30)
        assert final["status"] == "complete" and final["content"] == "Gone."
        assert final["toolCalls"][0]["status"] == "failed"
        await env.client.wait_for(
            lambda e: e["type"] == "mcp.server.removed" and e["serverId"] == server["id"]
        )
        assert mcp_env.processes_of(server["id"]) == [], "removed: its processes are gone"
        listed = await env.client.request("mcp.servers.list")
        assert listed["servers"] == []
        tools = await env.client.request("tools.list")
        assert not [t for t in tools["tools"] if t["executor"] == "mcp"]


@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM"])
async def test_no_server_outlives_the_sidecar(tmp_path, how):
    async with chat_env(tmp_path) as env:
        ids = [
            (await _add_ready(env, mcp_env.everything_server()))["id"],
            (await _add_ready(env, mcp_env.misbehaving_server()))["id"],
            (await _add_ready(env, mcp_env.time_server()))["id"],
        ]
        for server_id in ids:
            assert mcp_env.processes_of(server_id)
        if how == "SIGKILL":
            env.sidecar.proc.kill()
        else:
            env.sidecar.proc.terminate()
        env.sidecar.proc.wait(20)
        for server_id in ids:
            mcp_env.wait_until(lambda s=server_id: not mcp_env.processes_of(s), 20)


HEADER_SECRET = "http-header-SECRET-5b2e8a1f90"


async def test_an_http_server_with_a_header_secret(tmp_path):
    http = mcp_env.HttpServer(HEADER_SECRET).start()
    try:
        async with chat_env(tmp_path) as env:
            wrong = (
                await env.client.request(
                    "mcp.servers.add",
                    {
                        "name": "Nokey",
                        "transport": "http",
                        "url": http.url,
                        "headers": {"X-Api-Key": "wrong"},
                    },
                )
            )["server"]
            await env.client.wait_for(mcp_env.state_event(wrong["id"], "failed"), 30)
            await env.client.request("mcp.servers.remove", {"id": wrong["id"]})

            server = await _add_ready(
                env,
                {
                    "name": "Calc",
                    "transport": "http",
                    "url": http.url,
                    "headers": {"X-Api-Key": HEADER_SECRET},
                    "approval": "once",
                },
            )
            assert server["headerNames"] == ["X-Api-Key"]
            assert {t["name"] for t in server["tools"]} == {"calc__add", "calc__slow"}
            mid, _ = await _run_call(env, "calc__add", {"a": 2, "b": 40})
            proposed = await env.client.wait_for(
                lambda e: e["type"] == "tool.execution.proposed" and e["messageId"] == mid
            )
            await env.client.request(
                "tools.approve", {"callId": proposed["callId"], "approved": True}
            )
            final = await env.settled(mid, 30)
            result = final["toolCalls"][0]["result"]
            assert result["content"] == [{"type": "text", "text": "sum=42"}]
            assert result["structuredContent"] == {"result": "sum=42"}
            assert env.fake.requests[-1].body["messages"][-1]["content"] == "sum=42"
            # "once": the same conversation is not asked again
            mid, _ = await _run_call(env, "calc__add", {"a": 1, "b": 1})
            final = await env.settled(mid, 30)
            assert final["toolCalls"][0]["result"]["content"][0]["text"] == "sum=2"
            assert [k for k, _ in tool_events(env, mid)] == ["started", "completed"]

            # the server restarts (same port): the next call reconnects and goes through
            http.stop()
            http.start()
            mid, _ = await _run_call(env, "calc__add", {"a": 3, "b": 4})
            final = await env.settled(mid, 60)
            assert final["toolCalls"][0]["status"] == "completed", final["toolCalls"][0]
            assert final["toolCalls"][0]["result"]["content"][0]["text"] == "sum=7"

            # the server goes away: the call fails, never waits
            http.stop()
            mid, _ = await _run_call(env, "calc__add", {"a": 1, "b": 2}, "Down.")
            final = await env.settled(mid, 90)
            assert final["status"] == "complete"
            assert final["toolCalls"][0]["status"] == "failed", final["toolCalls"][0]

            assert HEADER_SECRET not in env.sidecar.stderr()
            received = "".join(r if isinstance(r, str) else r.decode() for r in env.client.raw)
            assert HEADER_SECRET not in received
            db = (env.sidecar.data_dir / "sidecar.db").read_bytes()
            assert HEADER_SECRET.encode() not in db
    finally:
        http.stop()


VISION = {"vision": True, "tools": True}


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_an_image_result_reaches_a_vision_model_as_the_provider_takes_it(tmp_path, kind):
    async with chat_env(tmp_path, kind) as env:
        await env.client.request(
            "models.upsert",
            {
                "model": {
                    "id": env.model_id,
                    "provider": env.provider_id,
                    "providerModel": f"upstream-{kind}",
                    "capabilities": VISION,
                }
            },
        )
        await _add_ready(env, mcp_env.everything_server(approval="never"))
        mid, _ = await _run_call(env, "everything__get-tiny-image", {}, "A tiny image.")
        final = await env.settled(mid, 30)
        assert final["status"] == "complete", final
        result = final["toolCalls"][0]["result"]
        [image] = [b for b in result["content"] if b["type"] == "image"]
        assert image["mimeType"] == "image/png" and image["data"]
        body = env.fake.requests[-1].body
        if kind == "anthropic":
            [tool_result] = [
                b
                for m in body["messages"]
                if isinstance(m["content"], list)
                for b in m["content"]
                if b.get("type") == "tool_result"
            ]
            kinds = [b["type"] for b in tool_result["content"]]
            assert "image" in kinds and "text" in kinds
            [img] = [b for b in tool_result["content"] if b["type"] == "image"]
            assert img["source"]["data"] == image["data"]
        else:
            tool, after = body["messages"][-2], body["messages"][-1]
            assert tool["role"] == "tool" and "[image (image/png)]" in tool["content"]
            assert after["role"] == "user"
            assert after["content"][1]["image_url"]["url"].endswith(image["data"])


async def test_prompts_and_resources(tmp_path):
    async with chat_env(tmp_path) as env:
        server = await _add_ready(env, mcp_env.everything_server())
        sid = server["id"]
        prompts = (await env.client.request("mcp.prompts.list", {"serverId": sid}))["prompts"]
        [args_prompt] = [p for p in prompts if p["name"] == "args-prompt"]
        assert [a["name"] for a in args_prompt["arguments"]] == ["city", "state"]
        assert args_prompt["arguments"][0]["required"] is True
        got = await env.client.request(
            "mcp.prompts.get",
            {"serverId": sid, "name": "args-prompt", "arguments": {"city": "Lisbon"}},
        )
        assert got["text"] == "What's weather in Lisbon?"
        # usable as a system prompt
        env.fake.enqueue(Script(text="Sunny."))
        ids = await env.send("and?", systemPrompt=got["text"])
        await env.settled(ids["assistantMessageId"])
        assert "What's weather in Lisbon?" in json.dumps(env.fake.requests[-1].body["messages"][0])

        resources = (await env.client.request("mcp.resources.list", {"serverId": sid}))["resources"]
        [doc] = [r for r in resources if r["uri"].endswith("architecture.md")]
        read = await env.client.request("mcp.resources.read", {"serverId": sid, "uri": doc["uri"]})
        [content] = read["contents"]
        assert content["text"] and content["uri"] == doc["uri"]
        # attached to a message as text
        env.fake.enqueue(Script(text="Read it."))
        ids = await env.send(
            "summarize",
            attachments=[
                {"name": doc["name"], "mimeType": "text/markdown", "text": content["text"]}
            ],
        )
        await env.settled(ids["assistantMessageId"])
        assert content["text"] in env.fake.requests[-1].body["messages"][-1]["content"]

        with pytest.raises(RpcFailure) as err:
            await env.client.request("mcp.prompts.get", {"serverId": sid, "name": "no-such"})
        assert err.value.reason == "MCP_SERVER_ERROR"
        with pytest.raises(RpcFailure) as err:
            await env.client.request("mcp.prompts.list", {"serverId": "nope"})
        assert err.value.reason == "NOT_FOUND"


async def test_update_policies_restart_and_disable(tmp_path):
    async with chat_env(tmp_path) as env:
        server = await _add_ready(env, mcp_env.misbehaving_server())
        sid = server["id"]
        updated = await env.client.request(
            "mcp.servers.update",
            {"id": sid, "approval": "never", "toolApprovals": {"echo": "always"}},
        )
        tools = {t["name"]: t for t in updated["server"]["tools"]}
        assert tools["misbehaving__echo"]["requiresApproval"] is True
        assert tools["misbehaving__hang"]["requiresApproval"] is False
        pids = mcp_env.processes_of(sid)
        assert pids, "a policy change does not restart it"
        seen = env.client.events[-1]["seq"]
        await env.client.request(
            "mcp.servers.update", {"id": sid, "args": [str(mcp_env.MISBEHAVING), "--x"]}
        )
        await env.client.wait_for(lambda e: e["seq"] > seen and mcp_env.ready_event(sid)(e), 30)
        mcp_env.wait_until(lambda: not set(pids) & set(mcp_env.processes_of(sid)))
        await env.client.request("mcp.servers.update", {"id": sid, "enabled": False})
        mcp_env.wait_until(lambda: not mcp_env.processes_of(sid))
        listed = await env.client.request("tools.list")
        assert not [t for t in listed["tools"] if t.get("serverId") == sid]
        with pytest.raises(RpcFailure) as err:
            await env.send("x", tools=["misbehaving__echo"])
        assert err.value.code == -32602
        with pytest.raises(RpcFailure):
            await env.client.request(
                "mcp.servers.add", {"name": "bad", "transport": "http", "command": "x"}
            )


async def test_a_server_that_cannot_start_says_why(tmp_path):
    async with chat_env(tmp_path) as env:
        added = await env.client.request(
            "mcp.servers.add",
            {"name": "Nothing", "transport": "stdio", "command": "/no/such/mcp-server"},
        )
        failed = await env.client.wait_for(mcp_env.state_event(added["server"]["id"], "failed"), 30)
        assert "command not found" in failed["server"]["error"]
        hung = await env.client.request(
            "mcp.servers.add", mcp_env.misbehaving_server("--hang-initialize", name="Hung")
        )
        assert hung["server"]["slug"] == "hung"
        listed = await env.client.request("mcp.servers.list")
        assert {s["name"] for s in listed["servers"]} == {"Nothing", "Hung"}
        hung_id = hung["server"]["id"]
        mcp_env.wait_until(lambda: mcp_env.processes_of(hung_id))
    # the sidecar stopped (SIGTERM) while the server was still starting: it went too
    mcp_env.wait_until(lambda: not mcp_env.processes_of(hung_id), 20)


async def test_start_on_launch_and_lazy_start_after_a_restart(tmp_path):
    data = tmp_path / "data"
    sc = launch(data)
    try:
        client = await Client.open(sc)
        eager = (
            await client.request(
                "mcp.servers.add",
                mcp_env.misbehaving_server(name="Eager", startOnLaunch=True, enabled=False),
            )
        )["server"]
        await client.request("mcp.servers.update", {"id": eager["id"], "enabled": True})
        await client.wait_for(mcp_env.ready_event(eager["id"]), 30)
        lazy = await _add_ready(_Env(client), mcp_env.misbehaving_server(name="Lazy"))
        await client.close()
    finally:
        sc.terminate()
    for server in (eager, lazy):
        mcp_env.wait_until(lambda s=server: not mcp_env.processes_of(s["id"]), 20)

    sc = launch(data)
    try:
        client = await Client.open(sc, subscribe=0)  # with the events since the start
        await client.wait_for(mcp_env.ready_event(eager["id"]), 30)
        servers = {s["id"]: s for s in (await client.request("mcp.servers.list"))["servers"]}
        assert servers[lazy["id"]]["state"] == "stopped"
        assert mcp_env.processes_of(lazy["id"]) == [], "started at first use, not before"
        names = [t["name"] for t in servers[lazy["id"]]["tools"]]
        assert "lazy__echo" in names, "its last known tools, before it runs"
        listed = await client.request("tools.list")
        assert "lazy__echo" in [t["name"] for t in listed["tools"]]
        await client.wait_for(mcp_env.ready_event(lazy["id"]), 30)
        await client.close()
    finally:
        sc.kill()
    for server in (eager, lazy):
        mcp_env.wait_until(lambda s=server: not mcp_env.processes_of(s["id"]), 20)


class _Env:
    def __init__(self, client: Client) -> None:
        self.client = client
