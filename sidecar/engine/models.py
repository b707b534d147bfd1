"""The models a chat can use, each routed to a provider, with its prices.

Two sources, merged by id: the built-in catalog (`sidecar.registry`, current models
of the built-in providers with their prices) and the user's models from the store
(`models.upsert`: custom backends' models, and overrides). A user model with a
built-in id replaces the built-in one entirely; removing it brings the built-in
one back. Built-in models themselves cannot be removed, only disabled.

Every path that takes a model id resolves it: a new call (chat.send, regenerate, edit,
titles) with `resolve`, an id or an alias (`Model.aliases`, the rules in
`sidecar.registry.models`); a call already made (chat.record) with `recorded`, which
keeps a retired model's calls its own rather than its replacement's. An id that
resolves to nothing is NOT_FOUND with a message that says why (`unknown_model`).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import ModelsUpdated
from sidecar.protocol.objects import Model, ModelCapabilities, ModelProfile, Pricing
from sidecar.registry import (
    builtin_ids,
    merged,
    not_chat_reason,
    recorded_model,
    resolve_model,
    transcription_reason,
)

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import ModelInput


class Models:
    def __init__(self, engine: Engine) -> None:
        self._e = engine
        self._kept: tuple[int, list[Model]] | None = None  # (catalog version, merged)

    async def _merged(self) -> list[Model]:
        """Built-in and user models (`sidecar.registry.merged`), by provider, then id;
        merged again only after the user's models changed (each chat asks)."""
        catalog = self._e.repos.catalog
        version, kept = catalog.models_version, self._kept
        if kept is not None and kept[0] == version:
            return list(kept[1])
        models = merged(await catalog.list_models())
        if version == catalog.models_version:
            self._kept = (version, models)
        return list(models)

    async def list(self, provider: str | None = None) -> list[Model]:
        models = await self._merged()
        return [m for m in models if provider is None or m.provider == provider]

    async def resolve(self, model_id: str) -> Model | None:
        """The model `model_id` names: by id, else by alias; None when none does."""
        return resolve_model(await self._merged(), model_id)

    async def get(self, model_id: str) -> Model | None:
        return await self.resolve(model_id)

    async def require(self, model_id: str) -> Model:
        """The model `model_id` names; NOT_FOUND saying why when none does."""
        models = await self._merged()
        model = resolve_model(models, model_id)
        if model is None:
            raise unknown_model(models, model_id)
        return model

    async def recorded(self, model_id: str) -> Model:
        """The model a call already made under `model_id` is recorded as: as `require`,
        except that a retired model's name stays that model, at its own prices
        (`sidecar.registry.recorded_model`); NOT_FOUND saying why when none is."""
        models = await self._merged()
        model = recorded_model(models, model_id)
        if model is None:
            raise unknown_model(models, model_id)
        return chat_only(model, model_id)

    async def usable(self, model_id: str) -> Model:
        """The model a chat will use; a clear error when it is unknown, disabled or no
        chat model (a transcription model)."""
        model = chat_only(await self.require(model_id), model_id)
        if not model.enabled:
            raise RpcError(
                Reason.CONFLICT,
                f"model {model.id} is disabled; enable it with models.upsert",
                id=model.id,
            )
        return model

    async def upsert(self, given: ModelInput) -> Model:
        known = {p.id for p in await self._e.providers.list()}
        if given.provider not in known:
            raise not_found("provider", given.provider)
        capabilities, profile = _capabilities_and_profile(given)
        model = Model(
            id=given.id,
            provider=given.provider,
            provider_model=given.provider_model or given.id,
            display_name=given.display_name or given.id,
            aliases=list(dict.fromkeys(given.aliases)),
            alias_notes={a: n for a, n in given.alias_notes.items() if a in given.aliases},
            enabled=given.enabled,
            context_window=given.context_window,
            max_output_tokens=given.max_output_tokens,
            capabilities=capabilities,
            profile=profile,
            pricing=Pricing.model_validate(given.pricing.model_dump()) if given.pricing else None,
            prices_taken_on=given.prices_taken_on,
            price_source=given.price_source,
            send_reasoning_back=given.send_reasoning_back,
            source="user",
            kind=given.kind,
            transcript_format=given.transcript_format,
        )
        async with self._e.lock:
            await self._check_aliases(model)
            await self._e.repos.catalog.save_model(model)
            models = await self._publish()
        return next(m for m in models if m.id == model.id)  # as models.list shows it

    async def _check_aliases(self, model: Model) -> None:
        """An alias names one model: never an id (an id always wins, so the alias would be
        dead), nor another user model's alias. A built-in alias may be taken over."""
        if model.id in model.aliases:
            raise InvalidParams(f"alias {model.id} is the model's own id", ("model", "aliases"))
        models = await self._merged()
        ids = {m.id for m in models}
        for alias in model.aliases:
            if alias in ids:
                raise InvalidParams(
                    f"alias {alias} is the id of a model; an alias must be a name no model has",
                    ("model", "aliases"),
                )
        users = {m.id: m for m in await self._e.repos.catalog.list_models()}
        for other in users.values():
            taken = set(other.aliases) & set(model.aliases)
            if other.id != model.id and taken:
                alias = sorted(taken)[0]
                raise RpcError(
                    Reason.CONFLICT,
                    f"alias {alias} already names model {other.id}",
                    id=model.id,
                    alias=alias,
                    modelId=other.id,
                )

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

    async def _publish(self) -> list[Model]:
        models = await self._merged()
        self._e.bus.publish(ModelsUpdated(models=models))
        return models


