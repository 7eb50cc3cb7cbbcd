import assert from "node:assert/strict";
import { openStore } from "../../src/store/store.ts";
import { controlSocketPath, startControlServer } from "../../src/daemon/control.ts";
import { formatEvent, parseDuration } from "../../src/cli/events.ts";
import type { ConnEvent } from "../../src/api/types.ts";
import { sampleEvent, StoreBackedApi } from "./control_fixture.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function hashwall(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: o.code, out: d.decode(o.stdout), err: d.decode(o.stderr) };
}

function seed(): ConnEvent[] {
  const now = Date.now();
  return [
    sampleEvent(1, { time: now - 3 * 3_600_000 }),
    sampleEvent(2, { time: now - 2 * 3_600_000 }),
    sampleEvent(3, { time: now - 60_000, ruleId: "web" }),
    sampleEvent(4, { time: now - 30_000, family: 6, daddr: "2001:db8::1", proto: 17, dport: 53 }),
  ];
}

Deno.test("events CLI: through the daemon, then from the database when the daemon is stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-events-" });
  const store = openStore(`${dir}/hashwall.db`);
  let server: ReturnType<typeof startControlServer> | undefined;
  try {
    const api = new StoreBackedApi(store);
    api.ingest(seed());
    server = startControlServer(api, controlSocketPath(dir));

    for (const viaDaemon of [true, false]) {
      if (!viaDaemon) {
        await server?.close();
        server = undefined;
      }
      const all = await hashwall(["events", "--state", dir]);
      assert.equal(all.code, 0, all.err);
      const lines = all.out.trim().split("\n");
      assert.equal(lines.length, 4);
      // Oldest first, readable: time, verdict, app/comm, exe, pid, destination, reason.
      assert.match(
        lines[0],
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}ALLOW {2}curl \(curl\) {2}\/usr\/bin\/curl {2}pid 2001 uid 1000 {2}-> 192\.0\.2\.7:443\/tcp {2}rule$/,
      );
      assert.match(lines[2], /ALLOW .* rule web$/);
      assert.match(
        lines[3],
        /DENY {3}nc {2}\/usr\/bin\/nc\.openbsd {2}pid 2004 .*-> \[2001:db8::1\]:53\/udp {2}unknown_app$/,
      );

      const json = await hashwall(["events", "--state", dir, "--json", "--verdict", "deny"]);
      const rows = json.out.trim().split("\n").map((l) => JSON.parse(l) as ConnEvent);
      assert.deepEqual(rows.map((r) => r.tgid), [2002, 2004]);
      const recent = await hashwall(["events", "--state", dir, "--json", "--since", "10m"]);
      assert.deepEqual(recent.out.trim().split("\n").map((l) => JSON.parse(l).tgid), [2003, 2004]);
      const app = await hashwall([
        "events",
        "--state",
        dir,
        "--json",
        "--app",
        "curl",
        "--limit",
        "1",
      ]);
      assert.deepEqual(app.out.trim().split("\n").map((l) => JSON.parse(l).tgid), [2003]);
    }

    const bad = await hashwall(["events", "--state", dir, "--since", "5 minutes"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--since "5 minutes" is not a duration like 30s, 10m, 2h or 7d/);
    const badV = await hashwall(["events", "--state", dir, "--verdict", "maybe"]);
    assert.equal(badV.code, 2);
    const follow = await hashwall(["events", "--state", dir, "--follow"]);
    assert.equal(follow.code, 1);
    assert.match(follow.err, /--follow needs a running daemon: daemon not running \(no socket at /);

    const empty = await Deno.makeTempDir({ prefix: "hw-events-" });
    const none = await hashwall(["events", "--state", empty]);
    await Deno.remove(empty);
    assert.equal(none.code, 1);
    assert.match(none.err, /daemon not running \(no socket at .*\), and no history database at /);
  } finally {
    await server?.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("events CLI: --follow prints history, then live events as they arrive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-follow-" });
  const store = openStore(`${dir}/hashwall.db`);
  const api = new StoreBackedApi(store);
  api.ingest(seed());
  const server = startControlServer(api, controlSocketPath(dir));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "events", "--state", dir, "--follow", "--json", "--verdict", "deny"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    const lines: ConnEvent[] = [];
    const deadline = Date.now() + 15_000;
    let fed = false;
    while (lines.length < 4 && Date.now() < deadline) {
      if (!fed && lines.length === 2) {
        // History printed; the subscription is up: feed two denies and one allow.
        fed = true;
        const t = Date.now();
        api.ingest([
          sampleEvent(10, { time: t }),
          sampleEvent(11, { time: t }),
          sampleEvent(12, { time: t }),
        ]);
      }
      const r = await Promise.race([
        reader.read(),
        new Promise<{ done: true; value: undefined }>((res) =>
          setTimeout(() => res({ done: true, value: undefined }), deadline - Date.now())
        ),
      ]);
      if (r.done) break;
      buf += r.value;
      let i: number;
      while ((i = buf.indexOf("\n")) !== -1) {
        lines.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
      }
    }
    assert.deepEqual(lines.map((e) => e.tgid), [2002, 2004, 2010, 2012]);
    child.kill("SIGINT");
    const st = await child.status;
    assert.equal(st.code, 0, "SIGINT ends --follow cleanly");
    reader.releaseLock();
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.stdout.cancel().catch(() => {});
    await server.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("events CLI: durations and line format", () => {
  assert.equal(parseDuration("30s"), 30_000);
  assert.equal(parseDuration("10m"), 600_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("7d"), 604_800_000);
  for (const bad of ["", "10", "m", "0s", "1.5h", "-1d", "3w"]) {
    assert.throws(() => parseDuration(bad), /is not a duration/);
  }
  assert.equal(
    formatEvent(sampleEvent(2, { time: Date.UTC(2026, 0, 2, 3, 4, 5) })),
    "2026-01-02 03:04:05Z  DENY   nc  /usr/bin/nc.openbsd  pid 2002 uid 1000  -> 192.0.2.7:443/tcp  unknown_app",
  );
});
