import assert from "node:assert/strict";
import { openStore } from "../../src/store/store.ts";
import { EventBatcher } from "../../src/store/batcher.ts";
import type { ConnEvent } from "../../src/api/types.ts";

function ev(i: number): ConnEvent {
  return {
    time: Date.now(),
    kind: "connect",
    verdict: "deny",
    reason: "unknown_app",
    tgid: i,
    uid: 0,
    comm: "filler",
    exe: "/opt/filler",
    dev: "1",
    ino: String(i),
    family: 6,
    daddr: "::1",
    dport: 8080,
    proto: 6,
    lineage: [],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

Deno.test("disk full: the batcher reports unhealthy, never throws, bounds its backlog and recovers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-diskfull-" });
  let mounted = false;
  let batcher: EventBatcher | undefined;
  let store: ReturnType<typeof openStore> | undefined;
  try {
    await run("mount", ["-t", "tmpfs", "-o", "size=512k", "hw-diskfull", dir]);
    mounted = true;
    store = openStore(`${dir}/hashwall.db`);
    // Leave little free space; deleting this file later is "the admin freed space".
    await Deno.writeFile(`${dir}/filler`, new Uint8Array(256 * 1024));
    batcher = new EventBatcher(store, { flushMs: 20, maxBatch: 100, maxBacklog: 1000 });

    let pushed = 0;
    while (batcher.health().ok && pushed < 50_000) {
      batcher.push(ev(pushed++)); // must never throw
      if (pushed % 100 === 0) await sleep(0);
    }
    const sick = batcher.health();
    assert.equal(sick.ok, false, `the disk filled up after ${pushed} rows`);
    assert.match(sick.error!, /^disk full: /);
    assert.ok(sick.backlog > 0);
    const writtenBefore = sick.written;

    // Keep pushing while full: the backlog stays bounded and overflow is counted, not thrown.
    for (let i = 0; i < 5000; i++) batcher.push(ev(pushed++));
    await sleep(100); // a few retry ticks against the full disk
    const capped = batcher.health();
    assert.equal(capped.ok, false);
    assert.equal(capped.backlog, 1000);
    assert.equal(capped.dropped, pushed - writtenBefore - 1000);

    await Deno.remove(`${dir}/filler`);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (!batcher.health().ok || batcher.health().backlog > 0)) {
      await sleep(20);
    }
    const well = batcher.health();
    assert.equal(well.ok, true, `recovered after space was freed (${JSON.stringify(well)})`);
    assert.equal(well.backlog, 0);
    assert.equal(well.written, pushed - well.dropped);
    const counts = store.countEvents();
    assert.equal(
      counts.deny,
      well.written,
      "every row the batcher counts as written is in the file",
    );
    assert.equal(store.integrityCheck(), "ok");
  } finally {
    batcher?.close();
    store?.close();
    if (mounted) await run("umount", [dir]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("read-only database: the batcher reports read-only and keeps the rows instead of throwing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hw-rodb-" });
  const path = `${dir}/hashwall.db`;
  openStore(path).close();
  const store = openStore(path, { readOnly: true });
  const batcher = new EventBatcher(store, { flushMs: 20, maxBatch: 10 });
  try {
    for (let i = 0; i < 25; i++) batcher.push(ev(i));
    await sleep(60);
    const h = batcher.health();
    assert.equal(h.ok, false);
    assert.match(h.error!, /^read-only: attempt to write a readonly database/);
    assert.equal(h.backlog, 25);
    assert.equal(h.written, 0);
  } finally {
    batcher.close();
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
