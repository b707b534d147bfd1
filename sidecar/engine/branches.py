"""Branches of a conversation's message tree: one per leaf and one per named message
inside it; the active one is what gets sent.

Deleting a branch removes what only it has: the messages from its end up to the first
one another branch shares (or that ends another, named branch), with their attachments'
place in the tree and their retry records; usage stays, as money spent does. A named
branch that ends inside the tree has no messages of its own: only its name goes. A reply
streaming in the deleted messages is cancelled first (its terminal events go out), and
the conversation's only branch cannot be deleted (delete the conversation). When the
active branch goes, the active leaf moves to the newest leaf below where it forked off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import (
    BranchDeleted,
    BranchUpdated,
    ConversationUpdated,
    MessageDeleted,
)

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import Branch, BranchMessage


class Branches:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def switch(
        self, conversation_id: str, message_id: str | None = None, leaf_id: str | None = None
    ) -> str:
        """Activate the branch through `message_id`, down its newest descendants, or the
        listed branch that ends at `leaf_id` (which may end inside the tree)."""
        e = self._e
        async with e.lock:
            current = await e.conversations.require(conversation_id)
            if leaf_id is not None:
                ends = {b.leaf_id for b in await e.repos.messages.branches(conversation_id)}
                if leaf_id not in ends:
                    raise not_found("branch", leaf_id)
                leaf = leaf_id
            else:
                assert message_id is not None
                message = await e.repos.messages.get(message_id)
                if message is None or message.conversation_id != conversation_id:
                    raise not_found("message", message_id)
                found = await e.repos.messages.newest_leaf_under(message_id)
                assert found is not None
                leaf = found
            if leaf != current.active_leaf_id:
                conversation = await e.repos.conversations.update(
                    conversation_id, active_leaf_id=leaf
                )
                assert conversation is not None
                e.bus.publish(ConversationUpdated(conversation=conversation))
            return leaf

    async def list(self, conversation_id: str) -> list[Branch]:
        e = self._e
        async with e.lock:
            await e.conversations.require(conversation_id)
            return await e.repos.messages.branches(conversation_id)

    async def rename(self, conversation_id: str, leaf_id: str, name: str | None) -> Branch:
        e = self._e
        async with e.lock:
            await e.conversations.require(conversation_id)
            try:
                branch = await e.repos.messages.rename_branch(conversation_id, leaf_id, name)
            except ValueError as exc:
                raise InvalidParams(str(exc)) from None
            if branch is None:
                raise not_found("branch", leaf_id)
            e.bus.publish(BranchUpdated(conversation_id=conversation_id, branch=branch))
            return branch

    async def path(self, conversation_id: str, leaf_id: str) -> tuple[list[BranchMessage], int]:
        """The messages of the branch ending at `leaf_id` (any message), root first, as
        they are now; nobody's active branch changes."""
        e = self._e
        async with e.lock:
            await e.conversations.require(conversation_id)
            messages = await e.repos.messages.path(conversation_id, leaf_id)
            if not messages:
                raise not_found("message", leaf_id)
            return e.turns.overlay(messages), e.bus.last_seq

    async def delete(self, conversation_id: str, leaf_id: str) -> tuple[list[str], str | None]:
        """Delete the branch ending at `leaf_id` (see the module docstring): (the deleted
        message ids, leaf first; the active leaf after)."""
        e = self._e
        while True:
            async with e.lock:
                conversation = await e.conversations.require(conversation_id)
                branches = await e.repos.messages.branches(conversation_id)
                branch = next((b for b in branches if b.leaf_id == leaf_id), None)
                if branch is None:
                    raise not_found("branch", leaf_id)
                if not branch.ends_at_leaf:  # only its name: its messages go on elsewhere
                    await e.repos.messages.drop_branch_name(conversation_id, leaf_id)
                    e.bus.publish(BranchDeleted(conversation_id=conversation_id, leaf_id=leaf_id))
                    return [], conversation.active_leaf_id
                if len(branches) == 1:
                    raise RpcError(
                        Reason.CONFLICT,
                        "this is the conversation's only branch; delete the conversation instead",
                        conversationId=conversation_id,
                        leafId=leaf_id,
                    )
                doomed = await e.repos.messages.branch_only(conversation_id, leaf_id)
                running = [m for m in doomed if m in e.turns.active]
                if not running:
                    active = conversation.active_leaf_id
                    if active in doomed:
                        active = await self._leaf_after(conversation_id, doomed[-1])
                    await e.repos.messages.delete_branch(conversation_id, doomed, active)
                    for message_id in doomed:
                        e.bus.publish(
                            MessageDeleted(conversation_id=conversation_id, message_id=message_id)
                        )
                    e.bus.publish(BranchDeleted(conversation_id=conversation_id, leaf_id=leaf_id))
                    if active != conversation.active_leaf_id:
                        updated = await e.repos.conversations.get(conversation_id)
                        assert updated is not None
                        e.bus.publish(ConversationUpdated(conversation=updated))
                    return doomed, active
            await e.turns.end_messages(running)  # outside the lock: the turns need it to end

    async def _leaf_after(self, conversation_id: str, top_id: str) -> str | None:
        """Where the active branch goes when the messages from `top_id` down are deleted:
        the newest leaf under the newest of its other siblings; its parent itself when it
        has none (a named message that becomes a leaf)."""
        children: dict[str | None, list[str]] = {}
        parent_of: dict[str, str | None] = {}
        for node in await self._e.repos.messages.tree(conversation_id):  # oldest first
            children.setdefault(node.parent_id, []).append(node.id)
            parent_of[node.id] = node.parent_id
        parent = parent_of[top_id]
        others = [c for c in children.get(parent, []) if c != top_id]
        if not others:
            return parent
        leaf = others[-1]
        while children.get(leaf):
            leaf = children[leaf][-1]
        return leaf
