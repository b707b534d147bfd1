"""Speech to text: `audio.transcribe`."""

from __future__ import annotations

from pydantic import Field

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.objects import UsageRecord

MAX_AUDIO_BYTES = 25 * 1024 * 1024  # OpenAI's upload limit, on the decoded bytes


class AudioTranscribeParams(Params):
    """Audio to turn into text. Nothing is stored but the call's usage record: the app
    keeps the audio with its message by sending it as a chat.send attachment with the
    `transcript` this returns."""

    data: str = Field(
        description="The audio, base64. At most 25 MB decoded (the provider's limit); a "
        "WebSocket frame is itself limited (`--max-frame-bytes`, 16 MiB by default)."
    )
    mime_type: str = Field(
        min_length=1,
        max_length=200,
        description="audio/webm, audio/ogg, audio/wav, audio/mpeg (mp3), audio/mp4, "
        "audio/m4a, audio/flac and their usual aliases; parameters such as "
        "`;codecs=opus` are ignored.",
    )
    provider_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Default: the provider of `modelId`, else openai.",
    )
    model_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A transcription model (models.list, `kind` transcription) by id or "
        "alias. Default: the provider's own (gpt-4o-mini-transcribe for openai; for a "
        "custom backend, its first transcription model).",
    )
    language: str | None = Field(
        default=None,
        min_length=2,
        max_length=12,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        description="The spoken language (ISO-639-1, such as `en`), sent upstream; left "
        "out: the model detects it.",
    )
    prompt: str | None = Field(
        default=None,
        max_length=4000,
        description="Text to guide the transcript (names, spelling, the previous sentence).",
    )


class AudioTranscribeResult(Wire):
    text: str = Field(description="The transcript.")
    model_id: str
    provider_id: str
    language: str | None = Field(
        description="The language the provider says it heard (whisper-1 names it), else "
        "the one asked for, else null."
    )
    duration_seconds: float | None = Field(
        description="The audio's length where the provider says it (whisper-1), else null."
    )
    usage: UsageRecord = Field(
        description="The call's usage record (kind `transcription`), also sent as "
        "usage.recorded: tokens, or the billed duration priced per minute, in `costUsd`."
    )
