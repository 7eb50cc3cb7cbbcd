/**
 * CLI dispatch: `hashwall <subcommand> [options]`. Each subcommand lives in its own file and
 * registers here; `--help` and `--version` work without root and without a daemon.
 */
import { UsageError } from "./args.ts";
import { VERSION } from "../version.ts";
import { type CommandEntry, COMMANDS } from "./registry.ts";

/** Top-level help text, listing every subcommand. */
export function topHelp(
  commands: readonly Pick<CommandEntry, "name" | "summary">[] = COMMANDS,
): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    `hashwall ${VERSION} — host application firewall with an integrity focus`,
    "",
    "Usage: hashwall <command> [options]    (hashwall <command> --help for details)",
    "",
    "Commands:",
    ...lines,
    "",
    "Options: --help, --version",
  ].join("\n");
}

/** Runs the CLI with `argv` (without the program name) and returns the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    console.log(topHelp());
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-V") {
    console.log(`hashwall ${VERSION}`);
    return 0;
  }
  const entry = COMMANDS.find((c) => c.name === first);
  if (!entry) {
    console.error(`hashwall: unknown command "${first}"\n\n${topHelp()}`);
    return 2;
  }
  const cmd = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`hashwall ${cmd.name}: ${e.message}\n\n${cmd.usage}`);
      return 2;
    }
    console.error(`hashwall ${cmd.name}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
