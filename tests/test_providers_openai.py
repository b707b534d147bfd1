"""The OpenAI-style adapter (kinds openai, deepseek, openai-compatible) against the byte
shapes in PROVIDERS.md, including each backend's quirks."""

from __future__ import annotations

import orjson
import pytest

from sidecar.providers import (
    ChatMessage,
    Finish,
    ProviderError,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallRef,
    ToolCallStart,
    ToolSpec,
    UsagePart,
)
from sidecar.providers.openai_chat import openai_usage
from sidecar.providers.think import ThinkSplitter
from tests.test_providers import (
    KEY,
    OPENAI_OK,
    Upstream,
    collect,
    collect_error,
    json_response,
    make_provider,
    request,
    sse,
    stream_response,
    text_of,
)


def chunk(delta: dict | None = None, finish: str | None = None, **extra) -> dict:
    """One chat.completion.chunk, as OpenAI sends it (with the fields we ignore)."""
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}],
        **extra,
    }


OPENAI_TEXT = sse(
    chunk({"role": "assistant", "content": "", "refusal": None}, usage=None),
    chunk({"content": "Hel"}, usage=None),
    chunk({"content": "lo"}),
    chunk({}, "stop", usage=None),
    {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 256, "audio_tokens": 0},
        },
    },
)

OPENAI_USAGE = UsagePart(
    input_tokens=1200, output_tokens=300, reasoning_tokens=256, cache_read_tokens=1024
)


# --- text, usage, finish -------------------------------------------------------------------


async def test_openai_text_usage_and_finish():
    parts = await collect(make_provider("openai", Upstream(stream_response(OPENAI_TEXT))))
    assert parts == [TextDelta("Hel"), TextDelta("lo"), OPENAI_USAGE, Finish("stop")]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
async def test_stream_split_at_awkward_offsets(size):
    body = sse(chunk({"content": "héllo 🙂 "}), chunk({"content": "wörld"}), chunk({}, "stop"))
    up = Upstream(stream_response(body, chunk=size))
    parts = await collect(make_provider("openai", up))
    assert text_of(parts) == "héllo 🙂 wörld" and parts[-1] == Finish("stop")


async def test_crlf_comments_odd_whitespace_and_unknown_fields():
    body = (
        b": OPENROUTER PROCESSING\r\n\r\n"
        b": keep-alive\r\n\r\n"
        b'data:{"choices":[{"index":0,"delta":{"content":"a","extra":{"x":1}},"new_field":true}]}\r\n\r\n'
        b'data:    {"choices":[{"index":0,"delta":{"content":"b"}}]}   \r\n\r\n'
        b"event: ping\r\ndata: not json\r\n\r\n"
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b"data:  [DONE]  \n\n"
        b'data: {"choices":[{"index":0,"delta":{"content":"after done"}}]}\n\n'
    )
    parts = await collect(make_provider("openai-compatible", Upstream(stream_response(body))))
    assert parts == [TextDelta("a"), TextDelta("b"), Finish("stop")]


async def test_mislabelled_content_type_is_still_read_as_sse():
    up = Upstream(stream_response(OPENAI_OK, content_type="text/plain"))
    assert text_of(await collect(make_provider("openai-compatible", up))) == "ok"


async def test_server_that_ignores_stream_true_and_sends_json():
    whole = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "whole",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    parts = await collect(make_provider("openai-compatible", Upstream(json_response(whole))))
    assert parts == [
        TextDelta("whole"),
        ToolCallStart(0, "c1", "f"),
        ToolCallDelta(0, "{}"),
        ToolCallEnd(0),
        UsagePart(input_tokens=5, output_tokens=2),
        Finish("tool_calls"),
    ]


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("eos", "stop"),
        ("something_new", "something_new"),
    ],
)
async def test_finish_reason_normalization(raw, normalized):
    body = sse(chunk({"content": "x"}), chunk({}, raw))
    parts = await collect(make_provider("openai", Upstream(stream_response(body))))
    assert parts[-1] == Finish(normalized)


async def test_refusal_is_text_and_finish_refusal():
    body = sse(
        chunk({"role": "assistant", "content": None, "refusal": ""}),
        chunk({"refusal": "I can't "}),
        chunk({"refusal": "help with that."}),
        chunk({}, "stop"),
    )
    parts = await collect(make_provider("openai", Upstream(stream_response(body))))
    assert parts == [TextDelta("I can't "), TextDelta("help with that."), Finish("refusal")]


