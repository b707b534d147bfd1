"""Branches of a conversation's message tree: one per leaf and one per named message
inside it; the active one is what gets sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.errors import InvalidParams, not_found
from sidecar.protocol.events import BranchUpdated, ConversationUpdated

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import Branch


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
