/**
 * Token and cost totals as a pure reducer over `usage.recorded` (one event per provider
 * call, chat replies and titles alike), grouped the ways `usage.summary` groups them,
 * plus per message, which the summary does not offer.
 */
import type { SidecarEvent, UsageRecord, UsageSummaryResult, UsageSummaryRow } from "../generated/protocol.js";

/** Sums over provider calls; `costUsd` is null only while no call had a price. */
export interface UsageTotals {
  calls: number;
  inputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number | null;
}

export interface UsageState {
  /** The last event reflected. */
  seq: number;
  /** Only this conversation's calls; null: every call. */
  conversationId: string | null;
  total: UsageTotals;
  /** Only calls recorded since this state began (the summary has no per-message rows). */
  byMessage: Record<string, UsageTotals>;
  byConversation: Record<string, UsageTotals>;
  byModel: Record<string, UsageTotals>;
  /** UTC day, YYYY-MM-DD. */
  byDay: Record<string, UsageTotals>;
}

/** Like the sidecar, sums are rounded to 10 decimals: float sums carry noise past that. */
const COST_SCALE = 1e10;

export const ZERO_USAGE: UsageTotals = Object.freeze({
  calls: 0,
  inputTokens: 0,
  outputTokens: 0,
  reasoningTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costUsd: null,
});

export function emptyUsage(scope: { conversationId?: string | null } = {}): UsageState {
  return {
    seq: -1,
    conversationId: scope.conversationId ?? null,
    total: ZERO_USAGE,
    byMessage: {},
    byConversation: {},
    byModel: {},
    byDay: {},
  };
}

/**
 * The state `usage.summary` answers stand for. The summary carries no `seq`: pass the
 * seq of the last event received before its answer (answers and events share one
 * ordered queue, so those are the calls it counted).
 */
export function usageFromSummary(options: {
  seq: number;
  conversationId?: string | null;
  /** Any groupBy: its totals are the state's total. */
  total: UsageSummaryResult;
  byConversation?: UsageSummaryResult;
  byModel?: UsageSummaryResult;
  byDay?: UsageSummaryResult;
}): UsageState {
  return {
    ...emptyUsage({ conversationId: options.conversationId ?? null }),
    seq: options.seq,
    total: totalsOf(options.total.totals),
    byConversation: rowsOf(options.byConversation),
    byModel: rowsOf(options.byModel),
    byDay: rowsOf(options.byDay),
  };
}

export function reduceUsage(state: UsageState, event: SidecarEvent): UsageState {
  if (event.seq <= state.seq || event.type !== "usage.recorded") return state;
  const record = event.usage;
  if (state.conversationId !== null && record.conversationId !== state.conversationId) return state;
  return {
    ...state,
    seq: event.seq,
    total: addUsage(state.total, record),
    byMessage: addTo(state.byMessage, record.messageId, record),
    byConversation: addTo(state.byConversation, record.conversationId, record),
    byModel: addTo(state.byModel, record.modelId, record),
    byDay: addTo(state.byDay, record.createdAt.slice(0, 10), record),
  };
}

/** One more call added to `totals`. */
export function addUsage(totals: UsageTotals, record: UsageRecord): UsageTotals {
  return {
    calls: totals.calls + 1,
    inputTokens: totals.inputTokens + record.inputTokens,
    outputTokens: totals.outputTokens + record.outputTokens,
    reasoningTokens: totals.reasoningTokens + record.reasoningTokens,
    cacheReadTokens: totals.cacheReadTokens + record.cacheReadTokens,
    cacheWriteTokens: totals.cacheWriteTokens + record.cacheWriteTokens,
    costUsd:
      record.costUsd === null
        ? totals.costUsd
        : Math.round(((totals.costUsd ?? 0) + record.costUsd) * COST_SCALE) / COST_SCALE,
  };
}

function addTo(
  groups: Record<string, UsageTotals>,
  key: string | null,
  record: UsageRecord,
): Record<string, UsageTotals> {
  if (key === null) return groups;
  return { ...groups, [key]: addUsage(groups[key] ?? ZERO_USAGE, record) };
}

function totalsOf(row: UsageSummaryRow): UsageTotals {
  return {
    calls: row.calls,
    inputTokens: row.inputTokens,
    outputTokens: row.outputTokens,
    reasoningTokens: row.reasoningTokens,
    cacheReadTokens: row.cacheReadTokens,
    cacheWriteTokens: row.cacheWriteTokens,
    costUsd: row.costUsd,
  };
}

/** Summary rows by key; the null key (calls recorded without one) has no group here. */
function rowsOf(result: UsageSummaryResult | undefined): Record<string, UsageTotals> {
  const groups: Record<string, UsageTotals> = {};
  for (const row of result?.rows ?? []) if (row.key !== null) groups[row.key] = totalsOf(row);
  return groups;
}