@pytest.mark.parametrize("done", [True, False])
async def test_stream_without_finish_reason_is_incomplete(done):
    body = sse(chunk({"content": "cut"}), done=done)
    up = Upstream(stream_response(body))
    parts, err = await collect_error(make_provider("openai", up))
    assert parts == [TextDelta("cut")]
    assert err.code == "incomplete_stream" and err.retryable and err.http_status is None
    assert len(up.requests) == 1  # content was streamed: not retried


async def test_empty_200_is_incomplete():
    up = Upstream(stream_response(b""))
    _, err = await collect_error(make_provider("openai", up, max_retries=0))
    assert err.code == "incomplete_stream"


# --- mid-stream errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code", "retryable"),
    [
        (
            {
                "error": {
                    "message": "The server had an error",
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            },
            "server_error",
            True,
        ),
        (
            {
                "error": {
                    "code": 502,
                    "message": "Provider returned error",
                    "metadata": {"provider_name": "X"},
                }
            },
            "server_error",
            True,
        ),  # OpenRouter
        ({"error": {"code": 429, "message": "Rate limited upstream"}}, "rate_limited", True),
        (
            {
                "object": "error",
                "message": "This model's maximum context length is 4096 tokens",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            "context_length",
            False,
        ),  # vLLM
        (
            {
                "object": "error",
                "message": "worker died",
                "type": "InternalServerError",
                "code": 500,
            },
            "server_error",
            True,
        ),
        ({"error": {"message": "something odd"}}, "stream_error", True),
    ],
)
async def test_mid_stream_error_shapes(payload, code, retryable):
    body = sse(chunk({"content": "so far"}), payload, done=False)
    up = Upstream(stream_response(body))
    parts, err = await collect_error(make_provider("openai-compatible", up))
    assert parts == [TextDelta("so far")]
    assert (err.code, err.retryable, err.http_status) == (code, retryable, None)


async def test_mid_stream_error_message_is_scrubbed():
    body = sse(
        {"error": {"message": f"bad key {KEY}", "type": "invalid_request_error"}}, done=False
    )
    _, err = await collect_error(make_provider("openai", Upstream(stream_response(body))))
    assert KEY not in str(err) and err.code == "bad_request"


async def test_200_json_error_body():
    up = Upstream(json_response({"error": {"message": "model not loaded", "code": 503}}))
    _, err = await collect_error(make_provider("openai-compatible", up, max_retries=0))
    assert err.code == "server_error" and err.retryable


# --- tool calls ----------------------------------------------------------------------------


async def test_openai_parallel_tool_calls_assembled_by_index():
    body = sse(
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"loc'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ation": "Paris"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_B",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]}),
        chunk({}, "tool_calls"),
    )
    parts = await collect(make_provider("openai", Upstream(stream_response(body, chunk=5))))
    assert parts == [
        ToolCallStart(0, "call_A", "get_weather"),
        ToolCallDelta(0, '{"loc'),
        ToolCallDelta(0, 'ation": "Paris"}'),
        ToolCallStart(1, "call_B", "get_time"),
        ToolCallDelta(1, '{"tz": "CET"}'),
        ToolCallEnd(0),
        ToolCallEnd(1),
        Finish("tool_calls"),
    ]


@pytest.mark.parametrize("later_name", [None, ""], ids=["vllm-null", "lmstudio-empty"])
async def test_later_fragments_with_null_or_empty_name(later_name):
    body = sse(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "chatcmpl-tool-1",
                        "type": "function",
                        "function": {"name": "search", "arguments": None},
                    }
                ]
            }
        ),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": None,
                        "type": "function",
                        "function": {"name": later_name, "arguments": '{"q":'},
                    }
                ]
            }
        ),
        chunk(
            {"tool_calls": [{"index": 0, "function": {"name": later_name, "arguments": '"x"}'}}]}
        ),
        chunk({}, "tool_calls"),
        {
            "choices": None,
            "usage": {"prompt_tokens": 7, "completion_tokens": 3},
        },  # vLLM usage chunk
    )
    parts = await collect(make_provider("openai-compatible", Upstream(stream_response(body))))
    assert parts == [
        ToolCallStart(0, "chatcmpl-tool-1", "search"),
        ToolCallDelta(0, '{"q":'),
        ToolCallDelta(0, '"x"}'),
        ToolCallEnd(0),
        UsagePart(input_tokens=7, output_tokens=3),
        Finish("tool_calls"),
    ]


