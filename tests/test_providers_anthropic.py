"""The Anthropic Messages adapter against the event shapes in PROVIDERS.md."""

from __future__ import annotations

import pytest

from sidecar.protocol.objects import ModelProfile
from sidecar.providers import (
    ChatMessage,
    ContentOrder,
    Finish,
    RedactedThinking,
    Retrying,
    TextDelta,
    ThinkingDelta,
    ThinkingSignature,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallRef,
    ToolCallStart,
    ToolSpec,
    UsagePart,
)
from tests.test_providers import (
    KEY,
    Upstream,
    collect,
    collect_error,
    events,
    json_response,
    make_provider,
    request,
    sleeps,  # noqa: F401  (fixture)
    stream_response,
    text_of,
)


def message_start(**usage) -> tuple[str, dict]:
    u = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 20,
        "cache_read_input_tokens": 100,
        "output_tokens": 1,
        "service_tier": "standard",
        **usage,
    }
    return (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": u,
            },
        },
    )


def block_start(index: int, block: dict) -> tuple[str, dict]:
    return (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": block},
    )


def delta(index: int, d: dict) -> tuple[str, dict]:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})


def block_stop(index: int) -> tuple[str, dict]:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message_delta(stop_reason: str | None, **usage) -> tuple[str, dict]:
    return (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": usage,
        },
    )


PING = ("ping", {"type": "ping"})
STOP = ("message_stop", {"type": "message_stop"})

TEXT_STREAM = events(
    message_start(),
    block_start(0, {"type": "text", "text": ""}),
    PING,
    delta(0, {"type": "text_delta", "text": "Hello"}),
    delta(0, {"type": "text_delta", "text": " there"}),
    block_stop(0),
    message_delta("end_turn", output_tokens=12),
    STOP,
)


async def test_text_stream_with_cumulative_usage():
    parts = await collect(make_provider("anthropic", Upstream(stream_response(TEXT_STREAM))))
    start_usage = UsagePart(
        input_tokens=130, output_tokens=1, cache_read_tokens=100, cache_write_tokens=20
    )
    final_usage = UsagePart(
        input_tokens=130, output_tokens=12, cache_read_tokens=100, cache_write_tokens=20
    )
    assert parts == [
        start_usage,
        TextDelta("Hello"),
        TextDelta(" there"),
        final_usage,
        Finish("stop"),
    ]


@pytest.mark.parametrize("size", [1, 5, 13])
async def test_split_bytes(size):
    parts = await collect(
        make_provider("anthropic", Upstream(stream_response(TEXT_STREAM, chunk=size)))
    )
    assert text_of(parts) == "Hello there" and parts[-1] == Finish("stop")


async def test_message_delta_may_update_input_tokens_and_output_is_last_not_summed():
    body = events(
        message_start(input_tokens=5, cache_creation_input_tokens=0, cache_read_input_tokens=0),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "x"}),
        block_stop(0),
        message_delta(None, output_tokens=7),
        message_delta("end_turn", input_tokens=6, cache_read_input_tokens=2, output_tokens=9),
        STOP,
    )
    parts = await collect(make_provider("anthropic", Upstream(stream_response(body))))
    usages = [p for p in parts if isinstance(p, UsagePart)]
    assert usages[-1] == UsagePart(input_tokens=8, output_tokens=9, cache_read_tokens=2)
    assert parts[-1] == Finish("stop")


async def test_thinking_signature_and_tool_use():
    body = events(
        message_start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "I need "}),
        delta(0, {"type": "thinking_delta", "thinking": "the weather."}),
        delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Checking."}),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": ""}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"location": '}),
        delta(2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        block_stop(2),
        block_start(3, {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}}),
        delta(3, {"type": "input_json_delta", "partial_json": "{}"}),
        block_stop(3),
        message_delta("tool_use", output_tokens=80),
        STOP,
    )
    parts = await collect(make_provider("anthropic", Upstream(stream_response(body, chunk=3))))
    content = [p for p in parts if not isinstance(p, UsagePart)]
    assert content == [
        ThinkingDelta("I need "),
        ThinkingDelta("the weather."),
        ThinkingSignature("EqQBCgIYAhIM1gbcDa9GJwZA2b3h"),
        TextDelta("Checking."),
        ToolCallStart(0, "toolu_01A", "get_weather"),
        ToolCallDelta(0, '{"location": '),
        ToolCallDelta(0, '"Paris"}'),
        ToolCallEnd(0),
        ToolCallStart(1, "toolu_01B", "get_time"),
        ToolCallDelta(1, "{}"),
        ToolCallEnd(1),
        Finish("tool_calls"),
    ]


