/**
 * A small, strict argument parser: `--flag`, `--key value`, `--key=value` and positionals.
 * Unknown flags are errors, so a typo never silently changes what a command does.
 *
 * @example
 * ```ts
 * const a = parseArgs(["--json", "--state", "/tmp/x", "list"], { boolean: ["json"], string: ["state"] });
 * // a.flags.json === true, a.flags.state === "/tmp/x", a.positionals == ["list"]
 * ```
 */

/** Which flags a command accepts. */
export interface ArgSpec {
  /** Flags that take no value. */
  boolean?: string[];
  /** Flags that take one value. */
  string?: string[];
}

/** The parsed command line. */
export interface ParsedArgs {
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** A command-line mistake; the CLI prints its message and exits with status 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parses `argv` against `spec`; `--help`/`-h` is always accepted as a boolean `help`. */
export function parseArgs(argv: string[], spec: ArgSpec = {}): ParsedArgs {
  const booleans = new Set([...(spec.boolean ?? []), "help"]);
  const strings = new Set(spec.string ?? []);
  const flags: ParsedArgs["flags"] = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      flags.help = true;
      continue;
    }
    if (!arg.startsWith("--") || arg === "--") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (booleans.has(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
    } else if (strings.has(name)) {
      let value: string | undefined;
      if (eq !== -1) value = arg.slice(eq + 1);
      else value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags[name] = value;
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { flags, positionals };
}

/** Reads a string flag, or `fallback` when absent. */
export function stringFlag(a: ParsedArgs, name: string, fallback: string): string;
export function stringFlag(a: ParsedArgs, name: string): string | undefined;
export function stringFlag(a: ParsedArgs, name: string, fallback?: string): string | undefined {
  const v = a.flags[name];
  return typeof v === "string" ? v : fallback;
}
