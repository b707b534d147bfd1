"""Settings: read, and partial updates that merge (a null in a map removes that key)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.events import SettingsUpdated
from sidecar.protocol.objects import DEFAULT_SYSTEM_PROMPT

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import Settings, SettingsPatch

_MAPS = ("provider_routes", "preferences")


def merge(settings: Settings, patch: SettingsPatch) -> Settings:
    changes: dict[str, object] = {}
    for name in patch.model_fields_set:
        value = getattr(patch, name)
        if name in _MAPS:
            merged = dict(getattr(settings, name))
            for key, item in (value or {}).items():
                if item is None:
                    merged.pop(key, None)
                else:
                    merged[key] = item
            changes[name] = merged
        elif name == "default_system_prompt":
            changes[name] = DEFAULT_SYSTEM_PROMPT if value is None else value
        else:
            changes[name] = value
    return settings.model_copy(update=changes)


class SettingsService:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def get(self) -> Settings:
        return await self._e.repos.library.get_settings()

    async def update(self, patch: SettingsPatch) -> Settings:
        e = self._e
        async with e.lock:
            settings = merge(await e.repos.library.get_settings(), patch)
            await e.repos.library.save_settings(settings)
            e.bus.publish(SettingsUpdated(settings=settings))
            return settings
