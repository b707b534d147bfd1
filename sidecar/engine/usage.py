"""Cost of a provider call: each token priced once, at its own price."""

from __future__ import annotations

from sidecar.protocol.objects import Pricing, Usage


def cost_usd(usage: Usage, pricing: Pricing | None) -> float | None:
    """USD for `usage` at `pricing` (per million tokens); None when the model has no price.

    inputTokens includes cache reads and writes, so the uncached part is what is
    left after taking them out; cache prices default to the input price.
    """
    if pricing is None or pricing.input is None or pricing.output is None:
        return None
    cached = usage.cache_read_tokens + usage.cache_write_tokens
    uncached = max(usage.input_tokens - cached, 0)
    cache_read = pricing.input if pricing.cache_read is None else pricing.cache_read
    cache_write = pricing.input if pricing.cache_write is None else pricing.cache_write
    total = (
        uncached * pricing.input
        + usage.cache_read_tokens * cache_read
        + usage.cache_write_tokens * cache_write
        + usage.output_tokens * pricing.output
    )
    return round(total / 1_000_000, 10)
