import assert from "node:assert/strict";
import { FileWatcher, type WatchEvent } from "../../src/integrity/watch.ts";
import { hashFile } from "../../src/integrity/hash.ts";

/** Collects events and lets a test wait for one that matches, bounded in time. */
function collector() {
  const events: WatchEvent[] = [];
  const waiters: { pred: (e: WatchEvent) => boolean; resolve: (e: WatchEvent) => void }[] = [];
  const onEvent = (e: WatchEvent) => {
    events.push(e);
    for (const w of waiters.splice(0)) {
      if (w.pred(e)) w.resolve(e);
      else waiters.push(w);
    }
  };
  const waitFor = (pred: (e: WatchEvent) => boolean, what: string, ms = 2000) => {
    const seen = events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<WatchEvent>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(events)}`)),
        ms,
      );
      waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(t);
          resolve(e);
        },
      });
    });
  };
  return { events, onEvent, waitFor };
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "hw-watch-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("watch: append one byte → modify at once; restore → close_write → same hash", async () => {
  await withTemp(async (dir) => {
    const bin = `${dir}/true`;
    await Deno.copyFile("/bin/true", bin);
    const original = await Deno.readFile(bin);
    const approved = await hashFile(bin);
    const c = collector();
    const w = new FileWatcher({ onEvent: c.onEvent, ignorePids: [] });
    try {
      w.addFile(bin);
      w.start();
      const f = await Deno.open(bin, { write: true, append: true });
      const t0 = performance.now();
      await f.write(new Uint8Array([0]));
      const mod = await c.waitFor((e) => e.kind === "modify" && e.path === bin, "modify");
      console.log(`write → modify event: ${(mod.at - t0).toFixed(3)} ms`);
      assert.equal(mod.pid, Deno.pid);
      assert.equal(mod.exe, Deno.execPath());
      assert.equal(mod.ino, approved.ino);
      f.close();
      await c.waitFor((e) => e.kind === "close_write", "close_write after tamper");
      const tampered = await hashFile(bin);
      assert.notEqual(tampered.sha256, approved.sha256);
      // A second write session is reported again (re-armed by close_write).
      c.events.length = 0;
      await Deno.writeFile(bin, original);
      await c.waitFor((e) => e.kind === "modify", "modify of the restore");
      const cw = await c.waitFor((e) => e.kind === "close_write", "close_write of the restore");
      assert.equal(cw.path, bin);
      const again = await hashFile(bin);
      assert.equal(again.sha256, approved.sha256);
      assert.equal(c.events.filter((e) => e.kind === "modify").length, 1, "one modify per session");
    } finally {
      await w.close();
    }
  });
});

Deno.test("watch: own writes are ignored by default, another process's are reported", async () => {
  await withTemp(async (dir) => {
    const file = `${dir}/conf`;
    await Deno.writeTextFile(file, "a");
    const c = collector();
    const w = new FileWatcher({ onEvent: c.onEvent });
    try {
      w.addFile(file);
      w.start();
      await Deno.writeTextFile(file, "b"); // our own pid
      const sh = await new Deno.Command("/bin/sh", { args: ["-c", `printf c >> "${file}"`] })
        .output();
      assert.equal(sh.code, 0);
      const mod = await c.waitFor((e) => e.kind === "modify", "modify from sh");
      assert.notEqual(mod.pid, Deno.pid);
      assert.ok(mod.pid! > 0);
      await c.waitFor((e) => e.kind === "close_write", "close_write from sh");
      assert.ok(c.events.every((e) => e.pid !== Deno.pid), JSON.stringify(c.events));
    } finally {
      await w.close();
    }
  });
});

Deno.test("watch: rename over the path → replaced with the new inode; then delete → deleted", async () => {
  await withTemp(async (dir) => {
    const file = `${dir}/app`;
    await Deno.writeTextFile(file, "v1");
    const c = collector();
    const w = new FileWatcher({ onEvent: c.onEvent, ignorePids: [] });
    try {
      const first = w.addFile(file);
      w.start();
      await Deno.writeTextFile(`${dir}/app.new`, "v2");
      const newIno = String((await Deno.stat(`${dir}/app.new`)).ino);
      await Deno.rename(`${dir}/app.new`, file);
      const rep = await c.waitFor((e) => e.kind === "replaced", "replaced");
      assert.equal(rep.path, file);
      assert.equal(rep.ino, newIno);
      assert.notEqual(rep.ino, first.ino);
      // The new inode is watched now: writing it reports modify.
      await Deno.writeTextFile(file, "v3", { append: true });
      const mod = await c.waitFor((e) => e.kind === "modify", "modify of the new inode");
      assert.equal(mod.ino, newIno);
      await Deno.remove(file);
      const del = await c.waitFor((e) => e.kind === "deleted", "deleted");
      assert.equal(del.path, file);
      // Re-created at the same path → created, with its inode.
      await Deno.writeTextFile(file, "v4");
      const cre = await c.waitFor((e) => e.kind === "created" && e.path === file, "created");
      assert.equal(cre.ino, String((await Deno.stat(file)).ino));
      // Moving the watched file away counts as deleted too.
      c.events.length = 0;
      await Deno.rename(file, `${dir}/elsewhere`);
      await c.waitFor((e) => e.kind === "deleted" && e.path === file, "deleted by move");
    } finally {
      await w.close();
    }
  });
});

Deno.test("watch: a recursive folder reports created files and subfolders, their writes and deletes", async () => {
  await withTemp(async (dir) => {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/sub/old`, "x");
    const c = collector();
    const w = new FileWatcher({ onEvent: c.onEvent, ignorePids: [] });
    try {
      w.addFolder(`${dir}/tree`, { recursive: true });
      assert.deepEqual(w.watchedFiles(), [`${dir}/tree/sub/old`]);
      w.start();
      await Deno.writeTextFile(`${dir}/tree/sub/old`, "y");
      await c.waitFor((e) => e.kind === "modify" && e.path === `${dir}/tree/sub/old`, "modify");
      await Deno.writeTextFile(`${dir}/tree/new`, "n");
      await c.waitFor((e) => e.kind === "created" && e.path === `${dir}/tree/new`, "created");
      await Deno.mkdir(`${dir}/tree/d2`);
      await Deno.writeTextFile(`${dir}/tree/d2/deep`, "d");
      await c.waitFor((e) => e.kind === "created" && e.path === `${dir}/tree/d2/deep`, "deep");
      await Deno.remove(`${dir}/tree/sub/old`);
      await c.waitFor((e) => e.kind === "deleted" && e.path === `${dir}/tree/sub/old`, "deleted");
      assert.ok(!w.watchedFiles().includes(`${dir}/tree/sub/old`));
    } finally {
      await w.close();
    }
  });
});

Deno.test("watch: bad input is refused and changes nothing", async () => {
  await withTemp(async (dir) => {
    const w = new FileWatcher({ onEvent: () => {} });
    try {
      assert.throws(() => w.addFile("relative/path"), /absolute/);
      assert.throws(() => w.addFile(`${dir}/../x`), /absolute and normalised/);
      assert.throws(() => w.addFile(`${dir}/missing`), /ENOENT/);
      assert.throws(() => w.addFile(dir), /not a regular file/);
      assert.throws(() => w.addFolder(`${dir}/missing`), /No such file|ENOENT|not found/i);
      await Deno.writeTextFile(`${dir}/f`, "f");
      assert.throws(() => w.addFolder(`${dir}/f`), /not a folder/);
      assert.deepEqual(w.watchedFiles(), []);
    } finally {
      await w.close();
    }
    assert.throws(() => w.addFile(`${dir}/f`), /closed/);
  });
});
