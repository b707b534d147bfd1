"""The OpenAI Responses API adapter: its request body and event parsing (against canned
bytes), then whole turns through a sidecar process and the fake's Responses dialect."""

from __future__ import annotations

import json

import orjson
import pytest

from sidecar.dev.fakes import Script, Usage
from sidecar.protocol.objects import ModelProfile
from sidecar.providers import (
    ChatMessage,
    Finish,
    OpenAIChatProvider,
    OpenAIResponsesProvider,
    ReasoningItem,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallRef,
    ToolCallStart,
    ToolSpec,
    UsagePart,
)
from tests.chat_env import PRICING, chat_env
from tests.harness import RpcFailure
from tests.test_chat import assert_lifecycle
from tests.test_providers import (
    Upstream,
    collect,
    collect_error,
    events,
    json_response,
    make_provider,
    request,
    stream_response,
)
from tests.test_tools import call

USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 300,
    "output_tokens_details": {"reasoning_tokens": 256},
    "total_tokens": 1500,
}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA-enc"}


def responses(up: Upstream, **config) -> OpenAIResponsesProvider:
    provider = make_provider("openai", up, api="responses", **config)
    assert isinstance(provider, OpenAIResponsesProvider)
    return provider


def stream(*pairs: tuple[str, dict]) -> bytes:
    return events(
        *(
            (name, {"type": name, "sequence_number": i, **obj})
            for i, (name, obj) in enumerate(pairs)
        )
    )


def completed(status: str = "completed", **extra) -> tuple[str, dict]:
    name = {"completed": "response.completed", "incomplete": "response.incomplete"}[status]
    return name, {"response": {"id": "resp_1", "status": status, "usage": USAGE, **extra}}


# --- adapter ------------------------------------------------------------------------------


def test_create_provider_picks_the_api():
    up = Upstream(stream_response(b""))
    assert isinstance(make_provider("openai", up, api=None), OpenAIResponsesProvider)
    assert isinstance(make_provider("openai", up, api="chat"), OpenAIChatProvider)
    assert isinstance(make_provider("openai-compatible", up, api=None), OpenAIChatProvider)
    assert isinstance(
        make_provider("openai-compatible", up, api="responses"), OpenAIResponsesProvider
    )
    assert isinstance(make_provider("deepseek", up, api="responses"), OpenAIChatProvider)


async def test_request_body_input_items_tools_and_reasoning():
    up = Upstream(stream_response(stream(completed())))
    messages = [
        ChatMessage(role="user", content="Look", images=[("image/png", "iVBO")]),
        ChatMessage(
            role="assistant",
            content="Checking.",
            tool_calls=[
                ToolCallRef("call_a", "calc", '{"x":1}'),
                ToolCallRef("call_b", "calc", ""),
            ],
            reasoning_items=[REASONING],
        ),
        ChatMessage(role="tool", content="1", tool_call_id="call_a"),
        ChatMessage(role="tool", content="2", tool_call_id="call_b"),
    ]
    tool = ToolSpec("calc", "Computes.", {"type": "object"})
    req = request(messages=messages, system="Be brief.", max_output_tokens=99, tools=[tool])
    req.temperature, req.top_p = 0.5, 0.9
    req.profile = ModelProfile(thinking="summaries", efforts=["low", "medium", "high"], sampling=[])
    await collect(responses(up), req)
    assert str(up.requests[0].url) == "https://api.openai.com/v1/responses"
    assert up.requests[0].headers["authorization"].startswith("Bearer ")
    assert up.body() == {
        "model": "m",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look"},
                    {
                        "type": "input_image",
                        "image_url": "data:image/png;base64,iVBO",
                        "detail": "auto",
                    },
                ],
            },
            REASONING,
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking."}],
            },
            {"type": "function_call", "call_id": "call_a", "name": "calc", "arguments": '{"x":1}'},
            {"type": "function_call", "call_id": "call_b", "name": "calc", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "1"},
            {"type": "function_call_output", "call_id": "call_b", "output": "2"},
        ],
        "store": False,
        "stream": True,
        "instructions": "Be brief.",
        "max_output_tokens": 99,
        "reasoning": {"summary": "auto"},
        "include": ["reasoning.encrypted_content"],
        "tools": [
            {
                "type": "function",
                "name": "calc",
                "description": "Computes.",
                "parameters": {"type": "object"},
                "strict": False,
            }
        ],
    }
    req.effort = "max"
    await collect(responses(up), req)
    assert up.body()["reasoning"] == {"summary": "auto", "effort": "high"}, "max: the highest"
    req.profile = ModelProfile()
    await collect(responses(up), req)
    body = up.body()
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert "reasoning" not in body and "include" not in body


