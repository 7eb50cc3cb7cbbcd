/**
 * "Did you mean" hints for misspelt keys and values.
 *
 * @module
 */

/**
 * Edit distance (optimal string alignment: insert, delete, substitute, swap neighbours).
 *
 * @example
 * ```ts
 * editDistance("protcol", "protocol"); // 1
 * ```
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = [];
  for (let i = 0; i <= a.length; i++) d.push([i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2][j - 2] + 1);
      }
      d[i][j] = v;
    }
  }
  return d[a.length][b.length];
}

/**
 * The closest candidate to `word`, if close enough to be a plausible typo (case differences and
 * `-`/`_` mix-ups count as close), else `undefined`.
 *
 * @example
 * ```ts
 * closest("alow_loopback", ["mode", "allow_loopback"]); // "allow_loopback"
 * closest("zzz", ["mode"]); // undefined
 * ```
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  // Very long input is never a typo of a short key; skip the quadratic work.
  if (word.length > 64) return undefined;
  const norm = (s: string) => s.toLowerCase().replaceAll("-", "_");
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    // A prefix of a valid word ("enforc", "enforce" for "enforcing") is a likely slip too.
    const prefix = word.length >= 3 && (c.startsWith(word.slice(0, -1)) || c.startsWith(word));
    const d = norm(word) === norm(c) ? 0 : prefix ? 1 : editDistance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const limit = Math.max(1, Math.floor(word.length / 3));
  return bestD <= limit ? best : undefined;
}
