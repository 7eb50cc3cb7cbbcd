/**
 * A position locator for TOML text: maps key paths (`rule[2].ports[1]`) to where their key and
 * value start in the source. smol-toml gives positions only for syntax errors; semantic errors
 * (a port out of range, an unknown key) need this to point at the offending value.
 *
 * The scanner runs only on text smol-toml already accepted, so it can be lenient: it never
 * throws, and on anything unexpected it stops recording and lets lookups fall back to the
 * nearest enclosing path.
 *
 * @module
 */
import { type LineCol, lineColAt, pathKey, type PathSegment } from "./position.ts";

interface Spot {
  key?: number;
  value?: number;
}

/** Answers "where is this key / value?" for one TOML text. */
export interface TomlLocator {
  /** Where the value at `path` starts; falls back to the closest enclosing path, then 1:1. */
  valueAt(path: readonly PathSegment[]): LineCol;
  /** Where the key of `path` starts (table header for tables); falls back like `valueAt`. */
  keyAt(path: readonly PathSegment[]): LineCol;
}

/**
 * Scans `text` (valid TOML) and returns a locator for its keys and values.
 *
 * @example
 * ```ts
 * const loc = locateToml('[[rule]]\nports = [22, 0]\n');
 * loc.valueAt(["rule", 0, "ports", 1]); // { line: 2, col: 14 }
 * ```
 */
export function locateToml(text: string): TomlLocator {
  const spots = new Map<string, Spot>();
  try {
    new Scanner(text, spots).run();
  } catch {
    // Lenient by design: whatever was recorded before the surprise still helps.
  }
  const find = (path: readonly PathSegment[], which: "key" | "value"): LineCol => {
    for (let n = path.length; n > 0; n--) {
      const spot = spots.get(pathKey(path.slice(0, n)));
      const offset = spot?.[which] ?? spot?.value ?? spot?.key;
      if (offset !== undefined) return lineColAt(text, offset);
    }
    return { line: 1, col: 1 };
  };
  return {
    valueAt: (path) => find(path, "value"),
    keyAt: (path) => find(path, "key"),
  };
}

const BARE = /[A-Za-z0-9_-]/;
/**
 * Dotted key parts the scanner follows. Recording every prefix of a key costs O(parts²): a 200 KB
 * header `[a.a.a…]` took 45 s and held the daemon's event loop during a reload. Real configs use
 * two or three parts; past this the scan stops (errors after it are placed at 1:1).
 */
const MAX_KEY_PARTS = 64;

class Scanner {
  #p = 0;
  #table: PathSegment[] = [];
  /** Arrays of tables seen so far (by resolved path) and how many elements each has. */
  #arrayTables = new Map<string, number>();

  constructor(private readonly s: string, private readonly spots: Map<string, Spot>) {}

