"""`chat.*`: start and stop assistant replies, and record those the app ran itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("chat.send")
async def send(conn: Connection, p: ChatSendParams) -> ChatSendResult:
    user_id, assistant_id = await conn.app.engine.turns.send(p, conn.key)
    return ChatSendResult(user_message_id=user_id, assistant_message_id=assistant_id)


@handles("chat.cancel")
async def cancel(conn: Connection, p: MessageIdParams) -> ChatCancelResult:
    return ChatCancelResult(cancelled=await conn.app.engine.turns.cancel(p.message_id))


@handles("chat.regenerate")
async def regenerate(conn: Connection, p: ChatRegenerateParams) -> ChatRegenerateResult:
    return ChatRegenerateResult(
        assistant_message_id=await conn.app.engine.turns.regenerate(p, conn.key)
    )


@handles("chat.edit")
async def edit(conn: Connection, p: ChatEditParams) -> ChatSendResult:
    user_id, assistant_id = await conn.app.engine.turns.edit(p, conn.key)
    return ChatSendResult(user_message_id=user_id, assistant_message_id=assistant_id)


@handles("chat.record")
async def record(conn: Connection, p: ChatRecordParams) -> ChatSendResult:
    user_id, assistant_id = await conn.app.engine.recorder.record(p)
    return ChatSendResult(user_message_id=user_id, assistant_message_id=assistant_id)
