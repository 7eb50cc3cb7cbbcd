/**
 * One parsed TOML config file plus what validation needs around it: the source locator and an
 * error sink that turns a key path into a `FILE:LINE:COL: path: message` error.
 *
 * @module
 */
import { parse, TomlError } from "smol-toml";
import { ConfigError, type SourceLoc } from "./model.ts";
import { locateToml, type TomlLocator } from "./locate.ts";
import { clampLineCol, formatPath, type PathSegment } from "./position.ts";
import { checkTextLimits } from "./source.ts";

/** Deepest inline array/table nesting accepted; real configs use two levels. */
export const MAX_NESTING = 32;

/** A parsed TOML table (integers are `bigint`, so `1` and `1.0` stay distinguishable). */
export type TomlTable = Record<string, unknown>;

/** A parsed config file with located error reporting. */
export class ConfigDocument {
  #locator: TomlLocator | undefined;

  private constructor(
    readonly file: string,
    readonly text: string,
    readonly root: TomlTable,
    readonly errors: ConfigError[],
  ) {}

  /**
   * Parses `text`; syntax errors (and size/NUL problems) go to `errors` and yield `undefined`.
   *
   * @example
   * ```ts
   * const errors: ConfigError[] = [];
   * const doc = ConfigDocument.parse("rules.toml", "a = 1", errors);
   * ```
   */
  static parse(file: string, text: string, errors: ConfigError[]): ConfigDocument | undefined {
    const limits = checkTextLimits(file, text);
    if (limits.length) {
      errors.push(...limits);
      return undefined;
    }
    try {
      const root = parse(text, {
        integersAsBigInt: true,
        maxDepth: MAX_NESTING,
        unsafeKeyBehaviour: "throw",
      }) as TomlTable;
      return new ConfigDocument(file, text, root, errors);
    } catch (e) {
      if (e instanceof TomlError) {
        const first = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
        const at = clampLineCol(text, { line: e.line, col: e.column });
        errors.push(new ConfigError(file, at.line, at.col, `TOML syntax: ${first}`));
      } else {
        // Anything else (e.g. a stack overflow on pathological input) is still a located error.
        const why = e instanceof Error ? e.message : String(e);
        errors.push(new ConfigError(file, 1, 1, `cannot parse: ${why}`));
      }
      return undefined;
    }
  }

  get #loc(): TomlLocator {
    this.#locator ??= locateToml(this.text);
    return this.#locator;
  }

  /** Where the value (or, with `"key"`, the key) at `path` starts. */
  where(path: readonly PathSegment[], at: "key" | "value" = "value"): SourceLoc {
    const raw = at === "key" ? this.#loc.keyAt(path) : this.#loc.valueAt(path);
    const pos = clampLineCol(this.text, raw);
    return { file: this.file, line: pos.line, col: pos.col };
  }

  /** Records an error for `path`: `FILE:LINE:COL: path: message`. */
  error(path: readonly PathSegment[], message: string, at: "key" | "value" = "value"): void {
    const w = this.where(path, at);
    this.errors.push(new ConfigError(w.file, w.line, w.col, `${formatPath(path)}: ${message}`));
  }
}
