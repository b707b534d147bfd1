/** Small display helpers for the demo page. */

/** USD with enough digits to show the fractions of a cent a short reply costs. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "no price";
  if (usd === 0) return "$0";
  if (usd < 0.000001) return "< $0.000001";
  if (usd < 0.01) return `$${usd.toFixed(6).replace(/0+$/, "")}`;
  return `$${usd.toFixed(4)}`;
}

export function formatTokens(count: number): string {
  return count.toLocaleString("en");
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
