"""Chat end to end: a real sidecar, a real fake provider over HTTP, real sockets.

Every stream is checked three ways: the events (one started, deltas 0..n, one
terminal event, then message.updated), the stored message, and the request the
fake provider received.
"""

from __future__ import annotations

import asyncio

import pytest

from sidecar.dev.fakes import Script, ToolCallScript, Usage
from tests.chat_env import API_KEY, PRICING, chat_env
from tests.harness import Client, RpcFailure

KINDS = ["openai", "anthropic", "deepseek", "openai-compatible"]
TEXT = "The quick brown fox jumps over the lazy dog, twice."


def assert_lifecycle(events: list[dict], message_id: str, terminal: str) -> list[dict]:
    """The PROTOCOL section 4 order for one assistant message; returns its deltas."""
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message.created" and events[0]["message"]["status"] == "pending"
    assert kinds.count("assistant.stream.started") == 1
    terminals = [
        k
        for k in kinds
        if k
        in ("assistant.stream.completed", "assistant.stream.cancelled", "assistant.stream.failed")
    ]
    assert terminals == [terminal], kinds
    assert kinds[-1] == "message.updated" and kinds[-2] == terminal, kinds
    deltas = [e for e in events if e["type"] == "assistant.stream.delta"]
    assert [d["index"] for d in deltas] == list(range(len(deltas)))
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    final = events[-2]["message"]
    assert final == events[-1]["message"]
    assert final["content"] == "".join(d["text"] for d in deltas), (
        "stored content must equal the deltas"
    )
    return deltas


ROUND_TRIPS = (
    [(kind, None, False) for kind in KINDS]
    + [
        ("openai-compatible", quirk, False)
        for quirk in ("ollama", "vllm", "lmstudio", "openrouter")
    ]
    + [("openai", None, True), ("anthropic", None, True)]
)


@pytest.mark.parametrize("kind, quirk, split", ROUND_TRIPS)
async def test_stream_round_trip(tmp_path, kind, quirk, split):
    async with chat_env(tmp_path, kind) as env:
        env.fake.enqueue(
            Script(
                text=TEXT,
                quirk=quirk,
                split_writes=split,
                chunk_size=5,
                usage=Usage(input_tokens=1200, output_tokens=40, cached_tokens=1000),
            )
        )
        ids = await env.send("Tell me about foxes")
        final = await env.settled(ids["assistantMessageId"])
        events = env.events_of(ids["assistantMessageId"])
        deltas = assert_lifecycle(events, ids["assistantMessageId"], "assistant.stream.completed")
        # one delta per read: at most one per upstream chunk, never a chunk split
        assert 1 <= len(deltas) <= len(range(0, len(TEXT), 5))
        assert final["content"] == TEXT and final["status"] == "complete"
        completed = next(e for e in events if e["type"] == "assistant.stream.completed")
        assert completed["finishReason"] == "stop"
        usage = final["usage"]
        assert (
            usage["inputTokens"] == 1200
            and usage["outputTokens"] == 40
            and usage["cacheReadTokens"] == 1000
        )
        expected_cost = (
            200 * PRICING["input"] + 1000 * PRICING["cacheRead"] + 40 * PRICING["output"]
        ) / 1e6
        assert usage["costUsd"] == pytest.approx(expected_cost)
        recorded = next(e for e in events if e["type"] == "usage.recorded")["usage"]
        assert (
            recorded["kind"] == "chat"
            and recorded["modelId"] == env.model_id
            and recorded["costUsd"] == usage["costUsd"]
        )
        assert await env.stored(ids["assistantMessageId"]) | {"siblingIds": None} == final | {
            "siblingIds": None
        }
        # What went upstream.
        request = env.fake.requests[-1]
        body = request.body
        assert body["model"] == f"upstream-{kind}" and body["stream"] is True
        if kind == "anthropic":
            assert request.path == "/v1/messages"
            assert (
                request.headers["x-api-key"] == API_KEY
                and request.headers["anthropic-version"] == "2023-06-01"
            )
            # promptCaching (on by default) sends the system prompt as a cached block
            assert body["system"] == [
                {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}
            ]
            assert (
                body["messages"] == [{"role": "user", "content": "Tell me about foxes"}]
                or body["messages"][0]["content"][0]["text"] == "Tell me about foxes"
            )
        else:
            assert request.path == "/v1/chat/completions"
            assert request.headers["authorization"] == f"Bearer {API_KEY}"
            assert body["stream_options"] == {"include_usage": True}
            assert body["messages"] == [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Tell me about foxes"},
            ]


