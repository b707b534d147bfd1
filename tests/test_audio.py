"""audio.transcribe end to end: a real sidecar over a real WebSocket, the fake OpenAI and
OpenAI-compatible servers on loopback answering POST /v1/audio/transcriptions (every
response and event checked against schema/ by the harness). The default model, whisper-1
priced by the minute, a token-priced model, the language passed through, the usage record
and usage.summary; every bad input refused before an upload; provider kinds without the
endpoint; a provider's refusal with no key in it; a custom backend; and the transcript kept
with its audio attachment by chat.send."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from sidecar.dev.fakes import Script
from sidecar.engine.audio import decode_audio
from sidecar.protocol.audio import MAX_AUDIO_BYTES
from tests.chat_env import API_KEY, ChatEnv, chat_env
from tests.harness import RpcFailure

AUDIO = bytes(range(256)) * 125  # 32,000 bytes: two seconds to the fake
DATA = base64.b64encode(AUDIO).decode()


async def transcribe(env: ChatEnv, **params: Any) -> dict[str, Any]:
    return await env.client.request(
        "audio.transcribe", {"data": DATA, "mimeType": "audio/webm", **params}
    )


async def refused(env: ChatEnv, **params: Any) -> RpcFailure:
    with pytest.raises(RpcFailure) as err:
        await transcribe(env, **params)
    return err.value


def uploads(env: ChatEnv) -> list[Any]:
    return [r for r in env.fake.requests if r.path.endswith("/audio/transcriptions")]


def recorded(env: ChatEnv) -> list[dict[str, Any]]:
    return [e["usage"] for e in env.client.events if e["type"] == "usage.recorded"]


async def test_the_default_model_transcribes_and_records_its_tokens(tmp_path):
    async with chat_env(tmp_path) as env:
        env.fake.enqueue(Script(text="Buy milk and eggs."))
        got = await transcribe(env, mimeType="audio/webm;codecs=opus", language="en")
        assert got["text"] == "Buy milk and eggs."
        assert (got["modelId"], got["providerId"]) == ("gpt-4o-mini-transcribe", "openai")
        assert got["language"] == "en" and got["durationSeconds"] is None
        [upload] = uploads(env)
        assert upload.headers["authorization"] == f"Bearer {API_KEY}"
        assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert upload.body == {
            "model": "gpt-4o-mini-transcribe",
            "response_format": "json",
            "language": "en",
            "file": {"filename": "audio.webm", "contentType": "audio/webm", "size": len(AUDIO)},
        }
        usage = got["usage"]
        audio_tokens, output = 20, len("Buy milk and eggs.") // 4  # the fake's counts
        assert usage["kind"] == "transcription" and usage["modelId"] == "gpt-4o-mini-transcribe"
        assert (usage["inputTokens"], usage["outputTokens"]) == (audio_tokens, output)
        assert usage["costUsd"] == pytest.approx((audio_tokens * 3.0 + output * 5.0) / 1e6)
        assert usage["conversationId"] is None and usage["messageId"] is None
        assert recorded(env) == [usage]
        summary = await env.client.request("usage.summary", {"kind": "transcription"})
        assert summary["totals"]["calls"] == 1
        assert summary["totals"]["costUsd"] == pytest.approx(usage["costUsd"])
        chats = await env.client.request("usage.summary", {"kind": "chat"})
        assert chats["totals"]["calls"] == 0


async def test_whisper_is_priced_by_the_minute_and_says_the_duration(tmp_path):
    async with chat_env(tmp_path) as env:
        got = await transcribe(env, modelId="whisper-1", mimeType="audio/wav", language="de")
        assert got["text"] == f"Transcribed {len(AUDIO)} bytes of wav audio."
        assert got["durationSeconds"] == 2.0 and got["language"] == "german"
        [upload] = uploads(env)
        assert upload.body["response_format"] == "verbose_json"
        assert upload.body["language"] == "de" and upload.body["file"]["filename"] == "audio.wav"
        usage = got["usage"]
        assert (usage["inputTokens"], usage["outputTokens"]) == (0, 0)
        assert usage["costUsd"] == pytest.approx(2 / 60 * 0.006)
        rows = await env.client.request("usage.summary", {"groupBy": "model"})
        assert [(r["key"], r["calls"]) for r in rows["rows"]] == [("whisper-1", 1)]


async def test_a_token_priced_model_with_a_prompt(tmp_path):
    async with chat_env(tmp_path) as env:
        prompt = "Names: Zbigniew, Grzegorz."
        got = await transcribe(
            env, modelId="gpt-4o-transcribe", prompt=prompt, mimeType="audio/mp4"
        )
        [upload] = uploads(env)
        assert upload.body["prompt"] == prompt and upload.body["file"]["filename"] == "audio.mp4"
        assert "language" not in upload.body, "left out: the model detects it"
        text_tokens, audio_tokens = len(prompt) // 4, 20
        output = max(1, len(got["text"]) // 4)
        usage = got["usage"]
        assert usage["inputTokens"] == audio_tokens + text_tokens
        expected = (audio_tokens * 6.0 + text_tokens * 2.5 + output * 10.0) / 1e6
        assert usage["costUsd"] == pytest.approx(expected)


BAD_INPUTS = [
    ({"data": "not base64!"}, ["data"], "not valid base64"),
    ({"data": ""}, ["data"], "empty"),
    ({"mimeType": "video/quicktime"}, ["mimeType"], "not an audio type"),
    ({"mimeType": "text/plain"}, ["mimeType"], "not an audio type"),
    ({"modelId": "gpt-4o-mini"}, ["modelId"], "not a transcription model"),
    ({"providerId": "anthropic"}, ["providerId"], "no transcription endpoint"),
    ({"providerId": "deepseek"}, ["providerId"], "no transcription endpoint"),
    ({"providerId": "anthropic", "modelId": "whisper-1"}, ["providerId"], "(anthropic)"),
]


async def test_bad_inputs_are_refused_before_any_upload(tmp_path):
    async with chat_env(tmp_path, args=("--max-frame-bytes", str(40 * 1024 * 1024))) as env:
        for params, loc, says in BAD_INPUTS:
            error = await refused(env, **params)
            assert error.reason == "INVALID_PARAMS" and error.code == -32602, params
            [detail] = error.data["errors"]
            assert detail["loc"] == loc and says in detail["msg"], (params, detail)
        huge = "A" * (MAX_AUDIO_BYTES // 3 * 4 + 1024)  # over 25 MB once decoded
        error = await refused(env, data=huge)
        assert error.data["errors"][0]["loc"] == ["data"]
        assert "over the 25 MB limit" in error.data["errors"][0]["msg"]
        error = await refused(env, language="english please")
        assert error.reason == "INVALID_PARAMS" and error.data["errors"][0]["loc"] == ["language"]
        error = await refused(env, modelId="whisper-2")
        assert error.reason == "NOT_FOUND" and error.data["id"] == "whisper-2"
        error = await refused(env, providerId="nowhere")
        assert error.reason == "NOT_FOUND" and error.data["kind"] == "provider"
        assert uploads(env) == [] and env.fake.requests == [], "nothing reached the provider"
        assert recorded(env) == [], "nothing recorded"


def test_the_size_is_checked_before_and_after_decoding():
    limit = 30
    assert decode_audio(base64.b64encode(b"x" * limit).decode(), limit) == b"x" * limit
    for raw in (b"x" * (limit + 1), b"x" * (limit + 2)):  # within the string's slack
        with pytest.raises(Exception, match="over the") as err:
            decode_audio(base64.b64encode(raw).decode(), limit)
        assert err.value.loc == ("data",)
    with pytest.raises(Exception, match="over the") as err:
        decode_audio("!" * 1000, limit)  # too long to be the audio: never decoded
    assert "bytes" not in err.value.message


async def test_a_provider_refusal_is_a_provider_error_without_the_key(tmp_path):
    async with chat_env(tmp_path, max_retries=0) as env:
        env.fake.api_key = "sk-the-other-key-0123456789"  # the sidecar's key is now wrong
        error = await refused(env)
        assert error.reason == "PROVIDER_ERROR" and error.code == -32007
        assert error.data["error"]["code"] == "auth"
        assert error.data["error"]["httpStatus"] == 401
        assert error.data["error"]["retryable"] is False
        assert API_KEY not in json.dumps(error.error)
        assert all(API_KEY not in str(frame) for frame in env.client.raw)
        env.fake.api_key = API_KEY
        env.fake.enqueue(Script(fault="http_429"))
        error = await refused(env)
        assert error.data["error"]["code"] == "rate_limited"
        assert error.data["error"]["retryable"] is True
        assert len(uploads(env)) == 2 and recorded(env) == []


async def test_a_provider_refusal_is_retried_like_a_chat(tmp_path):
    async with chat_env(tmp_path, max_retries=2) as env:
        env.fake.enqueue(Script(fault="http_500"), Script(text="Second time lucky."))
        got = await transcribe(env)
        assert got["text"] == "Second time lucky." and len(uploads(env)) == 2


async def test_a_custom_backend_with_the_endpoint(tmp_path):
    async with chat_env(tmp_path, "openai-compatible") as env:
        error = await refused(env, providerId="local")
        assert error.data["errors"][0]["loc"] == ["modelId"]
        assert "no transcription model" in error.data["errors"][0]["msg"]
        await env.client.request(
            "models.upsert",
            {
                "model": {
                    "id": "local-whisper",
                    "provider": "local",
                    "providerModel": "Systran/faster-whisper-small",
                    "kind": "transcription",
                    "transcriptFormat": "verbose_json",
                    "pricing": {"perMinute": 0.001},
                }
            },
        )
        got = await transcribe(env, providerId="local", mimeType="audio/ogg")
        assert (got["modelId"], got["providerId"]) == ("local-whisper", "local")
        assert got["durationSeconds"] == 2.0
        [upload] = uploads(env)
        assert upload.path == "/v1/audio/transcriptions"
        assert upload.body["model"] == "Systran/faster-whisper-small"
        assert upload.body["response_format"] == "verbose_json"
        assert got["usage"]["costUsd"] == pytest.approx(2 / 60 * 0.001, abs=1e-10)  # 10 digits
        listed = await env.client.request("models.list", {"provider": "local"})
        kinds = {m["id"]: m["kind"] for m in listed["models"]}
        assert kinds == {"local-whisper": "transcription", env.model_id: "chat"}
        error = await refused(env, modelId="whisper-1", providerId="local")
        assert "belongs to provider openai" in error.data["errors"][0]["msg"]


async def test_chat_refuses_a_transcription_model(tmp_path):
    async with chat_env(tmp_path) as env:
        listed = await env.client.request("models.list", {"provider": "openai"})
        kinds = {m["id"]: m["kind"] for m in listed["models"]}
        assert kinds["whisper-1"] == kinds["gpt-4o-mini-transcribe"] == "transcription"
        assert kinds["gpt-4o-mini"] == "chat"
        with pytest.raises(RpcFailure) as err:
            await env.send("Hello", modelId="gpt-4o-mini-transcribe")
        assert err.value.reason == "NOT_FOUND"
        assert "gpt-4o-mini-transcribe is a speech-to-text model" in err.value.error["message"]
        assert "audio.transcribe" in err.value.error["message"]
        assert env.fake.requests == []


async def test_the_transcript_stays_with_its_audio_attachment(tmp_path):
    """The old app's flow: record in the chat box, transcribe, send the text with the
    recording attached; the attachment keeps its transcript, the model reads the text."""
    async with chat_env(tmp_path) as env:
        await env.client.request(
            "conversations.update", {"conversationId": env.conversation_id, "title": "Voice"}
        )
        env.fake.enqueue(Script(text="Turn off the lights."))
        text = (await transcribe(env))["text"]
        ids = await env.send(
            text,
            attachments=[
                {"name": "voice.webm", "mimeType": "audio/webm", "data": DATA, "transcript": text}
            ],
        )
        await env.settled(ids["assistantMessageId"])
        [attachment] = (await env.stored(ids["userMessageId"]))["attachments"]
        assert attachment["transcript"] == text and attachment["text"] is None
        assert attachment["size"] == len(AUDIO) and attachment["mimeType"] == "audio/webm"
        got = await env.client.request("attachments.get", {"attachmentId": attachment["id"]})
        assert base64.b64decode(got["data"]) == AUDIO
        chat = env.fake.requests[-1].body
        assert chat["messages"][-1]["content"] == text, "the model reads the text, not the audio"
        assert DATA not in json.dumps(chat)
        for wrong, says in (
            ({"data": DATA}, "needs base64 `data` and its `transcript`"),
            ({"text": "hi", "transcript": "hi"}, "needs base64 `data` and its `transcript`"),
        ):
            with pytest.raises(RpcFailure) as err:
                await env.send(
                    text, attachments=[{"name": "v.webm", "mimeType": "audio/webm", **wrong}]
                )
            assert says in err.value.data["errors"][0]["msg"]
        with pytest.raises(RpcFailure) as err:
            await env.send(
                "x",
                attachments=[
                    {"name": "a.txt", "mimeType": "text/plain", "text": "a", "transcript": "a"}
                ],
            )
        assert err.value.data["errors"][0]["loc"] == ["attachments", "0", "transcript"]
