/**
 * Shared plumbing of the subcommands that talk to a running daemon: one control-socket call,
 * `--json` output, and exit codes that scripts can rely on.
 *
 * Exit codes: 0 ok, 1 the daemon refused or failed, 2 usage, 3 daemon not running,
 * 4 forbidden (viewer role or not in the hashwall group).
 *
 * @module
 */
import { callDaemon, DaemonError } from "../daemon/client.ts";

/** Exit code for a control-socket failure. */
export function exitCodeFor(e: unknown): number {
  if (!(e instanceof DaemonError)) return 1;
  switch (e.code) {
    case "not_running":
      return 3;
    case "forbidden":
      return 4;
    case "bad_request":
      return 2;
    default:
      return 1;
  }
}

/**
 * Calls `op` on the daemon of `stateDir`; prints the result as JSON or through `render`.
 * Errors go to stderr with the subcommand's name.
 */
export async function callAndPrint(
  name: string,
  stateDir: string,
  op: string,
  args: Record<string, unknown>,
  json: boolean,
  render: (result: unknown) => string,
): Promise<number> {
  try {
    const result = await callDaemon(stateDir, op, args);
    const text = json ? JSON.stringify(result ?? null, null, 2) : render(result);
    if (text) console.log(text);
    return 0;
  } catch (e) {
    console.error(`hashwall ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return exitCodeFor(e);
  }
}

/** Left-aligned columns for terminal tables. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return "";
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}
