/**
 * Printing config errors.
 *
 * @module
 */
import type { ConfigError } from "./model.ts";

/**
 * One error per line, `FILE:LINE:COL: message`, in the order given (validation already sorts
 * them by file and position). Messages never contain newlines, so each error stays one line.
 *
 * @example
 * ```ts
 * console.error(formatErrors([new ConfigError("rules.toml", 3, 9, "rule[0].ports[0]: ...")]));
 * // rules.toml:3:9: rule[0].ports[0]: ...
 * ```
 */
export function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => e.message.replace(/[\r\n]+/g, " ")).join("\n");
}