async def test_second_turn_sends_exactly_the_active_path(tmp_path):
    async with chat_env(tmp_path) as env:
        first = await env.send("One")
        await env.settled(first["assistantMessageId"])
        second = await env.send("Two")
        await env.settled(second["assistantMessageId"])
        # Regenerate-like branch: answer again after the first user message's reply's parent.
        third = await env.send("Two, differently", parentId=first["assistantMessageId"])
        await env.settled(third["assistantMessageId"])
        sent = [(m["role"], m["content"]) for m in env.fake.requests[-1].body["messages"]]
        assert sent == [
            ("system", "Be brief."),
            ("user", "One"),
            ("assistant", "You said: One"),
            ("user", "Two, differently"),
        ]
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert [m["content"] for m in got["messages"]][-2:] == [
            "Two, differently",
            "You said: Two, differently",
        ]
        assert got["messages"][2]["siblingIds"] == [second["userMessageId"], third["userMessageId"]]


@pytest.mark.parametrize(
    "kind, quirk",
    [
        ("anthropic", None),
        ("deepseek", None),
        ("openai-compatible", "ollama"),
        ("openai-compatible", "think_tags"),
    ],
)
async def test_thinking_is_streamed_and_stored_apart(tmp_path, kind, quirk):
    async with chat_env(tmp_path, kind) as env:
        env.fake.enqueue(
            Script(text="Answer: 42.", thinking="First, consider the question.", quirk=quirk)
        )
        ids = await env.send("Why?")
        final = await env.settled(ids["assistantMessageId"])
        events = env.events_of(ids["assistantMessageId"])
        assert_lifecycle(events, ids["assistantMessageId"], "assistant.stream.completed")
        kinds = [e["type"] for e in events]
        assert (
            kinds.count("agent.thinking.started") == 1
            and kinds.count("agent.thinking.completed") == 1
        )
        assert kinds.index("agent.thinking.completed") < kinds.index("assistant.stream.delta")
        thought = "".join(e["text"] for e in events if e["type"] == "agent.thinking.delta")
        assert thought == final["thinking"] == "First, consider the question."
        assert final["content"] == "Answer: 42."


@pytest.mark.parametrize(
    "kind, quirk",
    [
        ("openai", None),
        ("anthropic", None),
        ("deepseek", None),
        ("openai-compatible", "ollama"),
        ("openai-compatible", "vllm"),
        ("openai-compatible", "lmstudio"),
        ("openai-compatible", "openrouter"),
    ],
)
async def test_tool_calls_are_assembled(tmp_path, kind, quirk):
    calls = [
        ToolCallScript(
            id="call_1", name="get_weather", arguments='{"city": "Lisbon", "unit": "c"}'
        ),
        ToolCallScript(id="call_2", name="get_time", arguments='{"tz": "Europe/Lisbon"}'),
    ]
    async with chat_env(tmp_path, kind) as env:
        env.fake.enqueue(Script(text="Let me check.", tool_calls=calls, quirk=quirk))
        ids = await env.send("Weather?")
        final = await env.settled(ids["assistantMessageId"])
        completed = next(
            e
            for e in env.events_of(ids["assistantMessageId"])
            if e["type"] == "assistant.stream.completed"
        )
        assert completed["finishReason"] == "tool_calls"
        assert [(c["name"], c["arguments"]) for c in final["toolCalls"]] == [
            ("get_weather", {"city": "Lisbon", "unit": "c"}),
            ("get_time", {"tz": "Europe/Lisbon"}),
        ]


