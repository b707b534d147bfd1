"""Conversations: create, page, read with the active branch, change, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.errors import InvalidParams, not_found
from sidecar.protocol.events import ConversationCreated, ConversationDeleted, ConversationUpdated
from sidecar.protocol.objects import ConversationSettings

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.methods import ConversationsCreateParams, ConversationsUpdateParams
    from sidecar.protocol.objects import BranchMessage, Conversation, TreeNode


class Conversations:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self.deleting: set[str] = set()
        """Conversations whose delete was accepted: gone for every new write, already."""

    async def require(self, conversation_id: str) -> Conversation:
        conversation = (
            None
            if conversation_id in self.deleting
            else await self._e.repos.conversations.get(conversation_id)
        )
        if conversation is None:
            raise not_found("conversation", conversation_id)
        return conversation

    async def create(self, p: ConversationsCreateParams) -> tuple[Conversation, int]:
        e = self._e
        async with e.lock:
            conversation = await e.repos.conversations.create(
                title=p.title,
                title_source="user" if p.title else None,
                model_id=p.model_id,
                system_prompt=p.system_prompt,
                settings=p.settings or ConversationSettings(),
            )
            seq = e.bus.publish(ConversationCreated(conversation=conversation))
        return conversation, seq

    async def list(
        self, limit: int, cursor: str | None, query: str | None
    ) -> tuple[list[Conversation], str | None, int]:
        e = self._e
        async with e.lock:
            try:
                items, next_cursor = await e.repos.conversations.page(
                    limit=limit, cursor=cursor, query=query
                )
            except ValueError:
                raise InvalidParams(
                    "invalid cursor: pass back a nextCursor unchanged", ("cursor",)
                ) from None
            return items, next_cursor, e.bus.last_seq

    async def get(self, conversation_id: str) -> tuple[Conversation, list[BranchMessage], int]:
        e = self._e
        async with e.lock:
            conversation = await self.require(conversation_id)
            messages = e.turns.overlay(await e.repos.messages.active_path(conversation_id))
            return conversation, messages, e.bus.last_seq

    async def tree(self, conversation_id: str) -> tuple[list[TreeNode], str | None, int]:
        e = self._e
        async with e.lock:
            conversation = await self.require(conversation_id)
            nodes = await e.repos.messages.tree(conversation_id)
            for node in nodes:
                status = e.turns.live_status(node.id)
                if status is not None:
                    node.status = status
            return nodes, conversation.active_leaf_id, e.bus.last_seq

    async def update(self, p: ConversationsUpdateParams) -> Conversation:
        e = self._e
        given = p.model_fields_set
        async with e.lock:
            current = await self.require(p.conversation_id)
            changes: dict[str, object] = {}
            if "title" in given:
                changes["title"] = p.title
                changes["title_source"] = "user" if p.title else None
            if "model_id" in given:
                changes["model_id"] = p.model_id
            if "system_prompt" in given:
                changes["system_prompt"] = p.system_prompt
            if "settings" in given:
                patch = (
                    p.settings.model_dump(exclude_unset=True, by_alias=False) if p.settings else {}
                )
                changes["settings"] = current.settings.model_copy(update=patch)
            if not changes:
                return current
            conversation = await e.repos.conversations.update(p.conversation_id, **changes)
            assert conversation is not None
            e.bus.publish(ConversationUpdated(conversation=conversation))
            return conversation

    async def delete(self, conversation_id: str) -> None:
        """One step: once accepted, nothing new starts in the conversation (every write
        that needs it answers NOT_FOUND); its running replies end with their terminal
        events and its title task stops; then it is deleted, and nothing of it follows
        `conversation.deleted`."""
        e = self._e
        async with e.lock:
            await self.require(conversation_id)
            self.deleting.add(conversation_id)
        try:
            await e.turns.end_conversation(conversation_id)
            await e.titles.stop(conversation_id)
            async with e.lock:
                await e.repos.conversations.delete(conversation_id)
                e.bus.publish(ConversationDeleted(conversation_id=conversation_id))
        finally:
            self.deleting.discard(conversation_id)