async def test_ollama_reasoning_and_whole_tool_calls_in_one_chunk():
    role = {"role": "assistant"}
    body = sse(
        chunk({**role, "content": "", "reasoning": "Need the "}),
        chunk({**role, "content": "", "reasoning": "weather."}),
        chunk(
            {
                **role,
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_x1",
                        "index": 0,
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            }
        ),
        chunk(
            {
                **role,
                "content": "",
                "tool_calls": [
                    {
                        "id": "call_x2",
                        "type": "function",
                        "function": {"name": "time", "arguments": {"tz": "CET"}},
                    }
                ],
            }
        ),
        chunk({**role, "content": ""}, "tool_calls"),
        {
            "choices": [],
            "usage": {"prompt_tokens": 20, "completion_tokens": 15, "total_tokens": 35},
        },
    )
    parts = await collect(make_provider("openai-compatible", Upstream(stream_response(body))))
    assert parts == [
        ThinkingDelta("Need the "),
        ThinkingDelta("weather."),
        ToolCallStart(0, "call_x1", "weather"),
        ToolCallDelta(0, '{"city":"Oslo"}'),
        ToolCallStart(1, "call_x2", "time"),  # no index: a new call by its new id
        ToolCallDelta(1, '{"tz":"CET"}'),  # arguments as an object: serialized
        ToolCallEnd(0),
        ToolCallEnd(1),
        UsagePart(input_tokens=20, output_tokens=15),
        Finish("tool_calls"),
    ]


async def test_empty_tool_calls_list_on_reasoning_deltas():
    body = sse(
        chunk({"reasoning_content": "hmm", "content": None, "tool_calls": []}),
        chunk({"content": "answer", "tool_calls": []}),
        chunk({}, "stop"),
    )
    parts = await collect(make_provider("deepseek", Upstream(stream_response(body))))
    assert parts == [ThinkingDelta("hmm"), TextDelta("answer"), Finish("stop")]


async def test_tool_name_arriving_after_arguments_is_held_back():
    body = sse(
        chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "late", "arguments": "1}"}}]}),
        chunk({}, "tool_calls"),
    )
    parts = await collect(make_provider("openai-compatible", Upstream(stream_response(body))))
    assert parts == [
        ToolCallStart(0, "c", "late"),
        ToolCallDelta(0, '{"a":'),
        ToolCallDelta(0, "1}"),
        ToolCallEnd(0),
        Finish("tool_calls"),
    ]


# --- DeepSeek -------------------------------------------------------------------------------


DEEPSEEK_REASONER = b": keep-alive\n\n: keep-alive\n\n" + sse(
    chunk({"role": "assistant", "content": None, "reasoning_content": ""}, usage=None),
    chunk({"content": None, "reasoning_content": "Let me think"}, usage=None),
    chunk({"content": None, "reasoning_content": " about it."}, usage=None),
    chunk({"content": "The answer", "reasoning_content": None}, usage=None),
    chunk({"content": " is 4.", "reasoning_content": None}, usage=None),
    chunk(
        {"content": "", "reasoning_content": None},
        "stop",
        usage={
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 30},
            "prompt_cache_hit_tokens": 64,
            "prompt_cache_miss_tokens": 36,
        },
    ),
)


async def test_deepseek_reasoning_usage_on_finish_chunk_and_keepalives():
    parts = await collect(
        make_provider("deepseek", Upstream(stream_response(DEEPSEEK_REASONER, chunk=9)))
    )
    assert parts == [
        ThinkingDelta("Let me think"),
        ThinkingDelta(" about it."),
        TextDelta("The answer"),
        TextDelta(" is 4."),
        UsagePart(input_tokens=100, output_tokens=50, reasoning_tokens=30, cache_read_tokens=64),
        Finish("stop"),
    ]


async def test_deepseek_usage_from_hit_and_miss_only():
    usage = {"completion_tokens": 5, "prompt_cache_hit_tokens": 40, "prompt_cache_miss_tokens": 10}
    body = sse(chunk({"content": "x"}), chunk({}, "stop", usage=usage))
    parts = await collect(make_provider("deepseek", Upstream(stream_response(body))))
    assert UsagePart(input_tokens=50, output_tokens=5, cache_read_tokens=40) in parts


