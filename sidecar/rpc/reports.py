"""`usage.summary` and `titles.generate`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sidecar.protocol.reports import (
    TitlesGenerateParams,
    TitlesGenerateResult,
    UsageSummaryParams,
    UsageSummaryResult,
)
from sidecar.rpc.registry import Registry

if TYPE_CHECKING:
    from sidecar.server import Connection

handles = Registry()


# --- usage.summary -------------------------------------------------------------------


@handles("usage.summary")
async def usage_summary(conn: Connection, p: UsageSummaryParams) -> UsageSummaryResult:
    return await conn.app.engine.reports.summary(p)


# --- titles.generate (titles section) ------------------------------------------------


@handles("titles.generate")
async def titles_generate(conn: Connection, p: TitlesGenerateParams) -> TitlesGenerateResult:
    return TitlesGenerateResult(title=await conn.app.engine.titles.generate(p.conversation_id))
