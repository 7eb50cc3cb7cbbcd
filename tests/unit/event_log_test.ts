/** Log records for the pipeline: the connection cap and the field names of each record kind. */
import assert from "node:assert/strict";
import {
  adminRecord,
  ConnectionLogLimit,
  connectionRecord,
  suppressedRecord,
} from "../../src/daemon/event_log.ts";

Deno.test("connection records: at most N per second, the rest counted and reported once", () => {
  const limit = new ConnectionLogLimit(3);
  const seen = [0, 10, 20, 30, 40].map((t) => limit.admit(t));
  assert.deepEqual(seen.map((r) => r.log), [true, true, true, false, false]);
  assert.ok(seen.every((r) => r.suppressed === undefined));
  // The next window opens: the two held back are reported with its first record.
  assert.deepEqual(limit.admit(1000), { log: true, suppressed: 2 });
  assert.deepEqual(limit.admit(1001), { log: true, suppressed: undefined });
  assert.deepEqual(suppressedRecord(2, 3).fields, { event: "connection_suppressed", count: 2 });
});

Deno.test("record fields: connection and admin", () => {
  const c = connectionRecord({
    time: 0,
    kind: "connect",
    verdict: "deny",
    reason: "unknown_app",
    tgid: 7,
    uid: 1000,
    comm: "curl",
    exe: "/usr/bin/curl",
    dev: "1",
    ino: "2",
    family: 6,
    daddr: "2001:db8::1",
    dport: 443,
    proto: 6,
    lineage: [{ tgid: 1, comm: "init", dev: "1", ino: "3" }],
  });
  assert.equal(c.level, "warn");
  assert.equal(c.msg, "deny curl (/usr/bin/curl) → [2001:db8::1]:443/tcp: unknown_app");
  assert.deepEqual(Object.keys(c.fields), [
    "event",
    "verdict",
    "reason",
    "rule_id",
    "hook",
    "app",
    "exe",
    "interpreter",
    "comm",
    "pid",
    "uid",
    "family",
    "dest_addr",
    "dest_port",
    "protocol",
    "event_time",
    "lineage",
  ]);
  assert.deepEqual(c.fields.lineage, [{ pid: 1, comm: "init", exe: null }]);
  const a = adminRecord(
    { role: "viewer", channel: "ui", who: "ui session" },
    "mode",
    {},
    false,
    "forbidden",
  );
  assert.equal(a.fields.ok, false);
  assert.equal(a.fields.error, "forbidden");
  assert.equal(a.fields.actor_uid, null);
});
