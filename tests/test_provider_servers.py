"""providers.models and providers.check against real servers on loopback: the fakes'
model lists, a refused key, a closed port, a server that never answers and one that is
not an API at all. Each problem is an answer saying so, never a hung or failed call."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from tests.chat_env import chat_env
from tests.harness import RpcFailure


@contextlib.asynccontextmanager
async def raw_server(answer: bytes | None) -> AsyncIterator[str]:
    """An HTTP server on loopback answering every request with `answer` (None: never)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if answer is None:
            await reader.read()  # holds the connection until the client gives up
        else:
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.close()


async def configure(env, provider_id: str, base_url: str, **extra) -> None:
    await env.client.request(
        "providers.configure",
        {"id": provider_id, "kind": "openai-compatible", "baseUrl": base_url, **extra},
    )


async def test_models_and_check_of_a_server_that_answers(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        await env.client.request(
            "models.upsert",
            {"model": {"id": "mini", "provider": "local", "providerModel": "gpt-4o-mini"}},
        )
        listed = await env.client.request("providers.models", {"id": "local"})
        assert listed["error"] is None
        assert [(m["name"], m["modelId"]) for m in listed["models"]] == [
            ("gpt-4o-mini", "mini"),
            ("gpt-4o", None),
        ]
        assert env.fake.requests[-1].method == "GET"
        assert env.fake.requests[-1].headers["authorization"].startswith("Bearer ")
        check = await env.client.request("providers.check", {"id": "local"})
        assert check["ok"] and check["reachable"] and check["keyAccepted"] is True
        assert check["modelCount"] == 2 and check["error"] is None
        assert isinstance(check["latencyMs"], int) and check["latencyMs"] >= 0


@pytest.mark.parametrize("kind", ["anthropic", "deepseek"])
async def test_the_built_in_kinds_list_their_models_too(tmp_path, kind):
    async with chat_env(tmp_path, kind) as env:
        listed = await env.client.request("providers.models", {"id": kind})
        assert listed["error"] is None and listed["models"]
        assert all(m["name"] for m in listed["models"])


async def test_a_refused_key_a_closed_port_and_unknown_providers(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        env.fake.api_key = "the-right-key"
        await configure(env, "local", env.fake.base_url, apiKey="sk-wrong-0123456789")
        check = await env.client.request("providers.check", {"id": "local"})
        assert (check["ok"], check["reachable"], check["keyAccepted"]) == (False, True, False)
        assert check["error"]["code"] == "auth" and check["error"]["httpStatus"] == 401
        assert "sk-wrong-0123456789" not in str(check)
        listed = await env.client.request("providers.models", {"id": "local"})
        assert listed["models"] == [] and listed["error"]["code"] == "auth"

        with contextlib.closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]  # bound, never listening: connections are refused
            await configure(env, "gone", f"http://127.0.0.1:{closed}/v1")
            check = await env.client.request("providers.check", {"id": "gone"})
        assert (check["ok"], check["reachable"], check["latencyMs"]) == (False, False, None)
        assert check["error"]["code"] == "connection"

        for method in ("providers.models", "providers.check"):
            with pytest.raises(RpcFailure) as err:
                await env.client.request(method, {"id": "nobody"})
            assert err.value.reason == "PROVIDER_NOT_CONFIGURED"


async def test_a_server_that_never_answers_or_is_not_an_api(tmp_path):
    page = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 21\r\n"
        b"connection: close\r\n\r\n<html>Sign in</html>\n"
    )
    async with chat_env(tmp_path, "openai-compatible") as env:
        async with raw_server(None) as silent, raw_server(page) as portal:
            await configure(env, "silent", silent, idleTimeoutSeconds=0.5)
            await configure(env, "portal", portal)
            check = await env.client.request("providers.check", {"id": "silent"})
            assert not check["ok"] and not check["reachable"]
            assert check["error"]["code"] == "timeout"
            check = await env.client.request("providers.check", {"id": "portal"})
            assert (check["ok"], check["reachable"], check["keyAccepted"]) == (False, True, None)
            assert check["error"]["code"] == "invalid_response"
            assert "text/html" in check["error"]["message"]