async def test_text_reasoning_calls_usage_and_finish():
    body = stream(
        ("response.created", {"response": {"id": "resp_1", "status": "in_progress"}}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": {"id": "rs_1", "type": "reasoning", "summary": []}},
        ),
        (
            "response.reasoning_summary_text.delta",
            {"item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "Think"},
        ),
        (
            "response.reasoning_summary_text.delta",
            {"item_id": "rs_1", "output_index": 0, "summary_index": 1, "delta": "More"},
        ),
        (
            "response.output_item.done",
            {"output_index": 0, "item": {**REASONING, "status": "completed"}},
        ),
        (
            "response.output_text.delta",
            {"item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "Hi"},
        ),
        ("response.something_new", {"delta": "ignored"}),
        (
            "response.output_item.added",
            {
                "output_index": 2,
                "item": {
                    "id": "fc_1",
                    "type": "function_call",
                    "call_id": "call_a",
                    "name": "calc",
                    "arguments": "",
                },
            },
        ),
        (
            "response.function_call_arguments.delta",
            {"item_id": "fc_1", "output_index": 2, "delta": '{"x"'},
        ),
        (
            "response.function_call_arguments.delta",
            {"item_id": "fc_1", "output_index": 2, "delta": ":1}"},
        ),
        (
            "response.output_item.done",
            {
                "output_index": 2,
                "item": {
                    "id": "fc_1",
                    "type": "function_call",
                    "call_id": "call_a",
                    "name": "calc",
                    "arguments": '{"x":1}',
                },
            },
        ),
        (
            "response.output_item.done",
            {
                "output_index": 3,
                "item": {
                    "id": "fc_2",
                    "type": "function_call",
                    "call_id": "call_b",
                    "name": "calc",
                    "arguments": "{}",
                },
            },
        ),
        completed(),
    )
    parts = await collect(responses(Upstream(stream_response(b": keep-alive\n\n" + body))))
    assert parts == [
        ThinkingDelta("Think"),
        ThinkingDelta("\n\nMore"),
        ReasoningItem(REASONING),
        TextDelta("Hi"),
        ToolCallStart(0, "call_a", "calc"),
        ToolCallDelta(0, '{"x"'),
        ToolCallDelta(0, ":1}"),
        ToolCallEnd(0),
        ToolCallStart(1, "call_b", "calc"),  # only its done event: sent whole
        ToolCallDelta(1, "{}"),
        ToolCallEnd(1),
        UsagePart(
            input_tokens=1200, output_tokens=300, reasoning_tokens=256, cache_read_tokens=1024
        ),
        Finish("tool_calls"),
    ]


async def test_a_reasoning_item_without_encrypted_content_is_not_kept():
    item = {"type": "reasoning", "id": "rs_2", "summary": [{"type": "summary_text", "text": "Hm"}]}
    body = stream(("response.output_item.done", {"output_index": 0, "item": item}), completed())
    parts = await collect(responses(Upstream(stream_response(body))))
    assert parts[0] == ThinkingDelta("Hm") and not any(isinstance(p, ReasoningItem) for p in parts)


@pytest.mark.parametrize(
    ("reason", "finish"), [("max_output_tokens", "length"), ("content_filter", "content_filter")]
)
async def test_incomplete_is_a_finish_reason(reason, finish):
    body = stream(
        ("response.output_text.delta", {"output_index": 0, "delta": "cut"}),
        completed("incomplete", incomplete_details={"reason": reason}),
    )
    parts = await collect(responses(Upstream(stream_response(body))))
    assert parts[0] == TextDelta("cut") and parts[-1] == Finish(finish)


@pytest.mark.parametrize(
    ("event", "code", "retryable"),
    [
        (
            (
                "response.failed",
                {
                    "response": {
                        "status": "failed",
                        "error": {"code": "server_error", "message": "Oops"},
                    }
                },
            ),
            "server_error",
            True,
        ),
        (
            (
                "response.failed",
                {
                    "response": {
                        "status": "failed",
                        "error": {"code": "rate_limit_exceeded", "message": "Slow down"},
                    }
                },
            ),
            "rate_limited",
            True,
        ),
        (
            (
                "response.failed",
                {
                    "response": {
                        "status": "failed",
                        "error": {"code": "invalid_prompt", "message": "No"},
                    }
                },
            ),
            "bad_request",
            False,
        ),
        (
            ("error", {"code": "context_length_exceeded", "message": "Too long", "param": "input"}),
            "context_length",
            False,
        ),
    ],
)
async def test_failed_and_error_events(event, code, retryable):
    body = stream(("response.output_text.delta", {"output_index": 0, "delta": "a"}), event)
    up = Upstream(stream_response(body))
    parts, err = await collect_error(responses(up))
    assert parts == [TextDelta("a")]
    assert err.code == code and err.retryable is retryable
    assert len(up.requests) == 1


async def test_stream_without_an_ending_is_incomplete():
    body = stream(("response.output_text.delta", {"output_index": 0, "delta": "a"}))
    _, err = await collect_error(responses(Upstream(stream_response(body))))
    assert err.code == "incomplete_stream"


async def test_whole_json_response_and_complete():
    whole = {
        "id": "resp_1",
        "status": "completed",
        "output": [
            {**REASONING, "summary": [{"type": "summary_text", "text": "Hmm"}]},
            {
                "type": "message",
                "id": "msg_1",
                "content": [{"type": "output_text", "text": "Title"}],
            },
        ],
        "usage": USAGE,
    }
    parts = await collect(responses(Upstream(json_response(whole))))
    assert parts[:3] == [
        ThinkingDelta("Hmm"),
        ReasoningItem({**REASONING, "summary": [{"type": "summary_text", "text": "Hmm"}]}),
        TextDelta("Title"),
    ]
    assert parts[-1] == Finish("stop")
    up = Upstream(json_response(whole))
    text, usage = await responses(up).complete(request())
    assert text == "Title" and usage.input_tokens == 1200
    assert "stream" not in up.body()


# --- through the sidecar ------------------------------------------------------------------


async def reasoning_model(env) -> None:
    await env.client.request(
        "models.upsert",
        {
            "model": {
                "id": env.model_id,
                "provider": env.provider_id,
                "providerModel": "upstream-openai",
                "pricing": PRICING,
                "capabilities": {"reasoning": True, "tools": True},
            }
        },
    )


async def test_openai_defaults_to_responses_and_streams_text(tmp_path):
    async with chat_env(tmp_path, api=None) as env:
        providers = {p["id"]: p for p in (await env.client.request("providers.list"))["providers"]}
        assert {k: p["api"] for k, p in providers.items()} == {
            "anthropic": "chat",
            "deepseek": "chat",
            "openai": "responses",
        }
        env.fake.enqueue(Script(text="Hello from Responses.", chunk_size=5))
        ids = await env.send("Hi")
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        assert final["content"] == "Hello from Responses." and final["status"] == "complete"
        deltas = assert_lifecycle(env.events_of(mid), mid, "assistant.stream.completed")
        assert 1 <= len(deltas) <= 5  # one per read at most
        sent = env.fake.requests[-1]
        assert sent.path == "/v1/responses"
        assert sent.body["instructions"] == "Be brief." and sent.body["store"] is False
        assert sent.body["input"] == [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}
        ]
        assert "reasoning" not in sent.body, "the model does not reason"


async def test_reasoning_summary_is_thinking_and_its_item_goes_back(tmp_path):
    async with chat_env(tmp_path, api=None) as env:
        await reasoning_model(env)
        env.fake.enqueue(Script(text="42.", thinking="Six sevens.", chunk_size=4))
        ids = await env.send("6 times 7?")
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        assert final["thinking"] == "Six sevens." and final["content"] == "42."
        kinds = [e["type"] for e in env.events_of(mid) if e["type"].startswith("agent.thinking")]
        assert kinds[0] == "agent.thinking.started" and kinds[-1] == "agent.thinking.completed"
        assert (
            "".join(e["text"] for e in env.events_of(mid) if e["type"] == "agent.thinking.delta")
            == "Six sevens."
        )
        [step] = final["steps"]
        [item] = step["reasoningItems"]
        assert item["type"] == "reasoning" and item["encrypted_content"].startswith("gAAAA")
        assert item["summary"] == [{"type": "summary_text", "text": "Six sevens."}]
        assert (await env.stored(mid))["steps"] == final["steps"]
        body = env.fake.requests[-1].body
        assert body["reasoning"] == {"summary": "auto"}
        assert body["include"] == ["reasoning.encrypted_content"]
        # The next turn sends the item back (the fake refuses content it never issued).
        env.fake.enqueue(Script(text="Sure."))
        more = await env.send("Thanks")
        assert (await env.settled(more["assistantMessageId"]))["status"] == "complete"
        sent = env.fake.requests[-1].body["input"]
        assert [i.get("type") for i in sent] == ["message", "reasoning", "message", "message"]
        assert sent[1] == item and sent[2]["content"] == [{"type": "output_text", "text": "42."}]


async def test_reasoning_items_stay_with_their_model(tmp_path):
    async with chat_env(tmp_path, api=None) as env:
        await reasoning_model(env)
        env.fake.enqueue(Script(text="A.", thinking="Hm."))
        await env.settled((await env.send("One"))["assistantMessageId"])
        await env.client.request(
            "models.upsert", {"model": {"id": "other", "provider": "openai", "providerModel": "o"}}
        )
        env.fake.enqueue(Script(text="B."))
        await env.settled((await env.send("Two", modelId="other"))["assistantMessageId"])
        assert "reasoning" not in json.dumps(env.fake.requests[-1].body["input"])


async def test_tool_loop_with_two_parallel_calls(tmp_path):
    async with chat_env(tmp_path, api=None) as env:
        await reasoning_model(env)
        env.fake.enqueue(
            Script(
                text="Both. ",
                thinking="Two sums.",
                tool_calls=[
                    call("calculate", {"expression": "6*7"}, "call_a"),
                    call("calculate", {"expression": "2+2"}, "call_b"),
                ],
            ),
            Script(text="42 and 4."),
        )
        ids = await env.send("6*7 and 2+2?", tools=["calculate"])
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "complete", final["error"]
        assert final["content"] == "Both. 42 and 4."
        assert [(c["providerCallId"], c["status"]) for c in final["toolCalls"]] == [
            ("call_a", "completed"),
            ("call_b", "completed"),
        ]
        completed = next(e for e in env.events_of(mid) if e["type"] == "assistant.stream.completed")
        assert completed["finishReason"] == "stop"
        first, second = (r.body for r in env.fake.requests[-2:])
        assert first["tools"][0]["name"] == "calculate" and "function" not in first["tools"][0]
        items = second["input"]
        assert [i["type"] for i in items] == [
            "message",
            "reasoning",
            "message",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output",
        ]
        assert [(i["call_id"], orjson.loads(i["arguments"])) for i in items[3:5]] == [
            ("call_a", {"expression": "6*7"}),
            ("call_b", {"expression": "2+2"}),
        ]
        outputs = {i["call_id"]: json.loads(i["output"]) for i in items[5:]}
        assert outputs == {
            "call_a": {"expression": "6*7", "result": 42},
            "call_b": {"expression": "2+2", "result": 4},
        }
        # A later turn replays the loop from the store; the fake checks the pairing again.
        env.fake.enqueue(Script(text="Welcome."))
        again = await env.send("Thanks")
        assert (await env.settled(again["assistantMessageId"]))["status"] == "complete"


async def test_usage_and_cost(tmp_path):
    async with chat_env(tmp_path, api=None) as env:
        env.fake.enqueue(Script(text="Priced.", usage=Usage(1000, 200, 400, 0, 50)))
        ids = await env.send("How much?")
        final = await env.settled(ids["assistantMessageId"])
        [record] = [
            e["usage"]
            for e in env.events_of(ids["assistantMessageId"])
            if e["type"] == "usage.recorded"
        ]
        assert (record["inputTokens"], record["outputTokens"]) == (1000, 200)
        assert (record["cacheReadTokens"], record["reasoningTokens"]) == (400, 50)
        expected = (
            600 * PRICING["input"] + 400 * PRICING["cacheRead"] + 200 * PRICING["output"]
        ) / 1e6
        assert record["costUsd"] == pytest.approx(expected, rel=1e-9)
        assert final["usage"]["costUsd"] == record["costUsd"]


@pytest.mark.parametrize("shape", ["failed", "error"])
async def test_failed_and_error_events_fail_the_reply(tmp_path, shape):
    async with chat_env(tmp_path, api=None) as env:
        env.fake.enqueue(
            Script(
                text="abcdef",
                chunk_size=2,
                fault="error_event",
                fault_after=1,
                responses_error=shape,
            )
        )
        ids = await env.send("Hi")
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "failed" and final["content"] == "ab"
        assert (
            final["error"]["code"] == "server_error"
            and "Sorry about that" in final["error"]["message"]
        )
        assert_lifecycle(env.events_of(mid), mid, "assistant.stream.failed")


async def test_cancel_mid_stream_closes_the_upstream(tmp_path):
    async with chat_env(tmp_path, api=None) as env:
        env.fake.enqueue(Script(text="x" * 400, chunk_size=4, rate=40))
        ids = await env.send("Write a lot")
        mid = ids["assistantMessageId"]
        await env.client.wait_for(
            lambda e: (
                e["type"] == "assistant.stream.delta" and e["messageId"] == mid and e["index"] == 3
            )
        )
        assert await env.client.request("chat.cancel", {"messageId": mid}) == {"cancelled": True}
        await env.fake.wait_disconnect(2.0)
        final = await env.settled(mid)
        assert final["status"] == "cancelled" and final["content"].startswith("x" * 16)
        assert env.fake.requests[-1].path == "/v1/responses"


async def test_api_setting_chat_and_where_responses_is_allowed(tmp_path):
    async with chat_env(tmp_path, api="chat") as env:
        env.fake.enqueue(Script(text="Chat."))
        await env.settled((await env.send("Hi"))["assistantMessageId"])
        assert env.fake.requests[-1].path == "/v1/chat/completions"
        for provider in ("deepseek", "anthropic"):
            with pytest.raises(RpcFailure) as err:
                await env.client.request(
                    "providers.configure", {"id": provider, "api": "responses"}
                )
            assert err.value.reason == "INVALID_PARAMS"
        got = await env.client.request("providers.configure", {"id": "openai", "api": None})
        assert got["provider"]["api"] == "responses"
        env.fake.enqueue(Script(text="Responses."))
        await env.settled((await env.send("Again"))["assistantMessageId"])
        assert env.fake.requests[-1].path == "/v1/responses"


async def test_openai_compatible_may_speak_responses(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        got = await env.client.request("providers.configure", {"id": "local", "api": "responses"})
        assert got["provider"]["api"] == "responses"
        env.fake.enqueue(Script(text="Local responses."))
        final = await env.settled((await env.send("Hi"))["assistantMessageId"])
        assert final["content"] == "Local responses."
        assert env.fake.requests[-1].path == "/v1/responses"
