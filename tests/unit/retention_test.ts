/**
 * History retention on a real SQLite store: the `[history]` table of rules.toml (defaults,
 * located errors) and `startRetention` (first run at start, periodic runs with the policy read
 * again, failures logged and survived, stop).
 */
import assert from "node:assert/strict";
import { openStore, type RetentionPolicy, type Store } from "../../src/store/store.ts";
import type { ConnEvent } from "../../src/api/types.ts";
import type { Level, Logger } from "../../src/daemon/log.ts";
import { retentionPolicyOf, startRetention } from "../../src/daemon/retention.ts";
import { validateTexts } from "../../src/config/validate.ts";
import { formatErrors } from "../../src/config/format.ts";
import { DEFAULT_RULES_TOML } from "../../src/config/defaults.ts";

const DAY = 86_400_000;

function ev(i: number, time: number): ConnEvent {
  return {
    time,
    kind: "connect",
    verdict: "allow",
    reason: "rule",
    tgid: 1000 + i,
    uid: 0,
    comm: "curl",
    exe: "/usr/bin/curl",
    dev: "266338304",
    ino: String(4242 + i),
    family: 4,
    daddr: "10.0.0.1",
    dport: 443,
    proto: 6,
    lineage: [],
  };
}

/** A logger that keeps its lines. */
function memoryLog(): Logger & { lines: { level: Level; msg: string }[] } {
  const lines: { level: Level; msg: string }[] = [];
  return { lines, log: (level, msg) => void lines.push({ level, msg }) };
}

