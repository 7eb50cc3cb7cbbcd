/**
 * Fault: `kill -9` of the daemon while ~1 000 connects/s per app run in its test cgroup. The pinned
 * programs keep deciding every connect per policy through the outage, the restarted daemon
 * resumes on the same state without re-approving anything by hand, an established connection
 * keeps echoing across the crash, and every history row the daemon had acknowledged (shown by
 * `hashwall events --json` before the kill) is still in the database afterwards, which passes
 * SQLite's integrity_check when opened read-only.
 */
import assert from "node:assert/strict";
import { sha256Of, startTestDaemon } from "../helpers/daemon.ts";
import { loopbackListener } from "../helpers/netclient.ts";
import { cliJson, echoServer, hwloadCopy, parseSweep } from "../helpers/stress.ts";
import { openStore } from "../../src/store/store.ts";
import type { ConnEvent, StatusInfo } from "../../src/api/types.ts";

/** Connect rate of each sweeping app (the "~1 000 connects/s"). */
const RATE = 1000;
/** Seconds each loop runs: it must outlast the kill, the outage and the restart. */
const LOOP_S = 14;

Deno.test("kill -9 under ~1000 connects/s: verdicts hold, restart resumes, connections and acknowledged rows survive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-stress-kill9-" });
  const listener = loopbackListener();
  const echo = echoServer();
  const procs: Deno.ChildProcess[] = [];
  try {
    const good = await hwloadCopy(`${dir}/good`, "hwload");
    const bad = await hwloadCopy(`${dir}/bad`, "hwload");
    await using d = await startTestDaemon({
      mode: "enforcing",
      apps: [{ name: "good", path: good, sha256: await sha256Of(good) }],
    });
    const spawn = (argv: string[]) => {
      const p = d.cg.spawn(argv);
      procs.push(p);
      return p;
    };
    // good: one destination (the listener) → ok. bad: unapproved, a new port per attempt, so
    // each attempt is a fresh (app, destination) pair and becomes its own history row.
    const goodLoop = spawn([good, "sweep", `${LOOP_S}`, `${RATE}`, "1", `${listener.port}`, "1"]);
    const badLoop = spawn([bad, "sweep", `${LOOP_S}`, `${RATE}`, "1", "20000", "30000"]);
    const holder = spawn([good, "hold", `${LOOP_S}`, "127.0.0.1", `${echo.port}`]);
    let finished = 0;
    for (const p of [goodLoop, badLoop, holder]) void p.status.then(() => finished++);

    // Let history build up, then take what the daemon acknowledges as committed.
    await new Promise((r) => setTimeout(r, 3000));
    const r = await d.cli(["events", "--json", "--limit", "10000", "--verdict", "deny"]);
    assert.equal(r.code, 0, r.stderr);
    const acked = r.stdout.trim().split("\n").filter((l) => l !== "").map((l) =>
      JSON.parse(l) as ConnEvent
    );
    assert.ok(acked.length >= 500, `only ${acked.length} deny rows acknowledged after 3 s`);
    const oldPid = d.process.pid;

    const killedAt = Date.now();
    d.signal("SIGKILL");
    await d.process.status;
    assert.equal((await d.cli(["status"])).code, 3, "nothing answers while the daemon is down");
    await new Promise((r) => setTimeout(r, 1000));
    await d.restart();
    const outageMs = Date.now() - killedAt;
    assert.equal(finished, 0, "the loops and the held connection spanned the whole outage");
    assert.notEqual(d.process.pid, oldPid);

    const st = await cliJson<StatusInfo>(d, ["status"]);
    assert.equal(st.mode, "enforcing");
    assert.equal(st.apps.valid, 1, "the approval came back without anyone re-approving");

    const [g, b, h] = await Promise.all([goodLoop.output(), badLoop.output(), holder.output()]);
    const gr = parseSweep(g.stdout), br = parseSweep(b.stdout);
    const held = new TextDecoder().decode(h.stdout);
    console.log(
      `kill9: outage+restart ${outageMs} ms; good ${JSON.stringify(gr)} bad ${
        JSON.stringify(br)
      } (${((gr.ok + br.eperm) / LOOP_S).toFixed(0)} connects/s total); ${held.trim()}; ` +
        `${acked.length} rows acknowledged before the kill`,
    );
    assert.ok(gr.ok >= RATE * LOOP_S * 0.5, `good loop too slow: ${JSON.stringify(gr)}`);
    assert.equal(gr.eperm + gr.other, 0, `approved app got a wrong verdict: ${JSON.stringify(gr)}`);
    assert.ok(br.eperm >= RATE * LOOP_S * 0.5, `bad loop too slow: ${JSON.stringify(br)}`);
    assert.equal(br.ok + br.other, 0, `unapproved app got through: ${JSON.stringify(br)}`);
    const hm = /held=1 echoes=(\d+) errors=(\d+)/.exec(held);
    assert.ok(hm, `held connection: ${held}`);
    assert.equal(Number(hm[2]), 0, `the established connection broke: ${held}`);
    assert.ok(Number(hm[1]) >= LOOP_S * 10, `too few echoes: ${held}`);

    // The new daemon records new attempts too.
    const after = await d.cli(["events", "--json", "--limit", "1"]);
    assert.equal(after.code, 0, after.stderr);

    // Every acknowledged row is still there, unchanged, in a sound database.
    const store = openStore(`${d.stateDir}/hashwall.db`, { readOnly: true });
    try {
      assert.equal(store.integrityCheck(), "ok");
      // Ids only grow, so the newest 10 000 deny rows up to the newest acknowledged id hold
      // every acknowledged row (there were at most 10 000 of them).
      const maxId = Math.max(...acked.map((e) => e.id!));
      const rows = store.queryEvents({ verdict: "deny", before: maxId + 1, limit: 10_000 });
      const byId = new Map(rows.map((e) => [e.id!, e]));
      const missing = acked.filter((e) => {
        const row = byId.get(e.id!);
        return !row || row.daddr !== e.daddr || row.dport !== e.dport || row.time !== e.time ||
          row.exe !== e.exe;
      });
      assert.equal(missing.length, 0, `${missing.length} acknowledged rows lost or changed`);
    } finally {
      store.close();
    }
  } finally {
    for (const p of procs) {
      try {
        p.kill("SIGKILL");
      } catch { /* already exited */ }
      await p.output().catch(() => {});
    }
    echo.close();
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
