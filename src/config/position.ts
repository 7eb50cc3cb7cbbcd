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
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: end - lineStart + 1 };
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
  const lines = text.split("\n");
  const line = Math.max(1, Math.min(Math.trunc(pos.line) || 1, lines.length));
  const len = lines[line - 1].replace(/\r$/, "").length;
  const col = Math.max(1, Math.min(Math.trunc(pos.col) || 1, len + 1));
  return { line, col };
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
