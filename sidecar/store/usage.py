"""Usage reports: sums over `usage_records` in one GROUP BY.

`created_at` holds RFC 3339 UTC timestamps of fixed width (`2026-11-24T05:47:01.123Z`),
so a time range is a plain string range on it (the `usage_records_by_time` index)
and a UTC day is its first ten characters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from sidecar.protocol.reports import UsageGroupBy, UsageSummaryRow
from sidecar.store.sql import fetch_all

# The grouping key of each `groupBy`; fixed strings, never built from input.
GROUP_KEYS: dict[str, str] = {
    "model": "model_id",
    "day": "substr(created_at, 1, 10)",
    "conversation": "conversation_id",
}

SUMS = (
    "COUNT(*) AS calls, "
    "COALESCE(SUM(input_tokens), 0) AS input_tokens, "
    "COALESCE(SUM(output_tokens), 0) AS output_tokens, "
    "COALESCE(SUM(reasoning_tokens), 0) AS reasoning_tokens, "
    "COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens, "
    "COALESCE(SUM(cache_write_tokens), 0) AS cache_write_tokens, "
    "SUM(cost_usd) AS cost_usd"  # NULL only when every cost is NULL
)

COST_DIGITS = 10  # like a single call's cost: float sums carry noise past this


async def summary(
    db: aiosqlite.Connection,
    *,
    group_by: UsageGroupBy,
    conversation_id: str | None = None,
    start: str | None = None,
    end: str | None = None,
    kind: str | None = None,
    model_ids: Sequence[str] | None = None,
) -> list[UsageSummaryRow]:
    """One row per group, sorted by key (a NULL key last).

    `start` is the first `created_at` included and `end` the first one excluded, both
    in the stored format; None leaves that side open. `model_ids`: only the calls
    recorded under one of these model ids.
    """
    key = GROUP_KEYS[group_by]
    where: list[str] = []
    params: dict[str, Any] = {}
    if model_ids is not None:
        names = [f"model{i}" for i in range(len(model_ids))]
        where.append(f"model_id IN ({', '.join(':' + n for n in names)})" if names else "0")
        params.update(zip(names, model_ids, strict=True))
    for column, op, name, value in (
        ("conversation_id", "=", "conversation_id", conversation_id),
        ("created_at", ">=", "start", start),
        ("created_at", "<", "end", end),
        ("kind", "=", "kind", kind),
    ):
        if value is not None:
            where.append(f"{column} {op} :{name}")
            params[name] = value
    sql = (
        f"SELECT {key} AS key, {SUMS} FROM usage_records"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " GROUP BY 1 ORDER BY key IS NULL, key"
    )
    rows = await fetch_all(db, sql, params)
    return [
        UsageSummaryRow(
            key=row["key"],
            calls=row["calls"],
            input_tokens=row["input_tokens"],
            output_tokens=row["output_tokens"],
            reasoning_tokens=row["reasoning_tokens"],
            cache_read_tokens=row["cache_read_tokens"],
            cache_write_tokens=row["cache_write_tokens"],
            cost_usd=None if row["cost_usd"] is None else round(row["cost_usd"], COST_DIGITS),
        )
        for row in rows
    ]


def regroup(
    rows: list[UsageSummaryRow], key_of: Callable[[str | None], str | None]
) -> list[UsageSummaryRow]:
    """The rows with their keys mapped by `key_of`, rows that meet on one key added up;
    sorted by key (None last), like `summary`."""
    groups: dict[str | None, list[UsageSummaryRow]] = {}
    for row in rows:
        groups.setdefault(key_of(row.key), []).append(row)
    out = [
        group[0].model_copy(update={"key": key})
        if len(group) == 1
        else totals(group).model_copy(update={"key": key})
        for key, group in groups.items()
    ]
    return sorted(out, key=lambda r: (r.key is None, r.key or ""))


def totals(rows: list[UsageSummaryRow]) -> UsageSummaryRow:
    """The rows added up, as the row keyed `total` (cost null only if every row's is)."""
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    return UsageSummaryRow(
        key="total",
        calls=sum(r.calls for r in rows),
        input_tokens=sum(r.input_tokens for r in rows),
        output_tokens=sum(r.output_tokens for r in rows),
        reasoning_tokens=sum(r.reasoning_tokens for r in rows),
        cache_read_tokens=sum(r.cache_read_tokens for r in rows),
        cache_write_tokens=sum(r.cache_write_tokens for r in rows),
        cost_usd=round(sum(costs), COST_DIGITS) if costs else None,
    )
