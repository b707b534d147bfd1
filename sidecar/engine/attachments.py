"""Files sent with a message: text and JSON go into the prompt as text, images to
vision models; audio comes with its transcript (audio.transcribe's text, which the app
puts in the message), kept with it. Image and audio bytes live as files beside the
database (never in events); the message keeps the attachment's name, type, size and,
for text, its text, for audio, its transcript.
`Attachments.get` gives a stored attachment's bytes back (`attachments.get`)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sidecar.ids import new_id
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.objects import Attachment
from sidecar.store.errors import StorageUnavailable

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.methods import AttachmentInput
    from sidecar.protocol.objects import Message, Model

log = logging.getLogger("sidecar.attachments")

TEXT_TYPES = (
    "text/",
    "application/json",
    "application/xml",
    "application/x-yaml",
    "application/yaml",
)


# The file extension the API goes by, for each type a recorder or a file picker names.
EXTENSIONS = {
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mpeg3": "mp3",
    "audio/x-mpeg-3": "mp3",
    "audio/mpga": "mpga",
    "audio/mp4": "mp4",
    "video/mp4": "mp4",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "video/mpeg": "mpeg",
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "application/ogg": "ogg",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/vnd.wave": "wav",
    "audio/webm": "webm",
    "video/webm": "webm",
}


def audio_extension(mime_type: str) -> str | None:
    """The extension of an audio type the transcription API takes (`;codecs=...` and
    case ignored); None for any other type."""
    return EXTENSIONS.get(mime_type.split(";", 1)[0].strip().lower())


def decode_base64(data: str, loc: tuple[str, ...]) -> bytes:
    """The bytes of a client's base64 field; INVALID_PARAMS at `loc` when it is not base64."""
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParams("`data` is not valid base64", loc) from None


def is_image(mime_type: str) -> bool:
    return mime_type.lower().startswith("image/")


def is_audio(mime_type: str) -> bool:
    """A recording: kept as a file with its transcript; the model reads the message text."""
    return audio_extension(mime_type) is not None


def has_file(mime_type: str) -> bool:
    """Its bytes live in a file beside the database: an image or a recording."""
    return is_image(mime_type) or is_audio(mime_type)


def is_text(mime_type: str) -> bool:
    """Text the prompt can take as is: text/*, JSON, XML, YAML."""
    mime = mime_type.lower()
    return mime.startswith(TEXT_TYPES) or mime.endswith(("+json", "+xml"))


async def prepare(inputs: list[AttachmentInput], model: Model, folder: Path) -> list[Attachment]:
    """Validate the attachments of a new message against `model` and keep image bytes.

    Raises InvalidParams (nothing stored) for a file the model cannot take.
    """
    prepared: list[tuple[Attachment, bytes | None]] = []
    for i, item in enumerate(inputs):
        loc = ("attachments", str(i))
        if (item.text is None) == (item.data is None):
            raise InvalidParams("an attachment needs exactly one of `text` and `data`", loc)
        raw: bytes | None = None
        text = item.text
        if item.data is not None:
            raw = decode_base64(item.data, (*loc, "data"))
        if item.transcript is not None and not is_audio(item.mime_type):
            raise InvalidParams("only an audio attachment has a `transcript`", (*loc, "transcript"))
        if is_audio(item.mime_type):
            if raw is None or item.transcript is None:
                raise InvalidParams(
                    "an audio attachment needs base64 `data` and its `transcript` "
                    "(transcribe it first with audio.transcribe)",
                    loc,
                )
        elif is_image(item.mime_type):
            if raw is None:
                raise InvalidParams("an image needs base64 `data`", loc)
            if not model.capabilities.vision:
                raise InvalidParams(
                    f"model {model.id} cannot read images (it has no vision capability); pick a vision model",
                    loc,
                )
        elif raw is not None:
            if not is_text(item.mime_type):
                raise InvalidParams(
                    f"{item.mime_type} attachments are not supported: send text, JSON or images",
                    loc,
                )
            try:
                text, raw = raw.decode("utf-8"), None
            except UnicodeDecodeError:
                raise InvalidParams("a text attachment must be UTF-8", loc) from None
        size = len(raw) if raw is not None else len((text or "").encode())
        attachment = Attachment(
            id=new_id(),
            name=item.name,
            mime_type=item.mime_type,
            size=size,
            text=text,
            transcript=item.transcript,
        )
        prepared.append((attachment, raw))
    files = [(a, raw) for a, raw in prepared if raw is not None]  # images and audio
    if files:
        await asyncio.to_thread(_write_all, folder, files)
    return [a for a, _ in prepared]


def _write_all(folder: Path, files: list[tuple[Attachment, bytes]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for attachment, raw in files:
        (folder / attachment.id).write_bytes(raw)


async def load_images(messages: list[Message], folder: Path) -> dict[str, str]:
    """Base64 of every image attached along a path, by attachment id (missing files skipped)."""
    wanted = [a.id for m in messages for a in m.attachments if is_image(a.mime_type)]
    if not wanted:
        return {}
    return await asyncio.to_thread(_read_all, folder, wanted)


def _read_all(folder: Path, ids: list[str]) -> dict[str, str]:
    out = {}
    for ident in ids:
        path = folder / ident
        if path.is_file():
            out[ident] = base64.b64encode(path.read_bytes()).decode()
    return out


# -- reading one back ------------------------------------------------------------------

FILE_GONE = "attachmentFile"
"""`data.kind` of the NOT_FOUND for an attachment whose file is no longer on disk."""


def folder_of(database_path: Path) -> Path:
    """Where attachment files live: `attachments/` beside the database, one file per id."""
    return database_path.parent / "attachments"


class Attachments:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def get(self, attachment_id: str) -> tuple[Attachment, bytes]:
        """A stored attachment of any message and its bytes (a text attachment's are its
        UTF-8 text). NOT_FOUND (`kind` "attachment") for an unknown id or one whose
        conversation is being deleted; NOT_FOUND (`kind` "attachmentFile") when the
        attachment is stored but its file is gone from disk."""
        e = self._e
        found = await e.repos.messages.attachment(attachment_id)
        if found is None or found[1] in e.conversations.deleting:
            raise not_found("attachment", attachment_id)
        attachment, _ = found
        if attachment.text is not None:
            return attachment, attachment.text.encode()
        path = folder_of(e.repos.database.path) / attachment.id
        try:
            raw = await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            log.warning("attachment %s: its file %s is missing", attachment.id, path)
            raise RpcError(
                Reason.NOT_FOUND,
                "the attachment's file is missing from disk",
                kind=FILE_GONE,
                id=attachment.id,
            ) from None
        except OSError as exc:
            log.error("attachment %s: cannot read %s: %s", attachment.id, path, exc.strerror)
            raise StorageUnavailable(
                "io", f"storage unavailable: the attachment's file cannot be read ({exc.strerror})"
            ) from None
        return attachment, raw
