"""Speech to text (`audio.transcribe`): audio in, its transcript out, the call's usage
recorded with kind `transcription`.

Everything a client can get wrong is refused before a byte is uploaded, as INVALID_PARAMS
naming the field: a format the API does not take, a string too long to be 25 MB of audio
(checked before decoding it), bad base64, empty audio, more than 25 MB decoded, a model
that is not a transcription model, a provider kind without the endpoint (anthropic,
deepseek). Nothing is stored but the usage record: the app keeps the audio with its
message as a chat.send attachment carrying the returned `transcript` (docs/protocol.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.engine.attachments import audio_extension, decode_base64
from sidecar.engine.usage import priced_record
from sidecar.protocol.audio import MAX_AUDIO_BYTES, AudioTranscribeResult
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import UsageRecorded
from sidecar.protocol.objects import Usage
from sidecar.providers.types import ProviderError

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.engine.http_client import SharedHttp
    from sidecar.protocol.audio import AudioTranscribeParams
    from sidecar.protocol.objects import Model, Pricing
    from sidecar.providers.audio import Transcript

TRANSCRIBING_KINDS = frozenset({"openai", "openai-compatible"})
DEFAULT_MODELS = {"openai": "gpt-4o-mini-transcribe"}


def decode_audio(data: str, limit: int = MAX_AUDIO_BYTES) -> bytes:
    """The audio bytes of a base64 string; INVALID_PARAMS at `data` when it is too long to
    be at most `limit` bytes (before decoding it), not base64, empty or over `limit`."""
    loc = ("data",)
    if len(data) > (limit + 2) // 3 * 4 + 4:  # base64 of `limit` bytes, with room to pad
        raise InvalidParams(f"the audio is over the {_mb(limit)} limit", loc)
    raw = decode_base64(data, loc)
    if not raw:
        raise InvalidParams("the audio is empty", loc)
    if len(raw) > limit:
        raise InvalidParams(f"the audio is {len(raw)} bytes, over the {_mb(limit)} limit", loc)
    return raw


def _mb(size: int) -> str:
    return f"{size // (1024 * 1024)} MB"


def transcription_cost(transcript: Transcript, pricing: Pricing | None) -> float | None:
    """USD for one transcription: its billed seconds at `perMinute`, else its tokens
    (audio input at `audioInput`, text input at `input`, output at `output`); None when
    the model has no price for what the answer reported."""
    if pricing is None:
        return None
    if pricing.per_minute is not None:
        if transcript.billed_seconds is None:
            return None
        return round(transcript.billed_seconds / 60 * pricing.per_minute, 10)
    if pricing.input is None or pricing.output is None:
        return None
    audio = pricing.input if pricing.audio_input is None else pricing.audio_input
    total = (
        transcript.audio_tokens * audio
        + transcript.text_tokens * pricing.input
        + transcript.output_tokens * pricing.output
    )
    return round(total / 1_000_000, 10)


class Audio:
    def __init__(self, engine: Engine, http: SharedHttp) -> None:
        self._e = engine
        self._http = http

    async def transcribe(self, p: AudioTranscribeParams) -> AudioTranscribeResult:
        from sidecar.providers import create_provider  # start-up time: it imports httpx
        from sidecar.providers.audio import Transcription, transcribe

        extension = audio_extension(p.mime_type)
        if extension is None:
            raise InvalidParams(
                f"{p.mime_type} is not an audio type the transcription API takes (flac, "
                "mp3, mp4, mpeg, mpga, m4a, ogg, wav, webm)",
                ("mimeType",),
            )
        model, provider_id = await self._model(p)
        raw = decode_audio(p.data)
        config = await self._e.providers.config(provider_id)
        request = Transcription(
            model=model.provider_model,
            audio=raw,
            filename=f"audio.{extension}",
            mime_type=p.mime_type.split(";", 1)[0].strip().lower(),
            language=p.language,
            prompt=p.prompt,
            response_format=model.transcript_format or "json",
        )
        try:
            transcript = await transcribe(create_provider(config, self._http.get()), request)
        except ProviderError as exc:
            info = exc.info()
            raise RpcError(
                Reason.PROVIDER_ERROR,
                f"the transcription failed: {info.message}",
                provider=provider_id,
                error=info.model_dump(mode="json"),
            ) from None
        usage = Usage(
            input_tokens=transcript.audio_tokens + transcript.text_tokens,
            output_tokens=transcript.output_tokens,
            cost_usd=transcription_cost(transcript, model.pricing),
        )
        record = priced_record(model, usage, "transcription", None, None)
        async with self._e.lock:
            await self._e.repos.usage.add(record)
            self._e.bus.publish(UsageRecorded(usage=record))
        return AudioTranscribeResult(
            text=transcript.text,
            model_id=model.id,
            provider_id=provider_id,
            language=transcript.language or p.language,
            duration_seconds=transcript.duration_seconds,
            usage=record,
        )

    async def _model(self, p: AudioTranscribeParams) -> tuple[Model, str]:
        """The transcription model and its provider: `modelId` (whose provider must be
        `providerId` when both are given), else the provider's default one."""
        e = self._e
        providers = {pr.id: pr for pr in await e.providers.list()}
        model = None
        if p.model_id is not None:
            model = await e.models.require(p.model_id)
            if model.kind != "transcription":
                raise InvalidParams(
                    f"model {model.id} is a {model.kind} model, not a transcription model "
                    "(models.list: kind transcription)",
                    ("modelId",),
                )
        provider_id = p.provider_id or (model.provider if model else "openai")
        provider = providers.get(provider_id)
        if provider is None:
            raise not_found("provider", provider_id)
        if provider.kind not in TRANSCRIBING_KINDS:
            raise InvalidParams(
                f"provider {provider_id} ({provider.kind}) has no transcription endpoint; "
                "use an openai or openai-compatible provider",
                ("providerId",),
            )
        if model is not None and model.provider != provider_id:
            raise InvalidParams(
                f"model {model.id} belongs to provider {model.provider}, not {provider_id}",
                ("modelId",),
            )
        if model is None:
            model = await self._default(provider_id)
        if not model.enabled:
            raise RpcError(
                Reason.CONFLICT,
                f"model {model.id} is disabled; enable it with models.upsert",
                id=model.id,
            )
        return model, provider_id

    async def _default(self, provider_id: str) -> Model:
        models = [m for m in await self._e.models.list(provider_id) if m.kind == "transcription"]
        preferred = DEFAULT_MODELS.get(provider_id)
        enabled = [m for m in models if m.enabled]
        chosen = next((m for m in enabled if m.id == preferred), None) or next(iter(enabled), None)
        if chosen is None:
            raise InvalidParams(
                f"provider {provider_id} has no transcription model: add one with "
                "models.upsert (kind transcription) or pass modelId",
                ("modelId",),
            )
        return chosen
