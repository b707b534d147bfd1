"""Branches of a conversation's message tree: one per leaf; the active one is what gets sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.errors import not_found
from sidecar.protocol.events import BranchUpdated, ConversationUpdated

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import Branch


class Branches:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def switch(self, conversation_id: str, message_id: str) -> str:
        """Activate the branch through `message_id`, down its newest descendants."""
        e = self._e
        async with e.lock:
            current = await e.conversations.require(conversation_id)
            message = await e.repos.messages.get(message_id)
            if message is None or message.conversation_id != conversation_id:
                raise not_found("message", message_id)
            leaf = await e.repos.messages.newest_leaf_under(message_id)
            assert leaf is not None
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
            branch = await e.repos.messages.rename_branch(conversation_id, leaf_id, name)
            if branch is None:
                raise not_found("branch", leaf_id)
            e.bus.publish(BranchUpdated(conversation_id=conversation_id, branch=branch))
            return branch
