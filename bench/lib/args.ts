/**
 * Command-line options of the benchmarks: `--name value` pairs of positive integers with
 * defaults; anything else is refused with a message that names it.
 *
 * @module
 */

/**
 * Parses `--key N` options into the keys of `defaults`; throws naming the bad option or value.
 *
 * @example
 * ```ts
 * const o = parseIntOptions(Deno.args, { connects: 20000, rounds: 7 }, "bench/connect.ts");
 * ```
 */
export function parseIntOptions<T extends Record<string, number>>(
  args: readonly string[],
  defaults: T,
  usage: string,
): T {
  const out: Record<string, number> = { ...defaults };
  const names = Object.keys(defaults).map((k) => `--${k} N`).join(" ");
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i];
    const key = flag.startsWith("--") ? flag.slice(2) : "";
    if (!(key in defaults)) {
      throw new Error(`${usage}: unknown option "${flag}" (options: ${names})`);
    }
    const raw = args[i + 1];
    const n = Number(raw);
    if (raw === undefined || !Number.isInteger(n) || n <= 0) {
      throw new Error(`${usage}: ${flag} needs a positive integer, got ${JSON.stringify(raw)}`);
    }
    out[key] = n;
  }
  return out as T;
}

/**
 * {@link parseIntOptions}, but a bad command line prints just the message and exits with 2
 * (before the benchmark has created anything).
 *
 * @example
 * ```ts
 * const o = intOptionsOrExit(Deno.args, { rounds: 3 }, "bench/startup.ts");
 * ```
 */
export function intOptionsOrExit<T extends Record<string, number>>(
  args: readonly string[],
  defaults: T,
  usage: string,
): T {
  try {
    return parseIntOptions(args, defaults, usage);
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    Deno.exit(2);
  }
}
