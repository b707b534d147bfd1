"""The byte-level stream framings (sidecar/providers/sse.py): the WHATWG event-stream
interpretation, read in any split, with the line and event cap; NDJSON; and one reply
through a sidecar over its WebSocket from an upstream that uses every SSE feature."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import orjson
import pytest

from sidecar.engine.http_client import SharedHttp
from sidecar.providers import (
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ProviderError,
    TextDelta,
    create_provider,
)
from sidecar.providers.sse import NDJSONParser, SSEParser
from tests.chat_env import chat_env

LIMIT = 1024


def parse(body: bytes, pieces: list[int] | None = None, limit: int = LIMIT) -> list[tuple]:
    """Events of `body` fed whole, or cut at the offsets in `pieces`, then ended."""
    parser = SSEParser(limit)
    cuts = [0, *(pieces or []), len(body)]
    events = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        events += parser.feed(body[a:b])
    return events + parser.end()


def every_split(body: bytes) -> list[tuple]:
    """The events, checked to be the same however the body is cut in two or in bytes."""
    whole = parse(body)
    for i in range(1, len(body)):
        assert parse(body, [i]) == whole, i
    assert parse(body, list(range(1, len(body)))) == whole
    return whole


# --- the WHATWG spec's examples (html.spec.whatwg.org, server-sent events) -------------------


def test_spec_stock_example_multi_line_data():
    body = b"data: YHOO\ndata: +2\ndata: 10\n\n"
    assert every_split(body) == [("", "YHOO\n+2\n10")]


def test_spec_example_comments_ids_and_a_final_event_without_blank_line_is_dropped():
    body = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n"
    parser = SSEParser(LIMIT)
    events = parser.feed(body)
    assert events == [("", "first event"), ("", "second event")]
    assert parser.last_id == ""  # `id` with no value resets it
    assert parser.end() == []  # "third event" had no blank line after it


def test_spec_example_data_with_and_without_a_space_and_empty_data():
    body = b"data\n\ndata\ndata\n\ndata:\n"
    assert parse(body) == [("", ""), ("", "\n")]
    assert parse(b"data:test\n\ndata: test\n\n") == [("", "test"), ("", "test")]
    assert parse(b"data:  two spaces\n\n") == [("", " two spaces")]  # only one is dropped


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"])
def test_line_endings_lf_cr_crlf(ending):
    body = ending.join([b"event: add", b"data: 1", b"data: 2", b"", b"data: x", b"", b""])
    assert every_split(body) == [("add", "1\n2"), ("", "x")]


def test_mixed_endings_and_a_crlf_cut_between_reads():
    assert every_split(b"data: a\r\n\rdata: b\n\r\ndata: c\r\r") == [
        ("", "a"),
        ("", "b"),
        ("", "c"),
    ]
    parser = SSEParser(LIMIT)
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # the LF completes "\r\n", it is not a blank line
    assert parser.feed(b"\r\n") == [("", "a")]


def test_event_id_retry_fields_and_unknown_fields():
    body = (
        b"event: ping\nid: 7\nretry: 1500\nfoo: bar\ndata: {}\n\nretry: soon\nid: a\0b\ndata: y\n\n"
    )
    parser = SSEParser(LIMIT)
    assert parser.feed(body) == [("ping", "{}"), ("", "y")]
    assert parser.last_id == "7" and parser.retry == 1500  # "soon" and the NUL id ignored
    assert parse(b"event: a\n\ndata: b\n\n") == [("", "b")]  # no data: no event, name reset


def test_a_leading_bom_is_dropped_once_and_only_at_the_start():
    bom = b"\xef\xbb\xbf"
    assert every_split(bom + b"data: 1\n\n") == [("", "1")]
    assert parse(b"data: 1\n\n" + bom + b"data: 2\n\n") == [("", "1")]  # a field named BOM+data


def test_comments_and_colons_in_values():
    body = b':keep-alive\n: x\ndata: {"a": "b:c"}\n:\n\n'
    assert every_split(body) == [("", '{"a": "b:c"}')]


def test_utf8_split_inside_a_character_and_invalid_bytes():
    text = "héllo ✓ 🦊".encode()
    assert every_split(b"data: " + text + b"\n\n") == [("", "héllo ✓ 🦊")]
    assert parse(b"data: \xff\n\n") == [("", "\ufffd")]


def test_several_events_in_one_read_come_out_of_one_feed():
    parser = SSEParser(LIMIT)
    body = b"".join(b"data: %d\n\n" % i for i in range(5))
    assert parser.feed(body) == [("", str(i)) for i in range(5)]


# --- the cap ---------------------------------------------------------------------------------


def test_a_line_over_the_cap_fails_as_it_comes_in_without_a_newline():
    parser = SSEParser(100)
    parser.feed(b"data: " + b"x" * 60)
    with pytest.raises(ProviderError) as exc:
        parser.feed(b"x" * 60)
    assert "100" in str(exc.value)


def test_an_event_over_the_cap_fails_even_in_short_lines():
    with pytest.raises(ProviderError):
        parse(b"".join(b"data: 0123456789\n" for _ in range(20)) + b"\n", limit=100)
    assert len(parse(b"data: 0123456789\n\n" * 20, limit=100)) == 20  # the cap is per event


def test_a_line_at_the_cap_passes():
    line = b"data: " + b"y" * 94  # 100 bytes
    assert parse(line + b"\n\n", limit=101) == [("", "y" * 94)]


# --- NDJSON ------------------------------------------------------------------------------------


def test_ndjson_lines_blank_lines_and_a_last_line_without_newline():
    parser = NDJSONParser(LIMIT)
    assert parser.feed(b'{"a":1}\n\n  \r\n{"b"') == [("", '{"a":1}')]
    assert parser.feed(b":2}") == []
    assert parser.end() == [("", '{"b":2}')]
    with pytest.raises(ProviderError):
        NDJSONParser(10).feed(b"x" * 11)


# --- through a sidecar, over its WebSocket -----------------------------------------------------


def chunk(text: str | None, finish: str | None = None) -> bytes:
    delta = {"content": text} if text else {}
    obj = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return orjson.dumps(obj)


END = b"data: " + chunk(None, "stop") + b"\n\ndata: [DONE]\n\n"


async def serve_once(
    body: bytes, headers: bytes = b"", pieces: int = 1
) -> tuple[asyncio.Server, str]:
    """A server answering a request with `body` (a content-length, then it closes),
    written in `pieces` writes; and its base URL."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n" + headers)
        writer.write(b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        step = -(-len(body) // pieces)
        for i in range(0, len(body), step):
            writer.write(body[i : i + step])
            await writer.drain()
            await asyncio.sleep(0)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"


async def test_an_upstream_using_every_sse_feature_streams_through_the_sidecar(tmp_path):
    # BOM, CR and CRLF endings, comments, retry/id fields, a named event, data split over
    # two lines (JSON allows the newline), every event written byte by byte in two writes
    body = (
        b"\xef\xbb\xbf: hello\r\nretry: 10\r\n\r\n"
        + b"id: 1\rdata: "
        + chunk("Hello")
        + b"\r\r"
        + b"event: message\ndata: "
        + chunk(", ")[:10]
        + b"\ndata: "
        + chunk(", ")[10:]
        + b"\n\n"
        + b"data:"
        + chunk("world")
        + b"\r\n\r\n"
        + END
    )

    server, url = await serve_once(body, pieces=2)
    async with server, chat_env(tmp_path) as env:
        await env.client.request(
            "providers.configure",
            {"id": "raw", "kind": "openai-compatible", "baseUrl": url},
        )
        await env.client.request("models.upsert", {"model": {"id": "raw-m", "provider": "raw"}})
        sent = await env.send("hi", modelId="raw-m")
        mid = sent["assistantMessageId"]
        final = await env.terminal(mid)
        assert final["type"] == "assistant.stream.completed"
        deltas = [e for e in env.events_of(mid) if e["type"] == "assistant.stream.delta"]
        assert "".join(d["text"] for d in deltas) == "Hello, world"
        assert [d["index"] for d in deltas] == list(range(len(deltas)))
        assert (await env.settled(mid))["content"] == "Hello, world"


async def texts_from(url: str, http: httpx.AsyncClient) -> list[str]:
    """One streamed reply from an OpenAI-compatible server at `url`: its text parts."""
    provider = create_provider(ProviderConfig(id="r", kind="openai-compatible", base_url=url), http)
    request = ChatRequest(model="m", messages=[ChatMessage(role="user", content="hi")])
    return [p.text async for p in provider.stream(request) if isinstance(p, TextDelta)]


async def test_a_gzipped_event_stream_is_decoded_before_parsing():
    events = b"".join(b"data: " + chunk(t) + b"\n\n" for t in ("a", "b", "c")) + END
    server, url = await serve_once(gzip.compress(events), b"content-encoding: gzip\r\n")
    async with server, httpx.AsyncClient() as http:
        assert "".join(await texts_from(url, http)) == "abc"


async def raw_provider_server(hold_open: bool) -> tuple[asyncio.Server, list[int]]:
    """An OpenAI-style server that answers every request on a connection with a chunked
    stream ending in [DONE]; `hold_open`: the body's end never comes after it."""
    connections: list[int] = []
    events = b"".join(
        b"data: " + c + b"\n\n" for c in (chunk("hi"), chunk(None, "stop"), b"[DONE]")
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
                writer.write(b"transfer-encoding: chunked\r\n\r\n")
                writer.write(b"%x\r\n%s\r\n" % (len(events), events))
                if hold_open:
                    await reader.read()  # until the client closes
                    break
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), connections


@pytest.mark.parametrize("hold_open", [False, True])
async def test_a_finished_stream_is_read_to_its_end_so_its_connection_is_reused(hold_open):
    server, connections = await raw_provider_server(hold_open)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    shared = SharedHttp()
    try:
        async with server:
            for _ in range(3):
                assert await texts_from(url, shared.get()) == ["hi"]
            # a server that never ends the body costs a new connection each time, and
            # the reply still ends (the wait for the body's end is bounded)
            assert len(connections) == (3 if hold_open else 1)
    finally:
        await shared.close()