async function withStore(fn: (s: Store) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hw-retention-" });
  const s = openStore(`${dir}/hashwall.db`);
  try {
    await fn(s);
  } finally {
    s.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function rules(history: string, prefix = '[defaults]\nmode = "learning"\n\n') {
  return validateTexts({
    rulesFile: "rules.toml",
    rulesText: prefix + history,
    appsTexts: [{ file: "apps.toml", text: "" }],
  });
}

const count = (s: Store) => s.queryEvents({ limit: 10_000 }).length;

Deno.test("[history]: defaults 30 days and 1 000 000 rows, in the default config too", () => {
  for (const text of ["", "[history]\n"]) {
    const r = rules(text);
    assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
    assert.deepEqual(r.policy.history, { maxAgeDays: 30, maxRows: 1_000_000 });
    assert.deepEqual(retentionPolicyOf(r.policy), { maxAgeDays: 30, maxRows: 1_000_000 });
  }
  const d = validateTexts({
    rulesFile: "rules.toml",
    rulesText: DEFAULT_RULES_TOML,
    appsTexts: [{ file: "apps.toml", text: "" }],
  });
  assert.ok(d.ok, d.ok ? "" : formatErrors(d.errors));
  assert.deepEqual(d.policy.history, { maxAgeDays: 30, maxRows: 1_000_000 });
  assert.match(
    DEFAULT_RULES_TOML,
    /^\[history\]\n(#.*\n)*max_age_days = 30\n(#.*\n)*max_rows = 1000000\n/m,
  );
  // A policy built by hand without the table gets the same defaults.
  assert.deepEqual(retentionPolicyOf({}), { maxAgeDays: 30, maxRows: 1_000_000 });
});

Deno.test("[history]: values are read; one key alone keeps the other's default", () => {
  const r = rules("[history]\nmax_age_days = 7\nmax_rows = 5000\n");
  assert.ok(r.ok, r.ok ? "" : formatErrors(r.errors));
  assert.deepEqual(r.policy.history, { maxAgeDays: 7, maxRows: 5000 });
  const only = rules("[history]\nmax_rows = 10\n");
  assert.ok(only.ok);
  assert.deepEqual(only.policy.history, { maxAgeDays: 30, maxRows: 10 });
});

Deno.test("[history]: bad values and keys are located errors, the file is refused", () => {
  const cases: [string, string][] = [
    [
      "max_age_days = 0",
      "rules.toml:5:16: history.max_age_days: 0 is out of range; expected 1..36500",
    ],
    [
      "max_age_days = 36501",
      "rules.toml:5:16: history.max_age_days: 36501 is out of range; expected 1..36500",
    ],
    [
      "max_rows = -3",
      "rules.toml:5:12: history.max_rows: -3 is out of range; expected 1..1000000000",
    ],
    [
      "max_rows = 1.5",
      "rules.toml:5:12: history.max_rows: expected a whole number from 1 to 1000000000, got float 1.5",
    ],
    [
      'max_age_days = "30"',
      'rules.toml:5:16: history.max_age_days: expected a whole number from 1 to 36500, got string "30"',
    ],
    [
      "max_age = 3",
      'rules.toml:5:1: history.max_age: unknown key in history; did you mean "max_age_days"?',
    ],
  ];
  for (const [line, want] of cases) {
    const r = rules(`[history]\n${line}\n`);
    assert.ok(!r.ok, line);
    assert.equal(formatErrors(r.errors), want, line);
  }
  const notTable = rules("history = 3\n", "");
  assert.ok(!notTable.ok);
  assert.match(formatErrors(notTable.errors), /expected a table \[history\], got integer 3/);
  const typo = rules("[histroy]\nmax_rows = 3\n", "");
  assert.ok(!typo.ok);
  assert.match(formatErrors(typo.errors), /unknown key at the top level; did you mean "history"\?/);
});

Deno.test("startRetention: trims by age and row cap at once, before the first interval", () =>
  withStore((s) => {
    const now = Date.now();
    // 10 rows 40 days old, 20 rows from the last hour.
    s.insertEvents([
      ...Array.from({ length: 10 }, (_, i) => ev(i, now - 40 * DAY)),
      ...Array.from({ length: 20 }, (_, i) => ev(100 + i, now - 3_600_000 + i * 1000)),
    ]);
    s.recordIntegrityChange({ time: now - 40 * DAY, path: "/etc/old", change: "modified" });
    s.recordIntegrityChange({ time: now, path: "/etc/new", change: "modified" });
    const log = memoryLog();
    const stop = startRetention(s, () => ({ maxAgeDays: 30, maxRows: 15 }), log);
    try {
      assert.equal(count(s), 15, "age removed 10, the cap 5 more");
      const left = s.queryEvents({ limit: 100 });
      assert.equal(left.at(-1)!.tgid, 1105, "the oldest recent rows went first");
      assert.deepEqual(s.integrityChanges().map((c) => c.path), ["/etc/new"]);
      assert.deepEqual(log.lines, [{
        level: "notice",
        msg: "history retention removed 15 events and 1 integrity changes",
      }]);
    } finally {
      stop();
    }
  }));

Deno.test("startRetention: runs again each interval with the current policy; stop ends it", () =>
  withStore(async (s) => {
    const now = Date.now();
    s.insertEvents(Array.from({ length: 50 }, (_, i) => ev(i, now - 1000 + i)));
    let policy: RetentionPolicy = { maxAgeDays: 30, maxRows: 40 };
    const log = memoryLog();
    const stop = startRetention(s, () => policy, log, { intervalMs: 30 });
    try {
      assert.equal(count(s), 40);
      policy = { maxAgeDays: 30, maxRows: 25 }; // what a reload does
      const deadline = Date.now() + 5000;
      while (count(s) !== 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(count(s), 25, "the next run used the new cap");
    } finally {
      stop();
    }
    policy = { maxAgeDays: 30, maxRows: 1 };
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(count(s), 25, "no run after stop()");
  }));

Deno.test("startRetention: a failing run is logged, not thrown, and the next run still works", () =>
  withStore(async (s) => {
    s.insertEvents(Array.from({ length: 10 }, (_, i) => ev(i, Date.now())));
    let policy: RetentionPolicy = { maxAgeDays: 30, maxRows: 0 };
    const log = memoryLog();
    const stop = startRetention(s, () => policy, log, { intervalMs: 30 });
    try {
      assert.equal(count(s), 10, "a bad policy deleted nothing");
      assert.equal(log.lines[0].level, "error");
      assert.match(log.lines[0].msg, /^history retention failed: .*max_rows/);
      policy = { maxAgeDays: 30, maxRows: 4 };
      const deadline = Date.now() + 5000;
      while (count(s) !== 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(count(s), 4);
    } finally {
      stop();
    }
  }));
