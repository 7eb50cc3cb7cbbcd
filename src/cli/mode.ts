import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { callAndPrint } from "./daemon_call.ts";

/** `hashwall mode learning|enforcing`. */
export const modeCommand: Command = {
  name: "mode",
  summary: "switch a running daemon between learning and enforcing",
  usage: `Usage: hashwall mode learning|enforcing [--state DIR] [--json]

Switches the kernel's mode at once, without a reload (admin only). The choice is kept across
daemon restarts until rules.toml's own [defaults] mode is changed.`,
  run(argv) {
    const a = parseArgs(argv, { boolean: ["json"], string: ["state"] });
    const mode = a.positionals[0];
    if (a.positionals.length !== 1 || (mode !== "learning" && mode !== "enforcing")) {
      throw new UsageError("give exactly one mode: learning or enforcing");
    }
    return callAndPrint(
      "mode",
      stringFlag(a, "state", DEFAULT_STATE_DIR),
      "mode",
      { mode },
      !!a.flags.json,
      () => `mode: ${mode}`,
    );
  },
};
