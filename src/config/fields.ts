/**
 * Typed field readers over parsed TOML: each reads one key, reports a located error naming the
 * key path and what was expected, and returns `undefined` when the value is unusable.
 *
 * @module
 */
import type { ConfigDocument, TomlTable } from "./document.ts";
import { formatPath, type PathSegment } from "./position.ts";
import { closest } from "./suggest.ts";

/** Describes a parsed TOML value for "got ..." messages. */
export function describeValue(v: unknown): string {
  if (typeof v === "string") {
    const shown = v.length > 40 ? `${v.slice(0, 37)}...` : v;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof v === "bigint") return `integer ${v}`;
  if (typeof v === "number") return `float ${v}`;
  if (typeof v === "boolean") return `boolean ${v}`;
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date-time";
  if (v !== null && typeof v === "object") return "a table";
  return String(v);
}

/** True for a plain TOML table (not an array or a date). */
export function isTable(v: unknown): v is TomlTable {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * Reports every key of `table` not in `allowed`, at the key itself, with a "did you mean" hint
 * (or the list of valid keys when nothing is close).
 */
export function checkKeys(
  doc: ConfigDocument,
  path: readonly PathSegment[],
  table: TomlTable,
  allowed: readonly string[],
): void {
  for (const key of Object.keys(table)) {
    if (allowed.includes(key)) continue;
    const hint = closest(key, allowed);
    const where = path.length ? `in ${formatPath(path)}` : "at the top level";
    const tail = hint ? `did you mean "${hint}"?` : `expected one of: ${allowed.join(", ")}`;
    doc.error([...path, key], `unknown key ${where}; ${tail}`, "key");
  }
}

/** Reads `table[key]` with `read`; a missing key is an error only when `required`. */
export function field<T>(
  doc: ConfigDocument,
  path: readonly PathSegment[],
  table: TomlTable,
  key: string,
  read: (doc: ConfigDocument, path: PathSegment[], v: unknown) => T | undefined,
  required = false,
): T | undefined {
  if (!Object.hasOwn(table, key)) {
    if (required) doc.error(path, `missing required key "${key}"`);
    return undefined;
  }
  return read(doc, [...path, key], table[key]);
}

/** A string value. */
export function readString(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  if (typeof v === "string") return v;
  doc.error(path, `expected a string, got ${describeValue(v)}`);
  return undefined;
}

/** A boolean value. */
export function readBool(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  if (typeof v === "boolean") return v;
  doc.error(path, `expected true or false, got ${describeValue(v)}`);
  return undefined;
}

/** A reader for a string that must be one of `choices` (with a hint for near misses). */
export function readEnum<T extends string>(choices: readonly T[]) {
  const expected = choices.map((c) => `"${c}"`).join(" | ");
  return (doc: ConfigDocument, path: PathSegment[], v: unknown): T | undefined => {
    if (typeof v !== "string") {
      doc.error(path, `expected one of ${expected}, got ${describeValue(v)}`);
      return undefined;
    }
    if ((choices as readonly string[]).includes(v)) return v as T;
    const hint = closest(v, choices);
    doc.error(
      path,
      `"${v}" is not valid; expected one of ${expected}${hint ? `; did you mean "${hint}"?` : ""}`,
    );
    return undefined;
  };
}

/** A reader for an array whose items are read by `item`; `undefined` if any item failed. */
export function readArray<T>(
  item: (doc: ConfigDocument, path: PathSegment[], v: unknown) => T | undefined,
  what: string,
  allowEmpty = true,
) {
  return (doc: ConfigDocument, path: PathSegment[], v: unknown): T[] | undefined => {
    if (!Array.isArray(v)) {
      doc.error(path, `expected an array of ${what}, got ${describeValue(v)}`);
      return undefined;
    }
    if (!allowEmpty && v.length === 0) {
      doc.error(path, `empty array matches nothing; omit the key to mean "any"`);
      return undefined;
    }
    const out: T[] = [];
    let ok = true;
    v.forEach((x, i) => {
      const r = item(doc, [...path, i], x);
      if (r === undefined) ok = false;
      else out.push(r);
    });
    return ok ? out : undefined;
  };
}

/**
 * Reads an array of tables (`[[name]]`), reporting a plain table or scalar written in its place.
 * Returns the tables that are tables, with their index.
 */
export function readTableArray(
  doc: ConfigDocument,
  path: PathSegment[],
  v: unknown,
): { table: TomlTable; index: number }[] {
  const name = String(path[path.length - 1]);
  if (!Array.isArray(v)) {
    doc.error(path, `expected [[${name}]] entries (an array of tables), got ${describeValue(v)}`);
    return [];
  }
  const out: { table: TomlTable; index: number }[] = [];
  v.forEach((t, index) => {
    if (isTable(t)) out.push({ table: t, index });
    else doc.error([...path, index], `expected a table, got ${describeValue(t)}`);
  });
  return out;
}

/**
 * Checks an absolute, normalised path (no `.`/`..`, no `//`, no trailing `/`), hinting the
 * normalised form when there is one.
 */
export function readAbsolutePath(doc: ConfigDocument, path: PathSegment[], v: unknown) {
  const s = readString(doc, path, v);
  if (s === undefined) return undefined;
  if (s.includes("\0")) {
    doc.error(path, "path contains a NUL character");
    return undefined;
  }
  if (!s.startsWith("/")) {
    doc.error(path, `"${s}" is not an absolute path; expected a path starting with /`);
    return undefined;
  }
  const norm = normalisePath(s);
  if (norm !== s) {
    doc.error(path, `"${s}" is not a normalised path; did you mean "${norm}"?`);
    return undefined;
  }
  return s;
}

function normalisePath(p: string): string {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}
