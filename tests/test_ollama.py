"""The ollama kind: Ollama's native /api/chat (NDJSON) through a real sidecar over a real
WebSocket, against the fake Ollama over real HTTP; and providers.models / providers.check
against it, a closed port, a silent server, a web page and a server that is not Ollama.

Every event and response is checked against the schema by the harness (tests/contract.py).
"""

from __future__ import annotations

import contextlib
import json
import socket

import pytest

from sidecar.dev.fakes import Script, ToolCallScript, Usage
from tests.chat_env import API_KEY, chat_env
from tests.harness import RpcFailure
from tests.test_branching import PNG
from tests.test_chat import assert_lifecycle
from tests.test_provider_servers import raw_server

TEXT = "Local models are fun."
CONTEXT = 40960  # the catalog's window for the test model; the fake's qwen3:8b has the same


async def use_model(env, model_id: str, upstream: str, provider: str = "ollama", **fields) -> None:
    """Add an ollama model to the catalog and make it the conversation's."""
    await env.client.request(
        "models.upsert",
        {"model": {"id": model_id, "provider": provider, "providerModel": upstream, **fields}},
    )
    await env.client.request(
        "conversations.update", {"conversationId": env.conversation_id, "modelId": model_id}
    )


async def settings(env, **values) -> None:
    await env.client.request(
        "conversations.update", {"conversationId": env.conversation_id, "settings": values}
    )


def chat_requests(env) -> list[dict]:
    return [r.body for r in env.fake.requests if r.path == "/api/chat"]


# --- replies ---------------------------------------------------------------------------------


async def test_text_with_usage_and_the_context_window_as_num_ctx(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        await use_model(env, "qwen", "qwen3:8b", contextWindow=CONTEXT)
        env.fake.enqueue(Script(text=TEXT, chunk_size=5, usage=Usage(31, 9)))
        mid = (await env.send("Say something"))["assistantMessageId"]
        final = await env.settled(mid)
        deltas = assert_lifecycle(env.events_of(mid), mid, "assistant.stream.completed")
        assert final["content"] == TEXT and 1 <= len(deltas) <= 5  # one per read at most
        usage = final["usage"]
        assert (usage["inputTokens"], usage["outputTokens"]) == (31, 9)
        [record] = [e["usage"] for e in env.events_of(mid) if e["type"] == "usage.recorded"]
        assert (record["inputTokens"], record["outputTokens"]) == (31, 9)

        [request] = env.fake.requests
        assert request.path == "/api/chat"
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert request.headers["accept"] == "application/x-ndjson"
        body = request.body
        assert body["model"] == "qwen3:8b" and body["stream"] is True
        assert body["messages"] == [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say something"},
        ]
        assert body["options"] == {"num_ctx": CONTEXT}
        assert "think" not in body and "tools" not in body, "a profile that does not reason"

        # The conversation's own window, output cap and sampling go in options too.
        await settings(env, contextWindow=8192, maxOutputTokens=500, temperature=0.3, topP=0.9)
        mid = (await env.send("Again"))["assistantMessageId"]
        await env.settled(mid)
        assert chat_requests(env)[-1]["options"] == {
            "num_ctx": 8192,
            "num_predict": 500,
            "temperature": 0.3,
            "top_p": 0.9,
        }
        assert chat_requests(env)[-1]["messages"][2] == {"role": "assistant", "content": TEXT}


async def test_thinking_is_asked_for_by_the_profile_and_kept(tmp_path):
    thought = "The user wants a greeting; keep it short."
    async with chat_env(tmp_path, "ollama") as env:
        await use_model(env, "qwen-think", "qwen3:8b", profile={"thinking": "always"})
        env.fake.enqueue(Script(text=TEXT, thinking=thought, chunk_size=6))
        mid = (await env.send("Hi"))["assistantMessageId"]
        final = await env.settled(mid)
        events = env.events_of(mid)
        kinds = [e["type"] for e in events]
        streamed = "".join(e["text"] for e in events if e["type"] == "agent.thinking.delta")
        assert streamed == final["thinking"] == thought and final["content"] == TEXT
        assert kinds.index("agent.thinking.completed") < kinds.index("assistant.stream.delta")
        assert chat_requests(env)[-1]["think"] is True

        # A model with levels gets the conversation's effort as a level (max: its highest);
        # `auto` leaves the model's default.
        await use_model(
            env,
            "oss",
            "gpt-oss:20b",
            profile={"thinking": "always", "efforts": ["low", "medium", "high"]},
        )
        for effort, think in (("medium", "medium"), ("max", "high"), ("auto", None)):
            await settings(env, effort=effort)
            mid = (await env.send(f"effort {effort}"))["assistantMessageId"]
            assert (await env.settled(mid))["status"] == "complete"
            assert chat_requests(env)[-1].get("think") == think, effort


async def test_a_tool_loop_sends_the_result_back_as_a_tool_message(tmp_path):
    calc = ToolCallScript(id="", name="calculate", arguments='{"expression": "6*7"}')
    async with chat_env(tmp_path, "ollama") as env:
        env.fake.enqueue(
            Script(text="Let me compute. ", tool_calls=[calc], usage=Usage(50, 12)),
            Script(text="It is 42.", usage=Usage(80, 4)),
        )
        mid = (await env.send("What is 6 times 7?", tools=["calculate"]))["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "complete" and final["content"] == "Let me compute. It is 42."
        [call] = final["toolCalls"]
        assert call["providerCallId"] == "call_0" and call["id"] != "call_0"
        assert (call["name"], call["arguments"], call["status"]) == (
            "calculate",
            {"expression": "6*7"},
            "completed",
        )
        records = [e["usage"] for e in env.events_of(mid) if e["type"] == "usage.recorded"]
        assert [(r["inputTokens"], r["outputTokens"]) for r in records] == [(50, 12), (80, 4)]

        first, second = chat_requests(env)
        assert first["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "calculate",
                    "description": first["tools"][0]["function"]["description"],
                    "parameters": first["tools"][0]["function"]["parameters"],
                },
            }
        ]
        assistant, result = second["messages"][2], second["messages"][3]
        assert assistant == {
            "role": "assistant",
            "content": "Let me compute. ",
            "tool_calls": [{"function": {"name": "calculate", "arguments": {"expression": "6*7"}}}],
        }
        assert result["role"] == "tool" and result["tool_name"] == "calculate"
        assert json.loads(result["content"]) == {"expression": "6*7", "result": 42}

        # A later turn replays the loop the same way (and the fake takes it).
        again = (await env.send("Thanks"))["assistantMessageId"]
        assert (await env.settled(again))["status"] == "complete"
        assert chat_requests(env)[-1]["messages"][2:4] == [assistant, result]


