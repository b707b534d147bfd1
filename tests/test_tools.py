"""The tool loop end to end: sidecar tools, client tools, approvals, errors, cancel,
and the exact upstream replay of every step for each provider kind."""

from __future__ import annotations

import asyncio
import json

import pytest

from sidecar.dev.fakes import Script, ToolCallScript
from tests.chat_env import chat_env
from tests.harness import Client, RpcFailure

KINDS = ["openai", "anthropic", "deepseek", "openai-compatible"]


def call(name: str, arguments: dict, call_id: str = "call_1") -> ToolCallScript:
    return ToolCallScript(id=call_id, name=name, arguments=json.dumps(arguments))


def tool_events(env, mid: str) -> list[tuple[str, str]]:
    return [
        (e["type"].rsplit(".", 1)[1], e["callId"])
        for e in env.client.events
        if e["type"].startswith("tool.execution.") and e["messageId"] == mid
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_sidecar_tool_loop_and_replay(tmp_path, kind):
    async with chat_env(tmp_path, kind) as env:
        env.fake.enqueue(
            Script(
                text="Let me compute. ",
                tool_calls=[call("calculate", {"expression": "6*7"})],
                thinking="Use the calculator." if kind == "anthropic" else None,
            ),
            Script(text="It is 42."),
        )
        ids = await env.send("What is 6 times 7?", tools=["calculate"])
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "complete" and final["content"] == "Let me compute. It is 42."
        [tool_call] = final["toolCalls"]
        assert tool_call | {"id": None} == {
            "id": None,
            "providerCallId": "call_1",
            "name": "calculate",
            "arguments": {"expression": "6*7"},
            "status": "completed",
            "result": {"expression": "6*7", "result": 42},
            "error": None,
            "step": 0,
            "executor": "sidecar",
        }
        assert tool_call["id"] != "call_1", "the call has the sidecar's own id"
        assert final["steps"][0]["contentEnd"] == len("Let me compute. ")
        assert tool_events(env, mid) == [
            ("started", tool_call["id"]),
            ("completed", tool_call["id"]),
        ]
        records = [e["usage"] for e in env.client.events if e["type"] == "usage.recorded"]
        assert len(records) == 2, "one usage record per provider call"
        assert final["usage"]["outputTokens"] == sum(r["outputTokens"] for r in records)
        # The second provider call carried the first step and its result.
        second = env.fake.requests[1].body
        assert [t.get("name") or t["function"]["name"] for t in second["tools"]] == ["calculate"]
        text = json.dumps(second["messages"])
        assert '{\\"expression\\":\\"6*7\\",\\"result\\":42}' in text
        if kind == "anthropic":
            assistant = second["messages"][1]
            assert [b["type"] for b in assistant["content"]] == ["thinking", "text", "tool_use"]
            assert assistant["content"][0]["signature"], (
                "the thinking signature goes back unchanged"
            )
            assert second["messages"][2]["content"][0]["type"] == "tool_result"
        else:
            assistant, result = second["messages"][2], second["messages"][3]
            assert assistant["tool_calls"][0]["function"]["name"] == "calculate"
            assert (
                result["role"] == "tool"
                and result["tool_call_id"] == assistant["tool_calls"][0]["id"]
            )
        # A later turn replays the whole loop from the store.
        again = await env.send("Thanks")
        await env.settled(again["assistantMessageId"])
        assert json.dumps(env.fake.requests[-1].body["messages"]).count("6*7") >= 2


async def test_approval_granted_and_denied(tmp_path):
    folder = tmp_path / "allowed"
    folder.mkdir()
    (folder / "notes.txt").write_text("remember the milk")
    async with chat_env(tmp_path) as env:
        await env.client.request("settings.update", {"toolFolders": [str(folder)]})
        read = call("read_file", {"path": str(folder / "notes.txt")})
        env.fake.enqueue(
            Script(text="", tool_calls=[read]), Script(text="You wrote: remember the milk.")
        )
        ids = await env.send("What is in my notes?", tools=["read_file"])
        mid = ids["assistantMessageId"]
        proposed = await env.client.wait_for(lambda e: e["type"] == "tool.execution.proposed")
        assert proposed["name"] == "read_file" and proposed["arguments"] == {
            "path": str(folder / "notes.txt")
        }
        await asyncio.sleep(0.3)
        assert not any(e["type"] == "tool.execution.started" for e in env.client.events), (
            "nothing runs before approval"
        )
        await env.client.request("tools.approve", {"callId": proposed["callId"], "approved": True})
        final = await env.settled(mid)
        assert final["toolCalls"][0]["result"]["content"] == "remember the milk"
        assert [k for k, _ in tool_events(env, mid)] == ["proposed", "started", "completed"]

        env.fake.enqueue(Script(text="", tool_calls=[read]), Script(text="Fine, I won't."))
        ids = await env.send("Read it again", tools=["read_file"])
        mid = ids["assistantMessageId"]
        proposed = await env.client.wait_for(
            lambda e: e["type"] == "tool.execution.proposed" and e["messageId"] == mid
        )
        await env.client.request("tools.approve", {"callId": proposed["callId"], "approved": False})
        final = await env.settled(mid)
        assert final["toolCalls"][0]["status"] == "denied" and final["content"] == "Fine, I won't."
        assert [k for k, _ in tool_events(env, mid)] == ["proposed", "failed"]
        assert "denied" in json.dumps(env.fake.requests[-1].body["messages"][-1])
        with pytest.raises(RpcFailure) as err:
            await env.client.request(
                "tools.approve", {"callId": proposed["callId"], "approved": True}
            )
        assert err.value.reason == "CONFLICT", "a second answer is refused, and says why"


async def test_read_file_outside_allowed_folders_fails_safely(tmp_path):
    async with chat_env(tmp_path) as env:
        await env.client.request("settings.update", {"toolFolders": [str(tmp_path / "allowed")]})
        env.fake.enqueue(
            Script(text="", tool_calls=[call("read_file", {"path": "/etc/passwd"})]),
            Script(text="ok"),
        )
        ids = await env.send("Read /etc/passwd", tools=["read_file"])
        proposed = await env.client.wait_for(lambda e: e["type"] == "tool.execution.proposed")
        await env.client.request("tools.approve", {"callId": proposed["callId"], "approved": True})
        final = await env.settled(ids["assistantMessageId"])
        assert final["toolCalls"][0]["status"] == "failed"
        assert "outside the folders" in final["toolCalls"][0]["error"]
        assert "root:" not in json.dumps(env.fake.requests[-1].body)


async def test_client_tool_answered_late_from_a_new_connection(tmp_path):
    async with chat_env(tmp_path) as env:
        tool = {
            "name": "lookup_contact",
            "description": "Find a contact",
            "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
        }
        registered = await env.client.request("tools.register", tool)
        assert registered["tool"]["executor"] == "client"
        names = [t["name"] for t in (await env.client.request("tools.list"))["tools"]]
        assert names == ["current_time", "calculate", "read_file", "lookup_contact"]
        with pytest.raises(RpcFailure) as err:
            await env.client.request("tools.register", {**tool, "name": "calculate"})
        assert err.value.reason == "CONFLICT"
        env.fake.enqueue(
            Script(text="", tool_calls=[call("lookup_contact", {"name": "Ana"})]),
            Script(text="Ana's number is 123."),
        )
        ids = await env.send("Call Ana", tools=["lookup_contact"])
        mid = ids["assistantMessageId"]
        started = await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        assert started["executor"] == "client"
        last = env.client.events[-1]["seq"]
        await env.client.ws.close()
        await asyncio.sleep(1.0)  # answered late, by a client that reconnected
        back = await Client.open(env.sidecar, subscribe=last)
        await back.request(
            "tools.submitResult", {"callId": started["callId"], "result": {"phone": "123"}}
        )
        final = (
            await back.wait_for(
                lambda e: (
                    e["type"] == "message.updated"
                    and e["message"]["id"] == mid
                    and e["message"]["status"] == "complete"
                )
            )
        )["message"]
        assert (
            final["toolCalls"][0]["result"] == {"phone": "123"}
            and final["content"] == "Ana's number is 123."
        )
        with pytest.raises(RpcFailure) as err:
            await back.request("tools.submitResult", {"callId": started["callId"], "result": 1})
        assert err.value.reason == "CONFLICT"
        # The tool went away with its connection.
        assert "lookup_contact" not in [
            t["name"] for t in (await back.request("tools.list"))["tools"]
        ]
        env.client.events.extend(back.events)
        await back.close()


async def test_a_failing_tool_is_reported_to_the_model(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(
            Script(
                text="",
                tool_calls=[
                    call("calculate", {"expression": "1/0"}),
                    call("current_time", {"timezone": "Europe/Lisbon"}, "call_2"),
                ],
            ),
            Script(text="Division by zero is undefined."),
        )
        ids = await env.send("1/0 and the time?", tools=["calculate", "current_time"])
        final = await env.settled(ids["assistantMessageId"])
        failed, ok = final["toolCalls"]
        assert failed["status"] == "failed" and "division by zero" in failed["error"]
        assert ok["status"] == "completed" and ok["result"]["timezone"] == "Europe/Lisbon"
        assert final["status"] == "complete"
        assert "Error: cannot compute" in json.dumps(env.fake.requests[-1].body["messages"])


async def test_cancel_in_the_middle_of_a_tool_loop(tmp_path):
    async with chat_env(tmp_path) as env:
        await env.client.request(
            "tools.register",
            {"name": "slow", "description": "never answers", "inputSchema": {"type": "object"}},
        )
        env.fake.enqueue(Script(text="Working. ", tool_calls=[call("slow", {})]))
        ids = await env.send("Go", tools=["slow"])
        mid = ids["assistantMessageId"]
        await env.client.wait_for(lambda e: e["type"] == "tool.execution.started")
        assert await env.client.request("chat.cancel", {"messageId": mid}) == {"cancelled": True}
        final = await env.settled(mid)
        assert final["status"] == "cancelled" and final["content"] == "Working. "
        assert final["toolCalls"][0]["status"] == "failed"
        assert len(env.fake.requests) == 1, "no provider call after cancel"


async def test_tool_loop_is_bounded_and_unknown_tools_refused(tmp_path):
    async with chat_env(tmp_path) as env:
        with pytest.raises(RpcFailure) as err:
            await env.send("x", tools=["rm_rf"])
        assert err.value.code == -32602
        env.fake.enqueue(
            *[
                Script(text="", tool_calls=[call("calculate", {"expression": "1+1"}, f"c{i}")])
                for i in range(12)
            ]
        )
        ids = await env.send("Loop forever", tools=["calculate"])
        final = await env.settled(ids["assistantMessageId"])
        completed = next(e for e in env.client.events if e["type"] == "assistant.stream.completed")
        assert completed["finishReason"] == "max_tool_steps"
        assert len(env.fake.requests) == 9 and len(final["steps"]) == 8


async def test_regenerate_and_edit_can_use_tools(tmp_path):
    async with chat_env(tmp_path) as env:
        first = await env.send("What is 2+3?")
        await env.settled(first["assistantMessageId"])
        env.fake.enqueue(
            Script(text="", tool_calls=[call("calculate", {"expression": "2+3"})]),
            Script(text="5."),
        )
        regen = await env.client.request(
            "chat.regenerate", {"messageId": first["assistantMessageId"], "tools": ["calculate"]}
        )
        final = await env.settled(regen["assistantMessageId"])
        assert final["content"] == "5." and final["toolCalls"][0]["result"]["result"] == 5
        env.fake.enqueue(
            Script(text="", tool_calls=[call("calculate", {"expression": "2*3"})]),
            Script(text="6."),
        )
        edited = await env.client.request(
            "chat.edit",
            {
                "messageId": first["userMessageId"],
                "content": "What is 2*3?",
                "tools": ["calculate"],
            },
        )
        final = await env.settled(edited["assistantMessageId"])
        assert final["content"] == "6." and final["toolCalls"][0]["result"]["result"] == 6
        with pytest.raises(RpcFailure) as err:
            await env.client.request(
                "chat.regenerate", {"messageId": first["assistantMessageId"], "tools": ["nope"]}
            )
        assert err.value.code == -32602