@pytest.mark.parametrize(
    ("usage", "output_tokens"),
    [
        # OpenAI: reasoning inside completion_tokens (prompt + completion == total)
        ({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}, 50),
        # xAI: reasoning beside them (prompt + completion + reasoning == total)
        ({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 150}, 50),
        # no total to tell by, or a total that fits neither: completion_tokens as sent
        ({"prompt_tokens": 100, "completion_tokens": 20}, 20),
        ({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 999}, 20),
        ({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": "150"}, 20),
    ],
    ids=["openai", "xai", "no-total", "odd-total", "string-total"],
)
def test_reasoning_left_out_of_completion_tokens_is_added_back(usage, output_tokens):
    usage = {**usage, "completion_tokens_details": {"reasoning_tokens": 30}}
    assert openai_usage(usage) == UsagePart(
        input_tokens=100, output_tokens=output_tokens, reasoning_tokens=30
    )


def test_usage_without_reasoning_is_never_adjusted():
    usage = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}
    assert openai_usage(usage) == UsagePart(input_tokens=100, output_tokens=50)


def thinking_part(text: str) -> dict:
    """Mistral's reasoning models: thinking as a typed part of a `content` list."""
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


async def test_mistral_thinking_parts_in_a_content_list():
    body = sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": [thinking_part("Six times")]}),
        chunk({"content": [thinking_part(" seven."), {"type": "text", "text": "It is"}]}),
        chunk({"content": " 42."}),
        chunk({"content": [{"type": "thinking", "thinking": []}, {"type": "image_url"}]}),
        chunk({}, "stop"),
    )
    parts = await collect(make_provider("openai-compatible", Upstream(stream_response(body))))
    assert parts == [
        ThinkingDelta("Six times"),
        ThinkingDelta(" seven."),
        TextDelta("It is"),
        TextDelta(" 42."),
        Finish("stop"),
    ]


async def test_mistral_thinking_parts_in_a_whole_json_reply():
    whole = {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [thinking_part("Easy."), {"type": "text", "text": "42."}],
                },
                "finish_reason": "stop",
            }
        ],
    }
    parts = await collect(make_provider("openai-compatible", Upstream(json_response(whole))))
    assert parts == [ThinkingDelta("Easy."), TextDelta("42."), Finish("stop")]


async def test_deepseek_insufficient_system_resource_is_overloaded(monkeypatch):
    body = sse(
        chunk({"content": "par"}),
        chunk({"content": "tial"}, "insufficient_system_resource"),
        done=False,
    )
    up = Upstream(stream_response(body))
    parts, err = await collect_error(make_provider("deepseek", up))
    assert text_of(parts) == "partial"  # the text on the same chunk is delivered first
    assert err.code == "overloaded" and err.retryable and len(up.requests) == 1


# --- <think> tags ----------------------------------------------------------------------------


def run_splitter(pieces: list[str]) -> tuple[str, str]:
    s = ThinkSplitter()
    thinking, text = [], []
    for piece in pieces:
        t, x = s.feed(piece)
        thinking.append(t)
        text.append(x)
    t, x = s.flush()
    return "".join(thinking) + t, "".join(text) + x


@pytest.mark.parametrize(
    ("content", "thinking", "text"),
    [
        ("<think>reason</think>\n\nanswer", "reason", "answer"),
        ("\n <think>r</think>a", "r", "a"),
        ("plain answer", "", "plain answer"),
        ("Use <think> tags</think> like this", "", "Use <think> tags</think> like this"),
        ("<think>r</think>then <think>x</think>", "r", "then <think>x</think>"),
        ("<think>a < b and </thi", "a < b and </thi", ""),  # cut mid-think: all thinking
        ("<thin", "", "<thin"),
        ("<thinking>not the tag", "", "<thinking>not the tag"),
        ("", "", ""),
    ],
)
def test_think_splitter_at_every_split_point(content, thinking, text):
    assert run_splitter([content]) == (thinking, text)
    for i in range(len(content) + 1):
        assert run_splitter([content[:i], content[i:]]) == (thinking, text), i
    assert run_splitter(list(content)) == (thinking, text)


async def test_think_tags_in_compatible_content_split_across_chunks():
    pieces = ["<thi", "nk>Ponder", "ing...</th", "ink>\n\nHel", "lo"]
    body = sse(*(chunk({"content": p}) for p in pieces), chunk({}, "stop"))
    parts = await collect(make_provider("openai-compatible", Upstream(stream_response(body))))
    thinking = "".join(p.text for p in parts if isinstance(p, ThinkingDelta))
    assert thinking == "Pondering..." and text_of(parts) == "Hello"
    first_text = next(i for i, p in enumerate(parts) if isinstance(p, TextDelta))
    assert all(not isinstance(p, ThinkingDelta) for p in parts[first_text:])


async def test_think_tags_are_plain_text_for_openai():
    body = sse(chunk({"content": "<think>x</think>y"}), chunk({}, "stop"))
    parts = await collect(make_provider("openai", Upstream(stream_response(body))))
    assert parts == [TextDelta("<think>x</think>y"), Finish("stop")]


