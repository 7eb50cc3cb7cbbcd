/**
 * Benchmark output: a markdown table for people and, as the very last line of stdout, one JSON
 * object for bench/run_all.sh (it puts that line into build/bench/report.json as "result").
 *
 * @module
 */

/**
 * Renders a markdown table; numbers are printed as given, so format them first.
 *
 * @example
 * ```ts
 * console.log(markdownTable(["arm", "ops/s"], [["baseline", "51234"]]));
 * ```
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (string | number)[][],
): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Prints the summary JSON line; call it last (run_all.sh reads only the final line).
 *
 * @example
 * ```ts
 * printSummary({ name: "connect", ratio: 0.98 });
 * ```
 */
export function printSummary(summary: Record<string, unknown>): void {
  console.log(JSON.stringify(summary));
}

/**
 * Formats a number with thousands separators and `digits` decimals ("51 234", "1.05").
 *
 * @example
 * ```ts
 * fmt(51234.4); // "51 234"
 * ```
 */
export function fmt(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return String(x);
  const [int, frac] = Math.abs(x).toFixed(digits).split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  return `${x < 0 ? "-" : ""}${grouped}${frac ? "." + frac : ""}`;
}
