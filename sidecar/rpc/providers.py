"""`providers.*` and `models.*`: where chats go and what they cost."""

from __future__ import annotations

from sidecar.protocol.errors import Reason
from sidecar.protocol.methods import (
    Empty,
    EmptyResult,
    ModelIdParams,
    ModelResult,
    ModelsListParams,
    ModelsListResult,
    ModelsUpsertParams,
    ProviderIdParams,
    ProviderResult,
    ProvidersCheckResult,
    ProvidersConfigureParams,
    ProvidersListResult,
    ProvidersModelsResult,
)
from sidecar.rpc.method import NF, Context, Family

family = Family()


@family("providers.list", "Providers and custom backends (never their keys).", reads=True)
async def list_providers(session: Context, p: Empty) -> ProvidersListResult:
    return ProvidersListResult(providers=await session.engine.providers.list())


@family("providers.configure", "Add a custom backend or change a provider.", errors=NF)
async def configure(session: Context, p: ProvidersConfigureParams) -> ProviderResult:
    return ProviderResult(provider=await session.engine.providers.configure(p))


NOT_CALLABLE = (Reason.NOT_FOUND, Reason.PROVIDER_NOT_CONFIGURED)


@family(
    "providers.models",
    "The models the provider's server has (its model list), each with the sidecar model "
    "that sends it; a server that cannot answer gives `error`.",
    errors=NOT_CALLABLE,
    reads=True,
)
async def server_models(session: Context, p: ProviderIdParams) -> ProvidersModelsResult:
    return await session.engine.servers.models(p.id)


@family(
    "providers.check",
    "Ask the provider's server now: does it answer, as the API it should be, taking the key?",
    errors=NOT_CALLABLE,
    reads=True,
)
async def check(session: Context, p: ProviderIdParams) -> ProvidersCheckResult:
    return await session.engine.servers.check(p.id)


@family(
    "providers.remove",
    "Remove a custom backend, or reset a built-in provider to its defaults.",
    errors=NF,
)
async def remove_provider(session: Context, p: ProviderIdParams) -> EmptyResult:
    await session.engine.providers.remove(p.id)
    return EmptyResult()


@family("models.list", "Models, optionally of one provider.", reads=True)
async def list_models(session: Context, p: ModelsListParams) -> ModelsListResult:
    return ModelsListResult(models=await session.engine.models.list(p.provider))


@family(
    "models.upsert",
    "Add or change a model; the result is the model as models.list shows it (a built-in "
    "id's aliases stay with it). CONFLICT when an alias already names another user model.",
    errors=(Reason.NOT_FOUND, Reason.CONFLICT),
)
async def upsert(session: Context, p: ModelsUpsertParams) -> ModelResult:
    return ModelResult(model=await session.engine.models.upsert(p.model))


@family(
    "models.remove",
    "Remove a user model (a built-in one comes back if it was overridden).",
    errors=(Reason.NOT_FOUND, Reason.CONFLICT),
)
async def remove_model(session: Context, p: ModelIdParams) -> EmptyResult:
    await session.engine.models.remove(p.model_id)
    return EmptyResult()
