import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { callDaemon } from "../daemon/client.ts";
import { exitCodeFor } from "./daemon_call.ts";

/** Asks the daemon of `stateDir` to reload; prints errors; 0 when applied, 1 when refused. */
export async function reloadDaemon(name: string, stateDir: string, json: boolean): Promise<number> {
  try {
    const r = await callDaemon(stateDir, "reload") as { ok: boolean; errors: string[] };
    if (json) console.log(JSON.stringify(r));
    else if (r.ok) console.log("configuration reloaded");
    else {console.error(
        `configuration rejected; the running policy is unchanged:\n${r.errors.join("\n")}`,
      );}
    return r.ok ? 0 : 1;
  } catch (e) {
    console.error(`hashwall ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return exitCodeFor(e);
  }
}

/** `hashwall reload`. */
export const reloadCommand: Command = {
  name: "reload",
  summary: "re-read the configuration of a running daemon",
  usage: `Usage: hashwall reload [--state DIR] [--json]

Re-reads rules.toml, apps.toml and apps.d/ (same as SIGHUP). A configuration with any error
changes nothing: every error is printed as FILE:LINE:COL and the running policy stays.`,
  run(argv) {
    const a = parseArgs(argv, { boolean: ["json"], string: ["state"] });
    if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
    return reloadDaemon("reload", stringFlag(a, "state", DEFAULT_STATE_DIR), !!a.flags.json);
  },
};
