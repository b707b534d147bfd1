"""`conversations.export` and `conversations.import`."""

from __future__ import annotations

from sidecar.protocol.transfer import (
    ConversationsExportParams,
    ConversationsExportResult,
    ConversationsImportParams,
    ConversationsImportResult,
)
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family(
    "conversations.export",
    "A conversation as a JSON document (the whole tree, for import) or as Markdown (the active branch). A reply still streaming is exported with its text so far.",
    errors=NF,
    reads=True,
)
async def export(session: Context, p: ConversationsExportParams) -> ConversationsExportResult:
    document = await session.engine.transfer.export(p.conversation_id, p.format)
    return ConversationsExportResult(document=document)


@family(
    "conversations.import",
    "Add a conversation from a JSON export under new conversation, message and attachment ids, keeping the tree, statuses (`pending`/`streaming` become `interrupted`), usage, branch names and the active leaf. Publishes one `conversation.created` and no per-message events: load the messages with `conversations.get` or `conversations.tree`. Records no usage (nothing was spent). An invalid document answers INVALID_PARAMS with each problem's location.",
)
async def import_(session: Context, p: ConversationsImportParams) -> ConversationsImportResult:
    conversation, seq = await session.engine.transfer.import_(p.document)
    return ConversationsImportResult(conversation=conversation, seq=seq)
