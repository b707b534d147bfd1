"""Usage reports and titles: `usage.summary`, `titles.generate`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sidecar.protocol.base import Params, Wire
from sidecar.protocol.objects import UsageKind

# --- usage.summary -------------------------------------------------------------------

# A day (YYYY-MM-DD) or an RFC 3339 timestamp with its offset; the engine checks the values.
DATE_OR_TIMESTAMP = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$"
)

UsageGroupBy = Literal["model", "day", "conversation"]


class UsageSummaryParams(Params):
    """Which usage records to add up, and how to group them."""

    group_by: UsageGroupBy = Field(
        default="model",
        description="One row per model (its canonical id: calls recorded under an alias count "
        "as its model's), per UTC day (YYYY-MM-DD) or per conversation id.",
    )
    conversation_id: str | None = Field(
        default=None, min_length=1, max_length=100, description="Only this conversation's calls."
    )
    model_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Only this model's calls: an id or an alias (models.list), counting the "
        "calls of the model it names. NOT_FOUND when it names no model and no call has it.",
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        max_length=64,
        pattern=DATE_OR_TIMESTAMP,
        description="The first day (UTC) or instant included.",
    )
    to: str | None = Field(
        default=None,
        max_length=64,
        pattern=DATE_OR_TIMESTAMP,
        description="The last day (UTC, the whole day) or instant included.",
    )
    kind: UsageKind | None = Field(
        default=None,
        description="Only chat replies, only title generations or only transcriptions "
        "(audio.transcribe); default all.",
    )


class UsageSummaryRow(Wire):
    """Sums over the provider calls of one group (or of all of them: the totals)."""

    key: str | None = Field(
        description="The model's canonical id, the UTC day or the conversation id; `total` for "
        "the totals. "
        "Null groups the calls recorded without one (e.g. a title of a deleted conversation)."
    )
    calls: int
    input_tokens: int = Field(description="Cached tokens included.")
    output_tokens: int = Field(description="Reasoning tokens included.")
    reasoning_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | None = Field(
        description="Null only when no call of the group had a price (models without pricing)."
    )


class UsageSummaryResult(Wire):
    rows: list[UsageSummaryRow] = Field(description="Sorted by key; a null key comes last.")
    totals: UsageSummaryRow = Field(description="Every row added up, with key `total`.")


# --- titles.generate (titles section) ------------------------------------------------


class TitlesGenerateParams(Params):
    conversation_id: str = Field(min_length=1, max_length=100)


class TitlesGenerateResult(Wire):
    title: str = Field(
        description="The conversation's title now (also sent as conversation.updated)."
    )
