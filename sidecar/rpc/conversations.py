"""`conversations.*` and `branches.*`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.methods import (
    BranchesListResult,
    BranchesRenameParams,
    BranchesSwitchParams,
    BranchesSwitchResult,
    BranchResult,
    ConversationIdParams,
    ConversationResult,
    ConversationsCreateParams,
    ConversationsGetResult,
    ConversationsListParams,
    ConversationsListResult,
    ConversationSnapshot,
    ConversationsTreeResult,
    ConversationsUpdateParams,
    EmptyResult,
)
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("conversations.create")
async def create(conn: Connection, p: ConversationsCreateParams) -> ConversationSnapshot:
    conversation, seq = await conn.app.engine.conversations.create(p)
    return ConversationSnapshot(conversation=conversation, seq=seq)


@handles("conversations.list")
async def list_(conn: Connection, p: ConversationsListParams) -> ConversationsListResult:
    items, next_cursor, seq = await conn.app.engine.conversations.list(p.limit, p.cursor, p.query)
    return ConversationsListResult(items=items, next_cursor=next_cursor, seq=seq)


@handles("conversations.get")
async def get(conn: Connection, p: ConversationIdParams) -> ConversationsGetResult:
    conversation, messages, seq = await conn.app.engine.conversations.get(p.conversation_id)
    return ConversationsGetResult(conversation=conversation, messages=messages, seq=seq)


@handles("conversations.update")
async def update(conn: Connection, p: ConversationsUpdateParams) -> ConversationResult:
    return ConversationResult(conversation=await conn.app.engine.conversations.update(p))


@handles("conversations.delete")
async def delete(conn: Connection, p: ConversationIdParams) -> EmptyResult:
    await conn.app.engine.conversations.delete(p.conversation_id)
    return EmptyResult()


@handles("conversations.tree")
async def tree(conn: Connection, p: ConversationIdParams) -> ConversationsTreeResult:
    nodes, active_leaf_id, seq = await conn.app.engine.conversations.tree(p.conversation_id)
    return ConversationsTreeResult(messages=nodes, active_leaf_id=active_leaf_id, seq=seq)


@handles("branches.switch")
async def switch(conn: Connection, p: BranchesSwitchParams) -> BranchesSwitchResult:
    leaf = await conn.app.engine.branches.switch(p.conversation_id, p.message_id)
    return BranchesSwitchResult(active_leaf_id=leaf)


@handles("branches.list")
async def branches(conn: Connection, p: ConversationIdParams) -> BranchesListResult:
    return BranchesListResult(branches=await conn.app.engine.branches.list(p.conversation_id))


@handles("branches.rename")
async def rename(conn: Connection, p: BranchesRenameParams) -> BranchResult:
    branch = await conn.app.engine.branches.rename(p.conversation_id, p.leaf_id, p.name)
    return BranchResult(branch=branch)
