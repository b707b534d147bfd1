"""`conversations.*` and `branches.*`."""

from __future__ import annotations

from sidecar.protocol.errors import Reason
from sidecar.protocol.methods import (
    BranchesDeleteResult,
    BranchesListResult,
    BranchesPathResult,
    BranchesRenameParams,
    BranchesSwitchParams,
    BranchesSwitchResult,
    BranchParams,
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
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family("conversations.create", "Create a conversation.")
async def create(session: Context, p: ConversationsCreateParams) -> ConversationSnapshot:
    conversation, seq = await session.engine.conversations.create(p)
    return ConversationSnapshot(conversation=conversation, seq=seq)


@family("conversations.list", "Page through conversations, newest activity first.", reads=True)
async def list_(session: Context, p: ConversationsListParams) -> ConversationsListResult:
    items, next_cursor, seq = await session.engine.conversations.list(p.limit, p.cursor, p.query)
    return ConversationsListResult(items=items, next_cursor=next_cursor, seq=seq)


@family("conversations.get", "A conversation with its active branch.", errors=NF, reads=True)
async def get(session: Context, p: ConversationIdParams) -> ConversationsGetResult:
    conversation, messages, seq = await session.engine.conversations.get(p.conversation_id)
    return ConversationsGetResult(conversation=conversation, messages=messages, seq=seq)


@family(
    "conversations.update", "Change a conversation's title, model, prompt or settings.", errors=NF
)
async def update(session: Context, p: ConversationsUpdateParams) -> ConversationResult:
    return ConversationResult(conversation=await session.engine.conversations.update(p))


@family("conversations.delete", "Delete a conversation and all its messages.", errors=NF)
async def delete(session: Context, p: ConversationIdParams) -> EmptyResult:
    await session.engine.conversations.delete(p.conversation_id)
    return EmptyResult()


@family("conversations.tree", "Every message of a conversation, as a tree.", errors=NF, reads=True)
async def tree(session: Context, p: ConversationIdParams) -> ConversationsTreeResult:
    nodes, active_leaf_id, seq = await session.engine.conversations.tree(p.conversation_id)
    return ConversationsTreeResult(messages=nodes, active_leaf_id=active_leaf_id, seq=seq)


@family(
    "branches.switch", "Make a branch the active one: through a message, or by its end.", errors=NF
)
async def switch(session: Context, p: BranchesSwitchParams) -> BranchesSwitchResult:
    leaf = await session.engine.branches.switch(p.conversation_id, p.message_id, p.leaf_id)
    return BranchesSwitchResult(active_leaf_id=leaf)


@family(
    "branches.list",
    "One branch per leaf of the message tree, and per named message inside it.",
    errors=NF,
    reads=True,
)
async def branches(session: Context, p: ConversationIdParams) -> BranchesListResult:
    return BranchesListResult(branches=await session.engine.branches.list(p.conversation_id))


@family("branches.rename", "Name a branch (by its leaf).", errors=NF)
async def rename(session: Context, p: BranchesRenameParams) -> BranchResult:
    branch = await session.engine.branches.rename(p.conversation_id, p.leaf_id, p.name)
    return BranchResult(branch=branch)


@family(
    "branches.path",
    "The messages of any branch, by its end, without making it the active one.",
    errors=NF,
    reads=True,
)
async def path(session: Context, p: BranchParams) -> BranchesPathResult:
    messages, seq = await session.engine.branches.path(p.conversation_id, p.leaf_id)
    return BranchesPathResult(messages=messages, seq=seq)


@family(
    "branches.delete",
    "Delete a branch (by its end) with the messages only it has; a reply streaming in "
    "them is cancelled first. The only branch cannot be deleted.",
    errors=(Reason.NOT_FOUND, Reason.CONFLICT),
)
async def delete_branch(session: Context, p: BranchParams) -> BranchesDeleteResult:
    deleted, active = await session.engine.branches.delete(p.conversation_id, p.leaf_id)
    return BranchesDeleteResult(deleted_message_ids=deleted, active_leaf_id=active)
