"""Fidelity (dev-only): the official OpenAI and Anthropic SDKs parse the fakes' streams.

If the SDKs accept the bytes and find the scripted text, tool calls, thinking and usage,
the fakes are close enough to the real APIs for the adapters to be tested against them.
"""

from __future__ import annotations

import json

import anthropic
import httpx
import ollama
import openai
import pytest

from sidecar.dev.fakes import FakeProvider, Script, ToolCallScript, Usage

MESSAGES = [{"role": "user", "content": "What's the weather in Paris?"}]
TOOLS = [
    ToolCallScript("call_w1", "get_weather", '{"city": "Paris", "unit": "celsius"}'),
    ToolCallScript("call_t2", "get_time", '{"timezone": "Europe/Paris"}'),
]


def openai_client(fake: FakeProvider, key: str = "sk-test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=key, max_retries=0)


def anthropic_client(fake: FakeProvider, key: str = "sk-ant-test") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.base_url, api_key=key, max_retries=0)


async def collect_openai(fake: FakeProvider, **kwargs) -> dict:
    """Stream one chat completion with the SDK and assemble it like an adapter would."""
    text, reasoning, finish, usage = [], [], None, None
    calls: dict[int, dict] = {}
    async with openai_client(fake) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
            **kwargs,
        )
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices or []:
                delta = choice.delta
                if delta.content:
                    text.append(delta.content)
                extra = delta.model_extra or {}
                if extra.get("reasoning_content"):
                    reasoning.append(extra["reasoning_content"])
                for call in delta.tool_calls or []:
                    slot = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                    if call.id:
                        slot["id"] = call.id
                    if call.function and call.function.name:
                        slot["name"] = call.function.name
                    if call.function and call.function.arguments:
                        slot["arguments"] += call.function.arguments
                if choice.finish_reason:
                    finish = choice.finish_reason
    return {
        "text": "".join(text),
        "reasoning": "".join(reasoning),
        "calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


# --- OpenAI SDK ----------------------------------------------------------------------


async def test_openai_sdk_streams_text_and_usage():
    async with FakeProvider("openai") as fake:
        fake.enqueue(
            Script(text="Hello, SDK! ünïcode ok.", chunk_size=3, usage=Usage(40, 9, 32, 0, 3))
        )
        got = await collect_openai(fake)
        request = fake.requests[-1]
    assert got["text"] == "Hello, SDK! ünïcode ok."
    assert got["finish"] == "stop"
    usage = got["usage"]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (40, 9, 49)
    assert usage.prompt_tokens_details.cached_tokens == 32
    assert usage.completion_tokens_details.reasoning_tokens == 3
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.body["stream_options"] == {"include_usage": True}


async def test_openai_sdk_parallel_tool_calls():
    async with FakeProvider("openai") as fake:
        fake.enqueue(Script(text="", tool_calls=TOOLS, chunk_size=4))
        got = await collect_openai(fake)
    assert got["finish"] == "tool_calls"
    assert got["calls"] == [
        {
            "id": "call_w1",
            "name": "get_weather",
            "arguments": '{"city": "Paris", "unit": "celsius"}',
        },
        {"id": "call_t2", "name": "get_time", "arguments": '{"timezone": "Europe/Paris"}'},
    ]
    assert json.loads(got["calls"][0]["arguments"]) == {"city": "Paris", "unit": "celsius"}


async def test_openai_sdk_reads_deepseek_reasoning_and_usage():
    async with FakeProvider("deepseek") as fake:
        fake.enqueue(
            Script(
                text="42.",
                thinking="The user asks; think first.",
                keepalive=2,
                split_writes=True,
                usage=Usage(100, 30, cached_tokens=80, reasoning_tokens=20),
            )
        )
        got = await collect_openai(fake)
    assert got["text"] == "42."
    assert got["reasoning"] == "The user asks; think first."
    assert got["usage"].prompt_tokens == 100
    assert got["usage"].completion_tokens_details.reasoning_tokens == 20
    assert got["usage"].model_extra["prompt_cache_hit_tokens"] == 80


@pytest.mark.parametrize("quirk", ["ollama", "vllm", "lmstudio", "openrouter", "think_tags", "xai"])
async def test_openai_sdk_survives_every_quirk(quirk):
    async with FakeProvider("openai-compatible") as fake:
        fake.enqueue(Script(text="Quirky.", thinking="hmm", tool_calls=TOOLS[:1], quirk=quirk))
        got = await collect_openai(fake)
    expected = "<think>hmm</think>Quirky." if quirk == "think_tags" else "Quirky."
    assert got["text"] == expected
    assert got["calls"] == [
        {
            "id": "call_w1",
            "name": "get_weather",
            "arguments": '{"city": "Paris", "unit": "celsius"}',
        }
    ]
    assert got["finish"] == "tool_calls"
    assert got["usage"].prompt_tokens > 0


async def test_openai_sdk_reads_xai_usage_with_reasoning_beside_completion():
    async with FakeProvider("openai-compatible") as fake:
        fake.enqueue(
            Script(
                text="42.",
                thinking="Multiply.",
                quirk="xai",
                usage=Usage(1000, 400, cached_tokens=200, reasoning_tokens=300),
            )
        )
        got = await collect_openai(fake)
    usage = got["usage"]
    assert (got["text"], got["reasoning"]) == ("42.", "Multiply.")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1000, 100, 1400)
    assert usage.completion_tokens_details.reasoning_tokens == 300
    assert usage.prompt_tokens_details.cached_tokens == 200