  run(): void {
    const s = this.s;
    while (this.#p < s.length) {
      this.#skipBlank(true);
      if (this.#p >= s.length) break;
      const c = s[this.#p];
      if (c === "[") this.#header();
      else this.#keyValue(this.#table);
      this.#skipBlank(false);
      this.#skipComment();
    }
  }

  #record(path: PathSegment[], which: "key" | "value", offset: number): void {
    const k = pathKey(path);
    const spot = this.spots.get(k) ?? {};
    if (spot[which] === undefined) spot[which] = offset;
    this.spots.set(k, spot);
  }

  /** Skips spaces/tabs, and with `newlines` also line ends and comments. */
  #skipBlank(newlines: boolean): void {
    const s = this.s;
    while (this.#p < s.length) {
      const c = s[this.#p];
      if (c === " " || c === "\t") this.#p++;
      else if (newlines && (c === "\n" || c === "\r")) this.#p++;
      else if (newlines && c === "#") this.#skipComment();
      else break;
    }
  }

  #skipComment(): void {
    if (this.s[this.#p] !== "#") return;
    const nl = this.s.indexOf("\n", this.#p);
    this.#p = nl === -1 ? this.s.length : nl;
  }

  #header(): void {
    const start = this.#p;
    const isArray = this.s.startsWith("[[", this.#p);
    this.#p += isArray ? 2 : 1;
    const keys = this.#dottedKey();
    this.#skipBlank(false);
    this.#p += isArray ? 2 : 1;
    const resolved = this.#resolve(keys.map((k) => k.name));
    if (isArray) {
      const k = pathKey(resolved);
      const count = (this.#arrayTables.get(k) ?? 0) + 1;
      this.#arrayTables.set(k, count);
      this.#record(resolved, "key", start);
      this.#record(resolved, "value", start);
      resolved.push(count - 1);
    }
    this.#record(resolved, "key", start);
    this.#record(resolved, "value", start);
    this.#table = resolved;
  }

  /** Resolves header keys: a prefix naming an array of tables means its last element. */
  #resolve(names: string[]): PathSegment[] {
    const out: PathSegment[] = [];
    for (const name of names) {
      out.push(name);
      const count = this.#arrayTables.get(pathKey(out));
      if (count !== undefined && out.length < names.length) out.push(count - 1);
    }
    return out;
  }

  #keyValue(base: PathSegment[]): void {
    const keys = this.#dottedKey();
    if (keys.length === 0) throw new Error("not a key");
    const path = [...base];
    for (const k of keys) {
      path.push(k.name);
      this.#record(path, "key", k.at);
    }
    this.#skipBlank(false);
    if (this.s[this.#p] !== "=") throw new Error("expected =");
    this.#p++;
    this.#skipBlank(false);
    this.#value(path);
  }

  #dottedKey(): { name: string; at: number }[] {
    const keys: { name: string; at: number }[] = [];
    for (;;) {
      this.#skipBlank(false);
      const at = this.#p;
      const c = this.s[this.#p];
      let name: string;
      if (c === '"') name = this.#basicString();
      else if (c === "'") name = this.#literalString();
      else {
        let end = this.#p;
        while (end < this.s.length && BARE.test(this.s[end])) end++;
        if (end === this.#p) return keys;
        name = this.s.slice(this.#p, end);
        this.#p = end;
      }
      keys.push({ name, at });
      if (keys.length > MAX_KEY_PARTS) throw new Error("dotted key with too many parts");
      this.#skipBlank(false);
      if (this.s[this.#p] !== ".") return keys;
      this.#p++;
    }
  }

  #value(path: PathSegment[]): void {
    this.#record(path, "value", this.#p);
    const s = this.s;
    const c = s[this.#p];
    if (c === '"') {
      if (s.startsWith('"""', this.#p)) this.#multiline('"""');
      else this.#basicString();
    } else if (c === "'") {
      if (s.startsWith("'''", this.#p)) this.#multiline("'''");
      else this.#literalString();
    } else if (c === "[") {
      this.#p++;
      let i = 0;
      for (;;) {
        this.#skipBlank(true);
        if (s[this.#p] === "]" || this.#p >= s.length) break;
        this.#value([...path, i++]);
        this.#skipBlank(true);
        if (s[this.#p] === ",") this.#p++;
      }
      this.#p++;
    } else if (c === "{") {
      this.#p++;
      for (;;) {
        this.#skipBlank(true);
        if (s[this.#p] === "}" || this.#p >= s.length) break;
        this.#keyValue(path);
        this.#skipBlank(true);
        if (s[this.#p] === ",") this.#p++;
      }
      this.#p++;
    } else {
      // Numbers, booleans, dates (which may contain one space): up to a delimiter.
      while (this.#p < s.length && !",]}#\n\r".includes(s[this.#p])) this.#p++;
    }
  }

  #multiline(quote: string): void {
    const s = this.s;
    let p = this.#p + 3;
    for (;;) {
      const end = s.indexOf(quote, p);
      if (end === -1) {
        this.#p = s.length;
        return;
      }
      if (quote === '"""') {
        // A quote preceded by an odd number of backslashes is escaped.
        let bs = 0;
        while (s[end - 1 - bs] === "\\") bs++;
        if (bs % 2 === 1) {
          p = end + 1;
          continue;
        }
      }
      let stop = end + 3;
      // Up to two extra quotes may close the string ("""a"""" is `a"`).
      while (s[stop] === quote[0] && stop - end < 5) stop++;
      this.#p = stop;
      return;
    }
  }

  #literalString(): string {
    const end = this.s.indexOf("'", this.#p + 1);
    const stop = end === -1 ? this.s.length : end;
    const out = this.s.slice(this.#p + 1, stop);
    this.#p = stop + 1;
    return out;
  }

  #basicString(): string {
    const s = this.s;
    let out = "";
    let p = this.#p + 1;
    while (p < s.length && s[p] !== '"') {
      if (s[p] !== "\\") {
        out += s[p++];
        continue;
      }
      const e = s[p + 1];
      const simple: Record<string, string> = {
        b: "\b",
        t: "\t",
        n: "\n",
        f: "\f",
        r: "\r",
        e: "\x1b",
        '"': '"',
        "\\": "\\",
      };
      if (e in simple) {
        out += simple[e];
        p += 2;
      } else if (e === "u" || e === "U" || e === "x") {
        const len = e === "u" ? 4 : e === "U" ? 8 : 2;
        const code = parseInt(s.slice(p + 2, p + 2 + len), 16);
        out += Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : "";
        p += 2 + len;
      } else {
        p += 2;
      }
    }
    this.#p = p + 1;
    return out;
  }
}
