/**
 * `hashwall packages`: the dpkg hook's entry point (`hook pre|post`), called by apt through
 * /etc/apt/apt.conf.d/20hashwall. It never fails apt: any problem is printed and exit is 0.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { callDaemon, DaemonError } from "../daemon/client.ts";

const USAGE = `Usage: hashwall packages hook pre|post [--state DIR] [--json]

Called by apt (DPkg::Pre-Invoke / DPkg::Post-Invoke, installed by \`hashwall install\`):
  hook pre    an upgrade begins: files of package-backed apps may change; decisions wait
  hook post   dpkg ended: every changed package-backed app is re-hashed and, when its new content
              is what the now-installed version of its package ships (from a signed
              repository), approved again — before this command returns
Always exits 0 (a missing daemon or any error never fails apt).`;

interface HookAnswer {
  updated?: { name: string; from?: string; to: string; level: string }[];
  refused?: { name: string; reason: string; detail: string }[];
}

/** `hashwall packages hook pre|post`. */
export const packagesCommand: Command = {
  name: "packages",
  summary: "dpkg hook: follow signed package updates of approved apps",
  usage: USAGE,
  async run(argv) {
    const a = parseArgs(argv, { boolean: ["json"], string: ["state"] });
    const [sub, phase] = a.positionals;
    if (sub !== "hook" || (phase !== "pre" && phase !== "post") || a.positionals.length !== 2) {
      throw new UsageError("expected: hook pre|post");
    }
    try {
      const r = await callDaemon(
        stringFlag(a, "state", DEFAULT_STATE_DIR),
        "packages.hook",
        { phase },
        { timeoutMs: 300_000 },
      ) as HookAnswer;
      if (a.flags.json) console.log(JSON.stringify(r));
      else {
        for (const u of r.updated ?? []) {
          console.log(
            `hashwall: ${u.name} approved by package (${u.from ?? "?"} → ${u.to}, ${u.level})`,
          );
        }
        for (const x of r.refused ?? []) {
          console.log(`hashwall: ${x.name} stays revoked: ${x.detail}`);
        }
      }
    } catch (e) {
      if (!(e instanceof DaemonError && e.code === "not_running")) {
        console.error(`hashwall packages hook ${phase}: ${(e as Error).message}`);
      }
    }
    return 0;
  },
};