def mistral_pieces(content) -> list[tuple[str, str]]:
    """("thinking" | "text", text) for a Mistral `content`: a string or a list of typed parts."""
    if isinstance(content, str):
        return [("text", content)] if content else []
    pieces = []
    for part in content:
        if part["type"] == "thinking":
            pieces += [("thinking", inner["text"]) for inner in part["thinking"]]
        else:
            pieces.append((part["type"], part["text"]))
    return pieces


async def test_openai_sdk_passes_mistral_thinking_parts_through():
    """Mistral streams thinking as typed parts in `content`; the SDK hands them over as is."""
    async with FakeProvider("openai-compatible") as fake, openai_client(fake) as client:
        fake.enqueue(
            Script(text="It is 42.", thinking="Six sevens.", quirk="mistral", chunk_size=4)
        )
        stream = await client.chat.completions.create(
            model="magistral-medium-latest", messages=MESSAGES, stream=True
        )
        contents = [c.delta.content async for chunk in stream for c in chunk.choices]
        fake.enqueue(Script(text="It is 42.", thinking="Six sevens.", quirk="mistral"))
        whole = await client.chat.completions.create(model="m", messages=MESSAGES)
    pieces = [piece for content in contents if content for piece in mistral_pieces(content)]
    assert "".join(t for kind, t in pieces if kind == "thinking") == "Six sevens."
    assert "".join(t for kind, t in pieces if kind == "text") == "It is 42."
    kinds = [kind for kind, _ in pieces]
    assert kinds == sorted(kinds, key=lambda kind: kind != "thinking")  # thinking comes first
    assert any(isinstance(content, list) and len(content) == 2 for content in contents)
    assert mistral_pieces(whole.choices[0].message.content) == [
        ("thinking", "Six sevens."),
        ("text", "It is 42."),
    ]


async def test_openai_sdk_non_streamed():
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        fake.enqueue(Script(text="Weather in Paris", usage=Usage(20, 4)))
        completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "Weather in Paris"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens == 24


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        ("http_401", "AuthenticationError", 401),
        ("http_429", "RateLimitError", 429),
        ("http_429_quota", "RateLimitError", 429),
        ("http_500", "InternalServerError", 500),
        ("http_402", "APIStatusError", 402),
    ],
)
async def test_openai_sdk_error_classes(fault, error_class, status):
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        fake.enqueue(Script(fault=fault, retry_after=1))
        with pytest.raises(getattr(openai, error_class)) as caught:
            await client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True
            )
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    if fault == "http_429_quota":
        assert caught.value.code == "insufficient_quota"


async def test_openai_sdk_api_key_check_and_mid_stream_error():
    async with FakeProvider("openai", api_key="sk-right") as fake:
        async with openai_client(fake, key="sk-wrong") as client:
            with pytest.raises(openai.AuthenticationError) as caught:
                await client.chat.completions.create(model="m", messages=MESSAGES)
            assert caught.value.code == "invalid_api_key"
        fake.enqueue(Script(text="abcdef", chunk_size=2, fault="error_event", fault_after=1))
        async with openai_client(fake, key="sk-right") as client:
            stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            seen = []
            with pytest.raises(openai.APIError, match="Sorry about that"):
                async for chunk in stream:
                    seen.extend(c.delta.content for c in chunk.choices if c.delta.content)
    assert seen == ["ab"]


# --- OpenAI SDK, Responses API ---------------------------------------------------------

