/**
 * First-match over nested prefixes. A longest-prefix-match trie answers with the most specific
 * prefix containing an address, but first-match needs the lowest rule index among ALL prefixes
 * containing it. Since an address inside prefix P is inside every shorter prefix containing P,
 * storing at P the minimum over P and its ancestors makes the one LPM answer the first match.
 *
 * @module
 */

/** A prefix with the lowest rule index written for exactly that prefix. */
export interface PrefixRule {
  addr: Uint8Array;
  bits: number;
  rule: number;
}

interface Node {
  zero?: Node;
  one?: Node;
  entry?: PrefixRule;
}

/**
 * Returns one entry per distinct prefix whose `rule` is the minimum over the prefix and every
 * other given prefix that contains it. Input entries with the same prefix are merged.
 *
 * @example
 * ```ts
 * const out = propagateFirstMatch([
 *   { addr: new Uint8Array([10, 0, 0, 0]), bits: 8, rule: 1 },
 *   { addr: new Uint8Array([10, 1, 0, 0]), bits: 16, rule: 5 },
 * ]);
 * // the /16 now carries rule 1: every 10.1.x.x address matches rule 1 first
 * ```
 */
export function propagateFirstMatch(entries: readonly PrefixRule[]): PrefixRule[] {
  const root: Node = {};
  for (const e of entries) {
    let n = root;
    for (let i = 0; i < e.bits; i++) {
      const bit = (e.addr[i >> 3] >> (7 - (i & 7))) & 1;
      if (bit) n = n.one ??= {};
      else n = n.zero ??= {};
    }
    if (!n.entry || e.rule < n.entry.rule) n.entry = { addr: e.addr, bits: e.bits, rule: e.rule };
  }
  const out: PrefixRule[] = [];
  // Iterative walk: deep IPv6 tries would overflow a recursive one only in theory, but be safe.
  const stack: Array<{ n: Node; best: number }> = [{ n: root, best: Infinity }];
  while (stack.length) {
    const { n, best: above } = stack.pop()!;
    let best = above;
    if (n.entry) {
      best = Math.min(best, n.entry.rule);
      out.push({ addr: n.entry.addr, bits: n.entry.bits, rule: best });
    }
    if (n.zero) stack.push({ n: n.zero, best });
    if (n.one) stack.push({ n: n.one, best });
  }
  return out;
}