FAULTS = [
    # (kind, scripts, final status, error code, retried)
    ("openai", [Script(fault="http_401")], "failed", "auth", 0),
    ("deepseek", [Script(fault="http_402")], "failed", "payment_required", 0),
    ("openai", [Script(fault="http_429_quota")], "failed", "payment_required", 0),
    (
        "openai",
        [Script(fault="http_429", retry_after=0.05), Script(text=TEXT)],
        "complete",
        None,
        1,
    ),
    ("openai", [Script(fault="http_500"), Script(text=TEXT)], "complete", None, 1),
    (
        "anthropic",
        [
            Script(fault="http_529", retry_after=0.05),
            Script(fault="http_529", retry_after=0.05),
            Script(text=TEXT),
        ],
        "complete",
        None,
        2,
    ),
    ("anthropic", [Script(fault="http_529", retry_after=0.05)] * 3, "failed", "overloaded", 2),
    (
        "openai",
        [Script(text=TEXT, fault="error_event", fault_after=3)],
        "failed",
        "server_error",
        0,
    ),
    (
        "anthropic",
        [Script(text=TEXT, fault="error_event", fault_after=3)],
        "failed",
        "overloaded",
        0,
    ),
    (
        "openai-compatible",
        [Script(text=TEXT, fault="error_event", fault_after=3, quirk="openrouter")],
        "failed",
        None,
        0,
    ),
    (
        "openai-compatible",
        [Script(text=TEXT, fault="error_event", fault_after=3, quirk="vllm")],
        "failed",
        None,
        0,
    ),
    ("openai", [Script(text=TEXT, fault="drop", fault_after=3)], "failed", "connection", 0),
    ("anthropic", [Script(text=TEXT, fault="drop", fault_after=3)], "failed", "connection", 0),
    ("deepseek", [Script(text=TEXT, fault="stall", fault_after=3)], "failed", "timeout", 0),
    ("openai", [Script(text=TEXT, fault="no_finish")], "failed", "incomplete_stream", 0),
    ("anthropic", [Script(text=TEXT, fault="no_finish")], "failed", "incomplete_stream", 0),
]


@pytest.mark.parametrize(
    "kind, scripts, status, code, retried",
    FAULTS,
    ids=[f"{f[0]}-{f[1][0].fault}-{f[1][0].quirk or ''}-{i}" for i, f in enumerate(FAULTS)],
)
async def test_fault_matrix(tmp_path, kind, scripts, status, code, retried):
    async with chat_env(tmp_path, kind, idle_timeout=1.0) as env:
        env.fake.enqueue(*[Script(**{**s.__dict__, "chunk_size": 5}) for s in scripts])
        ids = await env.send("Go")
        mid = ids["assistantMessageId"]
        final = await env.settled(mid)
        events = env.events_of(mid)
        terminal = (
            "assistant.stream.completed" if status == "complete" else "assistant.stream.failed"
        )
        deltas = assert_lifecycle(events, mid, terminal)
        assert final["status"] == status
        assert sum(e["type"] == "assistant.stream.retrying" for e in events) == retried
        if status == "failed":
            error = final["error"]
            assert error == next(e for e in events if e["type"] == terminal)["error"]
            if code is not None:
                assert error["code"] == code, error
            if scripts[0].fault_after:
                # the text streamed before the fault is kept (in as many deltas as reads)
                assert 1 <= len(deltas) <= scripts[0].fault_after
                assert final["content"] == TEXT[: 5 * scripts[0].fault_after]
            assert API_KEY not in error["message"] and "sk-proj" not in error["message"]
        else:
            assert final["content"] == TEXT
        assert (await env.stored(mid))["status"] == status