async def test_images_go_as_base64_in_images(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        await use_model(env, "llava", "llava:7b", capabilities={"vision": True})
        image = {"name": "cat.png", "mimeType": "image/png", "data": PNG}
        mid = (await env.send("What is this?", attachments=[image]))["assistantMessageId"]
        assert (await env.settled(mid))["status"] == "complete"
        user = chat_requests(env)[-1]["messages"][1]
        assert user == {"role": "user", "content": "What is this?", "images": [PNG]}


async def test_done_reason_length_ends_the_reply_with_length(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        env.fake.enqueue(Script(text="Cut off mid", finish_reason="length"))
        mid = (await env.send("Write an essay"))["assistantMessageId"]
        terminal = await env.terminal(mid)
        assert terminal["type"] == "assistant.stream.completed"
        assert terminal["finishReason"] == "length"
        assert (await env.settled(mid))["content"] == "Cut off mid"


async def test_cancel_mid_stream_closes_the_upstream(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        env.fake.enqueue(Script(text="z" * 400, chunk_size=4, rate=40))
        mid = (await env.send("Write a lot"))["assistantMessageId"]
        await env.client.wait_for(
            lambda e: (
                e["type"] == "assistant.stream.delta" and e["messageId"] == mid and e["index"] == 2
            )
        )
        assert await env.client.request("chat.cancel", {"messageId": mid}) == {"cancelled": True}
        await env.fake.wait_disconnect(2.0)
        final = await env.settled(mid)
        deltas = assert_lifecycle(env.events_of(mid), mid, "assistant.stream.cancelled")
        content = final["content"]
        assert len(deltas) >= 1
        assert final["status"] == "cancelled" and content == "z" * len(content)
        assert len(content) % 4 == 0 and len(content) >= 12


async def test_an_error_line_mid_stream_fails_the_reply_keeping_the_text(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        env.fake.enqueue(Script(text=TEXT, chunk_size=5, fault="error_event", fault_after=2))
        mid = (await env.send("Go"))["assistantMessageId"]
        final = await env.settled(mid)
        deltas = assert_lifecycle(env.events_of(mid), mid, "assistant.stream.failed")
        error = final["error"]
        assert final["status"] == "failed" and 1 <= len(deltas) <= 2
        assert final["content"] == TEXT[:10] == (await env.stored(mid))["content"]
        assert error["code"] == "stream_error" and "error was encountered" in error["message"]
        assert len(chat_requests(env)) == 1, "nothing is retried once text was shown"


async def test_a_model_not_pulled_fails_with_ollamas_word(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        await use_model(env, "missing", "mistral:7b")
        mid = (await env.send("Hi"))["assistantMessageId"]
        final = await env.settled(mid)
        assert final["status"] == "failed"
        assert final["error"]["code"] == "not_found" and final["error"]["httpStatus"] == 404
        assert final["error"]["message"] == 'model "mistral:7b" not found, try pulling it first'


# --- configuration ---------------------------------------------------------------------------


async def test_an_ollama_backend_needs_no_key_nor_base_url(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        added = await env.client.request("providers.configure", {"id": "box", "kind": "ollama"})
        provider = added["provider"]
        assert provider["baseUrl"] == "http://127.0.0.1:11434" and not provider["hasKey"]
        assert provider["api"] == "chat" and not provider["builtin"]
        with pytest.raises(RpcFailure) as err:
            await env.client.request("providers.configure", {"id": "box", "api": "responses"})
        assert err.value.code == -32602
        # keyless: a reply goes through (to the fake) without any key
        await env.client.request("providers.configure", {"id": "box", "baseUrl": env.fake.base_url})
        await use_model(env, "boxed", "llama3.2", "box")
        env.fake.api_key = None
        mid = (await env.send("Hi"))["assistantMessageId"]
        assert (await env.settled(mid))["status"] == "complete"
        assert "authorization" not in env.fake.requests[-1].headers


# --- what the server has ---------------------------------------------------------------------


async def test_models_and_check_against_the_fake(tmp_path):
    async with chat_env(tmp_path, "ollama") as env:
        listed = await env.client.request("providers.models", {"id": "ollama"})
        assert listed["error"] is None
        models = {m["name"]: m for m in listed["models"]}
        assert set(models) == {"llama3.2:latest", "qwen3:8b", "gpt-oss:20b", "llava:7b"}
        qwen = models["qwen3:8b"]
        assert qwen["modelId"] == env.model_id, "the sidecar model that sends this name"
        assert (qwen["sizeBytes"], qwen["contextWindow"]) == (5225388164, 40960)
        assert (qwen["family"], qwen["parameterSize"], qwen["quantization"]) == (
            "qwen3",
            "8.2B",
            "Q4_K_M",
        )
        assert models["gpt-oss:20b"]["contextWindow"] == 131072
        shown = [r.body for r in env.fake.requests if r.path == "/api/show"]
        assert sorted(b["model"] for b in shown) == sorted(models)

        check = await env.client.request("providers.check", {"id": "ollama"})
        assert check["ok"] and check["reachable"] and check["keyAccepted"] is True
        assert check["version"] == "0.13.5" and check["modelCount"] == 4
        assert isinstance(check["latencyMs"], int) and check["error"] is None


async def test_check_of_servers_that_are_down_silent_or_not_ollama(tmp_path):
    page = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 21\r\n"
        b"connection: close\r\n\r\n<html>Sign in</html>\n"
    )

    async def check(provider_id: str, base_url: str, **extra) -> dict:
        await env.client.request(
            "providers.configure",
            {"id": provider_id, "kind": "ollama", "baseUrl": base_url, **extra},
        )
        got = await env.client.request("providers.check", {"id": provider_id})
        listed = await env.client.request("providers.models", {"id": provider_id})
        assert listed["models"] == [] and listed["error"]["code"] == got["error"]["code"]
        assert not got["ok"] and got["version"] is None and got["modelCount"] is None
        return got

    async with chat_env(tmp_path, "ollama") as env:
        with contextlib.closing(socket.socket()) as s:
            s.bind(("127.0.0.1", 0))
            down = await check("down", f"http://127.0.0.1:{s.getsockname()[1]}")
        assert (down["reachable"], down["latencyMs"], down["error"]["code"]) == (
            False,
            None,
            "connection",
        )
        async with raw_server(None) as silent, raw_server(page) as portal:
            slow = await check("slow", silent.removesuffix("/v1"), idleTimeoutSeconds=0.5)
            assert not slow["reachable"] and slow["error"]["code"] == "timeout"
            html = await check("portal", portal.removesuffix("/v1"))
            assert html["reachable"] and html["error"]["code"] == "invalid_response"
            assert "text/html" in html["error"]["message"]
        # an OpenAI-style server at the base URL: /api/version is not there
        async with raw_server(
            b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 19\r\n"
            b"connection: close\r\n\r\n404 page not found\n"
        ) as other:
            wrong = await check("wrong", other.removesuffix("/v1"))
        assert wrong["reachable"] and wrong["error"]["code"] == "not_found"
        assert wrong["error"]["httpStatus"] == 404
        # JSON, but not Ollama's: no version in it
        body = b'{"status": "ok"}'
        async with raw_server(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode()
            + b"\r\nconnection: close\r\n\r\n"
            + body
        ) as json_server:
            odd = await check("odd", json_server.removesuffix("/v1"))
        assert odd["reachable"] and odd["error"]["code"] == "invalid_response"
        assert "not Ollama" in odd["error"]["message"]
