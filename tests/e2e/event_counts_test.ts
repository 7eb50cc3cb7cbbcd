/**
 * The dashboard's verdict counts: counted in the database once, then kept current from the rows
 * the daemon commits. They must agree with a fresh count of the history file.
 */
import assert from "node:assert/strict";
import { startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener, netclientCopy } from "../helpers/netclient.ts";
import { until } from "../helpers/wait.ts";
import { callDaemon } from "../../src/daemon/client.ts";
import { openStore } from "../../src/store/store.ts";
import type { ConnEvent, EventCounts } from "../../src/api/types.ts";

Deno.test("event counts stay equal to the history while events are committed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-counts-" });
  const client = await netclientCopy(dir, "unknown-client");
  const listeners = [loopbackListener(), loopbackListener(), loopbackListener()];
  await using d = await startTestDaemon({ mode: "learning" });
  try {
    const since = Date.now() - 60_000;
    const counts = () => callDaemon(d.stateDir, "events.counts", { since }) as Promise<EventCounts>;
    const fromDb = () => {
      const store = openStore(`${d.stateDir}/hashwall.db`, { readOnly: true });
      try {
        return store.countEvents({ since });
      } finally {
        store.close();
      }
    };
    // Primes the daemon's count for `since` (the control socket may still be starting).
    const before = await until("control socket answers", () => counts().catch(() => undefined));
    assert.deepEqual(before, fromDb());

    // Three destinations: three reports of an unknown app (allowed: learning mode).
    for (const l of listeners) {
      assert.equal(
        (await d.cg.run([client, "tcp4", "127.0.0.1", `${l.port}`])).stdout.trim(),
        "ok",
      );
    }
    await until("three events committed", async () => {
      const evs = await callDaemon(d.stateDir, "events", { since, limit: 100 }) as ConnEvent[];
      return evs.filter((e) => e.exe.endsWith("/unknown-client")).length >= 3 || undefined;
    });
    const after = await counts();
    assert.deepEqual(after, {
      allow: before.allow + 3,
      deny: before.deny,
      unknown: before.unknown + 3,
    });
    assert.deepEqual(after, fromDb(), "equal to a fresh count of the file");
  } finally {
    for (const l of listeners) l.close();
    await Deno.remove(dir, { recursive: true });
  }
});