async def test_redacted_thinking_is_kept():
    body = events(
        message_start(),
        block_start(0, {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "ok"}),
        block_stop(1),
        message_delta("end_turn", output_tokens=3),
        STOP,
    )
    parts = await collect(make_provider("anthropic", Upstream(stream_response(body))))
    assert RedactedThinking("EmwKAhgBEgy3va3pzix/LafPsn4a") in parts


async def test_unknown_events_blocks_and_deltas_are_ignored():
    body = (
        b"event:   message_start  \n"  # odd whitespace in the event name: the data's type is used
        + events(message_start())[len(b"event: message_start\n") :]
        + events(
            block_start(
                0,
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            ),
            delta(0, {"type": "input_json_delta", "partial_json": '{"query":"x"}'}),
            block_stop(0),
            block_start(1, {"type": "text", "text": "", "citations": []}),
            delta(
                1, {"type": "citations_delta", "citation": {"type": "web_search_result_location"}}
            ),
            delta(1, {"type": "text_delta", "text": "cited"}),
            delta(1, {"type": "brand_new_delta", "x": 1}),
            block_stop(1),
            ("brand_new_event", {"type": "brand_new_event"}),
            message_delta("end_turn", output_tokens=3),
            STOP,
        )
    )
    parts = await collect(make_provider("anthropic", Upstream(stream_response(body))))
    assert [p for p in parts if not isinstance(p, UsagePart)] == [
        TextDelta("cited"),
        Finish("stop"),
    ]


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "refusal"),
        ("pause_turn", "pause_turn"),
        ("model_context_window_exceeded", "length"),
    ],
)
async def test_stop_reason_normalization(stop, finish):
    body = events(message_start(), message_delta(stop, output_tokens=1), STOP)
    parts = await collect(make_provider("anthropic", Upstream(stream_response(body))))
    assert parts[-1] == Finish(finish)


@pytest.mark.usefixtures("sleeps")
async def test_mid_stream_error_event_after_content_is_raised_not_retried():
    body = events(
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Partial"}),
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
    )
    up = Upstream(stream_response(body), stream_response(TEXT_STREAM))
    parts, err = await collect_error(make_provider("anthropic", up))
    assert text_of(parts) == "Partial"
    assert (err.code, err.retryable, err.http_status, err.message) == (
        "overloaded",
        True,
        None,
        "Overloaded",
    )
    assert len(up.requests) == 1


@pytest.mark.usefixtures("sleeps")
async def test_mid_stream_error_before_content_is_retried():
    body = events(
        message_start(),
        PING,
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
    )
    up = Upstream(stream_response(body), stream_response(TEXT_STREAM))
    parts = await collect(make_provider("anthropic", up))
    assert any(isinstance(p, Retrying) and p.reason == "overloaded" for p in parts)
    assert text_of(parts) == "Hello there"


@pytest.mark.parametrize(
    ("etype", "code", "retryable"),
    [
        ("rate_limit_error", "rate_limited", True),
        ("api_error", "server_error", True),
        ("invalid_request_error", "bad_request", False),
        ("authentication_error", "auth", False),
        ("permission_error", "permission", False),
        ("not_found_error", "not_found", False),
        ("some_new_error", "stream_error", True),
    ],
)
async def test_mid_stream_error_types(etype, code, retryable):
    body = events(
        message_start(), ("error", {"type": "error", "error": {"type": etype, "message": "m"}})
    )
    _, err = await collect_error(
        make_provider("anthropic", Upstream(stream_response(body)), max_retries=0)
    )
    assert (err.code, err.retryable) == (code, retryable)


async def test_connection_closed_without_message_stop_is_incomplete():
    body = events(
        message_start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "cut"}),
    )
    parts, err = await collect_error(make_provider("anthropic", Upstream(stream_response(body))))
    assert text_of(parts) == "cut" and err.code == "incomplete_stream"


@pytest.mark.usefixtures("sleeps")
async def test_http_529_overloaded_and_headers():
    body = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011",
    }
    up = Upstream(json_response(body, status=529, headers={"request-id": "req_011"}))
    parts, err = await collect_error(make_provider("anthropic", up, max_retries=1))
    assert err.code == "overloaded" and err.http_status == 529 and err.request_id == "req_011"
    assert len(up.requests) == 2 and isinstance(parts[0], Retrying)


async def test_http_401_does_not_leak_the_key():
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": f"invalid x-api-key {KEY}"},
    }
    up = Upstream(json_response(body, status=401))
    _, err = await collect_error(make_provider("anthropic", up))
    assert err.code == "auth" and KEY not in str(err)


