"""What a provider's server has and whether it answers: `providers.models` and
`providers.check`.

One plain request to the server's model list (no retries: a check must say how the
server is now, not after two minutes of backoff), answered as data: a server that is
down, slow, refuses the key or is not the API it should be is a result saying so, not an
error of the call. Only an unknown or unconfigured provider is an error.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from sidecar.protocol.methods import (
    ProvidersCheckResult,
    ProvidersModelsResult,
    ServerModelInfo,
)
from sidecar.providers.types import ProviderError

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.engine.http_client import SharedHttp
    from sidecar.providers.types import Probe

# The server answered, whatever it said: these codes come from an HTTP answer.
_ANSWERED = frozenset(
    {
        "auth",
        "permission",
        "payment_required",
        "rate_limited",
        "overloaded",
        "server_error",
        "bad_request",
        "not_found",
        "conflict",
        "invalid_response",
    }
)
_KEY_REFUSED = frozenset({"auth", "permission"})


class Servers:
    def __init__(self, engine: Engine, http: SharedHttp) -> None:
        self._e = engine
        self._http = http

    async def _probe(self, provider_id: str) -> tuple[Probe | None, ProviderError | None, float]:
        """(what the server said, or why it said nothing usable; seconds it took)."""
        from sidecar.providers import create_provider  # start-up time: it imports httpx

        config = await self._e.providers.config(provider_id)
        config = replace(config, max_retries=0)
        start = time.monotonic()
        try:
            probe = await create_provider(config, self._http.get()).probe()
        except ProviderError as exc:
            return None, exc, time.monotonic() - start
        return probe, None, time.monotonic() - start

    async def models(self, provider_id: str) -> ProvidersModelsResult:
        probe, error, _ = await self._probe(provider_id)
        if probe is None:
            assert error is not None
            return ProvidersModelsResult(models=[], error=error.info())
        known = {m.provider_model: m.id for m in await self._e.models.list(provider_id)}
        return ProvidersModelsResult(
            models=[
                ServerModelInfo(
                    name=m.name,
                    display_name=m.display_name,
                    context_window=m.context_window,
                    size_bytes=m.size_bytes,
                    family=m.family,
                    parameter_size=m.parameter_size,
                    quantization=m.quantization,
                    model_id=known.get(m.name),
                )
                for m in probe.models
            ],
            error=None,
        )

    async def check(self, provider_id: str) -> ProvidersCheckResult:
        probe, error, seconds = await self._probe(provider_id)
        answered = probe is not None or (error is not None and error.code in _ANSWERED)
        key_accepted = None
        if probe is not None:
            key_accepted = True
        elif error is not None and error.code in _KEY_REFUSED:
            key_accepted = False
        return ProvidersCheckResult(
            ok=probe is not None,
            reachable=answered,
            key_accepted=key_accepted,
            latency_ms=round(seconds * 1000) if answered else None,
            model_count=None if probe is None else len(probe.models),
            server=None if probe is None else probe.server,
            version=None if probe is None else probe.version,
            error=None if error is None else error.info(),
        )
