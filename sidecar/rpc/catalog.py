"""`providers.*` and `models.*`: where chats go and what they cost."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    ProvidersConfigureParams,
    ProvidersListResult,
)
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


@handles("providers.list")
async def list_providers(conn: Connection, p: Empty) -> ProvidersListResult:
    return ProvidersListResult(providers=await conn.app.engine.providers.list())


@handles("providers.configure")
async def configure(conn: Connection, p: ProvidersConfigureParams) -> ProviderResult:
    return ProviderResult(provider=await conn.app.engine.providers.configure(p))


@handles("providers.remove")
async def remove_provider(conn: Connection, p: ProviderIdParams) -> EmptyResult:
    await conn.app.engine.providers.remove(p.id)
    return EmptyResult()


@handles("models.list")
async def list_models(conn: Connection, p: ModelsListParams) -> ModelsListResult:
    return ModelsListResult(models=await conn.app.engine.models.list(p.provider))


@handles("models.upsert")
async def upsert(conn: Connection, p: ModelsUpsertParams) -> ModelResult:
    return ModelResult(model=await conn.app.engine.models.upsert(p.model))


@handles("models.remove")
async def remove_model(conn: Connection, p: ModelIdParams) -> EmptyResult:
    await conn.app.engine.models.remove(p.model_id)
    return EmptyResult()
