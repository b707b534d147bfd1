"""Fake LLM provider servers: real HTTP/1.1 on 127.0.0.1, speaking each provider's wire format.

The sidecar's adapters, the tests, the benchmarks and the demo call them over real
sockets, exactly as they call the real APIs (see /work/shared/PROVIDERS.md):

    async with FakeProvider("anthropic") as fake:
        fake.enqueue(Script(text="Hi!", thinking="Let me see.", usage=Usage(100, 7)))
        ...  # point a client at fake.base_url

Kinds and where requests go (`base_url` is what the sidecar's provider config expects):
"openai", "deepseek", "openai-compatible": base ".../v1", POST {base}/chat/completions;
"openai" and "openai-compatible" also answer OpenAI's Responses API, POST {base}/responses
(`dialects/responses.py`: the documented event sequence; `thinking` becomes a reasoning
item with its summary and encrypted content when the request asks for them; it refuses
unknown parameters, `messages`, unpaired `function_call_output` items and reasoning
items it never issued; `responses_error` picks what `error_event` sends there);
"anthropic": base "http://127.0.0.1:PORT", POST {base}/v1/messages (the
`anthropic-version` header is required; the key may come as x-api-key or as a bearer
token, as the 2.x SDK sends it). GET /v1/models lists a few model names.
"openai" and "openai-compatible" also answer speech to text, POST {base}/audio/transcriptions
(multipart; `audio.py`: OpenAI's refusals and per-model usage; the transcript is the queued
Script's `text`, its HTTP faults apply, else a sentence naming the audio's size and format).
"ollama": base "http://127.0.0.1:PORT", POST {base}/api/chat streamed as newline-delimited
JSON (the default when `stream` is left out), GET /api/tags, POST /api/show, GET /api/ps
and GET /api/version (`dialects/ollama.py`); it knows the models it has "pulled"
(`model_rules.OLLAMA_MODELS`) and refuses others with Ollama's 404, as it refuses `think`
for a model that does not think and tools for one without them; `keepalive` sends blank
lines there.

A `Script` is one response. Text streams as `chunks` (else `text` cut in `chunk_size`
pieces), after `thinking` (Anthropic thinking block; DeepSeek `reasoning_content`;
openai-compatible `reasoning_content` or the quirk's way; dropped for "openai"), then the
`tool_calls`, whose JSON `arguments` stream in `chunk_size` fragments. `usage` None is
computed: input = prompt characters // 4 (or 12), output = the number of fragments.
`rate` paces fragments (per second); `keepalive` sends that many ": keep-alive" comments
first (`keepalive_interval` apart, default 1/rate); `split_writes` writes each SSE event in
pieces at awkward offsets; `headers` adds response headers (e.g. x-should-retry).

Faults: "http_400", "http_400_context", "http_401", "http_402", "http_403", "http_404",
"http_429", "http_429_quota", "http_500", "http_503", "http_529" answer with the dialect's
real error body and headers (`retry_after` sets retry-after); "redirect" (a 302 to a
login page) and "html" (the login page, status 200) are what a proxy answers in the API's
place, with `PROXY_SECRET` in the redirect target and the page. "error_event", "drop",
"stall", "keepalive_only" (": keep-alive" comments forever), "trickle" (an event with no
content, one byte at a time, forever; both `keepalive_interval` apart, default 0.05 s) and
"huge_line" (the next text fragment grows by `huge_line_bytes`, then the stream goes on)
strike mid-stream once `fault_after` text chunks were sent (before any fragment when 0);
"no_finish" ends the stream cleanly without a finish reason. On a non-streamed request
"error_event" answers 500 (529 for Anthropic), "no_finish" gives a null reason, and
"keepalive_only" and "trickle" send whitespace (allowed before JSON) forever.

A fake in another process (`python -m sidecar.dev.fakes`) is scripted over HTTP:
`POST /_fake/scripts {"scripts": [{"text": "Hi", "rate": 20, "tool_calls": [...]}]}`
queues scripts (Script's fields as JSON), `GET /_fake/requests` lists what it received.

Quirks (openai-compatible only): "ollama", "vllm", "lmstudio", "openrouter", "think_tags",
"xai" (reasoning tokens beside `completion_tokens`), "mistral" (thinking as typed `content`
parts).

Anthropic: `redacted_thinking` adds opaque redacted blocks after the thinking;
`thinking_blocks` adds more signed thinking blocks and `block_order` interleaves them with
the text and tool calls. The fake refuses, as the API does, a `redacted_thinking` block
whose data it never sent, and a tool turn whose latest assistant message does not carry
that response's blocks back unchanged and in their order.
"""

from sidecar.dev.fakes.provider import KINDS, PROXY_SECRET, FakeProvider
from sidecar.dev.fakes.script import (
    FAULTS,
    HTTP_FAULTS,
    LIMIT_FAULTS,
    PROXY_FAULTS,
    QUIRKS,
    STREAM_FAULTS,
    RecordedRequest,
    Script,
    ToolCallScript,
    Usage,
)

__all__ = [
    "FAULTS",
    "HTTP_FAULTS",
    "KINDS",
    "LIMIT_FAULTS",
    "PROXY_FAULTS",
    "PROXY_SECRET",
    "QUIRKS",
    "STREAM_FAULTS",
    "FakeProvider",
    "RecordedRequest",
    "Script",
    "ToolCallScript",
    "Usage",
]
