import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { disableInstance } from "../kernel/app_control.ts";
import { instanceName, pinPaths } from "../kernel/pins.ts";
import { controlSocketPath, RUNTIME_DIR } from "../daemon/socket_path.ts";
import { Errno, probeUnix } from "../../ffi/socket.ts";

/**
 * A daemon killed hard leaves its socket (and, for a non-default instance, its folder under
 * /run/hashwall) behind; remove them when nothing listens there. A live daemon's are kept.
 */
function removeStaleSocket(path: string): void {
  try {
    if (!Deno.lstatSync(path).isSocket) return;
  } catch {
    return;
  }
  const r = probeUnix(path);
  if (r === 0 || r === -Errno.EAGAIN) return; // a live listener (EAGAIN: busy)
  try {
    Deno.removeSync(path);
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir.startsWith(`${RUNTIME_DIR}/`)) Deno.removeSync(dir);
  } catch { /* not ours to force */ }
}

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
    const stateDir = stringFlag(a, "state", DEFAULT_STATE_DIR);
    const instance = instanceName(stateDir);
    const pins = pinPaths(instance);
    const removed = disableInstance(pins);
    removeStaleSocket(controlSocketPath(stateDir));
    if (a.flags.json) console.log(JSON.stringify({ instance, removed }));
    else if (removed.length === 0) console.log(`nothing pinned for instance ${instance}`);
    else console.log(`disabled instance ${instance}: removed ${removed.length} pins`);
    return Promise.resolve(0);
  },
};
