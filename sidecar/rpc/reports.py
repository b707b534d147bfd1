"""`usage.summary` and `titles.generate`."""

from __future__ import annotations

from sidecar.protocol.errors import Reason
from sidecar.protocol.reports import (
    TitlesGenerateParams,
    TitlesGenerateResult,
    UsageSummaryParams,
    UsageSummaryResult,
)
from sidecar.rpc.method import Context, Family

family = Family()


# --- usage.summary -------------------------------------------------------------------


@family(
    "usage.summary",
    "Token and cost totals of the recorded provider calls, by model, day or conversation.",
    errors=(Reason.NOT_FOUND,),
    reads=True,
)
async def usage_summary(session: Context, p: UsageSummaryParams) -> UsageSummaryResult:
    return await session.engine.reports.summary(p)


# --- titles.generate (titles section) ------------------------------------------------


@family(
    "titles.generate",
    "Make a title now from the first exchange of the active branch, replacing a generated one (titleSource `generated`). A title the user set is never replaced: that answers CONFLICT (clear it with conversations.update `title: null` first), as does a conversation without a message yet. If the user sets a title while this runs, theirs is kept and returned.",
    errors=(Reason.NOT_FOUND, Reason.CONFLICT),
)
async def titles_generate(session: Context, p: TitlesGenerateParams) -> TitlesGenerateResult:
    return TitlesGenerateResult(title=await session.engine.titles.generate(p.conversation_id))
