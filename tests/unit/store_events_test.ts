import assert from "node:assert/strict";
import { openStore, type Store } from "../../src/store/store.ts";
import type { Caller, ConnEvent } from "../../src/api/types.ts";

/** A plausible event; `i` varies the fields so filters have something to bite on. */
function ev(i: number, over: Partial<ConnEvent> = {}): ConnEvent {
  return {
    time: 1_700_000_000_000 + i * 1000,
    kind: "connect",
    verdict: i % 3 === 0 ? "deny" : "allow",
    reason: i % 3 === 0 ? "unknown_app" : "rule",
    tgid: 1000 + i,
    uid: 1000,
    comm: "curl",
    exe: i % 2 ? "/usr/bin/curl" : "/usr/bin/wget",
    dev: "266338304",
    ino: String(4242 + i),
    family: 4,
    daddr: "10.0.0.1",
    dport: 443,
    proto: 6,
    lineage: [{ tgid: 1, comm: "systemd", dev: "1", ino: "2", exe: "/sbin/init" }],
    app: i % 2 ? "curl" : undefined,
    ...over,
  };
}

async function withStore(fn: (s: Store, dir: string) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hw-store-" });
  const s = openStore(`${dir}/hashwall.db`);
  try {
    fn(s, dir);
  } finally {
    s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const root: Caller = { role: "admin", channel: "cli", uid: 0, pid: 1, who: "uid 0 (root) pid 1" };

Deno.test("events: one batch round-trips every field, newest first", () =>
  withStore((s) => {
    const rows = Array.from({ length: 50 }, (_, i) => ev(i));
    rows[7].ruleId = "r-web";
    assert.equal(s.insertEvents(rows), 50);
    const all = s.queryEvents({ limit: 1000 });
    assert.equal(all.length, 50);
    assert.deepEqual(all.map((e) => e.id), Array.from({ length: 50 }, (_, i) => 50 - i));
    const back = all.find((e) => e.tgid === 1007)!;
    const { id: _id, ...rest } = back;
    const want: Partial<ConnEvent> = { ...rows[7] };
    if (want.app === undefined) delete want.app;
    assert.deepEqual(rest, want);
    assert.equal(s.queryEvents().length, 50, "default limit 100 covers 50 rows");
  }));

Deno.test("events: filters since/app/verdict, limit and before-pagination", () =>
  withStore((s) => {
    s.insertEvents(Array.from({ length: 300 }, (_, i) => ev(i)));
    assert.equal(s.queryEvents().length, 100, "default limit is 100");
    const denies = s.queryEvents({ verdict: "deny", limit: 10_000 });
    assert.equal(denies.length, 100);
    assert.ok(denies.every((e) => e.verdict === "deny"));
    const curl = s.queryEvents({ app: "curl", limit: 10_000 });
    assert.equal(curl.length, 150);
    assert.ok(curl.every((e) => e.app === "curl"));
    const since = 1_700_000_000_000 + 250 * 1000;
    assert.equal(s.queryEvents({ since, limit: 10_000 }).length, 50);
    assert.equal(s.queryEvents({ since, app: "curl", verdict: "deny", limit: 10_000 }).length, 8);

    // Paging with "before" visits every row exactly once.
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = s.queryEvents({ limit: 70, before });
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.id!));
      before = page[page.length - 1].id;
    }
    assert.equal(seen.length, 300);
    assert.equal(new Set(seen).size, 300);

    assert.deepEqual(s.countEvents({}), { allow: 200, deny: 100, unknown: 100 });
    assert.deepEqual(s.countEvents({ since }), { allow: 34, deny: 16, unknown: 16 });
    const unknown = s.unknownExes();
    assert.deepEqual(unknown.map((u) => [u.exe, u.attempts]), [
      ["/usr/bin/curl", 50],
      ["/usr/bin/wget", 50],
    ]);
    assert.equal(unknown[0].last.tgid, 1000 + 297);
  }));

