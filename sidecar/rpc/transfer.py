"""`conversations.export` and `conversations.import`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.transfer import (
    ConversationsExportParams,
    ConversationsExportResult,
    ConversationsImportParams,
    ConversationsImportResult,
)
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("conversations.export")
async def export(conn: Connection, p: ConversationsExportParams) -> ConversationsExportResult:
    document = await conn.app.engine.transfer.export(p.conversation_id, p.format)
    return ConversationsExportResult(document=document)


@handles("conversations.import")
async def import_(conn: Connection, p: ConversationsImportParams) -> ConversationsImportResult:
    conversation, seq = await conn.app.engine.transfer.import_(p.document)
    return ConversationsImportResult(conversation=conversation, seq=seq)