# --- requests ---------------------------------------------------------------------------


async def test_headers_url_and_minimal_body():
    up = Upstream(stream_response(TEXT_STREAM))
    await collect(
        make_provider("anthropic", up), request(model="claude-sonnet-4-5", system="Be kind.")
    )
    sent = up.requests[0]
    assert str(sent.url) == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert up.body() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": "Be kind.",
        "stream": True,
    }


async def test_tool_turns_alternate_and_pass_thinking_back():
    messages = [
        ChatMessage(role="user", content="Look at this", images=[("image/jpeg", "/9j/4AAQ")]),
        ChatMessage(
            role="assistant",
            content="Let me check both.",
            thinking="Two lookups needed.",
            thinking_signature="sig-abc",
            redacted_thinking=["REDACTED-DATA"],
            tool_calls=[
                ToolCallRef(id="toolu_1", name="lookup", arguments='{"q": "a"}'),
                ToolCallRef(id="toolu_2", name="lookup", arguments=""),
            ],
        ),
        ChatMessage(role="tool", content="A", tool_call_id="toolu_1"),
        ChatMessage(role="tool", content="B", tool_call_id="toolu_2"),
        ChatMessage(role="user", content="And now?"),
        ChatMessage(
            role="assistant", content="Unsigned thinking is dropped", thinking="no signature"
        ),
        ChatMessage(role="user", content="ok"),
    ]
    tools = [ToolSpec(name="lookup", description="Look up", input_schema={"type": "object"})]
    up = Upstream(stream_response(TEXT_STREAM))
    await collect(
        make_provider("anthropic", up),
        request(messages=messages, tools=tools, temperature=0.3, top_p=0.8),
    )
    body = up.body()
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
                },
                {"type": "text", "text": "Look at this"},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two lookups needed.", "signature": "sig-abc"},
                {"type": "redacted_thinking", "data": "REDACTED-DATA"},
                {"type": "text", "text": "Let me check both."},
                {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "a"}},
                {"type": "tool_use", "id": "toolu_2", "name": "lookup", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "A"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "B"},
                {"type": "text", "text": "And now?"},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "Unsigned thinking is dropped"}],
        },
        {"role": "user", "content": [{"type": "text", "text": "ok"}]},
    ]
    assert body["tools"] == [
        {"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}
    ]
    assert (body["temperature"], body["top_p"]) == (0.3, 0.8)
    assert "thinking" not in body


async def test_thinking_budget_request():
    """A budget-style model thinks only when an effort is set, with a budget that fits
    under max_tokens; sampling parameters the API refuses with thinking are left out."""
    up = Upstream(stream_response(TEXT_STREAM))
    budget = ModelProfile(thinking="budget")
    await collect(make_provider("anthropic", up), request(profile=budget, temperature=0.5))
    assert "thinking" not in up.body() and up.body()["temperature"] == 0.5, "auto: no thinking"
    await collect(
        make_provider("anthropic", up),
        request(profile=budget, effort="low", temperature=0.5, top_p=0.5),
    )
    body = up.body()
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 4096 + 2048
    assert "temperature" not in body and "top_p" not in body  # rejected by the API with thinking
    assert "output_config" not in body
    await collect(
        make_provider("anthropic", up),
        request(profile=budget, effort="max", max_output_tokens=8000, top_p=0.97),
    )
    body = up.body()
    assert body["max_tokens"] == 8000 and body["thinking"]["budget_tokens"] == 7999
    assert body["top_p"] == 0.97, "top_p of 0.95 and above is allowed with thinking"
    await collect(
        make_provider("anthropic", up),
        request(profile=budget, effort="high", max_output_tokens=1000),
    )
    assert "thinking" not in up.body(), "no room for the API's minimum budget"


@pytest.mark.parametrize(
    ("profile", "effort", "thinking", "output_config", "sampling"),
    [
        (
            ModelProfile(thinking="adaptive", efforts=["low", "medium", "high", "max"]),
            "auto",
            {"type": "adaptive"},
            None,
            {},
        ),
        (
            ModelProfile(thinking="adaptive", efforts=["low", "medium", "high"]),
            "max",
            {"type": "adaptive"},
            {"effort": "high"},
            {},
        ),
        (
            ModelProfile(
                thinking="adaptive-only",
                efforts=["low", "medium", "high", "xhigh", "max"],
                sampling=[],
            ),
            "medium",
            {"type": "adaptive", "display": "summarized"},
            {"effort": "medium"},
            {},
        ),
        (ModelProfile(), "high", None, None, {"temperature": 0.5, "top_p": 0.5}),
        (ModelProfile(sampling=["top_p"]), "high", None, None, {"top_p": 0.5}),
    ],
)
async def test_adaptive_thinking_and_effort_follow_the_profile(
    profile, effort, thinking, output_config, sampling
):
    up = Upstream(stream_response(TEXT_STREAM))
    req = request(profile=profile, effort=effort, temperature=0.5, top_p=0.5)
    await collect(make_provider("anthropic", up), req)
    body = up.body()
    assert body.get("thinking") == thinking
    assert body.get("output_config") == output_config
    assert {k: body[k] for k in ("temperature", "top_p") if k in body} == sampling
    assert body["max_tokens"] == 4096, "adaptive thinking has no budget to add"


async def test_config_headers_are_added():
    up = Upstream(stream_response(TEXT_STREAM))
    headers = (("anthropic-beta", "interleaved-thinking-2025-05-14"),)
    await collect(make_provider("anthropic", up, headers=headers))
    assert up.requests[0].headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"


async def test_complete_returns_text_and_usage():
    reply = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "t", "signature": "s"},
            {"type": "text", "text": "Short Title"},
        ],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 50,
            "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "output_tokens": 4,
        },
    }
    up = Upstream(json_response(reply))
    text, usage = await make_provider("anthropic", up).complete(request(max_output_tokens=30))
    assert text == "Short Title" and usage == UsagePart(input_tokens=50, output_tokens=4)
    body = up.body()
    assert "stream" not in body and body["max_tokens"] == 30


