import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { disableInstance } from "../kernel/app_control.ts";
import { instanceName, pinPaths } from "../kernel/pins.ts";

/** `hashwall disable`: the emergency exit. */
export const disableCommand: Command = {
  name: "disable",
  summary: "detach and unpin an instance's kernel programs (emergency exit)",
  usage: `Usage: hashwall disable [--state DIR] [--json]

Detaches every program of the instance whose state folder is DIR (default ${DEFAULT_STATE_DIR})
and removes its pinned maps and links, whether or not its daemon still runs. Traffic is then no
longer filtered by hashwall. A running daemon keeps running without kernel enforcement: stop it
too (systemctl stop hashwall).`,
  run(argv) {
    const a = parseArgs(argv, { boolean: ["json"], string: ["state"] });
    if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
    const instance = instanceName(stringFlag(a, "state", DEFAULT_STATE_DIR));
    const pins = pinPaths(instance);
    const removed = disableInstance(pins);
    if (a.flags.json) console.log(JSON.stringify({ instance, removed }));
    else if (removed.length === 0) console.log(`nothing pinned for instance ${instance}`);
    else console.log(`disabled instance ${instance}: removed ${removed.length} pins`);
    return Promise.resolve(0);
  },
};
