import type { Command } from "./command.ts";
import { DEFAULT_CONFIG_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { formatErrors } from "../config/format.ts";
import { inheritWarnings } from "../config/warnings.ts";
import { loadPolicy } from "../config/load.ts";
import { offlineAccess } from "../config/access.ts";
import { validateTexts } from "../config/validate.ts";
import { DEFAULT_APPS_TOML, DEFAULT_RULES_TOML } from "../config/defaults.ts";
import type { LoadResult } from "../config/model.ts";

const USAGE = `Usage: hashwall check [--config DIR] [--json] [--default]

Validates rules.toml, apps.toml and apps.d/*.toml (all files must be owned by root and not
writable by group or others). Prints a one-line summary and exits 0, or prints every error as
FILE:LINE:COL: message (one per line, on stderr) and exits 1.

Works offline: it needs no root, no kernel support and no running daemon, so a policy repo can
be checked on a workstation or in CI before it is rolled out. Run by a user other than root,
files owned by that user are accepted too (a git checkout); everything else is checked as the
daemon will (not writable by group or others, size, UTF-8, every key).

Options:
  --config DIR   config folder (default ${DEFAULT_CONFIG_DIR})
  --json         print {"ok", "errors": [{file, line, col, message}], ...} on stdout
  --default      check the default config built into hashwall instead of a folder`;

/** Where the embedded default files are said to be in messages. */
const EMBEDDED = "(embedded)";

/** `hashwall check`: validate the configuration; exit 0, or 1 with every error. */
export const checkCommand: Command = {
  name: "check",
  summary: "validate the configuration; exit 0, or 1 with every error",
  usage: USAGE,
  async run(argv: string[]): Promise<number> {
    const args = parseArgs(argv, { boolean: ["json", "default"], string: ["config"] });
    if (args.positionals.length) {
      throw new UsageError(`unexpected argument "${args.positionals[0]}"`);
    }
    if (args.flags.default && args.flags.config !== undefined) {
      throw new UsageError("--default and --config exclude each other");
    }
    const dir = stringFlag(args, "config", DEFAULT_CONFIG_DIR);
    const source = args.flags.default ? "the embedded default config" : dir;
    const result: LoadResult = args.flags.default
      ? validateTexts({
        rulesFile: `${EMBEDDED}/rules.toml`,
        rulesText: DEFAULT_RULES_TOML,
        appsTexts: [{ file: `${EMBEDDED}/apps.toml`, text: DEFAULT_APPS_TOML }],
      })
      : await loadPolicy(dir, offlineAccess());
    if (args.flags.json) {
      console.log(JSON.stringify(jsonReport(result)));
    } else if (result.ok) {
      const p = result.policy;
      console.log(
        `${source}: OK: ${count(p.rules.length, "rule")}, ${count(p.apps.length, "app")}, ` +
          `mode ${p.defaults.mode}`,
      );
      for (const w of inheritWarnings(p.apps)) console.log(`warning: ${w}`);
    } else {
      // Only errors on stderr, one per line, so editors and scripts can parse every line.
      console.error(formatErrors(result.errors));
    }
    return result.ok ? 0 : 1;
  },
};

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function jsonReport(r: LoadResult) {
  if (!r.ok) {
    return {
      ok: false,
      errors: r.errors.map((e) => ({ file: e.file, line: e.line, col: e.col, message: e.detail })),
    };
  }
  const p = r.policy;
  return {
    ok: true,
    errors: [],
    warnings: inheritWarnings(p.apps),
    rules: p.rules.length,
    apps: p.apps.length,
    mode: p.defaults.mode,
    files: p.files,
  };
}