async def test_whole_message_json_where_a_stream_was_expected():
    reply = {
        "type": "message",
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    parts = await collect(make_provider("anthropic", Upstream(json_response(reply))))
    assert parts == [
        TextDelta("hi"),
        ToolCallStart(0, "t1", "f"),
        ToolCallDelta(0, '{"a":1}'),
        ToolCallEnd(0),
        UsagePart(input_tokens=3, output_tokens=2),
        Finish("tool_calls"),
    ]


INTERLEAVED_ORDER = [
    {"type": "thinking", "start": 0, "end": 3, "signature": "s1"},
    {"type": "text", "start": 0, "end": 4},
    {"type": "thinking", "start": 5, "end": 8, "signature": "s2"},
    {"type": "tool_use", "index": 0},
]


async def test_interleaved_thinking_gives_the_blocks_order_streamed_or_whole():
    """Two thinking blocks around text, then a call: the thinking shown with a blank line
    between the blocks, and the order with each block's signature and offsets."""
    body = events(
        message_start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "one"}),
        delta(0, {"type": "signature_delta", "signature": "s1"}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Both"}),
        block_stop(1),
        block_start(2, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(2, {"type": "thinking_delta", "thinking": "two"}),
        delta(2, {"type": "signature_delta", "signature": "s2"}),
        block_stop(2),
        block_start(3, {"type": "tool_use", "id": "t1", "name": "f", "input": {}}),
        delta(3, {"type": "input_json_delta", "partial_json": "{}"}),
        block_stop(3),
        message_delta("tool_use", output_tokens=3),
        STOP,
    )
    whole = {
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "one", "signature": "s1"},
            {"type": "text", "text": "Both"},
            {"type": "thinking", "thinking": "two", "signature": "s2"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    for response in (stream_response(body), json_response(whole)):
        parts = await collect(make_provider("anthropic", Upstream(response)))
        thinking = "".join(p.text for p in parts if isinstance(p, ThinkingDelta))
        assert thinking == "one\n\ntwo"
        orders = [p.blocks for p in parts if isinstance(p, ContentOrder)]
        assert orders[-1] == INTERLEAVED_ORDER


async def test_the_blocks_order_rebuilds_the_assistant_turn():
    up = Upstream(stream_response(events(message_start(), message_delta("end_turn"), STOP)))
    turn = ChatMessage(
        role="assistant",
        content="Both",
        thinking="one\n\ntwo",
        thinking_signature="s2",
        tool_calls=[ToolCallRef(id="t1", name="f", arguments="{}")],
        content_order=INTERLEAVED_ORDER,
    )
    await collect(
        make_provider("anthropic", up),
        request(messages=[ChatMessage(role="user", content="go"), turn]),
    )
    assert up.body(0)["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "one", "signature": "s1"},
        {"type": "text", "text": "Both"},
        {"type": "thinking", "thinking": "two", "signature": "s2"},
        {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
    ]
