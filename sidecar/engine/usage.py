"""Cost of a provider call: each token priced once, at its own price."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.ids import new_id, now_iso
from sidecar.protocol.objects import Pricing, Usage, UsageKind, UsageRecord

if TYPE_CHECKING:
    from sidecar.protocol.objects import Model
    from sidecar.providers.types import UsagePart


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


def usage_record(
    model: Model,
    part: UsagePart,
    kind: UsageKind,
    conversation_id: str | None,
    message_id: str | None,
) -> UsageRecord:
    """One provider call's usage record, priced at the model's prices."""
    usage = Usage(
        input_tokens=part.input_tokens,
        output_tokens=part.output_tokens,
        reasoning_tokens=part.reasoning_tokens,
        cache_read_tokens=part.cache_read_tokens,
        cache_write_tokens=part.cache_write_tokens,
    )
    return priced_record(model, usage, kind, conversation_id, message_id)


def priced_record(
    model: Model,
    usage: Usage,
    kind: UsageKind,
    conversation_id: str | None,
    message_id: str | None,
) -> UsageRecord:
    """`usage` as a record of a call to `model`; a missing cost from the model's prices."""
    if usage.cost_usd is None:
        usage = usage.model_copy(update={"cost_usd": cost_usd(usage, model.pricing)})
    return UsageRecord(
        **usage.model_dump(by_alias=False),
        id=new_id(),
        conversation_id=conversation_id,
        message_id=message_id,
        model_id=model.id,
        provider=model.provider,
        kind=kind,
        created_at=now_iso(),
    )
