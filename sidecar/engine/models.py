"""The models a chat can use, each routed to a provider, with its prices.

Two sources, merged by id: the built-in catalog (`sidecar.registry`, current models
of the built-in providers with their prices) and the user's models from the store
(`models.upsert`: custom backends' models, and overrides). A user model with a
built-in id replaces the built-in one entirely; removing it brings the built-in
one back. Built-in models themselves cannot be removed, only disabled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.errors import Reason, RpcError, not_found
from sidecar.protocol.events import ModelsUpdated
from sidecar.protocol.objects import Model, ModelCapabilities, Pricing
from sidecar.registry import builtin_ids, load_catalog

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import ModelInput


class Models:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def _merged(self) -> list[Model]:
        """Built-in and user models, a user model winning over a built-in one with its id;
        ordered by provider, then id."""
        merged = {m.id: m for m in load_catalog()}
        for model in await self._e.repos.catalog.list_models():
            merged[model.id] = (
                model if model.source == "user" else model.model_copy(update={"source": "user"})
            )
        return sorted(merged.values(), key=lambda m: (m.provider, m.id))

    async def list(self, provider: str | None = None) -> list[Model]:
        models = await self._merged()
        return [m for m in models if provider is None or m.provider == provider]

    async def get(self, model_id: str) -> Model | None:
        for model in await self._merged():
            if model.id == model_id:
                return model
        return None

    async def usable(self, model_id: str) -> Model:
        """The model a chat will use; a clear error when it is unknown or disabled."""
        model = await self.get(model_id)
        if model is None:
            raise not_found("model", model_id)
        if not model.enabled:
            raise RpcError(
                Reason.CONFLICT,
                f"model {model_id} is disabled; enable it with models.upsert",
                id=model_id,
            )
        return model

    async def upsert(self, given: ModelInput) -> Model:
        known = {p.id for p in await self._e.providers.list()}
        if given.provider not in known:
            raise not_found("provider", given.provider)
        model = Model(
            id=given.id,
            provider=given.provider,
            provider_model=given.provider_model or given.id,
            display_name=given.display_name or given.id,
            enabled=given.enabled,
            context_window=given.context_window,
            max_output_tokens=given.max_output_tokens,
            capabilities=ModelCapabilities.model_validate(given.capabilities.model_dump())
            if given.capabilities
            else ModelCapabilities(),
            pricing=Pricing.model_validate(given.pricing.model_dump()) if given.pricing else None,
            send_reasoning_back=given.send_reasoning_back,
            source="user",
        )
        async with self._e.lock:
            await self._e.repos.catalog.save_model(model)
            await self._publish()
        return model

    async def remove(self, model_id: str) -> None:
        """Remove a user model; for an override of a built-in one, the built-in one is back."""
        async with self._e.lock:
            if not await self._e.repos.catalog.delete_model(model_id):
                if model_id in builtin_ids():
                    raise RpcError(
                        Reason.CONFLICT,
                        "built-in models cannot be removed; disable it with models.upsert",
                        id=model_id,
                    )
                raise not_found("model", model_id)
            await self._publish()

    async def _publish(self) -> None:
        self._e.bus.publish(ModelsUpdated(models=await self._merged()))
