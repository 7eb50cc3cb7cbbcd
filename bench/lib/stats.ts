/**
 * Small statistics for benchmarks: medians and quantiles of repeated runs, and ratios formatted
 * the same way everywhere.
 *
 * @module
 */

/**
 * The q-quantile (0..1) of `xs` by linear interpolation between order statistics.
 *
 * @example
 * ```ts
 * quantile([1, 2, 3, 4], 0.5); // 2.5
 * ```
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new RangeError("quantile: no samples");
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile: q must be 0..1, got ${q}`);
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * The median of `xs`.
 *
 * @example
 * ```ts
 * median([3, 1, 2]); // 2
 * ```
 */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/**
 * Rounds to `digits` decimals for JSON output (keeps reports readable and stable to diff).
 *
 * @example
 * ```ts
 * round(1.23456, 3); // 1.235
 * ```
 */
export function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
