"""Saved system prompts; every change publishes the whole (short) list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.errors import not_found
from sidecar.protocol.events import SystemPromptsUpdated

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import Conversation, Settings, SystemPrompt


class SystemPrompts:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def list(self) -> list[SystemPrompt]:
        return await self._e.repos.library.list_system_prompts()

    async def create(self, name: str, content: str) -> SystemPrompt:
        async with self._e.lock:
            prompt = await self._e.repos.library.create_system_prompt(name, content)
            await self._publish()
            return prompt

    async def update(self, prompt_id: str, name: str | None, content: str | None) -> SystemPrompt:
        async with self._e.lock:
            prompt = await self._e.repos.library.update_system_prompt(
                prompt_id, name=name, content=content
            )
            if prompt is None:
                raise not_found("systemPrompt", prompt_id)
            await self._publish()
            return prompt

    async def delete(self, prompt_id: str) -> None:
        async with self._e.lock:
            if not await self._e.repos.library.delete_system_prompt(prompt_id):
                raise not_found("systemPrompt", prompt_id)
            await self._publish()

    async def require(self, prompt_id: str) -> SystemPrompt:
        """A saved prompt by id; NOT_FOUND when there is none."""
        for prompt in await self._e.repos.library.list_system_prompts():
            if prompt.id == prompt_id:
                return prompt
        raise not_found("systemPrompt", prompt_id)

    async def for_conversation(self, conversation: Conversation, settings: Settings) -> str | None:
        """The system prompt a turn sends: the conversation's own, else its saved prompt,
        else the default."""
        if conversation.system_prompt is not None:
            return conversation.system_prompt
        prompt_id = conversation.settings.system_prompt_id
        if prompt_id:
            for prompt in await self._e.repos.library.list_system_prompts():
                if prompt.id == prompt_id:
                    return prompt.content
        return settings.default_system_prompt

    async def _publish(self) -> None:
        prompts = await self._e.repos.library.list_system_prompts()
        self._e.bus.publish(SystemPromptsUpdated(system_prompts=prompts))