RESPONSES_INPUT = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]}
]
FUNCTION_TOOLS = [
    {"type": "function", "name": n, "description": "", "parameters": {}, "strict": False}
    for n in ("get_weather", "get_time")
]


async def test_openai_sdk_responses_stream_text_reasoning_calls_and_usage():
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        fake.enqueue(
            Script(
                text="Checking both.",
                chunk_size=4,
                thinking="The user wants weather and time.",
                tool_calls=TOOLS,
                usage=Usage(50, 30, 20, 0, 12),
            )
        )
        summary: list[str] = []
        kinds: list[str] = []
        async with client.responses.stream(
            model="gpt-5",
            input=RESPONSES_INPUT,
            instructions="Be brief.",
            tools=FUNCTION_TOOLS,
            reasoning={"summary": "auto"},
            include=["reasoning.encrypted_content"],
            store=False,
        ) as stream:
            async for event in stream:
                kinds.append(event.type)
                if event.type == "response.reasoning_summary_text.delta":
                    summary.append(event.delta)
            final = await stream.get_final_response()
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "".join(summary) == "The user wants weather and time."
    assert final.output_text == "Checking both."
    reasoning = final.output[0]
    assert reasoning.type == "reasoning" and reasoning.encrypted_content
    assert reasoning.summary[0].text == "The user wants weather and time."
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_w1", "get_weather", {"city": "Paris", "unit": "celsius"}),
        ("call_t2", "get_time", {"timezone": "Europe/Paris"}),
    ]
    usage = final.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (50, 30, 80)
    assert usage.input_tokens_details.cached_tokens == 20
    assert usage.output_tokens_details.reasoning_tokens == 12
    sent = fake.requests[-1].body
    assert sent["store"] is False and sent["stream"] is True


async def test_openai_sdk_responses_create_stream_and_tool_outputs_back():
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        fake.enqueue(Script(text="Sunny, 21 °C.", finish_reason="length"))
        stream = await client.responses.create(
            model="gpt-4.1",
            input=[
                *RESPONSES_INPUT,
                {
                    "type": "function_call",
                    "call_id": "call_w1",
                    "name": "get_weather",
                    "arguments": "{}",
                },
                {"type": "function_call_output", "call_id": "call_w1", "output": "sunny"},
            ],
            stream=True,
        )
        events = [event async for event in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Sunny, 21 °C."
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"extra_body": {"messages": MESSAGES}}, "Unknown parameter: 'messages'."),
        ({"input": RESPONSES_INPUT, "extra_body": {"bogus": 1}}, "Unknown parameter: 'bogus'."),
        (
            {
                "input": [
                    *RESPONSES_INPUT,
                    {"type": "function_call_output", "call_id": "call_x", "output": "?"},
                ]
            },
            "No tool call found for function call output with call_id call_x.",
        ),
        (
            {
                "input": [
                    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"}
                ]
            },
            "could not be verified",
        ),
    ],
)
async def test_openai_sdk_responses_refusals(kwargs, message):
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        with pytest.raises(openai.BadRequestError, match=message) as caught:
            await client.responses.create(model="gpt-4.1", stream=True, store=False, **kwargs)
    assert caught.value.status_code == 400


async def test_openai_sdk_responses_failed_event():
    async with FakeProvider("openai-compatible") as fake, openai_client(fake) as client:
        fake.enqueue(Script(text="abcdef", chunk_size=2, fault="error_event", fault_after=1))
        stream = await client.responses.create(model="m", input="hi", stream=True)
        events = [event async for event in stream]
    assert [e.delta for e in events if e.type == "response.output_text.delta"] == ["ab"]
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "server_error"


# --- Anthropic SDK -------------------------------------------------------------------


