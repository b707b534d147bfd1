"""`chat.*`: start and stop assistant replies, and record those the app ran itself."""

from __future__ import annotations

from sidecar.protocol.errors import Reason
from sidecar.protocol.methods import (
    ChatCancelResult,
    ChatEditParams,
    ChatRecordParams,
    ChatRegenerateParams,
    ChatRegenerateResult,
    ChatSendParams,
    ChatSendResult,
    MessageIdParams,
)
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family(
    "chat.send",
    "Store the user's message and stream a reply as events.",
    errors=(Reason.NOT_FOUND, Reason.PROVIDER_NOT_CONFIGURED, Reason.CONFLICT),
    deduplicated=True,
)
async def send(session: Context, p: ChatSendParams) -> ChatSendResult:
    user_id, assistant_id = await session.engine.turns.send(p, session.key)
    return ChatSendResult(user_message_id=user_id, assistant_message_id=assistant_id)


@family("chat.cancel", "Stop a streaming reply; the partial text is kept.", errors=NF)
async def cancel(session: Context, p: MessageIdParams) -> ChatCancelResult:
    return ChatCancelResult(cancelled=await session.engine.turns.cancel(p.message_id))


@family(
    "chat.regenerate",
    "Answer the same user message again, as a new sibling branch.",
    errors=(Reason.NOT_FOUND, Reason.PROVIDER_NOT_CONFIGURED, Reason.CONFLICT),
)
async def regenerate(session: Context, p: ChatRegenerateParams) -> ChatRegenerateResult:
    return ChatRegenerateResult(
        assistant_message_id=await session.engine.turns.regenerate(p, session.key)
    )


@family(
    "chat.edit",
    "Replace a user message by a new sibling with new content, and answer it.",
    errors=(Reason.NOT_FOUND, Reason.PROVIDER_NOT_CONFIGURED, Reason.CONFLICT),
)
async def edit(session: Context, p: ChatEditParams) -> ChatSendResult:
    user_id, assistant_id = await session.engine.turns.edit(p, session.key)
    return ChatSendResult(user_message_id=user_id, assistant_message_id=assistant_id)


@family(
    "chat.record",
    "Add a turn that ran outside the sidecar (the app's legacy path) to the conversation.",
    errors=(Reason.NOT_FOUND, Reason.CONFLICT),
    deduplicated=True,
)
async def record(session: Context, p: ChatRecordParams) -> ChatSendResult:
    user_id, assistant_id = await session.engine.external.record(p)
    return ChatSendResult(user_message_id=user_id, assistant_message_id=assistant_id)