async def test_unterminated_think_block_is_flushed_before_incomplete_stream():
    body = sse(chunk({"content": "<think>still going </thi"}))
    up = Upstream(stream_response(body))
    parts, err = await collect_error(make_provider("openai-compatible", up))
    assert "".join(p.text for p in parts if isinstance(p, ThinkingDelta)) == "still going </thi"
    assert err.code == "incomplete_stream"


# --- requests --------------------------------------------------------------------------------


CONVERSATION = [
    ChatMessage(
        role="user", content="What's in this image?", images=[("image/png", "iVBORw0KGgo=")]
    ),
    ChatMessage(
        role="assistant",
        content="",
        thinking="I should look it up",
        tool_calls=[ToolCallRef(id="call_1", name="lookup", arguments='{"q": "cat"}')],
    ),
    ChatMessage(role="tool", content='{"result": "a cat"}', tool_call_id="call_1"),
    ChatMessage(role="assistant", content="A cat.", thinking="done"),
    ChatMessage(role="user", content="Thanks"),
]
TOOLS = [
    ToolSpec(
        name="lookup",
        description="Look things up",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
    )
]


async def test_openai_request_body_and_headers():
    up = Upstream(stream_response(OPENAI_OK))
    req = request(
        model="gpt-4o",
        system="Be brief.",
        messages=CONVERSATION,
        tools=TOOLS,
        max_output_tokens=500,
    )
    await collect(make_provider("openai", up, headers=(("X-Custom", "1"),)))
    sent = up.requests[0]
    assert sent.method == "POST" and str(sent.url) == "https://api.openai.com/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-custom"] == "1"

    up = Upstream(stream_response(OPENAI_OK))
    await collect(make_provider("openai", up), req)
    body = up.body()
    assert body == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What's in this image?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q": "cat"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"result": "a cat"}'},
            {"role": "assistant", "content": "A cat."},
            {"role": "user", "content": "Thanks"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 500,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "lookup",
                    "description": "Look things up",
                    "parameters": TOOLS[0].input_schema,
                },
            }
        ],
    }


async def test_sampling_params_only_when_set():
    up = Upstream(stream_response(OPENAI_OK))
    await collect(
        make_provider("deepseek", up), request(temperature=0.2, top_p=0.9, max_output_tokens=64)
    )
    body = up.body()
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.9, 64)
    assert "max_completion_tokens" not in body
    await collect(make_provider("deepseek", up), request())
    assert not {"temperature", "top_p", "max_tokens", "tools"} & up.body().keys()


async def test_reasoning_content_sent_back_only_when_asked():
    up = Upstream(stream_response(OPENAI_OK))
    await collect(make_provider("deepseek", up), request(messages=CONVERSATION))
    assert all("reasoning_content" not in m for m in up.body()["messages"])
    await collect(
        make_provider("deepseek", up), request(messages=CONVERSATION, send_reasoning_back=True)
    )
    assistants = [m for m in up.body()["messages"] if m["role"] == "assistant"]
    assert [m["reasoning_content"] for m in assistants] == ["I should look it up", "done"]


async def test_openai_compatible_sends_the_key_when_set():
    up = Upstream(stream_response(OPENAI_OK))
    await collect(make_provider("openai-compatible", up, api_key="local-key"))
    assert up.requests[-1].headers["authorization"] == "Bearer local-key"
    await collect(make_provider("openai-compatible", up, api_key=None))
    assert "authorization" not in up.requests[-1].headers


async def test_config_headers_win_over_auth_for_custom_backends():
    up = Upstream(stream_response(OPENAI_OK))
    headers = (("Authorization", "Token custom"), ("api-key", "azure-style"))
    await collect(make_provider("openai-compatible", up, headers=headers))
    sent = up.requests[-1].headers
    assert sent["authorization"] == "Token custom" and sent["api-key"] == "azure-style"
    assert sent.get_list("authorization") == ["Token custom"]


async def test_complete_openai_body_and_think_stripping():
    reply = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "<think>hmm</think>\n\nA Title"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 30,
            "completion_tokens": 8,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }
    up = Upstream(json_response(reply))
    text, usage = await make_provider("openai-compatible", up).complete(
        request(max_output_tokens=20)
    )
    assert text == "A Title" and usage == UsagePart(input_tokens=30, output_tokens=8)
    body = orjson.loads(up.requests[0].content)
    assert "stream" not in body and "stream_options" not in body and body["max_tokens"] == 20
    assert up.requests[0].headers["accept"] == "application/json"


async def test_complete_non_json_is_invalid_response():
    up = Upstream(stream_response(b"<html>oops</html>", content_type="text/html"))
    with pytest.raises(ProviderError) as info:
        await make_provider("openai", up, max_retries=0).complete(request())
    assert info.value.code == "invalid_response"
