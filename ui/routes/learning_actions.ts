/**
 * Approving apps from the Learning list, shared by the form route and the JSON API.
 *
 * @module
 */
import type { AppInfo, Caller, HashwallApi } from "../../src/api/types.ts";
import type { Duration } from "../../src/config/model.ts";

/**
 * Approves each executable at its current hash. For `once`, the approval is bound to the most
 * recent process that asked (the daemon drops it when that process exits).
 */
export async function approveFromLearning(
  api: HashwallApi,
  caller: Caller,
  exes: string[],
  opts: { inherit: boolean; duration: Duration; hosts?: boolean },
): Promise<AppInfo[]> {
  const pending = await api.learningList(caller);
  const approved: AppInfo[] = [];
  for (const exe of exes) {
    const entry = pending.find((e) => e.exe === exe);
    approved.push(
      await api.appsAllow(caller, {
        path: exe,
        inherit: opts.inherit,
        duration: opts.duration,
        ...(opts.hosts ? { hosts: true } : {}),
        ...(opts.duration === "once" && entry?.tgids[0] ? { tgid: entry.tgids[0] } : {}),
      }),
    );
  }
  return approved;
}
