"""Anthropic's redacted and interleaved thinking, followed across every layer: the
provider's bytes, the stored message, and the body of the next tool-loop step and of the
next turn. The fake refuses, as the API does, a tool turn whose thinking blocks did not
come back unchanged and in their order."""

from __future__ import annotations

import json

import pytest

from sidecar.dev.fakes import FakeProvider, Script
from sidecar.dev.fakes.reply import signature_for
from tests.chat_env import chat_env
from tests.test_responses import reasoning_model
from tests.test_tools import call

BLOB = "EmwKAhgBEgy3va3pzix/LafPsn4aDHr4ZqZfake"
LATER = "EqQBCgIYAhIM1gbcDa9GJwZAnot/shown"


def _assistant_blocks(body: dict) -> list[list[str]]:
    return [[b["type"] for b in m["content"]] for m in body["messages"] if m["role"] == "assistant"]


async def test_redacted_thinking_goes_back_on_the_next_step_and_the_next_turn(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        env.fake.enqueue(
            Script(
                text="Let me compute. ",
                thinking="Use the calculator.",
                redacted_thinking=[BLOB],
                tool_calls=[call("calculate", {"expression": "6*7"}, "")],
            ),
            Script(text="It is 42."),
        )
        ids = await env.send("What is 6 times 7?", tools=["calculate"])
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete", final["error"]
        assert final["content"] == "Let me compute. It is 42."
        assert final["thinking"] == "Use the calculator.", "redacted thinking is never shown"
        assert final["steps"][0]["redactedThinking"] == [BLOB]
        stored = await env.stored(ids["assistantMessageId"])
        assert stored["steps"] == final["steps"]
        assert BLOB not in json.dumps(
            [e for e in env.events_of(ids["assistantMessageId"]) if "delta" in e["type"]]
        )

        step = env.fake.requests[1].body
        assert _assistant_blocks(step) == [["thinking", "redacted_thinking", "text", "tool_use"]]
        assert step["messages"][1]["content"][1] == {"type": "redacted_thinking", "data": BLOB}

        # A plain reply's redacted thinking is kept too, and both go back on the next turn.
        env.fake.enqueue(Script(text="Sure.", redacted_thinking=[LATER]))
        more = await env.send("And 6 times 8?")
        plain = await env.settled(more["assistantMessageId"])
        assert plain["steps"] == [
            {
                "contentEnd": len("Sure."),
                "thinkingEnd": 0,
                "thinkingSignature": None,
                "redactedThinking": [LATER],
                "reasoningItems": [],
                "contentOrder": [],
            }
        ]
        env.fake.enqueue(Script(text="Bye."))
        last = await env.send("Thanks")
        await env.settled(last["assistantMessageId"])
        body = env.fake.requests[-1].body
        sent = json.dumps(body)
        assert sent.count(BLOB) == 1 and sent.count(LATER) == 1
        assert _assistant_blocks(body) == [
            ["thinking", "redacted_thinking", "text", "tool_use"],
            ["text"],
            ["redacted_thinking", "text"],
        ]


async def test_the_fake_refuses_a_tool_turn_without_its_thinking():
    """The check the test above relies on: drop or forge the blocks and the API says 400."""
    import httpx

    async with FakeProvider("anthropic") as fake:
        fake.enqueue(
            Script(
                text="",
                thinking="hmm",
                redacted_thinking=[BLOB],
                tool_calls=[call("calculate", {"expression": "1"}, "toolu_x")],
            ),
            Script(text="done"),
        )
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        url = f"{fake.base_url}/v1/messages"
        request = {"model": "claude-sonnet-fake", "max_tokens": 10}
        async with httpx.AsyncClient() as http:
            user = {"role": "user", "content": "go"}
            first = await http.post(url, headers=headers, json={**request, "messages": [user]})
            content = first.json()["content"]
            assert [b["type"] for b in content] == ["thinking", "redacted_thinking", "tool_use"]
            result = {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}],
            }

            async def step(blocks: list) -> httpx.Response:
                turn = [user, {"role": "assistant", "content": blocks}, result]
                return await http.post(url, headers=headers, json={**request, "messages": turn})

            dropped = await step([content[0], content[2]])
            assert dropped.status_code == 400
            assert "cannot be modified" in dropped.json()["error"]["message"]
            forged = await step(
                [content[0], {"type": "redacted_thinking", "data": "x"}, content[2]]
            )
            assert forged.status_code == 400
            assert "Invalid `data`" in forged.json()["error"]["message"]
            echoed = await step(content)
            assert echoed.status_code == 200 and echoed.json()["content"][0]["text"] == "done"


INTERLEAVED = ["thinking", "text", "tool_use", "thinking", "tool_use"]


