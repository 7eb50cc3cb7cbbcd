/**
 * Port classes: the elementary port intervals cut by a set of port ranges. Every port of one
 * class is covered by exactly the same ranges, so a rule set can be keyed by class instead of by
 * port, and a port finds its class with one longest-prefix lookup.
 *
 * @module
 */
import type { PortRange } from "../config/model.ts";

/** One elementary interval `[from, to]` covered by at least one range. */
export interface PortInterval {
  from: number;
  to: number;
}

/**
 * Cuts `ranges` into disjoint elementary intervals, sorted, keeping only the covered ones.
 *
 * @example
 * ```ts
 * elementaryIntervals([{ from: 1, to: 100 }, { from: 50, to: 50 }]);
 * // [{from:1,to:49},{from:50,to:50},{from:51,to:100}]
 * ```
 */
export function elementaryIntervals(ranges: readonly PortRange[]): PortInterval[] {
  const cuts = new Set<number>();
  for (const r of ranges) {
    cuts.add(r.from);
    cuts.add(r.to + 1);
  }
  const points = [...cuts].sort((a, b) => a - b);
  // Coverage by a difference array over the cut points (ranges can overlap freely).
  const index = new Map(points.map((p, i) => [p, i]));
  const delta = new Array<number>(points.length).fill(0);
  for (const r of ranges) {
    delta[index.get(r.from)!]++;
    delta[index.get(r.to + 1)!]--;
  }
  const out: PortInterval[] = [];
  let depth = 0;
  for (let i = 0; i + 1 < points.length; i++) {
    depth += delta[i];
    if (depth > 0) out.push({ from: points[i], to: points[i + 1] - 1 });
  }
  return out;
}

/** Indexes of the intervals (sorted, disjoint) lying inside `range`. */
export function intervalsWithin(intervals: readonly PortInterval[], range: PortRange): number[] {
  let lo = 0;
  let hi = intervals.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (intervals[mid].to < range.from) lo = mid + 1;
    else hi = mid;
  }
  const out: number[] = [];
  for (let i = lo; i < intervals.length && intervals[i].from <= range.to; i++) out.push(i);
  return out;
}

/** A 16-bit port prefix: `port` with its low `16 - bits` bits clear. */
export interface PortPrefix {
  port: number;
  bits: number;
}

/**
 * The fewest aligned prefixes covering exactly `[from, to]` (at most 30 for 16-bit ports).
 *
 * @example
 * ```ts
 * rangeToPrefixes(8000, 8003); // [{ port: 8000, bits: 14 }]
 * ```
 */
export function rangeToPrefixes(from: number, to: number): PortPrefix[] {
  const out: PortPrefix[] = [];
  let p = from;
  while (p <= to) {
    let size = 1;
    // Grow the block while it stays aligned at p and inside the range.
    while (size < 65536 && p % (size * 2) === 0 && p + size * 2 - 1 <= to) size *= 2;
    out.push({ port: p, bits: 16 - Math.log2(size) });
    p += size;
  }
  return out;
}
