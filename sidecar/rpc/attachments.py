"""`attachments.get`: a stored attachment's bytes, to show an old message's file again."""

from __future__ import annotations

import base64

from sidecar.protocol.methods import AttachmentsGetParams, AttachmentsGetResult
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family(
    "attachments.get",
    "A stored attachment's name, type, size and base64 bytes (a text attachment's are its text in UTF-8), from any message of any conversation or branch. NOT_FOUND with `data.kind` `attachment` for an unknown id, `attachmentFile` when the attachment is stored but its file is gone from disk.",
    errors=NF,
    reads=True,
)
async def get(session: Context, p: AttachmentsGetParams) -> AttachmentsGetResult:
    attachment, raw = await session.engine.attachments.get(p.attachment_id)
    return AttachmentsGetResult(
        attachment_id=attachment.id,
        name=attachment.name,
        mime_type=attachment.mime_type,
        size=len(raw),
        data=base64.b64encode(raw).decode(),
    )
