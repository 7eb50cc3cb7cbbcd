import assert from "node:assert/strict";
import { type IntegrityChange, IntegrityMonitor } from "../../src/integrity/live.ts";
import { hashFile } from "../../src/integrity/hash.ts";
import type { WatchEvent } from "../../src/integrity/watch.ts";

async function sh(script: string): Promise<void> {
  const out = await new Deno.Command("/bin/sh", { args: ["-c", script] }).output();
  assert.equal(out.code, 0, script);
}

async function until(pred: () => boolean, what: string, ms = 3000) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("live integrity: other processes' edits are reported with old/new hash, pid and exe", async () => {
  const root = await Deno.makeTempDir({ prefix: "hw-live-" });
  const changes: IntegrityChange[] = [];
  const raw: WatchEvent[] = [];
  await Deno.mkdir(`${root}/etc/sub`, { recursive: true });
  await Deno.writeTextFile(`${root}/etc/a.conf`, "a\n");
  await Deno.writeTextFile(`${root}/etc/sub/b.conf`, "b\n");
  await Deno.writeTextFile(`${root}/single`, "s\n");
  const m = new IntegrityMonitor({
    entries: [
      { path: `${root}/etc`, recursive: true },
      { path: `${root}/single`, recursive: false },
      { path: `${root}/absent`, recursive: false },
    ],
    onChange: (c) => changes.push(c),
    onWatchEvent: (e) => raw.push(e),
    onError: () => {},
  });
  try {
    await m.start();
    const before = m.hashes();
    assert.equal(before.size, 3);
    const a0 = before.get(`${root}/etc/a.conf`);

    await sh(`printf 'A\\n' > "${root}/etc/a.conf"`);
    await until(() => changes.length >= 1, "modified");
    const mod = changes[0];
    assert.equal(mod.change, "modified");
    assert.equal(mod.path, `${root}/etc/a.conf`);
    assert.equal(mod.oldHash, a0);
    assert.equal(mod.newHash, (await hashFile(`${root}/etc/a.conf`)).sha256);
    assert.ok(mod.pid! > 0 && mod.pid !== Deno.pid);
    assert.ok(raw.some((e) => e.kind === "modify" && e.path === mod.path), "raw modify passed");

    // Same bytes written again: a close_write, but no change to report.
    await sh(`printf 'A\\n' > "${root}/etc/a.conf"`);
    await until(() => raw.filter((e) => e.kind === "close_write").length >= 2, "2nd close");
    await m.settled();
    assert.equal(changes.length, 1);

    await sh(`printf 'x\\n' > "${root}/single.tmp" && mv "${root}/single.tmp" "${root}/single"`);
    await until(() => changes.some((c) => c.change === "replaced"), "replaced");
    await sh(`rm "${root}/etc/sub/b.conf"`);
    await until(() => changes.some((c) => c.change === "deleted"), "deleted");
    await sh(`echo new > "${root}/etc/sub/new.conf"`);
    await until(() => changes.some((c) => c.change === "created"), "created");
    await m.settled();
    const by = (k: string) => changes.find((c) => c.change === k)!;
    assert.equal(by("replaced").path, `${root}/single`);
    assert.notEqual(by("replaced").oldHash, by("replaced").newHash);
    assert.equal(by("deleted").path, `${root}/etc/sub/b.conf`);
    assert.ok(by("deleted").oldHash);
    assert.equal(by("created").path, `${root}/etc/sub/new.conf`);
    assert.equal(by("created").oldHash, undefined);
    assert.equal(by("created").newHash, (await hashFile(`${root}/etc/sub/new.conf`)).sha256);

    // A hard link creates an entry with no writer and no close_write: hashed after a pause.
    await sh(`ln "${root}/single" "${root}/etc/linked"`);
    await until(() => changes.some((c) => c.path === `${root}/etc/linked`), "linked created");
    const linked = changes.find((c) => c.path === `${root}/etc/linked`)!;
    assert.equal(linked.change, "created");
    assert.equal(linked.newHash, by("replaced").newHash);

    // The monitor's own process writing is not fed back (the daemon's own writes).
    const n = changes.length;
    await Deno.writeTextFile(`${root}/etc/a.conf`, "own write\n");
    await new Promise((r) => setTimeout(r, 100));
    await m.settled();
    assert.equal(changes.length, n);
  } finally {
    await m.close();
    await Deno.remove(root, { recursive: true });
  }
});