def _capabilities_and_profile(given: ModelInput) -> tuple[ModelCapabilities, ModelProfile]:
    """A user model's capabilities and profile, agreeing: `reasoning` is true exactly when
    the profile thinks. Without a profile, a reasoning model is one that thinks with no
    control (`always`); a contradiction is INVALID_PARAMS."""
    capabilities = (
        ModelCapabilities.model_validate(given.capabilities.model_dump())
        if given.capabilities
        else ModelCapabilities()
    )
    if given.profile is None:
        return capabilities, ModelProfile(thinking="always" if capabilities.reasoning else "none")
    profile = ModelProfile.model_validate(given.profile.model_dump())
    thinks = profile.thinking != "none"
    if given.capabilities is not None and capabilities.reasoning is not thinks:
        raise InvalidParams(
            f"capabilities.reasoning is {str(capabilities.reasoning).lower()} but the profile's "
            f"thinking is {profile.thinking}: reasoning is true exactly when the model thinks",
            ("model", "capabilities", "reasoning"),
        )
    return capabilities.model_copy(update={"reasoning": thinks}), profile


def chat_only(model: Model, name: str) -> Model:
    """`model` when it is a chat model; else the NOT_FOUND a chat gets for an id that names
    no chat model, saying why ("whisper-1 is a speech-to-text model ...")."""
    if model.kind == "chat":
        return model
    reason = transcription_reason(name, model)
    raise RpcError(Reason.NOT_FOUND, f"model {name} not found: {reason}", kind="model", id=name)


def unknown_model(models: list[Model], model_id: str) -> RpcError:
    """NOT_FOUND for an id that resolves to nothing, saying why: a known non-chat id
    ("dall-e-3 is an image model, not a chat model"), else no id or alias matches
    (with the closest names, for a typo)."""
    reason = not_chat_reason(model_id)
    if reason is None:
        names = [n for m in models for n in (m.id, *m.aliases)]
        close = difflib.get_close_matches(model_id, names, n=3, cutoff=0.75)
        reason = f"no model has the id or alias {model_id} (see models.list)"
        if close:
            reason += f"; did you mean {' or '.join(close)}?"
    return RpcError(
        Reason.NOT_FOUND, f"model {model_id} not found: {reason}", kind="model", id=model_id
    )
