"""OpenAI's speech to text, faked: `POST /v1/audio/transcriptions` (multipart/form-data).

Refuses what the API refuses: a body that is not multipart, a missing `file` or `model`
(400, OpenAI's error shape), a file whose extension is no supported format (400 "Invalid
file format. Supported formats: [...]"), for the openai kind a model it does not serve
(404 model_not_found) and `verbose_json` from the gpt-4o-*-transcribe models (400). A
wrong key is refused before (401, as on every path).

The transcript is the queued Script's `text` (its HTTP faults apply), else a
deterministic sentence naming the audio's size and format. The audio lasts
`len(bytes) / BYTES_PER_SECOND` seconds. What comes back is per model, as the API
answers: gpt-4o-*-transcribe `json` with `usage {type: tokens, ...}`; whisper-1 and
gpt-transcribe `usage {type: duration, seconds}` (whole seconds, rounded up), whisper-1's
`verbose_json` with `task`, `language`, `duration` and `segments`. An openai-compatible
server takes any model and reports no usage (as most do), a duration with verbose_json.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

PATHS = ("/v1/audio/transcriptions", "/audio/transcriptions")
KINDS = ("openai", "openai-compatible")
FORMATS = ["flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm"]
BYTES_PER_SECOND = 16_000
# OpenAI's transcription models and how each is billed ("tokens" or "duration").
OPENAI_MODELS = {
    "gpt-4o-transcribe": "tokens",
    "gpt-4o-mini-transcribe": "tokens",
    "gpt-transcribe": "duration",
    "whisper-1": "duration",
}
LANGUAGES = {"en": "english", "de": "german", "fr": "french", "pl": "polish", "es": "spanish"}


@dataclass
class FormPart:
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def parse_form(content_type: str | None, body: bytes) -> dict[str, FormPart] | None:
    """The parts of a multipart/form-data body by field name; None when it is not one."""
    if not content_type or not content_type.lower().startswith("multipart/form-data"):
        return None
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if found is None:
        return None
    parts: dict[str, FormPart] = {}
    for chunk in body.split(b"--" + found.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'\bname="([^"]*)"', disposition)
        filename = re.search(r'\bfilename="([^"]*)"', disposition)
        if name is not None:
            parts[name.group(1)] = FormPart(
                data.removesuffix(b"\r\n"),
                filename.group(1) if filename else None,
                headers.get("content-type"),
            )
    return parts


def record_of(parts: dict[str, FormPart] | None) -> dict[str, Any] | None:
    """What a test sees of a transcription request: the fields, and the file's name, type
    and size (never its bytes)."""
    if parts is None:
        return None
    out: dict[str, Any] = {}
    for name, part in parts.items():
        if part.filename is not None:
            out[name] = {
                "filename": part.filename,
                "contentType": part.content_type,
                "size": len(part.data),
            }
        else:
            out[name] = part.data.decode("utf-8", "replace")
    return out


def _error(message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }


def _missing(field: str) -> dict[str, Any]:
    return _error(f"1 validation error for Request\nbody -> {field}\n  field required")


def refusal(
    kind: str, content_type: str | None, parts: dict[str, FormPart] | None
) -> tuple[int, dict[str, Any]] | None:
    """(status, body) of what the API refuses in this request; None when it takes it."""
    if parts is None:
        return 400, _error(
            f"Invalid Content-Type header ({content_type}), expected multipart/form-data."
        )
    file = parts.get("file")
    if file is None or file.filename is None:
        return 400, _missing("file")
    if "model" not in parts:
        return 400, _missing("model")
    model = parts["model"].data.decode("utf-8", "replace")
    extension = file.filename.rpartition(".")[2].lower() if "." in file.filename else ""
    if extension not in FORMATS:
        return 400, _error(f"Invalid file format. Supported formats: {FORMATS}")
    if kind == "openai" and model not in OPENAI_MODELS:
        message = f"The model `{model}` does not exist or you do not have access to it."
        return 404, _error(message, code="model_not_found")
    response_format = _field(parts, "response_format") or "json"
    if response_format not in ("json", "text", "verbose_json", "srt", "vtt"):
        return 400, _error(f"Invalid response_format: {response_format}", "response_format")
    if OPENAI_MODELS.get(model) == "tokens" and response_format not in ("json", "text"):
        return 400, _error(
            f"response_format '{response_format}' is not compatible with model '{model}'. "
            "Use 'json' or 'text' instead.",
            "response_format",
        )
    return None


def _field(parts: dict[str, FormPart], name: str) -> str | None:
    part = parts.get(name)
    return None if part is None else part.data.decode("utf-8", "replace")


def transcription(
    kind: str, parts: dict[str, FormPart], text: str | None
) -> tuple[str, dict[str, Any] | str]:
    """(content type, body) of the answer to a request `refusal` let through."""
    file = parts["file"]
    assert file.filename is not None
    model = _field(parts, "model") or ""
    response_format = _field(parts, "response_format") or "json"
    extension = file.filename.rpartition(".")[2].lower()
    if text is None:
        text = f"Transcribed {len(file.data)} bytes of {extension} audio."
    if response_format == "text":
        return "text/plain; charset=utf-8", text + "\n"
    duration = max(round(len(file.data) / BYTES_PER_SECOND, 2), 0.01)
    body: dict[str, Any] = {"text": text}
    if response_format == "verbose_json":
        body = {
            "task": "transcribe",
            "language": LANGUAGES.get(_field(parts, "language") or "en", "english"),
            "duration": duration,
            "text": text,
            "segments": [
                {
                    "id": 0,
                    "seek": 0,
                    "start": 0.0,
                    "end": duration,
                    "text": text,
                    "tokens": [50364],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 1.0,
                    "no_speech_prob": 0.01,
                }
            ],
        }
    billing = OPENAI_MODELS.get(model) if kind == "openai" else None
    if billing == "duration":
        body["usage"] = {"type": "duration", "seconds": math.ceil(duration)}
    elif billing == "tokens":
        audio = max(1, math.ceil(duration * 10))
        prompt = len(_field(parts, "prompt") or "") // 4
        output = max(1, len(text) // 4)
        body["usage"] = {
            "type": "tokens",
            "input_tokens": audio + prompt,
            "input_token_details": {"text_tokens": prompt, "audio_tokens": audio},
            "output_tokens": output,
            "total_tokens": audio + prompt + output,
        }
    return "application/json", body