Deno.test("events: bad rows and queries are refused by name and change nothing", () =>
  withStore((s) => {
    const bad = [ev(1), ev(2, { verdict: "maybe" as "allow" }), ev(3)];
    assert.throws(() => s.insertEvents(bad), /event #1: "verdict" must be "allow" or "deny"/);
    assert.throws(() => s.insertEvents([ev(1, { dport: 70000 })]), /"dport" must be 0..65535/);
    assert.throws(() => s.insertEvents([ev(1, { time: -5 })]), /"time" must be epoch/);
    assert.equal(s.queryEvents().length, 0, "nothing of the bad batch was written");
    assert.throws(() => s.queryEvents({ limit: 10_001 }), /"limit" must be an integer from 1 to/);
    assert.throws(() => s.queryEvents({ limit: 0 }), /"limit"/);
    assert.throws(() => s.queryEvents({ verdict: "x" as "deny" }), /"verdict"/);
    assert.throws(() => s.queryEvents({ before: -1 }), /"before"/);
    assert.throws(() => s.applyRetention({ maxRows: 0 }), /max_rows/);
    assert.throws(() => s.applyRetention({ maxAgeDays: -1 }), /max_age_days/);
  }));

Deno.test("retention: deletes the oldest rows beyond age and row caps, keeps ids monotonic", () =>
  withStore((s) => {
    const day = 86_400_000;
    const now = 1_800_000_000_000;
    // 25 000 rows, one per 1/1000 day, the newest at `now` (crosses the 10 000 chunk size).
    const rows = Array.from(
      { length: 25_000 },
      (_, i) => ev(i, { time: now - (25_000 - 1 - i) * (day / 1000) }),
    );
    s.insertEvents(rows);
    for (let i = 0; i < 5; i++) {
      s.recordIntegrityChange({
        time: now - (10 - i) * day,
        path: `/etc/f${i}`,
        change: "modified",
      });
    }
    // 10 days → rows younger than 10 days: i ≥ 25 000 − 1 − 10 000 (strictly older ones go).
    const r1 = s.applyRetention({ maxAgeDays: 10, now });
    assert.equal(r1.events, 25_000 - 10_001);
    assert.equal(r1.integrity, 0, "changes exactly 10 days old stay");
    assert.equal(s.countEvents().allow + s.countEvents().deny, 10_001);
    const r2 = s.applyRetention({ maxRows: 1234, maxAgeDays: 8, now });
    assert.equal(r2.events, 10_001 - 1234);
    assert.equal(r2.integrity, 2);
    const left = s.queryEvents({ limit: 10_000 });
    assert.equal(left.length, 1234);
    assert.equal(left[0].id, 25_000, "the newest rows are kept");
    assert.equal(left.at(-1)!.id, 25_000 - 1233);
    s.insertEvents([ev(1)]);
    assert.equal(s.queryEvents({ limit: 1 })[0].id, 25_001, "ids are not reused after deletes");
    assert.equal(s.integrityCheck(), "ok");
  }));

Deno.test("audit, app hash history and integrity changes round-trip", () =>
  withStore((s) => {
    s.audit(root, "apps.allow", { path: "/usr/bin/curl" }, true);
    s.audit(
      { ...root, role: "viewer", uid: 1001, who: "uid 1001" },
      "mode",
      { mode: "x" },
      false,
      "forbidden",
    );
    const a = s.auditList();
    assert.equal(a.length, 2);
    assert.deepEqual(
      { ...a[0], id: 0, time: 0 },
      {
        id: 0,
        time: 0,
        who: "uid 1001",
        channel: "cli",
        role: "viewer",
        uid: 1001,
        pid: 1,
        action: "mode",
        detail: { mode: "x" },
        ok: false,
        error: "forbidden",
      },
    );
    assert.equal(a[1].ok, true);
    assert.equal(s.auditList(1).length, 1);

    s.recordAppHash({
      name: "curl",
      path: "/usr/bin/curl",
      newSha256: "a".repeat(64),
      status: "approved",
      who: "uid 0",
    });
    s.recordAppHash({
      name: "curl",
      path: "/usr/bin/curl",
      oldSha256: "a".repeat(64),
      newSha256: "b".repeat(64),
      status: "invalid",
      who: "daemon",
    });
    const h = s.appHashHistory("curl");
    assert.deepEqual(h.map((x) => x.status), ["invalid", "approved"]);
    assert.equal(h[0].oldSha256, "a".repeat(64));
    assert.equal(h[1].oldSha256, undefined);
    assert.deepEqual(s.appHashHistory("nope"), []);
    assert.throws(() => s.recordAppHash({ name: "", path: "/x", status: "v", who: "w" }), /"name"/);

    s.recordIntegrityChange({
      path: "/etc/passwd",
      change: "modified",
      oldHash: "1",
      newHash: "2",
      details: { size: 10 },
      pid: 42,
      exe: "/usr/bin/vi",
    });
    s.recordIntegrityChange({ path: "/etc/shadow", change: "deleted" });
    const c = s.integrityChanges({ path: "/etc/passwd" });
    assert.equal(c.length, 1);
    assert.deepEqual(c[0].details, { size: 10 });
    assert.equal(c[0].pid, 42);
    assert.equal(s.integrityChanges().length, 2);
    assert.equal(s.integrityChanges({ limit: 1 })[0].path, "/etc/shadow");
  }));

Deno.test("events: a lineage is stored once however many rows share it, and retention drops unused ones", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-store-" });
  const path = `${dir}/hashwall.db`;
  const s = openStore(path);
  try {
    const shared = Object.freeze([
      Object.freeze({ tgid: 7, comm: "bash", dev: "1", ino: "9", exe: "/usr/bin/bash" }),
      Object.freeze({ tgid: 1, comm: "systemd", dev: "1", ino: "2", exe: "/sbin/init" }),
    ]) as unknown as ConnEvent["lineage"];
    // Old rows: each its own copy of one lineage (not shared); new rows share a frozen array.
    s.insertEvents(Array.from({ length: 3 }, (_, i) => ev(i, { time: 1000 + i })));
    s.insertEvents(Array.from({ length: 500 }, (_, i) => ev(i, { lineage: shared })));
    s.insertEvents([ev(9, { lineage: [] })]);
    // A refused batch (an invalid row after a new lineage) writes no lineage.
    const fresh = [{ tgid: 3, comm: "sh", dev: "1", ino: "3", exe: "/bin/sh" }];
    assert.throws(() => s.insertEvents([ev(1, { lineage: fresh }), ev(2, { dport: -1 })]));
    s.insertEvents([ev(1, { lineage: fresh })]);

    const all = s.queryEvents({ limit: 1000 });
    assert.equal(all.length, 505);
    assert.deepEqual(all[0].lineage, fresh);
    assert.deepEqual(all[1].lineage, []);
    assert.deepEqual(all[2].lineage, shared);
    assert.deepEqual(all.at(-1)!.lineage, ev(0).lineage);
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path, { readOnly: true });
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    try {
      assert.equal(count("SELECT count(*) AS n FROM lineages"), 3, "ev(0)'s, shared, fresh");
      assert.equal(count("SELECT count(*) AS n FROM conn_events WHERE lineage_id IS NULL"), 1);
      // Retention deletes the 3 oldest rows: their lineage goes with them, the others stay.
      assert.equal(s.applyRetention({ maxAgeDays: 1, now: 1000 + 86_400_000 + 3 }).events, 3);
      assert.equal(count("SELECT count(*) AS n FROM lineages"), 2);
      s.insertEvents([ev(4)]); // its lineage again: written anew, not a dangling id
      assert.deepEqual(s.queryEvents({ limit: 1 })[0].lineage, ev(4).lineage);
    } finally {
      db.close();
    }
  } finally {
    s.close();
    await Deno.remove(dir, { recursive: true });
  }
});
