"""`systemPrompts.*` and `settings.*`: the user's saved material."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("systemPrompts.list")
async def list_prompts(conn: Connection, p: Empty) -> SystemPromptsListResult:
    return SystemPromptsListResult(system_prompts=await conn.app.engine.system_prompts.list())


@handles("systemPrompts.create")
async def create_prompt(conn: Connection, p: SystemPromptsCreateParams) -> SystemPromptResult:
    return SystemPromptResult(
        system_prompt=await conn.app.engine.system_prompts.create(p.name, p.content)
    )


@handles("systemPrompts.update")
async def update_prompt(conn: Connection, p: SystemPromptsUpdateParams) -> SystemPromptResult:
    prompt = await conn.app.engine.system_prompts.update(p.id, p.name, p.content)
    return SystemPromptResult(system_prompt=prompt)


@handles("systemPrompts.delete")
async def delete_prompt(conn: Connection, p: SystemPromptIdParams) -> EmptyResult:
    await conn.app.engine.system_prompts.delete(p.id)
    return EmptyResult()


@handles("settings.get")
async def get_settings(conn: Connection, p: Empty) -> SettingsResult:
    return SettingsResult(settings=await conn.app.engine.settings.get())


@handles("settings.update")
async def update_settings(conn: Connection, p: SettingsPatch) -> SettingsResult:
    return SettingsResult(settings=await conn.app.engine.settings.update(p))
