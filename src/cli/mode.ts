import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { callAndPrint } from "./daemon_call.ts";

/** `hashwall mode learning|enforcing`. */
export const modeCommand: Command = {
  name: "mode",
  summary: "switch a running daemon between learning and enforcing",
  usage: `Usage: hashwall mode learning|enforcing [--close-unapproved] [--state DIR] [--json]

Switches the kernel's mode at once, without a reload (admin only). The choice is kept across
daemon restarts until rules.toml's own [defaults] mode is changed.

  --close-unapproved   with enforcing: also close the live connections that apps without an
                       approval opened while learning (off by default: they keep them, only
                       new connections are denied)`,
  run(argv) {
    const a = parseArgs(argv, { boolean: ["json", "close-unapproved"], string: ["state"] });
    const mode = a.positionals[0];
    if (a.positionals.length !== 1 || (mode !== "learning" && mode !== "enforcing")) {
      throw new UsageError("give exactly one mode: learning or enforcing");
    }
    const closeUnapproved = !!a.flags["close-unapproved"];
    if (closeUnapproved && mode !== "enforcing") {
      throw new UsageError("--close-unapproved goes with enforcing only");
    }
    return callAndPrint(
      "mode",
      stringFlag(a, "state", DEFAULT_STATE_DIR),
      "mode",
      closeUnapproved ? { mode, closeUnapproved } : { mode },
      !!a.flags.json,
      (r) => {
        const closed = (r as { closed?: number } | undefined)?.closed;
        return closed === undefined
          ? `mode: ${mode}`
          : `mode: ${mode} (closed ${closed} live socket(s))`;
      },
    );
  },
};