async def test_anthropic_sdk_stream_final_message():
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        fake.enqueue(
            Script(
                text="Let me check both.",
                thinking="I need the weather and the time.",
                tool_calls=TOOLS,
                chunk_size=5,
                split_writes=True,
                usage=Usage(
                    input_tokens=500, output_tokens=60, cached_tokens=300, cache_write_tokens=100
                ),
            )
        )
        texts = []
        async with client.messages.stream(
            model="claude-sonnet-fake",
            max_tokens=2048,  # the API wants it above the thinking budget
            messages=MESSAGES,
            thinking={"type": "enabled", "budget_tokens": 1024},
        ) as stream:
            async for event in stream:
                if event.type == "text":
                    texts.append(event.text)
            message = await stream.get_final_message()
        request = fake.requests[-1]
    assert "".join(texts) == "Let me check both."
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    thinking, text, weather, time_call = message.content
    assert thinking.thinking == "I need the weather and the time." and thinking.signature
    assert text.text == "Let me check both."
    assert (weather.id, weather.name, weather.input) == (
        "call_w1",
        "get_weather",
        {"city": "Paris", "unit": "celsius"},
    )
    assert (time_call.name, time_call.input) == ("get_time", {"timezone": "Europe/Paris"})
    assert message.stop_reason == "tool_use"
    assert message.model == "claude-sonnet-fake"
    usage = message.usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (
        100,
        300,
        100,
    )
    assert usage.output_tokens == 60
    # the SDK sends the key as x-api-key (1.x and older) or as a bearer token (2.x)
    assert request.headers.get("x-api-key") == "sk-ant-test" or (
        request.headers.get("authorization") == "Bearer sk-ant-test"
    )
    assert request.headers["anthropic-version"]


async def test_anthropic_sdk_reads_interleaved_thinking_streamed_and_whole():
    """Several signed thinking blocks between text and tool calls, in their order, as the
    SDK assembles them from the stream and reads them from a whole message."""
    script = dict(
        text="Checking. ",
        thinking="Weather first.",
        thinking_blocks=["Now the time."],
        tool_calls=TOOLS,
        block_order=["thinking", "text", "tool_use", "thinking", "tool_use"],
        chunk_size=4,
    )
    order = ["thinking", "text", "tool_use", "thinking", "tool_use"]
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        fake.enqueue(Script(**script), Script(**script))
        async with client.messages.stream(
            model="claude-opus-4-6", max_tokens=2048, messages=MESSAGES
        ) as stream:
            streamed = await stream.get_final_message()
        whole = await client.messages.create(
            model="claude-opus-4-6", max_tokens=2048, messages=MESSAGES
        )
    for message in (streamed, whole):
        assert [block.type for block in message.content] == order
        first, _, _, second, _ = message.content
        assert (first.thinking, second.thinking) == ("Weather first.", "Now the time.")
        assert first.signature and second.signature and first.signature != second.signature


async def test_anthropic_sdk_non_streamed():
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        message = await client.messages.create(
            model="claude-haiku-fake", max_tokens=20, messages=MESSAGES
        )
    assert message.content[0].text == "You said: What's the weather in Paris?"
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("fault", "error_class", "status"),
    [
        ("http_401", "AuthenticationError", 401),
        ("http_429", "RateLimitError", 429),
        ("http_529", "InternalServerError", 529),
        ("http_500", "InternalServerError", 500),
        ("http_402", "APIStatusError", 402),
    ],
)
async def test_anthropic_sdk_error_classes(fault, error_class, status):
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        fake.enqueue(Script(fault=fault))
        with pytest.raises(getattr(anthropic, error_class)) as caught:
            async with client.messages.stream(
                model="m", max_tokens=10, messages=MESSAGES
            ) as stream:
                await stream.get_final_message()
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert caught.value.body["type"] == "error"


async def test_anthropic_sdk_mid_stream_overloaded():
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        fake.enqueue(Script(text="abcdef", chunk_size=2, fault="error_event", fault_after=2))
        texts = []
        with pytest.raises(anthropic.APIStatusError) as caught:
            async with client.messages.stream(
                model="m", max_tokens=10, messages=MESSAGES
            ) as stream:
                async for event in stream:
                    if event.type == "text":
                        texts.append(event.text)
    assert texts == ["ab", "cd"]
    assert caught.value.body["error"]["type"] == "overloaded_error"


async def test_anthropic_sdk_api_key_check():
    async with FakeProvider("anthropic", api_key="sk-ant-right") as fake:
        async with anthropic_client(fake, key="sk-ant-wrong") as client:
            with pytest.raises(anthropic.AuthenticationError):
                await client.messages.create(model="m", max_tokens=10, messages=MESSAGES)
        async with anthropic_client(fake, key="sk-ant-right") as client:
            message = await client.messages.create(model="m", max_tokens=10, messages=MESSAGES)
    assert message.content[0].text.startswith("You said:")


