"""`audio.transcribe`: speech to text."""

from __future__ import annotations

from sidecar.protocol.audio import AudioTranscribeParams, AudioTranscribeResult
from sidecar.protocol.errors import Reason
from sidecar.rpc.method import Context, Family

family = Family()


@family(
    "audio.transcribe",
    "The transcript of base64 audio, from the provider's transcription endpoint (openai and "
    "openai-compatible kinds; default model: the provider's transcription model). The call's "
    "usage is recorded (kind `transcription`, usage.recorded). Nothing else is stored: to keep "
    "the recording with a message, send it as a chat.send attachment with this `transcript`. "
    "Bad audio, type, model or provider kind: INVALID_PARAMS naming the field, before any "
    "upload; the provider's refusal or failure: PROVIDER_ERROR with `data.error`.",
    errors=(
        Reason.NOT_FOUND,
        Reason.CONFLICT,
        Reason.PROVIDER_NOT_CONFIGURED,
        Reason.PROVIDER_ERROR,
    ),
)
async def transcribe(session: Context, p: AudioTranscribeParams) -> AudioTranscribeResult:
    return await session.engine.audio.transcribe(p)
