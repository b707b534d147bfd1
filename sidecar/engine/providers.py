"""Providers: the three built-in ones plus custom backends, and where their secrets come from.

Keys and custom header values live in the key store (`sidecar.store.keys`: the
OS keychain or a 0600 file, never the database, which keeps header names only;
set through `providers.configure`); keys may also come from the usual
environment variables. They are registered with the scrubber (`sidecar.logs`)
the moment they are seen and never leave this module except inside a
ProviderConfig handed to an adapter.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING

from sidecar import logs
from sidecar.protocol.errors import InvalidParams, Reason, RpcError, not_found
from sidecar.protocol.events import ProvidersUpdated
from sidecar.protocol.objects import Provider, ProviderApi
from sidecar.providers.types import (
    DEFAULT_BASE_URLS,
    KEY_ENV_VARS,
    KEYLESS_KINDS,
    RESPONSES_KINDS,
    ProviderConfig,
    default_api,
)
from sidecar.store.provider_row import ProviderRow

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.methods import ProvidersConfigureParams

BUILTIN_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "deepseek": "DeepSeek"}
# Kinds whose servers have a usual local address: a backend added without `baseUrl` gets it.
LOCAL_DEFAULTS = frozenset({"ollama"})
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 120.0
DEFAULT_TOTAL_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2


class Providers:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def _rows(self) -> dict[str, ProviderRow]:
        rows = {row.id: row for row in await self._e.repos.catalog.provider_rows()}
        for builtin in BUILTIN_NAMES:
            rows.setdefault(builtin, ProviderRow(id=builtin, kind=builtin))
        # A secret found in the row is an older version's, moved out at the next start.
        for row in rows.values():
            if row.api_key is None:
                row.api_key = await self._e.keys.get(row.id)
            if None in row.headers.values():
                stored = await self._e.keys.headers(row.id)
                row.headers = {n: stored.get(n) if v is None else v for n, v in row.headers.items()}
            logs.redact(row.api_key)
            for value in row.headers.values():
                logs.redact(value)
        return dict(sorted(rows.items()))

    async def list(self) -> list[Provider]:
        return [_wire(row) for row in (await self._rows()).values()]

    async def configure(self, p: ProvidersConfigureParams) -> Provider:
        given = p.model_fields_set
        async with self._e.lock:
            rows = await self._rows()
            row = rows.get(p.id)
            if row is None:
                if p.kind is None or (p.base_url is None and p.kind not in LOCAL_DEFAULTS):
                    raise RpcError(
                        Reason.NOT_FOUND,
                        "unknown provider: pass `kind` and `baseUrl` to add a custom backend"
                        " (an ollama backend may leave `baseUrl` out: its local default)",
                        kind="provider",
                        id=p.id,
                    )
                row = ProviderRow(id=p.id, kind=p.kind)
            elif p.kind is not None and p.kind != row.kind:
                if row.id in BUILTIN_NAMES:
                    raise RpcError(
                        Reason.CONFLICT, "a built-in provider's kind cannot change", id=p.id
                    )
                row.kind = p.kind
            for field, column in (
                ("name", "name"),
                ("base_url", "base_url"),
                ("api_key", "api_key"),
                ("headers", "headers"),
                ("enabled", "enabled"),
                ("connect_timeout_seconds", "connect_timeout"),
                ("idle_timeout_seconds", "idle_timeout"),
                ("total_timeout_seconds", "total_timeout"),
                ("max_retries", "max_retries"),
                ("api", "api"),
            ):
                if field in given:
                    value = getattr(p, field)
                    if field in ("headers", "enabled") and value is None:
                        continue
                    setattr(
                        row, column, value.rstrip("/") if field == "base_url" and value else value
                    )
            if _api(row) == "responses" and row.kind not in RESPONSES_KINDS:
                raise InvalidParams(
                    f'a {row.kind} provider speaks no Responses API: `api` must be "chat"',
                    ("api",),
                )
            # (An older version's secrets, still in the row, move too.)
            if "api_key" in given or row.api_key != await self._e.keys.get(row.id):
                await self._e.keys.set(row.id, row.api_key)
            headers = _header_values(row)
            if headers != await self._e.keys.headers(row.id):
                await self._e.keys.set_headers(row.id, headers)
            # Header names only: the values and the key are in the key store.
            await self._e.repos.catalog.save_provider_row(replace(row, api_key=None))
            await self._publish()
            return _wire(row)

    async def remove(self, provider_id: str) -> None:
        async with self._e.lock:
            if (
                not await self._e.repos.catalog.delete_provider_row(provider_id)
                and provider_id not in BUILTIN_NAMES
            ):
                raise not_found("provider", provider_id)
            await self._e.keys.set(provider_id, None)
            await self._e.keys.set_headers(provider_id, {})
            await self._publish()

    async def config(self, provider_id: str) -> ProviderConfig:
        """What an adapter needs to call `provider_id`; PROVIDER_NOT_CONFIGURED when it cannot be called."""
        row = (await self._rows()).get(provider_id)
        if row is None:
            raise RpcError(
                Reason.PROVIDER_NOT_CONFIGURED,
                f"provider {provider_id} is not configured",
                provider=provider_id,
            )
        if not row.enabled:
            raise RpcError(
                Reason.PROVIDER_NOT_CONFIGURED,
                f"provider {provider_id} is disabled",
                provider=provider_id,
            )
        key, _ = _key(row)
        if key is None and row.kind not in KEYLESS_KINDS:
            raise RpcError(
                Reason.PROVIDER_NOT_CONFIGURED,
                f"provider {provider_id} has no API key: set one with providers.configure"
                + (
                    f" or the {KEY_ENV_VARS[row.kind]} environment variable"
                    if row.kind in KEY_ENV_VARS
                    else ""
                ),
                provider=provider_id,
            )
        return ProviderConfig(
            id=row.id,
            kind=row.kind,  # type: ignore[arg-type]
            base_url=_base_url(row),
            api_key=key,
            headers=tuple(_header_values(row).items()),
            connect_timeout=row.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
            idle_timeout=row.idle_timeout or DEFAULT_IDLE_TIMEOUT,
            total_timeout=row.total_timeout or DEFAULT_TOTAL_TIMEOUT,
            max_retries=DEFAULT_MAX_RETRIES if row.max_retries is None else row.max_retries,
            api=_api(row),
        )

    async def _publish(self) -> None:
        self._e.bus.publish(
            ProvidersUpdated(providers=[_wire(r) for r in (await self._rows()).values()])
        )


def _key(row: ProviderRow) -> tuple[str | None, str | None]:
    if row.api_key:
        return row.api_key, "stored"
    env = KEY_ENV_VARS.get(row.id) if row.id in BUILTIN_NAMES else None
    value = os.environ.get(env) if env else None
    if value:
        logs.redact(value)
        return value, "environment"
    return None, None


def _api(row: ProviderRow) -> ProviderApi:
    return row.api if row.api in ("responses", "chat") else default_api(row.kind)  # type: ignore[return-value]


def _header_values(row: ProviderRow) -> dict[str, str]:
    """The headers to send: those whose value was found (a lost one is listed, not sent)."""
    return {name: value for name, value in row.headers.items() if value is not None}


def _base_url(row: ProviderRow) -> str:
    return row.base_url or DEFAULT_BASE_URLS.get(row.kind, "")


def _wire(row: ProviderRow) -> Provider:
    key, source = _key(row)
    return Provider(
        id=row.id,
        kind=row.kind,  # type: ignore[arg-type]
        name=row.name or BUILTIN_NAMES.get(row.id, row.id),
        base_url=_base_url(row),
        has_key=key is not None,
        key_source=source,  # type: ignore[arg-type]
        header_names=sorted(row.headers),
        enabled=row.enabled,
        connect_timeout_seconds=row.connect_timeout or DEFAULT_CONNECT_TIMEOUT,
        idle_timeout_seconds=row.idle_timeout or DEFAULT_IDLE_TIMEOUT,
        total_timeout_seconds=row.total_timeout or DEFAULT_TOTAL_TIMEOUT,
        max_retries=DEFAULT_MAX_RETRIES if row.max_retries is None else row.max_retries,
        api=_api(row),
        builtin=row.id in BUILTIN_NAMES,
    )