async def test_sdks_see_a_dropped_connection_as_incomplete():
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        fake.enqueue(Script(text="abcdef", chunk_size=2, fault="drop", fault_after=1))
        stream = await client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIConnectionError):
            async for _ in stream:
                pass
    async with FakeProvider("anthropic") as fake, anthropic_client(fake) as client:
        fake.enqueue(Script(text="abcdef", chunk_size=2, fault="drop", fault_after=1))
        # the Anthropic SDK lets its HTTP library's protocol error through mid-stream
        with pytest.raises(Exception, match="incomplete chunked read"):
            async with client.messages.stream(
                model="m", max_tokens=10, messages=MESSAGES
            ) as stream:
                await stream.get_final_message()


# --- speech to text: POST /v1/audio/transcriptions -----------------------------------

AUDIO = bytes(range(256)) * 125  # 32,000 bytes: two seconds to the fake


async def test_openai_sdk_transcribes_with_token_usage():
    async with FakeProvider("openai", api_key="sk-test") as fake, openai_client(fake) as client:
        fake.enqueue(Script(text="Hello from the microphone."))
        got = await client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe",
            file=("note.webm", AUDIO, "audio/webm"),
            language="en",
            prompt="A short note.",
        )
        assert got.text == "Hello from the microphone."
        assert got.usage.type == "tokens"
        details = got.usage.input_token_details
        assert details.audio_tokens == 20 and details.text_tokens == len("A short note.") // 4
        assert got.usage.input_tokens == details.audio_tokens + details.text_tokens
        assert got.usage.total_tokens == got.usage.input_tokens + got.usage.output_tokens
        [request] = fake.requests
        assert request.body["file"] == {
            "filename": "note.webm",
            "contentType": "audio/webm",
            "size": len(AUDIO),
        }
        assert (request.body["model"], request.body["language"]) == ("gpt-4o-mini-transcribe", "en")


async def test_openai_sdk_whisper_verbose_json_has_duration():
    async with FakeProvider("openai") as fake, openai_client(fake) as client:
        got = await client.audio.transcriptions.create(
            model="whisper-1", file=("take.wav", AUDIO, "audio/wav"), response_format="verbose_json"
        )
        assert got.duration == 2.0 and got.language == "english"
        assert got.text == f"Transcribed {len(AUDIO)} bytes of wav audio."
        assert got.segments[0].end == 2.0
        assert got.usage.type == "duration" and got.usage.seconds == 2
        plain = await client.audio.transcriptions.create(
            model="whisper-1", file=("take.mp3", AUDIO), response_format="text"
        )
        assert plain.strip() == f"Transcribed {len(AUDIO)} bytes of mp3 audio."


async def test_openai_sdk_sees_the_transcription_refusals():
    async with FakeProvider("openai", api_key="sk-right") as fake:
        async with openai_client(fake, key="sk-right") as client:
            with pytest.raises(openai.BadRequestError, match="Invalid file format"):
                await client.audio.transcriptions.create(
                    model="whisper-1", file=("notes.txt", b"hello", "text/plain")
                )
            with pytest.raises(openai.NotFoundError) as missing:
                await client.audio.transcriptions.create(
                    model="whisper-9", file=("a.ogg", AUDIO, "audio/ogg")
                )
            assert missing.value.code == "model_not_found"
            with pytest.raises(openai.BadRequestError, match="not compatible with model"):
                await client.audio.transcriptions.create(
                    model="gpt-4o-transcribe",
                    file=("a.ogg", AUDIO),
                    response_format="verbose_json",
                )
            with pytest.raises(openai.BadRequestError, match="body -> file"):
                await client.post(
                    "/audio/transcriptions",
                    cast_to=object,
                    body={"model": "whisper-1"},
                    files=[("model", ("m", b"whisper-1"))],
                    options={"headers": {"Content-Type": "multipart/form-data"}},
                )
        async with openai_client(fake, key="sk-wrong") as client:
            with pytest.raises(openai.AuthenticationError):
                await client.audio.transcriptions.create(
                    model="whisper-1", file=("a.ogg", AUDIO, "audio/ogg")
                )


async def test_openai_sdk_against_a_compatible_transcription_server():
    async with FakeProvider("openai-compatible") as fake, openai_client(fake) as client:
        got = await client.audio.transcriptions.create(
            model="Systran/faster-whisper-small", file=("a.flac", AUDIO, "audio/flac")
        )
        assert got.text.endswith("flac audio.") and getattr(got, "usage", None) is None


# --- Ollama's Python client ------------------------------------------------------------


