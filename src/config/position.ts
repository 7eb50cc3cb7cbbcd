/**
 * Source positions: turning string offsets into 1-based line/column pairs, and key paths into
 * the text shown in error messages.
 *
 * @module
 */

/** A segment of a key path: a table key or an array index. */
export type PathSegment = string | number;

/** A 1-based line and column. */
export interface LineCol {
  line: number;
  col: number;
}

/**
 * Maps a string offset to a 1-based line and column (columns count UTF-16 code units, like
 * smol-toml's own parse errors, so both kinds of error agree). `\r\n` and `\n` end lines.
 *
 * @example
 * ```ts
 * lineColAt("a = 1\nb = x", 10); // { line: 2, col: 5 }
 * ```
 */
export function lineColAt(text: string, offset: number): LineCol {
  const end = Math.max(0, Math.min(offset, text.length));
  const starts = lineStarts(text);
  const i = lastAtMost(starts, end);
  return { line: i + 1, col: end - starts[i] + 1 };
}

/**
 * Clamps a position into the text: line within 1..lines, column within 1..length+1 of that line,
 * so every reported error points somewhere an editor can jump to.
 *
 * @example
 * ```ts
 * clampLineCol("ab\n", { line: 9, col: 9 }); // { line: 2, col: 1 }
 * ```
 */
export function clampLineCol(text: string, pos: LineCol): LineCol {
  const starts = lineStarts(text);
  const line = Math.max(1, Math.min(Math.trunc(pos.line) || 1, starts.length));
  const from = starts[line - 1];
  let to = line < starts.length ? starts[line] - 1 : text.length;
  if (to > from && text.charCodeAt(to - 1) === 13) to--;
  const col = Math.max(1, Math.min(Math.trunc(pos.col) || 1, to - from + 1));
  return { line, col };
}

/*
 * Offsets where each line starts, cached for the few texts being validated: a config with
 * 1 000 apps asks for thousands of positions, and rescanning the text each time made loading
 * quadratic (bench/startup.ts).
 */
const lineCache = new Map<string, number[]>();

function lineStarts(text: string): number[] {
  let starts = lineCache.get(text);
  if (starts) return starts;
  starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  if (lineCache.size >= 4) lineCache.delete(lineCache.keys().next().value!);
  lineCache.set(text, starts);
  return starts;
}

/** Index of the last element <= x in an ascending array whose first element is 0. */
function lastAtMost(xs: number[], x: number): number {
  let lo = 0, hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (xs[mid] <= x) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Formats a key path for messages: `rule[2].ports[1]`, quoting keys that are not bare.
 *
 * @example
 * ```ts
 * formatPath(["rule", 2, "ports", 1]); // "rule[2].ports[1]"
 * formatPath(["defaults", "a b"]); // 'defaults."a b"'
 * ```
 */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else {
      const key = BARE_KEY.test(seg) ? seg : JSON.stringify(seg);
      out += out === "" ? key : `.${key}`;
    }
  }
  return out === "" ? "(top level)" : out;
}

/** A stable map key for a path (unambiguous even for keys containing dots or brackets). */
export function pathKey(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}