async def test_cancel_closes_upstream_and_keeps_the_partial_reply(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(Script(text="x" * 400, chunk_size=4, rate=40))
        ids = await env.send("Write a lot")
        mid = ids["assistantMessageId"]
        await env.client.wait_for(
            lambda e: (
                e["type"] == "assistant.stream.delta" and e["messageId"] == mid and e["index"] == 3
            )
        )
        result = await env.client.request("chat.cancel", {"messageId": mid})
        assert result == {"cancelled": True}
        await env.fake.wait_disconnect(2.0)
        final = await env.settled(mid)
        deltas = assert_lifecycle(env.events_of(mid), mid, "assistant.stream.cancelled")
        assert (
            final["status"] == "cancelled"
            and len(deltas) >= 4
            and final["content"] == "x" * len(final["content"])
            and len(final["content"]) % 4 == 0
        )
        assert (await env.stored(mid))["content"] == final["content"]
        # Cancelling again, or a finished message, is not an error: nothing was running.
        assert await env.client.request("chat.cancel", {"messageId": mid}) == {"cancelled": False}
        with pytest.raises(RpcFailure) as err:
            await env.client.request("chat.cancel", {"messageId": "nope"})
        assert err.value.reason == "NOT_FOUND"


async def test_dropped_client_never_stops_a_stream_and_resume_replays_it(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(Script(text="y" * 200, chunk_size=4, rate=100))
        ids = await env.send("Stream while I am away")
        mid = ids["assistantMessageId"]
        await env.client.wait_for(
            lambda e: e["type"] == "assistant.stream.delta" and e["messageId"] == mid
        )
        last_seen = env.client.events[-1]["seq"]
        await env.client.ws.close()
        await asyncio.sleep(1.0)
        back = await Client.open(env.sidecar, subscribe=last_seen)
        final = (
            await back.wait_for(
                lambda e: (
                    e["type"] == "message.updated"
                    and e["message"]["id"] == mid
                    and e["message"]["status"] == "complete"
                )
            )
        )["message"]
        every = [e for e in env.client.events if e["seq"] <= last_seen] + back.events
        assert [e["seq"] for e in every] == list(range(1, every[-1]["seq"] + 1))
        mine = [e for e in every if e.get("messageId") == mid]
        assert (
            "".join(e["text"] for e in mine if e["type"] == "assistant.stream.delta")
            == final["content"]
            == "y" * 200
        )
        await back.close()


async def test_client_request_id_makes_send_idempotent(tmp_path):
    async with chat_env(tmp_path) as env:
        first, again = await asyncio.gather(
            env.send("Once", clientRequestId="req-1"), env.send("Once", clientRequestId="req-1")
        )
        assert first == again
        await env.settled(first["assistantMessageId"])
        assert len(env.fake.requests) == 1
        assert sum(e["type"] == "assistant.stream.started" for e in env.client.events) == 1
        assert await env.send("Once", clientRequestId="req-1") == first


async def test_send_sends_the_branch_it_follows(tmp_path):
    """The request carries the stored branch up to the parent (the active leaf by
    default, or `parentId`, or none for a new root), then the new message."""
    async with chat_env(tmp_path) as env:

        def sent() -> list[tuple[str, str]]:
            messages = env.fake.requests[-1].body["messages"]
            return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]

        first = await env.send("One")
        await env.settled(first["assistantMessageId"])
        second = await env.send("Two")
        await env.settled(second["assistantMessageId"])
        assert sent() == [("user", "One"), ("assistant", "You said: One"), ("user", "Two")]
        after_first = await env.send("Again", parentId=first["assistantMessageId"])
        await env.settled(after_first["assistantMessageId"])
        assert sent() == [("user", "One"), ("assistant", "You said: One"), ("user", "Again")]
        root = await env.send("Fresh", parentId=None)
        await env.settled(root["assistantMessageId"])
        assert sent() == [("user", "Fresh")]
        other = (await env.client.request("conversations.create", {"modelId": env.model_id}))[
            "conversation"
        ]["id"]
        seen = len(env.client.events)
        with pytest.raises(RpcFailure) as err:  # a message of another conversation
            await env.client.request(
                "chat.send",
                {"conversationId": other, "content": "x", "parentId": first["userMessageId"]},
            )
        assert err.value.reason == "NOT_FOUND" and env.client.events[seen:] == []
        assert len(env.fake.requests) == 4


async def test_many_streams_at_once_stay_independent(tmp_path):
    async with chat_env(tmp_path, default=None) as env:
        convs = [env.conversation_id] + [
            (await env.client.request("conversations.create", {"modelId": env.model_id}))[
                "conversation"
            ]["id"]
            for _ in range(11)
        ]
        sends = await asyncio.gather(
            *(
                env.client.request("chat.send", {"conversationId": c, "content": f"number {i}"})
                for i, c in enumerate(convs)
            )
        )
        finals = await asyncio.gather(
            *(env.settled(s["assistantMessageId"], timeout=30) for s in sends)
        )
        assert sorted(f["content"] for f in finals) == sorted(
            f"You said: number {i}" for i in range(12)
        )
        for s in sends:
            assert_lifecycle(
                env.events_of(s["assistantMessageId"]),
                s["assistantMessageId"],
                "assistant.stream.completed",
            )


async def test_send_errors_change_nothing(tmp_path):
    async with chat_env(tmp_path) as env:
        before = len(env.client.events)
        cases = [
            ({"conversationId": "nope", "content": "x"}, "NOT_FOUND"),
            (
                {"conversationId": env.conversation_id, "content": "x", "modelId": "no-such-model"},
                "NOT_FOUND",
            ),
            (
                {"conversationId": env.conversation_id, "content": "x", "parentId": "nope"},
                "NOT_FOUND",
            ),
        ]
        for params, reason in cases:
            with pytest.raises(RpcFailure) as err:
                await env.client.request("chat.send", params)
            assert err.value.reason == reason
        await env.client.request(
            "models.upsert", {"model": {"id": "claude", "provider": "anthropic"}}
        )
        with pytest.raises(RpcFailure) as err:  # anthropic has no key here
            await env.client.request(
                "chat.send",
                {"conversationId": env.conversation_id, "content": "x", "modelId": "claude"},
            )
        assert err.value.code == -32004 and err.value.reason == "PROVIDER_NOT_CONFIGURED"
        await env.client.request(
            "models.upsert",
            {"model": {"id": env.model_id, "provider": env.provider_id, "enabled": False}},
        )
        with pytest.raises(RpcFailure) as err:
            await env.send("x")
        assert err.value.reason == "CONFLICT" and "disabled" in err.value.error["message"]
        assert [e["type"] for e in env.client.events[before:]] == [
            "models.updated",
            "models.updated",
        ]
        got = await env.client.request("conversations.get", {"conversationId": env.conversation_id})
        assert got["messages"] == []
        assert env.fake.requests == []


async def test_providers_never_show_keys(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        await env.client.request(
            "providers.configure",
            {"id": "local", "headers": {"X-Secret-Header": "hdr-SECRET-value-123"}},
        )
        providers = (await env.client.request("providers.list"))["providers"]
        by_id = {p["id"]: p for p in providers}
        assert set(by_id) == {"openai", "anthropic", "deepseek", "local"}
        local = by_id["local"]
        assert (
            local["hasKey"] is True
            and local["keySource"] == "stored"
            and local["headerNames"] == ["X-Secret-Header"]
        )
        assert local["baseUrl"] == env.fake.base_url and local["builtin"] is False
        assert (
            by_id["openai"]["hasKey"] is False
            and by_id["openai"]["baseUrl"] == "https://api.openai.com/v1"
        )
        text = str(providers) + str(env.client.events)
        assert API_KEY not in text and "hdr-SECRET-value-123" not in text
        ids = await env.send("with headers")
        await env.settled(ids["assistantMessageId"])
        assert env.fake.requests[-1].headers["x-secret-header"] == "hdr-SECRET-value-123"
        assert "hdr-SECRET-value-123" not in env.sidecar.stderr()
        # Removing the key: hasKey false; a custom backend may still be called without one.
        await env.client.request("providers.configure", {"id": "local", "apiKey": None})
        assert (await env.client.request("providers.list"))["providers"][-1]["hasKey"] is False
        with pytest.raises(RpcFailure) as err:
            await env.client.request("providers.configure", {"id": "newbie"})
        assert err.value.reason == "NOT_FOUND"
        await env.client.request("providers.remove", {"id": "local"})
        assert "local" not in {
            p["id"] for p in (await env.client.request("providers.list"))["providers"]
        }


async def test_keys_from_the_environment(tmp_path):
    from tests.harness import launch

    sc = launch(tmp_path, env={"DEEPSEEK_API_KEY": "sk-env-DISTINCTIVE-999888777"})
    client = await Client.open(sc)
    deepseek = next(
        p for p in (await client.request("providers.list"))["providers"] if p["id"] == "deepseek"
    )
    assert deepseek["hasKey"] is True and deepseek["keySource"] == "environment"
    await client.close()
    sc.terminate()
    assert "sk-env-DISTINCTIVE-999888777" not in sc.stderr()