async def test_ollama_client_streams_thinking_text_tool_calls_and_counters():
    async with FakeProvider("ollama") as fake:
        fake.enqueue(
            Script(
                text="Paris is sunny. ünïcode ok.",
                thinking="The user wants weather.",
                chunk_size=4,
                tool_calls=TOOLS,
                usage=Usage(52, 17),
            )
        )
        client = ollama.AsyncClient(host=fake.base_url)
        stream = await client.chat(
            model="qwen3:8b",
            messages=MESSAGES,
            stream=True,
            think=True,
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {}}}],
            options={"num_ctx": 8192, "temperature": 0.2},
        )
        parts = [part async for part in stream]
    text = "".join(p.message.content or "" for p in parts)
    thinking = "".join(p.message.thinking or "" for p in parts)
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert text == "Paris is sunny. ünïcode ok." and thinking == "The user wants weather."
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [
        ("get_weather", {"city": "Paris", "unit": "celsius"}),
        ("get_time", {"timezone": "Europe/Paris"}),
    ]
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    last = parts[-1]
    assert (last.done_reason, last.prompt_eval_count, last.eval_count) == ("stop", 52, 17)
    assert last.total_duration and last.eval_duration
    body = fake.requests[-1].body
    assert body["think"] is True and body["options"]["num_ctx"] == 8192


async def test_ollama_client_non_streamed_tool_results_back_and_length():
    async with FakeProvider("ollama") as fake:
        fake.enqueue(Script(text="It is 21 °C", finish_reason="length"))
        client = ollama.AsyncClient(host=fake.base_url)
        reply = await client.chat(
            model="llama3.2",  # no tag: :latest
            messages=[
                *MESSAGES,
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
                    ],
                },
                {"role": "tool", "content": '{"temp": 21}', "tool_name": "get_weather"},
            ],
            stream=False,
        )
    assert reply.message.content == "It is 21 °C" and reply.done_reason == "length"
    sent = fake.requests[-1].body["messages"]
    assert sent[-1] == {"role": "tool", "content": '{"temp": 21}', "tool_name": "get_weather"}


async def test_ollama_client_lists_shows_and_sees_running_models_and_version():
    async with FakeProvider("ollama") as fake:
        client = ollama.AsyncClient(host=fake.base_url)
        listed = await client.list()
        names = [m.model for m in listed.models]
        assert "qwen3:8b" in names and "llama3.2:latest" in names
        qwen = next(m for m in listed.models if m.model == "qwen3:8b")
        assert qwen.size and qwen.size > 10**9 and qwen.details.quantization_level == "Q4_K_M"
        shown = await client.show("qwen3:8b")
        arch = shown.modelinfo["general.architecture"]
        assert shown.modelinfo[f"{arch}.context_length"] == 40960
        assert "thinking" in (shown.capabilities or [])
        assert (await client.ps()).models == []
        await client.chat(
            model="qwen3:8b", messages=MESSAGES, stream=False, options={"num_ctx": 16384}
        )
        running = (await client.ps()).models
        assert [(m.model, m.context_length) for m in running] == [("qwen3:8b", 16384)]
        # the client has no version call: the endpoint is plain HTTP
        async with httpx.AsyncClient() as http:
            version = (await http.get(f"{fake.base_url}/api/version")).json()
    assert isinstance(version["version"], str) and version["version"].count(".") == 2


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"model": "mistral", "messages": MESSAGES}, 404, 'model "mistral" not found'),
        ({"model": "llama3.2", "messages": MESSAGES, "think": True}, 400, "support thinking"),
        ({"model": "llava:7b", "messages": MESSAGES, "tools": [{}]}, 400, "support tools"),
        ({"model": "qwen3:8b", "messages": [{"role": "robot"}]}, 400, "invalid role"),
    ],
)
async def test_ollama_client_sees_what_ollama_refuses(body, status, message):
    async with FakeProvider("ollama") as fake:
        client = ollama.AsyncClient(host=fake.base_url)
        with pytest.raises(ollama.ResponseError) as caught:
            await client.chat(**body, stream=False)
    assert caught.value.status_code == status and message in caught.value.error


async def test_ollama_client_sees_an_error_line_mid_stream():
    async with FakeProvider("ollama") as fake:
        fake.enqueue(Script(text="abcdef", chunk_size=2, fault="error_event", fault_after=2))
        client = ollama.AsyncClient(host=fake.base_url)
        stream = await client.chat(model="qwen3:8b", messages=MESSAGES, stream=True)
        texts = []
        with pytest.raises(ollama.ResponseError, match="error was encountered"):
            async for part in stream:
                texts.append(part.message.content)
    assert texts == ["ab", "cd"]
