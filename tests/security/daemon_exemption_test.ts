/**
 * Vector 7: the daemon's exemption (its traffic is never denied) belongs to one process: it is
 * cleared in the kernel when that process exits, and a process with the same tgid but another
 * start time (a recycled pid) is not exempt.
 */
import assert from "node:assert/strict";
import { processStartTicks } from "../../src/kernel/app_control.ts";
import { netclientCopy } from "../helpers/netclient.ts";
import { secSetup } from "./harness.ts";

Deno.test("vector 7: the exemption ends with the daemon process and never covers a recycled pid", async () => {
  const f = await secSetup("exempt");
  try {
    const client = await netclientCopy(f.dir, "unapproved");
    const tcp = ["tcp4", "127.0.0.1", String(f.port)];
    // A stand-in "daemon": an unapproved process made exempt by pid (and start time).
    const d1 = f.spawn([client, "sleep-then", "0.5", ...tcp]);
    await new Promise((r) => setTimeout(r, 100));
    f.core.updateSettings({ daemonTgid: d1.pid });
    assert.equal(f.core.settings()?.daemonStart, processStartTicks(d1.pid));
    const out1 = new TextDecoder().decode((await d1.output()).stdout).trim();
    assert.equal(out1, "ok", "the exempt process itself passes");
    // It exited: the kernel cleared the exemption (a later process with that pid gets nothing).
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(f.core.settings()?.daemonTgid, 0, "cleared in hw_exit");

    // Same tgid, other start time (what a recycled pid looks like): not exempt.
    const d2 = f.spawn([client, "sleep-then", "0.5", ...tcp]);
    await new Promise((r) => setTimeout(r, 100));
    const start = processStartTicks(d2.pid)!;
    f.core.updateSettings({ daemonTgid: d2.pid, daemonStart: start + 1 });
    const out2 = new TextDecoder().decode((await d2.output()).stdout).trim();
    assert.equal(out2, "EPERM", "a pid with another start time is not the daemon");
  } finally {
    await f.close();
  }
});
