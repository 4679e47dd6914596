// The statistics the benchmark reports: medians with their range over repeated runs, and the
// nearest-rank percentiles the split's sink computes per-batch latencies with.

import type { Spread } from './report-types.js';

/** Median of the values (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median, smallest and largest value; NaNs for none. */
export function spread(xs: readonly number[]): Spread {
  if (xs.length === 0) return { median: NaN, min: NaN, max: NaN };
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/**
 * Nearest-rank percentile of ascending values: the smallest value with at least p % of the values
 * at or below it. 0 for no values; p ≤ 0 gives the minimum, p ≥ 100 the maximum.
 */
export function percentile(sorted: Float64Array | readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
