import type { Command } from "./command.ts";
import { DEFAULT_STATE_DIR } from "./command.ts";
import { parseArgs, stringFlag, UsageError } from "./args.ts";
import { callAndPrint } from "./daemon_call.ts";
import type { StatusInfo } from "../api/types.ts";

/** Renders status for a terminal. */
export function renderStatus(s: StatusInfo): string {
  const c = s.counters;
  return [
    `hashwall ${s.version}  pid ${s.pid}  instance ${s.instance}`,
    `mode:        ${s.mode}`,
    `verdicts:    ${c.allow ?? 0} allowed, ${c.deny ?? 0} denied, ${c.unknown ?? 0} unknown, ` +
    `${c.loopback ?? 0} loopback-exempt`,
    `events:      ${c.events ?? 0} reported, ${s.lostEvents} lost, ${c.deduped ?? 0} deduplicated`,
    `apps:        ${s.apps.total} (${s.apps.valid} valid, ${s.apps.invalid} invalid, ` +
    `${s.apps.missing} missing, ${s.apps.pending} pending)`,
    `config:      ${s.configDir}`,
    `state:       ${s.stateDir}`,
    `ui:          ${s.ui ?? "off"}`,
    `attached:    ${s.attachPoints.join("\n             ")}`,
    ...s.warnings.map((w) => `WARNING:     ${w}`),
  ].join("\n");
}

/** `hashwall status`. */
export const statusCommand: Command = {
  name: "status",
  summary: "show mode, counters, lost events and attach points",
  usage: `Usage: hashwall status [--state DIR] [--json]

Shows the running daemon's mode, verdict counters, lost events, apps and attach points.
Exit 3 when no daemon runs for the state folder.`,
  run(argv) {
    const a = parseArgs(argv, { boolean: ["json"], string: ["state"] });
    if (a.positionals.length) throw new UsageError(`unexpected "${a.positionals[0]}"`);
    return callAndPrint(
      "status",
      stringFlag(a, "state", DEFAULT_STATE_DIR),
      "status",
      {},
      !!a.flags.json,
      (r) => renderStatus(r as StatusInfo),
    );
  },
};
