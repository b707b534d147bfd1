"""`systemPrompts.*` and `settings.*`: the user's saved material."""

from __future__ import annotations

from sidecar.protocol.methods import (
    Empty,
    EmptyResult,
    SettingsResult,
    SystemPromptIdParams,
    SystemPromptResult,
    SystemPromptsCreateParams,
    SystemPromptsListResult,
    SystemPromptsUpdateParams,
)
from sidecar.protocol.objects import SettingsPatch
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family("systemPrompts.list", "Saved system prompts.", reads=True)
async def list_prompts(session: Context, p: Empty) -> SystemPromptsListResult:
    return SystemPromptsListResult(system_prompts=await session.engine.system_prompts.list())


@family("systemPrompts.create", "Save a system prompt.")
async def create_prompt(session: Context, p: SystemPromptsCreateParams) -> SystemPromptResult:
    return SystemPromptResult(
        system_prompt=await session.engine.system_prompts.create(p.name, p.content)
    )


@family("systemPrompts.update", "Change a saved system prompt.", errors=NF)
async def update_prompt(session: Context, p: SystemPromptsUpdateParams) -> SystemPromptResult:
    prompt = await session.engine.system_prompts.update(p.id, p.name, p.content)
    return SystemPromptResult(system_prompt=prompt)


@family("systemPrompts.delete", "Delete a saved system prompt.", errors=NF)
async def delete_prompt(session: Context, p: SystemPromptIdParams) -> EmptyResult:
    await session.engine.system_prompts.delete(p.id)
    return EmptyResult()


@family("settings.get", "The sidecar's settings.", reads=True)
async def get_settings(session: Context, p: Empty) -> SettingsResult:
    return SettingsResult(settings=await session.engine.settings.get())


@family("settings.update", "Change some settings; the rest stay.")
async def update_settings(session: Context, p: SettingsPatch) -> SettingsResult:
    return SettingsResult(settings=await session.engine.settings.update(p))
