"""Reports over what was recorded: `usage.summary`.

Read-only: no engine lock, no events. The range is turned into a half-open range of
stored `created_at` strings (UTC, millisecond precision), so the store compares
plain strings:

- `from` a day: from its first millisecond (UTC); a timestamp: from that instant;
- `to` a day: through its last millisecond (the whole day is included); a timestamp:
  through that instant.

Models are counted by their canonical id: `modelId` may be an alias (the calls of its
model are counted, under every id it has, so rows an older importer kept under the
old app's id count too), and `groupBy: model` adds up the rows whose ids name one
model under that model's id. A retired model's calls stay its own, never added to the
model that answers for it now (`recorded_model`). An id that names nothing is taken
as it is (a removed model's calls stay countable), and is NOT_FOUND, saying why, when
no call was ever recorded under it either.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sidecar.engine.models import unknown_model
from sidecar.protocol.errors import InvalidParams
from sidecar.protocol.reports import UsageSummaryResult
from sidecar.registry import catalog, merged, recorded_model
from sidecar.store.usage import regroup, totals

if TYPE_CHECKING:
    from sidecar.engine import Engine
    from sidecar.protocol.objects import Model
    from sidecar.protocol.reports import UsageSummaryParams

_MS = dt.timedelta(milliseconds=1)


class Reports:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    async def summary(self, p: UsageSummaryParams) -> UsageSummaryResult:
        start, end = time_range(p.from_, p.to)
        repos = self._e.repos
        models = merged(await repos.catalog.list_models())
        model_ids = None
        if p.model_id is not None:
            wanted = recorded_model(models, p.model_id)
            if wanted is None and not await repos.usage.has_model(p.model_id):
                raise unknown_model(models, p.model_id)
            model_ids = [p.model_id] if wanted is None else _names(models, wanted.id)
        rows = await repos.usage.summary(
            group_by=p.group_by,
            conversation_id=p.conversation_id,
            start=start,
            end=end,
            kind=p.kind,
            model_ids=model_ids,
        )
        if p.group_by == "model":
            canonical = _canonical(models)
            rows = regroup(rows, lambda key: canonical.get(key, key) if key else key)
        return UsageSummaryResult(rows=rows, totals=totals(rows))


def _canonical(models: list[Model]) -> dict[str, str]:
    """Every name a call may be kept under -> the id its calls are counted as."""
    names = {n for m in models for n in (m.id, *m.aliases)}
    names |= {n for r in catalog().retired for n in r.names()}
    return {n: model.id for n in names if (model := recorded_model(models, n)) is not None}


def _names(models: list[Model], model_id: str) -> list[str]:
    """The names whose calls count as `model_id`'s."""
    return [n for n, owner in _canonical(models).items() if owner == model_id]


def time_range(from_: str | None, to: str | None) -> tuple[str | None, str | None]:
    """(first created_at included, first created_at excluded) in the stored format;
    InvalidParams (-32602) for an impossible date or `from` after `to`."""
    first = last = None
    if from_ is not None:
        first = _parse(from_, "from", end_of_day=False)
    if to is not None:
        last = _parse(to, "to", end_of_day=True)
    if first is not None and last is not None and first > last:
        raise InvalidParams(f"from ({from_}) is after to ({to})", ("from",))
    start = None if first is None else _stored(_ceil_ms(first))
    end = None
    if last is not None:
        try:
            end = _stored(_floor_ms(last) + _MS)
        except OverflowError:  # through the end of year 9999: no upper bound
            end = None
    return start, end


def _parse(text: str, field: str, *, end_of_day: bool) -> dt.datetime:
    """The instant a bound stands for, in UTC: a day's first microsecond, or its last one
    for `end_of_day`; a timestamp as given."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return dt.datetime.combine(day, dt.time.max if end_of_day else dt.time(), dt.UTC)
        parsed = dt.datetime.fromisoformat(text.upper())
    except (ValueError, OverflowError):
        raise InvalidParams(
            f"{field} must be a date (YYYY-MM-DD) or an RFC 3339 timestamp", (field,)
        ) from None
    if parsed.tzinfo is None:  # the params pattern requires an offset; be safe anyway
        raise InvalidParams(f"{field} needs a time zone offset (Z or +hh:mm)", (field,))
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidParams(f"{field} is out of range", (field,)) from None


def _floor_ms(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _ceil_ms(moment: dt.datetime) -> dt.datetime:
    floor = _floor_ms(moment)
    if floor == moment:
        return floor
    try:
        return floor + _MS
    except OverflowError:
        return floor


def _stored(moment: dt.datetime) -> str:
    """The `created_at` format: `2026-11-24T05:47:01.123Z`."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
