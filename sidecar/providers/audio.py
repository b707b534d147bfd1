"""Speech to text: OpenAI's `POST {base}/audio/transcriptions`, on the shared machinery.

The request is multipart/form-data (`file` with a filename whose extension names the
format, `model`, and the optional `language`, `prompt`, `response_format`); the answer
is one JSON object, read by `Provider.post` with the chat calls' retries, deadline and
error mapping (a refused key is ProviderError `auth`, its message scrubbed).

What comes back differs per model: gpt-4o-*-transcribe answer `json` with
`usage {type: "tokens", input_tokens, input_token_details {audio_tokens, text_tokens},
output_tokens}`; whisper-1 answers `verbose_json` with `duration` (seconds) and
`usage {type: "duration", seconds}`; a compatible server may give neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from .base import as_int
from .types import ProviderError

if TYPE_CHECKING:
    from .base import Provider

TRANSCRIBING_KINDS = frozenset({"openai", "openai-compatible"})
PATH = "/audio/transcriptions"


@dataclass(slots=True)
class Transcription:
    """One transcription request (the audio already checked by the engine)."""

    model: str  # the name sent upstream
    audio: bytes
    filename: str  # its extension names the format: the API goes by it
    mime_type: str
    language: str | None = None
    prompt: str | None = None
    response_format: str = "json"


@dataclass(slots=True)
class Transcript:
    text: str
    language: str | None = None
    duration_seconds: float | None = None  # the audio's length, where the answer says it
    billed_seconds: float | None = None  # usage {type: duration}
    audio_tokens: int = 0  # usage {type: tokens}: input = audio + text tokens
    text_tokens: int = 0
    output_tokens: int = 0


def form(request: Transcription) -> tuple[bytes, str]:
    """The multipart body and its content-type (with the boundary)."""
    fields = {"model": request.model, "response_format": request.response_format}
    if request.language:
        fields["language"] = request.language
    if request.prompt:
        fields["prompt"] = request.prompt
    built = httpx.Request(
        "POST",
        "http://form.invalid/",
        data=fields,
        files={"file": (request.filename, request.audio, request.mime_type)},
    )
    return built.read(), built.headers["content-type"]


async def transcribe(provider: Provider, request: Transcription) -> Transcript:
    """The transcript of `request.audio`; ProviderError when the server fails or refuses."""
    content, content_type = form(request)
    return parse(await provider.post(PATH, content, content_type))


def parse(obj: dict[str, Any]) -> Transcript:
    text = obj.get("text")
    if not isinstance(text, str):
        raise ProviderError(
            "invalid_response", "the transcription answer has no `text`", retryable=False
        )
    duration = _seconds(obj.get("duration"))
    out = Transcript(text=text, duration_seconds=duration)
    language = obj.get("language")
    if isinstance(language, str) and language:
        out.language = language
    usage = obj.get("usage")
    if isinstance(usage, dict):
        if usage.get("type") == "duration":
            out.billed_seconds = _seconds(usage.get("seconds"))
        elif usage.get("type") == "tokens":
            details = usage.get("input_token_details")
            details = details if isinstance(details, dict) else {}
            inputs = as_int(usage.get("input_tokens"))
            out.audio_tokens = as_int(details.get("audio_tokens", inputs))
            out.text_tokens = as_int(details.get("text_tokens", inputs - out.audio_tokens))
            out.output_tokens = as_int(usage.get("output_tokens"))
    if out.billed_seconds is None and duration is not None:
        out.billed_seconds = duration
    return out


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