async def test_interleaved_thinking_keeps_every_block_and_signature_in_order(tmp_path):
    """One response thinks, says something, calls a tool, thinks again and calls another:
    both thinking blocks are shown, stored with their own signatures, and sent back in
    that order on the next step and the next turn (the fake accepts nothing else)."""
    async with chat_env(tmp_path, "anthropic") as env:
        env.fake.enqueue(
            Script(
                text="Adding, then multiplying. ",
                thinking="First I add.",
                thinking_blocks=["Now I multiply."],
                tool_calls=[
                    call("calculate", {"expression": "2+3"}, ""),
                    call("calculate", {"expression": "4*5"}, ""),
                ],
                block_order=INTERLEAVED,
                chunk_size=5,
            ),
            Script(text="5 and 20.", thinking="Both done."),
        )
        ids = await env.send("2+3 and 4*5?", tools=["calculate"])
        final = await env.settled(ids["assistantMessageId"])
        assert final["status"] == "complete", final["error"]
        assert final["content"] == "Adding, then multiplying. 5 and 20."
        assert final["thinking"].startswith("First I add.\n\nNow I multiply.")
        shown = "".join(
            e["text"]
            for e in env.events_of(ids["assistantMessageId"])
            if e["type"] == "agent.thinking.delta"
        )
        assert shown == final["thinking"], "the events show what is stored"
        order = final["steps"][0]["contentOrder"]
        assert [b["type"] for b in order] == INTERLEAVED
        assert [b["signature"] for b in order if b["type"] == "thinking"] == [
            signature_for("First I add."),
            signature_for("Now I multiply."),
        ]
        assert (await env.stored(ids["assistantMessageId"]))["steps"] == final["steps"]

        def replayed(body: dict) -> list[dict]:
            return next(m["content"] for m in body["messages"] if m["role"] == "assistant")

        step = replayed(env.fake.requests[1].body)
        assert [b["type"] for b in step] == INTERLEAVED
        assert [b.get("thinking") for b in step if b["type"] == "thinking"] == [
            "First I add.",
            "Now I multiply.",
        ]
        assert step[1]["text"] == "Adding, then multiplying. "

        env.fake.enqueue(Script(text="Bye."))
        more = await env.send("Thanks")
        assert (await env.settled(more["assistantMessageId"]))["status"] == "complete"
        again = replayed(env.fake.requests[2].body)
        assert [b["type"] for b in again] == INTERLEAVED


async def test_the_fake_refuses_interleaved_thinking_put_back_in_another_order():
    """What the test above relies on: the same blocks in the plain order are a 400."""
    import httpx

    async with FakeProvider("anthropic") as fake:
        fake.enqueue(
            Script(
                text="Both.",
                thinking="one",
                thinking_blocks=["two"],
                tool_calls=[call("calculate", {"expression": "1"}, "toolu_y")],
                block_order=["thinking", "text", "thinking", "tool_use"],
            ),
            Script(text="done"),
        )
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        url = f"{fake.base_url}/v1/messages"
        request = {"model": "claude-sonnet-fake", "max_tokens": 10}
        async with httpx.AsyncClient() as http:
            user = {"role": "user", "content": "go"}
            first = await http.post(url, headers=headers, json={**request, "messages": [user]})
            content = first.json()["content"]
            result = {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_y"}],
            }

            async def step(blocks: list) -> httpx.Response:
                turn = [user, {"role": "assistant", "content": blocks}, result]
                return await http.post(url, headers=headers, json={**request, "messages": turn})

            plain = await step([content[0], content[2], content[1], content[3]])
            assert plain.status_code == 400
            assert "cannot be modified" in plain.json()["error"]["message"]
            assert (await step(content)).status_code == 200


async def test_signed_and_redacted_thinking_go_back_only_to_the_model_that_wrote_them(tmp_path):
    async with chat_env(tmp_path, "anthropic") as env:
        env.fake.enqueue(Script(text="Four.", thinking="2+2.", redacted_thinking=[BLOB]))
        first = await env.send("2+2?")
        assert (await env.settled(first["assistantMessageId"]))["status"] == "complete"
        await env.client.request(
            "models.upsert",
            {"model": {"id": "other", "provider": "anthropic", "providerModel": "claude-other"}},
        )
        env.fake.enqueue(Script(text="Five."))
        second = await env.send("And 2+3?", modelId="other")
        assert (await env.settled(second["assistantMessageId"]))["status"] == "complete"
        body = env.fake.requests[-1].body
        assert _assistant_blocks(body) == [["text"]], "another model cannot verify them"
        assert BLOB not in json.dumps(body) and signature_for("2+2.") not in json.dumps(body)


@pytest.mark.parametrize(
    ("kind", "api"), [("openai", None), ("anthropic", None), ("deepseek", None)]
)
async def test_cancel_mid_reasoning_keeps_the_thinking_so_far(tmp_path, kind, api):
    """Stopped while the model still reasons (a Responses summary, an Anthropic thinking
    block, DeepSeek's reasoning_content): the upstream is closed, the thinking so far is
    stored with the cancelled reply, and its thinking is closed before the terminal event."""
    async with chat_env(tmp_path, kind, api=api) as env:
        if kind == "openai":
            await reasoning_model(env)
        env.fake.enqueue(Script(thinking="hmm " * 100, text="Done.", chunk_size=4, rate=40))
        mid = (await env.send("Think hard"))["assistantMessageId"]
        seen: list[str] = []

        def three_thoughts(e: dict) -> bool:
            if e["type"] == "agent.thinking.delta" and e["messageId"] == mid:
                seen.append(e["text"])
            return len(seen) >= 3

        await env.client.wait_for(three_thoughts)
        assert await env.client.request("chat.cancel", {"messageId": mid}) == {"cancelled": True}
        await env.fake.wait_disconnect(5.0)
        final = await env.settled(mid)
        assert final["status"] == "cancelled" and final["content"] == ""
        assert final["thinking"].startswith("".join(seen)) and "hmm" in final["thinking"]
        assert (await env.stored(mid))["thinking"] == final["thinking"]
        kinds = [e["type"] for e in env.events_of(mid)]
        assert kinds.index("agent.thinking.completed") < kinds.index("assistant.stream.cancelled")
